"""Realistic data for the provider simulators: Indian names by surname initial, lenders, employers, banks, places,
a tiny photo, and the statement analysis BSA and AA share. Deterministic: every draw takes a seeded generator."""

from __future__ import annotations

import base64
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

FIRST_NAMES = (
    "Rahul",
    "Amit",
    "Vikas",
    "Sanjay",
    "Priya",
    "Neha",
    "Pooja",
    "Anjali",
    "Karthik",
    "Suresh",
    "Lakshmi",
    "Divya",
    "Kavya",
    "Arun",
    "Sourav",
    "Ananya",
    "Nikhil",
    "Snehal",
    "Imran",
    "Ayesha",
    "Gurpreet",
    "Simran",
    "Harish",
    "Meena",
    "Deepak",
    "Rohit",
    "Swati",
    "Tushar",
    "Bikash",
    "Pallavi",
)
FEMALE_NAMES = frozenset(
    {"Priya", "Neha", "Pooja", "Anjali", "Lakshmi", "Divya", "Kavya", "Ananya", "Snehal", "Ayesha", "Simran", "Meena"}
    | {"Swati", "Pallavi", "Anita", "Sunita", "Kavita", "Rekha", "Deepa", "Geetha", "Fatima", "Harleen"}
)
SURNAMES = (
    "Agarwal",
    "Banerjee",
    "Bose",
    "Chatterjee",
    "Chauhan",
    "Das",
    "Deshmukh",
    "Dutta",
    "Fernandes",
    "Ghosh",
    "Gill",
    "Gogoi",
    "Gupta",
    "Hazarika",
    "Iyer",
    "Jadhav",
    "Joshi",
    "Kalita",
    "Khan",
    "Krishnan",
    "Kulkarni",
    "Lal",
    "Menon",
    "Mehta",
    "Mishra",
    "Mukherjee",
    "Naidu",
    "Nair",
    "Oberoi",
    "Pandey",
    "Patel",
    "Patil",
    "Pillai",
    "Qureshi",
    "Rao",
    "Reddy",
    "Saikia",
    "Sandhu",
    "Shah",
    "Sharma",
    "Singh",
    "Tiwari",
    "Thakur",
    "Upadhyay",
    "Verma",
    "Vyas",
    "Walia",
    "Wagh",
    "Xavier",
    "Yadav",
    "Zaidi",
)
LENDERS = (
    "HDFC Bank",
    "ICICI Bank",
    "State Bank of India",
    "Axis Bank",
    "Kotak Mahindra Bank",
    "Bajaj Finance",
    "Tata Capital",
    "IDFC First Bank",
    "Fullerton India",
    "Home Credit",
    "KreditBee",
    "Muthoot Finance",
)
TRADELINE_KINDS = (
    "personal_loan",
    "credit_card",
    "two_wheeler_loan",
    "consumer_durable",
    "home_loan",
    "gold_loan",
)
EMPLOYERS = (
    "INFOSYS LTD",
    "TATA CONSULTANCY SERVICES",
    "WIPRO LIMITED",
    "HCL TECHNOLOGIES",
    "RELIANCE RETAIL LTD",
    "BIG BASKET",
    "ZOMATO LTD",
    "APOLLO HOSPITALS",
    "MAHINDRA LOGISTICS",
    "DMART AVENUE SUPERMARTS",
    "TECH MAHINDRA",
    "SWIGGY BUNDL TECHNOLOGIES",
)
BANKS = {
    "HDFC": "HDFC Bank",
    "ICIC": "ICICI Bank",
    "SBIN": "State Bank of India",
    "UTIB": "Axis Bank",
    "KKBK": "Kotak Mahindra Bank",
    "PUNB": "Punjab National Bank",
    "BARB": "Bank of Baroda",
    "CNRB": "Canara Bank",
    "IDIB": "Indian Bank",
    "YESB": "Yes Bank",
}
PLACES = (
    ("Koramangala", "Bengaluru", "Karnataka", "560034"),
    ("Andheri East", "Mumbai", "Maharashtra", "400069"),
    ("Salt Lake", "Kolkata", "West Bengal", "700091"),
    ("Anna Nagar", "Chennai", "Tamil Nadu", "600040"),
    ("Gachibowli", "Hyderabad", "Telangana", "500032"),
    ("Sector 62", "Noida", "Uttar Pradesh", "201301"),
    ("Kothrud", "Pune", "Maharashtra", "411038"),
    ("Navrangpura", "Ahmedabad", "Gujarat", "380009"),
    ("Dispur", "Guwahati", "Assam", "781006"),
    ("Malviya Nagar", "Jaipur", "Rajasthan", "302017"),
)

