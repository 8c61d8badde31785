"""Idempotent demo data: the `demo` brand, an admin login and realistic borrowers."""

from __future__ import annotations

import random
from contextlib import suppress
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog

from domain.covenants.application import Covenants
from domain.covenants.schedule import Frequency, add_months
from domain.covenants.terms import CovenantType, Operator, Terms
from domain.customers.application import Customers
from domain.customers.customer import DuplicateCustomer
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.identity.brand import BrandNotFound
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict
from domain.shared.values import normalise_phone
from workers.customer_numbers import number_customers
from workers.demo_ids import demo_id
from workers.demo_loans import demo_loan_id, seed_loans
from workers.demo_onboarding import demo_funnel_started, seed_onboarding
from workers.demo_products import seed_products

if TYPE_CHECKING:
    from workers.platform import Platform

log = structlog.get_logger(__name__)

DEMO_SLUG = "demo"
DEMO_EMAIL = "admin@demofinance.in"
DEMO_PASSWORD = "demo-password-2026"

FIRST = [
    "Aarav",
    "Vivaan",
    "Aditya",
    "Vihaan",
    "Arjun",
    "Sai",
    "Reyansh",
    "Ayaan",
    "Krishna",
    "Ishaan",
    "Ananya",
    "Diya",
    "Aadhya",
    "Saanvi",
    "Pari",
    "Anika",
    "Navya",
    "Myra",
    "Priya",
    "Lakshmi",
    "Rohit",
    "Sunita",
    "Rajesh",
    "Kavita",
    "Mohammed",
    "Fatima",
    "Gurpreet",
    "Harpreet",
    "Suresh",
    "Meena",
    "Venkatesh",
    "Deepa",
    "Arun",
    "Pooja",
    "Rahul",
    "Sneha",
    "Karthik",
    "Divya",
    "Manoj",
    "Asha",
]
LAST = [
    "Sharma",
    "Verma",
    "Patel",
    "Reddy",
    "Nair",
    "Iyer",
    "Gupta",
    "Singh",
    "Kumar",
    "Das",
    "Khan",
    "Joshi",
    "Mehta",
    "Rao",
    "Pillai",
    "Chatterjee",
    "Banerjee",
    "Kulkarni",
    "Deshpande",
    "Menon",
    "Shetty",
    "Agarwal",
    "Bose",
    "Yadav",
    "Mishra",
    "Chauhan",
    "Naidu",
    "Gill",
    "Sethi",
    "Kapoor",
]
CITIES = [
    ("Mumbai", "400001", "Maharashtra"),
    ("Pune", "411001", "Maharashtra"),
    ("Bengaluru", "560001", "Karnataka"),
    ("Chennai", "600001", "Tamil Nadu"),
    ("Hyderabad", "500001", "Telangana"),
    ("Kolkata", "700001", "West Bengal"),
    ("New Delhi", "110001", "Delhi"),
    ("Ahmedabad", "380001", "Gujarat"),
    ("Jaipur", "302001", "Rajasthan"),
    ("Kochi", "682001", "Kerala"),
    ("Lucknow", "226001", "Uttar Pradesh"),
    ("Indore", "452001", "Madhya Pradesh"),
]
STREETS = [
    "MG Road",
    "Station Road",
    "Nehru Nagar",
    "Gandhi Chowk",
    "Shivaji Nagar",
    "Park Street",
    "Anna Salai",
    "Residency Road",
    "Civil Lines",
    "Sector 14",
]
PHONE_FORMATS = ["{d5} {d5b}", "0{d5}-{d5b}", "+91 {d10}", "{d10}", "+91-{d5}-{d5b}"]


def demo_borrowers(count: int, seed: int = 2026) -> list[dict[str, Any]]:
    """Deterministic, realistic borrower registrations (same list on every run)."""
    rng = random.Random(seed)
    people = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        digits = str(rng.choice("6789")) + "".join(str(rng.randint(0, 9)) for _ in range(9))
        fmt = rng.choice(PHONE_FORMATS)
        phone = fmt.format(d5=digits[:5], d5b=digits[5:], d10=digits)
        city, pin, state = rng.choice(CITIES)
        pan = (
            "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3))
            + "P"
            + last[0]
            + f"{rng.randint(0, 9999):04d}"
            + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        )
        people.append(
            {
                "name": f"{first} {last}",
                "phone": phone,
                "pan": pan,
                "email": f"{first.lower()}.{last.lower()}{i}@example.in",
                "date_of_birth": date(1960, 1, 1) + timedelta(days=rng.randint(0, 365 * 40)),
                "addresses": [
                    Address(line1=f"{rng.randint(1, 400)}, {rng.choice(STREETS)}", city=city, state=state, pincode=pin)
                ],
                "loan_numbers": [f"SM{rng.randint(100000, 999999)}"] if rng.random() < 0.8 else [],
            }
        )
    return people


