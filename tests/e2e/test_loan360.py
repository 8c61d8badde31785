"""Loans meeting the rest of the desk (issue #15 item 6) on PostgreSQL: Customer 360 lists the borrower's loans
with status, DPD, class, next due and outstanding (from the loan's events on the business date), another brand
sees none of them; a Softmedia notice naming a Covenant Desk loan matches its borrower at 100 and links the loan."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

from starlette.testclient import TestClient

from adapters.simulators.softmedia import SoftmediaSimulator
from api.services.borrower_loans import borrower_loans
from domain.loans.application import Loans
from projections.borrower_loans import BorrowerLoanQueries
from tests.conftest import make_tenant
from tests.e2e.test_covenants import _covenant
from tests.e2e.test_loan_cob import _cob
from tests.e2e.test_notices import _item, _source, _sync, simulator, small_pages
from tests.e2e.test_recoveries_api import _key
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

# The penal catalogue of the servicing tests and the Softmedia simulator of the notice tests apply here too.
__all__ = ["catalogue", "simulator", "small_pages"]


def _customer_of(platform: Any, brand_id: uuid.UUID, loan_id: uuid.UUID) -> uuid.UUID:
    return platform.get(Loans).get(brand_id, loan_id).customer_id  # type: ignore[no-any-return]


def test_customer_360_shows_the_borrowers_loans_with_dpd_class_next_due_and_outstanding(
    client: Any, app: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    customer_id = _customer_of(platform, tenant.brand_id, loan_id)
    set_business_date(platform, tenant, date(2026, 3, 3))  # the first instalment (28 Feb) unpaid: 3 DPD

    rows = borrower_loans(platform.get(BorrowerLoanQueries), platform.get(Loans), tenant.brand_id, customer_id)
    assert [r.id for r in rows] == [loan_id]
    row = rows[0]
    assert row.status == "active" and row.dpd == 3 and row.asset_class == "SMA-0"
    assert row.next_due is not None and row.next_due.due_date == date(2026, 3, 31) and row.next_due.no == 2
    detail = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert str(row.outstanding) == detail["outstanding"]["total"] and row.outstanding is not None
    assert row.outstanding > 85000

    email = f"admin-{uuid.uuid4().hex[:6]}@lender.in"
    created = client.post(
        "/api/v1/staff",
        json={"name": "Loan Admin", "email": email, "roles": ["admin"], "password": "admin-pass-2026"},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    with TestClient(app, follow_redirects=False) as browser:
        assert browser.post("/login", data={"email": email, "password": "admin-pass-2026"}).status_code == 303
        html = browser.get(f"/customers/{customer_id}").text
        section = html[html.index('id="customer-loans"') :]
        section = section[: section.index("</section>")]
        number = detail["loan_number"]
        assert f'data-loan="{number}"' in section and f'href="/loans/{loan_id}"' in section
        assert "SMA-0" in section and re.search(r'data-label="DPD" class="num">3<', section)
        assert "#2" in section  # the next due instalment

    api = client.get(f"/api/v1/customers/{customer_id}/loans", headers=tenant.auth)
    assert api.status_code == 200, api.text
    [item] = api.json()["items"]
    assert (item["id"], item["dpd"], item["asset_class"]) == (str(loan_id), 3, "SMA-0")
    assert item["next_due"] == {"no": 2, "due_date": "2026-03-31", "amount": str(row.next_due.amount)}
    assert item["outstanding"] == detail["outstanding"]["total"]

    other = make_tenant(platform)
    assert borrower_loans(platform.get(BorrowerLoanQueries), platform.get(Loans), other.brand_id, customer_id) == []
    assert client.get(f"/api/v1/customers/{customer_id}/loans", headers=other.auth).status_code == 404


def test_a_loan_paid_off_after_cob_marked_it_overdue_shows_dpd_0_and_standard_in_customer_360_and_the_reports(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    customer_id = _customer_of(platform, tenant.brand_id, loan_id)
    set_business_date(platform, tenant, date(2026, 3, 5))  # the first instalment (28 Feb) unpaid
    run = _cob(client, platform, tenant, "2026-03-05")  # 31 Jan .. 5 Mar: overdue (business date 6 Mar: 6 DPD)
    assert run["status"] == "succeeded", run
    [item] = client.get(f"/api/v1/customers/{customer_id}/loans", headers=tenant.auth).json()["items"]
    assert (item["status"], item["dpd"], item["asset_class"]) == ("overdue", 6, "SMA-0")

    payoff = client.get(f"/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()["total"]
    body = {"amount": payoff, "mode": "neft", "reference": "NEFT-PAYOFF"}
    paid = client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)
    assert paid.status_code == 201 and paid.json()["status"] == "completed", paid.text
    settle(platform, Loans.name)
    loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert (loan["status"], loan["dpd"], loan["asset_class"]) == ("completed", 0, "standard")
    # No close of business comes for a completed loan: the lists said the last COB's 5 DPD and SMA-0 for ever.
    [item] = client.get(f"/api/v1/customers/{customer_id}/loans", headers=tenant.auth).json()["items"]
    assert (item["status"], item["dpd"], item["asset_class"], item["outstanding"]) == (
        "completed",
        0,
        "standard",
        "0.00",
    )
    report = client.get(
        "/api/v1/reports/collection-loan-report", params={"from": "2026-01-01", "to": "2026-03-31"},
        headers=tenant.auth,
    ).json()  # fmt: skip
    [row] = report["rows"]
    assert (row["status"], row["dpd"]) == ("completed", 0)


def test_settled_and_written_off_loans_show_their_own_pages_figures_in_customer_360_and_the_reports(
    client: Any, platform: Any
) -> None:
    """A loan ended by a settlement or a write-off owes nothing: Customer 360 gave `outstanding: null` and the
    class the read model last kept (standard: COB had not run), the collection reports the unpaid schedule the
    settlement waived, while the loan's own page says 0.00, DPD 0 and the class it ended in."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    settled_id, written_id = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 3, 20))  # 28 Feb unpaid: overdue, SMA-0, COB not run
    manager, head = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "collection_head")
    url = f"/api/v1/loans/{settled_id}"
    proposed = client.post(f"{url}/settlements", json={"amount": "40000.00", "remarks": "one-time"}, headers=manager)
    assert proposed.status_code == 201, proposed.text
    assert client.post(f"/api/v1/settlements/{proposed.json()['id']}/approve", headers=head).status_code == 200
    pay = {"amount": "40000.00", "mode": "neft", "reference": "UTR-SETTLE"}
    assert client.post(f"{url}/repayments", json=pay, headers=tenant.auth).status_code == 201
    ended = client.post(f"/api/v1/loans/{written_id}/write-off", json={"reason": "deceased"}, headers=tenant.auth)
    assert ended.status_code == 200, ended.text
    settle(platform, Loans.name)

    report = client.get(
        "/api/v1/reports/collection-loan-report", params={"from": "2026-01-01", "to": "2026-03-31"},
        headers=tenant.auth,
    ).json()  # fmt: skip
    rows = {r["loan_number"]: r for r in report["rows"]}
    for loan_id, status in ((settled_id, "settled"), (written_id, "written_off")):
        loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
        assert (loan["status"], loan["dpd"], loan["outstanding"]["total"]) == (status, 0, "0.00")
        assert loan["asset_class"] == "SMA-0"  # the class it ended in
        customer_id = _customer_of(platform, tenant.brand_id, loan_id)
        [item] = client.get(f"/api/v1/customers/{customer_id}/loans", headers=tenant.auth).json()["items"]
        assert (item["status"], item["dpd"], item["asset_class"], item["outstanding"], item["next_due"]) == (
            status, 0, loan["asset_class"], "0.00", None
        )  # fmt: skip
        row = rows[loan["loan_number"]]
        assert (row["status"], row["dpd"], row["outstanding_total"]) == (status, 0, "0.00"), row
    assert report["totals"]["outstanding_total"] == "0.00", report["totals"]


