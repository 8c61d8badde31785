"""Customer 360's loans (issue #15 item 6): each loan of the borrower with its status, DPD, class, next due and
outstanding. The list comes from the read model (projections/borrower_loans.py); a loan being serviced, settled or
written off adds its next due and outstanding from its events on the brand's business date (as the loan's GET does;
an ended loan owes 0.00), a completed one owes 0.00."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.servicing_views import NextDue, servicing_view
from domain.loans.states import LoanStatus
from projections.borrower_loans import BorrowerLoanQueries, BorrowerLoanRow


@dataclass(frozen=True)
class BorrowerLoan:
    """One loan of the borrower as Customer 360 shows it."""

    id: UUID
    loan_number: str
    status: str
    amount: Decimal
    tenure: int
    disbursed_on: date | None
    dpd: int | None
    asset_class: str | None
    next_due: NextDue | None
    outstanding: Decimal | None


#: A disbursed loan that ended other than by paying off: its figures are its own page's (`servicing_view`: nothing
#: outstanding, DPD 0, the class it ended in), which the read model cannot know when COB had not run to the end.
_ENDED = frozenset({LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF})


def _serviced(row: BorrowerLoanRow) -> bool:
    """Serviced, or settled or written off: read from the loan's events like its page."""
    try:
        status = LoanStatus(row.status)
    except ValueError:
        return False
    return status.servicing or status in _ENDED


def borrower_loans(queries: BorrowerLoanQueries, loans: Loans, brand_id: UUID, customer_id: UUID) -> list[BorrowerLoan]:
    """The borrower's loans, newest first; serviced, settled and written-off ones with DPD, class, next due and
    outstanding as of the brand's business date (as the loan's page); completed ones owe 0.00."""
    rows = queries.of_customer(brand_id, customer_id)
    as_of = loans.parties.business_date(brand_id) if any(_serviced(r) for r in rows) else None
    out: list[BorrowerLoan] = []
    for row in rows:
        dpd, asset_class, next_due, outstanding = row.dpd, row.asset_class, None, None
        if as_of is not None and _serviced(row):
            loan = loans.serviced(brand_id, row.id)
            if loan.servicing_open:
                view = servicing_view(loan, as_of)
                dpd, asset_class, next_due, outstanding = (
                    view.dpd, view.asset_class, view.next_due, view.outstanding.total
                )  # fmt: skip
        elif row.status == LoanStatus.COMPLETED:
            outstanding = Decimal("0.00")
        out.append(
            BorrowerLoan(
                id=row.id,
                loan_number=row.loan_number,
                status=row.status,
                amount=row.amount,
                tenure=row.tenure,
                disbursed_on=row.disbursed_on,
                dpd=dpd,
                asset_class=asset_class,
                next_due=next_due,
                outstanding=outstanding,
            )
        )
    return out
