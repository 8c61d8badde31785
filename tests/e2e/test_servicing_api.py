"""Loan servicing through the API on PostgreSQL (issue #15): a disbursed loan's schedule, repayments with their
allocation (duplicate 409, above payoff 422, before disbursal 409, nothing recorded), the payoff as of a date,
reversal, the ledger's running outstanding, closure, brand isolation.

Loans reach `active` through the Loans application (the decision and payout steps have their own tests), with
the product catalogue faked as in test_api_loans (penal charges at 0.1 % a day)."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pypdf import PdfReader

from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.offer import CouponTerms, ProductVersion
from domain.loans.terms import PenalTerms
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_api_loans import PRODUCT, _product
from tests.support import document_amounts_as_digits, mobile, settle

D0 = date(2026, 1, 31)


@dataclass
class PenalCatalogue:
    """The personal loan of test_api_loans with penal charges of 0.1 % a day (or `penal`)."""

    penal: PenalTerms = field(default_factory=lambda: PenalTerms(daily_percent=Decimal("0.1")))

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        base = _product(brand_id, PRODUCT, ())
        return ProductVersion(**{**base.__dict__, "penal": self.penal})

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        return self.current(brand_id, product_id)

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        return None


@pytest.fixture(autouse=True)
def catalogue(platform: Any) -> Iterator[None]:
    loans = platform.get(Loans)
    before = loans._catalogue
    loans._catalogue = PenalCatalogue()
    yield
    loans._catalogue = before


def set_business_date(platform: Any, tenant: Tenant, day: date) -> None:
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"business_date": day})
    settle(platform, "identity", result.position)


def approved_loan(platform: Any, tenant: Tenant) -> UUID:
    """A loan sanctioned at 85,000 (12 months, 24 %), signed and in the Ops queue."""
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    customer = platform.get(Customers).register(
        brand, name="Meera Iyer", phone=mobile("98"), date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    loan_id = loans.create(brand, customer.id, PRODUCT, "100000", 12).id
    loans.submit(brand, loan_id)
    loans.cx_approve(brand, loan_id, "90000", "salary supports 90k")
    loans.sanction(brand, loan_id, "85000", "FOIR at the limit")
    now = datetime.now(UTC)
    loans.issue_agreement(brand, loan_id, "ab" * 32, "a.pdf", "es-1", "https://esign/1", now + timedelta(days=2))
    loans.sign(brand, loan_id, "prov-1", now)
    loans.ready_for_disbursal(brand, loan_id, "acct-1")
    return loan_id


def disbursed_loan(platform: Any, tenant: Tenant, on: date = D0) -> UUID:
    loans: Loans = platform.get(Loans)
    loan_id = approved_loan(platform, tenant)
    loans.initiate_disbursal(tenant.brand_id, loan_id, "IMPS", f"gw-{loan_id}")
    result = loans.confirm_disbursal(tenant.brand_id, loan_id, f"gw-{loan_id}", on)
    settle(platform, Loans.name, result.position)
    return loan_id


def test_repayments_payoff_reversal_ledger_and_closure(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    loan = client.get(url, headers=tenant.auth).json()
    assert loan["status"] == "active" and loan["dpd"] == 0 and loan["asset_class"] == "standard"
    assert [i["due_date"] for i in loan["schedule"][:3]] == ["2026-02-28", "2026-03-31", "2026-04-30"]
    assert loan["schedule"][0] | {} == loan["schedule"][0] and loan["schedule"][0]["status"] == "due"
    assert loan["outstanding"] == {"principal": "85000.00", "interest": "0.00", "penal": "0.00", "fees": "0.00",
                                   "total": "85000.00"}  # fmt: skip
    assert loan["next_due"] == {"no": 1, "due_date": "2026-02-28", "amount": "8037.57"}

    # a partial payment on the due date: interest first
    set_business_date(platform, tenant, date(2026, 2, 28))
    body = {"amount": "1000.00", "mode": "upi", "reference": "UTR-1", "paid_on": "2026-02-28"}
    paid = client.post(f"{url}/repayments", json=body, headers=tenant.auth)
    assert paid.status_code == 201, paid.text
    assert paid.json()["allocation"] == [{"no": 1, "penal": "0.00", "interest": "1000.00", "principal": "0.00"}]
    assert paid.json()["status"] == "partially_paid"
    events_before = len(client.get(url, headers=tenant.auth).json()["history"])
    for refused, status in (
        (body, 409),  # the same reference again
        (body | {"reference": "UTR-2", "amount": "999999.00"}, 422),  # above the payoff
        (body | {"reference": "UTR-2", "paid_on": "2026-03-01"}, 422),  # after the business date
        (body | {"reference": "UTR-2", "mode": "barter"}, 422),
    ):
        answer = client.post(f"{url}/repayments", json=refused, headers=tenant.auth)
        assert answer.status_code == status, answer.text
    assert len(client.get(url, headers=tenant.auth).json()["history"]) == events_before

    # three days later, nothing more paid: overdue, two days of penal (1 and 2 Mar; 3 Mar still open)
    set_business_date(platform, tenant, date(2026, 3, 3))
    loan = client.get(url, headers=tenant.auth).json()
    assert loan["dpd"] == 3 and loan["asset_class"] == "SMA-0"
    assert loan["schedule"][0]["status"] == "overdue" and loan["schedule"][0]["paid"] == "1000.00"
    quote = client.get(f"{url}/payoff", params={"as_of": "2026-03-03"}, headers=tenant.auth).json()
    # 7037.57 unpaid * 0.1 % = 7.04 a day, two days; principal 85000; March interest accrued 3 of 31 days
    # on the opening 78662.43: round(78662.43 * 0.02 * 3 / 31) = 152.25; overdue interest 700.00
    assert quote["overdue_penal"] == "14.08" and quote["overdue_interest"] == "700.00"
    assert quote["accrued_interest"] == "152.25"
    assert Decimal(quote["total"]) == Decimal("14.08") + Decimal("700.00") + Decimal("85000.00") + Decimal("152.25")
    # a date centuries ahead is no quote anyone could pay (and was seconds of CPU): 422 naming the last date
    far = client.get(f"{url}/payoff", params={"as_of": "2200-12-31"}, headers=tenant.auth)
    assert far.status_code == 422 and far.headers["content-type"].startswith("application/problem+json")
    assert "as_of" in far.text and "at the latest" in far.text

    # a cheque paying the rest of the instalment, then reversed
    cheque = client.post(
        f"{url}/repayments",
        json={"amount": "7051.65", "mode": "cheque", "reference": "CHQ-7", "paid_on": "2026-03-03"},
        headers=tenant.auth,
    )
    assert cheque.status_code == 201, cheque.text
    assert cheque.json()["status"] == "active"
    reversed_ = client.post(
        f"{url}/repayments/{cheque.json()['id']}/reverse", json={"reason": "cheque bounced"}, headers=tenant.auth
    )
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["reversed_on"] == "2026-03-03" and reversed_.json()["status"] == "overdue"
    again = client.post(f"{url}/repayments/{cheque.json()['id']}/reverse", json={"reason": "x again"},
                        headers=tenant.auth)  # fmt: skip
    assert again.status_code == 409

    ledger = client.get(f"{url}/ledger", headers=tenant.auth).json()["items"]
    kinds = [p["kind"] for p in ledger]
    assert kinds[0] == "disbursal" and "fees_deducted" in kinds and "penal_charge" in kinds and "reversal" in kinds
    last = ledger[-1]["running"]
    assert last["principal"] == "85000.00" and last["penal"] == "14.08" and last["fees"] == "0.00"
    assert last["interest"] == "700.00"  # February's 1700.00 posted on its due date, 1000.00 paid

    # the payoff closes the loan
    quote = client.get(f"{url}/payoff", headers=tenant.auth).json()
    closing = client.post(
        f"{url}/repayments",
        json={"amount": quote["total"], "mode": "neft", "reference": "UTR-END"},
        headers=tenant.auth,
    )
    assert closing.status_code == 201, closing.text
    assert closing.json()["closes_loan"] and closing.json()["status"] == "completed"
    loan = client.get(url, headers=tenant.auth).json()
    assert loan["status"] == "completed" and loan["outstanding"]["total"] == "0.00"
    assert client.get(f"{url}/ledger", headers=tenant.auth).json()["items"][-1]["running"]["total"] == "0.00"
    over = client.post(f"{url}/repayments", json={"amount": "1.00", "mode": "cash", "reference": "R-9"},
                       headers=tenant.auth)  # fmt: skip
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "amount"
    assert "more than the loan owes: it was completed on" in over.json()["errors"][0]["message"]

    # the no-due certificate: generated once at closure, its hash recorded, the same bytes every time
    first = client.get(f"{url}/no-due-certificate", headers=tenant.auth)
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/pdf")
    assert first.headers["x-content-sha256"] == hashlib.sha256(first.content).hexdigest()
    assert client.get(f"{url}/no-due-certificate", headers=tenant.auth).content == first.content
    text = document_amounts_as_digits(
        "".join(page.extract_text() for page in PdfReader(io.BytesIO(first.content)).pages)
    )
    repaid = Decimal("1000.00") + Decimal(quote["total"])
    for expected in (loan["loan_number"], "Meera Iyer", "85000.00", str(repaid), first.headers["x-verification-code"]):
        assert expected in text, expected
    history = client.get(url, headers=tenant.auth).json()["history"]
    assert sum(1 for e in history if e["kind"] == "repayment_recorded") == 3


def test_before_disbursal_409_and_brand_isolation(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    loan_id = approved_loan(platform, tenant)
    body = {"amount": "10.00", "mode": "cash", "reference": "R-1"}
    assert client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth).status_code == 409
    assert client.get(f"/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).status_code == 409
    assert client.get(f"/api/v1/loans/{loan_id}/no-due-certificate", headers=tenant.auth).status_code == 409
    for path in ("payoff", "ledger", "repayments", "no-due-certificate"):
        assert client.get(f"/api/v1/loans/{loan_id}/{path}", headers=other.auth).status_code == 404
    assert client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=other.auth).status_code == 404


def _certificate_lines(pdf: bytes) -> dict[str, str]:
    """The certificate's labelled figures: label -> the amount after it."""
    text = document_amounts_as_digits("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))
    lines = (line.rsplit(" ", 1) for line in text.splitlines() if " " in line)
    return {label.strip(): value for label, value in lines if value.replace(".", "", 1).isdigit()}


def _close(client: Any, tenant: Tenant, loan_id: UUID) -> None:
    url = f"/api/v1/loans/{loan_id}"
    quote = client.get(f"{url}/payoff", headers=tenant.auth).json()
    body = {"amount": quote["total"], "mode": "neft", "reference": f"UTR-{uuid.uuid4().hex[:8]}"}
    closed = client.post(f"{url}/repayments", json=body, headers=tenant.auth)
    assert closed.status_code == 201 and closed.json()["closes_loan"], closed.text


def test_the_no_due_certificate_shows_the_payout_breakdown_as_the_ledger_does(client: Any, platform: Any) -> None:
    """LENDING.md: the payout file, the ledger and the no-due certificate show the same breakdown of net disbursed.
    The certificate showed the sanctioned and net amounts only."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, D0 + timedelta(days=10))
    _close(client, tenant, loan_id)
    pdf = client.get(f"/api/v1/loans/{loan_id}/no-due-certificate", headers=tenant.auth)
    assert pdf.status_code == 200, pdf.text
    shown = _certificate_lines(pdf.content)
    # 85,000 sanctioned: 2 % processing fee = 1700.00, 18 % GST on top = 306.00; convenience fee 500.00 with its
    # GST inside: round(500 * 18 / 118) = 76.27; deducted 1700.00 + 306.00 + 500.00 = 2506.00; net 82,494.00
    ledger = client.get(f"/api/v1/loans/{loan_id}/ledger", headers=tenant.auth).json()["items"]
    deducted = next(Decimal(p["amount"]) for p in ledger if p["kind"] == "fees_deducted")
    fee = Decimal(85000) * 2 / 100
    expected = {
        "Amount sanctioned (principal)": "85000.00",
        "Processing fee before discount": f"{fee:.2f}",
        "Coupon discount": "0.00",
        "Processing fee charged": f"{fee:.2f}",
        "GST on the processing fee (on top)": f"{fee * 18 / 100:.2f}",
        "Convenience fee": "500.00",
        "GST on the convenience fee (inside the fee)": f"{(Decimal(500) * 18 / 118).quantize(Decimal('0.01')):.2f}",
        "Deducted from the payout (fees and GST)": f"{deducted:.2f}",
        "Amount disbursed (net of fees and GST)": f"{Decimal(85000) - deducted:.2f}",
    }
    assert {k: shown.get(k) for k in expected} == expected, shown
    assert deducted == fee + fee * 18 / 100 + 500


def test_a_certificate_issued_before_the_breakdown_still_serves_its_recorded_bytes(client: Any, platform: Any) -> None:
    """A certificate issued in layout 1 (before the breakdown) keeps its bytes: its recorded SHA-256 still holds."""
    from adapters.no_due_pdf import render_no_due
    from api.services.no_due import NoDueCertificates
    from domain.customers.application import Customers as CustomersApp

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    loans: Loans = platform.get(Loans)
    quote = client.get(f"/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()
    result, _ = loans.record_repayment(tenant.brand_id, loan_id, Decimal(quote["total"]), "neft", "UTR-OLD", D0)
    settle(platform, Loans.name, result.position)
    certificates = NoDueCertificates(loans, platform.get(CustomersApp), platform.get(Identity))
    loan = loans.get(tenant.brand_id, loan_id)
    if loan.no_due is None:  # the closing payment of the application issues none: issue it as layout 1 did
        old = render_no_due(certificates._content(loan), layout=1)
        loan.issue_no_due_certificate(hashlib.sha256(old).hexdigest())
        settle(platform, Loans.name, loans.commit(loan).position)
    else:
        old = render_no_due(certificates._content(loan), layout=1)
        assert loan.no_due.sha256 == hashlib.sha256(old).hexdigest(), "the loan was issued a certificate already"
    served = client.get(f"/api/v1/loans/{loan_id}/no-due-certificate", headers=tenant.auth)
    assert served.status_code == 200, served.text
    assert served.content == old and served.headers["x-content-sha256"] == hashlib.sha256(old).hexdigest()
    assert "Processing fee charged" not in _certificate_lines(served.content)


def test_the_read_model_shows_dpd_and_class_of_the_business_date_a_payment_leaves(client: Any, platform: Any) -> None:
    """LENDING.md: DPD is the business date - the oldest unpaid due date. A loan overdue at the last close of
    business pays everything overdue the next day: the lists and reports (read.loans) showed the status `active`
    beside the close of business's DPD 3 and SMA-0 until the next COB; they show DPD 0 and standard, as the loan
    does. A part payment leaving it overdue shows the DPD of the business date too."""
    from workers.runtime import scheduler_for

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    set_business_date(platform, tenant, date(2026, 3, 3))
    run = client.post("/api/v1/jobs/loan-cob/runs", json={"as_of": "2026-03-03"}, headers=tenant.auth)
    assert run.status_code == 202, run.text
    scheduler_for(platform).execute(run.json()["run_id"])  # closes 3 Mar: the business date is 4 Mar

    def report_row() -> dict[str, Any]:
        day = D0.isoformat()
        rows = client.get("/api/v1/reports/outstanding-data-report", params={"from": day, "to": day},
                          headers=tenant.auth).json()["rows"]  # fmt: skip
        return dict(next(r for r in rows if r["loan_number"] == loan["loan_number"]))

    loan = client.get(url, headers=tenant.auth).json()
    assert (loan["status"], loan["dpd"], loan["asset_class"]) == ("overdue", 4, "SMA-0"), loan["dpd"]
    overdue = next(i for i in loan["schedule"] if i["status"] == "overdue")
    part = Decimal(overdue["unpaid"]) - Decimal("0.01")
    body = {"amount": str(part), "mode": "upi", "reference": "UTR-PART", "paid_on": "2026-03-04"}
    assert client.post(f"{url}/repayments", json=body, headers=tenant.auth).status_code == 201
    loan = client.get(url, headers=tenant.auth).json()
    row = report_row()
    assert (row["status"], row["dpd"], row["asset_class"]) == (loan["status"], loan["dpd"], loan["asset_class"]) == (
        "overdue", 4, "SMA-0"), row  # fmt: skip
    body = {"amount": "0.01", "mode": "upi", "reference": "UTR-REST", "paid_on": "2026-03-04"}
    assert client.post(f"{url}/repayments", json=body, headers=tenant.auth).status_code == 201
    loan = client.get(url, headers=tenant.auth).json()
    row = report_row()
    assert (row["status"], row["dpd"], row["asset_class"]) == (loan["status"], loan["dpd"], loan["asset_class"]) == (
        "active", 0, "standard"), row  # fmt: skip
