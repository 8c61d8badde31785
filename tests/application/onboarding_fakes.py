"""Fakes and fixtures of the onboarding application tests: the brands, SMS, loans, documents and KYC the onboarding
context is given (protocols), the real customers application beside it, and the borrower's usual inputs."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from domain.customers.application import Customers
from domain.documents.statement_months import StatementPeriod, stated_period
from domain.onboarding.application import Onboarding
from domain.onboarding.parties import ApplicationRequest, AppliedLoan
from domain.onboarding.reapply import LoanHistory, OpenApplication
from domain.onboarding.steps import (
    AadhaarIn,
    AddressIn,
    BankAccountIn,
    EmploymentIn,
    FunnelRules,
    LoanRequestIn,
    PanIn,
    PersonalIn,
    Step,
)
from domain.providers.calls import Caller
from domain.providers.messaging import SmsReceipt
from domain.shared.aggregate import current_actor
from domain.shared.application import CommandResult, ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000d2")
PHONE = "+919812345670"


@dataclass
class Brands:
    codes: dict[str, UUID] = field(default_factory=lambda: {"demo": BRAND, "other": OTHER})
    rules_of: dict[UUID, FunnelRules] = field(default_factory=dict)

    def brand_id(self, code: str) -> UUID | None:
        return self.codes.get(code)

    def rules(self, brand_id: UUID) -> FunnelRules:
        return self.rules_of.get(brand_id, FunnelRules())


@dataclass
class Outbox:
    sent: list[tuple[UUID, str, str]] = field(default_factory=list)

    def send(self, to: str, text: str, sender: str = "CVDESK", *, caller: Caller) -> SmsReceipt:
        self.sent.append((caller.brand_id, to, text))
        return SmsReceipt(f"msg_{len(self.sent)}", to, "queued")

    def code(self, to: str = PHONE) -> str:
        found = re.search(r"\b(\d{6})\b", next(t for b, p, t in reversed(self.sent) if p == to))
        assert found
        return found.group(1)


@pytest.fixture
def brands() -> Brands:
    return Brands()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def customers(clock: FixedClock) -> Customers:
    return in_memory(Customers, clock)


@dataclass
class Desk:
    """The loans context as onboarding sees it: applications by id, their borrower and status (and each one's request
    and rejection date)."""

    loans: dict[UUID, tuple[UUID, str]] = field(default_factory=dict)  # id -> (customer, status)
    refuse: InvalidInput | None = None
    requests: dict[UUID, tuple[UUID, Decimal, int, str | None]] = field(default_factory=dict)
    rejected_on: dict[UUID, date] = field(default_factory=dict)
    numbers: dict[UUID, str] = field(default_factory=dict)
    cancelled: dict[UUID, str] = field(default_factory=dict)  # id -> why, for the applications cancel_unsubmitted ended
    cancelled_by: dict[UUID, str] = field(default_factory=dict)  # id -> the actor of that cancel
    fail_cancels: bool = False  # the loans context is down: a cancel raises
    payout_accounts: dict[UUID, UUID | None] = field(default_factory=dict)  # id -> the account its submission named

    def reject(self, loan_id: UUID, on: date) -> None:
        """The BRE or staff rejected the application on `on`."""
        self.loans[loan_id] = (self.loans[loan_id][0], "rejected")
        self.rejected_on[loan_id] = on

    def set_status(self, loan_id: UUID, status: str) -> None:
        self.loans[loan_id] = (self.loans[loan_id][0], status)

    def amend(
        self, brand_id: UUID, loan_id: UUID, product_id: UUID, amount: Decimal, tenure: int, coupon: str | None
    ) -> AppliedLoan:
        if self.refuse is not None:
            raise self.refuse
        if self.loans[loan_id][1] != "onboarding":
            raise Conflict("only an application in onboarding takes a new loan request")
        self.requests[loan_id] = (product_id, amount, tenure, coupon)
        return AppliedLoan(loan_id, self.numbers[loan_id], 3)

    def request(self, brand_id: UUID, loan_id: UUID) -> ApplicationRequest | None:
        if loan_id not in self.requests:
            return None
        return ApplicationRequest(*self.requests[loan_id], self.numbers[loan_id])

    def status(self, brand_id: UUID, loan_id: UUID) -> str | None:
        return self.loans[loan_id][1] if loan_id in self.loans else None

    def cancel_unsubmitted(self, brand_id: UUID, loan_id: UUID, reason: str) -> bool:
        if self.fail_cancels:
            raise RuntimeError("the loans context is unreachable")
        if self.status(brand_id, loan_id) != "onboarding":
            return False
        self.set_status(loan_id, "cancelled")
        self.cancelled[loan_id] = reason
        self.cancelled_by[loan_id] = current_actor()
        return True

    def cancel_reason(self, brand_id: UUID, loan_id: UUID) -> str | None:
        if self.status(brand_id, loan_id) != "cancelled":
            return None
        return self.cancelled.get(loan_id, "cancelled by staff")

    def history(self, brand_id: UUID, customer_id: UUID) -> LoanHistory:
        mine = [(loan, status) for loan, (customer, status) in self.loans.items() if customer == customer_id]
        ended = {"rejected", "cancelled", "completed", "settled", "written_off"}
        return LoanHistory(
            open=tuple(
                OpenApplication(loan, self.numbers[loan], status) for loan, status in mine if status not in ended
            ),
            last_rejected_on=max(
                (self.rejected_on[loan] for loan, _ in mine if loan in self.rejected_on), default=None
            ),
        )

    def apply(
        self,
        brand_id: UUID,
        customer_id: UUID,
        product_id: UUID,
        amount: Decimal,
        tenure: int,
        coupon: str | None,
        *,
        loan_id: UUID | None = None,
    ) -> AppliedLoan:
        if self.refuse is not None:
            raise self.refuse
        if loan_id in self.loans:  # as the loans context: an id already taken records nothing
            raise ConcurrentModification("the record was changed by another request at the same time")
        loan = loan_id or uuid.uuid4()
        self.loans[loan] = (customer_id, "onboarding")
        self.requests[loan] = (product_id, amount, tenure, coupon)
        self.numbers[loan] = f"DEMO-L-{len(self.loans):06d}"
        return AppliedLoan(loan, self.numbers[loan], 1)

    def owner(self, brand_id: UUID, loan_id: UUID) -> UUID | None:
        return self.loans[loan_id][0] if loan_id in self.loans else None

    def submit(self, brand_id: UUID, loan_id: UUID, payout_account: UUID | None = None) -> AppliedLoan:
        customer, status = self.loans[loan_id]
        if status != "onboarding":
            raise Conflict("only an application in onboarding can be submitted")
        self.loans[loan_id] = (customer, "pending")
        self.payout_accounts[loan_id] = payout_account
        return AppliedLoan(loan_id, "DEMO-L-000001", 2)


@dataclass
class Shelf:
    """The documents context as onboarding sees it: each document's borrower."""

    owners: dict[UUID, UUID] = field(default_factory=dict)
    periods: dict[UUID, StatementPeriod] = field(default_factory=dict)
    kinds: dict[UUID, str] = field(default_factory=dict)
    rejected: set[UUID] = field(default_factory=set)  # statements staff rejected

    def upload(
        self,
        brand_id: UUID,
        customer_id: UUID,
        kind: str,
        filename: str,
        data: bytes,
        *,
        period_from: str | None = None,
        period_to: str | None = None,
    ) -> CommandResult:
        document = uuid.uuid4()
        self.owners[document] = customer_id
        self.kinds[document] = kind
        period = stated_period(period_from, period_to)
        if period is not None:
            self.periods[document] = period
        return CommandResult(document, 1)

    def owner(self, brand_id: UUID, document_id: UUID) -> UUID | None:
        return self.owners.get(document_id)

    def statement_period(self, brand_id: UUID, document_id: UUID) -> StatementPeriod | None:
        return self.periods.get(document_id)

    def kind(self, brand_id: UUID, document_id: UUID) -> str | None:
        return self.kinds.get(document_id)

    def statement_refusal(self, brand_id: UUID, document_id: UUID) -> str | None:
        if self.kinds.get(document_id) != "bank_statement":
            return "not a bank statement"
        return "this statement was rejected" if document_id in self.rejected else None


