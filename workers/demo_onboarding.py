"""Demo borrowers in the onboarding funnel for the `demo` brand: a few stopped at every step, some resumed, two
submitted with an application - so the staff lists, the conversion figures and the borrower web flow have
something to show. One of them is a borrower staff registered earlier, linked by phone (one Customer 360).

The seed signs borrowers in like anyone else, with the code the SMS carries: it builds an `Onboarding` on the same
event store whose SMS sender is the seed itself (the product has no other way to a code)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

import structlog
from pydantic import BaseModel

from domain.identity.application import Identity
from domain.loans.states import LoanStatus
from domain.onboarding.account import account_id, funnel_id
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
from domain.shared.clock import Clock
from domain.shared.errors import DomainError
from domain.shared.values import normalise_phone
from workers.demo_products import demo_product_id

if TYPE_CHECKING:
    from workers.platform import Platform

log = structlog.get_logger(__name__)

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


@dataclass
class _SeedClock:
    """The platform's clock, `ahead` of it once a code an interrupted run asked for holds the phone's resend wait
    (the seed cannot know that code; asking again a little later is what a borrower would do)."""

    clock: Clock
    ahead: timedelta = timedelta(0)

    def now(self) -> datetime:
        return self.clock.now() + self.ahead


def _signed_in(onboarding: Onboarding, sms: _SeedSms, clock: _SeedClock, phone: str) -> UUID:
    asked = onboarding.request_code("demo", phone)
    if normalise_phone(phone) not in sms.codes:  # a code sent by a run stopped before signing in: wait it out
        clock.ahead += timedelta(seconds=asked.resend_after + 1)
        onboarding.request_code("demo", phone)
    return onboarding.sign_in("demo", phone, sms.codes[normalise_phone(phone)]).borrower_id


def _demo_phones() -> tuple[random.Random, list[str]]:
    """The funnels' phones, and the generator positioned after them for the rest of their details."""
    rng = random.Random(13)
    return rng, [f"7{rng.randrange(10**9):09d}" for _ in STOPPED_AFTER]


def demo_funnel_started(platform: Platform, brand_id: UUID) -> bool:
    """Whether the first demo funnel has been started."""
    phone = _demo_phones()[1][0]
    return platform.get(Onboarding).find(funnel_id(account_id(brand_id, normalise_phone(phone)))) is not None


def seed_onboarding(platform: Platform, brand_id: UUID, staff_registered: tuple[str, str] | None = None) -> int:
    """Demo funnels at every step; how many borrowers it signed in. `staff_registered` is the (phone, PAN) of a
    borrower staff registered: one demo borrower signs in with that phone. Each funnel is found by its phone and
    taken on from where it is (a run stopped part way): only the steps it has not done are recorded, so a run after
    a complete one records nothing."""
    live = platform.get(Onboarding)
    # The demo funnels share their statements through Account Aggregator consent: the brand takes it.
    platform.get(Identity).change_configuration(brand_id, {"account_aggregation": True})
    sms = _SeedSms()
    clock = _SeedClock(live.clock)
    onboarding = Onboarding(
        env=dict(live.env),
        clock=clock,
        brands=live.brands,
        customers=live.customers,
        sms=sms,
        loans=live.loans,
        documents=live.documents,
    )
    today = date.today()
    started = 0
    rng, phones = _demo_phones()
    pans: dict[int, str] = {}
    if staff_registered is not None:  # a borrower staff registered earlier: linked by phone, not duplicated
        phones[7], pans[7] = staff_registered
    try:
        for i, (phone, last) in enumerate(zip(phones, STOPPED_AFTER, strict=True)):
            # Every funnel's details are drawn, found or not, so each one's are the same on every run.
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
            try:
                started += _walk(onboarding, sms, clock, brand_id, phone, last, steps)
            except DomainError as exc:  # a demo made by an earlier version: what exists stays
                log.warning("seed.funnel_refused", phone=phone, error=exc.message)
    finally:
        onboarding.close()
    return started


def _walk(
    onboarding: Onboarding,
    sms: _SeedSms,
    clock: _SeedClock,
    brand_id: UUID,
    phone: str,
    last: Step,
    steps: list[tuple[Step, BaseModel]],
) -> int:
    """Take the funnel of `phone` to `last` from where it is (signing in first when it has not started); 1 when it
    signed in, else 0."""
    borrower = funnel_id(account_id(brand_id, normalise_phone(phone)))
    signed_in = 0
    if onboarding.find(borrower) is None:
        borrower = _signed_in(onboarding, sms, clock, phone)
        signed_in = 1
    funnel = onboarding.funnel(brand_id, borrower)
    for step, given in steps:
        if step.position > last.position:
            break
        if step not in funnel.done:
            onboarding.record_step(brand_id, borrower, step, given)
    if last.position >= Step.LOAN_REQUEST.position and Step.LOAN_REQUEST not in funnel.done:
        request = LoanRequestIn(
            product_id=demo_product_id(brand_id, "CONSUMER-EMI"), amount=Decimal("40000"), tenure=12
        )
        onboarding.apply(brand_id, borrower, request)
    if last is Step.SUBMITTED and Step.SUBMITTED not in onboarding.funnel(brand_id, borrower).done:
        _submit(onboarding, brand_id, borrower)
    return signed_in


def _submit(onboarding: Onboarding, brand_id: UUID, borrower: UUID) -> None:
    """Submit the funnel's application; one a stopped run submitted already has the step recorded (the
    reconciliation the onboarding jobs do), not submitted again."""
    application = onboarding.application_id(brand_id, borrower)
    assert application is not None
    if onboarding.loans.status(brand_id, application) == LoanStatus.ONBOARDING.value:
        onboarding.submit_application(brand_id, borrower, application)
    else:
        onboarding.sync_submission(brand_id, borrower)
