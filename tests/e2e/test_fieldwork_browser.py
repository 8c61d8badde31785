"""The fieldwork pages in headless Chromium (issue #16 items 8, 9, 11, 12): an admin sets up the dialer (the token
never shown back) and calls the borrower from the Customer 360; a collection manager flags a visit; the field agent,
on a phone-width screen, records it with the phone's location and a photo; the collection dashboard draws its
charts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from domain.collections.application import Collections
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]

PHONE = {"width": 390, "height": 844}
TOKEN = "acefone-browser-42ab"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    yield


def _staff(platform: Any, tenant: Tenant, role: str, name: str) -> tuple[UUID, str]:
    email = f"{role.split('_')[0]}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, name, [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return UUID(str(made.id)), email


def _until(check: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_dialer_call_visit_and_dashboard_in_the_portal(server: str, browser: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    loan = platform.get(Loans).get(tenant.brand_id, loan_id)
    admin_id, admin = _staff(platform, tenant, "admin", "Asha Admin")
    agent_id, agent = _staff(platform, tenant, "collection_executive", "Ravi Field")

    # The admin sets up the dialer and gives themself an extension.
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, server, admin)
    page.goto(f"{server}/settings/dialer")
    page.check("#dialer-form input[name=enabled]")
    page.fill("#dialer-form input[name=account_id]", "covenant-demo")
    page.fill("#dialer-form input[name=api_token]", TOKEN)
    page.click("#dialer-form button")
    page.wait_for_selector("#dialer-token")
    assert page.inner_text("#dialer-token") == "****42ab" and TOKEN not in page.content()
    page.select_option("#extension-form select[name=staff_id]", str(admin_id))
    page.fill("#extension-form input[name=extension]", "2001")
    page.click("#extension-form button")
    page.wait_for_selector(f"#dialer-extensions tr[data-staff='{admin_id}']")

    # Click-to-call from the Customer 360: placed, then logged on the loan's contact log when it ends.
    page.goto(f"{server}/customers/{loan.customer_id}")
    page.click(f"form.call-form[data-loan='{loan.loan_number}'] button")
    page.wait_for_selector("#call-placed")
    case = _until(lambda: platform.get(Collections).case(tenant.brand_id, loan_id).contacts)
    assert [(c.channel, c.staff_id) for c in case.values()] == [("dialer", admin_id)]

    # The admin flags the loan for a visit by the field agent.
    page.goto(f"{server}/field-visits")
    page.fill("#flag-form input[name=loan_number]", loan.loan_number)
    page.select_option("#flag-form select[name=assignee_id]", str(agent_id))
    page.fill("#flag-form input[name=reason]", "not answering calls")
    page.click("#flag-form button")
    page.wait_for_selector("#field-visits tr[data-visit]")

    # The dashboard draws its charts.
    page.goto(f"{server}/collections/dashboard")
    for chart in ("#chart-dpd-count", "#chart-dpd-amount", "#chart-recovery", "#chart-ptp", "#chart-calls"):
        assert page.locator(chart).count() == 1, chart
    assert page.locator("#chart-calls g.bar[data-label='Asha Admin']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "collection_dashboard.png"), full_page=True)
    page.close()

    # The field agent, on a phone, records the visit with the phone's location and a photo.
    context = browser.new_context(
        viewport=PHONE, geolocation={"latitude": 13.082680, "longitude": 80.270718}, permissions=["geolocation"]
    )
    phone = context.new_page()
    login(phone, server, agent)
    phone.goto(f"{server}/field-visits")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.click(f"#field-visits a:has-text('{loan.loan_number}')")
    phone.wait_for_selector("#visit-form")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.fill("#latitude", "123")  # out of range: refused, shown, nothing recorded
    phone.select_option("#visit-form select[name=outcome]", "promised_to_pay")  # no outcome is chosen for the agent
    phone.fill("#longitude", "80.27")
    phone.set_input_files(
        "#visit-form input[name=file]", {"name": "door.jpg", "mimeType": "image/jpeg", "buffer": JPEG}
    )
    phone.click("#visit-form button[type=submit]")
    phone.wait_for_selector("#visit-error")
    assert "latitude" in phone.inner_text("#visit-error") and phone.inner_text("#visit-status") == "assigned"
    phone.click("#locate")
    for _ in range(100):  # polled from here: a page function would need 'unsafe-eval', which the CSP refuses
        if phone.input_value("#latitude") == "13.082680":
            break
        phone.wait_for_timeout(100)
    assert phone.input_value("#latitude") == "13.082680"
    phone.select_option("#visit-form select[name=outcome]", "promised_to_pay")
    phone.set_input_files(
        "#visit-form input[name=file]", {"name": "door.jpg", "mimeType": "image/jpeg", "buffer": JPEG}
    )
    phone.fill("#visit-form textarea[name=remarks]", "met the borrower, will pay Friday")
    phone.click("#visit-form button[type=submit]")
    phone.wait_for_selector("#visit-outcome")
    assert phone.inner_text("#visit-status") == "visited"
    assert phone.inner_text("#visit-geo") == "13.082680, 80.270718"
    assert phone.locator("#visit-photos img").count() == 1
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(ARTIFACTS / "field_visit_phone.png"), full_page=True)
    assert phone.goto(f"{server}/collections/dashboard").status == 403  # an executive is no manager
    context.close()
