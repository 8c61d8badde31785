from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest

from domain.covenants.covenant import Covenant, CovenantNotice, evaluation_id
from domain.covenants.proofs import Proof, cited_proofs
from domain.covenants.schedule import Calendar, Frequency, add_months, due_date
from domain.covenants.status import CovenantStatus, EvaluationStatus, NoticeKind, UnsentReason
from domain.covenants.terms import CovenantType, Operator, Terms
from domain.documents.content import ContentType, Uploader
from domain.shared.errors import Conflict, InvalidInput

DSCR = Terms(type=CovenantType.FINANCIAL, metric="DSCR", operator=Operator.GE, threshold=Decimal("1.25"))


def _covenant(frequency: Frequency = Frequency.MONTHLY, first_due: date = date(2024, 1, 31), lead: int = 7, grace: int = 5,
              terms: Terms = DSCR, expiry: date = date(2025, 12, 31)) -> Covenant:  # fmt: skip
    calendar = Calendar(
        frequency=frequency,
        start_date=date(2024, 1, 1),
        first_due_date=first_due,
        expiry_date=expiry,
        grace_days=grace,
        lead_days=lead,
    )
    return Covenant(
        brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), application_ref="APP-1", title="Debt service cover",
        terms=terms, calendar=calendar, assignee_id=None, company=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("first", "frequency", "expected"),
    [
        (
            date(2024, 1, 31),
            Frequency.MONTHLY,
            [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)],
        ),
        (
            date(2023, 1, 31),
            Frequency.MONTHLY,
            [date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31), date(2023, 4, 30)],
        ),
        (
            date(2024, 1, 30),
            Frequency.MONTHLY,
            [date(2024, 1, 30), date(2024, 2, 29), date(2024, 3, 30), date(2024, 4, 30)],
        ),
        (
            date(2024, 2, 29),
            Frequency.ANNUAL,
            [date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28)],
        ),
        (
            date(2024, 11, 30),
            Frequency.QUARTERLY,
            [date(2024, 11, 30), date(2025, 2, 28), date(2025, 5, 31), date(2025, 8, 31)],
        ),
        (
            date(2024, 8, 31),
            Frequency.HALF_YEARLY,
            [date(2024, 8, 31), date(2025, 2, 28), date(2025, 8, 31), date(2026, 2, 28)],
        ),
    ],
)
def test_due_dates_keep_month_ends_across_short_months_and_leap_years(
    first: date, frequency: Frequency, expected: list[date]
) -> None:
    assert [due_date(first, frequency, n) for n in range(1, 5)] == expected


def test_add_months_crosses_year_ends() -> None:
    assert add_months(date(2024, 12, 15), 1) == date(2025, 1, 15)
    assert add_months(date(2024, 12, 31), 2) == date(2025, 2, 28)


def test_calendar_rules() -> None:
    with pytest.raises(InvalidInput) as err:
        Calendar(frequency=Frequency.MONTHLY, start_date=date(2024, 5, 1), first_due_date=date(2024, 5, 31),
                 expiry_date=date(2024, 4, 1), lead_days=7).checked()  # fmt: skip
    assert err.value.errors[0].field == "expiry_date"
    with pytest.raises(InvalidInput) as err:
        Calendar(frequency=Frequency.MONTHLY, start_date=date(2024, 5, 1), first_due_date=date(2024, 4, 30),
                 expiry_date=date(2025, 4, 1), lead_days=7).checked()  # fmt: skip
    assert err.value.errors[0].field == "first_due_date"
    with pytest.raises(InvalidInput) as err:
        Terms(type=CovenantType.FINANCIAL, metric="DSCR").checked()
    assert {e.field for e in err.value.errors} == {"operator", "threshold"}
    with pytest.raises(InvalidInput):
        Terms(type=CovenantType.DOCUMENT).checked()


