"""The reject form's reason and the override form's rule and result opened on their first option, so a reviewer who
never touched them rejected for whatever reason was listed first (or overrode the first rule to `pass`); so did the
bypass form's check and the outcome of a call, a collection contact and a field visit (an agent's "door locked"
sent as the first outcome listed). Each now
opens on an empty "Choose ..." option the browser will not submit (`required`), and an empty choice posted anyway is
refused naming the field, recording nothing."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.e2e.test_api_loans import PRODUCT, _borrower, _loan_events, catalogue
from tests.e2e.test_refused_forms_keep_input import _form, _portal

__all__ = ["catalogue"]  # the fixture (autouse) of the loan API tests


def _first_option(form: str, name: str) -> tuple[str, str]:
    select = re.search(rf'<select name="{name}" required>(.*?)</select>', form, re.S)
    assert select is not None, f"no required select {name}"
    first = re.search(r'<option value="([^"]*)"[^>]*>([^<]*)<', select.group(1))
    assert first is not None
    return first.group(1), first.group(2)


def test_a_decision_opens_on_no_reason_and_refuses_an_empty_choice(
    client: Any, platform: Any, staff: tuple[Tenant, str], app: Any, dsn: str
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant)
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "50000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    assert client.post(f"/api/v1/loans/{loan['id']}/submit", headers=tenant.auth).json()["status"] == "pending"
    browser, csrf = _portal(app, email)
    assert isinstance(browser, TestClient)
    try:
        page = browser.get(f"/loans/{loan['id']}").text
        assert _first_option(_form(page, "reject-form"), "reason_code") == ("", "Choose the reason")
        override = _form(page, "override-form")
        assert _first_option(override, "rule") == ("", "Choose the rule")
        assert _first_option(override, "result") == ("", "Choose the result")
        assert _first_option(_form(page, "bypass-form"), "check") == ("", "Choose the check")

        events = _loan_events(dsn)
        rejected = browser.post(f"/loans/{loan['id']}/reject",
                                data={"csrf_token": csrf, "reason_code": "", "remarks": "documents forged"})  # fmt: skip
        assert rejected.status_code == 422 and "reason code" in rejected.text, rejected.text[:300]
        overridden = browser.post(f"/loans/{loan['id']}/override",
                                  data={"csrf_token": csrf, "rule": "", "result": "", "justification": "checked by phone"})  # fmt: skip
        assert overridden.status_code == 422 and "rule" in overridden.text, overridden.text[:300]
        assert _loan_events(dsn) == events
        assert client.get(f"/api/v1/loans/{loan['id']}", headers=tenant.auth).json()["status"] == "pending"
    finally:
        browser.__exit__(None, None, None)