def _admin_browser(client: Any, app: Any, tenant: Any) -> TestClient:
    email = f"admin-{uuid.uuid4().hex[:6]}@lender.in"
    created = client.post(
        "/api/v1/staff",
        json={"name": "Loan Admin", "email": email, "roles": ["admin"], "password": "admin-pass-2026"},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    assert browser.post("/login", data={"email": email, "password": "admin-pass-2026"}).status_code == 303
    return browser


def test_a_notice_naming_a_covenant_desk_loan_matches_its_borrower_at_100_and_links_the_loan(
    client: Any, app: Any, platform: Any, simulator: SoftmediaSimulator
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    customer_id = str(_customer_of(platform, tenant.brand_id, loan_id))
    number = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["loan_number"]
    # Another borrower holds the same number as a linked (external) loan number, with the notice's phone and name:
    # the loan Covenant Desk holds still decides.
    namesake = client.post(
        "/api/v1/customers",
        json={"name": "Ravi Shankar", "phone": "9876500099", "loan_numbers": [number]},
        headers=tenant.auth,
    )
    assert namesake.status_code == 201, namesake.text
    simulator.dataset.upsert(_item("CD1", loan=number, name="Ravi Shankar", phone="9876500099", days=5))
    simulator.dataset.upsert(_item("CD3", loan=f" {number.lower()}", name="Someone Else", days=6))
    simulator.dataset.upsert(_item("CD2", loan="SML-NOT-OURS", name="Nobody Known", days=5))
    run = _sync(client, platform, tenant, _source(client, tenant, simulator))
    assert run["status"] == "succeeded", run
    notices = {
        n["source_notice_id"]: n for n in client.get("/api/v1/notices/overdue", headers=tenant.auth).json()["items"]
    }
    ours = notices["CD1"]["match"]
    assert (ours["customer_id"], ours["confidence"], ours["band"]) == (customer_id, 100, "high"), (
        notices["CD1"],
        number,
    )
    assert "loan_number" in ours["methods"]
    # the namesake (loan number, phone and name all agree: 100) is the runner-up, not a tie
    detail = client.get(f"/api/v1/notices/{notices['CD1']['id']}", headers=tenant.auth).json()["match"]
    assert [c["customer_id"] for c in detail["candidates"]][:2] == [customer_id, namesake.json()["id"]]
    assert detail["candidates"][1]["confidence"] == 100
    lower = notices["CD3"]["match"]  # the number written in lower case with a space still names the loan
    assert (lower["customer_id"], lower["confidence"]) == (customer_id, 100)
    assert notices["CD2"]["match"]["customer_id"] is None

    browser = _admin_browser(client, app, tenant)
    try:
        page = browser.get(f"/notices/{notices['CD1']['id']}").text
        assert f'<a href="/loans/{loan_id}" id="notice-own-loan">{number}</a>' in page
        assert 'id="notice-own-loan"' not in browser.get(f"/notices/{notices['CD2']['id']}").text
    finally:
        browser.__exit__(None, None, None)


def _close(client: Any, platform: Any, tenant: Any, loan_id: uuid.UUID) -> None:
    url = f"/api/v1/loans/{loan_id}"
    quote = client.get(f"{url}/payoff", headers=tenant.auth).json()
    body = {"amount": quote["total"], "mode": "neft", "reference": f"UTR-END-{loan_id.hex[:6]}"}
    closing = client.post(f"{url}/repayments", json=body, headers=tenant.auth)
    assert closing.status_code == 201 and closing.json()["status"] == "completed", closing.text
    settle(platform, Loans.name)


def test_completed_loans_tabs_list_closed_loans_by_keyset_and_settled_is_empty(
    client: Any, app: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    closed = [disbursed_loan(platform, tenant) for _ in range(3)]
    open_one = disbursed_loan(platform, tenant)
    for loan_id in closed:
        _close(client, platform, tenant, loan_id)
    api = client.get("/api/v1/loans", params={"status": "completed", "limit": 2}, headers=tenant.auth).json()
    assert len(api["items"]) == 2 and api["next_cursor"]

    numbers = {
        i: client.get(f"/api/v1/loans/{i}", headers=tenant.auth).json()["loan_number"] for i in (*closed, open_one)
    }
    browser = _admin_browser(client, app, tenant)
    try:
        page = browser.get("/completed-loans")
        assert page.status_code == 200, page.text
        listed = re.findall(r'<tr data-loan="([^"]+)"', page.text)
        assert sorted(listed) == sorted(numbers[i] for i in closed) and numbers[open_one] not in listed
        assert 'id="tab-closed" aria-current="page"' in page.text
        settled = browser.get("/completed-loans?tab=settled").text
        assert "<tr data-loan=" not in settled and "No settled loans" in settled
        assert browser.get("/completed-loans?cursor=forged").status_code == 422
        assert browser.get(f"/completed-loans?cursor={api['next_cursor']}").status_code == 422  # another list's

        # All completed, latest closed first, a page at a time; a search, a product, closing dates; the CSV.
        first = browser.get("/completed-loans", params={"tab": "all"}).text
        assert re.findall(r'<tr data-loan="([^"]+)"', first) == [numbers[i] for i in reversed(closed)]
        one = browser.get("/completed-loans", params={"tab": "all", "q": numbers[closed[1]].lower()}).text
        assert re.findall(r'<tr data-loan="([^"]+)"', one) == [numbers[closed[1]]]
        product = client.get(f"/api/v1/loans/{closed[0]}", headers=tenant.auth).json()["product_id"]
        today = D0  # the business day they closed on (the closing payments' day, as on their certificates)
        for params, expected in (
            ({"product": product}, 3),
            ({"product": str(uuid.uuid4())}, 0),
            ({"from": today.isoformat(), "to": today.isoformat()}, 3),
            ({"from": (today + timedelta(days=1)).isoformat()}, 0),
            ({"to": (today - timedelta(days=1)).isoformat()}, 0),
        ):
            shown = browser.get("/completed-loans", params={"tab": "all", **params})
            assert shown.status_code == 200 and shown.text.count("<tr data-loan=") == expected, (params, expected)
        for bad in ({"from": "2026-13-01"}, {"from": "2026-03-02", "to": "2026-03-01"}, {"product": "x"}):
            refused = browser.get("/completed-loans", params=bad)
            assert refused.status_code == 422 and 'id="filter-error"' in refused.text, bad
            assert browser.get("/completed-loans.csv", params=bad).status_code == 422
        csv_answer = browser.get("/completed-loans.csv", params={"tab": "closed", "product": product})
        assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
        lines = csv_answer.content.decode("utf-8-sig").splitlines()
        assert lines[0] == "loan_number,borrower,borrower_number,product,amount,tenure,status,closed_on,closed_at"
        assert {line.split(",")[7] for line in lines[1:]} == {D0.isoformat()}
        assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(numbers[i] for i in closed)
        assert all(line.split(",")[6] == "completed" for line in lines[1:])
        assert "export-csv" in first and "completed-loans.csv?tab=all" in first
    finally:
        browser.__exit__(None, None, None)


def test_the_cob_page_runs_cob_for_a_date_and_lists_its_run_record(client: Any, app: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 3, 1))
    browser = _admin_browser(client, app, tenant)
    try:
        empty = browser.get("/loan-cob").text
        assert 'id="cob-run"' in empty and "No close of business has run yet" in empty
        html = browser.get("/dashboard").text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
        assert token is not None
        started = browser.post("/loan-cob/run", data={"as_of": "2026-03-01", "csrf_token": token.group(1)})
        assert started.status_code == 303, started.text
        assert started.headers["location"].startswith("/loan-cob?started=1")
        run = client.get("/api/v1/jobs/loan-cob/runs", headers=tenant.auth).json()["items"][0]
        scheduler_for(platform).execute(uuid.UUID(run["id"]))
        settle(platform, Loans.name)
        page = browser.get("/loan-cob").text
        row = page[page.index('data-date="2026-03-01"') :]
        row = row[: row.index("</tr>")]
        assert re.search(r'data-label="Loans processed" class="num">1<', row)
        assert "active → overdue: 1" in row and "done" in row
        # The loans whose COB recorded a day close (the overdue one), headed as such: "Closed" read as loans paid off.
        assert re.search(r'data-label="Loans closed for the day" class="num">1<', row)
        assert '<th class="num">Loans closed for the day</th>' in page and '<th class="num">Closed</th>' not in page
        assert "It does not count loans paid off" in page
        refused = browser.post("/loan-cob/run", data={"as_of": "not-a-date", "csrf_token": token.group(1)})
        assert refused.status_code == 422
    finally:
        browser.__exit__(None, None, None)


def test_a_covenant_whose_application_reference_names_a_loan_links_to_it(client: Any, app: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    customer_id = str(_customer_of(platform, tenant.brand_id, loan_id))
    number = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["loan_number"]
    named = _covenant(client, tenant, customer_id, application_ref=number)
    other = _covenant(client, tenant, customer_id, application_ref="APP-2024-001")
    browser = _admin_browser(client, app, tenant)
    try:
        page = browser.get(f"/covenants/{named['id']}").text
        assert f'<a href="/loans/{loan_id}" id="covenant-loan">{number}</a>' in page
        plain = browser.get(f"/covenants/{other['id']}").text
        assert 'id="covenant-loan"' not in plain and "APP-2024-001" in plain
    finally:
        browser.__exit__(None, None, None)


def test_a_loan_closed_by_a_payment_recorded_later_is_listed_on_the_day_it_was_paid(
    client: Any, app: Any, platform: Any
) -> None:
    """A NEFT closing payment paid on 31 Jan and recorded on 4 Feb closes the loan on 31 Jan, as its no-due
    certificate says; the Completed Loans page filed it by the instant it was recorded (in February)."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 4))
    url = f"/api/v1/loans/{loan_id}"
    quote = client.get(f"{url}/payoff", params={"as_of": D0.isoformat()}, headers=tenant.auth).json()
    body = {"amount": quote["total"], "mode": "neft", "reference": "UTR-LATE-END", "paid_on": D0.isoformat()}
    closing = client.post(f"{url}/repayments", json=body, headers=tenant.auth)
    assert closing.status_code == 201 and closing.json()["status"] == "completed", closing.text
    settle(platform, Loans.name)
    number = client.get(url, headers=tenant.auth).json()["loan_number"]
    browser = _admin_browser(client, app, tenant)
    try:
        january = browser.get("/completed-loans", params={"tab": "all", "from": "2026-01-01", "to": "2026-01-31"})
        assert re.findall(r'<tr data-loan="([^"]+)"', january.text) == [number]
        assert "31 Jan 2026" in january.text
        february = browser.get("/completed-loans", params={"tab": "all", "from": "2026-02-01", "to": "2026-02-28"})
        assert "<tr data-loan=" not in february.text
    finally:
        browser.__exit__(None, None, None)
