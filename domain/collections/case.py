"""A loan's collection case: the contacts made with the borrower (calls, visits, dialer events), the promises to
pay and their judgement, and the manual move to post-collections (legal). One aggregate per loan, created at its
first fact (uuid5 of brand and loan). Stages and allocation are recorded in batches (`domain/collections/moves.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.identity.permissions import Permission
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound
from domain.shared.values import CALLBACK_HORIZON

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/collections/case")


class Stage(StrEnum):
    """Where a loan is in collections."""

    PRE = "pre"  # due within the brand's window, not yet overdue
    COLLECTIONS = "collections"  # overdue
    POST = "post"  # settled, written off, or moved to legal


#: The permission each stage's work needs (at WRITE to work a case; what the sweep asks of an executive who keeps or
#: gets the stage's cases, and the endpoints of a caller).
STAGE_PERMISSION = {
    Stage.PRE: Permission.PRE_COLLECTIONS,
    Stage.COLLECTIONS: Permission.COLLECTIONS,
    Stage.POST: Permission.POST_COLLECTIONS,
}
#: Who may open the collections desk (the worklist, a case, its contacts, promises and payment links): COLLECTIONS,
#: or a stage's own permission alone - the spec's "each stage may be assigned to different teams", whom the sweep
#: allocates that stage's cases. Each case then needs its own stage's permission (`STAGE_PERMISSION`); a loan in no
#: stage, COLLECTIONS.
DESK_PERMISSIONS = (Permission.COLLECTIONS, Permission.PRE_COLLECTIONS, Permission.POST_COLLECTIONS)


class Outcome(StrEnum):
    """What came of a contact with the borrower."""

    CONNECTED = "connected"
    NOT_REACHABLE = "not_reachable"
    SWITCHED_OFF = "switched_off"
    WRONG_NUMBER = "wrong_number"
    CALLBACK_REQUESTED = "callback_requested"
    REFUSED_TO_PAY = "refused_to_pay"
    PROMISED_TO_PAY = "promised_to_pay"


#: Attempts that did not reach the borrower. Logged before a requested callback's time, such an attempt (an automatic
#: dialer call unanswered, a phone switched off, another person on the line) leaves the callback standing: the
#: borrower asked to be called then, and nobody has spoken to them since. Any other contact, or any contact from the
#: callback's time on (the call back itself), settles it.
NOT_REACHED = frozenset({Outcome.NOT_REACHABLE, Outcome.SWITCHED_OFF, Outcome.WRONG_NUMBER})


class Channel(StrEnum):
    """How the contact was made."""

    MANUAL = "manual"  # logged by the executive
    DIALER = "dialer"  # a call event of the dialer (logged by its webhook)
    FIELD = "field"  # a field visit


class PtpStatus(StrEnum):
    """A promise to pay: open until its date has closed, then kept or broken by the payments made (and judged again
    while money dated within it comes in late or is reversed: `REJUDGE_DAYS`)."""

    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"


#: How many days after a promise's date its judgement may still change. Money is counted by the day it was paid, not
#: the day it reached the books: a collection request is applied once Ops approve it (days after the executive
#: collected it), a gateway's webhook or a receipt may be confirmed late, and a cheque bounces days after it was
#: banked. So every close of business looks again at the promises due in the last `REJUDGE_DAYS` days and records a
#: re-judgement (`PromiseRejudged`) when what was paid within a promise's dates has changed since it was judged
#: (broken -> kept, kept -> broken, or the sum paid). Past that the judgement stands for good: the sweep's work stays
#: bounded, and the team's kept rate for a month is settled a month later.
REJUDGE_DAYS = 30


class CollectionCaseNotFound(NotFound):
    """Raised when the loan has no collection case in the brand."""


class CallDetails(BaseModel):
    """A dialer call's facts, when the contact is a call the dialer reported."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: str
    status: str
    duration_seconds: int
    recording_url: str | None = None


class Contact(BaseModel):
    """One contact with the borrower as recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: UUID
    outcome: Outcome
    remarks: str
    callback_at: datetime | None
    channel: Channel
    staff_id: UUID | None
    call: CallDetails | None = None


class Promise(BaseModel):
    """A promise to pay `amount` by `due_on`, made on business date `made_on`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ptp_id: UUID
    due_on: date
    amount: Decimal
    made_on: date
    staff_id: UUID | None
    status: PtpStatus = PtpStatus.OPEN
    paid: Decimal = Decimal("0.00")

    def verdict(self, tally: PromiseTally) -> PtpStatus:
        """Kept when what was paid within the promise (`tally.paid`: dated from the day it was made to its date, and
        recorded after it was made) reaches its amount, or when the loan came to owe nothing within those dates -
        paid off early at that day's lower payoff, settled for less, all of a write-off recovered, the last of it
        waived: a promise is of at most what the loan owes, so a loan that owes nothing by the promised date has had
        its promise kept. Else broken."""
        ended = tally.owes_nothing_on
        if ended is not None and self.made_on <= ended <= self.due_on:
            return PtpStatus.KEPT
        return PtpStatus.KEPT if tally.paid >= self.amount else PtpStatus.BROKEN