def test_one_record_per_cycle_opened_on_its_reminder_date() -> None:
    covenant = _covenant()
    assert covenant.next_evaluation_date == date(2024, 1, 24)
    assert covenant.open_due_cycles(date(2024, 1, 23)) == []
    first = covenant.open_due_cycles(date(2024, 1, 24))
    assert [(r.cycle, r.due_date) for r in first] == [(1, date(2024, 1, 31))]
    assert covenant.open_due_cycles(date(2024, 1, 24)) == []  # a rerun opens nothing
    assert covenant.next_due_date == date(2024, 2, 29) and covenant.next_evaluation_date == date(2024, 2, 22)
    # A job that did not run for months opens each missed cycle once, in order.
    later = covenant.open_due_cycles(date(2024, 5, 1))
    assert [(r.cycle, r.due_date) for r in later] == [
        (2, date(2024, 2, 29)),
        (3, date(2024, 3, 31)),
        (4, date(2024, 4, 30)),
    ]
    assert later[0].id == evaluation_id(covenant.id, 2)


def test_a_record_carries_its_covenants_company_in_its_opening_event() -> None:
    covenant = _covenant()
    covenant.company = "SML"  # as set up for SML (Covenant.Created.company)
    (record,) = covenant.open_due_cycles(date(2024, 1, 24))
    opened = record.collect_events()[0]
    assert record.company == "SML" and opened.company == "SML"  # type: ignore[attr-defined]
    (shared,) = _covenant().open_due_cycles(date(2024, 1, 24))
    assert shared.company is None


def test_one_time_covenant_has_one_cycle_and_expires() -> None:
    covenant = _covenant(Frequency.ONE_TIME, first_due=date(2024, 6, 30), expiry=date(2024, 12, 31))
    assert len(covenant.open_due_cycles(date(2024, 12, 31))) == 1
    assert covenant.next_due_date is None and covenant.status is CovenantStatus.ACTIVE
    covenant.open_due_cycles(date(2025, 1, 1))
    assert covenant.status is CovenantStatus.EXPIRED


def test_financial_review_rules() -> None:
    (record,) = _covenant().open_due_cycles(date(2024, 1, 24))
    with pytest.raises(Conflict, match="submit the measured value first"):
        record.comply("audited statements FY24")
    with pytest.raises(InvalidInput):
        record.submit_value("abc")
    assert record.submit_value("1.10") is False
    with pytest.raises(Conflict, match=re.escape("fails DSCR >= 1.25")):
        record.comply("audited statements FY24")
    assert record.submit_value(Decimal("1.30")) is True
    record.comply("audited statements FY24")
    assert record.status is EvaluationStatus.COMPLIED
    for action in (lambda: record.waive("late"), lambda: record.submit_value("2"), lambda: record.comply("again")):
        with pytest.raises(Conflict, match="already complied"):
            action()


def test_only_open_records_past_grace_turn_overdue_and_can_still_be_waived() -> None:
    (record,) = _covenant(grace=5).open_due_cycles(date(2024, 1, 24))
    assert record.mark_overdue(date(2024, 2, 5)) is False  # due 31 Jan + 5 days grace
    assert record.mark_overdue(date(2024, 2, 6)) is True
    assert record.mark_overdue(date(2024, 2, 7)) is False
    assert record.needs_notice(NoticeKind.OVERDUE) and not record.needs_notice(NoticeKind.REMINDER)
    record.queue_notice(NoticeKind.OVERDUE, uuid.uuid4())
    with pytest.raises(Conflict):
        record.queue_notice(NoticeKind.OVERDUE, uuid.uuid4())
    record.waive("covid relief")
    assert record.status is EvaluationStatus.WAIVED
    assert record.mark_overdue(date(2024, 3, 1)) is False


def test_document_covenant_cannot_take_a_value() -> None:
    terms = Terms(type=CovenantType.DOCUMENT, document="Audited financials")
    (record,) = _covenant(terms=terms).open_due_cycles(date(2024, 1, 24))
    with pytest.raises(Conflict):
        record.submit_value("1")
    with pytest.raises(InvalidInput):
        record.comply("")
    record.comply("DMS-2024-0042")
    assert record.status is EvaluationStatus.COMPLIED


def _notice() -> CovenantNotice:
    return CovenantNotice(
        brand_id=uuid.uuid4(),
        kind=NoticeKind.REMINDER,
        customer_id=uuid.uuid4(),
        application_ref="APP-1",
        recipient="a@example.in",
        subject="Reminder",
        evaluation_ids=[uuid.uuid4()],
        as_of=date(2024, 6, 23),
    )