# A 16x16 baseline JPEG (CPython's imghdr test image): the "photo" DigiLocker shares.
PHOTO_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8Q"
    "EBEQCgwSExIQEw8QEBD/2wBDAQMDAwQDBAgEBAgQCwkLEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
    "EBAQEBAQEBD/wAARCAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwQF/8QAJBAAAQQBBAICAwAAAAAAAAAAAQID"
    "BAYFBwgSExEiABQJMTL/xAAVAQEBAAAAAAAAAAAAAAAAAAAABv/EACMRAAECBQMFAAAAAAAAAAAAAAECEQMEBQYhABIxFRZhgeH/"
    "2gAMAwEAAhEDEQA/ABSm0mobc8HmExLUlRzzEWPkJWW+ulrsaUVAseUgslSlH9LKuPryIKuWPZdskzXmm3fX5m2nF4GlVxx/HOpx"
    "4ks51+MiU/Iaad7UcUo4tILoS4kqcWkezS0hO/HvuRp0rO6hWnWO1UisZVuFi4GFeyEpmGepa5S5SWVPuciFKRFLgSrwetnyPIB+"
    "Vb4N9mKhQMzo5po9XLdDs9d6ZVix2VEhiL9kuNPxw2gEKcDQ/rs8AuA8VAe0vdl7VOYn+27flGAUgmITjbhSmCg3BYlyeWDkMolv"
    "w4KOp1KM6iCNvngZHwetf//Z"
)

_PAISE = Decimal("0.01")


def rupees(value: float | Decimal) -> str:
    """An amount as the providers write it: a string with two places."""
    return str(Decimal(str(value)).quantize(_PAISE))


def person(rng: random.Random, surname_initial: str | None = None) -> str:
    """A full name, its surname starting with `surname_initial` when given (and one exists)."""
    first = rng.choice(FIRST_NAMES)
    pool = [s for s in SURNAMES if surname_initial and s[0] == surname_initial.upper()] or list(SURNAMES)
    return f"{first} {rng.choice(pool)}"


def months_before(today: date, count: int) -> list[date]:
    """The first days of the `count` whole months before `today`'s, oldest first."""
    first = today.replace(day=1)
    found = []
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        found.append(first)
    return list(reversed(found))


def statement(
    rng: random.Random,
    today: date,
    *,
    holder: str,
    months: int = 6,
    salary: Decimal | None = None,
    employer: str | None = None,
    emis: int | None = None,
    bounces: int | None = None,
    bank: str | None = None,
) -> dict[str, Any]:
    """A statement analysis as BSA and AA answer it: salary credits each month, EMIs, average balance, bounces.

    Unset values are drawn: a salary of ₹18,000-1,50,000 (10% of statements have none: self-employed or cash),
    0-2 EMIs, bounces mostly 0."""
    if salary is None:
        salary = Decimal(0) if rng.random() < 0.1 else Decimal(rng.randrange(18_000, 150_000, 500))
    employer = employer or rng.choice(EMPLOYERS)
    emis = emis if emis is not None else rng.choice((0, 0, 1, 1, 2))
    bounces = bounces if bounces is not None else rng.choice((0, 0, 0, 0, 1, 2))
    firsts = months_before(today, months)
    credits = []
    if salary > 0:
        day = rng.choice((1, 1, 1, 5, 7, 28))
        for first in firsts:
            wobble = Decimal(rng.choice((0, 0, 0, 250, -180, 1200)))
            credited = first.replace(day=min(day, 28))
            credits.append(
                {
                    "month": first.strftime("%Y-%m"),
                    "amount": rupees(salary + wobble if salary > 2000 else salary),
                    "employer": employer,
                    "credited_on": credited.isoformat(),
                }
            )
    debits = [
        {
            "lender": rng.choice(LENDERS),
            "amount": rupees(rng.randrange(1_500, 25_000, 50)),
            "day_of_month": rng.choice((2, 5, 7, 10, 15)),
        }
        for _ in range(emis)
    ]
    base = salary if salary > 0 else Decimal(rng.randrange(20_000, 80_000))
    average = base * Decimal(rng.uniform(0.15, 0.9))
    return {
        "account_holder": holder.upper(),
        "bank": bank or rng.choice(list(BANKS.values())),
        "period_from": firsts[0].isoformat(),
        "period_to": (today.replace(day=1) - timedelta(days=1)).isoformat(),
        "salary_credits": credits,
        "emis": debits,
        "average_balance": rupees(average),
        "bounces": bounces,
    }
