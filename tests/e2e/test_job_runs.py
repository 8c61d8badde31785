"""Manual job runs over the API: the as-of calendar, dry runs, the bound on queued runs, schedules, notice syncs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest

from adapters.simulators.softmedia import Dataset, SoftmediaSimulator
from domain.covenants.application import Covenants
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.jobs.application import Jobs
from domain.jobs.job import MAX_QUEUED_MANUAL_RUNS
from domain.notices.application import Notices
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _mail_to, _run, hold_business_date
from tests.e2e.test_notices import TOKEN, _item, _source
from tests.support import settle
from workers.runtime import scheduler_for


def _execute(client: Any, platform: Any, tenant: Tenant, run_id: str) -> dict[str, Any]:
    scheduler_for(platform).execute(run_id)
    settle(platform, Jobs.name)
    return dict(client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def _heads(platform: Any) -> dict[str, int]:
    return {source: platform.engine.head(source) for source in ("jobs", "covenants")}


# The as-of calendar --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "says"),
    [
        ("2199-03-29", "after the brand's business date"),
        ("2000-01-01", "before the brand's first business day"),
        ("2771-03-29", "must be between 1900 and 2200"),  # the fuzzer's date: refused at the edge already
        ("0001-01-01", "must be between 1900 and 2200"),
    ],
)
def test_a_run_dated_after_the_business_date_or_before_the_brand_is_refused_and_writes_nothing(
    client: Any, platform: Any, as_of: str, says: str
) -> None:
    tenant = make_tenant(platform)
    before = _heads(platform)
    for job in ("covenant-evaluation", "covenant-notification", "housekeeping"):
        refused = client.post(f"/api/v1/jobs/{job}/runs", json={"as_of": as_of}, headers=tenant.auth)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        (error,) = refused.json()["errors"]
        assert error["field"] == "as_of" and says in error["message"]
    assert _heads(platform) == before
    assert client.get("/api/v1/jobs/covenant-evaluation/runs", headers=tenant.auth).json()["items"] == []


def test_a_run_defaults_to_the_brand_business_date_and_may_be_dated_on_it(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    hold_business_date(platform, tenant, "2026-11-03")
    accepted = client.post("/api/v1/jobs/covenant-evaluation/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run = client.get(f"/api/v1/jobs/runs/{accepted.json()['run_id']}", headers=tenant.auth).json()
    assert run["as_of"] == "2026-11-03" and run["dry_run"] is False
    later = client.post("/api/v1/jobs/covenant-evaluation/runs", json={"as_of": "2026-11-04"}, headers=tenant.auth)
    assert later.status_code == 422 and later.json()["errors"][0]["field"] == "as_of"
    # The message is the portal's too: it says what to do in words, not in the API's syntax ({"dry_run": true}).
    message = later.json()["errors"][0]["message"]
    assert "only a dry run, which writes nothing, may look ahead" in message and "{" not in message, message


def test_a_dry_run_into_the_future_reports_what_evaluation_would_open_and_writes_nothing(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    today = platform.get(Identity).business_date(tenant.brand_id)
    covenant = _covenant(
        client,
        tenant,
        _borrower(client, tenant),
        start_date=today.isoformat(),
        first_due_date=(today + timedelta(days=40)).isoformat(),
        expiry_date=(today + timedelta(days=3 * 365)).isoformat(),
    )
    before = platform.engine.head(Covenants.name)
    accepted = client.post(
        "/api/v1/jobs/covenant-evaluation/runs", json={"as_of": "2199-03-29", "dry_run": True}, headers=tenant.auth
    )
    assert accepted.status_code == 202, accepted.text
    run = _execute(client, platform, tenant, accepted.json()["run_id"])
    assert run["status"] == "succeeded" and run["dry_run"] is True and run["as_of"] == "2199-03-29"
    # Every monthly cycle up to expiry would open (35 or 36 of them, by where today falls in the month).
    # The job counts cycles (processed never below succeeded, as the Jobs page reads them).
    assert run["processed"] == run["succeeded"] >= 35 and run["skipped"] == 0, run
    assert platform.engine.head(Covenants.name) == before
    assert _evaluations(client, tenant, covenant["id"]) == []
    assert (
        client.get(f"/api/v1/covenants/{covenant['id']}", headers=tenant.auth).json()["next_due_date"]
        == (today + timedelta(days=40)).isoformat()
    )


def test_a_dry_run_of_notification_counts_overdue_records_notices_and_emails_and_sends_nothing(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    email = f"dry-{uuid.uuid4().hex[:8]}@example.in"
    covenant = _covenant(client, tenant, _borrower(client, tenant, email), first_due_date="2024-06-30")
    _run(client, platform, tenant, "covenant-evaluation", "2024-06-23")  # the brand operates as of 23 June 2024
    (record,) = _evaluations(client, tenant, covenant["id"])
    real = client.post("/api/v1/jobs/covenant-notification/runs", json={"as_of": "2024-07-10"}, headers=tenant.auth)
    assert real.status_code == 422 and real.json()["errors"][0]["field"] == "as_of"

    before = platform.engine.head(Covenants.name)
    accepted = client.post(
        "/api/v1/jobs/covenant-notification/runs", json={"as_of": "2024-07-10", "dry_run": True}, headers=tenant.auth
    )
    assert accepted.status_code == 202, accepted.text
    run = _execute(client, platform, tenant, accepted.json()["run_id"])
    # Due 30 June + 5 days grace: overdue by 10 July (1), its overdue notice (1), that email (1); no reminder.
    assert (run["status"], run["dry_run"], run["succeeded"]) == ("succeeded", True, 3), run
    assert platform.engine.head(Covenants.name) == before
    assert _mail_to(mail_sink, email) == []
    assert [r["status"] for r in _evaluations(client, tenant, covenant["id"])] == [record["status"]] == ["open"]


def test_a_dry_run_of_a_job_that_cannot_do_one_is_refused(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    refused = client.post("/api/v1/jobs/housekeeping/runs", json={"dry_run": True}, headers=tenant.auth)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "dry_run"
    assert client.get("/api/v1/jobs/housekeeping/runs", headers=tenant.auth).json()["items"] == []


# The bound on queued manual runs --------------------------------------------------------------------------------


def test_queued_manual_runs_are_bounded_per_brand_and_job_with_429_and_retry_after(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    accepted = [
        client.post("/api/v1/jobs/housekeeping/runs", json={}, headers=tenant.auth)
        for _ in range(MAX_QUEUED_MANUAL_RUNS)
    ]
    assert [r.status_code for r in accepted] == [202] * MAX_QUEUED_MANUAL_RUNS
    key = {"Idempotency-Key": uuid.uuid4().hex}
    full = client.post("/api/v1/jobs/housekeeping/runs", json={}, headers=tenant.auth | key)
    assert full.status_code == 429 and full.headers["content-type"] == "application/problem+json"
    assert int(full.headers["retry-after"]) > 0 and full.json()["retry_after"] == int(full.headers["retry-after"])
    assert full.json()["queued"] == MAX_QUEUED_MANUAL_RUNS and "housekeeping" in full.json()["detail"]
    runs = client.get("/api/v1/jobs/housekeeping/runs", headers=tenant.auth).json()["items"]
    assert len(runs) == MAX_QUEUED_MANUAL_RUNS  # the refused request recorded nothing

    # Other jobs of the brand and the same job of another brand have their own queues.
    assert client.post("/api/v1/jobs/covenant-evaluation/runs", json={}, headers=tenant.auth).status_code == 202
    assert client.post("/api/v1/jobs/housekeeping/runs", json={}, headers=other.auth).status_code == 202

    # Once a run has started there is room again, and the same Idempotency-Key now runs the command.
    assert _execute(client, platform, tenant, accepted[0].json()["run_id"])["status"] == "succeeded"
    retried = client.post("/api/v1/jobs/housekeeping/runs", json={}, headers=tenant.auth | key)
    assert retried.status_code == 202 and "idempotent-replayed" not in retried.headers


def test_a_burst_of_parallel_run_requests_queues_exactly_the_bound(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)

    def post(_: int) -> int:
        return int(client.post("/api/v1/jobs/housekeeping/runs", json={}, headers=tenant.auth).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, range(16)))
    assert statuses.count(202) == MAX_QUEUED_MANUAL_RUNS and statuses.count(429) == 16 - MAX_QUEUED_MANUAL_RUNS
    settle(platform, Jobs.name)
    assert (
        len(client.get("/api/v1/jobs/housekeeping/runs", headers=tenant.auth).json()["items"]) == MAX_QUEUED_MANUAL_RUNS
    )


# Schedules -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cron", ["* * * * * *", "*/1 * * * * *", "0 0 31 2 *", "0 9 * *"])
def test_a_schedule_finer_than_a_minute_or_that_never_fires_is_422(client: Any, platform: Any, cron: str) -> None:
    tenant = make_tenant(platform)
    refused = client.patch("/api/v1/jobs/housekeeping", json={"cron": cron}, headers=tenant.auth)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "cron"
    jobs = client.get("/api/v1/jobs", headers=tenant.auth).json()["items"]
    assert next(j for j in jobs if j["name"] == "housekeeping")["settings"]["cron"] == "30 2 * * *"
    accepted = client.patch("/api/v1/jobs/housekeeping", json={"cron": "*/15 * * * *"}, headers=tenant.auth)
    assert accepted.status_code == 200 and accepted.json()["settings"]["cron"] == "*/15 * * * *"


def test_the_notice_sync_job_takes_no_schedule_of_its_own(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    refused = client.patch("/api/v1/jobs/softmedia-sync", json={"cron": "0 * * * *"}, headers=tenant.auth)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "cron"


# A manual notice sync --------------------------------------------------------------------------------------------


@pytest.fixture
def simulator() -> Iterator[SoftmediaSimulator]:
    sim = SoftmediaSimulator(Dataset(date(2026, 11, 28)), token=TOKEN)
    sim.start()
    yield sim
    sim.stop()


def test_a_manual_notice_sync_run_syncs_every_source_or_the_one_named(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    none = client.post("/api/v1/jobs/softmedia-sync/runs", json={}, headers=tenant.auth)
    assert none.status_code == 422 and none.json()["errors"][0]["field"] == "variables.source_id"

    simulator.dataset.upsert(_item("S1", company="SML", name="Meena Iyer"))
    simulator.dataset.upsert(_item("K1", company="KFL", name="Suresh Menon"))
    sources = {company: _source(client, tenant, simulator, company) for company in ("SML", "KFL")}
    accepted = client.post("/api/v1/jobs/softmedia-sync/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_ids = accepted.json()["run_ids"]
    assert len(run_ids) == 2 and accepted.json()["run_id"] == run_ids[0]
    again = client.post("/api/v1/jobs/softmedia-sync/runs", json={}, headers=tenant.auth)
    assert again.status_code == 409  # both are syncing
    for run_id in run_ids:
        run = _execute(client, platform, tenant, run_id)
        assert (run["status"], run["trigger"], run["processed"]) == ("succeeded", "manual", 1), run
    settle(platform, Notices.name)
    notices = client.get("/api/v1/notices/overdue", headers=tenant.auth).json()["items"]
    assert sorted(n["source_notice_id"] for n in notices) == ["K1", "S1"]

    one = client.post(
        "/api/v1/jobs/softmedia-sync/runs", json={"variables": {"source_id": sources["KFL"]}}, headers=tenant.auth
    )
    assert one.status_code == 202 and len(one.json()["run_ids"]) == 1
    run = _execute(client, platform, tenant, one.json()["run_id"])
    assert run["status"] == "succeeded" and run["settings"]["variables"]["source_id"] == sources["KFL"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"as_of": "2026-11-01"}, "as_of"),
        ({"dry_run": True}, "dry_run"),
        ({"filters": {"company": "SML"}}, "filters"),
        ({"variables": {"sync_run_id": str(uuid.uuid4())}}, "variables"),
        ({"variables": {"source_id": "not-an-id"}}, "variables.source_id"),
    ],
)
def test_a_manual_notice_sync_refuses_what_it_cannot_use(
    client: Any, platform: Any, body: dict[str, Any], field: str
) -> None:
    tenant = make_tenant(platform)
    refused = client.post("/api/v1/jobs/softmedia-sync/runs", json=body, headers=tenant.auth)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field, refused.text


def test_a_manual_notice_sync_of_another_brands_source_is_404(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    owner, stranger = make_tenant(platform), make_tenant(platform)
    source_id = _source(client, owner, simulator)
    refused = client.post(
        "/api/v1/jobs/softmedia-sync/runs", json={"variables": {"source_id": source_id}}, headers=stranger.auth
    )
    assert refused.status_code == 404


def test_the_jobs_page_refuses_a_future_run_and_offers_a_dry_run(
    server: str, browser: Any, staff: tuple[Any, str]
) -> None:
    from tests.e2e.conftest import login

    _tenant, email = staff
    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/jobs")
    row = page.locator("#jobs tr:has-text('covenant-evaluation')")
    row.locator("input[name=as_of]").fill("2199-03-29")
    row.locator("button:has-text('Run now')").click()
    page.wait_for_load_state()
    assert "after the brand's business date" in page.content()
    runs = page.locator("#runs")  # the page again, with the refusal at the form: nothing ran
    assert runs.count() == 0 or "2199-03-29" not in runs.inner_text()
    kept = page.locator("#jobs tr:has-text('covenant-evaluation') input[name=as_of]")
    assert kept.input_value() == "2199-03-29"  # what was typed stays in the form

    page.goto(f"{server}/jobs")
    row = page.locator("#jobs tr:has-text('covenant-evaluation')")
    row.locator("input[name=as_of]").fill("2199-03-29")
    row.locator("input[name=dry_run]").check()
    row.locator("button:has-text('Run now')").click()
    page.wait_for_url(f"{server}/jobs?requested=covenant-evaluation&dry_run=1")
    assert "a dry run was asked for" in page.locator("#run-requested").inner_text()
    first = page.locator("#runs tbody tr").first.inner_text()
    assert "covenant-evaluation" in first and "2199-03-29" in first and "dry run" in first
    assert page.locator("#jobs tr:has-text('housekeeping') input[name=dry_run]").count() == 0


def test_a_brand_running_housekeeping_years_ahead_deletes_nothing_of_another_brand(
    client: Any, app: Any, platform: Any
) -> None:
    """Housekeeping purges every brand's records while its run is dated by one brand's business date, which the brand
    sets itself: brand B, its date held in 2031, ran it then and wiped brand A's provider call log, idempotency
    records and running login locks (found by a cross-brand probe: the demo brand's 42 calls went to 0). The cutoff is
    now never later than the clock: A's recent records stay, and what is due is purged as before."""
    from datetime import UTC, datetime

    import psycopg

    from adapters.providers.call_log import CallRecord, ProviderCallLog

    a, b = make_tenant(platform), make_tenant(platform)
    now = datetime.now(UTC)
    calls = platform.get(ProviderCallLog)
    for age in (1, 200):  # a recent call of A's, and one past the 180 days
        calls.record(CallRecord("sms", "simulator", "send_sms", a.brand_id, None, "ok", 202, 5, 1, None,
                                now - timedelta(days=age)))  # fmt: skip
    # What a borrower typed before their session ended: one draft expired an hour ago, one still to be taken back.
    borrower = uuid.uuid4()
    expired = platform.ops.keep_draft(
        a.brand_id, borrower, "/apply/a/steps/pan", {"pan": "X"}, now - timedelta(hours=2)
    )
    live = platform.ops.keep_draft(a.brand_id, borrower, "/apply/a/steps/pan", {"pan": "Y"}, now)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": "Kept Borrower", "phone": "98111 22334"}
    first = client.post("/api/v1/customers", json=body, headers=a.auth | key)
    assert first.status_code == 201, first.text
    email = f"locked-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(
        a.brand_id, email, "Locked Person", ["sales"], "a-long-passphrase-1", granter=OPERATOR
    )
    for _ in range(12):  # enough wrong passwords to lock the account
        client.post("/login", data={"email": email, "password": "wrong-password-000"})

    def throttles() -> int:
        with psycopg.connect(platform.dsn) as conn:
            row = conn.execute("SELECT count(*) FROM ops.login_throttle").fetchone()
        assert row is not None
        return int(row[0])

    locks = throttles()
    assert locks >= 1

    hold_business_date(platform, b, "2031-06-01")
    accepted = client.post("/api/v1/jobs/housekeeping/runs", json={"as_of": "2031-06-01"}, headers=b.auth)
    assert accepted.status_code == 202, accepted.text
    assert _execute(client, platform, b, accepted.json()["run_id"])["status"] == "succeeded"

    kept = client.get("/api/v1/provider-calls", headers=a.auth).json()["items"]
    assert [c["at"][:10] for c in kept] == [(now - timedelta(days=1)).date().isoformat()]  # the old one purged
    again = client.post("/api/v1/customers", json=body, headers=a.auth | key)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true", again.headers
    assert again.json()["id"] == first.json()["id"]
    assert throttles() == locks
    with psycopg.connect(platform.dsn) as conn:  # the expired draft purged (read past its expiry), the live one kept
        rows = conn.execute("SELECT fields FROM ops.borrower_drafts WHERE borrower_id = %s", (borrower,)).fetchall()
    assert [r[0] for r in rows] == [{"pan": "Y"}] and platform.ops.draft(live, now) is not None
    assert platform.ops.draft(expired, now - timedelta(hours=2)) is None


def test_a_run_no_attempt_could_start_for_is_not_counted_as_executed(client: Any, platform: Any) -> None:
    """A run another worker took (the run history, behind, still listing it as due): no attempt starts, yet the
    executor counted it executed and rang the bell, so dispatch - reading the same stale list - handed the same run
    out again in a tight loop until the history caught up. `execute` now says whether an attempt ran, and the
    executor rings the bell only then."""
    import psycopg

    tenant = make_tenant(platform)
    hold_business_date(platform, tenant, "2026-11-03")
    run_id = client.post("/api/v1/jobs/covenant-evaluation/runs", json={}, headers=tenant.auth).json()["run_id"]
    scheduler = scheduler_for(platform)
    assert scheduler.execute(run_id) is True
    assert scheduler.execute(run_id) is False  # done: no attempt to start
    with psycopg.connect(platform.db.dsn, autocommit=True) as conn:
        assert scheduler._execute_in_lane(conn, uuid.UUID(run_id), tenant.brand_id, "covenant-evaluation") is False
