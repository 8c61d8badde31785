"""What the onboarding context asks of others (brands, Customer 360 records, loan applications), as protocols
answered at wiring (workers/contexts/onboarding.py), and the values its use cases answer with."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from domain.customers.values import Address
from domain.documents.statement_months import StatementPeriod
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.reapply import LoanHistory
from domain.onboarding.steps import FunnelRules, Step
from domain.shared.application import CommandResult


class CodeBeingSent(Exception):
    """Raised when another request of the same phone is sending its code and did not finish within the wait."""


#: How long a code request waits for another of the same phone to send and record its code (the SMS provider's
#: timeout with its retries).
CODE_SEND_WAIT_SECONDS = 15.0


class CodeSends(Protocol):
    """A phone's code requests one at a time, across processes: each holds the phone from the throttle's check until
    its code is recorded. The SMS goes out between the two and cannot be taken back, so without the hold two taps
    at once both passed the resend wait and both sent a code, only one of which was recorded (the borrower typing
    the other was refused, the failure counted towards the lock)."""

    def holding(self, brand_id: UUID, phone: str) -> AbstractContextManager[None]:
        """Hold the phone's code requests; CodeBeingSent when they are not had within CODE_SEND_WAIT_SECONDS."""
        ...


@dataclass
class LocalCodeSends:
    """`CodeSends` within one process (striped thread locks): the default where nothing else is wired, as the unit
    tests' in-memory store; a platform of several processes wires holds shared through its database."""

    _stripes: list[threading.Lock] = field(default_factory=lambda: [threading.Lock() for _ in range(64)])

    @contextmanager
    def holding(self, brand_id: UUID, phone: str) -> Iterator[None]:
        lock = self._stripes[zlib.crc32(f"{brand_id}:{phone}".encode()) % len(self._stripes)]
        if not lock.acquire(timeout=CODE_SEND_WAIT_SECONDS):
            raise CodeBeingSent(phone)
        try:
            yield
        finally:
            lock.release()


class OnboardingBrands(Protocol):
    """What the onboarding context asks about brands: a brand by its code, and its funnel rules."""

    def brand_id(self, code: str) -> UUID | None: ...
    def rules(self, brand_id: UUID) -> FunnelRules: ...


class CustomerDirectory(Protocol):
    """The brand's Customer 360 records (the customers application answers it)."""

    def owner_of(self, brand_id: UUID, kind: str, value: str) -> UUID | None: ...
    def get(self, brand_id: UUID, customer_id: UUID) -> Any: ...
    def register(
        self,
        brand_id: UUID,
        *,
        name: str,
        phone: str,
        pan: str | None = None,
        email: str | None = None,
        date_of_birth: date | None = None,
        addresses: list[Address] | None = None,
        loan_numbers: list[str] | None = None,
    ) -> CommandResult: ...
    def update_details(
        self, brand_id: UUID, customer_id: UUID, *, expected_version: int | None = None, **fields: Any
    ) -> CommandResult: ...
    def add_alternate_phone(
        self, brand_id: UUID, customer_id: UUID, phone: str, label: str | None = None
    ) -> CommandResult: ...


@dataclass(frozen=True)
class CodeRequest:
    """The answer to asking for a code (the same whether or not the phone is known)."""

    expires_in: int
    resend_after: int


@dataclass(frozen=True)
class SignedIn:
    """A new session: the bearer token (shown once), the borrower and when it expires."""

    token: str
    borrower_id: UUID
    expires_at: datetime
    position: int


@dataclass(frozen=True)
class BorrowerPrincipal:
    """A signed-in borrower: who, in which brand, with which session."""

    brand_id: UUID
    borrower_id: UUID
    session_id: UUID

    @property
    def actor(self) -> str:
        """The actor recorded on events the borrower causes."""
        return f"borrower:{self.borrower_id}"


@dataclass(frozen=True)
class StepState:
    """One step of a borrower's funnel."""

    step: Step
    required: bool
    done: bool
    at: datetime | None
    sent_back: str | None = None  # why staff sent it back, until it is done again


@dataclass(frozen=True)
class FunnelState:
    """A borrower's funnel as they (and staff) see it: each step, the next one, what is missing."""

    borrower_id: UUID
    phone: str
    status: FunnelStatus
    customer_id: UUID | None
    steps: list[StepState]
    next_step: Step | None
    missing: list[Step]
    started_at: datetime
    updated_at: datetime
    reason: str | None
    version: int
    may_apply_from: date | None = None  # a finished funnel: the first day the borrower may start a new application
    can_apply_again: bool = False  # ... and that day has come (nothing open, the cooldown over)
    closed_at: datetime | None = None  # closed as rejected: when ...
    closed_by: str | None = None  # ... and by whom (`staff:<id>`, `apikey:<id>`, `job:<name>`)


@dataclass(frozen=True)
class BorrowerView:
    """A signed-in borrower's funnel as their pages show it: its state, their current application and the Customer
    360 record whose data they see (None before the personal step, or for a record found by the PAN alone)."""

    state: FunnelState
    application_id: UUID | None
    own_record: UUID | None


@dataclass(frozen=True)
class AppliedLoan:
    """A loan application the borrower started (or submitted): its id, number and the loans log position."""

    id: UUID
    loan_number: str
    position: int


