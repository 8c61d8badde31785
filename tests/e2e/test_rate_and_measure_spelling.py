"""A rate or a covenant measure is written the same way in every input: plain digits with an optional point. Found by
review: MONEY refused "1e3" everywhere, but RATE (interest, fee, GST and FOIR percentages) and MEASURE (covenant
thresholds and measured values) read "1e1" as 10 and "1E-2" as 0.01 in the portal's forms - the CAM, a covenant
record's measured value, a coupon's percent, and the product form (whose terms pydantic read as Decimal("1E+1")
before any rule saw the text, amounts included). "1e1" typed for a rate of 1.1 % would be 10 %. Each form now answers
422 naming the field, nothing recorded; the API refused these strings already (pinned here) and still takes JSON
numbers; plain decimals work in both."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import Tenant
from tests.e2e.test_api_loan_decisions import CAM, _pending
from tests.e2e.test_api_loans import catalogue
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _run
from tests.e2e.test_products import EMI
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the loan decision tests: the loans' product catalogue

EXPONENTS = ["1e1", "1E-2"]


def _events(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(f"SELECT count(*) FROM events.{table}").fetchone()[0])  # type: ignore[index]


def _cam_form(**changes: str) -> dict[str, str]:
    """The CAM form's fields, as the loan page posts them."""
    fields = {f"month_{i}": c["month"] for i, c in enumerate(CAM["salary_credits"])}  # type: ignore[attr-defined]
    fields |= {f"salary_{i}": c["amount"] for i, c in enumerate(CAM["salary_credits"])}  # type: ignore[attr-defined]
    fields |= {name: str(CAM[name]) for name in ("foir", "existing_emis", "recommended_amount", "recommended_rate")}
    return fields | {"notes": str(CAM["notes"])} | changes


def _open_dscr_record(client: Any, platform: Any, tenant: Tenant) -> str:
    """A borrower's DSCR >= 1.25 covenant with its first cycle's record open: the record's id."""
    covenant = _covenant(client, tenant, _borrower(client, tenant))
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    (record,) = _evaluations(client, tenant, covenant["id"])
    return str(record["id"])


def _refused_naming(answer: Any, field: str) -> None:
    """A problem+json 422 naming `field` for its exponent."""
    assert answer.status_code == 422, answer.text
    named = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert field in named and "exponent" in named[field], named


@pytest.mark.parametrize("typed", EXPONENTS)
def test_a_rate_written_with_an_exponent_is_refused_by_the_cam_form_and_the_api(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str], typed: str
) -> None:
    tenant, email = staff
    loan_id = _pending(client, tenant)
    url = f"/api/v1/loans/{loan_id}"
    before = _events(platform.dsn, "loans_events")
    _refused_naming(client.post(f"{url}/cam", json={**CAM, "recommended_rate": typed}, headers=tenant.auth),
                    "recommended_rate")  # fmt: skip
    _refused_naming(client.post(f"{url}/cam", json={**CAM, "foir": typed}, headers=tenant.auth), "foir")
    browser, csrf = _portal(app, email)
    try:
        refused = browser.post(f"/loans/{loan_id}/cam",
                               data={"csrf_token": csrf, **_cam_form(recommended_rate=typed, foir=typed)})  # fmt: skip
    finally:
        browser.__exit__(None, None, None)
    assert refused.status_code == 422, (refused.status_code, refused.text[:300])
    for label in ("recommended rate: ", "foir: "):
        shown = refused.text[refused.text.index(label) :][:200]
        assert "written with an exponent" in shown, shown
    assert _events(platform.dsn, "loans_events") == before  # nothing recorded
    settle(platform, "loans")
    assert client.get(url, headers=tenant.auth).json()["cam"] is None


def test_plain_rates_are_taken_by_the_cam_form_and_the_api(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    by_form, by_number = _pending(client, tenant), _pending(client, tenant, name="Lata Rao", phone="9876512347")
    browser, csrf = _portal(app, email)
    try:
        made = browser.post(f"/loans/{by_form}/cam",
                            data={"csrf_token": csrf, **_cam_form(recommended_rate="24.5", foir="32.25")})  # fmt: skip
        assert made.status_code == 303, made.text[:300]
    finally:
        browser.__exit__(None, None, None)
    sent = client.post(f"/api/v1/loans/{by_number}/cam", json={**CAM, "recommended_rate": 24.5, "foir": 3.225e1},
                       headers=tenant.auth)  # fmt: skip
    assert sent.status_code == 200, sent.text  # a JSON number is a number, however it is written
    settle(platform, "loans")
    for loan_id in (by_form, by_number):
        cam = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["cam"]
        assert (cam["recommended_rate"], cam["foir"]) == ("24.5", "32.25"), cam


@pytest.mark.parametrize("typed", EXPONENTS)
def test_a_measured_value_written_with_an_exponent_is_refused_by_the_record_form_and_the_api(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str], typed: str
) -> None:
    tenant, email = staff
    record_id = _open_dscr_record(client, platform, tenant)
    url = f"/api/v1/covenant-evaluations/{record_id}"
    before = _events(platform.dsn, "covenants_events")
    _refused_naming(client.post(f"{url}/submit-value", json={"value": typed}, headers=tenant.auth), "value")
    browser, csrf = _portal(app, email)
    try:
        refused = browser.post(f"/covenant-evaluations/{record_id}/submit-value",
                               data={"csrf_token": csrf, "text": typed})  # fmt: skip
    finally:
        browser.__exit__(None, None, None)
    assert refused.status_code == 422, (refused.status_code, refused.text[:300])
    shown = refused.text[refused.text.index(f'id="review-error-{record_id}"') :][:300]
    assert "value: " in shown and "written with an exponent" in shown, shown
    assert _events(platform.dsn, "covenants_events") == before  # nothing recorded
    # A covenant's threshold too (the API and the "New covenant" form read it with the same rule).
    customer = _borrower(client, tenant)
    answer = client.post("/api/v1/covenants", headers=tenant.auth, json={
        "customer_id": customer, "application_ref": "APP-1", "title": "DSCR", "type": "financial", "metric": "DSCR",
        "operator": ">=", "threshold": typed, "frequency": "monthly", "start_date": "2024-01-01",
        "first_due_date": "2024-01-31"})  # fmt: skip
    _refused_naming(answer, "threshold")


