from __future__ import annotations

import time
from typing import Any

from api.app import ENDPOINTS


def test_openapi_describes_every_endpoint(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for ep in ENDPOINTS:
        op = doc["paths"][ep.path][ep.method.lower()]
        assert op["operationId"] == ep.operation_id
        if ep.permission:
            assert op["x-permission"] == {"permission": ep.permission[0].value, "level": ep.permission[1].value}
    for path in (
        "/health",
        "/metrics",
        "/openapi.json",
        "/api/v1/customers",
        "/api/v1/jobs/{name}/runs",
        "/api/v1/jobs/runs/{run_id}",
    ):
        assert path in doc["paths"]
    # Every route the app serves under /api is documented.
    served = {
        (m, r.path)
        for r in client.app.routes
        if getattr(r, "path", "").startswith("/api/")
        for m in (r.methods or [])
        if m != "HEAD"
    }
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served <= documented


def test_health_reports_database_and_projection_lag(client: Any) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["database"] == "up" and body["status"] in ("ok", "degraded")
    assert {p["name"] for p in body["projections"]} >= {"customer_directory", "customer_timeline", "job_runs", "brands"}
    assert all(p["lag"] >= 0 for p in body["projections"])


def test_metrics_are_prometheus_text(client: Any, tenant: Any) -> None:
    client.get("/api/v1/customers", headers=tenant.auth)
    text = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/api/v1/customers",status="200"}' in text
    assert "projection_lag_events" in text


def test_requests_carry_a_request_id(client: Any) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc123"}).headers["x-request-id"] == "abc123"
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_manual_job_run_is_accepted_and_runs(client: Any, tenant: Any, platform: Any) -> None:
    from workers.job_catalogue import JOB_HANDLERS
    from workers.scheduler import Scheduler

    jobs = client.get("/api/v1/jobs", headers=tenant.auth).json()["items"]
    assert "housekeeping" in [j["name"] for j in jobs]
    today = platform.identity.business_date(tenant.brand_id).isoformat()
    accepted = client.post("/api/v1/jobs/housekeeping/runs", json={"as_of": today}, headers=tenant.auth)
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json()["status"] == "requested"
    Scheduler(platform, JOB_HANDLERS).execute(run_id)
    deadline = time.monotonic() + 5
    while (run := client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())["status"] != "succeeded":
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    assert run["as_of"] == today and run["trigger"] == "manual" and run["requested_by"].startswith("apikey:")
    history = client.get("/api/v1/jobs/housekeeping/runs", headers=tenant.auth).json()["items"]
    assert history[0]["id"] == run_id


def test_job_inputs_are_validated(client: Any, tenant: Any) -> None:
    assert client.post("/api/v1/jobs/nope/runs", json={}, headers=tenant.auth).status_code == 404
    bad = client.post("/api/v1/jobs/housekeeping/runs", json={"as_of": "yesterday"}, headers=tenant.auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "as_of"
    unknown = client.post("/api/v1/jobs/housekeeping/runs", json={"filters": {"planet": "mars"}}, headers=tenant.auth)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "filters"
    cron = client.patch("/api/v1/jobs/housekeeping", json={"cron": "whenever"}, headers=tenant.auth)
    assert cron.status_code == 422
    ok = client.patch("/api/v1/jobs/housekeeping", json={"cron": "0 3 * * *", "batch_size": 250}, headers=tenant.auth)
    assert ok.status_code == 200 and ok.json()["settings"]["batch_size"] == 250
