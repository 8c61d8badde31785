"""More portal forms that come back as typed when refused (api/web.py `kept`), found losing everything in a live
walk-through: the loan page's repayment form, the payments page's link and mandate forms, the field visit's flag and
record forms, a new staff member's form and the brand settings (a refused save reset every field to what is stored:
a field agent who fixed the latitude re-sent the visit as the first outcome in the list). Nothing is recorded."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4


def _selected(form: str, name: str) -> str:
    """The selected option of the form's select `name` ("" when none is marked)."""
    select = form[form.index(f'name="{name}"') :]
    select = select[: select.index("</select>")]
    chosen = re.search(r"<option(?: value=\"([^\"]*)\")? selected>([^<]*)<", select)
    return "" if chosen is None else (chosen.group(1) or chosen.group(2))


def test_refused_money_forms_and_a_refused_visit_come_back_as_typed(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))
    loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    browser, csrf = _portal(app, email)
    try:
        paid = browser.post(
            f"/loans/{loan_id}/repayments",
            data={"csrf_token": csrf, "amount": "999999", "mode": "neft", "reference": "UTR <77>", "paid_on": ""},
        )
        assert paid.status_code == 422 and "above the payoff" in paid.text, paid.text[:300]
        form = _form(paid.text, "repayment-form")
        assert 'name="amount" required inputmode="decimal" value="999999"' in form
        assert 'value="UTR &lt;77&gt;"' in form and _selected(form, "mode") == "neft"

        link = browser.post(
            f"/loans/{loan_id}/payment-links", data={"csrf_token": csrf, "amount": "999999", "channel": "whatsapp"}
        )
        assert link.status_code == 422, link.text[:300]
        form = _form(link.text, "link-form")
        assert 'value="999999"' in form and _selected(form, "channel") == "whatsapp"
        assert 'name="vpa" required placeholder="name@bank" value=""' in _form(link.text, "mandate-form")

        mandate = browser.post(
            f"/loans/{loan_id}/mandates",
            data={"csrf_token": csrf, "vpa": "meera@okbank", "max_amount": "abc", "frequency": "weekly"},
        )
        assert mandate.status_code == 422 and "max amount" in mandate.text, mandate.text[:300]
        form = _form(mandate.text, "mandate-form")
        assert 'value="meera@okbank"' in form and 'value="abc"' in form and _selected(form, "frequency") == "weekly"

        unknown = browser.post(
            "/field-visits",
            data={"csrf_token": csrf, "loan_number": "NOPE-1", "assignee_id": str(uuid.uuid4()),
                  "reason": "not reachable by phone", "due_on": "2026-03-03"},
        )  # fmt: skip
        assert unknown.status_code == 422 and "no loan of this brand" in unknown.text, unknown.text[:300]
        form = _form(unknown.text, "flag-form")
        assert 'value="NOPE-1"' in form and 'value="not reachable by phone"' in form and 'value="2026-03-03"' in form

        agent = str(next(s["id"] for s in client.get("/api/v1/staff", headers=tenant.auth).json()["items"]))
        flagged = client.post(f"/api/v1/loans/{loan_id}/field-visits", headers=tenant.auth,
                              json={"assignee_id": agent, "reason": "not reachable by phone"})  # fmt: skip
        assert flagged.status_code == 201, flagged.text
        visit = flagged.json()["id"]
        settle(platform, "fieldwork")
        recorded = browser.post(
            f"/field-visits/{visit}/visit",
            data={"csrf_token": csrf, "outcome": "door_locked", "latitude": "200", "longitude": "80.27",
                  "remarks": "neighbour says <out of town>"},
            files={"file": ("door.jpg", JPEG, "image/jpeg")},
        )  # fmt: skip
        assert recorded.status_code == 422 and "latitude" in recorded.text, recorded.text[:300]
        form = _form(recorded.text, "visit-form")
        assert _selected(form, "outcome") == "door_locked"
        assert 'value="200"' in form and 'value="80.27"' in form and ">neighbour says &lt;out of town&gt;<" in form
    finally:
        browser.__exit__(None, None, None)
    after = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert after["outstanding"] == loan["outstanding"]  # no payment recorded
    assert client.get(f"/api/v1/loans/{loan_id}/mandates", headers=tenant.auth).json()["items"] == []
    assert client.get(f"/api/v1/field-visits/{visit}", headers=tenant.auth).json()["status"] == "assigned"


