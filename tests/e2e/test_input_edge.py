"""The API's input edge, walked from the endpoint declarations: forged cursors on every list, NUL and control
characters at every query parameter and every body field, strict query parsing, bounded decimals and dates, the
headers we read. Every refusal is a 4xx problem naming the field, and writes nothing."""

from __future__ import annotations

import base64
import gzip
import json
import re
import types
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import psycopg
import pytest
from psycopg import sql
from pydantic import BaseModel

from api.endpoint import Endpoint
from api.request_input import NOT_WHOLE
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.support import mobile, settle
from workers.contexts import CONTEXTS
from workers.platform import compose_web

ENDPOINTS = compose_web(CONTEXTS).endpoints
__all__ = ["sms"]  # the SMS simulator fixture, used by name (a borrower signs in with its code)

#: Path values that exist for every tenant (a real job name); ids come from the fixture below.
NAMES = {"name": "housekeeping", "phone": "+919999999999", "aggregate_type": "customer_record", "slug": "master-report"}


def _forge(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


FORGED_CURSORS = [
    "WyJhIiwiYiJd",  # ["a","b"]
    "WyJhIiwiYiIsImMiXQ",  # ["a","b","c"]
    "W3siYSI6MX0sMV0",  # [{"a":1},1]
    _forge(["\ud800", str(uuid.uuid4())]),  # a lone surrogate inside the cursor
    _forge(["x\u0000", str(uuid.uuid4())]),
    _forge([1.5, True]),
    _forge(["2026-11-20T10:00:00+00:00", "x", "y"]),
    _forge([2**40, "1e999999999", "SML", str(uuid.uuid4())]),
    _forge(["9999-99-99", "1", str(uuid.uuid4())]),
    "garbage",
    "!!",
]


def _events(dsn: str) -> int:
    """Every event of every application."""
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'events' AND table_type = 'BASE TABLE'"
            )
        ]
        return sum(
            conn.execute(sql.SQL("SELECT count(*) FROM events.{}").format(sql.Identifier(t))).fetchone()[0]
            for t in tables
        )


@pytest.fixture(scope="module")
def boss(platform: Any) -> Tenant:
    """A Super Admin key (every permission, cross-brand) of a fresh brand."""
    return make_tenant(platform, role="super_admin")


@pytest.fixture(scope="module")
def path_values(platform: Any, boss: Tenant, client_module: Any) -> dict[str, str]:
    staff = platform.get(Identity).create_staff(
        boss.brand_id, f"e-{uuid.uuid4().hex[:8]}@lender.in", "Edge Tester", ["admin"], granter=OPERATOR
    )
    settle(platform, "identity", staff.position)
    customer = platform.get(Customers).register(boss.brand_id, name="Edge Borrower", phone=mobile("9"))
    settle(platform, "customers", customer.position)
    product = client_module.post("/api/v1/loan-products", headers=boss.auth, json={
        "code": "EDGE", "name": "Edge loan", "type": "emi", "min_amount": "10000", "max_amount": "200000",
        "min_tenure": 3, "max_tenure": 24, "annual_percent": "24", "gst_percent": "18",
        "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
        "penal": {"kind": "simple", "daily_percent": "0.1"}, "max_active_loans": 50, "bre_rules": [],
    })  # fmt: skip
    assert product.status_code == 201, product.text
    loan = client_module.post("/api/v1/loans", headers=boss.auth, json={
        "customer_id": str(customer.id), "product_id": product.json()["id"], "amount": "50000", "tenure": 12,
    })  # fmt: skip
    assert loan.status_code == 201, loan.text  # the loan-scoped lists (calls, field visits) page a real loan
    return NAMES | {"staff_id": str(staff.id), "customer_id": str(customer.id), "loan_id": loan.json()["id"]}


@pytest.fixture(scope="module")
def borrower(client_module: Any, boss: Tenant, sms: Any) -> dict[str, str]:
    """A signed-in borrower of the boss's brand: borrower endpoints open to a borrower's token only."""
    return bearer(sign_in(client_module, sms, boss.slug, mobile("9")))


@pytest.fixture(scope="module")
def client_module(app: Any) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(app) as c:
        yield c


def _auth(ep: Endpoint, boss: Tenant, borrower: dict[str, str]) -> dict[str, str]:
    """The credentials an endpoint opens to: a borrower's token for borrower endpoints, else the boss's key."""
    return borrower if ep.borrower else boss.auth


def _url(ep: Endpoint, path_values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: path_values.get(m.group(1), str(uuid.uuid4())), ep.path)