@dataclass(frozen=True)
class PromiseTally:
    """What the loans' books show for a promise at a close of business (workers/collection_jobs.py gathers it, for
    every promise due, set-based): `paid`, the payments and recoveries not reversed, paid from the day the promise was
    made to its date and recorded after it was made (money already in when it was promised is not what was
    promised); `owes_nothing_on`, the day the loan came to owe nothing (completed, settled, written off with all of
    it recovered), None while it owes."""

    loan_id: UUID
    ptp_id: UUID
    paid: Decimal
    owes_nothing_on: date | None = None


@dataclass(frozen=True)
class Owed:
    """What a loan owes on a date as the loans context figures it - the most a payment then can be - and what that
    figure is (`payoff`; `settlement left to pay` once a settlement is approved; `amount left to recover` once
    written off)."""

    amount: Decimal
    what: str


def case_id(brand_id: UUID, loan_id: UUID) -> UUID:
    """The id of a loan's collection case."""
    return uuid5(_NAMESPACE, f"{brand_id}:{loan_id}")


def check_contact(outcome: Outcome, callback_at: datetime | None, now: datetime) -> datetime | None:
    """A callback needs its time (timezone-aware, not in the past, within a year: CALLBACK_HORIZON); other outcomes
    take none. The time is kept in UTC: the API refuses an offset no zone has (`check_offset`), but the portal's form
    reads its own, and one PostgreSQL does not store (past ±15:59) would stop the read model writing the contact."""
    if outcome is Outcome.CALLBACK_REQUESTED:
        if callback_at is None:
            raise InvalidValue("callback_at", "a requested callback needs the time to call back")
        if callback_at.tzinfo is None or callback_at.utcoffset() is None:
            raise InvalidValue("callback_at", "give the time with its offset (e.g. 2026-05-01T15:00:00+05:30)")
        if callback_at < now:
            raise InvalidValue("callback_at", "the callback time has passed")
        if callback_at > now + CALLBACK_HORIZON:  # as a note's or a callback request's (`check_callback`)
            raise InvalidValue("callback_at", "a callback more than a year ahead is not a callback")
        return callback_at.astimezone(UTC)
    if callback_at is not None:
        raise InvalidValue("callback_at", "only a requested callback takes a time")
    return None


