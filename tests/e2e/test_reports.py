"""The reports (issue #18 item 1) on PostgreSQL, through the app: a small book built by the use cases (borrowers with
quotes, commas, unicode and a formula for a name, a rejection whose remarks hold a newline, a repayment), rows and
totals recomputed independently from the loans API, CSVs read back by python's csv module, brands and roles
probed, and the master report emailed by its job."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.customers.application import Customers
from domain.customers.customer import Address
from domain.identity.application import Identity
from domain.loans.application import Loans
from projections.report_catalogue import CATALOGUE
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_api_loans import PRODUCT
from tests.e2e.test_servicing_api import D0, catalogue, set_business_date
from tests.support import mobile, settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]

SPEC_SLUGS = (
    "master-report", "disbursed-loan-report", "non-disbursed-loan-report", "disburse-non-disburse-report",
    "active-loans-by-due-date-report", "completed-loan-with-no-repet-report", "loan-close-report",
    "outstanding-data-report", "reject-report", "total-approve-sanction-report", "affiliate-report",
    "login-sessions-report", "master-collection-report", "collection-loan-report", "collection-due-report",
    "collection-loan-report-by-approved-date", "collection-allocation-executive-report",
    "credit-executive-allocation-report", "collection-remarks-report", "total-recovery-report", "field-visit-report",
    "marketing-report", "internal-marketing-report", "internal-marketing-analysis-report",
    "daily-marketing-mis-report", "lead-total-report", "cic-report", "equifax-credit-report", "transunion-report",
)  # fmt: skip
HOSTILE = '=HYPERLINK("http://evil.example","click")'
QUOTED = 'Meera "Mimi" Iyer, Jr.'
UNICODE = "Zoë Ñandú 李雷"
REMARKS = "income unverifiable,\nsecond line = notes"


def _borrower(platform: Any, tenant: Tenant, name: str) -> UUID:
    customer = platform.get(Customers).register(
        tenant.brand_id, name=name, phone=mobile("97"), date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    return UUID(str(customer.id))


def _loan(platform: Any, tenant: Tenant, name: str, *, disburse: bool = True, reject: bool = False) -> UUID:
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    loan_id = UUID(str(loans.create(brand, _borrower(platform, tenant, name), PRODUCT, "100000", 12).id))
    loans.submit(brand, loan_id)
    if reject:
        loans.reject(brand, loan_id, "LOW_SALARY", REMARKS)
        return loan_id
    loans.cx_approve(brand, loan_id, "90000", "salary supports 90k")
    loans.sanction(brand, loan_id, "85000", "FOIR at the limit")
    if disburse:
        now = datetime.now(UTC)
        loans.issue_agreement(brand, loan_id, "ab" * 32, "a.pdf", "es-1", "https://esign/1", now + timedelta(days=2))
        loans.sign(brand, loan_id, "prov-1", now)
        loans.ready_for_disbursal(brand, loan_id, "acct-1")
        loans.initiate_disbursal(brand, loan_id, "IMPS", f"gw-{loan_id}")
        loans.confirm_disbursal(brand, loan_id, f"gw-{loan_id}", D0)
    return loan_id


def _settle(platform: Any) -> None:
    for source in ("loans", "customers", "onboarding", "identity"):
        settle(platform, source)


def _rows(client: Any, tenant: Tenant, slug: str, **params: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/reports/{slug}", params=params, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _csv(client: Any, tenant: Tenant, slug: str, **params: str) -> list[list[str]]:
    answer = client.get(f"/api/v1/reports/{slug}.csv", params=params, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"), newline="")))


def test_the_catalogue_lists_the_29_spec_reports_and_the_performance_ones(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    answer = client.get("/api/v1/reports", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    slugs = [r["slug"] for r in answer.json()["items"]]
    missing = [s for s in SPEC_SLUGS if s not in slugs]
    assert not missing, missing
    for extra in ("agent-performance-report", "dpd-buckets-report", "recovery-efficiency-report",
                  "team-performance-report"):  # fmt: skip
        assert extra in slugs
    entry = next(r for r in answer.json()["items"] if r["slug"] == "reject-report")
    assert entry["category"] == "User & Loan Reports" and entry["date_basis"] == "the rejection date"
    assert "reason" in [c["name"] for c in entry["columns"]]


def test_every_report_runs_as_json_and_csv_on_an_empty_brand(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    for slug, report in CATALOGUE.items():
        page = _rows(client, tenant, slug, **{"from": "2026-01-01", "to": "2026-12-31"})
        assert page["rows"] == [] and page["totals"]["rows"] == 0, slug
        assert _csv(client, tenant, slug, **{"from": "2026-01-01", "to": "2026-12-31"}) == [report.header], slug


def test_an_empty_reports_totals_are_zero_not_null(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    window = {"from": "2026-01-01", "to": "2026-12-31"}
    seen = 0
    for slug, report in CATALOGUE.items():
        totals = _rows(client, tenant, slug, **window)["totals"]
        assert totals["rows"] == 0, slug
        for column in report.columns:
            if column.kind != "number":
                continue
            # a sum over no rows is 0.00; a rate's total is the rate of the sums, none of nothing due (as a row's)
            expected = None if column.total else "0.00"
            assert totals[column.name] == expected, (slug, column.name, totals[column.name])
            seen += 1
    assert seen > 20


def test_a_small_book_recomputed_independently_with_hostile_cells_across_brands(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    set_business_date(platform, tenant, D0)
    set_business_date(platform, other, D0)
    paid = _loan(platform, tenant, QUOTED)
    hostile = _loan(platform, tenant, HOSTILE)
    unicode = _loan(platform, tenant, UNICODE)
    waiting = _loan(platform, tenant, "Sanctioned Only", disburse=False)
    rejected = _loan(platform, tenant, "Rejected Person", reject=True)
    foreign = _loan(platform, other, "Other Brand")
    set_business_date(platform, tenant, date(2026, 2, 28))
    body = {"amount": "9000.00", "mode": "upi", "reference": "UTR-R1", "paid_on": "2026-02-28"}
    repaid = client.post(f"/api/v1/loans/{paid}/repayments", json=body, headers=tenant.auth)
    assert repaid.status_code == 201, repaid.text
    _settle(platform)
    window = {"from": "2026-01-01", "to": "2026-03-31"}

    # disbursed: three loans of this brand, never the other brand's
    disbursed = _rows(client, tenant, "disbursed-loan-report", **window)
    numbers = {r["loan_number"] for r in disbursed["rows"]}
    expected = {client.get(f"/api/v1/loans/{i}", headers=tenant.auth).json()["loan_number"]
                for i in (paid, hostile, unicode)}  # fmt: skip
    assert numbers == expected
    assert disbursed["totals"]["rows"] == 3 and Decimal(disbursed["totals"]["disbursed_amount"]) == Decimal("255000")
    foreign_number = client.get(f"/api/v1/loans/{foreign}", headers=other.auth).json()["loan_number"]
    assert foreign_number not in numbers
    assert [r["loan_number"] for r in _rows(client, other, "disbursed-loan-report", **window)["rows"]] == [
        foreign_number
    ]
    # the date filter is inclusive and excludes what is outside
    assert _rows(client, tenant, "disbursed-loan-report", **{"from": "2026-02-01"})["rows"] == []
    assert len(_rows(client, tenant, "disbursed-loan-report", to=D0.isoformat())["rows"]) == 3

    # outstanding recomputed from the loan's schedule and the repayment's allocation as the API shows them
    loan = client.get(f"/api/v1/loans/{paid}", headers=tenant.auth).json()
    allocation = repaid.json()["allocation"]
    principal = sum(Decimal(i["principal"]) for i in loan["schedule"]) - sum(
        Decimal(a["principal"]) for a in allocation
    )
    interest = sum(Decimal(i["interest"]) for i in loan["schedule"]) - sum(Decimal(a["interest"]) for a in allocation)
    outstanding = {r["loan_number"]: r for r in _rows(client, tenant, "outstanding-data-report", **window)["rows"]}
    row = outstanding[loan["loan_number"]]
    assert Decimal(row["outstanding_principal"]) == principal and Decimal(row["outstanding_interest"]) == interest
    assert Decimal(row["outstanding_total"]) == principal + interest

    # the due report: the first instalment of each of the three loans, one of them partly or fully paid
    due = _rows(client, tenant, "collection-due-report", **{"from": "2026-02-28", "to": "2026-02-28"})
    assert len(due["rows"]) == 3
    first = loan["schedule"][0]
    mine = next(r for r in due["rows"] if r["loan_number"] == loan["loan_number"])
    paid_first = sum((Decimal(a["principal"]) + Decimal(a["interest"]) for a in allocation if a["no"] == 1), Decimal(0))
    assert Decimal(mine["due_amount"]) == Decimal(first["principal"]) + Decimal(first["interest"])
    assert Decimal(mine["paid_amount"]) == paid_first
    assert mine["state"] == ("paid" if paid_first >= Decimal(mine["due_amount"]) else "partly_paid")
    recovery = _rows(client, tenant, "total-recovery-report", **{"from": "2026-02-28", "to": "2026-02-28"})
    assert recovery["rows"][0]["instalments"] == 3 and Decimal(recovery["rows"][0]["recovered"]) == paid_first

    # sanctioned: four (three disbursed and one waiting); not disbursed: the waiting one
    assert _rows(client, tenant, "total-approve-sanction-report")["totals"]["rows"] == 4
    waiting_number = client.get(f"/api/v1/loans/{waiting}", headers=tenant.auth).json()["loan_number"]
    assert [r["loan_number"] for r in _rows(client, tenant, "non-disbursed-loan-report")["rows"]] == [waiting_number]
    split = _rows(client, tenant, "disburse-non-disburse-report")["rows"]
    assert sum(r["disbursed"] for r in split) == 3 and sum(r["not_disbursed"] for r in split) == 1

    # the rejection, with its remarks' comma surviving the CSV (the domain folds the newline into a space)
    rejected_number = client.get(f"/api/v1/loans/{rejected}", headers=tenant.auth).json()["loan_number"]
    table = _csv(client, tenant, "reject-report")  # rejected today (the clock), not in the book's window
    header, rows = table[0], table[1:]
    assert header == CATALOGUE["reject-report"].header and len(rows) == 1
    got = dict(zip(header, rows[0], strict=True))
    assert (
        got["loan_number"] == rejected_number
        and got["remarks"] == " ".join(REMARKS.split())
        and got["borrower"] == "Rejected Person"
    )

    # the CSV of disbursed loans: quotes and commas round-trip, unicode intact, the formula neutralised
    table = _csv(client, tenant, "disbursed-loan-report", **window)
    names = {dict(zip(table[0], r, strict=True))["borrower"] for r in table[1:]}
    assert names == {QUOTED, UNICODE, "'" + HOSTILE}
    amounts = [dict(zip(table[0], r, strict=True))["disbursed_amount"] for r in table[1:]]
    assert amounts == ["85000.00"] * 3  # numbers are not touched

    # paging: one row a page walks all three, in order, no repeats
    seen, cursor = [], None
    for _ in range(5):
        params = window | {"limit": "1"} | ({"cursor": cursor} if cursor else {})
        page = _rows(client, tenant, "disbursed-loan-report", **params)
        seen += [r["loan_number"] for r in page["rows"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(numbers) and len(seen) == 3

    # the master report: one row per borrower, with the loans column
    master = _rows(client, tenant, "master-report")
    assert master["totals"]["rows"] == 5
    by_name = {r["name"]: r for r in master["rows"]}
    assert by_name[QUOTED]["loans"].startswith(loan["loan_number"] + ":") and by_name[QUOTED]["loans_count"] == 1
    assert _rows(client, other, "master-report")["totals"]["rows"] == 1


def test_bad_filters_forged_cursors_unknown_reports_and_roles(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    for slug, params in (
        ("master-report", {"status": "active"}),  # not a filter of this report
        ("disbursed-loan-report", {"status": "nonsense"}),
        ("disbursed-loan-report", {"from": "2026-02-01", "to": "2026-01-01"}),
        ("disbursed-loan-report", {"from": "yesterday"}),
        ("disbursed-loan-report", {"cursor": "bm90LWEtY3Vyc29y"}),
        ("disbursed-loan-report", {"bogus": "1"}),
    ):
        for suffix in ("", ".csv"):
            if suffix and "cursor" in params:
                continue
            answer = client.get(f"/api/v1/reports/{slug}{suffix}", params=params, headers=tenant.auth)
            assert answer.status_code == 422, (slug, params, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/reports/no-such-report", headers=tenant.auth).status_code == 404
    assert client.get("/api/v1/reports/no-such-report.csv", headers=tenant.auth).status_code == 404
    denied = make_tenant(platform, role="credit_executive")
    for path in ("/api/v1/reports", "/api/v1/reports/master-report", "/api/v1/reports/master-report.csv"):
        assert client.get(path, headers=denied.auth).status_code == 403
    body = {"to": "ops@lender.in", "from": "2026-01-01", "to_date": "2026-01-31"}
    assert client.post("/api/v1/reports/master-report/email", json=body, headers=denied.auth).status_code == 403
    for bad in (body | {"to": "not-an-address"}, body | {"to_date": "2025-12-31"}, {"to": "ops@lender.in"}):
        answer = client.post("/api/v1/reports/master-report/email", json=bad, headers=tenant.auth)
        assert answer.status_code == 422, answer.text


def test_the_master_report_is_emailed_by_its_job_as_a_csv_attachment(
    client: Any, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    _borrower(platform, tenant, HOSTILE)
    _borrower(platform, tenant, QUOTED)
    _settle(platform)
    today = platform.get(Identity).business_date(tenant.brand_id)
    recipient = f"reports-{uuid.uuid4().hex[:6]}@lender.in"
    body = {"to": recipient, "from": "2020-01-01", "to_date": (today + timedelta(days=3650)).isoformat()}
    answer = client.post("/api/v1/reports/master-report/email", json=body, headers=tenant.auth)
    assert answer.status_code == 202, answer.text
    scheduler_for(platform).execute(answer.json()["run_id"])
    mails = [m for m in mail_sink.messages if m["To"] == recipient]
    assert len(mails) == 1 and mails[0]["Subject"].startswith("Master report")
    attachment = next(p for p in mails[0].iter_attachments())
    assert attachment.get_filename().startswith("master-report-2020-01-01")
    rows = list(csv.reader(io.StringIO(attachment.get_content().lstrip("\ufeff"), newline="")))
    assert rows[0] == CATALOGUE["master-report"].header
    assert sorted(r[1] for r in rows[1:]) == sorted([QUOTED, "'" + HOSTILE])


def test_collection_remarks_keep_newlines_quotes_and_neutralise_formulas_in_the_csv(client: Any, platform: Any) -> None:
    from domain.collections.application import Collections
    from domain.collections.case import Outcome

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = _loan(platform, tenant, UNICODE)
    _settle(platform)
    collections = platform.get(Collections)
    texts = ['Called twice,\nsaid "next week" – ₹5,000', "-5000 short\r\nasked for waiver", "@boss please call"]
    for text in texts:
        collections.log_contact(tenant.brand_id, loan_id, Outcome.CONNECTED, text)
    settle(platform, "collections")
    table = _csv(client, tenant, "collection-remarks-report")
    assert table[0] == CATALOGUE["collection-remarks-report"].header
    got = sorted(dict(zip(table[0], r, strict=True))["remarks"] for r in table[1:])
    answer = _rows(client, tenant, "collection-remarks-report")
    kept = sorted(r["remarks"] for r in answer["rows"])  # the JSON is the text as stored, never prefixed
    assert len(kept) == 3 and any("\n" in k for k in kept)
    expected = sorted(("'" + k) if k[0] in "=+-@\t\r" else k for k in kept)
    assert got == expected
    assert any(g.startswith("'-5000") for g in got) and any(g.startswith("'@boss") for g in got)
    assert all(r["borrower"] == UNICODE for r in answer["rows"])


def test_the_report_email_job_asked_for_without_its_recipient_and_dates_is_422_and_queues_nothing(
    client: Any, platform: Any
) -> None:
    # The jobs page's "Run now" (and POST /api/v1/jobs/{name}/runs) sends only an as-of date: the run used to be
    # queued and fail every attempt on the missing dates. It is refused when asked for.
    tenant = make_tenant(platform)
    today = platform.get(Identity).business_date(tenant.brand_id)
    answer = client.post("/api/v1/jobs/report-email/runs", json={"as_of": today.isoformat()}, headers=tenant.auth)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "variables" and "from, to, to_date" in error["message"], error
    runs = client.get("/api/v1/jobs/report-email/runs", headers=tenant.auth)
    assert runs.status_code == 200 and runs.json()["items"] == [], runs.text


def test_every_money_cell_of_every_report_is_written_with_its_paise_in_json_and_csv(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    completed, untouched = _loan(platform, tenant, "Paid Off"), _loan(platform, tenant, "Never Paid")
    _loan(platform, tenant, "Sanctioned Only", disburse=False)
    payoff = client.get(f"/api/v1/loans/{completed}/payoff", headers=tenant.auth).json()["total"]
    body = {"amount": payoff, "mode": "neft", "reference": "NEFT-ALL"}
    assert client.post(f"/api/v1/loans/{completed}/repayments", json=body, headers=tenant.auth).status_code == 201
    set_business_date(platform, tenant, date(2026, 3, 3))  # the untouched loan's first instalment is overdue
    _settle(platform)
    window = {"from": "2026-01-01", "to": "2026-12-31"}
    money = re.compile(r"-?\d+\.\d{2}")  # LENDING.md: amounts are strings of rupees with 2 places ("0.00", not "0")
    seen = 0
    for slug, report in CATALOGUE.items():
        numbers = [c.name for c in report.columns if c.kind == "number" and c.name not in ("latitude", "longitude")]
        page = _rows(client, tenant, slug, **window)
        for row in page["rows"]:
            for name in numbers:
                assert row[name] is None or money.fullmatch(row[name]), (slug, name, row[name])
                seen += 1
        for name in numbers:
            total = page["totals"].get(name)
            assert total is None or money.fullmatch(str(total)), (slug, "total", name, total)
        table = _csv(client, tenant, slug, **window)
        for cells in table[1:]:
            got = dict(zip(table[0], cells, strict=True))
            for name in numbers:
                assert got[name] == "" or money.fullmatch(got[name]), (slug, "csv", name, got[name])
    assert seen > 20
    # the cells that were "0": a completed loan's outstanding and what is left of its instalments, a loan never
    # repaid's repaid
    rows = {r["borrower"]: r for r in _rows(client, tenant, "collection-loan-report", **window)["rows"]}
    assert rows["Paid Off"]["outstanding_total"] == "0.00" and rows["Never Paid"]["repaid"] == "0.00"
    assert untouched


def test_the_master_report_lists_each_borrowers_references(client: Any, platform: Any) -> None:
    """Spec, Report Types: master-report holds "references" - the personal step's references and other alternate
    contacts, kept as the record's alternate phones (label and phone, in the order added); none: empty."""
    tenant = make_tenant(platform)
    customers = platform.get(Customers)
    with_refs = customers.register(tenant.brand_id, name="Anil Rao", phone="98450 11111", pan="ABCPR1111A")
    customers.add_alternate_phone(tenant.brand_id, with_refs.id, "98450 22222", "father: Mohan Rao")
    customers.add_alternate_phone(tenant.brand_id, with_refs.id, "98450 33333")
    customers.register(tenant.brand_id, name="Bina Shah", phone="98450 44444", pan="ABCPS4444B")
    _settle(platform)

    master = _rows(client, tenant, "master-report")
    by_name = {r["name"]: r for r in master["rows"]}
    assert by_name["Anil Rao"]["references"] == "father: Mohan Rao +919845022222 | +919845033333"
    assert by_name["Bina Shah"]["references"] is None
    assert master["columns"][master["columns"].index("addresses") + 1] == "references"
    header = _csv(client, tenant, "master-report")[0]
    assert header[header.index("addresses") + 1] == "references"


