"""Request schemas state the domain's rules: the OpenAPI document's bounds of a reason, remark or note are the domain
constants its validator enforces, and a request at each bound is answered as the bound says (422 problem+json naming
the field one short of it; the field is not named at it). Rules that count folded or trimmed text keep their
validator, and their schema bound never refuses what the rule accepts."""

from __future__ import annotations

import types
import uuid
from typing import Any, Union, get_args, get_origin

import pytest
from annotated_types import MinLen

from api.endpoint import Endpoint
from domain.callbacks.request import MAX_NOTE, MAX_REMARKS
from domain.customers.values import DEFAULT_AGENT_REASON, MAX_AGENT_REASON, MAX_NOTE_CHARACTERS
from domain.identity.principal import OPERATOR
from domain.loans.bre import MIN_OVERRIDE_JUSTIFICATION
from domain.shared.values import MIN_REASON
from tests.conftest import Tenant, make_tenant
from tests.support import settle
from workers.contexts import CONTEXTS
from workers.platform import compose_web

ENDPOINTS = compose_web(CONTEXTS).endpoints


def _min_length(ep: Endpoint[Any], field: str) -> int | None:
    assert ep.body is not None
    return next((m.min_length for m in ep.body.model_fields[field].metadata if isinstance(m, MinLen)), None)


def _str_fields(ep: Endpoint[Any]) -> list[str]:
    def is_str(annotation: Any) -> bool:
        if get_origin(annotation) in (Union, types.UnionType):
            return any(is_str(a) for a in get_args(annotation))
        return annotation is str

    assert ep.body is not None
    return [name for name, info in ep.body.model_fields.items() if is_str(info.annotation)]


#: Every (endpoint, field) whose schema states the rule of a reason, remark or note: at least MIN_REASON visible.
REASONS = [
    (ep, name)
    for ep in ENDPOINTS
    if ep.body is not None and ep.upload is None and not ep.borrower and not ep.public
    for name in _str_fields(ep)
    if _min_length(ep, name) == MIN_REASON
]

#: The fields whose schema bound was looser or stricter than their rule, each with the bounds the rule gives.
STATED = {
    ("POST", "/api/v1/customers/{customer_id}/agent", "reason"): (None, 2 * MAX_AGENT_REASON),
    ("POST", "/api/v1/customers/{customer_id}/notes", "text"): (1, 2 * MAX_NOTE_CHARACTERS),
    ("POST", "/api/v1/callback-requests/{callback_id}/respond", "remarks"): (MIN_REASON, 2 * MAX_REMARKS),
    ("POST", "/api/v1/borrower/callback-requests", "note"): (None, 2 * MAX_NOTE),
    ("POST", "/api/v1/loans/{loan_id}/bre-overrides", "justification"): (MIN_OVERRIDE_JUSTIFICATION, 2000),
}


@pytest.fixture(scope="module")
def boss(platform: Any) -> Tenant:
    """A Super Admin key (every permission) of a fresh brand."""
    return make_tenant(platform, role="super_admin")


