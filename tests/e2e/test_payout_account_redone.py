"""The account a borrower's loan is paid out to is the one they last gave at the bank account step for that
application, once it is verified - through the borrower API, the credit decision, the e-sign simulator and the
payout file, on PostgreSQL. The payout took the record's newest verified account instead: an account given again
(on file already, so not added again) stayed behind a later one, and an account whose penny drop was still to do
left the loan to be paid into the account it replaced."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from adapters.simulators.sms import SmsSimulator
from tests.e2e.blackbox import API, QUEUED_SECONDS, Headers, bank_account_number, ok, poll
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_onboarding_api import PERSONAL, PRODUCT, _pan
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name

HOLDER = "Asha Verma"


@dataclass
class Desk:
    """A brand's staff (an admin key) and a borrower of it, over HTTP to the test server; `tick` runs what the
    agreement worker does every few seconds (issue agreements, queue signed loans)."""

    http: httpx.Client
    staff: Headers
    borrower: Headers
    product: str
    tick: Any

    def give(self, account: str) -> None:
        """The borrower's bank account step, (re)done with `account`."""
        body = {"account_number": account, "ifsc": "HDFC0001234", "holder_name": HOLDER}
        ok(self.http.put(f"{API}/borrower/steps/bank_account", json=body, headers=self.borrower))

    def loan(self, loan_id: str) -> dict[str, Any]:
        self.tick()
        return dict(ok(self.http.get(f"{API}/loans/{loan_id}", headers=self.staff)))

    def sanctioned(self, loan_id: str) -> None:
        """The credit team's approval and the sanction of a submitted (pending) application."""
        url = f"{API}/loans/{loan_id}"
        ok(self.http.post(f"{url}/cx-approve", json={"approved_amount": "50000", "remarks": "salary supports it"},
                          headers=self.staff))  # fmt: skip
        ok(self.http.post(f"{url}/sanction", json={"sanctioned_amount": "50000", "remarks": "FOIR is fine"},
                          headers=self.staff))  # fmt: skip

    def signed(self, loan_id: str) -> dict[str, Any]:
        """The agreement issued and signed at the e-sign simulator: the loan once its webhook signed it."""
        sent = poll(lambda: self.loan(loan_id), lambda v: bool(v.get("esign")))
        ok(httpx.post(sent["esign"]["link"], json={"action": "sign"}, timeout=30))
        return dict(poll(lambda: self.loan(loan_id), lambda v: v["status"] in ("approved", "awaiting_disbursal")))

    def queued(self, loan_id: str) -> dict[str, Any]:
        loan = poll(lambda: self.loan(loan_id), lambda v: v["status"] == "awaiting_disbursal", QUEUED_SECONDS)
        assert loan["status"] == "awaiting_disbursal", loan["status"]
        return dict(loan)

    def paid_to(self, loan_id: str) -> str:
        """The account number the loan's payout file pays (the bank's sheet, read back with openpyxl)."""
        made = ok(self.http.post(f"{API}/payout-files", json={"loan_ids": [loan_id]}, headers=self.staff), 201)
        data = self.http.get(made["download_url"], headers=self.staff)
        assert data.status_code == 200, data.text
        rows = list(load_workbook(io.BytesIO(data.content), read_only=True)["Payouts"].iter_rows(values_only=True))
        assert rows[0][3] == "Account number" and len(rows) == 3, rows  # the header, the loan, the control total
        return str(rows[1][3])

    def accounts(self, customer_id: str) -> list[dict[str, Any]]:
        kyc = ok(self.http.get(f"{API}/customers/{customer_id}/kyc", headers=self.staff))
        return list(kyc["bank_accounts"])


