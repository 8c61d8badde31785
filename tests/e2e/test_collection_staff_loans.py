"""Collection staff and the loan (the spec's "Role Collection Team"): the loan page and its ledger to read (LOANS
READ, nothing of a loan to write), the staff ledger page (`/loans/{id}/ledger`, the API's figures a page at a
time), a payment link sent from the collection case for a loan they work (not Ops' LOAN_OPS), and the brand's
targets shown to plain Sales agents (without MASTER_REPORTS) - refusals 403 or 404 with nothing changed, brands
kept apart."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from adapters.paylink_store import PaylinkStore
from api.services import ledger_pages
from api.web import day
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission, role_grants
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.shared.rupees import rupees
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_collections import executive, give_case, signed_in
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the autouse fixture of the servicing tests

COLLECTION_ROLES = ("collection_executive", "collection_manager", "collection_head")
DUE = date(2026, 2, 28)  # instalment 1 of the servicing tests' loan: 8037.57


def _staff(platform: Any, tenant: Tenant, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, f"Staff {role}", [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity")
    return email


def _links(platform: Any, tenant: Tenant, loan_id: UUID) -> list[Any]:
    return list(platform.get(PaylinkStore).links(tenant.brand_id, loan_id, datetime.now(UTC)))


def test_collection_roles_read_loans_and_hold_no_loan_write() -> None:
    for role in COLLECTION_ROLES:
        grants = role_grants([role])
        assert grants.get(Permission.LOANS) is Level.READ, role
        assert Permission.LOAN_OPS not in grants and Permission.LOAN_RELOCATE not in grants, role


def test_a_collection_executive_reads_the_loan_and_its_ledger_but_changes_nothing(
    app: Any, client: Any, platform: Any
) -> None:
    tenant, other_brand = make_tenant(platform), make_tenant(platform)
    set_business_date(platform, tenant, D0)
    set_business_date(platform, other_brand, D0)
    own, ravis, theirs = (
        disbursed_loan(platform, tenant),
        disbursed_loan(platform, tenant),
        disbursed_loan(platform, other_brand),
    )
    (asha, asha_email), (ravi, _) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    give_case(platform, tenant, own, asha)
    give_case(platform, tenant, ravis, ravi)
    browser, headers = signed_in(app, asha_email)

    page = browser.get(f"/loans/{own}")
    assert page.status_code == 200, page.text
    assert f'href="/loans/{own}/ledger" id="ledger-link"' in page.text and "ledger (JSON)" not in page.text
    case = browser.get(f"/collections/loans/{own}")
    assert case.status_code == 200 and f'href="/loans/{own}/ledger" id="ledger-link"' in case.text
    assert browser.get(f"/loans/{own}/ledger").status_code == 200
    assert browser.get(f"/api/v1/loans/{own}/ledger").status_code == 200
    assert browser.get(f"/api/v1/loans/{own}").status_code == 200
    assert 'id="recoveries-card"' in page.text and 'id="collection-request-form"' in page.text
    # Ravi's loan: its own facts brand-wide (the loan page, its ledger), not the desk's data of it - no collection
    # money card, its money requests a 404 (as its /recoveries page)
    other = browser.get(f"/loans/{ravis}")
    assert other.status_code == 200 and f'href="/loans/{ravis}/ledger" id="ledger-link"' in other.text
    assert 'id="recoveries-card"' not in other.text
    assert browser.get(f"/loans/{ravis}/ledger").status_code == 200
    assert browser.get(f"/api/v1/loans/{ravis}/recovery-requests").status_code == 404
    assert browser.get(f"/api/v1/loans/{own}/recovery-requests").status_code == 200
    assert browser.get(f"/loans/{ravis}/recoveries").status_code == 404
    # another brand's loan: not found, on the page and the API
    assert browser.get(f"/loans/{theirs}").status_code == 404
    assert browser.get(f"/loans/{theirs}/ledger").status_code == 404
    assert browser.get(f"/api/v1/loans/{theirs}/ledger").status_code == 404

    # no loan write, servicing or ops action: 403 and the loan as it was
    before = platform.get(Loans).get(tenant.brand_id, own)
    writes = [
        (f"/api/v1/loans/{own}/cancel", {"reason": "not mine to cancel"}),
        (f"/api/v1/loans/{own}/repayments", {"amount": "100.00", "mode": "cash", "reference": "NOPE-1"}),
        (f"/api/v1/loans/{own}/payment-links", {}),
        (f"/api/v1/loans/{own}/assign", {"staff_id": str(asha), "reason": "mine"}),
    ]
    for url, body in writes:
        answer = browser.post(url, json=body, headers=headers)
        assert answer.status_code == 403, (url, answer.status_code, answer.text)
    after = platform.get(Loans).get(tenant.brand_id, own)
    assert after.version == before.version and after.payments == {}
    assert _links(platform, tenant, own) == []


def test_the_ledger_page_shows_the_apis_postings_a_page_at_a_time(
    app: Any, client: Any, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 5, 15))
    result, _ = platform.get(Loans).record_repayment(tenant.brand_id, loan_id, "9000.00", "upi", "UTR-LEDGER",
                                                     date(2026, 3, 1))  # fmt: skip
    settle(platform, Loans.name, result.position)
    api = client.get(f"/api/v1/loans/{loan_id}/ledger", headers=tenant.auth).json()["items"]
    assert len(api) >= 5 and any(p["kind"] == "payment" for p in api)

    monkeypatch.setattr(ledger_pages, "LEDGER_PAGE", 2)
    browser, _ = signed_in(app, _staff(platform, tenant, "collection_executive"))
    rows: list[list[str]] = []
    url: str | None = f"/loans/{loan_id}/ledger"
    pages = 0
    while url is not None:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        body = page.text.split('id="loan-ledger"')[1].split("</table>")[0]
        found = re.findall(r"<tr data-kind=\"(\w+)\">(.*?)</tr>", body, re.S)
        assert 0 < len(found) <= 2
        for kind, cells in found:
            rows.append([kind, *(re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells))])
        later = re.search(r'href="([^"]+)" id="ledger-later"', page.text)
        url = later.group(1).replace("&amp;", "&") if later else None
        pages += 1
    assert pages == (len(api) + 1) // 2
    expected = [
        [p["kind"], day(date.fromisoformat(p["on"])), p["description"],
         *(rupees(Decimal(p[k])) for k in ("amount", "principal", "interest", "penal", "fees")),
         rupees(Decimal(p["running"]["total"]))]
        for p in api
    ]  # fmt: skip
    assert rows == expected
    # a cursor of another loan is not this list's: the first page, saying so (422)
    other = disbursed_loan(platform, tenant)
    first = browser.get(f"/loans/{other}/ledger")
    cursor = re.search(r'href="/loans/[^"]+\?cursor=([^"]+)" id="ledger-later"', first.text)
    assert cursor is not None
    stale = browser.get(f"/loans/{loan_id}/ledger?cursor={cursor.group(1)}")
    assert stale.status_code == 422 and 'data-kind="disbursal"' in stale.text


@pytest.fixture
def gateway_wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from api.services.disbursals import WEBHOOK_SECRET_ENV

    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    return provider_simulators


def test_a_collector_sends_a_payment_link_for_their_own_loan_only(
    app: Any, client: Any, platform: Any, gateway_wiring: Any
) -> None:
    tenant, other_brand = make_tenant(platform), make_tenant(platform)
    for brand in (tenant, other_brand):
        set_business_date(platform, brand, D0)
    own, ravis, theirs = (
        disbursed_loan(platform, tenant),
        disbursed_loan(platform, tenant),
        disbursed_loan(platform, other_brand),
    )
    for brand in (tenant, other_brand):
        set_business_date(platform, brand, DUE)
    (asha, asha_email), (ravi, _) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    give_case(platform, tenant, own, asha)
    give_case(platform, tenant, ravis, ravi)
    browser, headers = signed_in(app, asha_email)

    made = browser.post(f"/api/v1/loans/{own}/collection-payment-links", json={"channel": "whatsapp"},
                        headers=headers)  # fmt: skip
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["amount"] == "8037.57" and link["state"] == "sent" and link["channel"] == "whatsapp"
    sent = [m for m in gateway_wiring["whatsapp"].messages(link["phone"]) if link["payment_url"] in m["text"]]
    assert len(sent) == 1

    # refused, nothing created: another executive's loan (404), another brand's loan (404), Ops' endpoint (403)
    assert browser.post(f"/api/v1/loans/{ravis}/collection-payment-links", json={}, headers=headers).status_code == 404
    assert browser.post(f"/api/v1/loans/{theirs}/collection-payment-links", json={}, headers=headers).status_code == 404
    assert browser.post(f"/api/v1/loans/{own}/payment-links", json={}, headers=headers).status_code == 403
    # another brand's admin key on this brand's loan: 404; a Sales key of this brand: 403
    assert client.post(f"/api/v1/loans/{own}/collection-payment-links", json={},
                       headers=other_brand.auth).status_code == 404  # fmt: skip
    sales = platform.get(Identity).issue_api_key(tenant.brand_id, "sales", "sales key", granter=OPERATOR)
    settle(platform, "identity", sales.position)
    sales_auth = {"Authorization": f"Bearer {sales.secret}"}
    assert client.post(f"/api/v1/loans/{own}/collection-payment-links", json={},
                       headers=sales_auth).status_code == 403  # fmt: skip
    assert [x.id for x in _links(platform, tenant, own)] == [UUID(str(link["id"]))]
    assert _links(platform, tenant, ravis) == [] and _links(platform, other_brand, theirs) == []

    # the case page: the link listed, the form sends another; another's loan is a 404 and sends nothing
    case = browser.get(f"/collections/loans/{own}")
    assert case.status_code == 200 and 'id="link-form"' in case.text and link["order_id"] not in case.text
    assert case.text.count('<span class="pill sent">sent</span>') == 1
    csrf = headers["X-CSRF-Token"]
    posted = browser.post(f"/collections/loans/{own}/payment-links",
                          data={"csrf_token": csrf, "amount": "500.00", "channel": "sms"})  # fmt: skip
    assert posted.status_code == 303 and posted.headers["location"] == f"/collections/loans/{own}#payment-links"
    assert sorted(str(x.amount) for x in _links(platform, tenant, own)) == ["500.00", "8037.57"]
    assert browser.get(f"/collections/loans/{own}").text.count('<span class="pill sent">sent</span>') == 2
    too_much = browser.post(f"/collections/loans/{own}/payment-links",
                            data={"csrf_token": csrf, "amount": "999999.00", "channel": "sms"})  # fmt: skip
    assert too_much.status_code == 422 and "payoff" in too_much.text
    refused = browser.post(f"/collections/loans/{ravis}/payment-links", data={"csrf_token": csrf, "channel": "sms"})
    assert refused.status_code == 404
    assert len(_links(platform, tenant, own)) == 2 and _links(platform, tenant, ravis) == []

    # Ops keep their own endpoint for any loan
    ops = platform.get(Identity).issue_api_key(tenant.brand_id, "loan_ops", "ops key", granter=OPERATOR)
    settle(platform, "identity", ops.position)
    by_ops = client.post(f"/api/v1/loans/{ravis}/payment-links", json={"amount": "100.00"},
                         headers={"Authorization": f"Bearer {ops.secret}"})  # fmt: skip
    assert by_ops.status_code == 201, by_ops.text


def test_a_sales_agent_sees_the_brands_targets_read_only(app: Any, client: Any, platform: Any) -> None:
    tenant, other_brand = make_tenant(platform), make_tenant(platform)
    month = platform.get(Identity).business_date(tenant.brand_id).strftime("%Y-%m")  # the brand's month, not UTC's
    for brand, amount in ((tenant, "4321000.00"), (other_brand, "9876000.00")):
        goals = {month: {"disbursal_amount": amount, "disbursal_count": 37, "collections": "150000.00"}}
        patched = client.patch("/api/v1/brand/config", json={"monthly_targets": goals}, headers=brand.auth)
        assert patched.status_code == 200, patched.text
    browser, headers = signed_in(app, _staff(platform, tenant, "sales"))
    assert role_grants(["sales"]).get(Permission.MASTER_REPORTS) is None

    leads = browser.get("/leads")
    assert leads.status_code == 200, leads.text
    card = leads.text.split('id="lead-targets"')[1].split("</section>")[0]
    assert f"Targets {month}" in card and rupees(Decimal("4321000.00")) in card and ">37<" in card
    assert rupees(Decimal("9876000.00")) not in leads.text  # the other brand's goal
    answer = browser.get("/api/v1/sales/targets")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["month"] == month and body["configured"] is True
    assert {t["name"]: t["goal"] for t in body["targets"]} == {
        "disbursal_amount": "4321000.00", "disbursal_count": "37", "collections": "150000.00"
    }  # fmt: skip
    assert {t["name"]: t["achieved_percent"] for t in body["targets"]}["disbursal_count"] == "0.00"
    # still no managers' views, and nothing to change
    assert browser.get("/sales").status_code == 403
    assert browser.get("/api/v1/sales/overview").status_code == 403
    refused = browser.patch("/api/v1/brand/config", json={"monthly_targets": {}}, headers=headers)
    assert refused.status_code == 403
    kept = client.get("/api/v1/brand/config", headers=tenant.auth).json()["settings"]["monthly_targets"]
    assert kept[month]["disbursal_amount"] == "4321000.00"


def test_this_months_targets_are_the_brands_business_month_not_the_wall_clocks(client: Any, platform: Any) -> None:
    """A brand running as of 15 Mar 2024 sees March 2024's targets by default (as its dashboard does), not those of
    the wall clock's month -- nor of the UTC month, a month behind Asia/Kolkata's on a month's last evening."""
    tenant = make_tenant(platform)
    goals = {"2024-03": {"disbursal_amount": "1000.00", "disbursal_count": 3, "collections": "500.00"}}
    patched = client.patch("/api/v1/brand/config", json={"monthly_targets": goals, "business_date": "2024-03-15"},
                           headers=tenant.auth)  # fmt: skip
    assert patched.status_code == 200, patched.text
    targets = client.get("/api/v1/sales/targets", headers=tenant.auth)
    assert targets.status_code == 200, targets.text
    assert (targets.json()["month"], targets.json()["configured"]) == ("2024-03", True), targets.json()
    overview = client.get("/api/v1/sales/overview", headers=tenant.auth)
    assert overview.status_code == 200, overview.text
    assert overview.json()["month"] == "2024-03"
    assert {t["name"]: t["goal"] for t in overview.json()["targets"]}["disbursal_count"] == "3"
