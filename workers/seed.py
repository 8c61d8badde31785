"""Idempotent demo data: the `demo` brand, an admin login and realistic borrowers."""

from __future__ import annotations

import random
from contextlib import suppress
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict
from workers.customer_numbers import number_customers
from workers.demo_loans import seed_loans
from workers.demo_onboarding import seed_onboarding
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
    """Create the demo brand, its admin and borrowers unless they exist; returns what it did."""
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
        registered: list[Any] = []
        for person in demo_borrowers(borrowers):
            try:
                registered.append(platform.get(Customers).register(brand.id, **person).id)
            except DuplicateCustomer:
                continue
        covenants = _seed_covenants(platform, brand.id, registered[:24]) if created_brand else 0
        products = seed_products(platform, brand.id, platform.get(Identity).business_date(brand.id))
        loans = seed_loans(platform, brand.id, registered[24:32]) if created_brand else 0
        known = demo_borrowers(borrowers)[40] if borrowers > 40 else None
        staff_registered = (str(known["phone"]), str(known["pan"])) if known else None
        onboarding = seed_onboarding(platform, brand.id, staff_registered) if created_brand else 0
        numbered = number_customers(platform, brand.id)  # records of a demo made before formatted ids
    log.info(
        "seed.completed",
        brand=DEMO_SLUG,
        created_brand=created_brand,
        borrowers_registered=len(registered),
        covenants=covenants,
        products=products,
        loans=loans,
        onboarding=onboarding,
        numbered=numbered,
    )
    return {
        "brand_id": brand.id,
        "created_brand": created_brand,
        "registered": len(registered),
        "covenants": covenants,
        "products": products,
        "loans": loans,
        "onboarding": onboarding,
    }


def _seed_covenants(platform: Platform, brand_id: Any, customer_ids: list[Any]) -> int:
    """Covenants on some demo borrowers around today's business date, with their records opened."""
    today = platform.get(Identity).business_date(brand_id)
    month_end = add_months(date(today.year, today.month, 1), 1) - timedelta(days=1)
    kinds = [
        (Terms(type=CovenantType.FINANCIAL, metric="DSCR", operator=Operator.GE, threshold=Decimal("1.25")), "Debt service coverage", Frequency.QUARTERLY),
        (Terms(type=CovenantType.DOCUMENT, document="Monthly stock statement"), "Stock statement", Frequency.MONTHLY),
        (Terms(type=CovenantType.DOCUMENT, document="Audited financial statements"), "Audited financials", Frequency.ANNUAL),
        (Terms(type=CovenantType.OTHER, description="Keep the plant insured for full value"), "Insurance renewal", Frequency.ANNUAL),
    ]  # fmt: skip
    ids = []
    for i, customer_id in enumerate(customer_ids):
        terms, title, frequency = kinds[i % len(kinds)]
        first_due = add_months(month_end, (i % 5) - 2)  # some overdue, some due soon, some later
        result = platform.get(Covenants).create(
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
        )
        ids.append(result.id)
    platform.get(Covenants).open_due_cycles(ids, today)
    return len(ids)
