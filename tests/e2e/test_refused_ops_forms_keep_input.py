"""The rest of the portal's forms come back as typed when refused (api/web.py `kept`), plain HTTP on the ASGI app:
the blocklist, API keys, the dialer settings and extensions, a staff notice (its ticked roles), the rating matrix
(every row), a job's and the close of business's run dates (an error page without the form before), reminders; a
staff profile's edit, permissions and leave forms; a product's coupon and activation forms; a loan's recovery forms
(partial collection, manual receipt, waiver, settlement, write-off; the refused one opened). Each came back empty or
as stored; the text is escaped, a token is never echoed, and the page read again holds nothing typed."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

import pytest

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_loan_product_change import EMI, _product
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

#: (page, action, posted, form id, what the re-rendered form holds: regexes, what a fresh read of the page lacks)
ADMIN_FORMS = {
    "blocklist": (
        "/blocklist", "/blocklist",
        {"kind": "mobile", "value": "12<3>", "reason": "fraud ring <7>"}, "block-form",
        [r'<option value="mobile" selected>', r'name="value" required value="12&lt;3&gt;"',
         r'value="fraud ring &lt;7&gt;"'], "fraud ring &lt;7&gt;",
    ),
    "api key": (
        "/api-keys", "/api-keys", {"label": "collections <dialer>", "role": "no-such-role"}, "key-form",
        [r'name="label" required [^>]*value="collections &lt;dialer&gt;"'], "collections &lt;dialer&gt;",
    ),
    "dialer settings": (
        "/settings/dialer", "/settings/dialer",
        {"enabled": "on", "account_id": "acct <1>", "api_token": "sk-never-echoed"}, "dialer-form",
        [r'name="enabled" checked', r'name="account_id" value="acct &lt;1&gt;"'], "acct &lt;1&gt;",
    ),
    "dialer extension": (
        "/settings/dialer", "/settings/dialer/extensions",
        {"staff_id": str(uuid.uuid4()), "extension": "12ab"}, "extension-form",
        [r'name="extension" [^>]*value="12ab"'], 'value="12ab"',
    ),
    "staff notice": (
        "/staff-notifications", "/staff-notifications",
        {"title": "Audit <Friday>", "body": "Bring the files", "priority": "URGENT", "roles": ["sales", "admin"],
         "staff_ids": "", "publish_at": "2031-05-04T18:30"}, "staff-notification-form",
        [r'value="sales" checked>', r'value="admin" checked>', r'value="Audit &lt;Friday&gt;"',
         r'value="2031-05-04T18:30"'], "Audit &lt;Friday&gt;",
    ),
    "rating matrix": (
        "/rating-matrix", "/rating-matrix",
        {"version": "0", "metric": ["manual", ""], "label": ["Calls <made>", ""], "weight": ["abc", "7"],
         "role": ["sales", "admin"], "target": ["2.5", ""]}, "matrix-form",
        [r'<option value="manual" selected>', r'value="Calls &lt;made&gt;"', r'name="weight" value="abc"',
         r'name="weight" value="7"', r'name="target" value="2.5"', r'<option value="admin" selected>'],
        "Calls &lt;made&gt;",
    ),
    "job run": (
        "/jobs", "/jobs/onboarding-inactive/run", {"as_of": "2026-02-30", "dry_run": "on"},
        "run-onboarding-inactive", [r'name="as_of" [^>]*value="2026-02-30"', r'name="dry_run" checked'],
        'value="2026-02-30"',
    ),
    "cob run": (
        "/loan-cob", "/loan-cob/run", {"as_of": "2026-02-30"}, "cob-run", [r'name="as_of" [^>]*value="2026-02-30"'],
        'value="2026-02-30"',
    ),
    "reminder": (
        "/reminders", "/reminders",
        {"customer": "Nobody <here>", "channel": "sms", "template_id": "", "scheduled_at": "2031-05-04T18:30"},
        "reminder-form", [r'value="Nobody &lt;here&gt;"', r'value="2031-05-04T18:30"'], "Nobody &lt;here&gt;",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ADMIN_FORMS))
def test_a_refused_admin_form_comes_back_as_typed(app: Any, staff: tuple[Tenant, str], name: str) -> None:
    page, action, posted, form_id, holds, marker = ADMIN_FORMS[name]
    _tenant, email = staff
    browser, csrf = _portal(app, email)
    try:
        refused = browser.post(action, data={"csrf_token": csrf, **posted})
        assert refused.status_code in (409, 422), (refused.status_code, refused.text[:300])
        assert 'role="alert"' in refused.text
        form = _form(refused.text, form_id)
        for held in holds:
            assert re.search(held, form), (held, form[:2000])
        assert "sk-never-echoed" not in refused.text
        assert marker not in browser.get(page).text  # nothing recorded, nothing typed on a plain read
    finally:
        browser.__exit__(None, None, None)


def test_refused_staff_profile_forms_come_back_as_typed(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    made = platform.get(Identity).create_staff(tenant.brand_id, f"cx-{uuid.uuid4().hex[:6]}@lender.in",
                                               "Kiran CX", ["credit_executive"], PASSWORD, granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    browser, csrf = _portal(app, email)
    try:
        edited = browser.post(f"/staff/{made.id}/edit", data={
            "csrf_token": csrf, "name": "Kiran <Lead>", "email": email, "roles": ["sales", "collections_executive"],
            "companies": "SML, XYZ"})  # fmt: skip
        assert edited.status_code in (409, 422), edited.text[:300]
        form = _form(edited.text, "edit-staff")
        assert 'value="Kiran &lt;Lead&gt;"' in form and f'value="{email}"' in form and 'value="SML, XYZ"' in form
        assert 'value="sales" checked>' in form and re.search(r'value="credit_executive"\s*>', form)
        assert re.search(r'name="available"\s*>', form)  # not posted: unticked, as sent

        permissions = browser.post(f"/staff/{made.id}/permissions",
                                   data={"csrf_token": csrf, "perm_LEADS": "WRITE", "perm_LOANS": "EVERYTHING"})  # fmt: skip
        assert permissions.status_code == 422 and "invalid level" in permissions.text, permissions.text[:300]
        picked = _form(permissions.text, "permissions")
        leads = picked[picked.index('name="perm_LEADS"') :]
        assert re.search(r'<option value="WRITE" selected>', leads[: leads.index("</select>")])

        leave = browser.post(f"/staff/{made.id}/leaves", data={"csrf_token": csrf, "start": "2031-05-09",
                                                                 "end": "2031-05-04", "reason": "Wedding <Pune>"})  # fmt: skip
        assert leave.status_code == 422, leave.text[:300]
        form = _form(leave.text, "leave-form")
        assert 'value="2031-05-09"' in form and 'value="2031-05-04"' in form and 'value="Wedding &lt;Pune&gt;"' in form
        assert "Wedding &lt;Pune&gt;" not in browser.get(f"/staff/{made.id}").text
    finally:
        browser.__exit__(None, None, None)
    shown = client.get(f"/api/v1/staff/{made.id}", headers=tenant.auth).json()
    assert shown["name"] == "Kiran CX" and shown["roles"] == ["credit_executive"] and not shown["overrides"]


def test_a_refused_coupon_and_a_refused_deactivation_come_back_as_typed(
    app: Any, client: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    product = _product(client, tenant, {**EMI, "code": f"emi-{uuid.uuid4().hex[:6]}"})
    browser, csrf = _portal(app, email)
    try:
        coupon = browser.post(f"/products/{product}/coupons", data={
            "csrf_token": csrf, "code": " DIWALI<10> ", "kind": "fixed", "value": "abc", "valid_from": "2031-05-09",
            "valid_to": "2031-05-04", "max_uses": "12"})  # fmt: skip
        assert coupon.status_code == 422, coupon.text[:300]
        form = _form(coupon.text, "coupon-form")
        assert 'value=" DIWALI&lt;10&gt; "' in form and '<option value="fixed" selected>' in form
        assert 'value="abc"' in form and 'value="2031-05-09"' in form and 'value="12"' in form
        assert 'placeholder="Why" aria-label="Why" value=""' in _form(coupon.text, "activation")

        stopped = browser.post(f"/products/{product}/deactivate", data={"csrf_token": csrf, "reason": "no"})
        assert stopped.status_code == 422 and "reason" in stopped.text, stopped.text[:300]
        assert 'aria-label="Why" value="no"' in _form(stopped.text, "activation")
        assert 'name="code" value=""' in _form(stopped.text, "coupon-form")
    finally:
        browser.__exit__(None, None, None)
    assert client.get(f"/api/v1/loan-products/{product}", headers=tenant.auth).json()["active"] is True


RECOVERY_FORMS = [
    ("collection-requests", "collection-request",
     {"amount": "abc", "mode": "cheque", "reference": "CHQ <1001>", "collected_on": "2026-02-27"},
     ['value="abc"', "<option selected>cheque</option>", 'value="CHQ &lt;1001&gt;"', 'value="2026-02-27"']),
    ("receipts", "receipt",
     {"amount": "1500", "mode": "upi", "reference": "RCPT <9>", "collected_on": "2026-02-26"},
     ['value="1500"', "<option selected>upi</option>", 'value="RCPT &lt;9&gt;"', 'value="2026-02-26"']),
    ("waivers", "waiver", {"amount": "999999", "justification": "Hospitalised <ICU>"},
     ['value="999999"', ">Hospitalised &lt;ICU&gt;</textarea>"]),
    ("settlements", "settlement", {"amount": "999999", "remarks": "One time <OTS>"},
     ['value="999999"', ">One time &lt;OTS&gt;</textarea>"]),
    ("write-off", "write-off", {"reason": "no"}, [">no</textarea>"]),
]  # fmt: skip


def test_refused_recovery_forms_come_back_as_typed_and_open(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))
    before = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    browser, csrf = _portal(app, email)
    try:
        for action, block, posted, holds in RECOVERY_FORMS:
            refused = browser.post(f"/loans/{loan_id}/{action}", data={"csrf_token": csrf, **posted})
            assert refused.status_code in (409, 422) and 'id="recovery-error"' in refused.text, (
                action,
                refused.text[:300],
            )
            form = _form(refused.text, f"{block}-form")
            for held in holds:
                assert held in form, (action, held, form)
            others = [b for _, b, _, _ in RECOVERY_FORMS if b != block]
            for other in others:  # the page's other forms stay empty and closed
                if f'id="{other}"' in refused.text:
                    assert f'id="{other}" open>' not in refused.text, (action, other)
            assert f'id="{block}" open>' in refused.text, action
        fresh = browser.get(f"/loans/{loan_id}/recoveries").text
        assert " open>" not in fresh and "Hospitalised" not in fresh
    finally:
        browser.__exit__(None, None, None)
    after = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert after["status"] == before["status"] and after["outstanding"] == before["outstanding"]


def test_run_now_says_the_run_was_asked_for(app: Any, staff: tuple[Tenant, str]) -> None:
    # Found by a browser walk: a successful "Run now" came back to the jobs page with nothing said; the run was only
    # a "requested" row somewhere in the history.
    _tenant, email = staff
    browser, csrf = _portal(app, email)
    try:
        ran = browser.post("/jobs/onboarding-inactive/run", data={"csrf_token": csrf, "dry_run": "on"})
        assert ran.status_code == 303 and ran.headers["location"].startswith("/jobs?requested=onboarding-inactive")
        page = browser.get(ran.headers["location"]).text
        said = re.search(r'<p class="info" role="status" id="run-requested">(.*?)</p>', page, re.S)
        assert said is not None and "a dry run was asked for" in said.group(1), page[:1500]
        assert "run-requested" not in browser.get("/jobs?requested=<script>").text  # names no job: nothing said
        assert "run-requested" not in browser.get("/jobs").text
    finally:
        browser.__exit__(None, None, None)
