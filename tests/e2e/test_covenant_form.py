"""The portal's New covenant form (api/pages/covenant_form.py): reached from the covenant list and from the borrower's
Customer 360 (the borrower preselected), every field of `POST /api/v1/covenants`, the same use case. A saved form
lands on the covenant's page; a refused one comes back with what was typed and each refusal at its field, nothing
recorded; another brand's borrower is refused exactly as an unknown id is; COVENANTS READ alone gets neither the
link nor the form."""

from __future__ import annotations

import re
import uuid
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_covenants import _borrower
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import mobile, settle

FINANCIAL = {
    "application_ref": "APP-2024-077",
    "title": "Debt service coverage",
    "type": "financial",
    "metric": "DSCR",
    "operator": ">=",
    "threshold": "1.25",
    "frequency": "quarterly",
    "start_date": "2024-01-01",
    "first_due_date": "2024-03-31",
    "expiry_date": "2025-12-31",
    "grace_days": "5",
    "notification_lead_days": "10",
    "company": "KFL",
}


def _covenants_of(client: Any, tenant: Tenant, customer_id: str) -> list[dict[str, Any]]:
    found = client.get(f"/api/v1/covenants?customer_id={customer_id}", headers=tenant.auth)
    assert found.status_code == 200, found.text
    return list(found.json()["items"])


def _field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="error-{name}">([^<]*)</p>', page)
    assert found is not None, f"no refusal at {name}"
    return found.group(1)


