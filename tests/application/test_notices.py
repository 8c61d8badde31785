"""The notices context's use cases on the in-memory event store: connecting and reconfiguring a source (its token
kept with its events), and a sync run from start to finish."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.notices.application import Notices, SourceAlreadyConnected
from domain.notices.notice import Match, Notice, NoticeFacts, NoticeMode
from domain.notices.source import NoticeSource, SourceNotFound, SyncAlreadyRunning, TokensInMemory, source_id_for
from domain.notices.sync_run import SyncStatus
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory, raced_after

URL = "https://softmedia.example/api"
BRAND = uuid.UUID("00000000-0000-4000-8000-000000000001")


class RefusingUrls:
    """A URL check that refuses one host (as the outbound policy refuses private addresses)."""

    def refusal(self, url: str) -> str | None:
        return "a private address" if "10.0.0.1" in url else None


@pytest.fixture
def tokens() -> TokensInMemory:
    return TokensInMemory()


@pytest.fixture
def notices(clock: FixedClock, tokens: TokensInMemory) -> Notices:
    return in_memory(Notices, clock, url_check=RefusingUrls(), tokens=tokens)


def _connect(notices: Notices, company: str = "sml", token: str = "token-0001", **changes: object) -> uuid.UUID:
    settings: dict[str, object] = {"base_url": URL + "/", "token": token, "schedule": "*/30  *  * * *"} | changes
    return notices.connect_source(BRAND, company=company, **settings).id  # type: ignore[arg-type]


def _recorded(notices: Notices) -> int:
    return notices.recorder.max_notification_id() or 0


def test_connecting_records_the_source_with_a_hint_of_its_token_and_keeps_the_token(
    notices: Notices, tokens: TokensInMemory
) -> None:
    source_id = _connect(notices, " sml ", token="secret-token-4321")
    assert source_id == source_id_for(BRAND, "SML")
    source = notices.source(BRAND, source_id)
    assert (source.company, source.base_url, source.schedule, source.enabled) == ("SML", URL, "*/30 * * * *", True)
    assert source.token_hint == "****4321"
    assert tokens.tokens == {source_id: "secret-token-4321"} and notices.source_token(source_id) == "secret-token-4321"
    # The token itself is in no event.
    stored = notices.recorder.select_events(source_id)
    assert all(b"secret-token" not in e.state for e in stored)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"token": "short"}, {"token"}),
        ({"base_url": "ftp://softmedia.example"}, {"base_url"}),
        ({"base_url": "http://10.0.0.1/api"}, {"base_url"}),
        ({"schedule": "every hour"}, {"schedule"}),
        ({"company": "S M L", "schedule": "", "token": ""}, {"company", "schedule", "token"}),
    ],
)
def test_bad_settings_are_refused_naming_each_field_and_nothing_is_kept(
    notices: Notices, tokens: TokensInMemory, changes: dict[str, object], fields: set[str]
) -> None:
    settings: dict[str, object] = {"company": "SML", "base_url": URL, "token": "token-0001", "schedule": "0 * * * *"}
    with pytest.raises(InvalidInput) as refused:
        notices.connect_source(BRAND, **(settings | changes))  # type: ignore[arg-type]
    assert {e.field for e in refused.value.errors} == fields
    assert _recorded(notices) == 0 and tokens.tokens == {}


def test_a_company_has_one_source_and_a_second_connect_keeps_the_first_token(
    notices: Notices, tokens: TokensInMemory
) -> None:
    source_id = _connect(notices, token="token-first")
    before = _recorded(notices)
    with pytest.raises(SourceAlreadyConnected):
        _connect(notices, "SML", token="token-second")
    assert _recorded(notices) == before and tokens.tokens == {source_id: "token-first"}


def test_staff_limited_to_companies_may_connect_and_change_only_theirs(notices: Notices) -> None:
    with pytest.raises(SourceNotFound):
        _connect(notices, "KFL", companies=("SML",))
    assert _recorded(notices) == 0
    kfl = _connect(notices, "KFL")
    with pytest.raises(SourceNotFound):
        notices.reconfigure_source(BRAND, kfl, enabled=False, companies=("SML",))
    with pytest.raises(SourceNotFound):
        notices.begin_sync(BRAND, kfl, trigger="manual", requested_by="staff:s", companies=("SML",))
    with pytest.raises(SourceNotFound):
        notices.source(uuid.uuid4(), kfl)  # another brand's
    assert notices.source(BRAND, _connect(notices, "SML", companies=("SML",)), ("SML",)).company == "SML"


def test_reconfiguring_changes_what_is_given_and_a_new_token_is_kept_with_the_change(
    notices: Notices, tokens: TokensInMemory
) -> None:
    source_id = _connect(notices, token="token-0001")
    same = notices.reconfigure_source(BRAND, source_id, token="token-0001", schedule="*/30 * * * *")
    assert not same.changed and same.position == 0 and notices.source(BRAND, source_id).version == 1
    # A new token with the same last four characters is still a change, and is kept.
    changed = notices.reconfigure_source(BRAND, source_id, token="other-0001", enabled=False)
    assert changed.changed and tokens.tokens[source_id] == "other-0001"
    source = notices.source(BRAND, source_id)
    assert (source.version, source.enabled, source.token_hint) == (2, False, "****0001")
    assert notices.recorder.select_events(source_id)[-1].topic.endswith("NoticeSource.Reconfigured")


def test_a_refused_reconfiguration_keeps_the_old_token(notices: Notices, tokens: TokensInMemory) -> None:
    source_id = _connect(notices, token="token-0001")
    with pytest.raises(InvalidInput):
        notices.reconfigure_source(BRAND, source_id, token="token-0002", schedule="never")
    assert tokens.tokens[source_id] == "token-0001" and notices.source(BRAND, source_id).version == 1
    with pytest.raises(SourceNotFound):
        notices.reconfigure_source(BRAND, uuid.uuid4(), token="token-0002")


def _facts(amount: str, days: int = 5, name: str = "Asha Rao") -> NoticeFacts:
    return NoticeFacts(
        loan_number="LN-1",
        customer_name=name,
        phone="98450 12345",
        phone_e164="+919845012345",
        due_date=date(2026, 11, 25),
        instalment_no=3,
        amount_due=Decimal(amount),
        days_overdue=days,
        mode=NoticeMode.OVERDUE,
    )


def _unmatched(_brand: uuid.UUID, batch: Sequence[Notice]) -> dict[uuid.UUID, Match]:
    return {n.id: Match(customer_id=None, confidence=0, band="unmatched", methods=[]) for n in batch}


def test_a_sync_run_from_start_to_finish(notices: Notices, clock: FixedClock) -> None:
    source_id = _connect(notices)
    run_id = notices.begin_sync(BRAND, source_id, trigger="manual", requested_by="staff:s").id
    assert notices.source(BRAND, source_id).running_run_id == run_id
    with pytest.raises(SyncAlreadyRunning):
        notices.begin_sync(BRAND, source_id, trigger="schedule", requested_by="scheduler")

    items = [("N-1", _facts("100.00")), ("N-2", _facts("200.00")), ("N-1", _facts("150.00"))]  # N-1 twice
    counts, seen = notices.record_page(
        run_id, mode=NoticeMode.OVERDUE, page=1, total_pages=1, items=items, malformed=1, errors=["item 3: bad"],
        match=_unmatched,
    )  # fmt: skip
    assert (counts.fetched, counts.created, counts.malformed, len(seen)) == (4, 2, 1, 2)
    first = next(n for n in notices.find_many(seen).values() if n.source_notice_id == "N-1")
    assert first.facts.amount_due == Decimal("150.00")  # the later copy on the page is the newer

    clock.instant += timedelta(seconds=3)
    assert notices.finish_sync(run_id, error=None, inactivated=0, retries=1) is SyncStatus.SUCCEEDED
    run = notices.sync_run(BRAND, run_id)
    assert (run.status, run.pages, run.counts.created, run.error) == (SyncStatus.SUCCEEDED, 1, 2, None)
    source = notices.source(BRAND, source_id)
    assert isinstance(source, NoticeSource) and source.running_run_id is None

    # The next run sees the same notices unchanged and one changed; a notice it did not list goes inactive.
    again = notices.begin_sync(BRAND, source_id, trigger="schedule", requested_by="scheduler").id
    counts, _ = notices.record_page(
        again, mode=NoticeMode.OVERDUE, page=1, total_pages=1, items=[("N-1", _facts("150.00", days=6))],
        malformed=0, errors=[], match=_unmatched,
    )  # fmt: skip
    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, 0)
    stale = [i for i in seen if i != first.id]
    assert notices.inactivate(again, stale) == 1 and notices.inactivate(again, stale) == 0
    status = notices.finish_sync(again, error="page 2: source unavailable", inactivated=1, retries=0)
    ended = notices.sync_run(None, again)
    assert (status, ended.error, ended.inactivated) == (SyncStatus.PARTIAL, "page 2: source unavailable", 1)


def test_a_run_that_pulled_nothing_before_failing_failed(notices: Notices) -> None:
    source_id = _connect(notices)
    run_id = notices.begin_sync(BRAND, source_id, trigger="manual", requested_by="staff:s").id
    assert notices.finish_sync(run_id, error="401 from the source", inactivated=0, retries=0) is SyncStatus.FAILED
    assert notices.begin_sync(BRAND, source_id, trigger="manual", requested_by="staff:s").id != run_id


def test_a_run_kept_between_pages_follows_what_was_recorded_since_and_counts_every_page(
    notices: Notices, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = _connect(notices)
    run_id = notices.begin_sync(BRAND, source_id, trigger="manual", requested_by="staff:s").id
    replayed: list[int] = []  # how many of the run's events each page's load replayed
    select_events = notices.recorder.select_events

    def counting(*args: Any, **kwargs: Any) -> Any:
        found = select_events(*args, **kwargs)
        if (args[0] if args else kwargs.get("originator_id")) == run_id:
            replayed.append(len(found))
        return found

    monkeypatch.setattr(notices.recorder, "select_events", counting)
    for page in (1, 2, 3):
        items = [(f"N-{page}-{i}", _facts("100.00")) for i in range(2)]
        notices.record_page(
            run_id, mode=NoticeMode.OVERDUE, page=page, total_pages=4, items=items, malformed=0, errors=[],
            match=_unmatched,
        )  # fmt: skip
    assert replayed == [1, 0, 0]  # the whole run for page 1, then nothing new: not the run's pages again
    run = notices.sync_run(None, run_id)
    assert (run.pages, run.counts.created, run.version) == (3, 6, 4)

    # Another writer (the next trigger, finding this run abandoned) ends the run between two pages: the next page
    # sees it ended, as a fresh load would, and records nothing.
    elsewhere = notices.sync_run(None, run_id)
    elsewhere.finish(error="abandoned: the worker running it stopped", inactivated=0, retries=0, now=clock.now())
    notices.save(elsewhere)
    before = _recorded(notices)
    with pytest.raises(Conflict, match="is partial"):
        notices.record_page(
            run_id, mode=NoticeMode.OVERDUE, page=4, total_pages=4, items=[("N-4-0", _facts("1.00"))], malformed=0,
            errors=[], match=_unmatched,
        )  # fmt: skip
    assert _recorded(notices) == before
    assert notices.sync_run(None, run_id).pages == 3


def test_a_settings_change_and_a_sync_racing_it_both_stand(notices: Notices, monkeypatch: pytest.MonkeyPatch) -> None:
    # A clean-clone run saw an admin's schedule change refused with 409 while the demo's sync started: a sync's start
    # or end leaves the settings (and their ETag) as they were, so the change is made on the source as it now is.
    source_id = _connect(notices)
    raced_after(
        monkeypatch,
        notices,
        "source",
        lambda: notices.begin_sync(BRAND, source_id, trigger="schedule", requested_by="s"),
    )
    assert notices.reconfigure_source(BRAND, source_id, schedule="0 6 * * *", expected_version=1).changed
    run_id = notices.source(BRAND, source_id).running_run_id
    assert run_id is not None and notices.source(BRAND, source_id).schedule == "0 6 * * *"
    monkeypatch.undo()

    # A sync ending while the settings change: the run ends (not a failed job left to be found abandoned).
    raced_after(monkeypatch, notices, "source", lambda: notices.reconfigure_source(BRAND, source_id, enabled=False))
    assert notices.finish_sync(run_id, error=None, inactivated=0, retries=0) is SyncStatus.SUCCEEDED
    source = notices.source(BRAND, source_id)
    assert (source.running_run_id, source.enabled, source.schedule) == (None, False, "0 6 * * *")
    monkeypatch.undo()

    # A sync starting while the settings change.
    raced_after(monkeypatch, notices, "source", lambda: notices.reconfigure_source(BRAND, source_id, enabled=True))
    started = notices.begin_sync(BRAND, source_id, trigger="manual", requested_by="staff:s").id
    source = notices.source(BRAND, source_id)
    assert (source.running_run_id, source.enabled) == (started, True)


def test_two_settings_changes_racing_are_still_a_409_naming_the_settings_version(
    notices: Notices, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = _connect(notices)
    raced_after(
        monkeypatch, notices, "source", lambda: notices.reconfigure_source(BRAND, source_id, schedule="0 7 * * *")
    )
    with pytest.raises(Conflict) as refused:
        notices.reconfigure_source(BRAND, source_id, schedule="0 6 * * *")
    monkeypatch.undo()
    now = notices.source(BRAND, source_id)
    assert refused.value.details["current_version"] == now.settings_version and now.schedule == "0 7 * * *"
    # Two syncs starting at once: the second is refused, as before.
    raced_after(
        monkeypatch,
        notices,
        "source",
        lambda: notices.begin_sync(BRAND, source_id, trigger="schedule", requested_by="s"),
    )
    with pytest.raises(SyncAlreadyRunning):
        notices.begin_sync(BRAND, source_id, trigger="manual", requested_by="staff:s")
