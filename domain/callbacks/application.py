"""Use cases of callback requests: a borrower asks to be called back (one open request at a time), staff answer it.

Other contexts answer through `CallbackParties` (filled in `workers/contexts/callbacks.py`): the borrower's phone and
Customer 360 record (onboarding), their own applications and loans and who each is assigned to (loans, collections),
and the dialer calls a response may name (fieldwork).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.callbacks.request import (
    MAX_NOTE,
    MAX_REMARKS,
    OPEN_SLOT,
    CallbackAlreadyOpen,
    CallbackRequest,
    CallbackRequestNotFound,
    CallbackSource,
    CallbackStatus,
    CallbackWindow,
    RerouteCause,
    check_follow_up,
)
from domain.collections.case import Outcome
from domain.shared.aggregate import current_actor
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock
from domain.shared.errors import FieldChecks, FieldError, InvalidValue
from domain.shared.index import UniqueValue, index_id
from domain.shared.values import MIN_REASON, clean_text, unix_line_breaks


@dataclass(frozen=True)
class BorrowerContact:
    """What a request needs of the signed-in borrower: their phone and the Customer 360 record they see (None before
    it exists, and for a record found by their PAN alone: `Onboarding.record_shown`)."""

    customer_id: UUID | None
    phone: str


@dataclass(frozen=True)
class LoanRef:
    """One of the brand's applications or loans, as a request names it."""

    id: UUID
    loan_number: str
    customer_id: UUID


class CallbackParties(Protocol):
    """What the callbacks context asks the onboarding, loans, collections and fieldwork contexts."""

    def borrower(self, brand_id: UUID, borrower_id: UUID) -> BorrowerContact:
        """The borrower's phone and record; CallbackRequestNotFound when they are not the brand's."""
        ...

    def loan(self, brand_id: UUID, loan_id: UUID) -> LoanRef | None:
        """The brand's application or loan with the id (None: none)."""
        ...

    def assignee(self, brand_id: UUID, customer_id: UUID, loan_id: UUID | None) -> UUID | None:
        """Who the borrower's open application or loan is assigned to (the named one first), skipping a holder who
        left (disabled, or no longer holding CALLBACKS at WRITE); None: nobody."""
        ...

    def may_hold(self, brand_id: UUID, staff_id: UUID) -> bool:
        """Whether the staff member may hold the brand's callback requests: not disabled and holding CALLBACKS at
        WRITE (someone with no staff record in the brand yet - a new hire the read model has not shown - may)."""
        ...

    def call_customer(self, brand_id: UUID, call_id: UUID) -> UUID | None:
        """The borrower a dialer call of the brand went to (None: no such call in the brand)."""
        ...


def open_slot_id(brand_id: UUID, borrower_id: UUID) -> UUID:
    """The id of the index aggregate a borrower's open request holds."""
    return index_id(OPEN_SLOT, brand_id, str(borrower_id))


def _note(raw: str | None) -> str:
    if not (raw or "").strip():
        return ""
    text = unix_line_breaks(clean_text(raw, "note", multiline=True))
    if len(text) > MAX_NOTE:
        raise InvalidValue("note", f"at most {MAX_NOTE} characters (this has {len(text)})")
    return text


def _remarks(raw: str | None) -> str:
    text = clean_text(
        raw, "remarks", multiline=True, min_visible=MIN_REASON, missing="say how the call went (3 characters+)"
    )
    text = unix_line_breaks(text)
    if len(text) > MAX_REMARKS:
        raise InvalidValue("remarks", f"at most {MAX_REMARKS} characters (this has {len(text)})")
    return text


