"""The Aadhaar step's "Fetch from DigiLocker" button in headless Chromium at a phone's width: to the DigiLocker
simulator's consent page, Deny → back to a clear state with a retry and the upload path, Allow → back to our page,
which fetches the Aadhaar and goes on to the next step. The statement step's AA button shows only when the brand
takes Account Aggregator consent."""

from __future__ import annotations

from typing import Any

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_flow_browser import _sign_in
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name


def test_fetch_from_digilocker_round_trip_deny_then_allow(
    server: str, browser: Any, sms: SmsSimulator, staff: tuple[Tenant, str], client: Any
) -> None:
    tenant, _email = staff
    settings = {"require_employment_data": False, "require_selfie_video": False, "account_aggregation": False}
    assert client.patch("/api/v1/brand/config", json=settings, headers=tenant.auth).status_code == 200
    page = _sign_in(browser, server, sms, tenant.slug, mobile("7"))
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/pan")

    def fill(values: dict[str, str]) -> None:
        for name, value in values.items():
            page.fill(f"#{name}", value)
        page.click("#step-form button[type=submit]")

    fill({"pan": "ABCPN5566Q"})
    fill({"name": "Nila Nair", "date_of_birth": "1991-03-03", "email": "nila@example.in", "current_line1": "2 Main Rd",
          "current_city": "Kochi", "current_pincode": "682001", "permanent_line1": "2 Main Rd",
          "permanent_city": "Kochi", "permanent_pincode": "682001"})  # fmt: skip
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/aadhaar")
    assert page.locator("#digilocker_reference").count() == 0  # no typed reference: the button does the round trip

    page.click("#digilocker-button")
    page.wait_for_selector("#deny")  # the simulator's consent page
    assert "DigiLocker" in page.content()
    page.click("#deny")
    page.wait_for_selector("#consent-status")
    assert page.url.startswith(f"{server}/apply/{tenant.slug}/consents/digilocker")
    assert page.locator("#consent-status").get_attribute("data-status") == "denied"
    assert page.locator("#upload-instead").count() == 1

    page.click("#retry-consent")
    page.wait_for_selector("#allow")
    page.click("#allow")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/bank_account")  # Aadhaar recorded from DigiLocker
    fill({"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Nila Nair"})
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/bank_statement")
    assert page.locator("#account-aggregator-button").count() == 0  # the brand does not take AA consent
    assert page.locator("#consent_id").count() == 0

    assert (
        client.patch("/api/v1/brand/config", json={"account_aggregation": True}, headers=tenant.auth).status_code == 200
    )
    page.reload()
    assert page.locator("#account-aggregator-button").inner_text() == "Share via Account Aggregator"
    page.context.close()
