"""Loan products and coupons through the API and the portal, on PostgreSQL: versions, If-Match, validation that
records nothing, brand isolation, the pricing preview."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant, make_tenant

EMI = {
    "code": "sal-emi",
    "name": "Salary EMI",
    "type": "emi",
    "min_amount": "15000",
    "max_amount": "500000",
    "min_tenure": 3,
    "max_tenure": 36,
    "annual_percent": "24",
    "processing_fee": {"kind": "percent", "value": "2.5", "gst_inclusive": False},
    "convenience_fee": {"kind": "fixed", "value": "499", "gst_inclusive": True},
    "gst_percent": "18",
    "penal": {"kind": "simple", "daily_percent": "0.1"},
    "max_active_loans": 2,
    "bre_rules": [{"rule": "CREDIT_SCORE", "min": "700"}, {"rule": "FOIR", "max": "55"}],
}


def _create(client: Any, tenant: Tenant, **changes: Any) -> Any:
    return client.post("/api/v1/loan-products", json={**EMI, **changes}, headers=tenant.auth)


def test_a_product_is_created_revised_into_versions_and_each_version_stays_readable(
    client: Any, tenant: Tenant
) -> None:
    created = _create(client, tenant)
    assert created.status_code == 201, created.text
    product = created.json()
    assert created.headers["ETag"] == '"1"' and created.headers["Location"] == f"/api/v1/loan-products/{product['id']}"
    assert (product["code"], product["version"], product["type"], product["tenure_unit"]) == (
        "SAL-EMI",
        1,
        "emi",
        "months",
    )
    assert product["processing_fee"] == {"kind": "percent", "value": "2.5", "gst_inclusive": False}
    assert product["convenience_fee"] == {"kind": "fixed", "value": "499.00", "gst_inclusive": True}
    assert product["bre_rules"] == [
        {"rule": "CREDIT_SCORE", "min": "700", "max": None},
        {"rule": "FOIR", "min": None, "max": "55"},
    ]
    url = f"/api/v1/loan-products/{product['id']}"

    revised = client.patch(
        url, json={"annual_percent": "21", "bre_rules": []}, headers={**tenant.auth, "If-Match": '"1"'}
    )
    assert revised.status_code == 200, revised.text
    assert revised.headers["ETag"] == '"2"' and revised.json()["annual_percent"] == "21"
    assert [v["version"] for v in revised.json()["versions"]] == [2, 1]
    stale = client.patch(url, json={"annual_percent": "20"}, headers={**tenant.auth, "If-Match": '"1"'})
    assert stale.status_code == 409 and stale.headers["content-type"].startswith("application/problem+json")

    first = client.get(f"{url}/versions/1", headers=tenant.auth).json()
    assert (first["version"], first["current_version"], first["annual_percent"], len(first["bre_rules"])) == (
        1,
        2,
        "24",
        2,
    )
    assert client.get(f"{url}/versions/3", headers=tenant.auth).status_code == 404
    assert client.get(f"{url}/versions/x", headers=tenant.auth).status_code == 404
    current = client.get(url, headers=tenant.auth)
    assert current.headers["ETag"] == '"2"' and current.json()["bre_rules"] == []

    listed = client.get("/api/v1/loan-products", params={"type": "emi"}, headers=tenant.auth).json()
    assert [p["code"] for p in listed["items"]] == ["SAL-EMI"]


def test_bad_products_name_each_field_and_record_nothing(client: Any, tenant: Tenant) -> None:
    bad = _create(
        client,
        tenant,
        code="x",
        min_amount="600000",
        max_tenure=601,
        daily_percent="1",
        processing_fee={"kind": "percent", "value": "101"},
        bre_rules=[{"rule": "FOIR", "max": "55"}, {"rule": "FOIR", "max": "60"}],
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"code", "min_amount", "max_tenure", "daily_percent", "processing_fee.value", "bre_rules[1].rule"}
    assert client.get("/api/v1/loan-products", headers=tenant.auth).json()["items"] == []
    assert _create(client, tenant).status_code == 201
    duplicate = _create(client, tenant, code="SAL-emi", name="Again")
    assert duplicate.status_code == 409


def test_coupons_quotes_and_deactivation(client: Any, tenant: Tenant) -> None:
    product = _create(client, tenant).json()
    coupon = client.post(
        "/api/v1/coupons",
        json={"code": "Diwali", "product_id": product["id"], "kind": "percent", "value": "50",
              "valid_from": "2026-01-01", "valid_to": "2026-12-31", "max_uses": 100},
        headers=tenant.auth,
    )  # fmt: skip
    assert coupon.status_code == 201, coupon.text
    assert (coupon.json()["code"], coupon.json()["product_code"], coupon.json()["max_uses"]) == (
        "DIWALI",
        "SAL-EMI",
        100,
    )
    again = client.post(
        "/api/v1/coupons",
        json={"code": "diwali", "product_id": product["id"], "kind": "fixed", "value": "10",
              "valid_from": "2026-01-01", "valid_to": "2026-12-31"},
        headers=tenant.auth,
    )  # fmt: skip
    assert again.status_code == 409
    listed = client.get("/api/v1/coupons", params={"product_id": product["id"]}, headers=tenant.auth).json()
    assert [c["code"] for c in listed["items"]] == ["DIWALI"]

    quote = client.get(
        f"/api/v1/loan-products/{product['id']}/quote",
        params={"amount": "100000", "tenure": 12, "coupon_code": "diwali", "disbursed_on": "2026-11-30"},
        headers=tenant.auth,
    )
    assert quote.status_code == 200, quote.text
    q = quote.json()
    # 2.5 % of 1,00,000 = 2500, half off with DIWALI: 1250 + 18 % GST on top (225); 499 with its GST inside.
    assert (q["processing_fee_before_discount"], q["coupon_discount"]) == ("2500.00", "1250.00")
    assert q["processing_fee"]["gst"] == "225.00" and q["convenience_fee"]["gst"] == "76.12"
    assert q["net_disbursed"] == "98026.00" and q["emi"] == "9455.96" and q["first_due_date"] == "2026-12-30"
    outside = client.get(
        f"/api/v1/loan-products/{product['id']}/quote", params={"amount": "1000", "tenure": 40}, headers=tenant.auth
    )
    assert outside.status_code == 422 and {e["field"] for e in outside.json()["errors"]} == {"amount", "tenure"}

    off = client.post(
        f"/api/v1/loan-products/{product['id']}/deactivate", json={"reason": "replaced"}, headers=tenant.auth
    )
    assert off.status_code == 200 and off.json()["active"] is False
    assert (
        client.post(f"/api/v1/loan-products/{product['id']}/deactivate", json={}, headers=tenant.auth).status_code
        == 409
    )
    inactive = client.get("/api/v1/loan-products", params={"active": "false"}, headers=tenant.auth).json()
    assert [p["code"] for p in inactive["items"]] == ["SAL-EMI"]
    on = client.post(f"/api/v1/loan-products/{product['id']}/reactivate", json={}, headers=tenant.auth)
    assert on.status_code == 200 and on.json()["active"] is True


def test_another_brands_products_and_coupons_are_not_found(client: Any, platform: Any) -> None:
    a, b = make_tenant(platform), make_tenant(platform)
    product = _create(client, b).json()
    coupon = client.post(
        "/api/v1/coupons",
        json={"code": "B1", "product_id": product["id"], "kind": "fixed", "value": "100",
              "valid_from": "2026-01-01", "valid_to": "2026-12-31"},
        headers=b.auth,
    ).json()  # fmt: skip
    url = f"/api/v1/loan-products/{product['id']}"
    probes = [
        ("GET", url, None),
        ("PATCH", url, {"name": "Stolen"}),
        ("GET", f"{url}/versions/1", None),
        ("GET", f"{url}/quote?amount=20000&tenure=6", None),
        ("POST", f"{url}/deactivate", {}),
        ("GET", f"/api/v1/coupons/{coupon['id']}", None),
        ("POST", f"/api/v1/coupons/{coupon['id']}/withdraw", {}),
    ]
    for method, path, body in probes:
        answer = client.request(method, path, headers=a.auth, **({"json": body} if body is not None else {}))
        assert answer.status_code == 404, (method, path, answer.status_code)
    stolen = client.post(
        "/api/v1/coupons",
        json={"code": "A1", "product_id": product["id"], "kind": "fixed", "value": "100",
              "valid_from": "2026-01-01", "valid_to": "2026-12-31"},
        headers=a.auth,
    )  # fmt: skip
    assert stolen.status_code == 422 and stolen.json()["errors"][0]["field"] == "product_id"
    assert client.get("/api/v1/loan-products", headers=a.auth).json()["items"] == []
    assert product["id"] not in client.get("/api/v1/coupons", headers=a.auth).text


def test_products_in_the_portal(server: str, browser: Any, staff: tuple[Any, str], client: Any) -> None:
    from tests.e2e.conftest import ARTIFACTS, login

    tenant, email = staff
    page = browser.new_page()
    login(page, server, email)
    page.click("nav a[href='/products']")
    page.click("a[href='/products/new']")
    form = page.locator("#product-form")
    for name, value in {
        "code": "pd-30", "name": "Payday 30", "rate": "1", "min_amount": "5000", "max_amount": "50000",
        "min_tenure": "7", "max_tenure": "45", "processing_fee_value": "10",
    }.items():  # fmt: skip
        form.locator(f"[name={name}]").fill(value)
    form.locator("select[name=type]").select_option("payday")
    form.locator("select[name=processing_fee_kind]").select_option("percent")
    form.locator("[name=convenience_fee_value]").fill("99")
    form.locator("[name=convenience_fee_gst_inclusive]").check()
    form.locator("[name=bre_CREDIT_SCORE_on]").check()
    form.locator("[name=bre_CREDIT_SCORE_min]").fill("1200")
    form.locator("button[type=submit]").click()
    assert "CREDIT SCORE min: must be between" in page.locator(".alert").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "product-form.png"), full_page=True)
    page.locator("#product-form [name=bre_CREDIT_SCORE_min]").fill("680")
    page.locator("#product-form button[type=submit]").click()
    page.wait_for_selector("#terms")
    assert "Credit score: minimum score 680" in page.locator("#terms").inner_text()
    assert "% a day" in page.locator("#terms").inner_text()

    page.click("a:has-text('Edit (new version)')")
    product_id = page.url.split("/")[-2]
    changed = client.patch(f"/api/v1/loan-products/{product_id}", json={"max_active_loans": 2}, headers=tenant.auth)
    assert changed.status_code == 200  # someone else records version 2 while the form is open
    page.locator("#product-form [name=rate]").fill("0.9")
    page.locator("#product-form button[type=submit]").click()
    assert "is at version 2, not 1" in page.locator(".alert").inner_text()
    page.click("a:has-text('PD-30')")
    page.click("a:has-text('Edit (new version)')")
    page.locator("#product-form [name=rate]").fill("0.9")
    # Compound penal charges are allowed, with the RBI's caution on the form and on the saved product.
    assert "RBI" in page.locator("#penal-compound-note").inner_text()
    page.locator("#product-form select[name=penal_kind]").select_option("compound")
    page.locator("#product-form [name=penal_daily_percent]").fill("0.1")
    page.locator("#product-form button[type=submit]").click()
    page.wait_for_selector("#versions")
    assert "capitalised" in page.locator("#penal-warning").inner_text()
    assert page.locator("#versions tbody tr").count() == 3
    assert "0.9 % a day" in page.locator("#terms").inner_text()
    assert "Priya Ops" in page.locator("#versions").inner_text()
    page.click("#versions a:has-text('v1')")
    page.wait_for_selector("#terms")
    assert "Version 1" in page.locator("#terms h2").inner_text() and "1 % a day" in page.locator("#terms").inner_text()
    page.click("#terms a:has-text('v3')")
    page.wait_for_selector("#coupon-form")

    coupon = page.locator("#coupon-form")
    coupon.locator("[name=code]").fill("first50")
    coupon.locator("select[name=kind]").select_option("fixed")
    coupon.locator("[name=value]").fill("50")
    coupon.locator("[name=valid_from]").fill("2026-01-01")
    coupon.locator("[name=valid_to]").fill("2027-12-31")
    coupon.locator("button[type=submit]").click()
    page.wait_for_selector("#coupons")
    assert "FIRST50" in page.locator("#coupons").inner_text()

    quote = page.locator("#quote form")
    quote.locator("[name=amount]").fill("10000")
    quote.locator("[name=tenure]").fill("30")
    quote.locator("button[type=submit]").click()
    page.wait_for_selector("#quote-result")
    assert "Net disbursed" in page.locator("#quote-result").inner_text()

    page.locator("#activation button").click()
    page.wait_for_selector("#product-status")
    assert page.locator("#product-status").inner_text() == "inactive"
    page.screenshot(path=str(ARTIFACTS / "product.png"), full_page=True)


def test_an_auditor_replays_a_product_to_any_version(client: Any, tenant: Tenant) -> None:
    product = _create(client, tenant).json()
    url = f"/api/v1/loan-products/{product['id']}"
    assert client.patch(url, json={"max_active_loans": 3}, headers=tenant.auth).status_code == 200
    state = client.get(
        f"/api/v1/audit/loan_product/{product['id']}/state",
        params={"as_of": "2200-01-01T00:00:00Z"},
        headers=tenant.auth,
    )
    assert state.status_code == 200, state.text
    versions = state.json()["state"]["versions"]
    assert [v["max_active_loans"] for v in versions] == [2, 3]
    history = client.get(f"/api/v1/audit/loan_product/{product['id']}/history", headers=tenant.auth).json()
    assert [e["event"] for e in history["events"]] == ["Created", "Revised"]
    assert history["events"][1]["data"]["terms"]["max_active_loans"] == 3
