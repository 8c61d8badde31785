"""Repayment operations end to end: a Softmedia simulator on loopback, sync runs, matching, feeds and KPIs."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.simulators.softmedia import Dataset, SoftmediaSimulator
from adapters.softmedia import SoftmediaClient
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.notices.application import Notices
from domain.notices.triggering import JOB, job_run_id
from projections.notice_queries import EnabledSource, NoticeQueries
from tests.conftest import Tenant, make_tenant
from tests.support import settle
from workers import notice_sync
from workers.notice_sync import NoticeJobPort, Rematcher
from workers.runtime import scheduler_for

TODAY = date(2026, 11, 28)
TOKEN = "sim-token-for-tests"


def _item(
    notice_id: str,
    *,
    company: str = "SML",
    loan: str = "",
    name: str = "Stranger Person",
    phone: str = "",
    days: int = 10,
    amount: str = "1000.00",
    mode: str = "overdue",
    instalment: int = 3,
) -> dict[str, Any]:
    due = TODAY - timedelta(days=days) if mode == "overdue" else TODAY + timedelta(days=days)
    return {
        "notice_id": notice_id,
        "company_code": company,
        "loan_number": loan,
        "customer_name": name,
        "phone": phone,
        "due_date": due.isoformat(),
        "instalment_no": instalment,
        "amount_due": amount,
        "days_overdue": days if mode == "overdue" else 0,
        "mode": mode,
        "updated_at": "2026-11-27T10:00:00+05:30",
    }


@pytest.fixture
def simulator() -> Iterator[SoftmediaSimulator]:
    sim = SoftmediaSimulator(Dataset(TODAY), token=TOKEN)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(autouse=True)
def small_pages() -> Iterator[None]:
    """Pages of 3 and quick retries, so a handful of notices spans pages and faults do not slow the suite."""
    original = notice_sync.client_factory
    notice_sync.client_factory = lambda url, token: SoftmediaClient(
        url, token, page_size=3, timeout=2.0, max_retries=2, backoff_base=0.01, backoff_max=0.05
    )
    yield
    notice_sync.client_factory = original


class _SourcesOf(NoticeQueries):
    """The notice queries with `enabled_sources` narrowed to some brands' sources."""

    def __init__(self, pool: Any, brands: Collection[uuid.UUID]) -> None:
        super().__init__(pool)
        self.brands = frozenset(brands)

    def enabled_sources(self) -> list[EnabledSource]:
        return [source for source in super().enabled_sources() if source.brand_id in self.brands]


def _slots_port(platform: Any, *brands: uuid.UUID) -> NoticeJobPort:
    """The sync job's port passing over the sources of `brands` only: `fire_source_slots` takes every enabled source
    in the database, other tests' too, and would start schedule slots (and request syncs) on brands this test did
    not make."""
    port = platform.port(NoticeJobPort)
    return dataclasses.replace(port, notice_queries=_SourcesOf(port.notice_queries.pool, brands))


@pytest.fixture
def hand_made_sources(platform: Any) -> Iterator[list[uuid.UUID]]:
    """Ids of `read.notice_sources` rows a test inserts by hand (no events behind them): deleted afterwards with the
    schedule slots fired for them, so that no later test or whole-table check meets them."""
    ids: list[uuid.UUID] = []
    yield ids
    with platform.db.pool.connection() as conn:
        conn.execute("DELETE FROM ops.schedule_slots WHERE job_name = ANY(%s)", ([f"{JOB}:{i}" for i in ids],))
        conn.execute("DELETE FROM read.notice_sources WHERE id = ANY(%s)", (ids,))


