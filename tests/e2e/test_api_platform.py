from __future__ import annotations

import json
import re
import time
from typing import Any

from domain.identity.application import Identity
from domain.identity.permissions import alternatives
from tests.support import mobile
from workers.contexts import CONTEXTS
from workers.platform import compose_web

ENDPOINTS = compose_web(CONTEXTS).endpoints


def test_openapi_describes_every_endpoint(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for ep in ENDPOINTS:
        op = doc["paths"][ep.path][ep.method.lower()]
        assert op["operationId"] == ep.operation_id
        if ep.permission:
            permissions = alternatives(ep.permission)
            want = {"permission": permissions[0].value, "level": ep.permission[1].value}
            if len(permissions) > 1:  # any one of several (the collections desk's)
                want["any_of"] = [p.value for p in permissions]
            assert op["x-permission"] == want
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


def test_openapi_document_is_valid_openapi_with_every_reference_resolved(client: Any) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/openapi.json").json()
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    text = json.dumps(doc)
    refs = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert refs and all(r.startswith("#/components/schemas/") for r in refs), refs
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(doc["components"]["schemas"])
    assert "$defs" not in text


def test_every_operation_declares_its_success_schema_errors_and_headers(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    for ep in ENDPOINTS:
        op = doc["paths"][ep.path][ep.method.lower()]
        responses = op["responses"]
        ok = responses[str(ep.status)]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith(ep.response.__name__), ep.path
        errors = {int(s) for s in responses if int(s) >= 400}
        for status in errors:
            assert "application/problem+json" in responses[str(status)]["content"], (ep.path, status)
        if not ep.public:
            assert {401, 403, 404, 422} <= errors, (ep.method, ep.path)
        if ep.body is not None:
            assert {400, 413, 422} <= errors
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert ("If-Match" in headers) == ep.if_match
        assert ("ETag" in ok.get("headers", {})) == ep.etag
    patch_customer = doc["paths"]["/api/v1/customers/{customer_id}"]["patch"]
    assert "If-Match" in {p["name"] for p in patch_customer["parameters"]}
    assert "ETag" in patch_customer["responses"]["200"]["headers"]
    history = doc["paths"]["/api/v1/audit/{aggregate_type}/{aggregate_id}/history"]["get"]["responses"]["200"]
    assert set(history["content"]) == {"application/json", "text/csv"}


def test_a_method_a_path_does_not_serve_is_405_with_every_method_it_does_in_allow(client: Any, tenant: Any) -> None:
    doc = client.get("/openapi.json").json()
    for path, ops in doc["paths"].items():
        url = re.sub(r"{(\w+)}", "00000000-0000-0000-0000-000000000001", path)
        documented = {m.upper() for m in ops} | ({"HEAD"} if "get" in ops else set())
        for method in ("OPTIONS", "PUT"):
            if method.lower() in ops:
                continue
            answer = client.request(method, url, headers=tenant.auth)
            assert answer.status_code == 405, (method, path)
            assert set(answer.headers["allow"].split(", ")) == documented, (method, path)
    put = client.put("/api/v1/blocklist/check", headers=tenant.auth)
    assert put.headers["allow"] == "GET, HEAD" and put.headers["content-type"] == "application/problem+json"


def test_responses_carry_the_etag_of_the_record_they_show(client: Any, tenant: Any) -> None:
    config = client.get("/api/v1/brand/config", headers=tenant.auth)
    assert config.headers["etag"] == f'"{config.json()["version"]}"'
    me = client.get("/api/v1/me", headers=tenant.auth)
    assert "etag" not in me.headers


def test_an_empty_x_brand_id_is_refused_not_ignored(client: Any, tenant: Any) -> None:
    answer = client.get("/api/v1/me", headers={**tenant.auth, "X-Brand-Id": ""})
    assert answer.status_code == 422 and "X-Brand-Id" in answer.json()["detail"]


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
    from workers.runtime import scheduler_for

    jobs = client.get("/api/v1/jobs", headers=tenant.auth).json()["items"]
    assert "housekeeping" in [j["name"] for j in jobs]
    today = platform.get(Identity).business_date(tenant.brand_id).isoformat()
    accepted = client.post("/api/v1/jobs/housekeeping/runs", json={"as_of": today}, headers=tenant.auth)
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json()["status"] == "requested"
    scheduler_for(platform).execute(run_id)
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


def _resolve(expression: str, request_path: dict[str, str], body: dict[str, Any]) -> str:
    """The value of a link parameter's runtime expression (the two forms the document uses)."""
    if expression.startswith("$response.body#/"):
        return str(body[expression.removeprefix("$response.body#/")])
    return request_path[expression.removeprefix("$request.path.")]


def test_creates_link_to_every_operation_on_what_they_create(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    operations = {op["operationId"]: (path, method) for path, ops in doc["paths"].items() for method, op in ops.items()}
    links = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                for name, link in response.get("links", {}).items():
                    assert method == "post" and status in {"200", "201", "202"}, (path, status)
                    target, _ = operations[link["operationId"]]  # a stable operationId of the document
                    assert name == link["operationId"]
                    # Every parameter is a path parameter of the target, from the answer or passed through.
                    named = {key.removeprefix("path.") for key in link["parameters"]}
                    assert named <= set(re.findall(r"{(\w+)}", target)), (path, target)
                    item = [e for e in link["parameters"].values() if e.startswith("$response.body#/")]
                    assert len(item) == 1, (path, target)
                    links += 1
    loans = doc["paths"]["/api/v1/loans"]["post"]["responses"]
    for status in ("201", "202"):  # the answer with the loan and the 202 Accepted one, both with its id
        assert loans[status]["links"]["get_loan"]["parameters"] == {"path.loan_id": "$response.body#/id"}
        assert {"submit_loan", "cancel_loan", "record_repayment"} <= set(loans[status]["links"])
    waivers = doc["paths"]["/api/v1/loans/{loan_id}/waivers"]["post"]["responses"]["201"]["links"]
    assert waivers["approve_waiver"]["parameters"] == {"path.request_id": "$response.body#/id"}
    repayments = doc["paths"]["/api/v1/loans/{loan_id}/repayments"]["post"]["responses"]["201"]["links"]
    assert set(repayments["reverse_repayment"]["parameters"].values()) == {
        "$request.path.loan_id",
        "$response.body#/id",
    }
    # A create answering its parent (a staff member's leave answers the staff member) links nothing from it.
    leaves = doc["paths"]["/api/v1/staff/{staff_id}/leaves"]["post"]["responses"]
    assert all("links" not in response for response in leaves.values())
    assert links > 100


def test_following_a_create_s_links_reaches_what_it_created(client: Any, tenant: Any) -> None:
    doc = client.get("/openapi.json").json()
    operations = {op["operationId"]: (path, method) for path, ops in doc["paths"].items() for method, op in ops.items()}
    created = client.post("/api/v1/customers", json={"name": "Meera Iyer", "phone": mobile("9")}, headers=tenant.auth)
    assert created.status_code == 201, created.text
    links = doc["paths"]["/api/v1/customers"]["post"]["responses"]["201"]["links"]
    reads = 0
    for link in links.values():
        path, method = operations[link["operationId"]]
        values = {key.removeprefix("path."): _resolve(e, {}, created.json()) for key, e in link["parameters"].items()}
        if method != "get" or set(re.findall(r"{(\w+)}", path)) != set(values):
            continue
        answer = client.get(path.format(**values), headers=tenant.auth)
        assert answer.status_code == 200, (path, answer.text)
        reads += 1
    assert reads >= 5
