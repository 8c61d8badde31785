"""Demo loan applications for the `demo` brand: a few borrowers apply for the demo products (some started, most
submitted through the BRE, one with the WELCOME50 coupon), so the loan queue and loan pages have something to show.
Credit facts are not known until verification is wired, so applications on products with bureau rules are rejected
by the BRE (a CX may override or bypass); the consumer EMI product (no rules of its own) passes."""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.states import LoanStatus
from domain.shared.errors import DomainError
from workers.demo_ids import demo_id
from workers.demo_products import DEMO_COUPON, demo_product_id

if TYPE_CHECKING:
    from workers.platform import Platform

#: (product code, amount, tenure, coupon, submit) of each demo application, in order of the borrowers given.
DEMO_APPLICATIONS = (
    ("CONSUMER-EMI", "45000", 12, None, True),
    ("CONSUMER-EMI", "80000", 18, None, True),
    ("SAL-EMI", "150000", 24, DEMO_COUPON, True),
    ("PAYDAY-30", "20000", 30, None, True),
    ("CONSUMER-EMI", "30000", 6, None, False),
    ("SAL-EMI", "60000", 12, None, False),
    ("CONSUMER-EMI", "120000", 24, None, True),
    ("PAYDAY-30", "10000", 15, None, True),
)


#: The credit decision taken on some of them (by their index above): CX-approved (the SM queue shows it), and one
#: also sanctioned (amounts, fees and schedule on its loan page).
DEMO_DECISIONS = {1: ("75000", None), 6: ("110000", "100000")}
DEMO_CAM = {
    "salary_credits": [{"month": m, "amount": "68000"} for m in ("2026-08", "2026-09", "2026-10")],
    "foir": "28", "existing_emis": "4500", "recommended_amount": "110000", "recommended_rate": "18",
    "notes": "salary credited on the 1st by the same employer for three months",
}  # fmt: skip


def demo_loan_id(brand_id: UUID, index: int) -> UUID:
    """The id of the demo application of DEMO_APPLICATIONS[index]."""
    return demo_id(brand_id, f"loan:{index}")


def seed_loans(platform: Platform, brand_id: UUID, customer_ids: list[UUID]) -> int:
    """One demo application per borrower given (up to the list above), walked to its demo state; how many it
    started. Each is named `loan:<i>`: one found is taken on from the state it is in (a run stopped between its
    steps), so each step is done once; a refused one (e.g. the borrower already holds one) is skipped."""
    loans = platform.get(Loans)
    created = 0
    applications = zip(customer_ids, DEMO_APPLICATIONS, strict=False)
    for index, (customer_id, (code, amount, tenure, coupon, submit)) in enumerate(applications):
        loan_id = demo_loan_id(brand_id, index)
        with suppress(DomainError):
            if loans.find(loan_id) is None:
                loans.create(
                    brand_id, customer_id, demo_product_id(brand_id, code), amount, tenure, coupon, loan_id=loan_id
                )
                created += 1
            if submit and loans.get(brand_id, loan_id).status is LoanStatus.ONBOARDING:
                loans.submit(brand_id, loan_id)
            if index in DEMO_DECISIONS:
                approved, sanctioned = DEMO_DECISIONS[index]
                loan = loans.get(brand_id, loan_id)
                if loan.status is LoanStatus.PENDING and loan.cam is None:
                    loans.record_cam(brand_id, loan_id, DEMO_CAM)
                if loan.status is LoanStatus.PENDING:
                    loans.cx_approve(brand_id, loan_id, approved, "salary and FOIR support the amount")
                if sanctioned is not None and loans.get(brand_id, loan_id).status is LoanStatus.CX_APPROVED:
                    loans.sanction(brand_id, loan_id, sanctioned, "sanctioned a little below the CX's amount")
    return created