@dataclass(frozen=True)
class ApplicationRequest:
    """What an application asks for (its product, amount, tenure and coupon) and its number: for the funnel's loan
    request step when the application was started elsewhere (the borrower's acceptance of a re-loan offer)."""

    product_id: UUID
    amount: Decimal
    tenure: int
    coupon_code: str | None
    loan_number: str

    def details(self) -> dict[str, Any]:
        """The loan request step's details, as the funnel records a request the borrower made."""
        return {"product_id": str(self.product_id), "amount": f"{self.amount:.2f}", "tenure": self.tenure,
                "coupon_code": self.coupon_code, "loan_number": self.loan_number}  # fmt: skip


class LoanDesk(Protocol):
    """Loan applications (the loans context answers it)."""

    def apply(
        self,
        brand_id: UUID,
        customer_id: UUID,
        product_id: UUID,
        amount: Decimal,
        tenure: int,
        coupon_code: str | None,
        *,
        loan_id: UUID | None = None,
    ) -> AppliedLoan:
        """Start an application for the borrower (422 naming each field that breaks a product rule), named `loan_id`
        when given (an id already taken: 409, nothing recorded)."""
        ...

    def owner(self, brand_id: UUID, loan_id: UUID) -> UUID | None:
        """The borrower (customer id) of an application of the brand, None when there is none."""
        ...

    def submit(self, brand_id: UUID, loan_id: UUID, payout_account: UUID | None = None) -> AppliedLoan:
        """Submit the application through the BRE (409 unless it is still in onboarding), naming the bank account it
        is to be paid out to (`payout_account`, the verification context's account id; None: none given)."""
        ...

    def amend(
        self,
        brand_id: UUID,
        loan_id: UUID,
        product_id: UUID,
        amount: Decimal,
        tenure: int,
        coupon_code: str | None,
    ) -> AppliedLoan:
        """Change the borrower's application still in onboarding to the request they redid (the same application,
        its number kept; 422 naming each field as `apply`, 409 once it is submitted)."""
        ...

    def request(self, brand_id: UUID, loan_id: UUID) -> ApplicationRequest | None:
        """What the brand's application asks for, None when the brand has no such application."""
        ...

    def status(self, brand_id: UUID, loan_id: UUID) -> str | None:
        """The application's status (`LoanStatus`'s value), None when the brand has no such application."""
        ...

    def cancel_unsubmitted(self, brand_id: UUID, loan_id: UUID, reason: str) -> bool:
        """Cancel the application while it is still in onboarding (the borrower's onboarding was closed): True when
        this call cancelled it, False when it was not in onboarding (cancelled already, submitted, or no such
        application of the brand). Safe to repeat."""
        ...

    def cancel_reason(self, brand_id: UUID, loan_id: UUID) -> str | None:
        """Why the application was cancelled (its `Loan.Cancelled` reason), None while it is not cancelled (or no such
        application of the brand)."""
        ...

    def history(self, brand_id: UUID, customer_id: UUID) -> LoanHistory:
        """The borrower's open applications and latest rejection date (as the BRE's COOLDOWN reads it)."""
        ...


class DocumentShelf(Protocol):
    """Borrowers' documents (the documents context answers it)."""

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
        """Store a file the borrower uploaded (422 naming `file`, `kind`, `period_from` or `period_to` when it is
        refused); a bank statement may say the months it covers."""
        ...

    def owner(self, brand_id: UUID, document_id: UUID) -> UUID | None:
        """The borrower (customer id) of a document of the brand, None when there is none."""
        ...

    def statement_period(self, brand_id: UUID, document_id: UUID) -> StatementPeriod | None:
        """The months a bank statement of the brand covers; None when its upload did not say (or it is not a
        statement)."""
        ...

    def kind(self, brand_id: UUID, document_id: UUID) -> str | None:
        """A document's kind (`DocumentKind`'s value), None when the brand has no such document."""
        ...

    def statement_refusal(self, brand_id: UUID, document_id: UUID) -> str | None:
        """Why a document of the brand cannot count as a bank statement at the statement step (it is another kind,
        or staff rejected it), said for the borrower; None when it counts."""
        ...


class KycChecks(Protocol):
    """The verification context's checks the funnel starts as the borrower gives what each needs. Each records its
    own outcome on the borrower's KYC profile (a provider failure as a failed, retryable check) and never refuses
    the step: staff see the result on Customer 360, and the BRE reads it."""

    def verify_pan(self, brand_id: UUID, customer_id: UUID) -> None:
        """PAN verification (name, date of birth, Aadhaar link, fraud flag), once PAN and personal details exist."""
        ...

    def add_bank_account(
        self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str, holder_name: str
    ) -> None:
        """The account, verified by a penny drop."""
        ...

    def bank_account_id(self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str) -> UUID | None:
        """The id the borrower's account with this number and IFSC has (or would have) on their record, the one its
        penny drop verifies; None when the verification context cannot name it."""
        ...

    def analyse_statement(self, brand_id: UUID, customer_id: UUID, document_id: UUID) -> None:
        """Bank statement analysis of an uploaded statement."""
        ...

    def pull_bureau(self, brand_id: UUID, customer_id: UUID) -> None:
        """The credit report the BRE reads, before the application is submitted."""
        ...