@pytest.fixture
def desk(server: str, platform: Any, sms: SmsSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    from api.services.disbursals import WEBHOOK_SECRET_ENV
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
    from tests.support import settle
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker

    monkeypatch.setenv("PUBLIC_BASE_URL", server)  # the e-sign simulator's webhook comes back to this server
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    worker = AgreementWorker(platform.port(AgreementJobPort))

    def tick() -> None:
        worker.drain(check_queue=True)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    tenant = make_tenant(platform)
    with httpx.Client(base_url=server, timeout=60) as http:
        config = {"require_employment_data": False, "account_aggregation": True}
        ok(http.patch(f"{API}/brand/config", json=config, headers=tenant.auth))
        product = ok(http.post(f"{API}/loan-products", json={**PRODUCT, "code": "PA" + uuid.uuid4().hex[:6].upper()},
                               headers=tenant.auth), 201)["id"]  # fmt: skip
        borrower = bearer(sign_in(http, sms, tenant.slug, mobile()))
        for step, body in (
            ("pan", {"pan": _pan()}),
            ("personal", PERSONAL),
            ("aadhaar", {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-1"}),
        ):
            ok(http.put(f"{API}/borrower/steps/{step}", json=body, headers=borrower))
        yield Desk(http, tenant.auth, borrower, product, tick)


def _apply(desk: Desk) -> dict[str, Any]:
    """The bank statement step (an Account Aggregator consent), the loan request and its submission: pending."""
    statement = {"method": "account_aggregator", "consent_id": "AA-" + uuid.uuid4().hex[:6]}
    ok(desk.http.put(f"{API}/borrower/steps/bank_statement", json=statement, headers=desk.borrower))
    request = {"product_id": desk.product, "amount": "50000", "tenure": 12}
    application = ok(desk.http.post(f"{API}/borrower/applications", json=request, headers=desk.borrower), 201)
    _submit(desk, application["id"])
    return dict(ok(desk.http.get(f"{API}/loans/{application['id']}", headers=desk.staff)))


def _submit(desk: Desk, loan_id: str) -> dict[str, Any]:
    submitted = ok(desk.http.post(f"{API}/borrower/applications/{loan_id}/submit", headers=desk.borrower))
    assert submitted["status"] == "pending", submitted
    return dict(submitted)


def test_an_account_given_again_after_a_send_back_is_the_one_paid_not_the_newer_one_it_replaced(desk: Desk) -> None:
    """The borrower gives account A, changes it to B before submitting, and - the credit team sending the bank account
    step back - gives A again. A is on their record already (verified by its penny drop) and B is the newest
    verified account: the loan was paid into B."""
    first, second = bank_account_number("5010"), bank_account_number("5020")
    desk.give(first)
    desk.give(second)  # edited before submission
    application = _apply(desk)
    loan_id, customer = application["id"], application["customer_id"]
    back = {"to": "borrower", "reason": "this is not your salary account", "step": "bank_account"}
    ok(desk.http.post(f"{API}/loans/{loan_id}/send-back", json=back, headers=desk.staff))
    desk.give(first)  # given again, after the send-back
    _submit(desk, loan_id)
    assert sorted(a["status"] for a in desk.accounts(customer)) == ["verified", "verified"]  # both on file, verified

    desk.sanctioned(loan_id)
    desk.signed(loan_id)
    desk.queued(loan_id)
    assert desk.paid_to(loan_id) == first


def test_an_account_not_verified_yet_holds_the_loan_and_is_paid_once_verified(
    desk: Desk, provider_simulators: dict[str, Any]
) -> None:
    """The borrower changes account A (verified) to B while the penny drop provider is down: B is on file, its check
    failed and retryable. The loan, signed, waits for B rather than paying A; once staff retry B's penny drop, the
    loan enters the queue and B is paid."""
    first, second = bank_account_number("5010"), bank_account_number("5020")
    desk.give(first)
    penny_drop = provider_simulators["penny_drop"].base_url
    httpx.post(
        f"{penny_drop}/faults", json={"switch": "fail_next", "args": {"n": 10, "status": 503}}
    ).raise_for_status()
    try:
        desk.give(second)
    finally:
        httpx.delete(f"{penny_drop}/faults")
    application = _apply(desk)
    loan_id, customer = application["id"], application["customer_id"]
    accounts = {a["account_masked"][-4:]: a for a in desk.accounts(customer)}
    assert accounts[second[-4:]]["status"] == "failed" and accounts[first[-4:]]["status"] == "verified", accounts

    desk.sanctioned(loan_id)
    assert desk.signed(loan_id)["status"] == "approved"  # signed; waiting for the account the borrower gave
    assert desk.loan(loan_id)["status"] == "approved"
    retried = ok(desk.http.post(f"{API}/bank-accounts/{accounts[second[-4:]]['id']}/retry", headers=desk.staff))
    assert retried["status"] == "verified", retried
    desk.queued(loan_id)
    assert desk.paid_to(loan_id) == second
