"""Notices, sources and sync runs: pure domain rules."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.notices.notice import (
    NO_BORROWER,
    Match,
    MatchCandidate,
    Notice,
    NoticeFacts,
    NoticeMode,
    Observation,
    notice_id_for,
)
from domain.notices.source import NoticeSource, SyncAlreadyRunning, check_settings, source_id_for, token_hint
from domain.notices.sync_run import PageCounts, SyncRun, SyncStatus
from domain.shared.aggregate import with_id
from domain.shared.errors import Conflict, InvalidInput


def _facts(**changes: object) -> NoticeFacts:
    base = {
        "loan_number": "SML0000000011",
        "customer_name": "Meena Iyer",
        "phone": "98765 00011",
        "phone_e164": "+919876500011",
        "due_date": date(2026, 10, 1),
        "instalment_no": 4,
        "amount_due": Decimal("5400.50"),
        "days_overdue": 58,
        "mode": NoticeMode.OVERDUE,
        "source_updated_at": datetime(2026, 11, 27, 4, 30, tzinfo=UTC),
    }
    return NoticeFacts(**(base | changes))


def _notice() -> Notice:
    source_id = uuid.uuid4()
    return with_id(
        Notice,
        notice_id_for(source_id, "N-1"),
        brand_id=uuid.uuid4(),
        source_id=source_id,
        company="SML",
        source_notice_id="N-1",
        facts=_facts(),
        run_id=None,
    )


def test_a_notice_seen_unchanged_records_nothing_even_when_the_source_touched_it() -> None:
    notice = _notice()
    version = notice.version
    touched = _facts(source_updated_at=datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    assert notice.observe(touched, None) is Observation.UNCHANGED
    assert notice.version == version


def test_a_changed_notice_records_previous_and_new_facts() -> None:
    notice = _notice()
    assert notice.observe(_facts(amount_due=Decimal("6000.00"), days_overdue=59), None) is Observation.UPDATED
    (changed,) = [e for e in notice.collect_events() if isinstance(e, Notice.Changed)]
    assert changed.fields == ["amount_due", "days_overdue"]
    assert changed.previous.amount_due == Decimal("5400.50") and changed.facts.amount_due == Decimal("6000.00")


def test_stale_notice_is_marked_inactive_once_and_reactivated_when_it_reappears() -> None:
    notice = _notice()
    assert notice.mark_inactive(uuid.uuid4()) and not notice.active
    assert notice.mark_inactive(uuid.uuid4()) is False
    assert notice.observe(_facts(), None) is Observation.REACTIVATED and notice.active


def test_only_a_different_match_is_recorded() -> None:
    notice = _notice()
    customer = uuid.uuid4()
    match = Match(customer_id=customer, confidence=95, band="high", methods=["loan_number"])
    assert notice.record_match(match, "imported")
    assert not notice.record_match(
        Match(customer_id=customer, confidence=95, band="high", methods=["loan_number"]), "x"
    )
    assert notice.record_match(Match(customer_id=None, confidence=0, band="unmatched", methods=[]), "borrower changed")


def test_identity_change_is_what_triggers_rematching() -> None:
    assert _facts(phone_e164="+919999900000").identity_differs_from(_facts())
    assert not _facts(amount_due=Decimal("1.00")).identity_differs_from(_facts())


def test_one_sync_at_a_time_per_source_naming_the_running_run() -> None:
    brand = uuid.uuid4()
    source = with_id(
        NoticeSource,
        source_id_for(brand, "SML"),
        brand_id=brand,
        company="SML",
        base_url="https://softmedia.example.in",
        schedule="*/30 * * * *",
        enabled=True,
        token_hint=token_hint("secret-token-1234"),
    )
    first, second = uuid.uuid4(), uuid.uuid4()
    source.start_sync(first)
    with pytest.raises(SyncAlreadyRunning, match=str(first)):
        source.start_sync(second)
    with pytest.raises(Conflict):
        source.end_sync(second, "succeeded")
    source.end_sync(first, "succeeded")
    source.start_sync(second)
    assert source.running_run_id == second and source.token_hint == "****1234"


def test_source_settings_name_every_bad_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_settings(company="s m l", base_url="softmedia", token="short", schedule="hourly")
    assert {e.field for e in raised.value.errors} == {"company", "base_url", "token", "schedule"}
    check_settings(company="SML", base_url="http://127.0.0.1:8100", token="long-enough", schedule="0 */2 * * *")


@pytest.mark.parametrize(
    ("pages", "error", "status"),
    [
        (2, None, SyncStatus.SUCCEEDED),
        (1, "SoftmediaUnavailable: 503", SyncStatus.PARTIAL),
        (0, "401", SyncStatus.FAILED),
    ],
)
def test_a_run_ends_succeeded_partial_or_failed(pages: int, error: str | None, status: SyncStatus) -> None:
    run = SyncRun(
        brand_id=uuid.uuid4(),
        source_id=uuid.uuid4(),
        company="SML",
        trigger="manual",
        requested_by="staff:x",
        modes=[NoticeMode.OVERDUE],
    )
    for page in range(1, pages + 1):
        run.record_page(NoticeMode.OVERDUE, page, 2, PageCounts(fetched=3, created=3), [])
    finished = run.finish(error=error, inactivated=0, retries=0, now=run.created_on + timedelta(seconds=2))
    assert finished is status and run.counts.fetched == 3 * pages
    with pytest.raises(Conflict):
        run.record_page(NoticeMode.OVERDUE, 3, 3, PageCounts(), [])


def test_a_source_settings_version_moves_with_its_settings_not_with_its_syncs() -> None:
    # The version an If-Match on PATCH /notice-sources/{id} checks: a sync started and ended between an admin's read
    # and their change must not make it stale, a change of the settings must; replayed, it comes back the same.
    brand = uuid.uuid4()
    source = with_id(
        NoticeSource,
        source_id_for(brand, "SML"),
        brand_id=brand,
        company="SML",
        base_url="https://softmedia.example.in",
        schedule="*/30 * * * *",
        enabled=True,
        token_hint=token_hint("secret-token-1234"),
    )
    assert source.settings_version == 1
    run = uuid.uuid4()
    source.start_sync(run)
    source.end_sync(run, "succeeded")
    assert (source.version, source.settings_version) == (3, 1)
    assert source.reconfigure(schedule="*/15 * * * *")
    assert (source.version, source.settings_version) == (4, 4)
    replayed = None
    for event in source.collect_events():
        replayed = event.mutate(replayed)
    assert replayed is not None and replayed.settings_version == 4


def test_a_removed_match_leaves_the_notice_unmatched_and_keeps_that_borrower_out_of_automatic_matching() -> None:
    notice = _notice()
    wrong, right = uuid.uuid4(), uuid.uuid4()
    candidates = [MatchCandidate(customer_id=wrong, confidence=85, methods=["loan_number"])]
    notice.record_match(Match(customer_id=wrong, confidence=85, band="high", methods=["loan_number"],
                              candidates=candidates), "imported")  # fmt: skip
    notice.confirm_match(wrong, "checked on call")
    with pytest.raises(InvalidInput):
        notice.remove_match("no")
    with pytest.raises(Conflict):
        notice.remove_match("wrong borrower", expected_customer_id=right)
    version = notice.version
    notice.remove_match("  loan number   was linked to the wrong borrower ", expected_customer_id=wrong)
    assert notice.version == version + 1
    assert notice.match is not None and notice.match.customer_id is None and notice.match.band == "unmatched"
    assert [c.customer_id for c in notice.match.candidates] == [wrong] and not notice.confirmed
    (removed,) = [e for e in notice.collect_events() if isinstance(e, Notice.MatchRemoved)]
    assert (removed.previous_customer_id, removed.was_confirmed) == (wrong, True)
    assert removed.reason == "loan number was linked to the wrong borrower"
    with pytest.raises(Conflict):  # nothing matched: nothing to remove
        notice.remove_match("wrong borrower")
    # Automatic matching picking the removed borrower again records nothing; another borrower is matched.
    assert not notice.record_match(Match(customer_id=wrong, confidence=85, band="high", methods=["loan_number"],
                                         candidates=candidates), "borrower changed")  # fmt: skip
    assert notice.match.customer_id is None
    assert notice.record_match(Match(customer_id=right, confidence=90, band="high", methods=["phone"]), "x")
    assert notice.match.customer_id == right
    # A staff member may still confirm the removed borrower, which lifts the removal.
    notice.confirm_match(wrong, "it was theirs after all")
    assert notice.match.customer_id == wrong and notice.excluded_customer_ids == ()


def test_a_removed_match_replays_to_the_same_state() -> None:
    notice = _notice()
    wrong = uuid.uuid4()
    notice.record_match(Match(customer_id=wrong, confidence=60, band="medium", methods=["phone"]), "imported")
    notice.remove_match("not the borrower")
    events = notice.collect_events()
    replayed: Notice | None = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.excluded_customer_ids == (wrong,)
    assert replayed.match is not None and replayed.match.customer_id is None and not replayed.confirmed


def test_a_caller_who_saw_the_notice_matched_to_nobody_is_refused_once_it_was_matched_since() -> None:
    notice = _notice()
    borrower, other = uuid.uuid4(), uuid.uuid4()
    assert notice.confirm_match(borrower, "checked on call", expected_customer_id=NO_BORROWER)  # still nobody: saved
    notice.remove_match("wrong borrower", expected_customer_id=borrower)
    notice.record_match(Match(customer_id=other, confidence=90, band="high", methods=["loan_number"]), "sync")
    version = notice.version
    for decide in (lambda: notice.confirm_match(borrower, "checked on call", expected_customer_id=NO_BORROWER),
                   lambda: notice.remove_match("not theirs", expected_customer_id=NO_BORROWER)):  # fmt: skip
        with pytest.raises(Conflict, match="matched to another borrower since"):
            decide()
    assert notice.version == version and notice.match is not None and notice.match.customer_id == other


def test_a_source_schedule_follows_the_jobs_rule() -> None:
    """A source's schedule was checked by croniter alone: `0 0 30 2 *` (never fires) was taken and then stopped every
    brand's scheduled syncs, and a sixth field (seconds) pulled the source back to back."""
    import pytest

    from domain.notices.source import check_settings
    from domain.shared.errors import InvalidInput

    for bad in ("0 0 30 2 *", "*/10 * * * * *", "", "not cron"):
        with pytest.raises(InvalidInput) as refused:
            check_settings(schedule=bad)
        assert [e.field for e in refused.value.errors] == ["schedule"], bad
    check_settings(schedule=" */30  * * * * ")  # spaces aside, a schedule
    check_settings(schedule="@hourly")
