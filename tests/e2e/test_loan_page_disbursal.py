"""The staff loan page's disbursal section (found in Chromium): the page says what a sanctioned loan waits for before
its payout (the borrower's e-sign, a verified bank account, Ops) and, once a payout was initiated, its mode, state,
gateway reference and the gateway's reason of a failure. Plain HTTP against the served app; the payout gateway is the
simulator (tests/e2e/test_disbursal.py)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_disbursal import _disburse, _until, sanctioned_loan, wiring  # noqa: F401 - the autouse wiring fixture
from tests.support import settle


def _portal(server: str, platform: Any, tenant: Any) -> httpx.Client:
    email = f"ops-{UUID(int=time.time_ns() % 2**64).hex[-8:]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Ravi Ops", ["admin"], PASSWORD, granter=OPERATOR)
    browser = httpx.Client(base_url=server, follow_redirects=False, timeout=30)
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    return browser


def _disbursal_section(browser: httpx.Client, loan_id: UUID) -> str:
    page = browser.get(f"/loans/{loan_id}")
    assert page.status_code == 200, page.text[:300]
    assert 'id="disbursal"' in page.text, "the loan page has no disbursal section"
    start = page.text.index('id="disbursal"')
    return " ".join(re.sub(r"<[^>]+>", " ", page.text[start : page.text.index("</section>", start)]).split())


def _sanctioned(platform: Any, tenant: Any) -> UUID:
    loan_id, _, position = sanctioned_loan(platform, tenant)
    settle(platform, Loans.name, position)
    return loan_id


def _signed(platform: Any, tenant: Any, loan_id: UUID) -> None:
    result = platform.get(Loans).sign(tenant.brand_id, loan_id, "prov-1", datetime.now(UTC))
    settle(platform, Loans.name, result.position)


def _queue(platform: Any, tenant: Any, loan_id: UUID) -> None:
    result = platform.get(Loans).ready_for_disbursal(tenant.brand_id, loan_id, "acct-1")
    settle(platform, Loans.name, result.position)


def test_the_loan_page_says_what_the_payout_waits_for_and_shows_the_attempt(platform: Any, server: str) -> None:
    tenant = make_tenant(platform, "loan_ops")
    browser = _portal(server, platform, tenant)
    loan_id = _sanctioned(platform, tenant)
    assert "e-sign" in _disbursal_section(browser, loan_id)

    _signed(platform, tenant, loan_id)  # approved; the borrower has no verified bank account
    waiting = _disbursal_section(browser, loan_id)
    assert "verified bank account" in waiting and "Ops" not in waiting

    _queue(platform, tenant, loan_id)
    queued = _disbursal_section(browser, loan_id)
    assert "waiting for Ops" in queued and "₹82,494.00" in queued

    first = _disburse(server, tenant, loan_id, "NEFT").json()["disbursement"]
    initiated = _disbursal_section(browser, loan_id)
    assert "NEFT" in initiated and "initiated" in initiated and first["gateway_reference"] in initiated
    httpx.post(first["simulator_url"], json={"action": "fail", "reason": "Beneficiary bank offline"})
    _until(server, tenant, loan_id, "failed")
    failed = _disbursal_section(browser, loan_id)
    assert "failed" in failed and "Beneficiary bank offline" in failed and first["gateway_reference"] in failed
    browser.close()
