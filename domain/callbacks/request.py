"""Callback requests (spec, "CX Communication": "View and respond to callback requests from customers"): a borrower
asks to be called back (the borrower API or the web flow's status page), optionally about one of their own
applications or loans, with a preferred time window and a note; staff answer it with how the call went. States:

    open -> closed      (a staff member responded: outcome, remarks, who and when; once)

A borrower has at most one open request at a time: the open one holds the borrower's `UniqueValue` slot
(`OPEN_SLOT`, uuid5 of brand and borrower), claimed in the same save as the request and released in the same save
as the response, so two requests at once cannot both open (the second is the event store's 409).

A response with outcome `callback_requested` (the borrower asked to be called again later) carries `callback_at`
and, in the same save, opens the follow-up: a new request (source `follow_up`, `due_at` the time to call, `follows_id`
the answered one) that takes the slot over, so the follow-up is on the queue until someone answers it.

An open request follows its holder (`reroute`, `Reassigned`): when the application, loan or collection case it was
routed by moves from the staff member holding the request to another, the request moves with it; when a collection
case closes, a request its executive holds goes to whoever then holds the borrower by the routing rule, or to nobody
(docs/callbacks.md, "Re-routed when the holder changes"); likewise a request whose holder left (disabled, or no longer
holding CALLBACKS at WRITE: docs/callbacks.md, "When the holder leaves")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.collections.case import Outcome
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound
from domain.shared.values import check_callback

#: The kind of the index aggregate (`domain.shared.index.UniqueValue`) a borrower's open request holds.
OPEN_SLOT = "open-callback"
MAX_NOTE = 500
MAX_REMARKS = 1000


class CallbackWindow(StrEnum):
    """When the borrower would like the call (the brand's local time)."""

    ANYTIME = "anytime"
    MORNING = "morning"  # 9:00-12:00
    AFTERNOON = "afternoon"  # 12:00-17:00
    EVENING = "evening"  # 17:00-20:00


class CallbackStatus(StrEnum):
    """Where a request stands."""

    OPEN = "open"
    CLOSED = "closed"


class CallbackSource(StrEnum):
    """Where the request came from: the borrower (the API or the web flow), or a response callback_requested."""

    API = "api"
    WEB = "web"
    FOLLOW_UP = "follow_up"  # opened by a response `callback_requested`: the borrower asked to be called again


def check_follow_up(outcome: Outcome, callback_at: datetime | None, now: datetime) -> datetime | None:
    """The time to call back a response carries: required with outcome `callback_requested` (an instant with its
    offset, to come, within a year; kept in UTC), refused with any other outcome (which opens no follow-up)."""
    if outcome is Outcome.CALLBACK_REQUESTED:
        if callback_at is None:
            raise InvalidValue("callback_at", "the borrower asked to be called again: say when (callback_at)")
        return check_callback(callback_at, now)
    if callback_at is not None:
        raise InvalidValue("callback_at", "only the outcome callback_requested takes a time to call back")
    return None


class CallbackRequestNotFound(NotFound):
    """Raised when no callback request has the id within the brand."""


class CallbackAlreadyOpen(Conflict):
    """Raised when the borrower already has an open callback request (`open_id` names it)."""


class RerouteCause(StrEnum):
    """What moved the application, loan or collection case a request was routed by."""

    APPLICATION_ASSIGNED = "application_assigned"  # the loans context: `Loan.Assigned` (auto-allocation or a manager)
    CASE_ALLOCATED = "case_allocated"  # the collections context: a sweep's allocation or a manager's reallocation
    CASE_CLOSED = "case_closed"  # the collections context: the case closed (cured, completed, not due); its
    # executive's requests go to whoever then holds the borrower by the routing rule (the loan's CX), or to nobody
    HOLDER_DEPARTED = "holder_departed"  # the holder left (disabled, or no longer holding CALLBACKS at WRITE): the
    # request goes to whoever then holds the borrower by the routing rule (an active colleague), or to nobody


#: The causes that name a new holder of the application, loan or case: they also take a request from the pool (with
#: nobody: made when nobody held the borrower, released by a holder who left, a case closed with nobody to take it).
NAMES_HOLDER = frozenset({RerouteCause.APPLICATION_ASSIGNED, RerouteCause.CASE_ALLOCATED})


class CallbackRequest(Aggregate):
    """One borrower's request to be called back, and how staff answered it."""

    class Requested(Aggregate.Created):
        """The borrower asked to be called back."""

        brand_id: UUID
        borrower_id: UUID
        customer_id: UUID | None
        phone: str
        loan_id: UUID | None
        loan_number: str | None
        window: CallbackWindow
        note: str
        assignee_id: UUID | None  # the staff member the borrower's open application or loan is assigned to
        source: CallbackSource
        due_at: datetime | None = None  # a follow-up's time to call (UTC); None: the borrower's own, by `window`
        follows_id: UUID | None = None  # a follow-up's answered request

    class Responded(Aggregate.Event):
        """A staff member answered the request (it is closed): how the call went, remarks, the dialer call if any."""

        outcome: Outcome
        remarks: str
        call_id: UUID | None
        responder: str  # staff:<id> or apikey:<id>, as the event's actor
        responded_at: datetime  # the application's clock
        callback_at: datetime | None = None  # outcome callback_requested: when to call again (UTC)
        follow_up_id: UUID | None = None  # the follow-up request opened for `callback_at`

    class Reassigned(Aggregate.Event):
        """The open request moved to the new holder of the application, loan or collection case it was routed by (a
        case closed, or its holder departed: to whoever then holds the borrower, or to nobody)."""

        #: 2: `assignee_id` may be null (a case closed and nobody holds the borrower: the queue's unassigned).
        #: 3: `loan_id` may be null (cause holder_departed: the request's own loan, none for a request about none).
        class_version = 3

        assignee_id: UUID | None  # the new holder (None: nobody; a case closed or a holder departed)
        previous_assignee_id: UUID | None  # who had it (None: nobody)
        cause: RerouteCause
        loan_id: UUID | None  # the application or loan whose holder changed (holder_departed: the request's, if any)
        reason: str  # what the other context recorded (e.g. "assigned by a manager"), or why the holder left
        changed_at: datetime  # when the holder changed (the other context's event, or when the departure was
        # applied); older changes are not applied

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Version 1 always named the new holder: its fields are version 2's as they are."""

        @staticmethod
        def upcast_v2_v3(state: dict[str, object]) -> None:
            """Version 2 always named a loan: its fields are version 3's as they are."""

    @event(Requested)
    def __init__(
        self,
        brand_id: UUID,
        borrower_id: UUID,
        customer_id: UUID | None,
        phone: str,
        loan_id: UUID | None,
        loan_number: str | None,
        window: CallbackWindow,
        note: str,
        assignee_id: UUID | None,
        source: CallbackSource,
        due_at: datetime | None = None,
        follows_id: UUID | None = None,
    ) -> None:
        self.brand_id = brand_id
        self.borrower_id, self.customer_id, self.phone = borrower_id, customer_id, phone
        self.loan_id, self.loan_number = loan_id, loan_number
        self.window, self.note, self.assignee_id, self.source = window, note, assignee_id, source
        self.due_at, self.follows_id = due_at, follows_id
        self.status = CallbackStatus.OPEN
        self.outcome: Outcome | None = None
        self.remarks: str | None = None
        self.call_id: UUID | None = None
        self.responder: str | None = None
        self.responded_at: datetime | None = None
        self.callback_at: datetime | None = None
        self.follow_up_id: UUID | None = None
        self.routed_at: datetime | None = None  # the instant of the last holder change applied (None: none yet)
        #: In the pool by a release (its holder left): when that holder got it (the move's `changed_at`, else when it
        #: was made). A hand-over after then naming the current holder still takes it (`reroute`). None otherwise.
        self.released_since: datetime | None = None

    def reroute(
        self,
        to: UUID | None,
        previous: UUID | None,
        cause: RerouteCause,
        loan_id: UUID | None,
        reason: str,
        changed_at: datetime,
        current: bool = False,
    ) -> bool:
        """Move the open request to `to`, the new holder of the application or case it was routed by (a case
        closed: whoever then holds the borrower, None: nobody), when it is still with `previous` (who held that
        application or case: the request follows its holder; one held by someone else - a follow-up promised by a
        manager, a request routed by a collection case while the CX changes - stays) or, for an assignment or
        allocation naming someone (`NAMES_HOLDER`), when it is in the pool (with nobody: the first holder named
        after it went there takes it), and the change is newer than the request and the last change applied, a
        release to the pool included (a change replayed or read twice, or made before the request went to the
        pool, moves nothing). One exception: a request released to the pool (its holder left) after a hand-over
        the release did not see - the departure and a manager's reassignment in the same moment, the routing rule
        read before the new holder showed - goes to that hand-over's holder when they are the application's or
        case's holder now (`current`) and it is newer than when the one who left got the request. Whether it moved."""
        if self.status is not CallbackStatus.OPEN or to == self.assignee_id:
            return False
        from_pool = self.assignee_id is None and to is not None and cause in NAMES_HOLDER
        if self.assignee_id != previous and not from_pool:
            return False
        since = self.routed_at or self.created_on
        if from_pool and current and self.released_since is not None:
            since = self.released_since  # the release came after this hand-over, which still names the holder
        if changed_at <= since:
            return False
        self._reassigned(
            assignee_id=to, previous_assignee_id=self.assignee_id, cause=cause, loan_id=loan_id, reason=reason[:200],
            changed_at=changed_at,
        )  # fmt: skip
        return True

    def release(self, to: UUID | None, previous: UUID, reason: str, at: datetime) -> bool:
        """Move the open request from `previous`, its holder who left (`reason`: disabled, or no longer holding
        CALLBACKS at WRITE), to `to` (whoever then holds the borrower by the routing rule; None: nobody), noting when
        the departure was applied (`at`). Only while it is still with `previous`: a request answered or moved since,
        or a departure read twice, moves nothing. Whether it moved."""
        if self.status is not CallbackStatus.OPEN or self.assignee_id != previous or to == previous:
            return False
        self._reassigned(
            assignee_id=to, previous_assignee_id=previous, cause=RerouteCause.HOLDER_DEPARTED, loan_id=self.loan_id,
            reason=reason[:200], changed_at=max(at, self.routed_at or self.created_on),
        )  # fmt: skip
        return True

    @event(Reassigned)
    def _reassigned(
        self,
        assignee_id: UUID | None,
        previous_assignee_id: UUID | None,
        cause: RerouteCause,
        loan_id: UUID | None,
        reason: str,
        changed_at: datetime,
    ) -> None:
        released = assignee_id is None and cause is RerouteCause.HOLDER_DEPARTED
        self.released_since = (self.routed_at or self.created_on) if released else None
        self.assignee_id = assignee_id
        self.routed_at = changed_at

    def respond(
        self,
        outcome: Outcome,
        remarks: str,
        call_id: UUID | None,
        responder: str,
        at: datetime,
        follow_up: CallbackRequest | None = None,
    ) -> None:
        """Close the request with how the call went; a closed request is a conflict (answered once). `follow_up`
        (outcome callback_requested) is the request opened to call again at its `due_at`."""
        if self.status is not CallbackStatus.OPEN:
            raise self.already_answered()
        self._responded(
            outcome=outcome, remarks=remarks, call_id=call_id, responder=responder, responded_at=at,
            callback_at=follow_up.due_at if follow_up is not None else None,
            follow_up_id=follow_up.id if follow_up is not None else None,
        )  # fmt: skip

    def follow_up(self, due_at: datetime, assignee_id: UUID | None) -> CallbackRequest:
        """The request that calls the borrower again at `due_at` (the answer `callback_requested`): the same
        borrower, phone, loan and note, for `assignee_id`."""
        return CallbackRequest(
            brand_id=self.brand_id,
            borrower_id=self.borrower_id,
            customer_id=self.customer_id,
            phone=self.phone,
            loan_id=self.loan_id,
            loan_number=self.loan_number,
            window=CallbackWindow.ANYTIME,
            note=self.note,
            assignee_id=assignee_id,
            source=CallbackSource.FOLLOW_UP,
            due_at=due_at,
            follows_id=self.id,
        )

    def already_answered(self) -> Conflict:
        """The conflict a response to this request is once it was answered (409: who answered it, `responded_by`)."""
        return Conflict(
            f"the callback request was already answered by {self.responder}",
            id=str(self.id),
            status="closed",
            responded_by=self.responder,
        )

    @event(Responded)
    def _responded(
        self,
        outcome: Outcome,
        remarks: str,
        call_id: UUID | None,
        responder: str,
        responded_at: datetime,
        callback_at: datetime | None = None,
        follow_up_id: UUID | None = None,
    ) -> None:
        self.status = CallbackStatus.CLOSED
        self.outcome, self.remarks, self.call_id, self.responder = outcome, remarks, call_id, responder
        self.responded_at, self.callback_at, self.follow_up_id = responded_at, callback_at, follow_up_id