def test_the_portal_refuses_a_report_it_lacks_and_bad_dates_in_words_keeping_the_email_form(
    app: Any, staff: tuple[Tenant, str]
) -> None:
    """An unknown report on the page or its CSV export is a 404 saying so (before: the master report's rows, every
    borrower's PAN and phone, under the wrong name); a malformed date on an export is said in words (before: pydantic's
    report of the model, with its documentation link); a refused "Email the report" is said at its form with what was
    typed kept (before: Python's "Invalid isoformat string" on an error page, the form gone)."""
    import html

    from tests.e2e.test_refused_forms_keep_input import _form, _portal

    _, email = staff
    browser, csrf = _portal(app, email)
    try:
        for address in ("/reports?report=no-such-report&generate=1", "/reports/export.csv?report=no-such-report"):
            answer = browser.get(address)
            assert answer.status_code == 404 and "text/html" in answer.headers["content-type"], address
            assert "no-such-report" in html.unescape(answer.text) and "customer_number" not in answer.text
        bad_date = browser.get("/reports/export.csv?report=disbursed-loan-report&from=2026-13-01")
        assert bad_date.status_code == 422
        said = html.unescape(bad_date.text)
        assert "from: '2026-13-01' is not a calendar date" in said
        assert "pydantic" not in said and "validation error for" not in said

        fields = {"csrf_token": csrf, "report": "dpd-buckets-report", "to": "risk@lender.in", "from": "",
                  "to_date": "2026-03-31"}  # fmt: skip
        refused = browser.post("/reports/email", data=fields)
        assert refused.status_code == 422
        said = html.unescape(refused.text)
        assert "from: give a date as YYYY-MM-DD" in said and "isoformat" not in said
        form = _form(refused.text, "email-form")
        assert 'value="risk@lender.in"' in form and 'value="2026-03-31"' in form
        assert 'name="report" value="dpd-buckets-report"' in form
    finally:
        browser.__exit__(None, None, None)