class CollectionCase(Aggregate):
    """The collection facts of one loan."""

    id: UUID

    class Opened(Aggregate.Created):
        """The loan's collection case was opened (at its first contact, promise or move)."""

        brand_id: UUID
        loan_id: UUID

    class ContactLogged(Aggregate.Event):
        """A contact with the borrower: outcome, remarks, a callback time, and the call's facts from the dialer."""

        brand_id: UUID
        loan_id: UUID
        contact: Contact

    class EvidenceAttached(Aggregate.Event):
        """A document (photo, recording, receipt) uploaded as evidence of a contact."""

        brand_id: UUID
        loan_id: UUID
        contact_id: UUID
        document_id: UUID

    class PromiseMade(Aggregate.Event):
        """The borrower promised to pay."""

        brand_id: UUID
        loan_id: UUID
        promise: Promise

    class PromiseJudged(Aggregate.Event):
        """At the close of its date a promise was judged kept or broken by the payments made since it was given
        (`Promise.verdict`); `owes_nothing_on`, the day the loan came to owe nothing when it had by then (None
        otherwise, and on events recorded before it was kept)."""

        brand_id: UUID
        loan_id: UUID
        ptp_id: UUID
        status: PtpStatus
        paid: Decimal
        judged_on: date
        owes_nothing_on: date | None = None

    class PromiseRejudged(Aggregate.Event):
        """A judged promise was judged again at a later close of business (within `REJUDGE_DAYS` of its date):
        money paid within its dates arrived after the judgement (a collection request approved later, a late
        webhook) or was reversed, or the loan came to owe nothing or owes again. `previous` is the status it had;
        `status`, `paid` and `owes_nothing_on` are as of `judged_on`. The earlier judgement stays on record."""

        brand_id: UUID
        loan_id: UUID
        ptp_id: UUID
        previous: PtpStatus
        status: PtpStatus
        paid: Decimal
        judged_on: date
        owes_nothing_on: date | None = None

    class MovedToPost(Aggregate.Event):
        """A manager moved the loan to post-collections (legal) with a reason."""

        brand_id: UUID
        loan_id: UUID
        reason: str

    @event(Opened)
    def __init__(self, brand_id: UUID, loan_id: UUID) -> None:
        self.brand_id = brand_id
        self.loan_id = loan_id
        self.contacts: dict[UUID, Contact] = {}
        self.evidence: dict[UUID, tuple[UUID, ...]] = {}
        self.promises: dict[UUID, Promise] = {}
        self.legal = False

    def log_contact(self, contact: Contact) -> None:
        """Record a contact (a repeated dialer call id is refused: the webhook logs each call once)."""
        if contact.call is not None and any(
            c.call is not None and c.call.call_id == contact.call.call_id for c in self.contacts.values()
        ):
            raise Conflict(f"call {contact.call.call_id} is already logged", call_id=contact.call.call_id)
        self._contact_logged(brand_id=self.brand_id, loan_id=self.loan_id, contact=contact)

    @event(ContactLogged)
    def _contact_logged(self, brand_id: UUID, loan_id: UUID, contact: Contact) -> None:
        self.contacts = {**self.contacts, contact.contact_id: contact}

    def attach_evidence(self, contact_id: UUID, document_id: UUID) -> None:
        """Attach an uploaded document to a contact of this case (once: attached again, nothing changes)."""
        if contact_id not in self.contacts:
            raise CollectionCaseNotFound(f"contact {contact_id} not found", id=str(contact_id))
        if document_id in self.evidence.get(contact_id, ()):
            return
        self._evidence_attached(
            brand_id=self.brand_id, loan_id=self.loan_id, contact_id=contact_id, document_id=document_id
        )

    @event(EvidenceAttached)
    def _evidence_attached(self, brand_id: UUID, loan_id: UUID, contact_id: UUID, document_id: UUID) -> None:
        self.evidence = {**self.evidence, contact_id: (*self.evidence.get(contact_id, ()), document_id)}

    @property
    def open_promise(self) -> Promise | None:
        """The promise not yet judged, if any."""
        return next((p for p in self.promises.values() if p.status is PtpStatus.OPEN), None)

    def promise(self, promise: Promise, owed: Owed | None = None) -> None:
        """Record a promise to pay; one promise is open at a time, it falls due no earlier than today, and it is of
        at most what the loan owes on its date (`owed`, as the loans context figures it)."""
        if promise.amount <= 0:
            raise InvalidValue("amount", "a promise is of a positive amount")
        if promise.due_on < promise.made_on:
            raise InvalidValue("date", f"the promised date is before the business date {promise.made_on}")
        if owed is not None and promise.amount > owed.amount:
            raise InvalidValue(
                "amount",
                f"{promise.amount} is above the loan's {owed.what} on {promise.due_on.isoformat()} ({owed.amount}): "
                "a promise is at most what the loan owes then",
            )
        if (open_one := self.open_promise) is not None:
            raise Conflict(
                f"a promise to pay {open_one.amount} by {open_one.due_on} is still open", ptp_id=str(open_one.ptp_id)
            )
        self._promise_made(brand_id=self.brand_id, loan_id=self.loan_id, promise=promise)

    @event(PromiseMade)
    def _promise_made(self, brand_id: UUID, loan_id: UUID, promise: Promise) -> None:
        self.promises = {**self.promises, promise.ptp_id: promise}

    def judge(self, tally: PromiseTally, day: date) -> bool:
        """Judge a promise whose date has closed by `day` (`Promise.verdict`): an open one is judged
        (`PromiseJudged`); a judged one whose date closed no more than `REJUDGE_DAYS` days before is judged again
        (`PromiseRejudged`) when its status or the sum paid within it has changed since. False when nothing is
        recorded: a promise unknown or not yet due, past the window, or judged as it stands."""
        found = self.promises.get(tally.ptp_id)
        if found is None or day < found.due_on:
            return False
        status, paid, ended = found.verdict(tally), tally.paid, tally.owes_nothing_on
        if found.status is PtpStatus.OPEN:
            self._promise_judged(brand_id=self.brand_id, loan_id=self.loan_id, ptp_id=found.ptp_id, status=status,
                                 paid=paid, judged_on=day, owes_nothing_on=ended)  # fmt: skip
            return True
        if (day - found.due_on).days > REJUDGE_DAYS or (status, paid) == (found.status, found.paid):
            return False
        self._promise_rejudged(brand_id=self.brand_id, loan_id=self.loan_id, ptp_id=found.ptp_id,
                               previous=found.status, status=status, paid=paid, judged_on=day,
                               owes_nothing_on=ended)  # fmt: skip
        return True

    @event(PromiseJudged)
    def _promise_judged(
        self,
        brand_id: UUID,
        loan_id: UUID,
        ptp_id: UUID,
        status: PtpStatus,
        paid: Decimal,
        judged_on: date,
        owes_nothing_on: date | None = None,
    ) -> None:
        found = self.promises[ptp_id]
        self.promises = {**self.promises, ptp_id: found.model_copy(update={"status": status, "paid": paid})}

    @event(PromiseRejudged)
    def _promise_rejudged(
        self,
        brand_id: UUID,
        loan_id: UUID,
        ptp_id: UUID,
        previous: PtpStatus,
        status: PtpStatus,
        paid: Decimal,
        judged_on: date,
        owes_nothing_on: date | None = None,
    ) -> None:
        found = self.promises[ptp_id]
        self.promises = {**self.promises, ptp_id: found.model_copy(update={"status": status, "paid": paid})}

    def move_to_post(self, reason: str) -> None:
        """Move the loan to post-collections (legal)."""
        if self.legal:
            raise Conflict("the loan is already in post-collections (legal)")
        self._moved_to_post(brand_id=self.brand_id, loan_id=self.loan_id, reason=reason)

    @event(MovedToPost)
    def _moved_to_post(self, brand_id: UUID, loan_id: UUID, reason: str) -> None:
        self.legal = True