class Callbacks(ContextApplication):
    """Borrowers' callback requests per brand."""

    name = "callbacks"

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None, *,
                 parties: CallbackParties) -> None:  # fmt: skip
        super().__init__(env, clock)
        self.parties = parties

    def request(
        self,
        brand_id: UUID,
        borrower_id: UUID,
        *,
        window: CallbackWindow = CallbackWindow.ANYTIME,
        note: str | None = None,
        loan_id: UUID | None = None,
        source: CallbackSource = CallbackSource.API,
    ) -> CommandResult:
        """The borrower asks to be called back, optionally about one of their own applications or loans (else 422
        naming `loan_id`); while they have an open request, CallbackAlreadyOpen (409) names it and nothing is
        recorded. Goes to the staff member the borrower's open application or loan is assigned to."""
        checks = FieldChecks()
        text = checks.check(lambda: _note(note))
        contact = self.parties.borrower(brand_id, borrower_id)
        loan = None
        if loan_id is not None:
            loan = self.parties.loan(brand_id, loan_id)
            if loan is None or contact.customer_id is None or loan.customer_id != contact.customer_id:
                checks.errors.append(FieldError("loan_id", "not one of your applications or loans"))
        checks.raise_if_any()
        slot_id = open_slot_id(brand_id, borrower_id)
        slot = self._open_slot(slot_id)
        if slot is not None and slot.owner_id is not None:
            raise _already_open(slot.owner_id)
        assignee = (
            self.parties.assignee(brand_id, contact.customer_id, loan_id) if contact.customer_id is not None else None
        )
        request = CallbackRequest(
            brand_id=brand_id,
            borrower_id=borrower_id,
            customer_id=contact.customer_id,
            phone=contact.phone,
            loan_id=loan.id if loan is not None else None,
            loan_number=loan.loan_number if loan is not None else None,
            window=window,
            note=text or "",
            assignee_id=assignee,
            source=source,
        )
        if slot is None:
            slot = UniqueValue.claim(brand_id, OPEN_SLOT, str(borrower_id), request.id)
        else:
            slot.reclaim(request.id)
        try:
            return self.commit(request, slot)
        except ConcurrentModification:  # another request took the slot at the same moment: name the open one
            winner = self._open_slot(slot_id)
            if winner is not None and winner.owner_id is not None:
                raise _already_open(winner.owner_id) from None
            raise

    def get(self, brand_id: UUID, request_id: UUID) -> CallbackRequest:
        """The request, if it belongs to the brand."""
        return self.load(CallbackRequest, request_id, brand_id, CallbackRequestNotFound)

    def open_request(self, brand_id: UUID, borrower_id: UUID) -> CallbackRequest | None:
        """The borrower's open request, if any."""
        slot = self._open_slot(open_slot_id(brand_id, borrower_id))
        if slot is None or slot.owner_id is None:
            return None
        return self.get(brand_id, slot.owner_id)

    def respond(
        self,
        brand_id: UUID,
        request_id: UUID,
        outcome: Outcome,
        remarks: str,
        call_id: UUID | None = None,
        callback_at: datetime | None = None,
        *,
        staff_id: UUID | None = None,
    ) -> CommandResult:
        """Answer an open request (closing it, with who and when); 409 once answered. `call_id` links the dialer
        call made for it: a call of the brand to this borrower (else 422 naming `call_id`). Outcome
        `callback_requested` needs `callback_at` (to come, within a year; any other outcome takes none: 422 naming
        `callback_at`) and opens, in the same save, the follow-up request due then, which takes over the borrower's
        open slot: it goes to `staff_id` (the staff member answering), else to whom this one was assigned - unless
        that one has left (disabled, or no longer holding CALLBACKS at WRITE): then to whoever holds the borrower by
        the routing rule, or to nobody."""
        checks = FieldChecks()
        text = checks.check(lambda: _remarks(remarks))
        due = checks.check(lambda: check_follow_up(outcome, callback_at, self.clock.now()))
        request = self.get(brand_id, request_id)
        if call_id is not None:
            called = self.parties.call_customer(brand_id, call_id)
            if called is None or called != request.customer_id:
                checks.errors.append(FieldError("call_id", "not a dialer call to this borrower"))
        checks.raise_if_any()
        if request.status is not CallbackStatus.OPEN:
            raise request.already_answered()
        follow_up = request.follow_up(due, self._follow_up_holder(request, staff_id)) if due is not None else None
        request.respond(outcome, text or "", call_id, current_actor(), self.clock.now(), follow_up)
        slot_id = open_slot_id(brand_id, request.borrower_id)
        slot = self._open_slot(slot_id)
        if follow_up is not None:  # the follow-up holds the borrower's open slot from now on
            if slot is None:
                slot = UniqueValue.claim(brand_id, OPEN_SLOT, str(request.borrower_id), follow_up.id)
            elif slot.owner_id is not None and slot.owner_id != request.id:
                raise _already_open(slot.owner_id)  # another of theirs is open (none should be): answer that one
            else:
                slot.reclaim(follow_up.id)
        elif slot is not None and slot.owner_id == request.id:
            slot.release()
        else:
            slot = None
        try:
            return self.commit(request, follow_up, slot)
        except ConcurrentModification:  # another response landed first: say so, as for one answered before
            answered = self.get(brand_id, request_id)
            if answered.status is CallbackStatus.CLOSED:
                raise answered.already_answered() from None
            raise

    def reroute(
        self,
        brand_id: UUID,
        request_id: UUID,
        *,
        to: UUID | None,
        previous: UUID | None,
        cause: RerouteCause,
        loan_id: UUID,
        reason: str,
        changed_at: datetime,
        current: bool = False,
    ) -> CommandResult:
        """The holder of the application, loan or collection case `loan_id` changed from `previous` to `to` at
        `changed_at` (another context's event; a case closed: `to` whoever then holds the borrower, None nobody):
        the open request moves with it when it is still with `previous`, or - an assignment or allocation naming
        `to` - when it is in the pool (with nobody), and the change is newer than the request and its last move
        (`CallbackRequest.reroute`; a request released to the pool after a hand-over naming who holds the
        application or case now, `current`, still goes to them); otherwise nothing is recorded (`changed` False),
        so a change read twice, replayed or older than the request moves nothing. A request changed meanwhile
        (answered, moved) is read again once."""
        return self._move(
            brand_id, request_id, lambda r: r.reroute(to, previous, cause, loan_id, reason, changed_at, current)
        )

    def release(
        self, brand_id: UUID, request_id: UUID, *, to: UUID | None, previous: UUID, reason: str
    ) -> CommandResult:
        """The request's holder `previous` left (`reason`: disabled, or no longer holding CALLBACKS at WRITE): the
        open request goes to `to` (whoever then holds the borrower by the routing rule; None: nobody), recorded as a
        `Reassigned` with cause holder_departed, the request's own loan and the application's clock
        (`CallbackRequest.release`). Nothing is
        recorded (`changed` False) for a request answered or moved meanwhile (no longer with `previous`)."""
        return self._move(brand_id, request_id, lambda r: r.release(to, previous, reason, self.clock.now()))

    def _move(self, brand_id: UUID, request_id: UUID, move: Callable[[CallbackRequest], bool]) -> CommandResult:
        """`move` the request and commit it; nothing recorded (`changed` False) when it does not move. A request
        changed meanwhile (answered, moved) is read again once."""
        for attempt in (1, 2):
            request = self.get(brand_id, request_id)
            if not move(request):
                return CommandResult(id=request_id, position=0, changed=False)
            try:
                return self.commit(request)
            except ConcurrentModification:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _follow_up_holder(self, request: CallbackRequest, staff_id: UUID | None) -> UUID | None:
        """Who a follow-up of `request` goes to: the staff member answering, else the request's holder - one who
        left is skipped for the routing rule's holder of the borrower (None: nobody)."""
        holder = staff_id or request.assignee_id
        if holder is None or self.parties.may_hold(request.brand_id, holder):
            return holder
        if request.customer_id is None:
            return None
        return self.parties.assignee(request.brand_id, request.customer_id, request.loan_id)

    def _open_slot(self, slot_id: UUID) -> UniqueValue | None:
        found = self.find(slot_id)
        return found if isinstance(found, UniqueValue) else None


def _already_open(open_id: UUID) -> CallbackAlreadyOpen:
    return CallbackAlreadyOpen(
        "you already have an open callback request; we will call you about it", open_id=str(open_id)
    )