def test_plain_measured_values_are_taken_by_the_record_form_and_the_api(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    by_form, by_string, by_number = (_open_dscr_record(client, platform, tenant) for _ in range(3))
    browser, csrf = _portal(app, email)
    try:
        made = browser.post(f"/covenant-evaluations/{by_form}/submit-value", data={"csrf_token": csrf, "text": "1.4"})
        assert made.status_code == 303, made.text[:300]
    finally:
        browser.__exit__(None, None, None)
    for record_id, value in ((by_string, "1.4"), (by_number, 1.4e0)):
        sent = client.post(f"/api/v1/covenant-evaluations/{record_id}/submit-value", json={"value": value},
                           headers=tenant.auth)  # fmt: skip
        assert sent.status_code == 200 and sent.json()["value"] == "1.4" and sent.json()["passed"], sent.text
    settle(platform, "covenants")
    page = client.get(f"/api/v1/covenant-evaluations/{by_form}", headers=tenant.auth).json()
    assert page["value"] == "1.4" and page["passed"] is True, page


#: The product form's fields for an EMI product (the portal's `/products/new`).
PRODUCT_FORM = {
    "code": "sal-emi", "name": "Salary EMI", "type": "emi", "min_amount": "15000", "max_amount": "500000",
    "min_tenure": "3", "max_tenure": "36", "rate": "24", "processing_fee_kind": "percent",
    "processing_fee_value": "2.5", "gst_percent": "18", "penal_kind": "simple", "penal_daily_percent": "0.1",
    "max_active_loans": "1", "bre_FOIR_on": "on", "bre_FOIR_max": "55",
}  # fmt: skip


@pytest.mark.parametrize("typed", EXPONENTS)
def test_the_product_and_coupon_forms_refuse_a_rate_written_with_an_exponent(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str], typed: str
) -> None:
    tenant, email = staff
    product = client.post("/api/v1/loan-products", json={**EMI, "code": "other"}, headers=tenant.auth)
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    before = _events(platform.dsn, "products_events")
    browser, csrf = _portal(app, email)
    try:
        typed_fields = {name: typed for name in ("rate", "processing_fee_value", "gst_percent", "penal_daily_percent",
                                                 "bre_FOIR_max", "min_amount")}  # fmt: skip
        refused = browser.post("/products/new", data={"csrf_token": csrf, **PRODUCT_FORM, **typed_fields})
        assert refused.status_code == 422, (refused.status_code, refused.text[:300])
        for label in ("rate", "processing fee value", "gst percent", "penal daily percent", "FOIR max", "min amount"):
            shown = refused.text[refused.text.index(f"<strong>{label}</strong>") :][:200]
            assert "written with an exponent" in shown, (label, shown)
        edited = browser.post(f"/products/{product_id}/edit",
                              data={"csrf_token": csrf, **PRODUCT_FORM, "rate": typed})  # fmt: skip
        assert edited.status_code == 422 and "written with an exponent" in edited.text, edited.text[:300]
        coupon = browser.post(f"/products/{product_id}/coupons", data={
            "csrf_token": csrf, "code": "TEN", "kind": "percent", "value": typed, "valid_from": "2026-01-01",
            "valid_to": "2027-12-31"})  # fmt: skip
        assert coupon.status_code == 422, (coupon.status_code, coupon.text[:300])
        assert "value: " in coupon.text and "written with an exponent" in coupon.text
    finally:
        browser.__exit__(None, None, None)
    assert _events(platform.dsn, "products_events") == before  # nothing recorded
    _refused_naming(client.post("/api/v1/loan-products", json={**EMI, "annual_percent": typed}, headers=tenant.auth),
                    "annual_percent")  # fmt: skip


def test_the_product_form_takes_plain_rates(app: Any, client: Any, staff: tuple[Tenant, str]) -> None:
    tenant, email = staff
    browser, csrf = _portal(app, email)
    try:
        made = browser.post("/products/new", data={"csrf_token": csrf, **PRODUCT_FORM, "rate": "10.5",
                                                   "gst_percent": "0.01"})  # fmt: skip
        assert made.status_code == 303, made.text[:2000]
    finally:
        browser.__exit__(None, None, None)
    product_id = made.headers["location"].split("/")[2].split("?")[0]
    product = client.get(f"/api/v1/loan-products/{product_id}", headers=tenant.auth).json()
    assert (product["annual_percent"], product["gst_percent"]) == ("10.5", "0.01"), product