def _borrower(client: Any, tenant: Tenant, name: str, phone: str, loans: list[str] | None = None) -> str:
    body = {"name": name, "phone": phone, "loan_numbers": loans or []}
    created = client.post("/api/v1/customers", json=body, headers=tenant.auth)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _source(client: Any, tenant: Tenant, simulator: SoftmediaSimulator, company: str = "SML") -> str:
    created = client.post(
        "/api/v1/notice-sources",
        json={"company": company, "base_url": simulator.base_url, "token": TOKEN, "schedule": "*/30 * * * *"},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    assert created.json()["token"].endswith(TOKEN[-4:]) and TOKEN not in created.text
    return str(created.json()["id"])


def _sync(client: Any, platform: Any, tenant: Tenant, source_id: str) -> dict[str, Any]:
    accepted = client.post(f"/api/v1/notice-sources/{source_id}/sync", headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(job_run_id(uuid.UUID(run_id)))
    settle(platform, "notices")
    run = client.get(f"/api/v1/sync-runs/{run_id}", headers=tenant.auth)
    assert run.status_code == 200, run.text
    return dict(run.json())


def _feed(client: Any, tenant: Tenant, kind: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(
            f"/api/v1/notices/{kind}", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=tenant.auth,
        )  # fmt: skip
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def test_sync_imports_matches_ranks_and_reruns_without_writing(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    meena = _borrower(client, tenant, "Meena Iyer", "9876500011", ["SML0000000011"])
    suresh = _borrower(client, tenant, "Suresh Kumar Menon", "9876500022")
    farida = _borrower(client, tenant, "Farida Begum Shaikh", "9876500033")
    simulator.dataset.upsert(_item("N1", loan="SML0000000011", name="MEENA IYER", days=40, amount="5000.00"))
    simulator.dataset.upsert(_item("N2", phone="098765-00022", name="Mr. Suresh Menon", days=40, amount="9000.00"))
    simulator.dataset.upsert(_item("N3", phone="+91 98765 00022", name="Lakshmi Menon", days=5, amount="700.50"))
    simulator.dataset.upsert(_item("N4", name="Farida Begum Shaikh", days=90, amount="1200.00"))
    simulator.dataset.upsert(_item("N5", name="Zorawar Thakkar", phone="9123412345", days=40, amount="8000.00"))
    simulator.dataset.upsert(_item("U1", loan="SML0000000011", name="Meena Iyer", days=3, mode="upcoming"))
    simulator.dataset.upsert(_item("U2", name="Zorawar Thakkar", days=1, amount="300.00", mode="upcoming"))
    source_id = _source(client, tenant, simulator)

    run = _sync(client, platform, tenant, source_id)
    assert run["status"] == "succeeded", run
    assert (run["fetched"], run["created"], run["unchanged"], run["inactivated"]) == (7, 7, 0, 0)
    assert run["pages"] == 3  # 5 overdue in pages of 3, then 2 upcoming

    overdue = _feed(client, tenant, "overdue")
    # Longest overdue first, then highest amount, then company.
    assert [n["source_notice_id"] for n in overdue] == ["N4", "N2", "N5", "N1", "N3"]
    by_id = {n["source_notice_id"]: n for n in overdue}
    assert by_id["N1"]["match"]["customer_id"] == meena and by_id["N1"]["match"]["band"] == "high"
    assert "loan_number" in by_id["N1"]["match"]["methods"]
    assert by_id["N2"]["match"]["customer_id"] == suresh and by_id["N2"]["match"]["band"] == "high"
    assert by_id["N3"]["match"]["customer_id"] == suresh and by_id["N3"]["match"]["band"] == "medium"
    assert by_id["N4"]["match"]["customer_id"] == farida and by_id["N4"]["match"]["band"] in ("medium", "low")
    assert by_id["N4"]["match"]["methods"] == ["name"]
    assert by_id["N5"]["match"]["customer_id"] is None and by_id["N5"]["match"]["band"] == "unmatched"
    window = {"due_from": (TODAY - timedelta(days=45)).isoformat(), "due_to": (TODAY - timedelta(days=1)).isoformat()}
    assert [n["source_notice_id"] for n in _feed(client, tenant, "overdue", **window)] == ["N2", "N5", "N1", "N3"]
    upcoming = _feed(client, tenant, "upcoming")
    assert [n["source_notice_id"] for n in upcoming] == ["U2", "U1"]

    kpis = client.get("/api/v1/notices/dashboard", headers=tenant.auth).json()
    assert kpis["overdue"] == {"count": 5, "amount": "23900.50"}
    assert kpis["upcoming"] == {"count": 2, "amount": "1300.00"}
    assert kpis["longest_overdue"]["source_notice_id"] == "N4"
    assert kpis["highest_amount"]["source_notice_id"] == "N2"
    assert kpis["companies"] == ["SML"]

    detail = client.get(f"/api/v1/notices/{by_id['N1']['id']}", headers=tenant.auth).json()
    assert [h["kind"] for h in detail["history"]][-1] == "imported" and detail["match"]["confidence"] >= 80
    on_360 = client.get(f"/api/v1/customers/{meena}/notices", headers=tenant.auth).json()["items"]
    assert {n["source_notice_id"] for n in on_360} == {"N1", "U1"}

    events_before = platform.get(Notices).recorder.max_notification_id()
    again = _sync(client, platform, tenant, source_id)
    assert again["status"] == "succeeded" and again["unchanged"] == 7 and again["created"] == 0
    # The rerun wrote only its own run record (started, three pages, finished) and the source's start and end.
    assert platform.get(Notices).recorder.max_notification_id() - events_before == 1 + 3 + 1 + 2


def test_a_notice_whose_borrower_details_change_at_the_source_is_matched_again_on_the_next_sync(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    """The sync matches a page's new and changed notices a page ahead (told which from the read model); a notice
    whose name and phone change is matched again, one whose amount alone changes keeps its match."""
    tenant = make_tenant(platform)
    kavya = _borrower(client, tenant, "Kavya Raghunathan", "9876511144")
    simulator.dataset.upsert(_item("C1", name="Stranger Person", phone="9123400001", days=12))
    simulator.dataset.upsert(_item("C2", name="Kavya Raghunathan", phone="9876511144", days=15))
    source_id = _source(client, tenant, simulator)
    _sync(client, platform, tenant, source_id)
    by_id = {n["source_notice_id"]: n for n in _feed(client, tenant, "overdue")}
    assert by_id["C1"]["match"]["customer_id"] is None
    assert by_id["C2"]["match"]["customer_id"] == kavya and by_id["C2"]["match"]["band"] == "high"

    simulator.dataset.upsert(_item("C1", name="Kavya Raghunathan", phone="98765 11144", days=12))
    simulator.dataset.upsert(_item("C2", name="Kavya Raghunathan", phone="9876511144", days=15, amount="2500.00"))
    simulator.dataset.upsert(_item("C3", name="Kavya Raghunathan", phone="+919876511144", days=20))
    run = _sync(client, platform, tenant, source_id)
    assert (run["created"], run["updated"]) == (1, 2), run
    by_id = {n["source_notice_id"]: n for n in _feed(client, tenant, "overdue")}
    for notice in ("C1", "C3"):
        assert by_id[notice]["match"]["customer_id"] == kavya and by_id[notice]["match"]["band"] == "high"
        assert by_id[notice]["match"]["methods"] == ["phone", "name"]
    history = client.get(f"/api/v1/notices/{by_id['C1']['id']}", headers=tenant.auth).json()["history"]
    reasons = [h["detail"]["reason"] for h in reversed(history) if h["kind"] in ("matched", "unmatched")]
    assert reasons == ["imported", "source changed"]
    kept = client.get(f"/api/v1/notices/{by_id['C2']['id']}", headers=tenant.auth).json()
    assert kept["amount_due"] == "2500.00" and kept["match"]["customer_id"] == kavya
    assert [h["detail"]["reason"] for h in kept["history"] if h["kind"] == "matched"] == ["imported"]


def test_stale_notice_is_marked_inactive_and_reappearing_one_is_reactivated(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    for i in range(4):
        simulator.dataset.upsert(_item(f"S{i}", days=10 + i, amount=f"{100 * (i + 1)}.00"))
    source_id = _source(client, tenant, simulator)
    _sync(client, platform, tenant, source_id)

    simulator.dataset.remove("SML", "S1")
    simulator.dataset.change("SML", "S2", amount_due="999.99", days_overdue=45)
    run = _sync(client, platform, tenant, source_id)
    assert (run["status"], run["inactivated"], run["updated"], run["unchanged"]) == ("succeeded", 1, 1, 2)
    assert [n["source_notice_id"] for n in _feed(client, tenant, "overdue")] == ["S2", "S3", "S0"]
    kpis = client.get("/api/v1/notices/dashboard", headers=tenant.auth).json()
    assert kpis["overdue"] == {"count": 3, "amount": str(Decimal("100.00") + Decimal("999.99") + Decimal("400.00"))}

    simulator.dataset.upsert(_item("S1", days=11, amount="200.00"))
    run = _sync(client, platform, tenant, source_id)
    assert run["reactivated"] == 1 and run["inactivated"] == 0
    s1 = next(n for n in _feed(client, tenant, "overdue") if n["source_notice_id"] == "S1")
    history = client.get(f"/api/v1/notices/{s1['id']}", headers=tenant.auth).json()["history"]
    assert [h["kind"] for h in history][:2] == ["reactivated", "inactivated"]


def test_a_failed_or_partial_run_inactivates_nothing_and_health_degrades(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    for i in range(7):
        simulator.dataset.upsert(_item(f"P{i}", days=5 + i))
    source_id = _source(client, tenant, simulator)
    assert _sync(client, platform, tenant, source_id)["status"] == "succeeded"

    simulator.dataset.remove("SML", "P0")
    simulator.fail_at_page(2, status=503, times=10)  # outlasts the retries: page 1 pulled, then the pull stops
    run = _sync(client, platform, tenant, source_id)
    assert run["status"] == "partial" and run["inactivated"] == 0 and "503" in (run["error"] or "")
    assert len(_feed(client, tenant, "overdue")) == 7  # P0 is still active: the pull was not complete

    simulator.reset_faults()
    simulator.fail_next(10, status=401)
    failed = _sync(client, platform, tenant, source_id)
    assert failed["status"] == "failed" and failed["pages"] == 0
    source = client.get(f"/api/v1/notice-sources/{source_id}", headers=tenant.auth).json()
    assert source["health"]["consecutive_failures"] == 2 and source["health"]["state"] == "degraded"
    assert source["health"]["last_error"] and source["running_run_id"] is None

    simulator.reset_faults()
    assert _sync(client, platform, tenant, source_id)["inactivated"] == 1
    source = client.get(f"/api/v1/notice-sources/{source_id}", headers=tenant.auth).json()
    assert source["health"]["state"] == "healthy" and source["health"]["consecutive_failures"] == 0


def test_malformed_and_repeated_items_are_counted_and_retried_faults_recover(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    for i in range(9):
        simulator.dataset.upsert(_item(f"M{i}", days=5 + i))
    source_id = _source(client, tenant, simulator)
    simulator.malformed_every(3)
    simulator.repeat_items(True)
    simulator.rate_limit_next(1, retry_after=0)
    run = _sync(client, platform, tenant, source_id)
    assert run["status"] == "succeeded" and run["malformed"] >= 3 and run["retries"] >= 1
    # Every item fetched is accounted for: new, seen again on a later page (a repeat), or skipped as malformed.
    assert run["created"] + run["unchanged"] + run["malformed"] == run["fetched"]
    assert run["fetched"] > 9 and run["created"] < 9  # repeats came in; broken items were not imported
    assert run["malformed_examples"]


def test_a_second_sync_while_one_runs_is_409_naming_the_running_run(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    source_id = _source(client, tenant, simulator)
    first = client.post(f"/api/v1/notice-sources/{source_id}/sync", headers=tenant.auth)
    assert first.status_code == 202
    second = client.post(f"/api/v1/notice-sources/{source_id}/sync", headers=tenant.auth)
    assert second.status_code == 409 and second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["running_run_id"] == first.json()["run_id"]
    scheduler_for(platform).execute(job_run_id(uuid.UUID(first.json()["run_id"])))
    assert client.post(f"/api/v1/notice-sources/{source_id}/sync", headers=tenant.auth).status_code == 202


def test_bad_sources_are_refused_and_nothing_is_written(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    bad = client.post(
        "/api/v1/notice-sources",
        json={"company": "S M L", "base_url": "ftp://x", "token": "short", "schedule": "every day"},
        headers=tenant.auth,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"company", "base_url", "token", "schedule"}
    # A token no HTTP header carries: another script's letters (every sync failed as it built its request), spaces.
    for token in ("टोकन-1234-5678", "tok 1234 5678", " tok-1234-5678"):
        refused = client.post(
            "/api/v1/notice-sources",
            json={"company": "SML", "base_url": "http://127.0.0.1:9", "token": token, "schedule": "0 * * * *"},
            headers=tenant.auth,
        )
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["token"], token
    assert client.get("/api/v1/notice-sources", headers=tenant.auth).json()["items"] == []


def test_notices_rematch_when_a_borrower_record_changes(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    borrower = _borrower(client, tenant, "Gurpreet Singh Sandhu", "9811100044")
    simulator.dataset.upsert(_item("R1", loan="SML0000009999", name="Harjeet Kaur", phone="9822200055", days=30))
    source_id = _source(client, tenant, simulator)
    _sync(client, platform, tenant, source_id)
    (before,) = _feed(client, tenant, "overdue")
    assert before["match"]["customer_id"] is None

    linked = client.post(
        f"/api/v1/customers/{borrower}/loan-numbers", json={"loan_number": "SML0000009999"}, headers=tenant.auth
    )
    assert linked.status_code == 201, linked.text
    settle(platform, "customers")
    rematcher = Rematcher(platform.port(NoticeJobPort))
    while rematcher.drain():  # the queue also holds borrowers other tests changed
        continue
    settle(platform, "notices")
    (after,) = _feed(client, tenant, "overdue")
    assert after["match"]["customer_id"] == borrower and after["match"]["band"] == "high"
    assert after["match"]["methods"] == ["loan_number"]


def test_a_name_written_with_an_initial_matches_and_a_renamed_borrower_is_found_by_the_new_name(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    borrower = _borrower(client, tenant, "Karthikeyan Ramaswamy", "9811100066")
    simulator.dataset.upsert(_item("I1", name="R. Karthikeyan", phone="9822200077", days=20))
    simulator.dataset.upsert(_item("I2", name="Tanusree Patnaik", phone="9822200088", days=10))
    source_id = _source(client, tenant, simulator)
    _sync(client, platform, tenant, source_id)
    by_id = {n["source_notice_id"]: n for n in _feed(client, tenant, "overdue")}
    assert by_id["I1"]["match"]["customer_id"] == borrower and by_id["I1"]["match"]["methods"] == ["name"]
    assert by_id["I2"]["match"]["customer_id"] is None

    current = client.get(f"/api/v1/customers/{borrower}", headers=tenant.auth)
    renamed = client.patch(
        f"/api/v1/customers/{borrower}", json={"name": "Tanusree Patnaik"},
        headers={**tenant.auth, "If-Match": current.headers["ETag"]},
    )  # fmt: skip
    assert renamed.status_code == 200, renamed.text
    settle(platform, "customers")
    rematcher = Rematcher(platform.port(NoticeJobPort))
    while rematcher.drain():
        continue
    settle(platform, "notices")
    by_id = {n["source_notice_id"]: n for n in _feed(client, tenant, "overdue")}
    assert by_id["I2"]["match"]["customer_id"] == borrower and by_id["I2"]["match"]["methods"] == ["name"]
    assert by_id["I1"]["match"]["customer_id"] is None  # the old name is no longer the borrower's


def test_staff_see_only_their_companies(client: Any, platform: Any, simulator: SoftmediaSimulator) -> None:
    from tests.e2e.conftest import PASSWORD

    tenant = make_tenant(platform)
    simulator.dataset.upsert(_item("A1", company="SML", days=10, amount="100.00"))
    simulator.dataset.upsert(_item("B1", company="KFL", days=20, amount="200.00"))
    for company in ("SML", "KFL"):
        _sync(client, platform, tenant, _source(client, tenant, simulator, company))
    kfl_notice = _feed(client, tenant, "overdue", company="KFL")[0]

    email = f"sml-only-{uuid.uuid4().hex[:6]}@lender.in"
    platform.get(Identity).create_staff(
        tenant.brand_id,
        email,
        "Kiran Collections",
        ["collection_manager"],
        PASSWORD,
        companies=["SML"],
        granter=OPERATOR,
    )
    settle(platform, "identity")
    client.cookies.clear()
    logged_in = client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert logged_in.status_code in (302, 303), logged_in.text
    kpis = client.get("/api/v1/notices/dashboard").json()
    assert kpis["companies"] == ["SML"] and kpis["overdue"] == {"count": 1, "amount": "100.00"}
    assert [n["source_notice_id"] for n in client.get("/api/v1/notices/overdue").json()["items"]] == ["A1"]
    assert client.get("/api/v1/notices/overdue", params={"company": "KFL"}).json()["items"] == []
    assert client.get(f"/api/v1/notices/{kfl_notice['id']}").status_code == 404
    assert {s["company"] for s in client.get("/api/v1/notice-sources").json()["items"]} == {"SML"}
    client.cookies.clear()


def test_staff_limited_to_companies_replay_no_other_companys_notice_in_the_audit(
    client: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    """Found by a privilege sweep: a KFL notice was 404 at /notices/{id} for staff limited to SML, and read in full
    (history, state as of an instant, diff) through the auditor's replay, API and portal, by one holding AUDIT_REPLAY."""
    from tests.e2e.conftest import PASSWORD

    tenant = make_tenant(platform)
    simulator.dataset.upsert(_item("A2", company="SML", days=10, amount="100.00"))
    simulator.dataset.upsert(_item("B2", company="KFL", days=20, amount="200.00"))
    for company in ("SML", "KFL"):
        _sync(client, platform, tenant, _source(client, tenant, simulator, company))
    kfl = _feed(client, tenant, "overdue", company="KFL")[0]["id"]
    sml = _feed(client, tenant, "overdue", company="SML")[0]["id"]
    email = f"sml-audit-{uuid.uuid4().hex[:6]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Kiran Audit", ["collection_manager"], PASSWORD, companies=["SML"], granter=OPERATOR
    )
    platform.get(Identity).update_staff(
        tenant.brand_id, made.id, permissions={"AUDIT_REPLAY": "READ"}, granter=OPERATOR
    )
    settle(platform, "identity")
    client.cookies.clear()
    logged_in = client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert logged_in.status_code in (302, 303), logged_in.text
    window = "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
    for path in ("history", "history?format=csv", "state?as_of=2100-01-01T00:00:00Z", f"diff?{window}"):
        assert client.get(f"/api/v1/audit/notice/{kfl}/{path}").status_code == 404, path
        assert client.get(f"/api/v1/audit/notice/{sml}/{path}").status_code == 200, path
    assert client.get(f"/audit/notice/{kfl}").status_code == 404
    page = client.get(f"/audit/notice/{sml}")
    assert page.status_code == 200 and "A2" in page.text
    client.cookies.clear()


def test_a_forged_cursor_is_refused_with_422(client: Any, platform: Any) -> None:
    import base64
    import json

    tenant = make_tenant(platform)
    for values in (["x", "1", "SML", "not-a-uuid"], [1, "abc", "SML", str(uuid.uuid4())], [1, "2"]):
        cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
        refused = client.get("/api/v1/notices/overdue", params={"cursor": cursor}, headers=tenant.auth)
        assert refused.status_code == 422, refused.text
    runs = client.get("/api/v1/sync-runs", params={"cursor": "bm90LWpzb24"}, headers=tenant.auth)
    assert runs.status_code == 422


def test_an_idle_pass_over_the_sources_reads_a_few_statements_however_many(
    platform: Any, monkeypatch: pytest.MonkeyPatch, hand_made_sources: list[uuid.UUID]
) -> None:
    """Every 5 s the leader looks at every enabled source's cron: it read the brand's timezone (its events) and the
    source's last slot for each one; then the slots once and each brand's timezone once; now each brand's timezone
    only when the identity application recorded something since the last pass."""
    import threading
    from datetime import UTC, datetime

    import psycopg

    from workers.notice_sync import fire_source_slots

    brands = [make_tenant(platform).brand_id for _ in range(2)]
    ids = [uuid.uuid4() for _ in range(20)]
    hand_made_sources.extend(ids)
    with platform.db.pool.connection() as conn:
        for i, source_id in enumerate(ids):
            conn.execute(
                "INSERT INTO read.notice_sources (id, brand_id, company, base_url, schedule, enabled, token_hint, "
                "created_at, updated_at) VALUES (%s, %s, %s, 'http://idle.invalid', '*/30 * * * *', true, '', "
                "now(), now())",
                (source_id, brands[i % 2], f"IDLE{i}"),
            )
    port = _slots_port(platform, *brands)
    statements: list[str] = []
    try:
        start = datetime(2026, 11, 28, 9, 5, tzinfo=UTC)
        fire_source_slots(port, start)  # first sight of each: a write each
        me, execute = threading.current_thread(), psycopg.Cursor.execute

        def counted(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is me:
                statements.append(str(query)[:80])
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        fire_source_slots(port, start + timedelta(minutes=5))  # nothing due before 09:30
        monkeypatch.undo()
        with platform.db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT count(*) AS n FROM ops.schedule_slots WHERE job_name = ANY(%s) AND last_slot = %s",
                ([f"softmedia-sync:{i}" for i in ids], start),
            ).fetchone()
        assert rows is not None and rows["n"] == 20  # every source's schedule started at the first pass, none fired
    finally:
        monkeypatch.undo()
    # The enabled sources, the last slots and the identity head (each brand's timezone was kept from the first pass
    # while identity recorded nothing): 2 a source before, then two reads of events a brand.
    assert len(statements) <= 3, f"{len(statements)} statements for 20 sources: {statements}"


def test_each_source_follows_its_own_cron_on_the_scheduler(
    client: Any, platform: Any, simulator: SoftmediaSimulator, hand_made_sources: list[uuid.UUID]
) -> None:
    from datetime import UTC, datetime

    from workers.notice_sync import fire_source_slots

    tenant = make_tenant(platform)
    simulator.dataset.upsert(_item("C1", days=3))
    source_id = _source(client, tenant, simulator)  # every 30 minutes
    settle(platform, "notices")
    # A source row whose brand is gone (a stub brand, or a deleted tenant) sorts first: it is logged and skipped,
    # and never holds up the sources after it.
    gone, gone_brand = uuid.UUID("00000000-0000-0000-0000-000000000001"), uuid.uuid4()
    hand_made_sources.append(gone)
    with platform.db.pool.connection() as conn:
        conn.execute(
            "INSERT INTO read.notice_sources (id, brand_id, company, base_url, schedule, enabled, token_hint, created_at, updated_at) "
            "VALUES (%s, %s, 'GONE', 'http://gone.invalid', '*/5 * * * *', true, '', now(), now()) "
            "ON CONFLICT (id) DO UPDATE SET brand_id = EXCLUDED.brand_id",
            (gone, gone_brand),
        )
    port = _slots_port(platform, tenant.brand_id, gone_brand)  # this test's sources, not other tests'
    start = datetime(2026, 11, 28, 9, 5, tzinfo=UTC)
    # First sight: the schedule starts now, nothing is backfilled.
    fire_source_slots(port, start)
    fire_source_slots(port, start + timedelta(minutes=20))
    settle(platform, "notices")
    assert client.get("/api/v1/sync-runs", params={"source_id": source_id}, headers=tenant.auth).json()["items"] == []
    # 09:30 and 10:00 passed: only the latest fires.
    fire_source_slots(port, start + timedelta(minutes=80))
    settle(platform, "notices")
    runs = client.get("/api/v1/sync-runs", params={"source_id": source_id}, headers=tenant.auth).json()["items"]
    assert [(r["trigger"], r["requested_by"], r["status"]) for r in runs] == [("schedule", "scheduler", "running")]
    scheduler_for(platform).execute(job_run_id(uuid.UUID(runs[0]["id"])))
    settle(platform, "notices")
    run = client.get(f"/api/v1/sync-runs/{runs[0]['id']}", headers=tenant.auth).json()
    assert run["status"] == "succeeded" and run["created"] == 1