@dataclass
class Kyc:
    """The verification context as onboarding sees it: which checks were started, in order."""

    started: list[tuple[str, UUID]] = field(default_factory=list)

    def verify_pan(self, brand_id: UUID, customer_id: UUID) -> None:
        self.started.append(("pan", customer_id))

    def add_bank_account(
        self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str, holder_name: str
    ) -> None:
        self.started.append((f"penny_drop {account_number} {ifsc}", customer_id))

    def bank_account_id(self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str) -> UUID | None:
        return uuid.uuid5(customer_id, f"{account_number}:{ifsc}")

    def analyse_statement(self, brand_id: UUID, customer_id: UUID, document_id: UUID) -> None:
        self.started.append(("statement", customer_id))

    def pull_bureau(self, brand_id: UUID, customer_id: UUID) -> None:
        self.started.append(("bureau", customer_id))


@pytest.fixture
def kyc() -> Kyc:
    return Kyc()


@pytest.fixture
def desk() -> Desk:
    return Desk()


@pytest.fixture
def shelf() -> Shelf:
    return Shelf()


@pytest.fixture
def app(
    clock: FixedClock, brands: Brands, customers: Customers, outbox: Outbox, desk: Desk, shelf: Shelf, kyc: Kyc
) -> Onboarding:
    return in_memory(
        Onboarding, clock, brands=brands, customers=customers, sms=outbox, loans=desk, documents=shelf, kyc=kyc
    )


def signed_in(app: Onboarding, outbox: Outbox, clock: FixedClock, phone: str = PHONE, brand: str = "demo") -> UUID:
    app.request_code(brand, phone)
    return app.sign_in(brand, phone, outbox.code(phone)).borrower_id


PERSONAL = PersonalIn(
    name="Asha Verma",
    date_of_birth=date(1994, 5, 17),
    gender="female",
    email="asha@example.in",
    addresses=[
        AddressIn(kind="current", line1="12 MG Road", city="Bengaluru", pincode="560001"),
        AddressIn(kind="permanent", line1="4 Civil Lines", city="Jaipur", pincode="302006"),
    ],
)
EMPLOYMENT = EmploymentIn(
    company_name="Infra Softworks",
    designation="Analyst",
    date_of_joining=date(2021, 7, 1),
    monthly_salary=Decimal("48000"),
    salary_mode="bank",
    salary_date=1,
    office_address="Tower B, Outer Ring Road",
    office_pincode="560103",
    employment_type="full_time",
)
AADHAAR = AadhaarIn(method="digilocker", aadhaar_number="2345 6789 0124", digilocker_reference="DL-77812")


def ready_to_apply(app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands) -> UUID:
    brands.rules_of[BRAND] = FunnelRules(require_employment=False)
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    app.record_step(BRAND, borrower, Step.AADHAAR, AADHAAR)
    app.record_step(
        BRAND,
        borrower,
        Step.BANK_ACCOUNT,
        BankAccountIn(account_number="50100012345678", ifsc="HDFC0001234", holder_name="Asha Verma"),
    )
    return borrower


REQUEST = LoanRequestIn(product_id=uuid.uuid4(), amount=Decimal("50000"), tenure=12, coupon_code="new10")
