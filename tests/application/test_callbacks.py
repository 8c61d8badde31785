"""Callback request use cases: a borrower asks (a window, a note, one of their own loans), one open request at a
time (a second names the open one and records nothing), it goes to whoever has the borrower's open application,
staff answer it once (who and when recorded; then the borrower may ask again), a call named must be one to this
borrower, and another brand's request is not found."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import StoredEvent

from domain.callbacks.application import BorrowerContact, Callbacks, LoanRef
from domain.callbacks.request import (
    CallbackAlreadyOpen,
    CallbackRequest,
    CallbackRequestNotFound,
    CallbackSource,
    CallbackStatus,
    CallbackWindow,
    RerouteCause,
)
from domain.collections.case import Outcome
from domain.shared.aggregate import acting_as
from domain.shared.application import replay
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")
ASHA = uuid.UUID("00000000-0000-4000-8000-00000000a5a0")  # a signed-in borrower with a record
ASHA_RECORD = uuid.UUID("00000000-0000-4000-8000-00000000a5a1")
NEW = uuid.UUID("00000000-0000-4000-8000-00000000beef")  # signed in, no record yet (before the personal step)
ASHA_LOAN = uuid.UUID("00000000-0000-4000-8000-0000000010a1")
RAVI_LOAN = uuid.UUID("00000000-0000-4000-8000-0000000010b2")
CX = uuid.UUID("00000000-0000-4000-8000-00000000cc01")
ASHA_CALL = uuid.UUID("00000000-0000-4000-8000-00000000ca11")
RAVI_CALL = uuid.UUID("00000000-0000-4000-8000-00000000ca12")


class Parties:
    """Asha has a record and an application assigned to the CX; Ravi's loan and call are someone else's."""

    def borrower(self, brand_id: UUID, borrower_id: UUID) -> BorrowerContact:
        if brand_id == BRAND and borrower_id == ASHA:
            return BorrowerContact(ASHA_RECORD, "+919800000001")
        if brand_id == BRAND and borrower_id == NEW:
            return BorrowerContact(None, "+919800000002")
        raise CallbackRequestNotFound(f"borrower {borrower_id} not found")

    def loan(self, brand_id: UUID, loan_id: UUID) -> LoanRef | None:
        loans = {ASHA_LOAN: LoanRef(ASHA_LOAN, "CB-L-000001", ASHA_RECORD),
                 RAVI_LOAN: LoanRef(RAVI_LOAN, "CB-L-000002", uuid.uuid4())}  # fmt: skip
        return loans.get(loan_id) if brand_id == BRAND else None

    def assignee(self, brand_id: UUID, customer_id: UUID, loan_id: UUID | None) -> UUID | None:
        mine = (brand_id, customer_id) == (BRAND, ASHA_RECORD)
        return CX if mine and CX not in self.departed else None  # the rule skips a holder who left

    def call_customer(self, brand_id: UUID, call_id: UUID) -> UUID | None:
        calls = {ASHA_CALL: ASHA_RECORD, RAVI_CALL: uuid.uuid4()}
        return calls.get(call_id) if brand_id == BRAND else None

    def __init__(self) -> None:
        self.departed: set[UUID] = set()  # staff who left the brand's callbacks (disabled, CALLBACKS taken away)

    def may_hold(self, brand_id: UUID, staff_id: UUID) -> bool:
        return staff_id not in self.departed


@pytest.fixture
def callbacks(clock: FixedClock) -> Callbacks:
    return in_memory(Callbacks, clock, parties=Parties())


def _events(app: Callbacks) -> int:
    return len(list(app.recorder.select_notifications(start=1, limit=1000)))


def test_a_request_goes_to_the_applications_cx_and_a_second_names_the_open_one(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA, window=CallbackWindow.EVENING, note="  salary date question \r\n ",
                             loan_id=ASHA_LOAN, source=CallbackSource.WEB)  # fmt: skip
    request = callbacks.get(BRAND, made.id)
    assert (request.status, request.window, request.note) == (CallbackStatus.OPEN, CallbackWindow.EVENING,
                                                               "salary date question")  # fmt: skip
    assert (request.customer_id, request.loan_number, request.assignee_id) == (ASHA_RECORD, "CB-L-000001", CX)
    assert request.phone == "+919800000001" and request.source is CallbackSource.WEB
    written = _events(callbacks)

    with pytest.raises(CallbackAlreadyOpen) as again:
        callbacks.request(BRAND, ASHA, note="hello?")
    assert again.value.details["open_id"] == str(made.id)
    assert _events(callbacks) == written  # nothing recorded
    assert callbacks.open_request(BRAND, ASHA) is not None and callbacks.open_request(BRAND, ASHA).id == made.id


def test_a_borrower_without_a_record_may_ask_and_nobody_is_assigned(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, NEW)
    request = callbacks.get(BRAND, made.id)
    assert (request.customer_id, request.assignee_id, request.window, request.note) == (
        None, None, CallbackWindow.ANYTIME, "")  # fmt: skip


def test_only_the_borrowers_own_loan_and_bad_notes_are_refused_naming_each_field(callbacks: Callbacks) -> None:
    for loan in (RAVI_LOAN, uuid.uuid4()):
        with pytest.raises(InvalidInput) as refused:
            callbacks.request(BRAND, ASHA, loan_id=loan, note="x" * 501)
        assert sorted(e.field for e in refused.value.errors) == ["loan_id", "note"]
    with pytest.raises(InvalidInput) as own_loan_before_record:
        callbacks.request(BRAND, NEW, loan_id=ASHA_LOAN)
    assert [e.field for e in own_loan_before_record.value.errors] == ["loan_id"]
    with pytest.raises(InvalidInput):
        callbacks.request(BRAND, ASHA, note="bad\x00note")
    assert _events(callbacks) == 0
    assert callbacks.open_request(BRAND, ASHA) is None


def test_responding_closes_it_once_with_who_and_then_the_borrower_may_ask_again(
    callbacks: Callbacks, clock: FixedClock
) -> None:
    made = callbacks.request(BRAND, ASHA)
    with acting_as(f"staff:{CX}"):
        callbacks.respond(BRAND, made.id, Outcome.CONNECTED, "  explained the salary date  ", ASHA_CALL)
    closed = callbacks.get(BRAND, made.id)
    assert (closed.status, closed.outcome, closed.remarks, closed.call_id, closed.responder) == (
        CallbackStatus.CLOSED, Outcome.CONNECTED, "explained the salary date", ASHA_CALL, f"staff:{CX}")  # fmt: skip
    assert closed.responded_at == clock.now()
    with pytest.raises(Conflict):
        callbacks.respond(BRAND, made.id, Outcome.NOT_REACHABLE, "again")
    assert callbacks.open_request(BRAND, ASHA) is None

    second = callbacks.request(BRAND, ASHA, note="one more thing")
    assert second.id != made.id and callbacks.open_request(BRAND, ASHA).id == second.id  # type: ignore[union-attr]
    with pytest.raises(CallbackAlreadyOpen):
        callbacks.request(BRAND, ASHA)


def test_a_response_is_checked_and_refusals_record_nothing(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA)
    written = _events(callbacks)
    with pytest.raises(InvalidInput) as refused:
        callbacks.respond(BRAND, made.id, Outcome.CONNECTED, "ok", RAVI_CALL)
    assert sorted(e.field for e in refused.value.errors) == ["call_id", "remarks"]
    with pytest.raises(InvalidInput):
        callbacks.respond(BRAND, made.id, Outcome.CONNECTED, "called", uuid.uuid4())
    assert _events(callbacks) == written and callbacks.get(BRAND, made.id).status is CallbackStatus.OPEN


def test_another_brands_request_is_not_found(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA)
    with pytest.raises(CallbackRequestNotFound):
        callbacks.get(OTHER, made.id)
    with pytest.raises(CallbackRequestNotFound):
        callbacks.respond(OTHER, made.id, Outcome.CONNECTED, "called them")
    with pytest.raises(CallbackRequestNotFound):
        callbacks.request(OTHER, ASHA)
    assert callbacks.get(BRAND, made.id).status is CallbackStatus.OPEN


def test_line_breaks_count_once_in_a_note_as_the_forms_textarea_counts_them(callbacks: Callbacks) -> None:
    # A browser's textarea (maxlength=500) counts a line break as one character but posts it as CR LF.
    typed = "\r\n".join(["abcd"] * 101)  # 101 lines of 4 letters: 404 letters and 100 line breaks, 504 as typed
    assert len(typed) == 604 and len(typed.replace("\r\n", "\n")) == 504
    with pytest.raises(InvalidInput) as too_long:
        callbacks.request(BRAND, ASHA, note=typed)
    assert [e.field for e in too_long.value.errors] == ["note"]
    fits = "\r\n".join(["abcd"] * 99) + "\rx"  # 397 letters, 99 line breaks (a lone CR one too): 496 as typed
    assert len(fits) == 594
    made = callbacks.request(BRAND, NEW, note=fits)
    assert callbacks.get(BRAND, made.id).note == "\n".join(["abcd"] * 99) + "\nx"


def test_remarks_count_line_breaks_once(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA)
    remarks = "\r\n".join(["called"] * 143)  # 858 letters and 142 line breaks: 1000 characters, 1142 as posted
    with acting_as(f"staff:{CX}"):
        callbacks.respond(BRAND, made.id, Outcome.CONNECTED, remarks)
    assert callbacks.get(BRAND, made.id).remarks == "\n".join(["called"] * 143)


def test_of_two_responses_at_once_the_second_is_told_it_was_already_answered(
    callbacks: Callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = callbacks.request(BRAND, ASHA)
    load = Callbacks.get

    def loaded_then_answered_elsewhere(self: Callbacks, brand_id: UUID, request_id: UUID) -> CallbackRequest:
        request = load(self, brand_id, request_id)
        monkeypatch.setattr(Callbacks, "get", load)  # the other staff member's response lands in between
        with acting_as(f"staff:{CX}"):
            self.respond(BRAND, made.id, Outcome.CONNECTED, "first to answer")
        return request

    monkeypatch.setattr(Callbacks, "get", loaded_then_answered_elsewhere)
    with acting_as("staff:00000000-0000-4000-8000-00000000cc02"), pytest.raises(Conflict) as second:
        callbacks.respond(BRAND, made.id, Outcome.NOT_REACHABLE, "second to answer")
    assert f"already answered by staff:{CX}" in second.value.message, second.value.message  # not "reload and retry"
    assert second.value.details.get("status") == "closed"
    kept = callbacks.get(BRAND, made.id)
    assert (kept.outcome, kept.remarks, kept.responder) == (Outcome.CONNECTED, "first to answer", f"staff:{CX}")


def test_callback_requested_needs_a_time_to_come_and_other_outcomes_take_none(
    callbacks: Callbacks, clock: FixedClock
) -> None:
    made = callbacks.request(BRAND, ASHA)
    written = _events(callbacks)
    later = clock.now() + timedelta(hours=8)
    refusals = [
        (Outcome.CALLBACK_REQUESTED, None),  # asked to be called again, but when?
        (Outcome.CALLBACK_REQUESTED, clock.now() - timedelta(minutes=1)),  # past
        (Outcome.CALLBACK_REQUESTED, clock.now()),  # not to come
        (Outcome.CALLBACK_REQUESTED, datetime(2026, 12, 1, 18, 0)),  # no offset: whose 18:00?
        (Outcome.CALLBACK_REQUESTED, clock.now() + timedelta(days=400)),  # a typo of the year
        (Outcome.CONNECTED, later),  # only a callback takes a time
    ]
    for outcome, at in refusals:
        with pytest.raises(InvalidInput) as refused:
            callbacks.respond(BRAND, made.id, outcome, "borrower busy", callback_at=at)
        assert [e.field for e in refused.value.errors] == ["callback_at"], (outcome, at)
    assert _events(callbacks) == written  # nothing recorded
    assert callbacks.get(BRAND, made.id).status is CallbackStatus.OPEN


def test_callback_requested_closes_it_and_opens_the_follow_up_due_then_which_holds_the_open_slot(
    callbacks: Callbacks, clock: FixedClock
) -> None:
    made = callbacks.request(BRAND, ASHA, window=CallbackWindow.EVENING, note="EMI date?", loan_id=ASHA_LOAN)
    other_staff = uuid.UUID("00000000-0000-4000-8000-00000000cc02")
    at = datetime(2026, 12, 1, 18, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    with acting_as(f"staff:{other_staff}"):
        answered = callbacks.respond(BRAND, made.id, Outcome.CALLBACK_REQUESTED, "driving, call tomorrow evening",
                                     ASHA_CALL, at, staff_id=other_staff)  # fmt: skip
    closed = callbacks.get(BRAND, made.id)
    assert answered.id == made.id
    assert (closed.status, closed.outcome, closed.callback_at) == (
        CallbackStatus.CLOSED, Outcome.CALLBACK_REQUESTED, at)  # fmt: skip
    assert closed.callback_at is not None and closed.callback_at.utcoffset() == timedelta(0)  # kept in UTC
    assert closed.follow_up_id is not None
    follow_up = callbacks.get(BRAND, closed.follow_up_id)
    assert (follow_up.status, follow_up.source, follow_up.due_at, follow_up.follows_id) == (
        CallbackStatus.OPEN, CallbackSource.FOLLOW_UP, at, made.id)  # fmt: skip
    assert (follow_up.borrower_id, follow_up.customer_id, follow_up.phone, follow_up.loan_id, follow_up.note) == (
        ASHA, ASHA_RECORD, "+919800000001", ASHA_LOAN, "EMI date?")  # fmt: skip
    assert follow_up.assignee_id == other_staff  # the staff member who promised the call has it

    # The follow-up is the borrower's open request: not lost, and no second one opens beside it.
    assert callbacks.open_request(BRAND, ASHA) is not None
    assert callbacks.open_request(BRAND, ASHA).id == follow_up.id  # type: ignore[union-attr]
    with pytest.raises(CallbackAlreadyOpen) as again:
        callbacks.request(BRAND, ASHA, note="still waiting")
    assert again.value.details["open_id"] == str(follow_up.id)
    with pytest.raises(Conflict):  # the answered one stays answered
        callbacks.respond(BRAND, made.id, Outcome.CONNECTED, "too late")

    # Answered by an API key (no staff member to take it): the next follow-up stays with whom it was assigned.
    with acting_as("apikey:00000000-0000-4000-8000-0000000000ee"):
        callbacks.respond(BRAND, follow_up.id, Outcome.CALLBACK_REQUESTED, "in a meeting", None,
                          clock.now() + timedelta(days=1))  # fmt: skip
    second = callbacks.get(BRAND, callbacks.get(BRAND, follow_up.id).follow_up_id)  # type: ignore[arg-type]
    assert (second.follows_id, second.assignee_id) == (follow_up.id, other_staff)
    with acting_as(f"staff:{CX}"):
        callbacks.respond(BRAND, second.id, Outcome.CONNECTED, "explained the EMI date")
    assert callbacks.open_request(BRAND, ASHA) is None  # answered for good: the borrower may ask again
    assert callbacks.request(BRAND, ASHA).id != second.id


def test_requests_and_responses_stored_before_the_follow_up_fields_still_load(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA)
    with acting_as(f"staff:{CX}"):
        callbacks.respond(BRAND, made.id, Outcome.CONNECTED, "explained")
    old = []
    for stored in callbacks.recorder.select_events(made.id):  # as stored before the fields were added
        state = json.loads(stored.state)
        assert {"due_at", "follows_id"} <= state.keys() or {"callback_at", "follow_up_id"} <= state.keys()
        for name in ("due_at", "follows_id", "callback_at", "follow_up_id"):
            state.pop(name, None)
        old.append(StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                               json.dumps(state).encode()))  # fmt: skip
    loaded = replay(None, [callbacks.mapper.to_domain_event(s) for s in old])
    assert (loaded.status, loaded.outcome, loaded.remarks) == (CallbackStatus.CLOSED, Outcome.CONNECTED, "explained")
    assert (loaded.due_at, loaded.follows_id, loaded.callback_at, loaded.follow_up_id) == (None, None, None, None)


CX2 = uuid.UUID("00000000-0000-4000-8000-00000000cc03")
MANAGER = uuid.UUID("00000000-0000-4000-8000-00000000cc04")


def _move(callbacks: Callbacks, request_id: UUID, to: UUID, previous: UUID | None, after: timedelta) -> bool:
    """The application moved from `previous` to `to`, `after` the request was made; whether the request moved."""
    made_at = callbacks.get(BRAND, request_id).created_on
    with acting_as("job:callback-router"):
        return callbacks.reroute(
            BRAND, request_id, to=to, previous=previous, cause=RerouteCause.APPLICATION_ASSIGNED, loan_id=ASHA_LOAN,
            reason="assigned by a manager", changed_at=made_at + after,
        ).changed  # fmt: skip


def test_an_open_request_follows_its_application_to_the_new_holder_once(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)
    written = _events(callbacks)
    assert _move(callbacks, made.id, CX2, CX, timedelta(seconds=5))
    moved = callbacks.get(BRAND, made.id)
    assert moved.assignee_id == CX2 and moved.status is CallbackStatus.OPEN
    [event] = [e for e in callbacks.repository.event_store.get(made.id) if isinstance(e, CallbackRequest.Reassigned)]
    assert (event.assignee_id, event.previous_assignee_id, event.cause, event.loan_id, event.reason) == (
        CX2, CX, RerouteCause.APPLICATION_ASSIGNED, ASHA_LOAN, "assigned by a manager")  # fmt: skip
    assert event.actor == "job:callback-router"
    assert _events(callbacks) == written + 1

    # The same change read again (a pass repeated after a crash, a replayed queue): nothing more.
    assert not _move(callbacks, made.id, CX2, CX, timedelta(seconds=5))
    # A change older than the last one applied (replayed out of order): nothing, though it names the holder now.
    assert not _move(callbacks, made.id, MANAGER, CX2, timedelta(seconds=2))
    # A change of someone else's application or case (the request is not with them): nothing.
    assert not _move(callbacks, made.id, MANAGER, CX, timedelta(seconds=9))
    assert _events(callbacks) == written + 1 and callbacks.get(BRAND, made.id).assignee_id == CX2
    # A later move of the holder it is with now: it follows again.
    assert _move(callbacks, made.id, MANAGER, CX2, timedelta(seconds=9))
    assert callbacks.get(BRAND, made.id).assignee_id == MANAGER


def test_a_change_made_before_the_request_moves_nothing(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA)  # routed by the application as it stood when asked
    assert not _move(callbacks, made.id, CX2, CX, -timedelta(seconds=1))
    assert callbacks.get(BRAND, made.id).assignee_id == CX


def test_an_unassigned_request_goes_to_the_first_holder_and_an_answered_one_stays(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, NEW)  # nobody held anything of theirs
    assert callbacks.get(BRAND, made.id).assignee_id is None
    assert _move(callbacks, made.id, CX2, None, timedelta(seconds=1))
    assert callbacks.get(BRAND, made.id).assignee_id == CX2

    asked = callbacks.request(BRAND, ASHA)
    with acting_as(f"staff:{CX}"):
        callbacks.respond(BRAND, asked.id, Outcome.CONNECTED, "explained")
    assert not _move(callbacks, asked.id, CX2, CX, timedelta(seconds=1))
    assert callbacks.get(BRAND, asked.id).assignee_id == CX


def test_a_follow_up_moves_with_the_case_when_its_promiser_held_it_and_stays_with_anyone_else(
    callbacks: Callbacks, clock: FixedClock
) -> None:
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)
    with acting_as(f"staff:{MANAGER}"):  # a manager (not the holder) promised the call
        callbacks.respond(BRAND, made.id, Outcome.CALLBACK_REQUESTED, "call tomorrow", None,
                          clock.now() + timedelta(days=1), staff_id=MANAGER)  # fmt: skip
    promised = callbacks.get(BRAND, callbacks.get(BRAND, made.id).follow_up_id)  # type: ignore[arg-type]
    assert promised.assignee_id == MANAGER
    assert not _move(callbacks, promised.id, CX2, CX, timedelta(seconds=1))  # the CX lost the case, not the manager
    assert callbacks.get(BRAND, promised.id).assignee_id == MANAGER

    with acting_as(f"staff:{MANAGER}"):
        callbacks.respond(BRAND, promised.id, Outcome.CONNECTED, "done")
    again = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)
    with acting_as(f"staff:{CX}"):  # the holder promised it, then lost the application: the promise goes with it
        callbacks.respond(BRAND, again.id, Outcome.CALLBACK_REQUESTED, "call tomorrow", None,
                          clock.now() + timedelta(days=1), staff_id=CX)  # fmt: skip
    follow_up = callbacks.get(BRAND, callbacks.get(BRAND, again.id).follow_up_id)  # type: ignore[arg-type]
    assert follow_up.assignee_id == CX
    assert _move(callbacks, follow_up.id, CX2, CX, timedelta(seconds=1))
    moved = callbacks.get(BRAND, follow_up.id)
    assert (moved.assignee_id, moved.due_at, moved.source) == (CX2, follow_up.due_at, CallbackSource.FOLLOW_UP)


def test_another_brands_request_is_not_moved(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA)
    with pytest.raises(CallbackRequestNotFound):
        callbacks.reroute(OTHER, made.id, to=CX2, previous=CX, cause=RerouteCause.CASE_ALLOCATED, loan_id=ASHA_LOAN,
                          reason="reallocated", changed_at=callbacks.get(BRAND, made.id).created_on + timedelta(1))  # fmt: skip
    assert callbacks.get(BRAND, made.id).assignee_id == CX


def _close_case(callbacks: Callbacks, request_id: UUID, to: UUID | None, executive: UUID, after: timedelta) -> bool:
    """The collection case of ASHA_LOAN closed (cured) `after` the request was made while `executive` held it; `to`
    who then holds the borrower by the routing rule (None: nobody); whether the request moved."""
    made_at = callbacks.get(BRAND, request_id).created_on
    with acting_as("job:callback-router"):
        return callbacks.reroute(
            BRAND, request_id, to=to, previous=executive, cause=RerouteCause.CASE_CLOSED, loan_id=ASHA_LOAN,
            reason="case closed: cured", changed_at=made_at + after,
        ).changed  # fmt: skip


def test_a_case_closing_moves_its_executives_request_to_nobody_when_nobody_holds_the_borrower_once(
    callbacks: Callbacks,
) -> None:
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)  # routed to CX (the parties' rule), say the executive
    assert _close_case(callbacks, made.id, None, CX, timedelta(seconds=5))
    released = callbacks.get(BRAND, made.id)
    assert (released.assignee_id, released.status) == (None, CallbackStatus.OPEN)
    [event] = [e for e in callbacks.repository.event_store.get(made.id) if isinstance(e, CallbackRequest.Reassigned)]
    assert (event.assignee_id, event.previous_assignee_id, event.cause, event.reason) == (
        None, CX, RerouteCause.CASE_CLOSED, "case closed: cured")  # fmt: skip
    [stored] = [s for s in callbacks.recorder.select_events(made.id) if s.topic.endswith("Reassigned")]
    assert json.loads(stored.state)["class_version"] == 3 and json.loads(stored.state)["assignee_id"] is None
    written = _events(callbacks)
    # Read again (a replayed queue) or closed again to nobody: nothing more.
    assert not _close_case(callbacks, made.id, None, CX, timedelta(seconds=5))
    assert not _close_case(callbacks, made.id, CX2, CX, timedelta(seconds=5))  # no longer with the executive
    assert _events(callbacks) == written
    # With nobody, it goes to the first holder named after (an application assigned for the first time).
    assert _move(callbacks, made.id, CX2, None, timedelta(seconds=9))
    assert callbacks.get(BRAND, made.id).assignee_id == CX2


def test_a_reassignment_stored_at_version_1_loads_as_version_2(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)
    assert _move(callbacks, made.id, CX2, CX, timedelta(seconds=5))
    old = []
    for stored in callbacks.recorder.select_events(made.id):  # as version 1 stored it: no class_version
        state = json.loads(stored.state)
        state.pop("class_version", None)
        old.append(StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                               json.dumps(state).encode()))  # fmt: skip
    events = [callbacks.mapper.to_domain_event(s) for s in old]
    assert isinstance(events[-1], CallbackRequest.Reassigned) and events[-1].assignee_id == CX2
    assert replay(None, events).assignee_id == CX2


def test_a_reassignment_stored_at_version_2_loads_as_version_3(callbacks: Callbacks) -> None:
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)
    assert _move(callbacks, made.id, CX2, CX, timedelta(seconds=5))
    old = []
    for stored in callbacks.recorder.select_events(made.id):  # as version 2 stored it
        state = json.loads(stored.state)
        if "class_version" in state:
            assert state["class_version"] == 3
            state["class_version"] = 2
        old.append(StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                               json.dumps(state).encode()))  # fmt: skip
    events = [callbacks.mapper.to_domain_event(s) for s in old]
    assert isinstance(events[-1], CallbackRequest.Reassigned) and events[-1].loan_id == ASHA_LOAN
    assert replay(None, events).assignee_id == CX2


def _release(callbacks: Callbacks, request_id: UUID, to: UUID | None, previous: UUID) -> bool:
    with acting_as("job:callback-router"):
        return callbacks.release(BRAND, request_id, to=to, previous=previous, reason="staff member disabled").changed


def test_a_departed_holders_request_is_released_once_to_the_routing_rules_holder_or_nobody(
    callbacks: Callbacks, clock: FixedClock
) -> None:
    about_none = callbacks.request(BRAND, ASHA)  # with the CX
    assert not _release(callbacks, about_none.id, CX2, MANAGER)  # not with the one who left: stays
    assert _release(callbacks, about_none.id, None, CX)  # to nobody
    [moved] = [e for e in callbacks.repository.event_store.get(about_none.id)
               if isinstance(e, CallbackRequest.Reassigned)]  # fmt: skip
    assert (moved.assignee_id, moved.previous_assignee_id, moved.cause, moved.loan_id, moved.reason, moved.actor) == (
        None, CX, RerouteCause.HOLDER_DEPARTED, None, "staff member disabled", "job:callback-router")  # fmt: skip
    # When it was applied: the application's clock, never before the request was made.
    assert moved.changed_at == max(clock.now(), callbacks.get(BRAND, about_none.id).created_on)
    written = _events(callbacks)
    assert not _release(callbacks, about_none.id, None, CX)  # read twice: nothing more
    assert _events(callbacks) == written
    with acting_as(f"staff:{CX2}"):
        callbacks.respond(BRAND, about_none.id, Outcome.CONNECTED, "explained")
    about_loan = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)
    assert _release(callbacks, about_loan.id, CX2, CX)  # to an active colleague, naming the request's loan
    assert callbacks.get(BRAND, about_loan.id).assignee_id == CX2
    assert callbacks.get(BRAND, about_loan.id).routed_at is not None
    with acting_as(f"staff:{CX2}"):
        callbacks.respond(BRAND, about_loan.id, Outcome.CONNECTED, "explained")
    assert not _release(callbacks, about_loan.id, None, CX2)  # answered: nothing moves
    with pytest.raises(CallbackRequestNotFound):
        callbacks.release(OTHER, about_loan.id, to=None, previous=CX2, reason="staff member disabled")


def test_a_follow_up_skips_a_holder_who_left_for_the_routing_rules_holder(callbacks: Callbacks) -> None:
    parties = callbacks.parties
    assert isinstance(parties, Parties)
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)
    with acting_as(f"staff:{MANAGER}"):  # a colleague promised the call: theirs
        callbacks.respond(BRAND, made.id, Outcome.CALLBACK_REQUESTED, "call me tomorrow", None,
                          callbacks.clock.now() + timedelta(days=1), staff_id=MANAGER)  # fmt: skip
    follow_up = callbacks.get(BRAND, made.id).follow_up_id
    assert follow_up is not None and callbacks.get(BRAND, follow_up).assignee_id == MANAGER
    parties.departed.add(MANAGER)  # the colleague left; an API key answers, the borrower asks again later
    with acting_as("apikey:00000000-0000-4000-8000-0000000000ee"):
        callbacks.respond(BRAND, follow_up, Outcome.CALLBACK_REQUESTED, "busy again", None,
                          callbacks.clock.now() + timedelta(days=2))  # fmt: skip
    second = callbacks.get(BRAND, callbacks.get(BRAND, follow_up).follow_up_id)  # type: ignore[arg-type]
    assert second.assignee_id == CX  # not the one who left: whoever holds the borrower by the rule
    parties.departed.add(CX)  # nobody holding the borrower may take it: nobody
    with acting_as("apikey:00000000-0000-4000-8000-0000000000ee"):
        callbacks.respond(BRAND, second.id, Outcome.CALLBACK_REQUESTED, "busy again", None,
                          callbacks.clock.now() + timedelta(days=3))  # fmt: skip
    third = callbacks.get(BRAND, callbacks.get(BRAND, second.id).follow_up_id)  # type: ignore[arg-type]
    assert third.assignee_id is None


def test_a_request_released_to_the_pool_goes_to_the_next_holder_named_after_the_release_once(
    callbacks: Callbacks,
) -> None:
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)  # with the CX
    assert _release(callbacks, made.id, None, CX)  # the CX left: the pool
    released_at = callbacks.get(BRAND, made.id).routed_at
    assert released_at is not None

    def handed(to: UUID, previous: UUID, cause: RerouteCause, after: timedelta) -> bool:
        with acting_as("job:callback-router"):
            return callbacks.reroute(
                BRAND, made.id, to=to, previous=previous, cause=cause, loan_id=ASHA_LOAN, reason="reallocated",
                changed_at=released_at + after,  # type: ignore[operator]
            ).changed  # fmt: skip

    written = _events(callbacks)
    # A hand-over made before the release (read late, or queued again by a rebuild): it stays in the pool.
    assert not handed(CX2, CX, RerouteCause.APPLICATION_ASSIGNED, timedelta(0))
    # A case closed names nobody new: it takes nothing from the pool.
    assert not handed(CX2, MANAGER, RerouteCause.CASE_CLOSED, timedelta(seconds=1))
    assert _events(callbacks) == written and callbacks.get(BRAND, made.id).assignee_id is None
    # The next holder named after the release (a case allocated, from whoever held it): it goes to them.
    assert handed(CX2, MANAGER, RerouteCause.CASE_ALLOCATED, timedelta(seconds=5))
    [_, moved] = [e for e in callbacks.repository.event_store.get(made.id) if isinstance(e, CallbackRequest.Reassigned)]
    assert (moved.assignee_id, moved.previous_assignee_id, moved.cause, moved.loan_id) == (
        CX2, None, RerouteCause.CASE_ALLOCATED, ASHA_LOAN)  # fmt: skip
    # Read again, or another holder named later for a hand-over not of the one holding it now: nothing.
    assert not handed(CX2, MANAGER, RerouteCause.CASE_ALLOCATED, timedelta(seconds=5))
    assert not handed(MANAGER, CX, RerouteCause.APPLICATION_ASSIGNED, timedelta(seconds=9))
    assert _events(callbacks) == written + 1 and callbacks.get(BRAND, made.id).assignee_id == CX2


def test_a_request_released_after_a_hand_over_it_did_not_see_goes_to_the_holder_that_hand_over_names_now(
    callbacks: Callbacks, clock: FixedClock
) -> None:
    made = callbacks.request(BRAND, ASHA, loan_id=ASHA_LOAN)  # with the CX
    made_at = callbacks.get(BRAND, made.id).created_on
    clock.instant = made_at + timedelta(seconds=10)
    assert _release(callbacks, made.id, None, CX)  # the CX left: to nobody, by a rule read before the hand-over

    def handed(to: UUID, previous: UUID | None, after: timedelta, current: bool) -> bool:
        with acting_as("job:callback-router"):
            return callbacks.reroute(
                BRAND, made.id, to=to, previous=previous, cause=RerouteCause.APPLICATION_ASSIGNED, loan_id=ASHA_LOAN,
                reason="assigned by a manager", changed_at=made_at + after, current=current,
            ).changed  # fmt: skip

    written = _events(callbacks)
    # Older than the release, and no longer the application's holder (a later hand-over named another): stays.
    assert not handed(CX2, CX, timedelta(seconds=5), current=False)
    # Older than when the one who left got the request (the hand-over that gave it to them, replayed): stays.
    assert not handed(CX2, None, -timedelta(seconds=1), current=True)
    assert _events(callbacks) == written and callbacks.get(BRAND, made.id).assignee_id is None
    # Made while the CX held it, before the release, and its holder holds the application now: theirs.
    assert handed(CX2, CX, timedelta(seconds=5), current=True)
    moved = [e for e in callbacks.repository.event_store.get(made.id) if isinstance(e, CallbackRequest.Reassigned)]
    assert [(m.cause, m.assignee_id, m.previous_assignee_id) for m in moved] == [
        (RerouteCause.HOLDER_DEPARTED, None, CX), (RerouteCause.APPLICATION_ASSIGNED, CX2, None)]  # fmt: skip
    assert moved[-1].changed_at == made_at + timedelta(seconds=5)  # when the holder changed
    # Read again: nothing; a later hand-over of the one holding it now: it follows.
    assert not handed(CX2, CX, timedelta(seconds=5), current=True)
    assert _events(callbacks) == written + 1
    assert handed(MANAGER, CX2, timedelta(seconds=7), current=True)
    assert callbacks.get(BRAND, made.id).assignee_id == MANAGER
