"""A notice sync's job run belongs to its source's company (`JobRun.Requested.company`): a staff member limited to
companies sees their companies' sync job runs and the brand-wide jobs' runs, never another company's -- not in the job
list's latest runs, a job's run history, the portal's jobs page, nor the audit trail and activity log; another
company's run by id is a 404, as its sync run is. Unlimited callers see every run; another brand none. A rebuild of
the run history and of the jobs context's trail gives the same rows, companies included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.notices.triggering import JOB as SYNC_JOB
from domain.notices.triggering import job_run_id
from projections.activity import ActivityLog
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_notice_decisions_trail import _trail
from tests.e2e.test_notices import _item, _source, _sync, simulator
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle

# The Softmedia simulator of the notice tests applies here too.
__all__ = ["simulator"]

#: A brand-wide job (no company): staff limited to companies see its runs as before.
BRAND_WIDE = "housekeeping"


def _pill(company: str) -> str:
    """The company of a run in the portal's run history."""
    return f'<span class="pill company">{company}</span>'


def _history(client: Any, tenant: Tenant | None, job: str) -> list[dict[str, Any]]:
    """Every page of a job's run history, two runs a page (no tenant: the client's own session)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(f"/api/v1/jobs/{job}/runs", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=tenant.auth if tenant else {})  # fmt: skip
        assert page.status_code == 200, page.text
        assert set(page.json()) == {"items", "next_cursor"}
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture
def runs(app: Any, client: Any, platform: Any, simulator: Any, staff: tuple[Tenant, str]) -> Iterator[dict[str, Any]]:
    """A brand with SML's source synced twice and KFL's once (KFL's last), a requested run of a brand-wide job, and a
    staff member limited to SML who may read the jobs and the trail, logged in to the portal (as is an admin)."""
    tenant, admin_email = staff
    simulator.dataset.upsert(_item("S1", company="SML", name="Harjeet Kaur", phone="9822200055", days=30))
    simulator.dataset.upsert(_item("K1", company="KFL", name="Harjeet Kaur", phone="9822200066", days=20))
    sources = {company: _source(client, tenant, simulator, company) for company in ("SML", "KFL")}
    sml_runs = [str(job_run_id(UUID(_sync(client, platform, tenant, sources["SML"])["id"]))) for _ in range(2)]
    kfl_run = str(job_run_id(UUID(_sync(client, platform, tenant, sources["KFL"])["id"])))
    wide = client.post(f"/api/v1/jobs/{BRAND_WIDE}/runs", json={}, headers=tenant.auth)
    assert wide.status_code == 202, wide.text
    identity = platform.get(Identity)
    email = f"sml-jobs-{uuid.uuid4().hex[:6]}@lender.in"
    made = identity.create_staff(
        tenant.brand_id, email, "Kiran Jobs", ["collection_manager"], PASSWORD, companies=["SML"], granter=OPERATOR
    )
    identity.update_staff(
        tenant.brand_id, made.id, permissions={"JOBS": "READ", "AUDIT_REPLAY": "READ"}, granter=OPERATOR
    )
    settle(platform, "identity")
    settle(platform, "jobs")
    limited, _ = _portal(app, email)
    admin, _ = _portal(app, admin_email)
    try:
        yield {"tenant": tenant, "sml": sml_runs, "kfl": kfl_run, "wide": wide.json()["run_id"], "sources": sources,
               "limited": limited, "admin": admin}  # fmt: skip
    finally:
        limited.__exit__(None, None, None)
        admin.__exit__(None, None, None)


def test_staff_limited_to_a_company_see_its_sync_job_runs_and_brand_wide_ones_never_another_companys(
    client: Any, runs: dict[str, Any]
) -> None:
    tenant, limited, admin = runs["tenant"], runs["limited"], runs["admin"]
    sml, kfl, wide = runs["sml"], runs["kfl"], runs["wide"]
    # Unlimited (the brand's key, an admin's session): every run, each sync run's with its company.
    every = _history(client, tenant, SYNC_JOB)
    assert [r["id"] for r in every] == [kfl, *reversed(sml)]
    assert [r["company"] for r in every] == ["KFL", "SML", "SML"]
    assert [r["settings"]["variables"]["source_id"] for r in every] == [
        runs["sources"][c] for c in ("KFL", "SML", "SML")
    ]
    for run_id, company in ((kfl, "KFL"), (sml[0], "SML"), (wide, None)):
        got = client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth)
        assert got.status_code == 200 and got.json()["company"] == company, got.text
    assert [r["id"] for r in _history(client, tenant, BRAND_WIDE)] == [wide]
    board = {j["name"]: j for j in client.get("/api/v1/jobs", headers=tenant.auth).json()["items"]}
    assert board[SYNC_JOB]["last_run"]["id"] == kfl and board[BRAND_WIDE]["last_run"]["id"] == wide
    assert client.get(f"/api/v1/jobs/{SYNC_JOB}", headers=tenant.auth).json()["last_run"]["id"] == kfl
    page = admin.get("/jobs")
    assert page.status_code == 200 and _pill("KFL") in page.text and _pill("SML") in page.text
    # Limited to SML: SML's sync runs and the brand-wide run; KFL's nowhere, and 404 by id.
    mine = _history(limited, None, SYNC_JOB)
    assert [r["id"] for r in mine] == list(reversed(sml)) and {r["company"] for r in mine} == {"SML"}
    assert [r["id"] for r in _history(limited, None, BRAND_WIDE)] == [wide]
    for run_id in (sml[1], wide):
        assert limited.get(f"/api/v1/jobs/runs/{run_id}").status_code == 200
    hidden = limited.get(f"/api/v1/jobs/runs/{kfl}")
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith("application/problem+json")
    # As for a run that does not exist: nothing of the run in the answer.
    unknown = uuid.uuid4()
    missing = limited.get(f"/api/v1/jobs/runs/{unknown}")
    assert missing.status_code == 404 and "KFL" not in hidden.text
    assert hidden.json()["detail"] == missing.json()["detail"].replace(str(unknown), kfl)
    board = {j["name"]: j for j in limited.get("/api/v1/jobs").json()["items"]}
    assert board[SYNC_JOB]["last_run"]["id"] == sml[1] and board[BRAND_WIDE]["last_run"]["id"] == wide
    one = limited.get(f"/api/v1/jobs/{SYNC_JOB}")
    assert one.status_code == 200 and one.json()["last_run"]["id"] == sml[1]
    page = limited.get("/jobs")
    assert page.status_code == 200 and _pill("SML") in page.text and _pill("KFL") not in page.text
    assert page.text.count(_pill("SML")) == 3  # two runs in the history, the latest on the job's row
    # The trail and the activity log: the sync job runs' rows of SML, the brand-wide run's; none of KFL's.
    for url, job_run in (("/api/v1/audit/trail", "job_run"), ("/api/v1/activity", "JobRun")):
        assert {i["event_type"] for i in _trail(client, tenant, url, aggregate_id=kfl)} >= {"Requested", "Succeeded"}
        assert _trail(limited, None, url, aggregate_id=kfl) == []
        assert {i["event_type"] for i in _trail(limited, None, url, aggregate_id=sml[0])} >= {"Requested", "Succeeded"}
        assert [i["event_type"] for i in _trail(limited, None, url, aggregate_id=wide)] == ["Requested"]
        job_rows = {i["aggregate_id"] for i in _trail(limited, None, url, aggregate_type=job_run)}
        assert job_rows == {*sml, wide}
        assert {i["aggregate_id"] for i in _trail(client, tenant, url, aggregate_type=job_run)} == {*sml, kfl, wide}
    # Its replay, as its run by id: another company's is 404, the caller's own and the brand-wide ones are read.
    assert limited.get(f"/api/v1/audit/job_run/{kfl}/history").status_code == 404
    assert client.get(f"/api/v1/audit/job_run/{kfl}/history", headers=tenant.auth).status_code == 200
    for run_id in (sml[0], wide):
        assert limited.get(f"/api/v1/audit/job_run/{run_id}/history").status_code == 200
    everything = _trail(limited, None, "/api/v1/audit/trail")
    assert kfl not in {i["aggregate_id"] for i in everything}
    assert all("KFL" not in str(i["details"]) for i in everything)


def test_another_brand_sees_none_of_a_brands_sync_job_runs(platform: Any, client: Any, runs: dict[str, Any]) -> None:
    other = make_tenant(platform)
    for run_id in (*runs["sml"], runs["kfl"], runs["wide"]):
        assert client.get(f"/api/v1/jobs/runs/{run_id}", headers=other.auth).status_code == 404
        assert _trail(client, other, "/api/v1/audit/trail", aggregate_id=run_id) == []
    assert _history(client, other, SYNC_JOB) == [] and _history(client, other, BRAND_WIDE) == []
    board = {j["name"]: j for j in client.get("/api/v1/jobs", headers=other.auth).json()["items"]}
    assert board[SYNC_JOB]["last_run"] is None and board[BRAND_WIDE]["last_run"] is None


def _job_rows(platform: Any, brand: UUID) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The brand's run history rows and its jobs context's trail rows, companies included."""
    with platform.db.pool.connection() as conn:
        history = conn.execute(
            "SELECT id, job_name, status, company, requested_at, finished_at FROM read.job_runs WHERE brand_id = %s "
            "ORDER BY id",
            (brand,),
        ).fetchall()
        trail = conn.execute(
            "SELECT position, aggregate_type, aggregate_id, event_type, actor, details, company FROM read.activity "
            "WHERE source = 'jobs' AND brand_id = %s ORDER BY position",
            (brand,),
        ).fetchall()
    return [tuple(r.values()) for r in history], [tuple(r.values()) for r in trail]


def test_the_rebuilt_run_history_and_trail_keep_each_runs_company(
    platform: Any, runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    brand = runs["tenant"].brand_id
    live = _job_rows(platform, brand)
    companies = {str(r[0]): r[3] for r in live[0]}
    assert companies == {**dict.fromkeys(runs["sml"], "SML"), runs["kfl"]: "KFL", runs["wide"]: None}
    by_run = {(str(r[2]), r[6]) for r in live[1] if r[1] == "JobRun"}
    assert by_run == {*((i, "SML") for i in runs["sml"]), (runs["kfl"], "KFL"), (runs["wide"], None)}
    assert {r[6] for r in live[1] if r[1] == "JobConfiguration"} <= {None}
    platform.engine.rebuild("job_runs")
    platform.engine.rebuild("activity_jobs", batch=5000)
    assert _job_rows(platform, brand) == live
    platform.engine.rebuild("activity_jobs", batch=3)
    assert _job_rows(platform, brand) == live
    with monkeypatch.context() as patch:
        patch.setattr(ActivityLog, "applies_stored", lambda self, topic, state: False)
        platform.engine.rebuild("activity_jobs", batch=5000)
    assert _job_rows(platform, brand) == live


def test_a_run_filtered_to_a_company_is_that_companys_run_and_limited_staff_filter_only_on_theirs(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    """A covenant job's run filtered to a company works on that company's covenants only: it is that company's run
    (as a notice sync of its source is), so staff limited to another company neither see it nor its filter's code.
    Staff limited to companies filter runs, and the job's settings, only on theirs (422 naming `filters.company`,
    nothing recorded); codes compare case-insensitively and are kept as typed."""
    tenant, _ = staff
    job = "covenant-evaluation"
    email = f"sml-runs-{uuid.uuid4().hex[:6]}@lender.in"
    identity = platform.get(Identity)
    made = identity.create_staff(
        tenant.brand_id, email, "Kiran Runs", ["collection_manager"], PASSWORD, companies=["SML"], granter=OPERATOR
    )
    identity.update_staff(tenant.brand_id, made.id, permissions={"JOBS": "ALL"}, granter=OPERATOR)
    settle(platform, "identity")
    limited, token = _portal(app, email)
    limited.headers["X-CSRF-Token"] = token
    try:

        def run(caller: Any, filters: dict[str, str], status: int = 202) -> Any:
            headers = tenant.auth if caller is client else {}
            answer = caller.post(f"/api/v1/jobs/{job}/runs", json={"filters": filters}, headers=headers)
            assert answer.status_code == status, answer.text
            return answer.json()

        kfl = run(client, {"company": "KFL"})["run_id"]
        sml = run(client, {"company": "sml"})["run_id"]
        wide = run(client, {"type": "financial"})["run_id"]
        settle(platform, "jobs")
        for run_id, company in ((kfl, "KFL"), (sml, "sml"), (wide, None)):
            got = client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth)
            assert got.status_code == 200 and got.json()["company"] == company, got.text
        assert limited.get(f"/api/v1/jobs/runs/{kfl}").status_code == 404
        assert limited.get(f"/api/v1/jobs/runs/{sml}").status_code == 200
        mine = _history(limited, None, job)
        assert [r["id"] for r in mine] == [wide, sml] and "KFL" not in str(mine)
        assert "KFL" not in limited.get("/jobs").text
        # The limited caller filters on their own company only, whatever its case; another's changes nothing.
        refused = run(limited, {"company": "KFL"}, 422)
        assert refused["errors"][0]["field"] == "filters.company", refused
        own = run(limited, {"company": "Sml"})["run_id"]
        settle(platform, "jobs")
        assert [r["id"] for r in _history(client, tenant, job)] == [own, wide, sml, kfl]
        # The job's settings alike: a default filter of another company is refused to them, an admin may set it, and
        # then a limited caller's unfiltered run would be that company's: refused too.
        patch = limited.patch(f"/api/v1/jobs/{job}", json={"filters": {"company": "KFL"}})
        assert patch.status_code == 422 and patch.json()["errors"][0]["field"] == "filters.company", patch.text
        assert client.get(f"/api/v1/jobs/{job}", headers=tenant.auth).json()["settings"]["filters"] == {}
        set_kfl = client.patch(f"/api/v1/jobs/{job}", json={"filters": {"company": "KFL"}}, headers=tenant.auth)
        assert set_kfl.status_code == 200, set_kfl.text
        assert run(limited, {}, 422)["errors"][0]["field"] == "filters.company"
        by_default = run(client, {})["run_id"]
        settle(platform, "jobs")
        assert client.get(f"/api/v1/jobs/runs/{by_default}", headers=tenant.auth).json()["company"] == "KFL"
        assert limited.get(f"/api/v1/jobs/runs/{by_default}").status_code == 404
    finally:
        limited.__exit__(None, None, None)
