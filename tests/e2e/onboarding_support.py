"""Shared by the onboarding tests: the SMS simulator the platform sends codes through, and signing a borrower in
with the code read from its outbox (never from our API)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.simulators.sms import SmsSimulator


@pytest.fixture(scope="module")
def sms(provider_simulators: dict[str, Any]) -> SmsSimulator:
    """The session's SMS simulator, the platform's SMS provider (with every other provider's simulator)."""
    simulator: SmsSimulator = provider_simulators["sms"]
    return simulator


def sign_in(client: Any, sms: SmsSimulator, brand: str, phone: str) -> dict[str, Any]:
    """Ask for a code, read it from the simulator's outbox, open a session; the session's JSON."""
    asked = client.post("/api/v1/borrower/otp", json={"brand": brand, "phone": phone})
    assert asked.status_code == 202, asked.text
    code = sms.last_code(phone)
    assert code is not None
    opened = client.post("/api/v1/borrower/session", json={"brand": brand, "phone": phone, "otp": code})
    assert opened.status_code == 201, opened.text
    return dict(opened.json())


def bearer(session: dict[str, Any]) -> dict[str, str]:
    """The borrower's Authorization header."""
    return {"Authorization": f"Bearer {session['token']}"}


def steps_before_the_loan_request(client: Any, auth: dict[str, str]) -> None:
    """Every onboarding step before the loan request done by the signed-in borrower `auth` (the onboarding tests'
    borrower), the bank statement by an Account Aggregator consent (the brand's `account_aggregation` on)."""
    from tests.e2e.test_onboarding_api import PERSONAL, _pan  # (that module imports this one)

    for step, body in (
        ("pan", {"pan": _pan()}),
        ("personal", PERSONAL),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-1"}),
        ("bank_account", {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}),
        ("bank_statement", {"method": "account_aggregator", "consent_id": "AA-77"}),
    ):
        assert client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=auth).status_code == 200, step
