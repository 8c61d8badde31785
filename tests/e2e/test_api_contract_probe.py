"""Two API-wide contracts checked over every operation `/openapi.json` lists, as an outside integrator would.

No silent overwrites (docs/api.md, "Retries and concurrency"): every operation that takes `If-Match` declares it, and
its answers and the record's GET carry the `ETag` to send; two clients reading a record and changing it both with the
version they read - the second is a 409 problem+json naming `current_version`, nothing of it applied; an `If-Match`
that is no ETag of ours is 422 naming it; without `If-Match` the change is made (the header is optional everywhere
that takes it). A command that checks no version refuses an `If-Match` (422 naming it) rather than ignoring it: it
used to apply the change whatever version the caller had read (`PATCH /covenants/{id}` and `PATCH /jobs/{name}`
did, until they took If-Match: tests/e2e/test_stale_records.py).

Lists (docs/api.md, "Cursors"): every keyset list refuses a `limit` of 0, negative, over its maximum or not plain
digits (422 naming `limit`) and takes 1 and its maximum; a cursor of another list, another brand, other filters, or
one truncated or garbled is 422 naming `cursor`; walking pages while rows are added and removed between fetches
shows no row twice and skips none that stayed."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_concurrency_probe import PRODUCT
from tests.support import mobile, settle

COMMANDS = ("post", "put", "patch", "delete")


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def _takes_if_match(op: dict[str, Any]) -> bool:
    return any(p["in"] == "header" and p["name"] == "If-Match" for p in op.get("parameters", []))


def _refused(answer: Any, status: int, field: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    if status == 422:
        assert field in [e["field"] for e in answer.json()["errors"]], answer.text


@pytest.fixture(scope="module")
def openapi(app: Any) -> dict[str, Any]:
    from starlette.testclient import TestClient

    with TestClient(app) as c:
        doc: dict[str, Any] = c.get("/openapi.json").json()
    return doc


# No silent overwrites ------------------------------------------------------------------------------------------


def test_every_operation_that_reads_if_match_declares_it(app: Any) -> None:
    # PUT /rating-matrix and POST /leads/{id}/status checked If-Match without saying so in /openapi.json
    endpoints = app.state.endpoints
    reading = {(ep.method, ep.path) for ep in endpoints if "expected_version()" in inspect.getsource(ep.handler)}
    declared = {(ep.method, ep.path) for ep in endpoints if ep.if_match}
    assert reading, "no handler reads If-Match: the probe no longer finds them"
    assert reading == declared


def test_an_if_match_on_a_command_that_checks_no_version_is_refused(
    client: Any, platform: Any, openapi: dict[str, Any]
) -> None:
    tenant = make_tenant(platform)
    checked = 0
    for method, path, op in _operations(openapi):
        if method not in COMMANDS or _takes_if_match(op) or op.get("security") == [] or op.get("x-borrower"):
            continue  # public operations (webhooks, invites) and the borrower's: no record a client read
        url = path
        for name in [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]:
            url = url.replace("{" + name + "}", str(uuid.uuid4()))
        answer = client.request(method.upper(), url, json={}, headers=tenant.auth | {"If-Match": '"1"'})
        if answer.status_code == 403 and "Super Admin" in answer.text:
            continue
        assert answer.status_code == 422, f"{method.upper()} {path}: {answer.status_code} {answer.text[:200]}"
        assert [e["field"] for e in answer.json()["errors"]] == ["If-Match"], f"{method.upper()} {path}"
        checked += 1
    assert checked > 100


PASSWORD = "probe-pass-2026-x"


@dataclass
class Edit:
    """One operation changing an existing record: where to read it, how to change it two ways, what shows it."""

    name: str
    method: str
    url: str
    read: str
    first: dict[str, Any]
    second: dict[str, Any]
    shown: Callable[[dict[str, Any]], Any]  # the changed field, as the record's GET shows it


def _version(answer: Any) -> int:
    assert answer.status_code == 200, answer.text
    version = int(answer.json()["version"])
    assert answer.headers["ETag"] == f'"{version}"', answer.request.url
    return version


def _edits(client: Any, platform: Any, tenant: Tenant) -> list[Edit]:
    """A record for every operation that takes If-Match (but the funnel close and send-back and a statement's months,
    which need a borrower's onboarding and an upload: tests/e2e/test_onboarding_close.py, test_onboarding_api.py,
    test_statement_period.py)."""

    def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = client.post(path, json=body, headers=tenant.auth)
        assert answer.status_code == 201, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def staff() -> str:
        email = f"p{uuid.uuid4().hex[:8]}@lender.in"
        return str(
            made("/api/v1/staff", {"name": "Asha", "email": email, "roles": ["admin"], "password": PASSWORD})["id"]
        )

    member, agent_a, agent_b = staff(), staff(), staff()
    customer = made("/api/v1/customers", {"name": "Kavya Rao", "phone": mobile("98")})["id"]
    products = [made("/api/v1/loan-products", {**PRODUCT, "code": "P" + uuid.uuid4().hex[:8]})["id"] for _ in range(3)]
    loan = made("/api/v1/loans", {"customer_id": customer, "product_id": products[0], "amount": "50000", "tenure": 12})
    template = made("/api/v1/message-templates", {"name": "Probe", "channel": "sms", "body": "Pay {{amount}}"})["id"]
    phone = mobile("98")
    csv = f"id,created_time,campaign_id,campaign_name,is_organic,full_name,phone_number,email\n1,2026-11-01T10:00:00Z,c1,Diwali,false,Asha Rao,{phone},\n"
    imported = client.post("/api/v1/leads/imports", files={"file": ("leads.csv", csv.encode(), "text/csv")},
                           headers=tenant.auth)  # fmt: skip
    assert imported.status_code == 201, imported.text
    settle(platform, "leads")
    settle(platform, "identity")
    lead = client.get("/api/v1/leads", headers=tenant.auth).json()["items"][0]["id"]
    settle(platform, "customers")
    covenant = made("/api/v1/covenants", {
        "customer_id": customer, "application_ref": "APP-1", "title": "Debt service coverage", "type": "financial",
        "metric": "DSCR", "operator": ">=", "threshold": "1.25", "frequency": "monthly", "start_date": "2024-01-01",
        "first_due_date": "2024-01-31", "expiry_date": "2024-12-31", "grace_days": 5, "notification_lead_days": 7,
    })["id"]  # fmt: skip
    source = made("/api/v1/notice-sources", {"company": "SML", "base_url": "http://127.0.0.1:9",
                                             "token": "tok-1234567890", "schedule": "*/30 * * * *",
                                             "enabled": False})["id"]  # fmt: skip
    numbers = [f"PRB-{n}-{uuid.uuid4().hex[:8]}" for n in (1, 2)]
    linked = made("/api/v1/customers", {"name": "Ravi Rao", "phone": mobile("98"),
                                        "loan_numbers": numbers})["id"]  # fmt: skip
    prefs = f"/api/v1/customers/{customer}/messaging-preferences"
    extension = f"/api/v1/dialer/extensions/{member}"
    matrix = [{"metric": "manual", "weight": 100, "role": "credit_executive", "target": 10}]
    return [
        Edit("staff", "PATCH", f"/api/v1/staff/{member}", f"/api/v1/staff/{member}", {"name": "Asha One"},
             {"name": "Asha Two"}, lambda r: r["name"]),
        Edit("brand config", "PATCH", "/api/v1/brand/config", "/api/v1/brand/config", {"min_age": 21},
             {"min_age": 25}, lambda r: r["settings"]["min_age"]),
        Edit("customer", "PATCH", f"/api/v1/customers/{customer}", f"/api/v1/customers/{customer}",
             {"name": "Kavya One"}, {"name": "Kavya Two"}, lambda r: r["name"]),
        Edit("loan number unlink", "POST", f"/api/v1/customers/{linked}/loan-numbers/unlink",
             f"/api/v1/customers/{linked}", {"loan_number": numbers[0], "reason": "linked by mistake"},
             {"loan_number": numbers[1], "reason": "linked by mistake"}, lambda r: r["loan_numbers"]),
        Edit("customer agent", "POST", f"/api/v1/customers/{customer}/agent", f"/api/v1/customers/{customer}",
             {"agent_id": agent_a}, {"agent_id": agent_b}, lambda r: r["agent_id"]),
        Edit("product", "PATCH", f"/api/v1/loan-products/{products[0]}", f"/api/v1/loan-products/{products[0]}",
             {"name": "Product One"}, {"name": "Product Two"}, lambda r: r["name"]),
        Edit("loan product", "POST", f"/api/v1/loans/{loan['id']}/product", f"/api/v1/loans/{loan['id']}",
             {"product_id": products[1], "reason": "better fit"}, {"product_id": products[2], "reason": "better fit"},
             lambda r: r["product_id"]),
        Edit("loan assignee", "POST", f"/api/v1/loans/{loan['id']}/assign", f"/api/v1/loans/{loan['id']}",
             {"staff_id": agent_a}, {"staff_id": agent_b}, lambda r: r["assignee_id"]),
        Edit("template", "PUT", f"/api/v1/message-templates/{template}", f"/api/v1/message-templates/{template}",
             {"body": "Pay {{amount}} now"}, {"body": "Pay {{amount}} today"}, lambda r: r["body"]),
        Edit("rating matrix", "PUT", "/api/v1/rating-matrix", "/api/v1/rating-matrix",
             {"criteria": [{**matrix[0], "label": "One"}]}, {"criteria": [{**matrix[0], "label": "Two"}]},
             lambda r: r["criteria"][0]["label"] if r["criteria"] else None),
        Edit("lead", "POST", f"/api/v1/leads/{lead}/status", f"/api/v1/leads/{lead}", {"status": "contacted"},
             {"status": "rejected", "note": "not interested"}, lambda r: r["status"]),
        Edit("dialer", "PATCH", "/api/v1/dialer/settings", "/api/v1/dialer/settings", {"account_id": "acct-one"},
             {"account_id": "acct-two"}, lambda r: r["account_id"]),
        Edit("covenant", "PATCH", f"/api/v1/covenants/{covenant}", f"/api/v1/covenants/{covenant}",
             {"assignee_id": agent_a}, {"assignee_id": agent_b}, lambda r: r["assignee_id"]),
        Edit("job", "PATCH", "/api/v1/jobs/housekeeping", "/api/v1/jobs/housekeeping", {"batch_size": 100},
             {"batch_size": 200}, lambda r: r["settings"]["batch_size"]),
        Edit("notice source", "PATCH", f"/api/v1/notice-sources/{source}", f"/api/v1/notice-sources/{source}",
             {"schedule": "*/15 * * * *"}, {"schedule": "*/20 * * * *"}, lambda r: r["schedule"]),
        Edit("messaging preferences", "PUT", prefs, prefs, {"language": "hi"}, {"language": "en", "opted_out": ["sms"]},
             lambda r: (r["language"], r["opted_out"])),
        Edit("dialer extension", "PUT", extension, "/api/v1/dialer/settings", {"extension": "1021"},
             {"extension": "1022"}, lambda r: [e["extension"] for e in r["extensions"]]),
    ]  # fmt: skip


def test_two_clients_changing_one_record_the_second_is_refused_on_every_operation_taking_if_match(
    client: Any, platform: Any, openapi: dict[str, Any]
) -> None:
    tenant = make_tenant(platform)
    edits = _edits(client, platform, tenant)
    taking = {(m.upper(), p) for m, p, op in _operations(openapi) if _takes_if_match(op)}
    probed = {(e.method, e.url) for e in edits}
    elsewhere = {("POST", "/api/v1/onboarding/{borrower_id}/close"), ("POST", "/api/v1/documents/{document_id}/period"),
                 ("POST", "/api/v1/onboarding/{borrower_id}/send-back")}  # fmt: skip
    # Removing an extension twice is no edit made two ways: tests/e2e/test_stale_records.py.
    elsewhere.add(("DELETE", "/api/v1/dialer/extensions/{staff_id}"))
    # A loan's decisions move it through its states, not edits made twice: tests/e2e/test_loan_decision_if_match.py.
    elsewhere |= {("POST", f"/api/v1/loans/{{loan_id}}/{d}")
                  for d in ("cam", "cx-approve", "send-back", "sanction", "escalate", "reactivate", "reject")}  # fmt: skip
    # The Sanction Head's assignment needs a CX-approved loan and Sanction Managers: tests/e2e/test_api_escalations.py.
    elsewhere.add(("POST", "/api/v1/loans/{loan_id}/sanction-assign"))
    templated = {(m, p) for m, p in taking if (m, p) not in elsewhere}
    assert len(templated) == len(edits), sorted(templated)  # one probed edit per operation taking If-Match
    assert len(probed) == len(edits)
    for edit in edits:
        a, b = client.get(edit.read, headers=tenant.auth), client.get(edit.read, headers=tenant.auth)
        version = _version(a)
        assert _version(b) == version, edit.name
        before = edit.shown(a.json())
        tag = {"If-Match": f'"{version}"'}
        first = client.request(edit.method, edit.url, json=edit.first, headers=tenant.auth | tag)
        assert first.status_code == 200, f"{edit.name}: {first.text}"
        changed = edit.shown(client.get(edit.read, headers=tenant.auth).json())
        assert changed != before, edit.name
        now = _version(client.get(edit.read, headers=tenant.auth))
        assert now > version, edit.name

        second = client.request(edit.method, edit.url, json=edit.second, headers=tenant.auth | tag)
        _refused(second, 409, "")
        assert second.json()["current_version"] == now, f"{edit.name}: {second.text}"
        assert edit.shown(client.get(edit.read, headers=tenant.auth).json()) == changed, edit.name  # nothing applied
        for malformed in ("*", '"1_0"', '" 1"', 'W/"x"', '"-1"'):
            answer = client.request(
                edit.method, edit.url, json=edit.second, headers=tenant.auth | {"If-Match": malformed}
            )
            _refused(answer, 422, "If-Match")
        assert _version(client.get(edit.read, headers=tenant.auth)) == now, edit.name

        # no If-Match: the change is made (docs/api.md: If-Match is optional wherever it is taken)
        plain = client.request(edit.method, edit.url, json=edit.second, headers=tenant.auth)
        assert plain.status_code == 200, f"{edit.name}: {plain.text}"
        assert edit.shown(client.get(edit.read, headers=tenant.auth).json()) != changed, edit.name


# Lists ---------------------------------------------------------------------------------------------------------


def _lists(doc: dict[str, Any]) -> list[tuple[str, int]]:
    """Every keyset list of the brand (path and its largest `limit`) that needs no record id in its path."""
    found = []
    for path, ops in doc["paths"].items():
        op = ops.get("get")
        if op is None or "{" in path:
            continue
        query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        if "cursor" in query and "limit" in query:
            found.append((path, int(query["limit"]["schema"]["maximum"])))
    return found


def test_every_list_refuses_a_bad_limit_and_a_cursor_it_did_not_make(
    client: Any, platform: Any, openapi: dict[str, Any]
) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    for t in (tenant, other):
        for _ in range(2):
            made = client.post("/api/v1/loan-products", json={**PRODUCT, "code": "P" + uuid.uuid4().hex[:8]},
                               headers=t.auth)  # fmt: skip
            assert made.status_code == 201, made.text
    products = "/api/v1/loan-products"
    mine = client.get(products, params={"limit": 1}, headers=tenant.auth).json()["next_cursor"]
    theirs = client.get(products, params={"limit": 1}, headers=other.auth).json()["next_cursor"]
    filtered = client.get(products, params={"limit": 1, "type": "emi"}, headers=tenant.auth).json()["next_cursor"]
    assert mine and theirs and filtered
    lists = _lists(openapi)
    assert len(lists) > 30
    for path, largest in lists:
        for good in ("1", "1.0", str(largest)):  # 1.0 is the integer 1, as JSON Schema's `integer` reads it
            assert client.get(path, params={"limit": good}, headers=tenant.auth).status_code == 200, (path, good)
        for bad in ("0", "-1", str(largest + 1), "abc", "1.5", "1.", " 1", ""):
            _refused(client.get(path, params={"limit": bad}, headers=tenant.auth), 422, "limit")
        cursors = {"truncated": mine[:-3], "garbled": "not-a-cursor", "padded": mine + "AA"}
        if path != products:
            cursors["another list's"] = mine
        for name, cursor in cursors.items():
            answer = client.get(path, params={"cursor": cursor}, headers=tenant.auth)
            assert answer.status_code == 422, (path, name, answer.text[:200])
            _refused(answer, 422, "cursor")
    _refused(client.get(products, params={"cursor": theirs}, headers=tenant.auth), 422, "cursor")  # another brand's
    _refused(client.get(products, params={"cursor": filtered}, headers=tenant.auth), 422, "cursor")  # other filters
    assert client.get(products, params={"cursor": filtered, "type": "emi"}, headers=tenant.auth).status_code == 200


def _walk(client: Any, tenant: Tenant, path: str, params: dict[str, Any], between: Callable[[int], None]) -> list[str]:
    """The ids of every page of the list, `between(n)` run after the n-th page."""
    seen: list[str] = []
    cursor = None
    for n in range(100):
        page = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=tenant.auth)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen
        between(n)
    raise AssertionError("the walk did not end")


def test_walking_a_list_while_rows_come_and_go_shows_each_row_once_and_skips_none_that_stayed(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)

    def product(code: str) -> str:
        made = client.post("/api/v1/loan-products", json={**PRODUCT, "code": code}, headers=tenant.auth)
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    # products by code: new codes land before and after the walk's position; some are deactivated (leave the list)
    codes = [f"C{n:02d}" for n in range(0, 40, 2)]
    ids = {code: product(code) for code in codes}
    gone: set[str] = set()

    def churn(n: int) -> None:
        product(f"C{2 * n + 1:02d}")  # just after the page read: must show later
        product(f"B{n:02d}")  # before every page: not in this walk
        for code in (codes[n], codes[-1 - n]):  # one already seen, one still to come
            answer = client.post(f"/api/v1/loan-products/{ids[code]}/deactivate", json={}, headers=tenant.auth)
            assert answer.status_code == 200, answer.text
            gone.add(ids[code])
        settle(platform, "products")

    seen = _walk(client, tenant, "/api/v1/loan-products", {"limit": 3, "active": "true"}, churn)
    assert len(seen) == len(set(seen))  # no row twice
    stayed = {i for i in ids.values() if i not in gone}
    assert stayed <= set(seen)  # none that stayed skipped

    # the blocklist, newest change first: entries added (before the position) and removed between pages
    def block(value: str) -> str:
        made = client.post("/api/v1/blocklist", json={"kind": "pincode", "value": value, "reason": "fraud ring"},
                           headers=tenant.auth)  # fmt: skip
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    entries = [block(f"5600{n:02d}") for n in range(12)]
    removed: set[str] = set()

    def unblock(n: int) -> None:
        block(f"5601{n:02d}")
        for entry in (entries[-1 - n], entries[n]):  # newest first: one seen, one still to come
            answer = client.delete(f"/api/v1/blocklist/{entry}", params={"reason": "cleared"}, headers=tenant.auth)
            assert answer.status_code == 200, answer.text
            removed.add(entry)
        settle(platform, "blocklist")

    seen = _walk(client, tenant, "/api/v1/blocklist", {"limit": 2, "kind": "pincode"}, unblock)
    assert len(seen) == len(set(seen))
    assert {e for e in entries if e not in removed} <= set(seen)
