"""Covenant monitoring end to end: API, evaluation and notification jobs, real SMTP."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from domain.covenants.application import Covenants
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.jobs.application import Jobs
from tests.conftest import REFUSED_RECIPIENT, Tenant, make_tenant
from tests.support import mobile, settle
from workers.runtime import scheduler_for


def _borrower(client: Any, tenant: Tenant, email: str | None = None) -> str:
    phone = mobile("9")
    body = {"name": "Suresh Menon", "phone": phone} | ({"email": email} if email else {})
    created = client.post("/api/v1/customers", json=body, headers=tenant.auth)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _covenant(client: Any, tenant: Tenant, customer_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "customer_id": customer_id,
        "application_ref": "APP-2024-001",
        "title": "Debt service coverage",
        "type": "financial",
        "metric": "DSCR",
        "operator": ">=",
        "threshold": "1.25",
        "frequency": "monthly",
        "start_date": "2024-01-01",
        "first_due_date": "2024-01-31",
        "expiry_date": "2024-12-31",
        "grace_days": 5,
        "notification_lead_days": 7,
    } | overrides
    created = client.post("/api/v1/covenants", json=body, headers=tenant.auth)
    assert created.status_code == 201, created.text
    return dict(created.json())


def hold_business_date(platform: Any, tenant: Tenant, as_of: str) -> None:
    """Operate the brand as of `as_of` (its configured business date), so job runs may be dated then."""
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"business_date": as_of})
    settle(platform, "identity", result.position)


def _run(client: Any, platform: Any, tenant: Tenant, job: str, as_of: str) -> dict[str, Any]:
    hold_business_date(platform, tenant, as_of)
    accepted = client.post(f"/api/v1/jobs/{job}/runs", json={"as_of": as_of}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    settle(platform, "covenants")
    return dict(client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def _evaluations(client: Any, tenant: Tenant, covenant_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/api/v1/covenants/{covenant_id}/evaluations", headers=tenant.auth).json()["items"])


def _mail_to(mail_sink: Any, recipient: str) -> list[Any]:
    return [m for m in mail_sink.messages if m["To"] == recipient]


def test_bad_covenants_are_refused_with_each_field_named(client: Any, tenant: Tenant) -> None:
    customer = _borrower(client, tenant)
    base = {
        "customer_id": customer, "application_ref": "APP-1", "title": "Stock statement", "type": "document",
        "document": "Stock statement", "frequency": "monthly", "start_date": "2024-01-01",
        "first_due_date": "2024-01-31", "expiry_date": "2024-12-31",
    }  # fmt: skip
    cases = [
        ({"expiry_date": "2023-12-31"}, {"expiry_date"}),
        ({"first_due_date": "2025-01-31"}, {"first_due_date"}),
        ({"frequency": "weekly"}, {"frequency"}),
        ({"type": "vibes"}, {"type"}),
        ({"type": "financial", "document": None}, {"metric", "operator", "threshold"}),
        ({"type": "financial", "metric": "DSCR", "operator": "~", "threshold": "1.2"}, {"operator"}),
        ({"type": "financial", "metric": "DSCR", "operator": ">=", "threshold": "lots"}, {"threshold"}),
        ({"customer_id": str(uuid.uuid4())}, {"customer_id"}),
    ]
    for change, fields in cases:
        response = client.post("/api/v1/covenants", json=base | change, headers=tenant.auth)
        assert response.status_code == 422, (change, response.text)
        assert {e["field"] for e in response.json()["errors"]} == fields, change


def test_evaluation_job_opens_one_record_per_cycle_across_month_ends_and_reruns_change_nothing(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    customer = _borrower(client, tenant)
    covenant = _covenant(client, tenant, customer)
    assert covenant["next_due_date"] == "2024-01-31" and covenant["next_evaluation_date"] == "2024-01-24"
    assert _run(client, platform, tenant, "covenant-evaluation", "2024-01-23")["succeeded"] == 0
    first = _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    assert first["status"] == "succeeded" and first["succeeded"] == 1
    assert _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")["succeeded"] == 0
    _run(client, platform, tenant, "covenant-evaluation", "2024-04-25")
    records = _evaluations(client, tenant, covenant["id"])
    assert [(r["cycle"], r["due_date"], r["status"]) for r in records] == [
        (4, "2024-04-30", "open"), (3, "2024-03-31", "open"), (2, "2024-02-29", "open"), (1, "2024-01-31", "open"),
    ]  # fmt: skip
    assert (
        client.get(f"/api/v1/covenants/{covenant['id']}", headers=tenant.auth).json()["next_due_date"] == "2024-05-31"
    )


def test_the_cycles_the_evaluation_job_opens_on_its_worker_thread_name_the_job_and_its_run(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    covenant = _covenant(client, tenant, _borrower(client, tenant))
    run = _run(client, platform, tenant, "covenant-evaluation", "2024-02-25")
    # one covenant two cycles behind: the job counts cycles, so processed is never below succeeded
    assert (run["processed"], run["succeeded"], run["failed"], run["skipped"]) == (2, 2, 0, 0), run
    covenants = platform.get(Covenants)
    opened = [e for e in covenants.events.get(uuid.UUID(covenant["id"])) if type(e).__name__ == "CycleOpened"]
    records = [next(iter(covenants.events.get(e.evaluation_id))) for e in opened]
    assert [e.cycle for e in opened] == [1, 2] and [type(r).__name__ for r in records] == ["Opened", "Opened"]
    assert {(e.actor, e.trace_id) for e in [*opened, *records]} == {("job:covenant-evaluation", f"job-run:{run['id']}")}
    # the run's own events after its request (the attempt's start, its batches, its end) are traced to it too: on a
    # Kafka topic their `trace_id` header names the run, not each event's own id
    trail = list(platform.get(Jobs).events.get(uuid.UUID(run["id"])))
    assert [type(e).__name__ for e in trail][1:] == ["AttemptStarted", "BatchCompleted", "Succeeded"], trail
    assert {e.trace_id for e in trail[1:]} == {f"job-run:{run['id']}"}, [(type(e).__name__, e.trace_id) for e in trail]


def test_reviews_follow_the_status_rules_and_need_the_review_permission(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    stranger = make_tenant(platform, role="loan_ops")
    ops = Tenant(
        tenant.brand_id,
        tenant.slug,
        platform.get(Identity).issue_api_key(tenant.brand_id, "loan_ops", "ops", granter=OPERATOR).secret,
    )
    covenant = _covenant(client, tenant, _borrower(client, tenant))
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    (record,) = _evaluations(client, tenant, covenant["id"])
    url = f"/api/v1/covenant-evaluations/{record['id']}"
    assert client.post(f"{url}/comply", json={"evidence": "xyz"}, headers=stranger.auth).status_code == 404
    collector_same_brand = Tenant(
        tenant.brand_id,
        tenant.slug,
        platform.get(Identity).issue_api_key(tenant.brand_id, "collection_executive", "c", granter=OPERATOR).secret,
    )
    assert (
        client.post(f"{url}/comply", json={"evidence": "Audited FY24"}, headers=collector_same_brand.auth).status_code
        == 403
    )
    assert client.post(f"{url}/submit-value", json={"value": "abc"}, headers=ops.auth).status_code == 422
    assert client.post(f"{url}/comply", json={"evidence": "Audited FY24"}, headers=ops.auth).status_code == 409
    failing = client.post(f"{url}/submit-value", json={"value": "1.1"}, headers=ops.auth).json()
    assert failing["passed"] is False and failing["value"] == "1.1"
    refused = client.post(f"{url}/comply", json={"evidence": "Audited FY24"}, headers=ops.auth)
    assert refused.status_code == 409 and "fails DSCR >= 1.25" in refused.json()["detail"]
    client.post(f"{url}/submit-value", json={"value": 1.4}, headers=ops.auth)
    complied = client.post(f"{url}/comply", json={"evidence": "Audited FY24"}, headers=ops.auth)
    assert complied.status_code == 200 and complied.json()["status"] == "complied"
    for action, body in (
        ("waive", {"reason": "late"}),
        ("comply", {"evidence": "again"}),
        ("submit-value", {"value": "2"}),
    ):
        closed = client.post(f"{url}/{action}", json=body, headers=ops.auth)
        assert closed.status_code == 409 and "closed" in closed.json()["detail"]
    assert len(_evaluations(client, tenant, covenant["id"])) == 1  # the same record was updated


def test_notifications_group_by_application_mark_overdue_and_never_repeat(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    email = f"borrower-{uuid.uuid4().hex[:6]}@example.in"
    customer = _borrower(client, tenant, email)
    dscr = _covenant(client, tenant, customer, first_due_date="2024-03-31", grace_days=3)
    stock = _covenant(client, tenant, customer, first_due_date="2024-03-31", title="Stock statement", type="document",
                      document="Monthly stock statement", metric=None, operator=None, threshold=None, grace_days=3)  # fmt: skip
    other_app = _covenant(client, tenant, customer, first_due_date="2024-03-31", application_ref="APP-2024-002",
                          title="Insurance renewal",
        grace_days=3, type="other", metric=None, operator=None, threshold=None)  # fmt: skip
    _run(client, platform, tenant, "covenant-evaluation", "2024-03-24")
    before = len(_mail_to(mail_sink, email))
    reminders = _run(client, platform, tenant, "covenant-notification", "2024-03-24")
    assert reminders["status"] == "succeeded", reminders
    mails = _mail_to(mail_sink, email)[before:]
    assert len(mails) == 2  # one per application
    grouped = next(m for m in mails if "APP-2024-001" in m["Subject"])
    assert grouped["Subject"].startswith("Reminder: 2 covenants due 31 Mar 2024")
    text = grouped.get_body(preferencelist=("plain",)).get_content()
    html = grouped.get_body(preferencelist=("html",)).get_content()
    assert (
        "Debt service coverage" in text
        and "Stock statement" in text
        and "DSCR &gt;= 1.25" in html
        and "DSCR >= 1.25" in text
    )
    assert grouped["Message-ID"].startswith("<notice-")

    _run(client, platform, tenant, "covenant-notification", "2024-03-24")  # a rerun sends nothing new
    assert len(_mail_to(mail_sink, email)) == before + 2

    # Still open after due date + 3 grace days: overdue on 4 April, not on 3 April.
    _run(client, platform, tenant, "covenant-notification", "2024-04-03")
    assert {r["status"] for r in _evaluations(client, tenant, dscr["id"])} == {"open"}
    ops = Tenant(
        tenant.brand_id,
        tenant.slug,
        platform.get(Identity).issue_api_key(tenant.brand_id, "loan_ops", "ops", granter=OPERATOR).secret,
    )
    (stock_record,) = _evaluations(client, tenant, stock["id"])
    client.post(
        f"/api/v1/covenant-evaluations/{stock_record['id']}/comply", json={"evidence": "DMS-7"}, headers=ops.auth
    )
    overdue_run = _run(client, platform, tenant, "covenant-notification", "2024-04-04")
    assert overdue_run["status"] == "succeeded"
    assert [r["status"] for r in _evaluations(client, tenant, dscr["id"])] == ["overdue"]
    assert [r["status"] for r in _evaluations(client, tenant, stock["id"])] == ["complied"]
    overdue_mails = [m for m in _mail_to(mail_sink, email) if m["Subject"].startswith("Overdue")]
    assert sorted(m["Subject"] for m in overdue_mails) == [
        "Overdue: Debt service coverage due 31 Mar 2024 (APP-2024-001)",
        "Overdue: Insurance renewal due 31 Mar 2024 (APP-2024-002)",
    ]
    _run(client, platform, tenant, "covenant-notification", "2024-04-05")
    assert len([m for m in _mail_to(mail_sink, email) if m["Subject"].startswith("Overdue")]) == 2
    counts = client.get("/api/v1/covenant-dashboard", headers=tenant.auth).json()
    assert counts["overdue"] == 2 and counts["complied"] == 1
    notices = client.get("/api/v1/covenant-notices", params={"customer_id": customer}, headers=tenant.auth).json()[
        "items"
    ]
    assert len(notices) == 4 and {n["status"] for n in notices} == {"sent"}
    assert other_app["id"]


def test_a_notification_run_killed_mid_way_finishes_on_retry_without_duplicates(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    recipients = []
    for i in range(5):
        email = f"killed-{i}-{uuid.uuid4().hex[:6]}@example.in"
        recipients.append(email)
        _covenant(client, tenant, _borrower(client, tenant, email), first_due_date="2024-06-30", title=f"Covenant {i}")
    _run(client, platform, tenant, "covenant-evaluation", "2024-06-23")
    configured = client.patch(
        "/api/v1/jobs/covenant-notification", json={"retry_interval_seconds": 0}, headers=tenant.auth
    )
    assert configured.status_code == 200
    accepted = client.post(
        "/api/v1/jobs/covenant-notification/runs", json={"as_of": "2024-06-23", "batch_size": 2}, headers=tenant.auth
    )
    run_id = uuid.UUID(accepted.json()["run_id"])
    settle(platform, "jobs")
    run = platform.get(Jobs).start_attempt(run_id, "doomed-worker")
    batches = platform.job_handlers()["covenant-notification"](run)
    # The worker dies after queueing the reminders and sending the first batch of two (the next batch of two goes
    # out while the first one is recorded: some or all of it may be sent too, and is on record as handed over).
    for counts, cursor in batches:
        platform.get(Jobs).complete_batch(run, counts, cursor)
        if cursor == "send":
            break
    batches.close()
    sent_before_crash = sum(len(_mail_to(mail_sink, r)) for r in recipients)
    assert 2 <= sent_before_crash <= 4
    platform.get(Jobs).fail_attempt(run, "worker killed")  # what stalled-run recovery records
    scheduler_for(platform).execute(run_id)
    assert platform.get(Jobs).run(tenant.brand_id, run_id).status.value == "succeeded"
    assert [len(_mail_to(mail_sink, r)) for r in recipients] == [1, 1, 1, 1, 1]


def test_an_email_the_server_refuses_stays_owed_and_the_run_fails_for_its_retry(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    """The server answers 550 to one borrower's address: the others' reminders go out once, the refused one is
    recorded as a failed send (still queued, never marked sent) and the attempt fails (with retries, the scheduler
    would try again); a later run sends nothing twice and tries the refused notice again."""
    tenant = make_tenant(platform)
    good = [f"owed-{i}-{uuid.uuid4().hex[:6]}@example.in" for i in range(3)]
    customers = {}
    for email in [*good, REFUSED_RECIPIENT]:
        customers[email] = _borrower(client, tenant, email)
        _covenant(client, tenant, customers[email], first_due_date="2024-06-30", title="Stock statement")
    _run(client, platform, tenant, "covenant-evaluation", "2024-06-23")
    # No retries and, at the end, the job off: no worker process another test starts on this session's database may
    # take this brand's failed run or owed notice up (it would mail that test's own server).
    configured = client.patch("/api/v1/jobs/covenant-notification", json={"retry_count": 0}, headers=tenant.auth)
    assert configured.status_code == 200, configured.text

    first = _run(client, platform, tenant, "covenant-notification", "2024-06-23")
    assert (first["status"], first["failed"]) == ("failed", 1), first
    assert "1 email(s) were not accepted by the mail server" in first["error"]
    assert [len(_mail_to(mail_sink, r)) for r in good] == [1, 1, 1]
    assert _mail_to(mail_sink, REFUSED_RECIPIENT) == []

    def notices(email: str) -> list[dict[str, Any]]:
        found = client.get("/api/v1/covenant-notices", params={"customer_id": customers[email]}, headers=tenant.auth)
        assert found.status_code == 200, found.text
        return list(found.json()["items"])

    assert [[n["status"] for n in notices(r)] for r in good] == [["sent"], ["sent"], ["sent"]]
    (refused,) = notices(REFUSED_RECIPIENT)
    assert (refused["status"], refused["failures"], refused["sent_at"]) == ("queued", 1, None), refused
    assert refused["error"].startswith("refused: 550 5.1.1 <closed.mailbox@refused.example.in>")

    again = _run(client, platform, tenant, "covenant-notification", "2024-06-23")  # a new run tries it again
    assert (again["status"], again["failed"]) == ("failed", 1), again
    assert [len(_mail_to(mail_sink, r)) for r in good] == [1, 1, 1]  # nothing sent twice
    assert _mail_to(mail_sink, REFUSED_RECIPIENT) == []
    (still,) = notices(REFUSED_RECIPIENT)
    assert (still["id"], still["status"], still["failures"]) == (refused["id"], "queued", 2), still
    disabled = client.patch("/api/v1/jobs/covenant-notification", json={"enabled": False}, headers=tenant.auth)
    assert disabled.status_code == 200, disabled.text


@pytest.mark.parametrize("as_of", ["2024-02-22", "2028-02-22"])
def test_leap_year_month_end_cycles(client: Any, platform: Any, as_of: str) -> None:
    tenant = make_tenant(platform)
    covenant = _covenant(
        client, tenant, _borrower(client, tenant), first_due_date="2024-01-31", expiry_date="2028-12-31"
    )
    _run(client, platform, tenant, "covenant-evaluation", as_of)
    dues = [r["due_date"] for r in _evaluations(client, tenant, covenant["id"])]
    assert dues[0] == f"{as_of[:4]}-02-29" and dues[1] == f"{as_of[:4]}-01-31"
    assert len(dues) == len(set(dues)) == (2 if as_of.startswith("2024") else 50)
    assert date.fromisoformat(dues[0]).day == 29


def test_covenant_review_in_the_portal(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, platform: Any
) -> None:
    from tests.e2e.conftest import ARTIFACTS, login

    tenant, email = staff
    customer = _borrower(client, tenant)
    covenant = _covenant(client, tenant, customer, first_due_date="2024-01-31")
    _run(client, platform, tenant, "covenant-evaluation", "2024-02-10")
    _run(client, platform, tenant, "covenant-notification", "2024-02-10")  # 31 Jan + 5 days grace: overdue
    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/dashboard")
    assert page.locator("#covenant-kpis .kpi.bad .figure").inner_text() == "1"
    page.click("#covenant-kpis .kpi.bad")
    page.wait_for_selector("#worklist")
    page.click(f"#worklist a[href='/covenants/{covenant['id']}']")
    page.wait_for_selector("#evaluations")
    row = page.locator("#evaluations tbody tr").first
    assert "overdue" in row.inner_text()
    row.locator("input[name=text]").first.fill("0.9")
    row.locator("button:has-text('Submit value')").click()
    page.wait_for_selector("#evaluations")
    assert "fail" in page.locator("#evaluations tbody tr").first.inner_text()
    row = page.locator("#evaluations tbody tr").first
    row.locator("form[action$='/comply'] input[name=text]").fill("Q4 statements")
    row.locator("button:has-text('Comply')").click()
    assert "fails DSCR" in page.locator(".alert").inner_text()
    row = page.locator("#evaluations tbody tr").first
    row.locator("form[action$='/waive'] input[name=text]").fill("Covid relief per board note 12")
    row.locator("button:has-text('Waive')").click()
    page.wait_for_selector("#evaluations")
    assert "waived" in page.locator("#evaluations tbody tr").first.inner_text()
    page.goto(f"{server}/customers/{customer}")
    assert "Debt service coverage" in page.locator("#customer-covenants").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "customer-360-covenants.png"), full_page=True)
