"""Repayment receipts and settlement letters on PostgreSQL, over HTTP: a payment made at the gateway from the
borrower's payment page and one recorded by staff, each receipt downloaded by staff and by the borrower through the
page's signed link (the same bytes, the SHA-256 header, the PDF's text as the repayments API says it), a reversed
payment's receipt marked REVERSED, and the 404s (another brand, an unknown payment, a changed link, another loan's
payment under this loan's link). A settled loan's letter (figures as the recoveries API and the ledger say), from
the API, the portal and the borrower's page; 409 before it is settled."""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from pypdf import PdfReader

from api.services.disbursals import WEBHOOK_SECRET_ENV
from api.services.pay_links import PayLinks
from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
from tests.e2e.blackbox import poll
from tests.e2e.test_loan360 import _admin_browser
from tests.e2e.test_recoveries_api import _key, _overdue_loan
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import document_amounts_as_digits

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

DUE = date(2026, 2, 28)  # instalment 1 of the servicing tests' loan (disbursed 2026-01-31): 8037.57


@pytest.fixture
def wiring(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The gateway's webhook reaches the test server, signed with the simulators' secret."""
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    yield server


def _text(pdf: bytes) -> str:
    return document_amounts_as_digits("\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages))


def _pdf(answer: httpx.Response) -> bytes:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["x-content-sha256"] == hashlib.sha256(answer.content).hexdigest()
    return answer.content


def _says(text: str, payment: dict[str, Any], loan_number: str) -> None:
    """The receipt's text says what the repayments API says of the payment."""
    assert f"Loan number {loan_number}" in text and f"Amount received {payment['amount']}" in text, text
    assert f"Reference {payment['reference']}" in text and f"Paid on {payment['paid_on']}" in text, text
    for a in payment["allocation"]:
        total = Decimal(a["penal"]) + Decimal(a["interest"]) + Decimal(a["principal"])
        assert f"{a['no']} {a['penal']} {a['interest']} {a['principal']} {total:.2f}" in text, text
    assert f"Outstanding after it (payoff) {payment['payoff_after']}" in text, text
    assert f"RCPT-{UUID(payment['id']).hex[:12].upper()}" in text, text


def test_receipts_for_staff_and_the_borrower_the_same_bytes_and_a_reversal(
    wiring: str, platform: Any, provider_simulators: Any
) -> None:
    server, gateway = wiring, provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id, neighbour = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    api = f"{server}/api/v1/loans/{loan_id}"
    link = PayLinks.configured().url(server, tenant.brand_id, loan_id, datetime.now(UTC))
    token = link.rsplit("/", 1)[1]

    # The borrower pays what is due at the gateway from the payment page; staff record a second payment.
    gone_on = httpx.post(link, data={"amount": "due"})
    assert gone_on.status_code == 200, gone_on.text
    [order] = [
        x for x in httpx.get(f"{api}/payment-links", headers=tenant.auth).json()["items"] if x["channel"] == "web"
    ]
    assert gateway.pay(order["order_id"]).result(timeout=10).delivered
    poll(lambda: httpx.get(f"{api}/repayments", headers=tenant.auth).json()["items"], bool)
    body = {"amount": "500.00", "mode": "neft", "reference": f"UTR-{uuid4().hex[:8]}", "paid_on": DUE.isoformat()}
    assert httpx.post(f"{api}/repayments", json=body, headers=tenant.auth).status_code == 201
    other_loan_payment = httpx.post(f"{server}/api/v1/loans/{neighbour}/repayments", headers=tenant.auth,
                                    json=body | {"reference": "UTR-NEIGHBOUR"}).json()["id"]  # fmt: skip
    loan = httpx.get(api, headers=tenant.auth).json()
    paid = httpx.get(f"{api}/repayments", headers=tenant.auth).json()["items"]
    assert [(p["mode"], p["amount"]) for p in paid] == [("payment_link", "8037.57"), ("neft", "500.00")]

    page = httpx.get(link)
    assert page.status_code == 200 and 'id="pay-form"' in page.text and 'id="payments"' in page.text
    listed = re.findall(r'href="(/pay/[A-Za-z0-9_-]+/receipts/[0-9a-f-]+)"', page.text)
    assert listed == [f"/pay/{token}/receipts/{p['id']}" for p in reversed(paid)]  # newest first
    for payment, mode in zip(paid, ("Payment link (online)", "NEFT"), strict=True):
        staff = _pdf(httpx.get(f"{api}/repayments/{payment['id']}/receipt", headers=tenant.auth))
        assert _pdf(httpx.get(f"{api}/repayments/{payment['id']}/receipt", headers=tenant.auth)) == staff
        assert _pdf(httpx.get(f"{server}/pay/{token}/receipts/{payment['id']}")) == staff  # the borrower's
        _says(_text(staff), payment, loan["loan_number"])
        assert f"Mode {mode}" in _text(staff)

    # Nothing for another brand, an unknown payment, a changed link, or another loan's payment under this link.
    other = make_tenant(platform)
    assert httpx.get(f"{api}/repayments/{paid[0]['id']}/receipt", headers=other.auth).status_code == 404
    assert httpx.get(f"{api}/repayments/{uuid4()}/receipt", headers=tenant.auth).status_code == 404
    assert httpx.get(f"{api}/repayments/{other_loan_payment}/receipt", headers=tenant.auth).status_code == 404
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for bad in (f"/pay/{tampered}/receipts/{paid[0]['id']}", f"/pay/{token}/receipts/{other_loan_payment}",
                f"/pay/{token}/receipts/{uuid4()}", f"/pay/{token}/settlement-letter"):  # fmt: skip
        answer = httpx.get(f"{server}{bad}")
        assert answer.status_code == 404 and "%PDF" not in answer.text, bad
    assert httpx.get(f"{api}/settlement-letter", headers=tenant.auth).status_code == 409  # not settled

    # A reversed payment's receipt says so, with the date and the reason; still the same bytes each time.
    staff_paid = paid[1]
    before = _pdf(httpx.get(f"{api}/repayments/{staff_paid['id']}/receipt", headers=tenant.auth))
    reversed_ = httpx.post(f"{api}/repayments/{staff_paid['id']}/reverse", json={"reason": "cheque bounced"},
                           headers=tenant.auth)  # fmt: skip
    assert reversed_.status_code == 200 and reversed_.json()["reversed_on"] == DUE.isoformat()
    after = _pdf(httpx.get(f"{server}/pay/{token}/receipts/{staff_paid['id']}"))
    assert after != before and after == _pdf(httpx.get(f"{api}/repayments/{staff_paid['id']}/receipt",
                                                       headers=tenant.auth))  # fmt: skip
    text = _text(after)
    assert "Payment receipt - REVERSED" in text and f"REVERSED on {DUE.isoformat()}: cheque bounced" in text, text
    _says(text, staff_paid, loan["loan_number"])
    assert "reversed" in httpx.get(link).text


def test_a_settled_loans_letter_from_the_api_the_portal_and_the_borrowers_page(
    client: Any, app: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    manager, head = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "collection_head")
    assert client.get(f"{url}/settlement-letter", headers=tenant.auth).status_code == 409  # overdue, not settled
    settlement = client.post(f"{url}/settlements", json={"amount": "40000.00", "remarks": "job lost; one-time"},
                             headers=manager).json()  # fmt: skip
    assert client.post(f"/api/v1/settlements/{settlement['id']}/approve", headers=head).status_code == 200
    assert client.get(f"{url}/settlement-letter", headers=tenant.auth).status_code == 409  # approved, unpaid
    pay = {"amount": "40000.00", "mode": "neft", "reference": "UTR-SETTLE"}
    assert client.post(f"{url}/repayments", json=pay, headers=tenant.auth).status_code == 201
    loan = client.get(url, headers=tenant.auth).json()
    assert loan["status"] == "settled"

    letter = _pdf(client.get(f"{url}/settlement-letter", headers=tenant.auth))
    assert letter == _pdf(client.get(f"{url}/settlement-letter", headers=tenant.auth))
    text = " ".join(_text(letter).split())
    [asked] = [r for r in client.get(f"{url}/recovery-requests", headers=tenant.auth).json()["items"]
               if r["kind"] == "settlement"]  # fmt: skip
    [waiver] = [p for p in client.get(f"{url}/ledger", headers=tenant.auth).json()["items"]
                if p["kind"] == "settlement_waiver"]  # fmt: skip
    waived = {b: -Decimal(waiver[b]) for b in ("principal", "interest", "penal")}
    repaid = sum(Decimal(p["amount"]) for p in client.get(f"{url}/repayments", headers=tenant.auth).json()["items"])
    assert f"Loan number {loan['loan_number']}" in text and f"Settlement amount {asked['amount']}" in text, text
    assert f"Settlement date {waiver['on']}" in text and f"closed as settled on {waiver['on']}" in text, text
    assert f"Principal {waived['principal']:.2f} Interest {waived['interest']:.2f}" in text, text
    assert f"Penal charges {waived['penal']:.2f} Total waived {sum(waived.values()):.2f}" in text, text
    assert f"Total repaid on the loan {repaid:.2f}" in text and "reported to credit bureaus as settled" in text
    other = make_tenant(platform)
    assert client.get(f"{url}/settlement-letter", headers=other.auth).status_code == 404

    # The borrower's payment page says the loan is settled and links the letter through the same signed link.
    token = PayLinks.configured().token(tenant.brand_id, loan_id, datetime.now(UTC))
    page = client.get(f"/pay/{token}")
    assert page.status_code == 200 and "is settled" in page.text and "takes no payment" not in page.text
    found = re.search(r'id="settlement-letter" href="([^"]+)"', page.text)
    assert found is not None and _pdf(client.get(found.group(1))) == letter
    receipt = re.search(r'href="(/pay/[^"]+/receipts/[^"]+)"', page.text)
    assert receipt is not None and "UTR-SETTLE" in _text(_pdf(client.get(receipt.group(1))))

    # The portal: the loan page links the letter and each repayment's receipt.
    browser = _admin_browser(client, app, tenant)
    try:
        portal = browser.get(f"/loans/{loan_id}").text
        letter_link = re.search(r'href="([^"]+)" id="settlement-letter-download"', portal)
        assert letter_link is not None and browser.get(letter_link.group(1)).content == letter
        links = [html.unescape(h) for h in re.findall(r'<a href="([^"]+)" class="receipt-link"', portal)]
        assert len(links) == 1, portal
        downloaded = browser.get(links[0])
        assert downloaded.status_code == 200 and downloaded.headers["content-type"] == "application/pdf"
        assert "UTR-SETTLE" in _text(downloaded.content) and "Amount received 40000.00" in _text(downloaded.content)
        assert browser.get(f"/loans/{loan_id}/repayments/{uuid4()}/receipt.pdf").status_code == 404
    finally:
        browser.__exit__(None, None, None)
