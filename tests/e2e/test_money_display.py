"""Every page shows money the one way Indian staff and borrowers read it: `₹12,34,567.00` (lakh and crore grouping,
paise, the rupee sign), through the shared `inr` filter (domain/shared/rupees.py). Found in a browser walk: the loan
page said `₹1234567.00`, its servicing card `1234567.00` with no sign, the pay page `₹1,234,567.00` (western
grouping), the credit queue and the collection case `₹1234567.00`, the application status `₹1,234,567`.

The loan page, the sanction queue and the collection case and worklist are opened through the app; the pay page and
the application status page (which need a signed pay link and a borrower session) are rendered from the same shared
template environment with a 7-digit amount."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from api.web import templates
from domain.loans.application import Loans
from domain.loans.offer import ProductVersion
from domain.shared.rupees import rupees
from tests.e2e.test_api_loans import PRODUCT, Catalogue, _borrower
from tests.e2e.test_refused_forms_keep_input import _portal

BIG = "1234567"
INDIAN = "₹12,34,567.00"
OLD = ("1234567.00", "1,234,567")  # ungrouped, and western grouping


class BigCatalogue(Catalogue):
    """The personal loan of tests/e2e/test_api_loans.py, lending up to fifty lakh."""

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        return replace(super().current(brand_id, product_id), max_amount=Decimal("5000000.00"))


@pytest.fixture(autouse=True)
def catalogue(platform: Any) -> Iterator[Catalogue]:
    loans = platform.get(Loans)
    before, loans._catalogue = loans._catalogue, BigCatalogue()
    yield loans._catalogue
    loans._catalogue = before


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _shows_indian(html: str, where: str) -> None:
    # A recorded event's reason (the loan's history) keeps the amount as the event recorded it.
    shown = _text(html).replace(f"approved {BIG}.00 by the CX", "")
    assert INDIAN in shown, (where, shown[:3000])
    for old in OLD:
        assert old not in shown, (where, old)


def test_the_rupee_formatter_groups_in_lakhs_and_crores() -> None:
    assert rupees(Decimal("1234567.5")) == "₹12,34,567.50"
    assert rupees(Decimal("123456789")) == "₹12,34,56,789.00"
    assert rupees(Decimal("-500")) == "-₹500.00" and rupees("999.999") == "₹1,000.00"
    assert rupees(None) == "—" and rupees("n/a") == "—"
    assert rupees(Decimal("55000.00"), paise=False) == "₹55,000" and rupees("55000.50", paise=False) == "₹55,000.50"


def test_staff_pages_show_a_7_digit_amount_in_indian_grouping(
    app: Any, client: Any, platform: Any, staff: tuple[Any, str]
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant, "Kavya Rao", "9876512377")
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": BIG, "tenure": 12}
    made = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    loan_id = made.json()["id"]
    url = f"/api/v1/loans/{loan_id}"
    assert client.post(f"{url}/submit", headers=tenant.auth).json()["status"] == "pending"
    approved = client.post(f"{url}/cx-approve", json={"approved_amount": BIG, "remarks": "salary supports it"},
                           headers=tenant.auth)  # fmt: skip
    assert approved.status_code == 200, approved.text
    with platform.db.pool.connection() as conn:  # a collection case as the close of business sweep writes it
        conn.execute(
            "INSERT INTO read.collection_cases (loan_id, brand_id, stage, open, dpd, amount, updated_at, loan_number) "
            "VALUES (%s, %s, 'collections', true, 12, %s, %s, %s)",
            (loan_id, tenant.brand_id, Decimal(BIG), datetime.now(UTC), made.json()["loan_number"]),
        )
    browser, _csrf = _portal(app, email)
    try:
        for path in (f"/loans/{loan_id}", "/credit/sanction", f"/collections/loans/{loan_id}", "/collections"):
            page = browser.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            _shows_indian(page.text, path)
        case = _text(browser.get(f"/collections/loans/{loan_id}").text)
        assert "DPD at last close 12" in case and f"Unpaid at last close {INDIAN}" in case
        assert "DPD 12 at last close" in _text(browser.get("/collections").text)
    finally:
        browser.__exit__(None, None, None)


def test_the_pay_page_and_the_application_status_show_indian_grouping() -> None:
    request = SimpleNamespace(state=SimpleNamespace(csrf="x"), url=SimpleNamespace(path="/pay/t"), query_params={})
    payment = SimpleNamespace(paid_on=date(2026, 3, 1), amount=Decimal(BIG), reversed_on=None, reference="UTR-1",
                              payment_id="p1")  # fmt: skip
    page = SimpleNamespace(loan_number="DEMO-L-000001", due=Decimal(BIG), payoff=Decimal("2345678.90"), dpd=3,
                           next_due=None, payments=[payment], status="overdue", brand="Demo")  # fmt: skip
    html = templates.get_template("pay.html").render(request=request, brand="Demo", page=page, token="t")
    _shows_indian(html, "pay.html")
    assert "₹23,45,678.90" in _text(html)

    application = SimpleNamespace(loan_number="DEMO-L-000002", amount=Decimal(BIG), tenure=12)
    funnel = SimpleNamespace(status=SimpleNamespace(value="in_progress"), may_apply_from=None, next_step=None)
    html = templates.get_template("apply_status.html").render(
        request=request,
        application=application,
        funnel=funnel,
        done=False,
        can_submit=True,
        form_steps=(),
        base="/apply/demo",
        csrf="x",
        reloan_offers=(),
        windows={"anytime": "Any time"},
    )
    assert "₹12,34,567 for 12" in _text(html) and "1,234,567" not in html