def _property(document: dict[str, Any], method: str, path: str, field: str) -> dict[str, Any]:
    """The JSON schema of a request body's field in the OpenAPI document (its model's component resolved)."""
    body = document["paths"][path][method.lower()]["requestBody"]["content"]
    schema = next(iter(body.values()))["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    prop: dict[str, Any] = schema["properties"][field]
    if "anyOf" in prop:  # an optional field: its string branch holds the bounds
        prop = {**prop, **next(branch for branch in prop["anyOf"] if branch.get("type") == "string")}
    return prop


def _url(ep: Endpoint[Any]) -> str:
    """The endpoint's path with every parameter a random id (nothing is found: a body that passes is a 404)."""
    url = ep.path
    while "{" in url:
        start, end = url.index("{"), url.index("}")
        url = url[:start] + str(uuid.uuid4()) + url[end + 1 :]
    return url


def _fields_named(response: Any) -> set[str]:
    if response.status_code != 422:
        return set()
    assert response.headers["content-type"] == "application/problem+json", response.text
    return {e["field"] for e in response.json().get("errors", [])}


def test_the_reasons_stating_the_rule_are_found_from_the_declarations() -> None:
    found = {(ep.path, name) for ep, name in REASONS}
    assert {
        ("/api/v1/blocklist", "reason"),
        ("/api/v1/callback-requests/{callback_id}/respond", "remarks"),
        ("/api/v1/loans/{loan_id}/cancel", "reason"),
        ("/api/v1/loans/{loan_id}/cx-approve", "remarks"),
        ("/api/v1/covenant-evaluations/{evaluation_id}/waive", "reason"),
        ("/api/v1/onboarding/{borrower_id}/send-back", "reason"),
        ("/api/v1/bank-accounts/{bank_account_id}/manual-verification", "note"),
        ("/api/v1/field-visits/{visit_id}/cancel", "reason"),
        ("/api/v1/staff-notifications", "title"),
        ("/api/v1/message-templates", "body"),
    } <= found
    assert len(found) >= 30


def test_the_openapi_bounds_are_the_domain_constants(client: Any) -> None:
    document = client.get("/openapi.json").json()
    for ep, name in REASONS:
        prop = _property(document, ep.method, ep.path, name)
        assert prop["minLength"] == MIN_REASON, (ep.path, name, prop)
        if (ep.method, ep.path, name) not in STATED:  # those say their own rule (checked below)
            assert f"at least {MIN_REASON} visible characters" in prop["description"], (ep.path, name, prop)
    for (method, path, name), (least, most) in STATED.items():
        prop = _property(document, method, path, name)
        assert (prop.get("minLength"), prop.get("maxLength")) == (least, most), (path, name, prop)
    agent = _property(document, "POST", "/api/v1/customers/{customer_id}/agent", "reason")["description"]
    assert f"{MIN_REASON} to {MAX_AGENT_REASON} characters once each run of whitespace is folded" in agent
    assert DEFAULT_AGENT_REASON in agent
    remarks = _property(document, "POST", "/api/v1/callback-requests/{callback_id}/respond", "remarks")
    assert f"{MIN_REASON} to {MAX_REMARKS} characters" in remarks["description"]


@pytest.mark.parametrize(("ep", "name"), REASONS, ids=[f"{ep.method} {ep.path} {name}" for ep, name in REASONS])
def test_a_reason_one_short_of_the_rule_is_422_naming_it_and_one_at_it_is_not(
    client: Any, boss: Tenant, ep: Endpoint[Any], name: str
) -> None:
    url = _url(ep)
    short = client.request(ep.method, url, json={name: "ab"}, headers=boss.auth)
    assert short.status_code == 422 and name in _fields_named(short), short.text
    at = client.request(ep.method, url, json={name: "abc"}, headers=boss.auth)
    assert name not in _fields_named(at), at.text


def test_an_override_justification_is_bound_at_its_own_minimum(client: Any, boss: Tenant) -> None:
    url = f"/api/v1/loans/{uuid.uuid4()}/bre-overrides"
    body = {"rule": "AGE", "result": "pass"}
    short = client.post(url, json={**body, "justification": "x" * (MIN_OVERRIDE_JUSTIFICATION - 1)}, headers=boss.auth)
    assert short.status_code == 422 and _fields_named(short) == {"justification"}, short.text
    at = client.post(url, json={**body, "justification": "x" * MIN_OVERRIDE_JUSTIFICATION}, headers=boss.auth)
    assert "justification" not in _fields_named(at) and at.status_code == 404, at.text


def test_blocklist_reasons_at_the_bound_are_taken_and_below_it_nothing_is_written(client: Any, boss: Tenant) -> None:
    refused = client.post(
        "/api/v1/blocklist", json={"kind": "pincode", "value": "110014", "reason": "ab"}, headers=boss.auth
    )
    assert refused.status_code == 422 and _fields_named(refused) == {"reason"}, refused.text
    assert client.get("/api/v1/blocklist", headers=boss.auth).json()["items"] == []
    taken = client.post(
        "/api/v1/blocklist", json={"kind": "pincode", "value": "110014", "reason": "abc"}, headers=boss.auth
    )
    assert taken.status_code == 201 and taken.json()["reason"] == "abc", taken.text


def test_an_agent_move_without_a_reason_and_with_a_long_folded_one_is_still_taken(
    client: Any, platform: Any, tenant: Tenant
) -> None:
    from domain.identity.application import Identity

    made = platform.get(Identity).create_staff(
        tenant.brand_id,
        f"agent-{uuid.uuid4().hex[:6]}@lender.in",
        "Agent Rules",
        ["collection_executive"],
        granter=OPERATOR,
    )
    settle(platform, "identity", made.position)
    customer = client.post("/api/v1/customers", json={"name": "Rules Borrower", "phone": "9811122233"},
                           headers=tenant.auth)  # fmt: skip
    assert customer.status_code == 201, customer.text
    url = f"/api/v1/customers/{customer.json()['id']}/agent"
    for reason in (None, "", "   "):  # the default reason, as before
        body = {"agent_id": str(made.id)} | ({} if reason is None else {"reason": reason})
        moved = client.post(url, json=body, headers=tenant.auth)
        assert moved.status_code in (200, 202), (reason, moved.text)
    # MAX_AGENT_REASON characters once folded, sent with double spaces: longer than the rule, within the schema.
    words = ("word " * (MAX_AGENT_REASON // 5))[: MAX_AGENT_REASON - 1] + "x"
    sent = words.replace(" ", "  ")
    assert MAX_AGENT_REASON < len(sent) <= 2 * MAX_AGENT_REASON
    moved = client.post(url, json={"agent_id": str(made.id), "reason": sent}, headers=tenant.auth)
    assert moved.status_code in (200, 202), moved.text
    over = client.post(url, json={"agent_id": str(made.id), "reason": words + "y"}, headers=tenant.auth)
    assert over.status_code == 422 and _fields_named(over) == {"reason"}, over.text
