"""Demo borrowers in the onboarding funnel for the `demo` brand: a few stopped at every step, some resumed, two
submitted with an application - so the staff lists, the conversion figures and the borrower web flow have
something to show. One of them is a borrower staff registered earlier, linked by phone (one Customer 360).

The seed signs borrowers in like anyone else, with the code the SMS carries: it builds an `Onboarding` on the same
event store whose SMS sender is the seed itself (the product has no other way to a code)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel

from domain.identity.application import Identity
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import (
    AadhaarIn,
    AddressIn,
    BankAccountIn,
    BankStatementIn,
    EmploymentIn,
    LoanRequestIn,
    PanIn,
    PersonalIn,
    Step,
)
from domain.providers.calls import Caller
from domain.providers.messaging import SmsReceipt
from domain.shared.errors import DomainError
from domain.shared.values import normalise_phone
from workers.demo_products import demo_product_id

if TYPE_CHECKING:
    from workers.platform import Platform

FIRST = ["Aarav", "Diya", "Kabir", "Meera", "Rohan", "Sneha", "Vikram", "Ananya", "Arjun", "Isha", "Nikhil", "Pooja"]
LAST = ["Sharma", "Iyer", "Reddy", "Nair", "Gupta", "Das", "Patel", "Menon", "Joshi", "Kulkarni", "Bose", "Khan"]
#: How far each demo borrower got: the last step done (three at each), and two who submitted.
STOPPED_AFTER = [s for s in (Step.MOBILE, Step.PAN, Step.PERSONAL, Step.EMPLOYMENT, Step.AADHAAR) for _ in range(3)]
STOPPED_AFTER += [Step.BANK_ACCOUNT, Step.BANK_ACCOUNT, Step.BANK_STATEMENT, Step.LOAN_REQUEST, Step.SUBMITTED]
STOPPED_AFTER += [Step.SUBMITTED]


@dataclass
class _SeedSms:
    """The seed's own SMS sender: it keeps the last code sent to each phone."""

    codes: dict[str, str] = field(default_factory=dict)

    def send(self, to: str, text: str, sender: str = "CVDESK", *, caller: Caller) -> SmsReceipt:
        found = re.search(r"\b(\d{6})\b", text)
        if found:
            self.codes[to] = found.group(1)
        return SmsReceipt(f"seed_{len(self.codes)}", to, "queued")


def _signed_in(onboarding: Onboarding, sms: _SeedSms, phone: str) -> UUID:
    onboarding.request_code("demo", phone)
    return onboarding.sign_in("demo", phone, sms.codes[normalise_phone(phone)]).borrower_id


def seed_onboarding(platform: Platform, brand_id: UUID, staff_registered: tuple[str, str] | None = None) -> int:
    """Demo funnels at every step; how many borrowers it signed in. Run once, with the brand. `staff_registered`
    is the (phone, PAN) of a borrower staff registered: one demo borrower signs in with that phone."""
    live = platform.get(Onboarding)
    # The demo funnels share their statements through Account Aggregator consent: the brand takes it.
    platform.get(Identity).change_configuration(brand_id, {"account_aggregation": True})
    sms = _SeedSms()
    onboarding = Onboarding(
        env=dict(live.env),
        clock=live.clock,
        brands=live.brands,
        customers=live.customers,
        sms=sms,
        loans=live.loans,
        documents=live.documents,
    )
    rng = random.Random(13)
    today = date.today()
    started = 0
    phones = [f"7{rng.randrange(10**9):09d}" for _ in STOPPED_AFTER]
    pans: dict[int, str] = {}
    if staff_registered is not None:  # a borrower staff registered earlier: linked by phone, not duplicated
        phones[7], pans[7] = staff_registered
    try:
        for i, (phone, last) in enumerate(zip(phones, STOPPED_AFTER, strict=True)):
            borrower = _signed_in(onboarding, sms, phone)
            started += 1
            first, surname = rng.choice(FIRST), rng.choice(LAST)
            pan = (
                pans.get(i)
                or f"{''.join(rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ') for _ in range(3))}P{surname[0]}{1000 + i:04d}K"
            )
            city, pin = rng.choice([("Bengaluru", "560001"), ("Pune", "411001"), ("Chennai", "600002")])
            steps: list[tuple[Step, BaseModel]] = [
                (Step.PAN, PanIn(pan=pan)),
                (
                    Step.PERSONAL,
                    PersonalIn(
                        name=f"{first} {surname}",
                        date_of_birth=today - timedelta(days=365 * rng.randrange(23, 50)),
                        email=f"{first.lower()}.{surname.lower()}{i}@example.in",
                        addresses=[
                            AddressIn(kind="current", line1=f"{10 + i} MG Road", city=city, pincode=pin),
                            AddressIn(kind="permanent", line1=f"{10 + i} MG Road", city=city, pincode=pin),
                        ],
                    ),
                ),
                (
                    Step.EMPLOYMENT,
                    EmploymentIn(
                        company_name=rng.choice(["Infra Softworks", "Metro Retail", "Sunrise Hospitals"]),
                        designation=rng.choice(["Analyst", "Store Manager", "Nurse"]),
                        date_of_joining=today - timedelta(days=rng.randrange(200, 2000)),
                        monthly_salary=Decimal(rng.randrange(25, 120) * 1000),
                        salary_mode="bank",
                        salary_date=rng.choice([1, 5, 7, 10]),
                        office_address="Tower B, Outer Ring Road",
                        office_pincode=pin,
                        employment_type="full_time",
                    ),
                ),
                (
                    Step.AADHAAR,
                    AadhaarIn(method="digilocker", aadhaar_number="234567890124", digilocker_reference=f"DL-{i}"),
                ),
                (
                    Step.BANK_ACCOUNT,
                    BankAccountIn(
                        account_number=f"5010001{i:07d}", ifsc="HDFC0001234", holder_name=f"{first} {surname}"
                    ),
                ),
                (Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id=f"AA-DEMO-{i}")),
            ]
            for step, given in steps:
                if step.position > last.position:
                    break
                onboarding.record_step(brand_id, borrower, step, given)
            if last.position >= Step.LOAN_REQUEST.position:
                request = LoanRequestIn(
                    product_id=demo_product_id(brand_id, "CONSUMER-EMI"), amount=Decimal("40000"), tenure=12
                )
                applied = onboarding.apply(brand_id, borrower, request)
                if last is Step.SUBMITTED:
                    onboarding.submit_application(brand_id, borrower, applied.id)
    except DomainError:
        pass  # a demo made by an earlier version: what exists stays
    finally:
        onboarding.close()
    return started