def test_staff_set_up_a_covenant_from_the_portal_and_land_on_its_page(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    registered = client.post("/api/v1/customers", headers=tenant.auth,
                             json={"name": "Suresh Menon", "phone": mobile("9"), "loan_numbers": ["SML-778812"]})  # fmt: skip
    assert registered.status_code == 201, registered.text
    customer = str(registered.json()["id"])
    follower = platform.get(Identity).create_staff(
        tenant.brand_id,
        f"credit-{uuid.uuid4().hex[:6]}@lender.in",
        "Meera Credit",
        ["credit_executive"],
        PASSWORD,
        granter=OPERATOR,
    )
    settle(platform, "identity", follower.position)
    settle(platform, "customers")
    today = platform.get(Identity).business_date(tenant.brand_id).isoformat()
    browser, csrf = _portal(app, email)
    try:
        assert 'href="/covenants/new"' in browser.get("/covenants").text
        assert f'href="/covenants/new?customer_id={customer}"' in browser.get(f"/customers/{customer}").text

        form_page = browser.get(f"/covenants/new?customer_id={customer}")
        assert form_page.status_code == 200
        form = _form(form_page.text, "covenant-form")
        assert "Suresh Menon" in form_page.text  # the borrower preselected, by name
        assert f'type="hidden" name="customer_id" value="{customer}"' in form
        assert 'name="form_nonce" value="' in form and f'name="csrf_token" value="{csrf}"' in form
        assert f'name="start_date" value="{today}"' in form  # the brand's business date
        assert 'name="grace_days" value=""' in form  # empty: the brand's default for the frequency
        assert f'<option value="{follower.id}">Meera Credit</option>' in form
        assert '<datalist id="covenant-loan-numbers"><option value="SML-778812"></datalist>' in form

        posted = FINANCIAL | {"customer_id": customer, "assignee_id": str(follower.id), "document": "Not sent"}
        saved = browser.post("/covenants/new", data={"csrf_token": csrf, "form_nonce": uuid.uuid4().hex} | posted)
        assert saved.status_code == 303, saved.text[:500]
        target = saved.headers["location"]
        assert re.fullmatch(r"/covenants/[0-9a-f-]{36}", target)
        covenant_id = target.rsplit("/", 1)[1]

        page = browser.get(target)
        assert page.status_code == 200
        facts = page.text
        for shown in ("Debt service coverage", "Suresh Menon", "APP-2024-077", "DSCR &gt;= 1.25", "Quarterly",
                      "from 01 Jan 2024 to 31 Dec 2025", "31 Mar 2024", "5 / 10", "Meera Credit", "KFL"):  # fmt: skip
            assert shown in facts, shown

        stored = client.get(f"/api/v1/covenants/{covenant_id}", headers=tenant.auth).json()
        assert stored["customer_id"] == customer and stored["assignee_id"] == str(follower.id)
        assert stored["terms"] == {"type": "financial", "metric": "DSCR", "operator": ">=", "threshold": "1.25",
                                   "document": None, "description": None}  # fmt: skip  # only the chosen type's
        assert (stored["grace_days"], stored["lead_days"], stored["company"]) == (5, 10, "KFL")
        assert (stored["frequency"], stored["next_due_date"]) == ("quarterly", "2024-03-31")

        # Grace and lead days left empty take the brand's defaults for the frequency (as the API's body does).
        document = {"customer_id": customer, "application_ref": "APP-2024-077", "title": "Stock statement",
                    "type": "document", "document": "Monthly stock statement", "metric": "ignored",
                    "frequency": "monthly", "start_date": "2024-01-01", "first_due_date": "2024-01-31",
                    "expiry_date": "2024-12-31", "grace_days": "", "notification_lead_days": "",
                    "assignee_id": "", "company": ""}  # fmt: skip
        second = browser.post("/covenants/new", data={"csrf_token": csrf} | document)
        assert second.status_code == 303, second.text[:500]
        made = client.get(f"/api/v1/covenants/{second.headers['location'].rsplit('/', 1)[1]}", headers=tenant.auth)
        body = made.json()
        assert (body["grace_days"], body["lead_days"], body["assignee_id"], body["company"]) == (0, 7, None, None)
        assert body["terms"]["document"] == "Monthly stock statement" and body["terms"]["metric"] is None
        assert len(_covenants_of(client, tenant, customer)) == 2
    finally:
        browser.__exit__(None, None, None)


def test_a_refused_covenant_form_keeps_what_was_typed_names_each_field_and_records_nothing(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant)
    settle(platform, "customers")
    browser, csrf = _portal(app, email)
    try:
        typed = FINANCIAL | {"customer_id": customer, "title": 'Coverage <b>"net"</b>', "threshold": "lots",
                             "grace_days": "five"}  # fmt: skip
        refused = browser.post("/covenants/new", data={"csrf_token": csrf, "form_nonce": uuid.uuid4().hex} | typed)
        assert refused.status_code == 422, refused.text[:500]
        page = refused.text
        form = _form(page, "covenant-form")
        assert "Nothing was recorded" in page
        assert {name for name in FINANCIAL if f'id="error-{name}"' in form} == {"threshold", "grace_days"}
        assert (
            'name="threshold" value="lots"' in form and 'aria-invalid="true" aria-describedby="error-threshold"' in form
        )
        assert 'value="Coverage &lt;b&gt;&#34;net&#34;&lt;/b&gt;"' in form  # kept as typed, escaped
        assert '<option value="quarterly" selected>' in form and '<option value="&gt;=" selected>' in form
        assert 'name="start_date" value="2024-01-01"' in form and 'name="company" value="KFL"' in form
        assert f'type="hidden" name="customer_id" value="{customer}"' in form
        assert 'id="error-title"' not in form
        assert set(re.findall(r'name="csrf_token" value="([^"]*)"', page)) == {csrf}

        # The calendar and the terms are the use case's checks: each said at its field, the rest kept.
        dates = FINANCIAL | {"customer_id": customer, "first_due_date": "2026-03-31", "metric": " "}
        late = browser.post("/covenants/new", data={"csrf_token": csrf} | dates)
        assert late.status_code == 422
        assert "between start and expiry" in _field_error(late.text, "first_due_date")
        assert "needs the metric" in _field_error(late.text, "metric")
        assert 'name="first_due_date" value="2026-03-31"' in _form(late.text, "covenant-form")

        required = browser.post("/covenants/new", data={"csrf_token": csrf, "customer_id": customer})
        assert required.status_code == 422
        for name in ("application_ref", "title", "type", "frequency", "start_date", "first_due_date", "expiry_date"):
            assert _field_error(required.text, name) == "required", name

        assert _covenants_of(client, tenant, customer) == []
    finally:
        browser.__exit__(None, None, None)


def test_another_brands_borrower_is_refused_like_an_unknown_id_and_read_only_staff_get_no_form(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    other = make_tenant(platform)
    theirs = _borrower(client, other)
    settle(platform, "customers")
    browser, csrf = _portal(app, email)
    try:
        said = {}
        for label, customer_id in (("other brand", theirs), ("unknown", str(uuid.uuid4()))):
            # Preselecting them shows no name: the field stays to be filled.
            shown = browser.get(f"/covenants/new?customer_id={customer_id}")
            assert shown.status_code == 200 and "Suresh Menon" not in shown.text
            assert 'type="hidden" name="customer_id"' not in shown.text
            refused = browser.post(
                "/covenants/new", data={"csrf_token": csrf} | FINANCIAL | {"customer_id": customer_id}
            )
            assert refused.status_code == 422, (label, refused.text[:500])
            assert "Suresh Menon" not in refused.text
            said[label] = _field_error(refused.text, "customer_id")
            assert f'name="customer_id" value="{customer_id}"' in _form(refused.text, "covenant-form")
        assert said["other brand"] == said["unknown"] == "no borrower with this id in your brand"
        assert _covenants_of(client, other, theirs) == []
        assert client.get("/api/v1/covenants", headers=tenant.auth).json()["items"] == []
    finally:
        browser.__exit__(None, None, None)

    reader_email = f"cx-{uuid.uuid4().hex[:6]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, reader_email, "Ravi CX", ["credit_executive"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    reader, reader_csrf = _portal(app, reader_email)
    try:
        assert reader.get("/covenants").status_code == 200
        assert "/covenants/new" not in reader.get("/covenants").text
        assert reader.get("/covenants/new").status_code == 403
        customer = _borrower(client, tenant)
        post = reader.post("/covenants/new", data={"csrf_token": reader_csrf} | FINANCIAL | {"customer_id": customer})
        assert post.status_code == 403
        assert _covenants_of(client, tenant, customer) == []
    finally:
        reader.__exit__(None, None, None)