def test_a_notice_is_presumed_sent_only_once_handed_over_and_never_fails_after_sending() -> None:
    notice = _notice()
    with pytest.raises(Conflict, match="handed over"):
        notice.mark_sent(presumed=True)
    notice.mark_handing_over()
    assert notice.handing_over
    notice.mark_sent(presumed=True)
    assert notice.sent and not notice.handing_over
    with pytest.raises(Conflict, match="already sent"):
        notice.mark_failed("late error")
    with pytest.raises(Conflict, match="already sent"):
        notice.mark_handing_over()

    refused = _notice()
    refused.mark_handing_over()
    refused.mark_failed("550 mailbox unavailable")
    assert not refused.handing_over and refused.failures == 1 and not refused.sent


def test_a_notice_not_sent_is_recorded_once_per_kind_and_leaves_the_notice_owed() -> None:
    (record,) = _covenant(grace=5).open_due_cycles(date(2024, 1, 24))
    assert record.unsent_to_record(NoticeKind.REMINDER)
    record.notice_not_sent(NoticeKind.REMINDER, uuid.uuid4(), UnsentReason.NO_EMAIL)
    # Recorded once (a rerun finds nothing to record), yet still owed: a run with an address queues it.
    assert not record.unsent_to_record(NoticeKind.REMINDER) and record.needs_notice(NoticeKind.REMINDER)
    with pytest.raises(Conflict, match="already recorded as not sent"):
        record.notice_not_sent(NoticeKind.REMINDER, uuid.uuid4(), UnsentReason.NO_EMAIL)
    record.queue_notice(NoticeKind.REMINDER, uuid.uuid4())
    assert not record.needs_notice(NoticeKind.REMINDER)
    # Each kind on its own: the overdue notice is owed and recordable once the record turns overdue.
    assert record.mark_overdue(date(2024, 2, 6))
    assert record.unsent_to_record(NoticeKind.OVERDUE)


def test_a_notice_recorded_not_sent_is_never_handed_over_nor_sent() -> None:
    notice = _notice()
    notice.mark_not_sent(UnsentReason.NO_EMAIL)
    assert notice.not_sent is UnsentReason.NO_EMAIL
    for action in (notice.mark_handing_over, notice.mark_sent, lambda: notice.mark_failed("x")):
        with pytest.raises(Conflict, match="recorded as not sent"):
            action()
    assert not notice.sent


def test_evaluation_ids_are_the_uuid5_of_covenant_and_cycle() -> None:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "https://covenant-desk/covenant-evaluation")
    for cycle in (1, 2, 12, 1_000):
        covenant_id = uuid.uuid4()
        derived = evaluation_id(covenant_id, cycle)
        assert derived == uuid.uuid5(namespace, f"{covenant_id}:{cycle}") and derived.version == 5


def test_month_ends_and_leap_days_match_the_calendar_module() -> None:
    import calendar

    for year in (1900, 2000, 2023, 2024, 2100):
        for month in range(1, 13):
            last = date(year, month, calendar.monthrange(year, month)[1])
            assert add_months(last, 0) == last
            moved = add_months(last, 1)
            assert moved.day == calendar.monthrange(moved.year, moved.month)[1]  # a month-end stays at month-end
    assert add_months(date(2024, 1, 30), 1) == date(2024, 2, 29) and add_months(date(2023, 1, 30), 1) == date(
        2023, 2, 28
    )


def test_cited_proofs_whose_documents_were_rejected_are_named_by_index() -> None:
    ok, bad = uuid.uuid4(), uuid.uuid4()
    attached = {
        i: Proof(i, f"{n}.pdf", "0" * 64, 10, ContentType.PDF, Uploader.STAFF) for i, n in ((ok, "a"), (bad, "b"))
    }
    assert cited_proofs(attached, [ok, bad], {}) == [ok, bad]
    with pytest.raises(InvalidInput) as refused:
        cited_proofs(attached, [ok, bad, bad], {bad: "cut off"})
    assert [(e.field, "b.pdf" in e.message and "cut off" in e.message) for e in refused.value.errors] == [
        ("proof_document_ids[1]", True)
    ]
