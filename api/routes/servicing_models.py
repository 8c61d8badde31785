"""Request and response models of loan servicing (issue #15): repayments, reversals, the payoff quote, the ledger,
and the servicing fields of a loan's GET."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON, VISIBLE_REFERENCE
from domain.loans.servicing_events import PaymentMode
from domain.shared.values import MIN_REASON, BusinessDate, PositiveMoney, stated_choices

#: A mode staff record money with: a `PaymentMode` but the two only the payment webhooks record (the domain reads it,
#: case-insensitively, with its own 422 naming `mode`; the schema states the choices).
StaffPaymentMode = Annotated[
    str,
    Field(max_length=20),
    stated_choices(
        [m.value for m in PaymentMode if m not in (PaymentMode.PAYMENT_LINK, PaymentMode.UPI_AUTOPAY)],
        "cash, cheque, neft, imps, rtgs, upi, nach or other",
    ),
]


class RepaymentIn(BaseModel):
    """A repayment received by staff."""

    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    mode: StaffPaymentMode
    reference: str = Field(
        max_length=100,
        description="the UTR, cheque number or receipt: unique per loan",
        json_schema_extra=VISIBLE_REFERENCE,
    )
    paid_on: BusinessDate | None = Field(None, description="the business date unless given; never after it")


class ReverseIn(BaseModel):
    """Why a repayment is reversed (a bounced cheque, a chargeback)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=1000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class PayoffQuery(BaseModel):
    """The date of a payoff quote."""

    model_config = ConfigDict(extra="forbid")

    as_of: BusinessDate | None = Field(None, description="YYYY-MM-DD; the business date unless given")


class AllocationOut(BaseModel):
    """What a payment paid on one instalment."""

    model_config = ConfigDict(from_attributes=True)

    no: int
    penal: Decimal
    interest: Decimal
    principal: Decimal


class RepaymentOut(BaseModel):
    """A repayment recorded, with its allocation (oldest instalment first: penal, interest, principal)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    loan_id: str
    amount: Decimal
    mode: str
    reference: str
    paid_on: date
    allocation: list[AllocationOut]
    closes_loan: bool
    status: str = Field(description="the loan's status after it")
    payoff_after: Decimal | None = Field(description="the payoff on the business date once it was applied")
    reversed_on: date | None = None
    reversal_reason: str | None = None
    kind: Literal["repayment", "collection", "receipt", "recovery"] = Field(
        "repayment",
        description="how it came in: recorded by staff, a payment link or UPI Autopay (repayment), an approved "
        "collection or confirmed manual receipt, or a recovery after the write-off (no allocation, no balance moved)",
    )
    request_id: str | None = Field(None, description="the approved collection request or manual receipt behind it")
    settlement_id: str | None = Field(None, description="the approved settlement it counted toward")


class RepaymentListOut(BaseModel):
    """A loan's repayments and its recoveries after a write-off, in the order recorded (pending or rejected
    collection requests are not money received: `GET /loans/{id}/recovery-requests`)."""

    items: list[RepaymentOut]
    next_cursor: str | None = Field(None, description="the next page's cursor (`?cursor=`), null on the last page")


class RepaymentsQuery(BaseModel):
    """A page of a loan's repayments, in the order recorded."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500, description="`next_cursor` of the page before")
    limit: int | None = Field(
        None,
        ge=1,
        le=200,
        description="at most this many (default 50 with a cursor); neither `limit` nor `cursor`: every repayment in "
        "one answer, as this list has always answered",
    )


class PayoffOut(BaseModel):
    """The payoff quote on `as_of` and its parts (total = the parts - interest paid ahead)."""

    model_config = ConfigDict(from_attributes=True)

    loan_id: str
    as_of: date
    total: Decimal
    overdue_penal: Decimal
    overdue_interest: Decimal
    overdue_principal: Decimal
    principal_not_due: Decimal
    accrued_interest: Decimal
    interest_paid_ahead: Decimal
    current_instalment: int | None


class RunningOut(BaseModel):
    """The running outstanding after a posting."""

    model_config = ConfigDict(from_attributes=True)

    principal: Decimal
    interest: Decimal
    penal: Decimal
    fees: Decimal
    total: Decimal


class PostingOut(BaseModel):
    """One ledger posting: what it moved in each bucket (positive: owed more) and the running outstanding."""

    model_config = ConfigDict(from_attributes=True)

    on: date
    kind: str = Field(description="disbursal, fee, gst, fees_deducted, interest_due, penal_charge, payment or reversal")
    description: str
    amount: Decimal
    principal: Decimal
    interest: Decimal
    penal: Decimal
    fees: Decimal
    payment_id: str | None
    running: RunningOut


class LedgerOut(BaseModel):
    """A loan's ledger through the business date, rebuilt from its events."""

    loan_id: str
    as_of: date
    items: list[PostingOut]


class OutstandingOut(BaseModel):
    """What is owed on the business date (the payoff, split)."""

    model_config = ConfigDict(from_attributes=True)

    principal: Decimal
    interest: Decimal
    penal: Decimal
    fees: Decimal
    total: Decimal


class NextDueOut(BaseModel):
    """The next instalment not fully paid falling due on or after the business date."""

    model_config = ConfigDict(from_attributes=True)

    no: int
    due_date: date
    amount: Decimal


class NoDueOut(BaseModel):
    """The no-due certificate as recorded (the download itself is application/pdf)."""

    sha256: str
    verification_code: str
    closed_on: date
    disbursed: Decimal
    repaid: Decimal


class PdfDocumentOut(BaseModel):
    """A rendered document (a repayment's receipt, a settlement letter); the download itself is application/pdf,
    its SHA-256 in `X-Content-SHA256`."""

    sha256: str
    filename: str


class CobDaysQuery(BaseModel):
    """How many run records."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(30, ge=1, le=366)


class CobDayOut(BaseModel):
    """The close of business of one business date."""

    model_config = ConfigDict(from_attributes=True)

    business_date: date
    state: str = Field(description="running or done")
    partitions: int
    loans: int = Field(description="serviced loans processed")
    quiet: int = Field(
        0,
        description="of which passed over: quiet on the date (nothing due or overdue, no event "
        "since the COB last looked at them)",
    )
    closed: int = Field(description="loans whose day was closed by this run (not already closed)")
    penal_charged: Decimal
    transitions: dict[str, int] = Field(description="state moves by kind, e.g. active->overdue")
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None


class CobDayListOut(BaseModel):
    """Run records, newest date first."""

    items: list[CobDayOut]
