"""Loans meeting the rest of the desk (issue #15 item 6) on PostgreSQL: Customer 360 lists the borrower's loans
with status, DPD, class, next due and outstanding (from the loan's events on the business date); another brand's
borrower is a 404."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from starlette.testclient import TestClient

from api.services.borrower_loans import borrower_loans
from domain.loans.application import Loans
from projections.borrower_loans import BorrowerLoanQueries
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the penal catalogue fixture of the servicing tests applies here too


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

    other = make_tenant(platform)
    assert borrower_loans(platform.get(BorrowerLoanQueries), platform.get(Loans), other.brand_id, customer_id) == []