def test_the_email_forms_dates_default_to_the_brands_business_date(
    app: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    """The "Email the report" form's dates are the brand's business date, the day its reports are as of (before: the
    server's calendar day in UTC, another day for a brand held at a past date and, from 18:30 UTC, for Asia/Kolkata)."""
    from tests.e2e.test_refused_forms_keep_input import _form, _portal

    tenant, email = staff
    set_business_date(platform, tenant, D0)
    browser, csrf = _portal(app, email)
    try:
        for address in ("/reports", "/reports?report=dpd-buckets-report&generate=1"):
            form = _form(browser.get(address).text, "email-form")
            for field in ("email-from", "email-to-date"):
                assert re.search(rf'id="{field}" value="{D0.isoformat()}"', form), (address, field, form)
        fields = {"csrf_token": csrf, "report": "dpd-buckets-report", "to": "not-an-address", "from": "", "to_date": ""}
        refused = browser.post("/reports/email", data=fields)  # refused: the form again, its dates empty as typed
        assert refused.status_code == 422
        assert 'id="email-from" value=""' in _form(refused.text, "email-form")
    finally:
        browser.__exit__(None, None, None)


def test_master_collection_lists_a_loan_from_the_day_after_its_instalment_fell_due(client: Any, platform: Any) -> None:
    """LENDING.md: "an instalment not fully paid by its due date is overdue from the next day" (DPD 0 on the due date,
    the loan not `overdue`). The report listed a loan on its instalment's due date, and counted the instalment due
    that day in a listed loan's overdue amount and instalments."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = _loan(platform, tenant, "Due Today")
    _settle(platform)
    loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    first, second = (date.fromisoformat(i["due_date"]) for i in loan["schedule"][:2])
    owed = [Decimal(i["principal"]) + Decimal(i["interest"]) for i in loan["schedule"][:2]]
    window = {"from": D0.isoformat(), "to": (D0 + timedelta(days=400)).isoformat()}

    def listed(day: date) -> dict[str, Any] | None:
        set_business_date(platform, tenant, day)
        rows = _rows(client, tenant, "master-collection-report", **window)["rows"]
        assert [r["loan_number"] for r in rows] in ([], [loan["loan_number"]]), rows
        return rows[0] if rows else None

    assert listed(first) is None  # due today: not yet overdue
    row = listed(first + timedelta(days=1))
    assert row is not None and (row["overdue_since"], row["overdue_instalments"]) == (first.isoformat(), 1), row
    assert Decimal(row["overdue_amount"]) == owed[0], row
    row = listed(second)  # the second instalment is due today: only the first is overdue
    assert row is not None and row["overdue_instalments"] == 1 and Decimal(row["overdue_amount"]) == owed[0], row
    row = listed(second + timedelta(days=1))
    assert row is not None and row["overdue_instalments"] == 2 and Decimal(row["overdue_amount"]) == sum(owed), row
