"""Idempotent demo data: the `demo` brand, an admin login and realistic borrowers."""

from __future__ import annotations

import random
from contextlib import suppress
from datetime import date, timedelta
from typing import Any

import structlog

from domain.customers.customer import DuplicateCustomer
from domain.customers.values import Address
from domain.identity.brand import BrandNotFound
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict

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


def seed_demo(platform: Any, borrowers: int = 150) -> dict[str, Any]:
    """Create the demo brand, its admin and borrowers unless they exist; returns what it did."""
    with acting_as("seed"):
        try:
            brand = platform.identity.brand_by_slug(DEMO_SLUG)
            created_brand = False
        except BrandNotFound:
            result = platform.identity.create_brand(DEMO_SLUG, "Demo Finance")
            brand = platform.identity.brand(result.id)
            created_brand = True
        with suppress(Conflict):  # The demo admin exists already.
            platform.identity.create_staff(brand.id, DEMO_EMAIL, "Demo Admin", ["admin"], DEMO_PASSWORD)
        registered = 0
        for person in demo_borrowers(borrowers):
            try:
                platform.customers.register(brand.id, **person)
                registered += 1
            except DuplicateCustomer:
                continue
    log.info("seed.completed", brand=DEMO_SLUG, created_brand=created_brand, borrowers_registered=registered)
    return {"brand_id": brand.id, "created_brand": created_brand, "registered": registered}
