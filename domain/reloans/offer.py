"""Re-loan offers (issue #15 item 5; spec "Step 7 Re-Loan"): when a loan closes and the brand's `automated_reloan`
is on, an eligible borrower (never NPA on that loan, the product's BRE rules still passed on the facts recorded at
its submission) is offered a new loan of the closed loan's amount raised by the brand's `reloan_hike`. States:
`pending -> approved | rejected | cancelled`; approving (the borrower accepts) starts an application."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import event

from domain.loans.money import percent_of, round_money
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound


class OfferStatus(StrEnum):
    """Where a re-loan offer is."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ReloanOfferNotFound(NotFound):
    """No re-loan offer has the id within the brand."""


def hiked_amount(previous: Decimal, kind: str, value: Decimal) -> Decimal:
    """The re-loan's amount: the previous amount plus a fixed sum or a percentage of it, to the paisa."""
    if value < 0:
        raise InvalidValue("reloan_hike.value", "must not be negative")
    if kind == "fixed":
        return round_money(previous + value)
    if kind == "percent":
        return round_money(previous + percent_of(previous, value))
    raise InvalidValue("reloan_hike.kind", "must be fixed or percent")


class ReloanOffer(Aggregate):
    """The offer made on one closed loan (its id a uuid5 of the loan's: one offer per closed loan)."""

    id: UUID

    class Offered(Aggregate.Created):
        """An offer was made on the closure of `loan_id`."""

        brand_id: UUID
        loan_id: UUID
        loan_number: str
        customer_id: UUID
        product_id: UUID
        tenure: int
        previous_amount: Decimal
        amount: Decimal
        hike: str  # the brand's hike as applied, e.g. "percent 10" or "fixed 5000.00"

    class Approved(Aggregate.Event):
        """The borrower accepted: the application `application_id` was started."""

        application_id: UUID

    class Rejected(Aggregate.Event):
        """The borrower declined the offer."""

        reason: str

    class Cancelled(Aggregate.Event):
        """Staff withdrew the offer."""

        reason: str

    @event(Offered)
    def __init__(
        self,
        brand_id: UUID,
        loan_id: UUID,
        loan_number: str,
        customer_id: UUID,
        product_id: UUID,
        tenure: int,
        previous_amount: Decimal,
        amount: Decimal,
        hike: str,
    ) -> None:
        self.brand_id = brand_id
        self.loan_id = loan_id
        self.loan_number = loan_number
        self.customer_id = customer_id
        self.product_id = product_id
        self.tenure = tenure
        self.previous_amount = previous_amount
        self.amount = amount
        self.hike = hike
        self.status = OfferStatus.PENDING
        self.application_id: UUID | None = None
        self.reason: str | None = None

    def _require_pending(self, doing: str) -> None:
        if self.status is not OfferStatus.PENDING:
            raise Conflict(f"cannot {doing} a re-loan offer that is {self.status.value}", id=str(self.id))

    def approve(self, application_id: UUID) -> None:
        """The borrower accepted and the application was started."""
        self._require_pending("accept")
        self._approved(application_id=application_id)

    @event(Approved)
    def _approved(self, application_id: UUID) -> None:
        self.status = OfferStatus.APPROVED
        self.application_id = application_id

    def reject(self, reason: str) -> None:
        """The borrower declined."""
        self._require_pending("reject")
        self._rejected(reason=reason)

    @event(Rejected)
    def _rejected(self, reason: str) -> None:
        self.status = OfferStatus.REJECTED
        self.reason = reason

    def cancel(self, reason: str) -> None:
        """Staff withdrew the offer."""
        self._require_pending("cancel")
        self._cancelled(reason=reason)

    @event(Cancelled)
    def _cancelled(self, reason: str) -> None:
        self.status = OfferStatus.CANCELLED
        self.reason = reason


def expiry_cutoff(offer_days: int | None, timezone: str, as_of: date, now: datetime) -> datetime | None:
    """Offers made before this instant have expired: `offer_days` (the brand's `reloan_offer_days`) before now, or
    before the start of the business date `as_of` (a job run's, or today's) in the brand's `timezone` when its date
    is ahead of the calendar (as the e-sign expiry counts); None when the brand's offers never expire. The job
    cancels the offers made before it, and an accept refuses them before the job has run."""
    if offer_days is None:
        return None
    day_start = datetime.combine(as_of, time.min, tzinfo=ZoneInfo(timezone))
    return max(now, day_start) - timedelta(days=offer_days)