def _fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _errors(response: Any) -> set[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return {e["field"] for e in response.json().get("errors", [])}


LISTS = [ep for ep in ENDPOINTS if ep.method == "GET" and ep.query is not None and "cursor" in ep.query.model_fields]


def test_the_lists_are_found_from_the_declarations() -> None:
    paths = {ep.path for ep in LISTS}
    assert {
        "/api/v1/customers",
        "/api/v1/staff",
        "/api/v1/staff/{staff_id}/activity",
        "/api/v1/covenants",
        "/api/v1/blocklist",
        "/api/v1/brand/config/history",
        "/api/v1/jobs/{name}/runs",
        "/api/v1/activity",
        "/api/v1/audit/trail",
        "/api/v1/sync-runs",
        "/api/v1/notices/overdue",
        "/api/v1/notices/upcoming",
    } <= paths


def test_every_list_answers_a_forged_cursor_with_422_naming_it(
    client: Any, boss: Tenant, path_values: dict[str, str]
) -> None:
    failures = []
    for ep in LISTS:
        url = _url(ep, path_values)
        variants: list[dict[str, str]] = [{}]
        if "due_from" in ep.query.model_fields:  # type: ignore[union-attr]
            variants.append({"due_from": "2026-01-01"})  # the overdue feed pages by due date in a window
        for extra in variants:
            assert client.get(url, params=extra, headers=boss.auth).status_code == 200, url
            for cursor in FORGED_CURSORS:
                got = client.get(url, params={**extra, "cursor": cursor}, headers=boss.auth)
                if got.status_code != 422 or _errors(got) != {"cursor"}:
                    failures.append((url, extra, cursor, got.status_code, got.text[:200]))
    assert failures == []


def test_a_cursor_from_one_list_is_refused_by_a_list_of_another_key(client: Any, boss: Tenant, platform: Any) -> None:
    for i in range(3):
        client.post("/api/v1/customers", json={"name": f"Cursor Person {i}", "phone": f"96{i:08d}"}, headers=boss.auth)
    page = client.get("/api/v1/customers", params={"limit": 1}, headers=boss.auth).json()
    assert page["next_cursor"]
    assert client.get("/api/v1/customers", params={"cursor": page["next_cursor"]}, headers=boss.auth).status_code == 200
    refused = client.get("/api/v1/activity", params={"cursor": page["next_cursor"]}, headers=boss.auth)
    assert refused.status_code == 422 and _errors(refused) == {"cursor"}


def test_nul_and_control_characters_at_every_query_parameter_are_422_naming_it(
    client: Any, boss: Tenant, path_values: dict[str, str], dsn: str, borrower: dict[str, str]
) -> None:
    before = _events(dsn)
    failures = []
    for ep in ENDPOINTS:
        url = _url(ep, path_values)
        names = _fields(ep.query) if ep.query is not None else ["anything"]
        for name in names:
            for value in ("%00", "a%00b", "%1B%5B31m", "%E2%80%AE"):  # NUL, ESC, U+202E (right-to-left override)
                got = client.request(ep.method, f"{url}?{name}={value}", headers=_auth(ep, boss, borrower))
                if got.status_code != 422 or name not in _errors(got):
                    failures.append((ep.method, url, name, value, got.status_code, got.text[:200]))
    assert failures == []
    assert _events(dsn) == before


def test_a_query_parameter_given_twice_or_with_an_undecodable_byte_is_not_a_server_error(
    client: Any, boss: Tenant
) -> None:
    twice = client.get("/api/v1/customers?limit=5&limit=6", headers=boss.auth)
    assert twice.status_code == 422 and _errors(twice) == {"limit"}
    # Bytes that are not UTF-8 (a lone surrogate's encoding) arrive as U+FFFD: text, searched for and not found.
    mangled = client.get("/api/v1/customers?q=%ED%A0%80", headers=boss.auth)
    assert mangled.status_code == 200 and mangled.json()["items"] == []


def _free_text(model: type[BaseModel], name: str) -> bool:
    info = next(i for n, i in model.model_fields.items() if (i.alias or n) == name)
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return annotation is str and not any(getattr(m, "pattern", None) for m in info.metadata)


def test_an_empty_typed_query_parameter_is_422_and_an_empty_search_term_means_none(
    client: Any, boss: Tenant, path_values: dict[str, str]
) -> None:
    failures = []
    for ep in ENDPOINTS:
        if ep.query is None:
            continue
        url = _url(ep, path_values)
        for name in _fields(ep.query):
            got = client.request(ep.method, f"{url}?{name}=", headers=boss.auth)
            assert got.status_code < 500, got.text
            said_empty = got.status_code == 422 and any(
                e["field"] == name and "empty" in e["message"] for e in got.json().get("errors", [])
            )
            if _free_text(ep.query, name) == said_empty:
                failures.append((ep.method, url, name, got.status_code, got.text[:200]))
    assert failures == []
    assert client.get("/api/v1/customers?q=", headers=boss.auth).status_code == 200
    for query in ("limit=", "limit=%20", "limit=1.5", "as_of=-1", "from=0", "from=1700000000", "from=2026-01-01"):
        path = (
            "/api/v1/audit/customer_record/" + str(uuid.uuid4()) + "/state" if "as_of" in query else "/api/v1/activity"
        )
        got = client.get(f"{path}?{query}", headers=boss.auth)
        assert got.status_code == 422, (query, got.text)


def _whole_number_parameters(model: type[BaseModel]) -> list[str]:
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if annotation is int:
            found.append(info.alias or name)
    return found


def test_every_whole_number_query_parameter_is_plain_ascii_digits(
    client: Any, boss: Tenant, path_values: dict[str, str], borrower: dict[str, str]
) -> None:
    # Found by a probe: `?limit=%203` listed 3 - pydantic reads " 3", "+3" and "3_0" as the integer 3. "3.0" is 3, as
    # JSON Schema's `integer` (the document's) reads it.
    walked = {(ep.method, ep.path, name) for ep in ENDPOINTS if ep.query for name in _whole_number_parameters(ep.query)}
    assert {
        ("GET", "/api/v1/customers", "limit"),
        ("GET", "/api/v1/loans", "limit"),
        ("GET", "/api/v1/notices/overdue", "limit"),
        ("GET", "/api/v1/audit/trail", "limit"),
        ("GET", "/api/v1/message-deliveries", "days"),
        ("GET", "/api/v1/loan-products/{product_id}/quote", "tenure"),
    } <= walked
    failures = []
    for ep in ENDPOINTS:
        if ep.query is None:
            continue
        url = _url(ep, path_values)
        for name in _whole_number_parameters(ep.query):
            for value in (
                "%203",
                "3%20",
                "%2B3",
                "3_0",
                "3.5",
                "3.",
                ".0",
                "3.0%20",
                "%D9%A3",
                "%C2%B3",
                "%EF%BC%93",
                "%C2%A03",
                "-3",
            ):
                got = client.request(ep.method, f"{url}?{name}={value}", headers=_auth(ep, boss, borrower))
                if got.status_code != 422 or name not in _errors(got):
                    failures.append((ep.method, url, name, value, got.status_code, got.text[:200]))
            for plain_value in ("3", "3.0", "3.00"):  # 3.0 is the integer 3, as JSON Schema's `integer` reads it
                plain = client.request(ep.method, f"{url}?{name}={plain_value}", headers=_auth(ep, boss, borrower))
                if plain.status_code >= 500 or (plain.status_code == 422 and name in _errors(plain)):
                    failures.append((ep.method, url, name, plain_value, plain.status_code, plain.text[:200]))
    assert failures == []
    refused = client.get("/api/v1/customers?limit=%203", headers=boss.auth)
    assert refused.json()["errors"] == [{"field": "limit", "message": NOT_WHOLE}], refused.text
    assert client.get("/api/v1/customers?limit=03", headers=boss.auth).status_code == 200
    one = client.get("/api/v1/customers?limit=1.0", headers=boss.auth)
    assert one.status_code == 200 and len(one.json()["items"]) <= 1, one.text


def test_nul_or_a_lone_surrogate_in_any_body_field_is_422_naming_it_and_writes_nothing(
    client: Any, boss: Tenant, path_values: dict[str, str], dsn: str, borrower: dict[str, str]
) -> None:
    before = _events(dsn)
    failures = []
    for ep in ENDPOINTS:
        if ep.body is None:
            continue
        url = _url(ep, path_values)
        if ep.upload is not None:  # multipart: the same rule for its text fields
            for name in _fields(ep.body):
                for bad in ("x\u0000y", "x\u202ey"):
                    got = client.request(
                        ep.method,
                        url,
                        data={name: bad},
                        files={"file": ("a.pdf", b"%PDF-1.7")},
                        headers=_auth(ep, boss, borrower),
                    )
                    if got.status_code != 422 or name not in _errors(got):
                        failures.append((ep.method, url, name, bad, got.status_code, got.text[:200]))
            continue
        for name in _fields(ep.body) or ["min_salary"]:
            for raw in (json.dumps({name: "x\u0000y"}), json.dumps({name: "x\ud800y"}), json.dumps({name: ["\u0007"]})):
                got = client.request(
                    ep.method,
                    url,
                    content=raw.encode(),
                    headers=_auth(ep, boss, borrower) | {"content-type": "application/json"},
                )
                if got.status_code != 422 or not any(
                    f == name or f.startswith((name + ".", name + "[")) for f in _errors(got)
                ):
                    failures.append((ep.method, url, name, raw, got.status_code, got.text[:200]))
    assert failures == []
    assert _events(dsn) == before


def test_the_reported_reproducers_and_nested_values_and_keys_are_refused(client: Any, boss: Tenant, dsn: str) -> None:
    before = _events(dsn)
    cases = [
        ("POST", "/api/v1/customers", {"name": "Nul\u0000Byte Name", "phone": "98765 11111"}, "name"),
        ("POST", "/api/v1/blocklist", {"kind": "pincode", "value": "110011", "reason": "r\u0000r"}, "reason"),
        (
            "POST",
            "/api/v1/customers",
            {
                "name": "Asha",
                "phone": "98765 11112",
                "addresses": [{"line1": "a\ud800", "city": "X", "pincode": "560001"}],
            },
            "addresses[0].line1",
        ),
        ("POST", "/api/v1/staff", {"name": "Ops", "email": "o@x.in", "roles": ["admin\u0000"]}, "roles[0]"),
        ("PATCH", "/api/v1/brand/config", {"covenant_lead_days\u0000": {}}, "covenant_lead_days\\x00"),
        (
            "PATCH",
            "/api/v1/brand/config",
            {"covenant_grace_days": {"monthly\u0000": 3}},
            "covenant_grace_days.monthly\\x00",
        ),
        ("POST", "/api/v1/jobs/housekeeping/runs", {"variables": {"k": "v\u0000"}}, "variables.k"),
    ]
    for method, url, body, field in cases:
        raw = json.dumps(body).encode()  # ASCII, with the bad characters as JSON escapes
        got = client.request(method, url, content=raw, headers=boss.auth | {"content-type": "application/json"})
        assert got.status_code == 422 and _errors(got) == {field}, (url, got.text)
    assert _events(dsn) == before


def test_deep_huge_or_non_standard_json_is_400(client: Any, boss: Tenant) -> None:
    nested = b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    for raw in (
        nested,
        b'{"name": ' + b"{" * 100_000,
        b'{"value": ' + b"9" * 5000 + b"}",
        b'{"value": NaN}',
        b'{"value": Infinity}',
        b'{"name": "\xff"}',
    ):
        got = client.post("/api/v1/customers", content=raw, headers=boss.auth | {"content-type": "application/json"})
        assert got.status_code == 400 and got.json()["type"].endswith("malformed-json"), got.text
    shallow = b'{"name": ' + b"[" * 20 + b"]" * 20 + b"}"
    assert (
        client.post(
            "/api/v1/customers", content=shallow, headers=boss.auth | {"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_a_body_naming_a_field_twice_is_422_naming_it_and_writes_nothing(client: Any, boss: Tenant, dsn: str) -> None:
    # JSON readers differ on which of two values they keep (Python's the last): refused as a repeated query parameter
    # is, where the last one was recorded.
    json_type = {"content-type": "application/json"}
    before = _events(dsn)
    for path, raw, fields in (
        ("/api/v1/blocklist", b'{"kind":"pincode","value":"110011","reason":"fraud ring","value":"110012"}', {"value"}),
        ("/api/v1/blocklist", b'{"kind":"pincode","value":"110011","reason":"a","reason":"a"}', {"reason"}),
        ("/api/v1/brand/config", b'{"covenant_lead_days":{"monthly":5,"monthly":6}}', {"covenant_lead_days.monthly"}),
    ):
        method = "PATCH" if path.endswith("config") else "POST"
        got = client.request(method, path, content=raw, headers=boss.auth | json_type)
        assert got.status_code == 422 and _errors(got) == fields, (raw, got.text)
    assert _events(dsn) == before
    once = b'{"kind":"pincode","value":"110011","reason":"fraud ring"}'
    assert client.post("/api/v1/blocklist", content=once, headers=boss.auth | json_type).status_code == 201


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("1e999999999", "no exponent"),
        ("1e3", "no exponent"),  # a thousand where 1.3 was meant: the schema's plain decimals only
        ("+1", "no exponent, '+' or spaces"),
        (" 1", "not a decimal number"),
        ("1.", "not a decimal number"),
        (1e308 * 10, "finite"),  # sent as the JSON number 1e999, too large for a float
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("-0", "-0"),
        ("1.0000001", "decimal places"),
        ("abc", "not a decimal number"),
    ],
)
def test_a_measured_value_outside_its_column_is_422_and_writes_nothing(
    client: Any, boss: Tenant, dsn: str, value: Any, says: str
) -> None:
    before = _events(dsn)
    raw = '{"value": 1e999}' if isinstance(value, float) else json.dumps({"value": value})
    got = client.post(
        f"/api/v1/covenant-evaluations/{uuid.uuid4()}/submit-value",
        content=raw.encode(),
        headers=boss.auth | {"content-type": "application/json"},
    )
    assert got.status_code == 422 and _errors(got) == {"value"} and says in got.text, got.text
    assert _events(dsn) == before


def test_brand_money_settings_outside_numeric_16_2_are_422_and_change_nothing(
    client: Any, boss: Tenant, dsn: str
) -> None:
    config = client.get("/api/v1/brand/config", headers=boss.auth).json()
    before = _events(dsn)
    for setting in ("min_salary", "min_loan_amount"):
        for value in ("1e28", "1e10000", "1e999999999", "NaN", "-0", "-0.00", "12.345", "-1"):
            got = client.patch("/api/v1/brand/config", json={setting: value}, headers=boss.auth)
            assert got.status_code == 422 and _errors(got) == {setting}, (setting, value, got.text)
        got = client.patch(
            "/api/v1/brand/config",
            content=f'{{"{setting}": 1e400}}'.encode(),
            headers=boss.auth | {"content-type": "application/json"},
        )
        assert got.status_code == 422 and _errors(got) == {setting}
    for value in ("0001-01-01", "9999-12-31", "2026-1-1", "20261120"):
        got = client.patch("/api/v1/brand/config", json={"business_date": value}, headers=boss.auth)
        assert got.status_code == 422 and _errors(got) == {"business_date"}, got.text
    assert _events(dsn) == before
    assert client.get("/api/v1/brand/config", headers=boss.auth).json()["settings"] == config["settings"]
    saved = client.patch("/api/v1/brand/config", json={"min_salary": "25000.5"}, headers=boss.auth)
    assert saved.status_code == 200 and saved.json()["settings"]["min_salary"] == "25000.50"


def test_brand_settings_of_another_json_type_are_422_naming_each_and_change_nothing(
    client: Any, boss: Tenant, dsn: str
) -> None:
    # The form's text is read leniently; a JSON body's "22" for a number of days, 1 or "yes" for a flag, or true for
    # a number of days (which was saved as 1) is not a value of the setting.
    config = client.get("/api/v1/brand/config", headers=boss.auth).json()
    before = _events(dsn)
    for body, fields in (
        ({"min_age": "23"}, {"min_age"}),
        ({"inactive_user_days": 30.0}, {"inactive_user_days"}),
        ({"reloan_offer_days": "5"}, {"reloan_offer_days"}),
        ({"sunday_off": "no"}, {"sunday_off"}),
        ({"central_dedup": 1}, {"central_dedup"}),
        ({"covenant_lead_days": {"monthly": True}}, {"covenant_lead_days.monthly"}),
        ({"notification_channels": {"due_7": "sms"}}, {"notification_channels.due_7"}),
        ({"min_age": True, "auto_allocate_loans": "true"}, {"min_age", "auto_allocate_loans"}),
    ):
        got = client.patch("/api/v1/brand/config", json=body, headers=boss.auth)
        assert got.status_code == 422 and _errors(got) == fields, (body, got.text)
    assert _events(dsn) == before
    assert client.get("/api/v1/brand/config", headers=boss.auth).json()["settings"] == config["settings"]
    saved = client.patch(
        "/api/v1/brand/config",
        json={"min_age": 23, "sunday_off": False, "covenant_lead_days": {"monthly": 5}, "reloan_offer_days": None},
        headers=boss.auth,
    )
    assert saved.status_code == 200, saved.text
    settings = saved.json()["settings"]
    assert settings["min_age"] == 23 and settings["covenant_lead_days"] == {"monthly": 5}


@pytest.mark.parametrize("name", ["localtime", "posixrules", "right/UTC", "posix/Asia/Kolkata", "Factory"])
def test_a_timezone_that_names_no_place_is_422_for_a_brand_and_its_settings(
    client: Any, boss: Tenant, dsn: str, name: str
) -> None:
    # ZoneInfo opens these files, but `localtime` is the server's own zone and the embedded PostgreSQL ships none of
    # the build files: its AT TIME ZONE (the brand's business day in read models) failed on them.
    before = _events(dsn)
    got = client.patch("/api/v1/brand/config", json={"timezone": name}, headers=boss.auth)
    assert got.status_code == 422 and _errors(got) == {"timezone"}, got.text
    slug = f"tz-{uuid.uuid4().hex[:8]}"
    made = client.post("/api/v1/brands", json={"slug": slug, "name": "Tz Probe", "timezone": name}, headers=boss.auth)
    assert made.status_code == 422 and _errors(made) == {"timezone"}, made.text
    assert _events(dsn) == before


def test_an_if_match_that_is_not_a_version_of_ours_is_422_naming_it(client: Any, boss: Tenant, dsn: str) -> None:
    before = _events(dsn)
    for value in ("*", '"1_0"', '" 1"', '"+1"', '"1.0"', '"' + "9" * 19 + '"', '""'):
        got = client.patch("/api/v1/brand/config", json={"sunday_off": True}, headers=boss.auth | {"If-Match": value})
        assert got.status_code == 422 and _errors(got) == {"If-Match"}, (value, got.text)
    assert _events(dsn) == before
    version = client.get("/api/v1/brand/config", headers=boss.auth).json()["version"]
    for value in (f'"{version - 1}"', f'W/"{version - 1}"'):
        stale = client.patch("/api/v1/brand/config", json={"sunday_off": True}, headers=boss.auth | {"If-Match": value})
        assert stale.status_code == 409, stale.text


def test_dates_outside_1900_to_2200_and_non_iso_dates_are_422(
    client: Any, boss: Tenant, path_values: dict[str, str], dsn: str
) -> None:
    before = _events(dsn)
    customer = str(uuid.uuid4())
    covenant = {
        "customer_id": customer, "application_ref": "APP-1", "title": "Stock statement", "type": "document",
        "document": "Stock statement", "frequency": "monthly", "start_date": "2024-01-01",
        "first_due_date": "2024-01-31", "expiry_date": "2024-12-31",
    }  # fmt: skip
    for field in ("start_date", "first_due_date", "expiry_date"):
        for value in ("0001-01-01", "9999-12-31", "1700000000", 0):
            got = client.post("/api/v1/covenants", json=covenant | {field: value}, headers=boss.auth)
            assert got.status_code == 422 and field in _errors(got), (field, value, got.text)
    for value in ("9999-12-31", "0001-01-01", "-1", "2026-11-20T00:00:00"):
        got = client.post("/api/v1/jobs/housekeeping/runs", json={"as_of": value}, headers=boss.auth)
        assert got.status_code == 422 and _errors(got) == {"as_of"}, got.text
    staff = path_values["staff_id"]
    got = client.post(
        f"/api/v1/staff/{staff}/leaves", json={"start": "2026-01-01", "end": "9999-12-31"}, headers=boss.auth
    )
    assert got.status_code == 422 and _errors(got) == {"end"}
    for query in ("due_from=0001-01-01", "due_to=9999-12-31", "due_from=20260101"):
        got = client.get(f"/api/v1/covenants?{query}", headers=boss.auth)
        assert got.status_code == 422, got.text
    assert _events(dsn) == before


def test_invisible_names_and_control_characters_in_labels_are_422(client: Any, boss: Tenant, dsn: str) -> None:
    before = _events(dsn)
    cases = [
        ("POST", "/api/v1/staff", {"name": "\u200b\u200b\u200b", "email": "z@x.in", "roles": ["admin"]}, "name"),
        ("POST", "/api/v1/staff", {"name": "\u202e\u202e\u202e", "email": "z@x.in", "roles": ["admin"]}, "name"),
        ("POST", "/api/v1/api-keys", {"label": "\u200b\u2060", "role": "admin"}, "label"),
        ("POST", "/api/v1/api-keys", {"label": "two\nlines", "role": "admin"}, "label"),
        ("POST", "/api/v1/api-keys", {"label": "bell\u0007", "role": "admin"}, "label"),
        (
            "POST",
            "/api/v1/blocklist",
            {"kind": "pincode", "value": "110011", "reason": "\u200b\u200b\u200b\u200b"},
            "reason",
        ),
        ("POST", "/api/v1/brands", {"slug": "zw" + uuid.uuid4().hex[:6], "name": "\u3164\u3164"}, "name"),
    ]
    for method, url, body, field in cases:
        got = client.request(method, url, json=body, headers=boss.auth)
        assert got.status_code == 422 and field in _errors(got), (body, got.text)
    assert _events(dsn) == before


def test_the_headers_we_read_are_checked_like_any_input(client: Any, boss: Tenant, dsn: str) -> None:
    before = _events(dsn)
    body = {"kind": "pincode", "value": "110012", "reason": "fraud ring"}
    for header, value in (
        ("Idempotency-Key", "key\u0000one"),
        ("Idempotency-Key", "key\u0007"),
        ("If-Match", '"1\u0000"'),
        ("X-Brand-Id", f"{boss.brand_id}\u0000"),
    ):
        got = client.post("/api/v1/blocklist", json=body, headers=boss.auth | {header: value})
        assert got.status_code == 422 and _errors(got) == {header}, (header, got.text)
    for value in ("id\u0000".encode(), "caf\u00e9".encode("latin-1"), b"two words\x07", b"x" * 201):
        got = client.get("/health", headers={"X-Request-ID": value})
        assert got.status_code == 422 and _errors(got) == {"X-Request-ID"}
    assert _events(dsn) == before
    # The refused key was never reserved: the same request goes through with a good key.
    assert (
        client.post("/api/v1/blocklist", json=body, headers=boss.auth | {"Idempotency-Key": "k-1"}).status_code == 201
    )


def test_a_malformed_x_brand_id_or_a_version_given_two_ways_is_422_naming_it(
    client: Any, boss: Tenant, dsn: str
) -> None:
    before = _events(dsn)
    for value in ("", "not-a-brand", "1234", str(boss.brand_id)[:-1]):
        got = client.get("/api/v1/me", headers=boss.auth | {"X-Brand-Id": value})
        assert got.status_code == 422 and _errors(got) == {"X-Brand-Id"}, (value, got.text)
    body = {"product_id": str(uuid.uuid4()), "reason": "cheaper product", "expected_version": 3}
    got = client.post(f"/api/v1/loans/{uuid.uuid4()}/product", json=body, headers=boss.auth | {"If-Match": '"2"'})
    assert got.status_code == 422 and _errors(got) == {"expected_version"}, got.text
    assert _events(dsn) == before


def test_a_nul_in_a_path_parameter_is_422(client: Any, boss: Tenant) -> None:
    got = client.delete(f"/api/v1/customers/{uuid.uuid4()}/alternate-phones/98765%0043210", headers=boss.auth)
    assert got.status_code == 422 and _errors(got) == {"phone"}
    assert client.get("/api/v1/customers/not-an-id", headers=boss.auth).status_code == 404


# The declarations ------------------------------------------------------------------------------------------------


def _bare(annotation: Any, seen: set[Any]) -> list[Any]:
    """Bare date, datetime or Decimal types anywhere in an annotation (the shared bounded types are Annotated)."""
    if get_origin(annotation) is Annotated:
        return []
    if annotation in (date, datetime, Decimal):
        return [annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        hints = get_type_hints(annotation, include_extras=True)
        return [t for name in annotation.model_fields for t in _bare(hints[name], seen)]
    return [t for arg in get_args(annotation) for t in _bare(arg, seen)]


def test_every_date_instant_and_decimal_input_uses_the_shared_bounded_types() -> None:
    # A new endpoint's `date`, `datetime` or `Decimal` field would parse "-1" as 1969 or "1e999999999" as a
    # number: it must use BusinessDate, Instant, Money or Measure from domain/shared/values.py.
    offenders = {
        (ep.operation_id, model.__name__): bare
        for ep in ENDPOINTS
        for model in (ep.body, ep.query)
        if model is not None and (bare := _bare(model, set()))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("path", "start", "end", "first", "last"),
    [
        ("/api/v1/audit/trail", "from", "to", "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("/api/v1/activity", "from", "to", "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("/api/v1/notices/upcoming", "due_from", "due_to", "2027-01-01", "2026-01-01"),
        ("/api/v1/notices/overdue", "due_from", "due_to", "2027-01-01", "2026-01-01"),
        ("/api/v1/covenants", "due_from", "due_to", "2027-01-01", "2026-01-01"),
        ("/api/v1/reminders", "created_from", "created_to", "2027-01-01", "2026-01-01"),
        ("/api/v1/reminders", "scheduled_from", "scheduled_to", "2027-01-01T10:00:00Z", "2027-01-01T09:59:59Z"),
    ],
)
def test_a_reversed_range_on_a_list_is_422_naming_its_end_and_a_one_day_range_is_a_page(
    client: Any, boss: Tenant, path: str, start: str, end: str, first: str, last: str
) -> None:
    # A range whose end is before its start matches nothing: an empty page would read as "there is nothing".
    got = client.get(path, params={start: first, end: last}, headers=boss.auth)
    assert got.status_code == 422 and got.headers["content-type"].startswith("application/problem+json"), got.text
    assert got.json()["errors"] == [{"field": end, "message": f"must not be before '{start}'"}]
    same = client.get(path, params={start: first, end: first}, headers=boss.auth)
    assert same.status_code == 200 and "items" in same.json(), same.text


def test_a_content_length_of_other_digits_is_no_server_error(client: Any, tenant: Tenant) -> None:
    # Found by a probe: the body-size guards read Content-Length with `isdigit()`, which takes "²" (and other
    # scripts' digits) that `int()` then refuses: a 500 before the request was read. uvicorn refuses such a header
    # itself; the guards must not depend on it.
    for length in ("²".encode(), "١٢".encode(), b"9" * 5000):
        for method, path, body in (("POST", "/api/v1/blocklist", b"{}"), ("POST", "/login", b"email=a")):
            headers: dict[str, Any] = tenant.auth | {"Content-Length": length}
            got = client.request(method, path, content=body, headers=headers)
            assert got.status_code < 500, (length[:8], path, got.status_code, got.text[:200])


def _count(dsn: str, sql: str, *params: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_a_yes_or_no_in_a_body_is_a_json_boolean(client: Any, tenant: Tenant, dsn: str) -> None:
    # Found by a probe: `"dry_run": "yes"` ran a dry run, and "on", "1", 1 or "f" passed as flags in every body's
    # yes/no (`Flag`): now each is a 422 naming the field, and nothing runs or changes.
    runs_before = _count(dsn, "SELECT count(*) FROM read.job_runs WHERE brand_id = %s", tenant.brand_id)
    for loose in ("yes", "true", "on", 1, 0, "f"):
        run = client.post("/api/v1/jobs/covenant-evaluation/runs", json={"dry_run": loose}, headers=tenant.auth)
        assert run.status_code == 422, (loose, run.text)
        assert [e["field"] for e in run.json()["errors"]] == ["dry_run"], run.text
        patch = client.patch("/api/v1/jobs/housekeeping", json={"enabled": loose}, headers=tenant.auth)
        assert patch.status_code == 422 and [e["field"] for e in patch.json()["errors"]] == ["enabled"], patch.text
    assert _count(dsn, "SELECT count(*) FROM read.job_runs WHERE brand_id = %s", tenant.brand_id) == runs_before
    schema = client.get("/openapi.json").json()["components"]["schemas"]["RunRequest"]["properties"]["dry_run"]
    assert schema["type"] == "boolean"
    kept = client.patch("/api/v1/jobs/housekeeping", json={"enabled": True}, headers=tenant.auth)
    assert kept.status_code == 200, kept.text


def test_a_compressed_request_body_is_415_naming_its_content_encoding_and_writes_nothing(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    # Found by a probe: a body sent with `Content-Encoding: gzip` was read as if plain -- gzip's bytes answered "not
    # JSON" (400), and a plain body labelled gzip was taken as it stood. The API reads bodies as sent: a coding other
    # than identity is a 415 that names it, for JSON bodies and uploads alike.
    entry = {"kind": "pincode", "value": "560001", "reason": "fraud ring at this pincode"}
    plain = json.dumps(entry).encode()
    before = _events(dsn)
    for coding, body in (("gzip", gzip.compress(plain)), ("gzip", plain), ("br", plain), ("deflate, gzip", plain)):
        headers = tenant.auth | {"Content-Type": "application/json", "Content-Encoding": coding}
        refused = client.post("/api/v1/blocklist", content=body, headers=headers)
        assert refused.status_code == 415, (coding, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert f"Content-Encoding (got '{coding}')" in refused.json()["detail"], refused.text
        upload = client.post(
            f"/api/v1/customers/{uuid.uuid4()}/documents",
            data={"kind": "salary_slip"},
            files={"file": ("slip.pdf", b"%PDF-1.7\n%%EOF\n")},
            headers=tenant.auth | {"Content-Encoding": coding},
        )
        assert upload.status_code == 415 and "Content-Encoding" in upload.json()["detail"], (coding, upload.text)
    assert _events(dsn) == before
    headers = tenant.auth | {"Content-Type": "application/json", "Content-Encoding": "identity"}
    assert client.post("/api/v1/blocklist", content=plain, headers=headers).status_code == 201