def test_a_refused_new_staff_member_and_refused_settings_come_back_as_typed(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    manager = platform.get(Identity).create_staff(
        tenant.brand_id,
        f"lead-{uuid.uuid4().hex[:6]}@lender.in",
        "Lata Lead",
        ["credit_executive"],
        "Str0ng-pass!",
        granter=OPERATOR,
    )
    settle(platform, "identity", manager.position)
    before = client.get("/api/v1/brand/config", headers=tenant.auth).json()
    browser, csrf = _portal(app, email)
    try:
        taken = browser.post(
            "/staff",
            data={"csrf_token": csrf, "name": "Ravi <CX>", "email": email, "roles": ["credit_executive", "sales"],
                  "companies": "SML", "manager_id": str(manager.id)},
        )  # fmt: skip
        assert taken.status_code == 422 and "exists" in taken.text, taken.text[:300]
        form = taken.text[taken.text.index('<form method="post" action="/staff"') :]
        form = form[: form.index("</form>")]
        assert 'value="Ravi &lt;CX&gt;"' in form and f'value="{email}"' in form and 'value="SML"' in form
        assert 'value="credit_executive" checked>' in form and 'value="sales" checked>' in form
        assert 'value="admin">' in form and _selected(form, "manager_id") == str(manager.id)

        refused = browser.post(
            "/settings",
            data={"csrf_token": csrf, "min_age": "abc", "inactive_user_days": "45", "rejection_cooldown_days": "9",
                  "serviceable_pincodes": '["560001"]', "business_date": "2027-02-20", "sunday_off": "on"},
        )  # fmt: skip
        assert refused.status_code == 422 and "min age" in refused.text, refused.text[:300]
        form = _form(refused.text, "settings")
        for name, value in (("min_age", "abc"), ("inactive_user_days", "45"), ("business_date", "2027-02-20")):
            assert re.search(rf'name="{name}" value="{value}"', form), name
        assert "&#34;560001&#34;]</textarea>" in form or "&quot;560001&quot;]</textarea>" in form
        assert re.search(r'name="sunday_off"\s+checked', form)
        assert not re.search(r'name="central_dedup"\s+checked', form)  # not posted: unticked, as sent
    finally:
        browser.__exit__(None, None, None)
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json() == before
    names = [s["name"] for s in client.get("/api/v1/staff", headers=tenant.auth).json()["items"]]
    assert "Ravi <CX>" not in names


def test_a_form_posted_after_the_session_ended_leads_back_to_its_page_after_sign_in(
    app: Any, client: Any, staff: tuple[Tenant, str]
) -> None:
    """A form posted with an expired session went to /login?next=<the form's action>, which answers POST only: after
    signing in, staff landed on a 405 problem. A page's query (a report's filters) was dropped as well."""
    _tenant, email = staff
    customer = str(uuid.uuid4())
    with TestClient(app, follow_redirects=False) as browser:
        browser.cookies.set("cd_session", "expired-session")
        posted = browser.post(f"/customers/{customer}/notes", data={"csrf_token": "x", "text": "will pay Friday"})
        assert posted.status_code == 303 and posted.headers["location"] == f"/login?next=/customers/{customer}"
        ran = browser.post("/disbursals/initiate", data={"csrf_token": "x"})
        assert ran.headers["location"] == "/login?next=/disbursals"
        job = browser.post("/jobs/loan-cob/run", data={"csrf_token": "x"})
        assert job.headers["location"] == "/login?next=/jobs"
        report = browser.get("/reports", params={"report": "reject-report", "from": "2026-01-01", "generate": "1"})
        target = "/reports?report=reject-report&from=2026-01-01&generate=1"
        assert report.headers["location"] == "/login?next=" + target.replace("?", "%3F").replace("=", "%3D").replace(
            "&", "%26"
        )
        form = browser.get(report.headers["location"]).text
        assert f'name="next" value="{target.replace("&", "&amp;")}"' in form
        signed_in = browser.post("/login", data={"email": email, "password": "portal-pass-2026", "next": target})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == target
        assert browser.get(target).status_code == 200