def seed_demo(platform: Platform, borrowers: int = 150) -> dict[str, Any]:
    """Create the demo brand, its admin, borrowers, covenants, products, applications and onboarding funnels unless
    they exist; returns what it did. Every step finds its own results (by uuid5 ids or natural keys) and makes only
    what is missing, so a run stopped anywhere is completed by the next, and a run after a complete one writes
    nothing."""
    with acting_as("seed"):
        try:
            brand = platform.get(Identity).brand_by_slug(DEMO_SLUG)
            created_brand = False
        except BrandNotFound:
            result = platform.get(Identity).create_brand(DEMO_SLUG, "Demo Finance")
            brand = platform.get(Identity).brand(result.id)
            created_brand = True
        with suppress(Conflict):  # The demo admin exists already.
            platform.get(Identity).create_staff(
                brand.id, DEMO_EMAIL, "Demo Admin", ["admin"], DEMO_PASSWORD, granter=OPERATOR
            )
        people = demo_borrowers(borrowers)
        registered, customer_ids = _seed_borrowers(platform, brand.id, people)
        # A demo made before the seed named its records (random ids) has its funnels: its covenants and applications
        # were made with them, on the brand's first run, and are not made again.
        made_before = not created_brand and _made_by_an_earlier_version(platform, brand.id)
        covenants = 0 if made_before else _seed_covenants(platform, brand.id, customer_ids[:24])
        products = seed_products(platform, brand.id, platform.get(Identity).business_date(brand.id))
        loans = 0 if made_before else seed_loans(platform, brand.id, customer_ids[24:32])
        known = people[40] if borrowers > 40 else None
        staff_registered = (str(known["phone"]), str(known["pan"])) if known else None
        onboarding = seed_onboarding(platform, brand.id, staff_registered)
        numbered = number_customers(platform, brand.id)  # records of a demo made before formatted ids
    log.info(
        "seed.completed",
        brand=DEMO_SLUG,
        created_brand=created_brand,
        borrowers_registered=registered,
        covenants=covenants,
        products=products,
        loans=loans,
        onboarding=onboarding,
        numbered=numbered,
    )
    return {
        "brand_id": brand.id,
        "created_brand": created_brand,
        "registered": registered,
        "covenants": covenants,
        "products": products,
        "loans": loans,
        "onboarding": onboarding,
    }


def _seed_borrowers(platform: Platform, brand_id: UUID, people: list[dict[str, Any]]) -> tuple[int, list[UUID]]:
    """Register the demo borrowers not registered yet; (how many it registered, every demo borrower's id in the
    list's order). A borrower is found by their phone; one refused as a duplicate of an earlier one (a phone or PAN
    the list drew twice) is left out, on every run alike."""
    customers = platform.get(Customers)
    registered, ids = 0, []
    for person in people:
        phone = normalise_phone(str(person["phone"]))
        found = customers.owner_of(brand_id, "phone", phone)
        if found is None:
            try:
                found = customers.register(brand_id, **person).id
                registered += 1
            except DuplicateCustomer:
                continue
        if found not in ids:
            ids.append(found)
    return registered, ids


def _made_by_an_earlier_version(platform: Platform, brand_id: UUID) -> bool:
    """Whether the demo was made by a seed before this one named its records: its first onboarding funnel (made
    last, on the brand's first run) is there, and neither the first covenant nor the first application (made
    before it by this seed) has its name."""
    covenants, loans = platform.get(Covenants), platform.get(Loans)
    return (
        demo_funnel_started(platform, brand_id)
        and covenants.find(demo_id(brand_id, "covenant:0")) is None
        and loans.find(demo_loan_id(brand_id, 0)) is None
    )


def _seed_covenants(platform: Platform, brand_id: UUID, customer_ids: list[UUID]) -> int:
    """Covenants on some demo borrowers around today's business date, with their records opened; how many it set
    up. Each covenant is named `covenant:<i>` (made unless found); the due cycles are opened of those with none
    opened yet (a run stopped between the two opens them next time; later ones are the covenant jobs' work)."""
    covenants = platform.get(Covenants)
    today = platform.get(Identity).business_date(brand_id)
    month_end = add_months(date(today.year, today.month, 1), 1) - timedelta(days=1)
    kinds = [
        (Terms(type=CovenantType.FINANCIAL, metric="DSCR", operator=Operator.GE, threshold=Decimal("1.25")), "Debt service coverage", Frequency.QUARTERLY),
        (Terms(type=CovenantType.DOCUMENT, document="Monthly stock statement"), "Stock statement", Frequency.MONTHLY),
        (Terms(type=CovenantType.DOCUMENT, document="Audited financial statements"), "Audited financials", Frequency.ANNUAL),
        (Terms(type=CovenantType.OTHER, description="Keep the plant insured for full value"), "Insurance renewal", Frequency.ANNUAL),
    ]  # fmt: skip
    created, unopened = 0, []
    for i, customer_id in enumerate(customer_ids):
        covenant_id = demo_id(brand_id, f"covenant:{i}")
        found = covenants.find(covenant_id)
        if found is not None:
            if found.cycles == 0:
                unopened.append(covenant_id)
            continue
        terms, title, frequency = kinds[i % len(kinds)]
        first_due = add_months(month_end, (i % 5) - 2)  # some overdue, some due soon, some later
        covenants.create(
            brand_id,
            customer_id=customer_id,
            application_ref=f"APP-{2024 + i % 3}-{100 + i:04d}",
            title=title,
            terms=terms,
            frequency=frequency,
            start_date=add_months(first_due, -3),
            first_due_date=first_due,
            expiry_date=add_months(first_due, 36),
            grace_days=5,
            lead_days=None,
            covenant_id=covenant_id,
        )
        created += 1
        unopened.append(covenant_id)
    if unopened:
        covenants.open_due_cycles(unopened, today)
    return created
