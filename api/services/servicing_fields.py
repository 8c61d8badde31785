"""The servicing fields of a disbursed loan's GET (issue #15): the schedule with what is paid and each instalment's
status, `outstanding`, `dpd`, `asset_class`, `next_due`, `closed_on` - from the loan's events (domain/loans/servicing_views.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.checkpoint import position_of
from domain.loans.loan import Loan
from domain.loans.servicing_views import servicing_view


def servicing_fields(loans: Loans, brand_id: UUID, loan_id: UUID, loaded: Loan | None = None) -> dict[str, Any]:
    """The fields the loan's detail adds once disbursed (empty when servicing has not opened); `loaded`: the loan
    already read from its events (by the caller, for its other cards), so they are not read again."""
    loan = loans.servicing_opened(loaded) if loaded is not None else loans.serviced(brand_id, loan_id)
    if not loan.servicing_open:
        return {}
    # The position resumed from the loan's newest checkpoint when one fits (only the facts after it replayed): the
    # same figures as the whole replay (domain/loans/checkpoint.py), at a cost that does not grow with the history.
    replayed = position_of(loan, loans.checkpoints) if getattr(loan, "ending", None) is None else None
    view = servicing_view(loan, loans.parties.business_date(brand_id), replayed)
    return {
        "schedule": [item.__dict__ | {"status": str(item.status)} for item in view.schedule],
        "outstanding": view.outstanding,
        "dpd": view.dpd,
        "asset_class": view.asset_class,
        "next_due": view.next_due,
        "cob_through": view.cob_through,
        # the auditor's replay of the loan answers it as this GET's (docs/loans.md, "Auditor replay of a loan")
        "closed_on": view.closed_on,
    }
