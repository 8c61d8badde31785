"""UPI Autopay set up by the borrower on their payment page (`POST /pay/{token}/autopay`), over HTTP against the
gateway simulator: registered at the gateway as staff register one (max amount the instalment, monthly) with the
borrower as actor, shown pending, then active once the gateway's signed webhook says so; a second mandate refused
in words while one is live; a bad UPI id a 422; a changed, expired or other brand's link a 404 - each registering
nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from api.services.disbursals import WEBHOOK_SECRET_ENV
from api.services.pay_links import PayLinks
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import poll
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

INSTALMENT = "8037.57"  # the first instalment of the servicing tests' loan


@pytest.fixture(autouse=True)
def wiring(server: str, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The gateway's webhook reaches the test server, signed with the simulators' secret."""
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    yield


def _mandates(server: str, tenant: Tenant, loan_id: UUID) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server}/api/v1/loans/{loan_id}/mandates", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _state(page: httpx.Response) -> str | None:
    found = re.search(r'id="autopay-state" data-state="(\w+)"', page.text)
    return found.group(1) if found else None


def _loan(platform: Any) -> tuple[Tenant, UUID, str]:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    return tenant, loan_id, PayLinks.configured().token(tenant.brand_id, loan_id, datetime.now(UTC))


def test_the_borrower_sets_up_autopay_shown_pending_then_active_and_no_second_one(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    gateway = provider_simulators["gateway"]
    tenant, loan_id, token = _loan(platform)
    page = httpx.get(f"{server}/pay/{token}")
    assert page.status_code == 200 and 'id="autopay-form"' in page.text and _state(page) is None

    made = httpx.post(f"{server}/pay/{token}/autopay", data={"vpa": " meera@okbank "}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == f"/pay/{token}#autopay", made.text
    [mandate] = _mandates(server, tenant, loan_id)
    loan = httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    largest = max(Decimal(i["amount"]) for i in loan["schedule"])  # nothing due yet: the largest instalment
    assert largest >= Decimal(INSTALMENT)
    assert (mandate["vpa"], Decimal(mandate["max_amount"]), mandate["frequency"], mandate["state"]) == (
        "meera@okbank", largest, "monthly", "registered")  # fmt: skip
    page = httpx.get(f"{server}/pay/{token}")
    assert _state(page) == "pending" and "meera@okbank" in page.text and 'id="autopay-form"' not in page.text

    # recorded as the borrower's act, as the page's payments are
    customer_id = loan["customer_id"]
    trail = httpx.get(f"{server}/api/v1/audit/trail", params={"aggregate_id": str(loan_id), "limit": 200},
                      headers=tenant.auth).json()["items"]  # fmt: skip
    registered = [e for e in trail if e["event_type"] == "MandateRegistered"]
    actors = [(e["actor"], e["details"]["mandate_id"]) for e in registered]
    assert actors == [(f"borrower:{customer_id}", mandate["id"])]

    # a second one while this one is pending: refused in words, nothing registered (here or at the gateway)
    again = httpx.post(f"{server}/pay/{token}/autopay", data={"vpa": "meera.two@okbank"}, follow_redirects=False)
    assert again.status_code == 409 and "already set up" in again.text and 'id="autopay-error"' in again.text
    assert [m["id"] for m in _mandates(server, tenant, loan_id)] == [mandate["id"]]

    gateway_id = gateway.mandate_by_reference(mandate["id"])
    assert gateway_id is not None
    assert gateway.approve_mandate(gateway_id).result(timeout=10).delivered  # the payer approves in their UPI app
    active = poll(lambda: httpx.get(f"{server}/pay/{token}"), lambda p: _state(p) == "active")
    assert _state(active) == "active" and "meera@okbank" in active.text and 'id="autopay-form"' not in active.text
    assert [m["state"] for m in _mandates(server, tenant, loan_id)] == ["active"]

    still = httpx.post(f"{server}/pay/{token}/autopay", data={"vpa": "meera.two@okbank"}, follow_redirects=False)
    assert still.status_code == 409 and "already set up" in still.text
    assert len(_mandates(server, tenant, loan_id)) == 1


def test_a_bad_upi_id_is_a_422_that_registers_nothing(platform: Any, server: str) -> None:
    tenant, loan_id, token = _loan(platform)
    for bad in ("not a vpa", "", "meera@", "@okbank"):
        refused = httpx.post(f"{server}/pay/{token}/autopay", data={"vpa": bad}, follow_redirects=False)
        assert refused.status_code == 422, (bad, refused.text)
        assert 'id="autopay-error"' in refused.text and "Your UPI id" in refused.text
        assert 'id="autopay-form"' in refused.text
        # The page is shown at the Autopay address: its "Pay" form still posts to the payment page, not there.
        assert f'<form method="post" action="/pay/{token}" id="pay-form">' in refused.text
    assert _mandates(server, tenant, loan_id) == []
    paid = httpx.post(f"{server}/pay/{token}", data={"amount": "due"}, follow_redirects=False)
    assert paid.status_code == 200 and 'id="autopay-error"' not in paid.text, paid.text[:300]  # to the gateway


def test_a_changed_expired_or_other_brands_link_registers_nothing(platform: Any, server: str) -> None:
    tenant, loan_id, token = _loan(platform)
    other, other_loan, _ = _loan(platform)
    links = PayLinks.configured()
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    expired = links.token(tenant.brand_id, loan_id, datetime.now(UTC) - timedelta(days=links.days + 1))
    crossed = links.token(tenant.brand_id, other_loan, datetime.now(UTC))  # this brand with another brand's loan
    for bad in (tampered, expired, crossed, links.token(other.brand_id, loan_id, datetime.now(UTC))):
        refused = httpx.post(f"{server}/pay/{bad}/autopay", data={"vpa": "meera@okbank"}, follow_redirects=False)
        assert refused.status_code == 404 and "not valid or has expired" in refused.text, refused.text
    assert _mandates(server, tenant, loan_id) == [] and _mandates(server, other, other_loan) == []


def test_a_gateway_that_does_not_answer_is_a_503_to_retry_with_nothing_set_up_or_charged(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    gateway = provider_simulators["gateway"]
    tenant, loan_id, token = _loan(platform)
    try:
        gateway.fail_next(1000, 503, path="/v1/mandates")
        down = httpx.post(f"{server}/pay/{token}/autopay", data={"vpa": "meera@okbank"}, follow_redirects=False)
        assert down.status_code == 503 and down.headers["retry-after"].isdigit(), down.text
        assert 'id="autopay-error"' in down.text and "not answering" in down.text
        assert 'value="meera@okbank"' in down.text  # what the borrower typed is kept for the retry
        gateway.reset_faults()
        gateway.fail_next(1000, 503, path="/v1/orders")
        unpaid = httpx.post(f"{server}/pay/{token}", data={"amount": "due"}, follow_redirects=False)
        assert unpaid.status_code == 503 and unpaid.headers["retry-after"].isdigit(), unpaid.text
        assert "not answering" in unpaid.text and "Nothing was charged" in unpaid.text
    finally:
        gateway.reset_faults()
    assert _mandates(server, tenant, loan_id) == []
    # once the gateway answers again the same form sets it up
    made = httpx.post(f"{server}/pay/{token}/autopay", data={"vpa": "meera@okbank"}, follow_redirects=False)
    assert made.status_code == 303 and [m["state"] for m in _mandates(server, tenant, loan_id)] == ["registered"]


def test_the_borrower_pays_another_amount_of_their_choosing(platform: Any, server: str) -> None:
    """The spec's partial payment made by the customer ("multiple partial payments allowed"): the page offered only
    what is due and the payoff. Another amount opens a gateway order for it; one that is not money, nothing, or above
    the payoff is a 422 naming it, the typed amount kept, no order made."""
    tenant, loan_id, token = _loan(platform)
    before = httpx.get(f"{server}/api/v1/loans/{loan_id}/payment-links", headers=tenant.auth).json()["items"]
    page = httpx.get(f"{server}/pay/{token}")
    assert 'id="pay-other-form"' in page.text
    for bad in ("abc", "0", "99,99,999.00", "12.345"):
        refused = httpx.post(f"{server}/pay/{token}", data={"amount": "other", "other_amount": bad})
        assert refused.status_code == 422 and 'id="pay-error"' in refused.text, (bad, refused.text[:300])
        assert f'value="{bad.replace(",", "")}"' in refused.text
    links = httpx.get(f"{server}/api/v1/loans/{loan_id}/payment-links", headers=tenant.auth).json()["items"]
    assert links == before
    paid = httpx.post(f"{server}/pay/{token}", data={"amount": "other", "other_amount": "2,500.00"})
    assert paid.status_code == 200 and "2,500.00" in paid.text, paid.text[:300]
    links = httpx.get(f"{server}/api/v1/loans/{loan_id}/payment-links", headers=tenant.auth).json()["items"]
    assert [(link["amount"], link["channel"]) for link in links if link not in before] == [("2500.00", "web")]
