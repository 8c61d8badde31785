"""Global search and the dashboards (issue #18 items 2 and 3) through the API on PostgreSQL: search across kinds
(name, phone, email, PAN, formatted id, loan number in part, staff) and brands, the minimum length, the
permissions; the V1 and V2 figures of a small book recomputed independently from the loans' own endpoints."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from starlette.testclient import TestClient

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_api_loans import PRODUCT
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle

__all__ = ["catalogue"]  # the penal catalogue of the servicing tests applies here too


def _borrower(platform: Any, tenant: Tenant, name: str, email: str, pan: str) -> UUID:
    result = platform.get(Customers).register(tenant.brand_id, name=name, phone=mobile("97"), email=email, pan=pan)
    settle(platform, Customers.name, result.position)
    return result.id  # type: ignore[no-any-return]


def _loan(platform: Any, tenant: Tenant, customer_id: UUID, submit: bool = False) -> UUID:
    loans: Loans = platform.get(Loans)
    loan_id: UUID = loans.create(tenant.brand_id, customer_id, PRODUCT, "100000", 12).id
    result = loans.submit(tenant.brand_id, loan_id) if submit else None
    settle(platform, Loans.name, result.position if result else platform.engine.head(Loans.name))
    return loan_id


def _pan() -> str:
    letters = "".join(chr(65 + int(c, 16) % 26) for c in uuid.uuid4().hex[:3])
    return f"{letters}PD{str(uuid.uuid4().int)[:4]}K"


def _search(client: Any, tenant: Tenant, q: str) -> dict[str, Any]:
    answer = client.get("/api/v1/search", params={"q": q}, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _ids(hits: list[dict[str, Any]]) -> set[str]:
    return {h["id"] for h in hits}


def test_search_finds_borrowers_loans_and_staff_of_the_brand_only(client: Any, platform: Any) -> None:
    a, b = make_tenant(platform), make_tenant(platform)
    tag = uuid.uuid4().hex[:5]
    surname = "Zorawar" + tag  # one no other test's borrower has
    email = f"anjali.{tag}@example.com"
    pan = _pan()
    mine = _borrower(platform, a, f"Anjali {surname}", email, pan)
    theirs = _borrower(platform, b, f"Anjali {surname}", f"other.{tag}@example.com", _pan())
    my_loan = _loan(platform, a, mine)
    their_loan = _loan(platform, b, theirs)
    staff = client.post(
        "/api/v1/staff",
        json={"name": f"Kiran {surname}", "email": f"kiran.{tag}@lender.in", "roles": ["sales"]},
        headers=a.auth,
    ).json()
    loan = client.get(f"/api/v1/loans/{my_loan}", headers=a.auth).json()
    customer = client.get(f"/api/v1/customers/{mine}", headers=a.auth).json()

    found = _search(client, a, surname.lower())
    assert _ids(found["borrowers"]) == {str(mine)}
    assert found["borrowers"][0]["url"] == f"/customers/{mine}"
    assert [(h["id"], h["borrower_name"], h["url"]) for h in found["loans"]] == [
        (str(my_loan), f"Anjali {surname}", f"/loans/{my_loan}")
    ]
    assert [(s["id"], s["url"]) for s in found["staff"]] == [(staff["id"], f"/staff/{staff['id']}")]

    number = loan["loan_number"]
    by_kind = {
        "full loan number, lower case": (number.lower(), "loans", str(my_loan)),
        "loan number's digits": (number.rsplit("-", 1)[1], "loans", str(my_loan)),
        "loan number's start": (number[: len(number) - 1], "loans", str(my_loan)),
        "email prefix": (email[:12], "borrowers", str(mine)),
        "PAN": (pan.lower(), "borrowers", str(mine)),
        "phone": (customer["phone"], "borrowers", str(mine)),
        "staff email": (f"kiran.{tag}", "staff", staff["id"]),
        "a fragment of the name": (surname[2:9].lower(), "borrowers", str(mine)),
    }
    if customer.get("number"):
        by_kind["formatted id"] = (customer["number"], "borrowers", str(mine))
    for kind, (q, group, expected) in by_kind.items():
        assert expected in _ids(_search(client, a, q)[group]), kind

    # Another brand's search never shows this brand's records, whatever it types.
    for q in (surname, number, email[:12], pan, f"kiran.{tag}"):
        text = client.get("/api/v1/search", params={"q": q}, headers=b.auth).text
        assert all(i not in text for i in (str(mine), str(my_loan), staff["id"])), q
    assert _ids(_search(client, b, surname)["loans"]) == {str(their_loan)}

    for short in ("a", " a  ", ""):
        refused = client.get("/api/v1/search", params={"q": short}, headers=a.auth)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert "q" in refused.text
    assert client.get("/api/v1/search", headers=a.auth).status_code == 422
    assert _search(client, a, "qxzqv" + tag) == {"borrowers": [], "loans": [], "staff": []}


def _staff_browser(app: Any, platform: Any, tenant: Tenant, denied: tuple[str, ...] = ()) -> TestClient:
    identity: Identity = platform.get(Identity)
    email = f"sales-{uuid.uuid4().hex[:6]}@lender.in"
    created = identity.create_staff(
        tenant.brand_id, email, "Sales Person", ["sales"], "sales-pass-2026", granter=OPERATOR
    )
    if denied:
        result = identity.update_staff(
            tenant.brand_id, created.id, permissions=dict.fromkeys(denied, "NONE"), granter=OPERATOR
        )
        settle(platform, "identity", result.position)
    settle(platform, "identity", created.position)
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    assert browser.post("/login", data={"email": email, "password": "sales-pass-2026"}).status_code == 303
    return browser


def test_search_and_dashboard_need_their_permissions(app: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    allowed = _staff_browser(app, platform, tenant)
    denied = _staff_browser(app, platform, tenant, ("GLOBAL_SEARCH", "VIEW_DASHBOARD"))
    try:
        assert allowed.get("/api/v1/search", params={"q": "ab"}).status_code == 200
        assert allowed.get("/api/v1/dashboard").status_code == 200
        page = allowed.get("/dashboard").text
        assert 'id="global-search"' in page and 'id="loan-kpis"' in page
        assert allowed.get("/search", params={"q": "ab"}).status_code == 200
        # Sales search staff too, but do not open staff profiles: each hit says whether its page opens for them, and
        # the page links only those (every result linked to a 403 for most roles).
        found = allowed.get("/api/v1/search", params={"q": "Sales Person"}).json()
        assert found["staff"] and all(h["opens"] is False for h in found["staff"])
        shown = allowed.get("/search", params={"q": "Sales Person"}).text
        assert "Sales Person" in shown and 'href="/staff/' not in shown
        for link in re.findall(r'href="(/(?:customers|loans|staff)/[^"]+)"', shown):
            assert allowed.get(link).status_code == 200, link

        assert denied.get("/api/v1/search", params={"q": "ab"}).status_code == 403
        assert denied.get("/api/v1/dashboard").status_code == 403
        assert denied.get("/search", params={"q": "ab"}).status_code == 403
        page = denied.get("/dashboard")
        assert page.status_code == 200 and 'id="global-search"' not in page.text and 'id="loan-kpis"' not in page.text
    finally:
        allowed.__exit__(None, None, None)
        denied.__exit__(None, None, None)


def _pay(client: Any, tenant: Tenant, loan_id: UUID, amount: str, reference: str, on: str) -> dict[str, Any]:
    body = {"amount": amount, "mode": "upi", "reference": reference, "paid_on": on}
    paid = client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)
    assert paid.status_code == 201, paid.text
    return paid.json()  # type: ignore[no-any-return]


def _book(client: Any, platform: Any, tenant: Tenant) -> dict[str, UUID]:
    """Two disbursed loans (one fell overdue by a bounced cheque and was cured), one pending, one onboarding."""
    set_business_date(platform, tenant, D0)
    first = disbursed_loan(platform, tenant)  # 31 Jan, before the V2 window
    set_business_date(platform, tenant, date(2026, 2, 20))
    second = disbursed_loan(platform, tenant, date(2026, 2, 20))
    customer = platform.get(Loans).get(tenant.brand_id, second).customer_id
    pending = _loan(platform, tenant, customer, submit=True)
    onboarding = _loan(platform, tenant, customer)
    set_business_date(platform, tenant, date(2026, 2, 28))
    _pay(client, tenant, first, "1000.00", "UTR-1", "2026-02-28")
    set_business_date(platform, tenant, date(2026, 3, 3))
    cheque = _pay(client, tenant, first, "7051.65", "CHQ-7", "2026-03-03")
    bounced = client.post(
        f"/api/v1/loans/{first}/repayments/{cheque['id']}/reverse",
        json={"reason": "cheque bounced"},
        headers=tenant.auth,
    )
    assert bounced.json()["status"] == "overdue"
    assert _pay(client, tenant, first, "7051.65", "UTR-3", "2026-03-03")["status"] == "active"
    return {"first": first, "second": second, "pending": pending, "onboarding": onboarding}


def test_v1_and_v2_figures_match_the_book_recomputed_from_the_loans(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    book = _book(client, platform, tenant)
    loans = {name: client.get(f"/api/v1/loans/{i}", headers=tenant.auth).json() for name, i in book.items()}

    v1 = client.get("/api/v1/dashboard", headers=tenant.auth)
    assert v1.status_code == 200, v1.text
    board = v1.json()
    statuses = Counter(loan["status"] for loan in loans.values())
    disbursed = {"active", "partially_paid", "overdue", "completed", "settled", "written_off"}
    pending = {"pending", "cx_approved", "sm_approved", "approved", "awaiting_disbursal"}
    assert board["version"] == "V1" and board["as_of"] == "2026-03-03" and board["daily"] is None
    assert board["loans"]["total"] == len(book) == 4
    assert board["loans"]["disbursed"] == sum(n for s, n in statuses.items() if s in disbursed) == 2
    assert board["loans"]["pending"] == sum(n for s, n in statuses.items() if s in pending) == 1
    assert board["loans"]["overdue"] == statuses["overdue"] == 0
    assert {s: n for s, n in board["loans"]["by_status"].items() if n} == dict(statuses)
    assert board["recent_activity"] and all(a["summary"] for a in board["recent_activity"])

    targets = {"2026-03": {"disbursal_amount": "170000", "disbursal_count": 2, "collections": "14103.30"}}
    changed = client.patch(
        "/api/v1/brand/config", json={"dashboard_version": "V2", "monthly_targets": targets}, headers=tenant.auth
    )
    assert changed.status_code == 200, changed.text
    board = client.get("/api/v1/dashboard", headers=tenant.auth).json()
    assert board["version"] == "V2" and board["window_start"] == "2026-02-02"

    # Disbursals and collections by day, from each loan's own record and repayment history.
    days = {d["day"]: d for d in board["daily"]}
    assert len(days) == 30 and min(days) == "2026-02-02" and max(days) == "2026-03-03"
    expected_disbursed: Counter[str] = Counter()
    expected_amount: dict[str, Decimal] = {}
    for loan in loans.values():
        on = loan.get("disbursed_on")
        if on and on in days:
            expected_disbursed[on] += 1
            expected_amount[on] = expected_amount.get(on, Decimal(0)) + Decimal(loan["amounts"]["sanctioned"])
    collected: dict[str, Decimal] = {}
    for loan_id in book.values():
        for p in client.get(f"/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"]:
            if p.get("reversed_on") is None and p["paid_on"] in days:
                collected[p["paid_on"]] = collected.get(p["paid_on"], Decimal(0)) + Decimal(p["amount"])
    for day, figures in days.items():
        assert figures["disbursed_count"] == expected_disbursed[day], day
        assert Decimal(figures["disbursed_amount"]) == expected_amount.get(day, Decimal(0)), day
        assert Decimal(figures["collected_amount"]) == collected.get(day, Decimal(0)), day
    assert collected == {"2026-02-28": Decimal("1000.00"), "2026-03-03": Decimal("7051.65")}

    # DPD buckets: the serviced loans by their DPD on the read model.
    buckets = {b["bucket"]: b["loans"] for b in board["dpd_buckets"]}
    assert list(buckets) == ["current", "1-30", "31-60", "61-90", "91+"]
    serviced = [loan for loan in loans.values() if loan["status"] in {"active", "partially_paid", "overdue"}]
    assert sum(buckets.values()) == len(serviced) == 2

    # Recovery: the first loan fell overdue (the bounced cheque) and is active again.
    assert board["recovery"] == {"fell_overdue": 1, "recovered": 1, "rate": "100.00"}
    # The funnel and TAT by business day: the first loan was created, submitted, CX-approved, sanctioned and disbursed
    # on 31 Jan, before the window (each of its events carries that date: docs/insight.md).
    funnel = {s["stage"]: s["loans"] for s in board["funnel"]}
    assert funnel == {"created": 3, "submitted": 2, "credit approved": 1, "sanctioned": 1, "disbursed": 1}
    tat = {s["stage"]: s["loans"] for s in board["tat"]}
    assert tat == {"application": 2, "credit review": 1, "sanction": 1, "disbursal": 1}
    assert all(Decimal(s["average_hours"]) >= 0 for s in board["tat"])

    # Targets of March: nothing disbursed yet, 7051.65 of 14103.30 collected (50 %).
    lines = {t["metric"]: t for t in board["targets"]["lines"]}
    assert board["targets"]["month"] == "2026-03" and board["targets"]["configured"] is True
    assert lines["collections"] | {} == {
        "metric": "collections", "target": "14103.30", "actual": "7051.65", "achieved": "50.00"
    }  # fmt: skip
    assert lines["disbursal_count"]["actual"] == "0" and lines["disbursal_amount"]["achieved"] == "0.00"
    # The sales overview of the same month says the same of collections (it had no actual).
    sales = client.get("/api/v1/sales/overview", params={"month": "2026-03"}, headers=tenant.auth).json()
    collections = next(t for t in sales["targets"] if t["name"] == "collections")
    assert (collections["goal"], collections["actual"], collections["achieved_percent"]) == (
        "14103.30", "7051.65", "50.00"
    ), collections  # fmt: skip

    # The reminders panel: two reminders scheduled, one cancelled.
    template = client.post(
        "/api/v1/message-templates",
        json={"name": "Call us", "channel": "sms", "body": "Hi {{borrower_name}}, please call us."},
        headers=tenant.auth,
    ).json()["id"]
    customer = str(platform.get(Loans).get(tenant.brand_id, book["first"]).customer_id)
    made = [
        client.post(
            "/api/v1/reminders",
            json={"customer_id": customer, "channel": "sms", "template_id": template,
                  "scheduled_at": f"2027-01-0{day}T10:00:00+05:30"},
            headers=tenant.auth,
        )
        for day in (1, 2)
    ]  # fmt: skip
    assert [m.status_code for m in made] == [201, 201], made[0].text
    cancelled = client.post(f"/api/v1/reminders/{made[1].json()['id']}/cancel", headers=tenant.auth)
    assert cancelled.status_code == 200, cancelled.text
    board = client.get("/api/v1/dashboard", headers=tenant.auth).json()
    assert board["reminders"] == {"scheduled": 1, "sent": 0, "failed": 0} and board["missing"] == []

    other = make_tenant(platform)
    theirs = client.get("/api/v1/dashboard", headers=other.auth).json()
    assert theirs["loans"]["total"] == 0 and all(str(i) not in str(theirs) for i in book.values())


def test_dashboard_page_shows_the_brands_version(app: Any, client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    browser = _staff_browser(app, platform, tenant)
    try:
        v1 = browser.get("/dashboard").text
        assert 'id="dashboard-v1"' in v1 and "chart-disbursals" not in v1
        assert re.search(r'id="kpi-total"><span class="figure">0<', v1)
        client.patch("/api/v1/brand/config", json={"dashboard_version": "V2"}, headers=tenant.auth)
        v2 = browser.get("/dashboard").text
        assert 'id="dashboard-v2"' in v2 and v2.count('<svg class="chart"') == 4
        assert 'id="reminders-panel"' in v2 and 'id="reminders-refresh"' in v2
    finally:
        browser.__exit__(None, None, None)


def test_each_loan_figure_opens_the_loans_it_counts(app: Any, client: Any, platform: Any) -> None:
    """ "Disbursed" counts six states and "Pending" five, yet they opened the loans of one state each (`active`,
    `pending`): the list the figure opened was shorter than the figure. They open their groups of states now."""
    tenant = make_tenant(platform)
    book = _book(client, platform, tenant)
    completed = disbursed_loan(platform, tenant, date(2026, 3, 3))
    payoff = client.get(f"/api/v1/loans/{completed}/payoff", headers=tenant.auth).json()["total"]
    assert _pay(client, tenant, completed, payoff, "UTR-CLOSE", "2026-03-03")["status"] == "completed"
    settle(platform, Loans.name)
    loans = client.get("/api/v1/dashboard", headers=tenant.auth).json()["loans"]
    assert (loans["disbursed"], loans["pending"]) == (3, 1)
    email = f"dash-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, "Dash Admin", ["admin"], "admin-pass-2026",
                                               granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    with TestClient(app, follow_redirects=False) as browser:
        assert browser.post("/login", data={"email": email, "password": "admin-pass-2026"}).status_code == 303
        board = browser.get("/dashboard").text
        for kpi, figure, expected in (("kpi-disbursed", 3, {book["first"], book["second"], completed}),
                                      ("kpi-pending", 1, {book["pending"]})):  # fmt: skip
            link = re.search(rf'href="(/loans\?status=[a-z_]+)" id="{kpi}"', board)
            assert link is not None, kpi
            listed = browser.get(link.group(1)).text
            table = listed[listed.index('id="loan-queue"') :]
            shown = set(re.findall(r'<a href="/loans/([0-9a-f-]{36})">', table))
            assert len(shown) == figure and shown == {str(i) for i in expected}, (kpi, shown)
