"""The admin API's formats over HTTP: what the OpenAPI document states for a dialer extension, account id and token,
a product or coupon code, a notice source's company and URL and a rating's period is the parser's own rule (trimmed
text taken, letters that upper-case into ASCII refused), so that a schema-valid request is taken."""

from __future__ import annotations

import uuid
from typing import Any

from domain.fieldwork.dialer import ACCOUNT_PATTERN, EXTENSION_PATTERN, TOKEN_PATTERN
from domain.leads.rating import PERIOD
from domain.notices.source import COMPANY_PATTERN, MIN_TOKEN, URL_PATTERN
from domain.products.terms import CODE_PATTERN
from tests.conftest import make_tenant

PRODUCT = {
    "name": "Personal loan", "type": "emi", "min_amount": "10000", "max_amount": "200000", "min_tenure": 3,
    "max_tenure": 24, "annual_percent": "24", "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
}  # fmt: skip


def _string(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's string schema (the string branch of `... | None`)."""
    branches = schema.get("anyOf", [schema])
    return next(b for b in branches if b.get("type") == "string")


def test_the_document_states_each_format_with_the_parsers_pattern(client: Any) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]

    def field(model: str, name: str) -> dict[str, Any]:
        return _string(components[model]["properties"][name])

    assert field("ExtensionIn", "extension")["pattern"] == EXTENSION_PATTERN
    assert field("DialerSettingsIn", "account_id")["pattern"] == ACCOUNT_PATTERN
    assert field("DialerSettingsIn", "api_token")["pattern"] == TOKEN_PATTERN
    assert field("ProductIn", "code")["pattern"] == CODE_PATTERN
    assert field("CouponIn", "code")["pattern"] == CODE_PATTERN
    assert field("SourceIn", "company")["pattern"] == COMPANY_PATTERN
    assert field("SourceIn", "base_url")["pattern"] == URL_PATTERN
    assert field("SourcePatch", "base_url")["pattern"] == URL_PATTERN
    assert field("SourceIn", "token")["minLength"] == field("SourcePatch", "token")["minLength"] == MIN_TOKEN
    assert field("RatingIn", "period")["pattern"] == PERIOD.pattern
    scores = components["RatingIn"]["properties"]["scores"]
    assert scores["minProperties"] == 1
    assert (scores["additionalProperties"]["minimum"], scores["additionalProperties"]["maximum"]) == (1, 10)


def test_a_code_is_checked_as_typed_and_kept_upper_case(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    product = client.post("/api/v1/loan-products", json=PRODUCT | {"code": " pl-1 "}, headers=tenant.auth)
    assert product.status_code == 201, product.text
    assert product.json()["code"] == "PL-1"
    coupon = {"product_id": product.json()["id"], "kind": "percent", "value": "50", "valid_from": "2026-01-01",
              "valid_to": "2027-12-31"}  # fmt: skip
    # "ıd" upper-cases to "ID" and "ßa" to "SSA": they were taken as those codes, which they are not.
    for code in ("ıd", "ßa", "ﬁx"):
        refused = client.post("/api/v1/coupons", json=coupon | {"code": code}, headers=tenant.auth)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["code"]
        refused = client.post("/api/v1/loan-products", json=PRODUCT | {"code": code}, headers=tenant.auth)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "code", refused.text
    made = client.post("/api/v1/coupons", json=coupon | {"code": "\u3000welcome\t"}, headers=tenant.auth)
    assert made.status_code == 201 and made.json()["code"] == "WELCOME", made.text


def test_a_notice_sources_company_is_checked_as_typed(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    source = {"base_url": " http://127.0.0.1:9/api ", "token": "t0ken-t0ken", "schedule": "0 * * * *"}
    for company in ("ﬁ", "ß", "ı"):  # upper-cased: "FI", "SS", "I"
        refused = client.post("/api/v1/notice-sources", json=source | {"company": company}, headers=tenant.auth)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["company"]
    made = client.post("/api/v1/notice-sources", json=source | {"company": " sml "}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    assert (made.json()["company"], made.json()["base_url"]) == ("SML", "http://127.0.0.1:9/api")


def test_a_dialer_token_is_printable_ascii_and_an_extension_is_trimmed(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    refused = client.patch("/api/v1/dialer/settings", json={"api_token": "tökentoken"}, headers=tenant.auth)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["api_token"]
    taken = client.patch(
        "/api/v1/dialer/settings", json={"account_id": " acme.in ", "api_token": "~t0ken!#"}, headers=tenant.auth
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["account_id"] == "acme.in"
    person = {"name": "Ravi Field", "email": f"r{uuid.uuid4().hex[:8]}@lender.in", "roles": ["collection_executive"]}
    staff = client.post("/api/v1/staff", json=person, headers=tenant.auth)
    assert staff.status_code == 201, staff.text
    placed = client.put(
        f"/api/v1/dialer/extensions/{staff.json()['id']}", json={"extension": " 2101\n"}, headers=tenant.auth
    )
    assert placed.status_code == 200, placed.text
    assert [e["extension"] for e in placed.json()["extensions"]] == ["2101"]
