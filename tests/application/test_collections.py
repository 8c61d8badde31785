"""Collections use cases: contacts (callbacks, dialer calls once), promises and their judgement, the legal move
and reallocation, on the in-memory event store."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.collections.application import Collections, LoanFacts, OpenCase
from domain.collections.case import (
    REJUDGE_DAYS,
    CallDetails,
    Channel,
    CollectionCase,
    CollectionCaseNotFound,
    Outcome,
    Owed,
    PromiseTally,
    PtpStatus,
    Stage,
    case_id,
)
from domain.collections.moves import CaseMoves, CollectionDay, Move, day_id
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")
LOAN = uuid.UUID("00000000-0000-4000-8000-00000000a001")
LOAN2 = uuid.UUID("00000000-0000-4000-8000-00000000a002")
EXEC = uuid.UUID("00000000-0000-4000-8000-00000000e001")
EXEC2 = uuid.UUID("00000000-0000-4000-8000-00000000e002")
DAY = date(2026, 5, 4)


@dataclass
class FakeParties:
    """Loans LOAN and LOAN2 in BRAND; EXEC works pre and collections, EXEC2 only collections."""

    cases: dict[uuid.UUID, OpenCase] = field(default_factory=dict)
    status: str = "overdue"
    asked: list[date] = field(default_factory=list)  # the dates `owed` was asked for

    def loan(self, brand_id: uuid.UUID, loan_id: uuid.UUID) -> LoanFacts | None:
        if brand_id == BRAND and loan_id in (LOAN, LOAN2):
            return LoanFacts(loan_id, self.status, DAY)
        return None

    def can_collect(self, brand_id: uuid.UUID, staff_id: uuid.UUID, stage: Stage) -> bool:
        return brand_id == BRAND and (
            (staff_id == EXEC and stage is not Stage.POST) or (staff_id == EXEC2 and stage is Stage.COLLECTIONS)
        )

    def open_cases(self, brand_id: uuid.UUID, loan_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, OpenCase]:
        return {i: c for i, c in self.cases.items() if i in loan_ids and brand_id == BRAND}

    def owed(self, brand_id: uuid.UUID, loan_id: uuid.UUID, on: date) -> Owed:
        """A payoff of 50,000.00 on DAY, growing by 10.00 a day."""
        self.asked.append(on)
        return Owed(Decimal("50000.00") + Decimal("10.00") * (on - DAY).days, "payoff")

    @contextmanager
    def assignments(self, brand_id: uuid.UUID) -> Iterator[Callable[[int], None]]:
        """One thread: nothing to hold (the test sets `cases` itself)."""
        yield lambda position: None


@pytest.fixture
def parties() -> FakeParties:
    return FakeParties()


@pytest.fixture
def app(clock: FixedClock, parties: FakeParties) -> Collections:
    return in_memory(Collections, clock, parties=parties)


def _case(app: Collections) -> CollectionCase:
    return app.load(CollectionCase, case_id(BRAND, LOAN), BRAND, CollectionCaseNotFound)


def test_a_contact_opens_the_case_and_is_recorded_with_its_outcome(app: Collections, clock: FixedClock) -> None:
    result = app.log_contact(BRAND, LOAN, Outcome.NOT_REACHABLE, " rang twice ", staff_id=EXEC)
    case = _case(app)
    contact = case.contacts[result.id]
    assert contact.outcome is Outcome.NOT_REACHABLE and contact.remarks == "rang twice" and contact.staff_id == EXEC
    assert [type(e).__name__ for e in app.events.get(case.id)] == ["Opened", "ContactLogged"]


def test_a_callback_needs_a_future_time_and_other_outcomes_take_none(app: Collections, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput) as refused:
        app.log_contact(BRAND, LOAN, Outcome.CALLBACK_REQUESTED, "call me later")
    assert refused.value.errors[0].field == "callback_at"
    with pytest.raises(InvalidInput):
        app.log_contact(BRAND, LOAN, Outcome.CALLBACK_REQUESTED, "x", clock.now() - timedelta(minutes=1))
    with pytest.raises(InvalidInput):
        app.log_contact(BRAND, LOAN, Outcome.CONNECTED, "x", clock.now() + timedelta(hours=1))
    assert app.recorder.max_notification_id() in (None, 0)
    app.log_contact(BRAND, LOAN, Outcome.CALLBACK_REQUESTED, "after 6", clock.now() + timedelta(hours=2))
    assert len(_case(app).contacts) == 1


def test_a_loan_of_another_brand_is_not_found_and_nothing_is_recorded(app: Collections) -> None:
    with pytest.raises(CollectionCaseNotFound):
        app.log_contact(OTHER, LOAN, Outcome.CONNECTED, "")
    with pytest.raises(CollectionCaseNotFound):
        app.promise(OTHER, LOAN, DAY, Decimal("100.00"))
    assert app.recorder.max_notification_id() in (None, 0)


def test_a_dialer_call_is_logged_once_however_often_it_is_reported(app: Collections) -> None:
    call = CallDetails(call_id="c-1", status="answered", duration_seconds=42, recording_url="https://rec/1")
    app.log_contact(BRAND, LOAN, Outcome.CONNECTED, "dialer", channel=Channel.DIALER, call=call)
    with pytest.raises(Conflict):
        app.log_contact(BRAND, LOAN, Outcome.CONNECTED, "dialer", channel=Channel.DIALER, call=call)
    (only,) = _case(app).contacts.values()
    assert only.call == call and only.channel is Channel.DIALER


def test_a_promise_is_of_at_most_what_the_loan_owes_on_the_promised_date(
    app: Collections, parties: FakeParties
) -> None:
    due = DAY + timedelta(days=3)  # the payoff then: 50,030.00
    with pytest.raises(InvalidInput) as refused:
        app.promise(BRAND, LOAN, due, Decimal("50030.01"), EXEC)
    assert [e.field for e in refused.value.errors] == ["amount"]
    assert "payoff on 2026-05-07 (50030.00)" in str(refused.value)
    assert app.recorder.max_notification_id() in (None, 0)
    made = app.promise(BRAND, LOAN, due, Decimal("50030.00"), EXEC)  # all of it, as of its date
    assert _case(app).promises[made.id].amount == Decimal("50030.00")
    assert parties.asked == [due, due]  # as of the promise's date, not the business date


def _tally(ptp_id: uuid.UUID, paid: str, owes_nothing_on: date | None = None) -> list[PromiseTally]:
    return [PromiseTally(LOAN, ptp_id, Decimal(paid), owes_nothing_on)]


def test_one_promise_is_open_at_a_time_and_it_is_judged_by_the_payments(app: Collections) -> None:
    first = app.promise(BRAND, LOAN, DAY + timedelta(days=2), Decimal("1500.00"), EXEC)
    with pytest.raises(Conflict):
        app.promise(BRAND, LOAN, DAY + timedelta(days=3), Decimal("100.00"), EXEC)
    # Not judged before its date has closed.
    assert app.judge_promises(BRAND, DAY + timedelta(days=1), _tally(first.id, "0")) == {"judged": 0, "rejudged": 0}
    assert app.judge_promises(BRAND, DAY + timedelta(days=2), _tally(first.id, "1499.99"))["judged"] == 1
    promise = _case(app).promises[first.id]
    assert promise.status is PtpStatus.BROKEN and promise.paid == Decimal("1499.99")
    second = app.promise(BRAND, LOAN, DAY + timedelta(days=4), Decimal("500.00"), EXEC)
    assert app.judge_promises(BRAND, DAY + timedelta(days=5), _tally(second.id, "500.00"))["judged"] == 1
    assert _case(app).promises[second.id].status is PtpStatus.KEPT


def test_a_judged_promise_is_judged_again_when_money_within_its_dates_comes_in_late_or_is_reversed(
    app: Collections,
) -> None:
    """Money is counted by the day it was paid: a collection request approved after the promise's date closed, or a
    cheque that bounces, changes what was paid within it. The first judgement stays on record; each change is a
    `PromiseRejudged` saying what it was; the same figures again record nothing."""
    due = DAY + timedelta(days=1)
    made = app.promise(BRAND, LOAN, due, Decimal("8037.57"), EXEC)
    assert app.judge_promises(BRAND, due, _tally(made.id, "0.00")) == {"judged": 1, "rejudged": 0}
    approved = app.judge_promises(BRAND, due + timedelta(days=1), _tally(made.id, "8100.00"))
    assert approved == {"judged": 0, "rejudged": 1}
    assert (_case(app).promises[made.id].status, _case(app).promises[made.id].paid) == (PtpStatus.KEPT,
                                                                                          Decimal("8100.00"))  # fmt: skip
    assert app.judge_promises(BRAND, due + timedelta(days=2), _tally(made.id, "8100.00"))["rejudged"] == 0
    bounced = app.judge_promises(BRAND, due + timedelta(days=3), _tally(made.id, "0.00"))
    assert bounced == {"judged": 0, "rejudged": 1} and _case(app).promises[made.id].status is PtpStatus.BROKEN
    events = list(app.events.get(case_id(BRAND, LOAN)))
    judgements = [(type(e).__name__, getattr(e, "previous", None), e.status, e.paid, e.judged_on) for e in events
                  if isinstance(e, CollectionCase.PromiseJudged | CollectionCase.PromiseRejudged)]  # fmt: skip
    assert judgements == [
        ("PromiseJudged", None, PtpStatus.BROKEN, Decimal("0.00"), due),
        ("PromiseRejudged", PtpStatus.BROKEN, PtpStatus.KEPT, Decimal("8100.00"), due + timedelta(days=1)),
        ("PromiseRejudged", PtpStatus.KEPT, PtpStatus.BROKEN, Decimal("0.00"), due + timedelta(days=3)),
    ]


def test_past_the_window_a_judgement_stands(app: Collections) -> None:
    due = DAY + timedelta(days=1)
    made = app.promise(BRAND, LOAN, due, Decimal("500.00"), EXEC)
    app.judge_promises(BRAND, due, _tally(made.id, "0.00"))
    late = due + timedelta(days=REJUDGE_DAYS + 1)
    assert app.judge_promises(BRAND, late, _tally(made.id, "500.00")) == {"judged": 0, "rejudged": 0}
    assert _case(app).promises[made.id].status is PtpStatus.BROKEN
    last = due + timedelta(days=REJUDGE_DAYS)
    assert app.judge_promises(BRAND, last, _tally(made.id, "500.00")) == {"judged": 0, "rejudged": 1}


def test_a_promise_is_kept_when_the_loan_owes_nothing_within_its_dates(app: Collections) -> None:
    """A promise is of at most what the loan owes on its date: paid off earlier at that day's lower payoff, settled
    for less, or all of a write-off recovered, the loan owes nothing, and the promise was kept though the money paid
    is below its amount. The loan ending after the promised date does not keep it."""
    due = DAY + timedelta(days=7)
    made = app.promise(BRAND, LOAN, due, Decimal("50070.00"), EXEC)
    app.judge_promises(BRAND, due, _tally(made.id, "49990.00", DAY + timedelta(days=1)))
    kept = _case(app).promises[made.id]
    assert (kept.status, kept.paid) == (PtpStatus.KEPT, Decimal("49990.00"))
    (judged,) = [e for e in app.events.get(case_id(BRAND, LOAN)) if isinstance(e, CollectionCase.PromiseJudged)]
    assert judged.owes_nothing_on == DAY + timedelta(days=1)
    # The payment that ended it reversed: it owes again, and the promise was not kept.
    app.judge_promises(BRAND, due + timedelta(days=1), _tally(made.id, "0.00"))
    assert _case(app).promises[made.id].status is PtpStatus.BROKEN
    # Ended only after the promised date: broken still.
    app.judge_promises(BRAND, due + timedelta(days=2), _tally(made.id, "100.00", due + timedelta(days=1)))
    assert _case(app).promises[made.id].status is PtpStatus.BROKEN


def test_a_promise_is_positive_and_not_before_the_business_date(app: Collections) -> None:
    with pytest.raises(InvalidInput):
        app.promise(BRAND, LOAN, DAY - timedelta(days=1), Decimal("10.00"))
    with pytest.raises(InvalidInput):
        app.promise(BRAND, LOAN, DAY, Decimal("0.00"))
    with pytest.raises(InvalidInput):
        app.promise(BRAND, LOAN, DAY, Decimal("10.001"))
    assert app.recorder.max_notification_id() in (None, 0)


@pytest.mark.parametrize("status", ["onboarding", "awaiting_disbursal", "cancelled", "completed", "settled"])
def test_a_promise_to_pay_is_refused_on_a_loan_that_owes_nothing(
    app: Collections, parties: FakeParties, status: str
) -> None:
    parties.status = status
    with pytest.raises(Conflict):
        app.promise(BRAND, LOAN, DAY, Decimal("100.00"))
    assert app.recorder.max_notification_id() in (None, 0)
    parties.status = "written_off"  # what comes in after a write-off is a recovery: promised like any payment
    app.promise(BRAND, LOAN, DAY, Decimal("100.00"))


def test_only_a_loan_being_repaid_moves_to_legal(app: Collections, parties: FakeParties) -> None:
    parties.status = "completed"
    with pytest.raises(Conflict):
        app.move_to_post(BRAND, LOAN, "no response for 90 days")
    assert app.recorder.max_notification_id() in (None, 0)


def test_moving_to_legal_needs_a_reason_and_happens_once(app: Collections) -> None:
    with pytest.raises(InvalidInput):
        app.move_to_post(BRAND, LOAN, " ")
    app.move_to_post(BRAND, LOAN, "no response for 90 days")
    assert _case(app).legal
    with pytest.raises(Conflict):
        app.move_to_post(BRAND, LOAN, "again")


def test_reallocation_records_each_move_with_who_had_the_loan(app: Collections, parties: FakeParties) -> None:
    parties.cases[LOAN] = OpenCase(LOAN, Stage.COLLECTIONS, EXEC)
    parties.cases[LOAN2] = OpenCase(LOAN2, Stage.COLLECTIONS, EXEC2)
    result = app.reallocate(BRAND, [LOAN, LOAN2], EXEC2, DAY)
    batch = app.load(CaseMoves, result.id, BRAND, CollectionCaseNotFound)
    assert batch.moves == (Move(loan_id=LOAN, stage=Stage.COLLECTIONS, staff_id=EXEC2, previous=EXEC),)


def test_reallocation_refuses_unknown_loans_and_staff_without_the_stage(app: Collections, parties: FakeParties) -> None:
    parties.cases[LOAN] = OpenCase(LOAN, Stage.PRE, EXEC)
    with pytest.raises(CollectionCaseNotFound):
        app.reallocate(BRAND, [LOAN, LOAN2], EXEC, DAY)
    with pytest.raises(InvalidInput) as refused:
        app.reallocate(BRAND, [LOAN], EXEC2, DAY)  # EXEC2 does not work pre-collections
    assert refused.value.errors[0].field == "staff_id"
    with pytest.raises(CollectionCaseNotFound):
        app.reallocate(OTHER, [LOAN], EXEC, DAY)
    assert app.recorder.max_notification_id() in (None, 0)


def test_the_sweep_records_batches_and_its_day_once(app: Collections) -> None:
    moves = [
        Move(loan_id=uuid.uuid4(), stage=Stage.COLLECTIONS, staff_id=EXEC, previous=None, dpd=1) for _ in range(4100)
    ]
    app.record_moves(BRAND, DAY, moves)
    assert app.recorder.max_notification_id() == 3  # 2000 + 2000 + 100
    assert not app.swept(BRAND, DAY)
    app.close_day(BRAND, DAY, {"opened": 4100})
    assert app.swept(BRAND, DAY) and not app.swept(OTHER, DAY)
    assert app.load(CollectionDay, day_id(BRAND, DAY), BRAND, CollectionCaseNotFound).counts == {"opened": 4100}
