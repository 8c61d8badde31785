"""The loans of one borrower as Customer 360 lists them (issue #15 item 6): every application and loan of the
borrower in the brand, newest first, with the servicing columns of `read.loans` (DPD, class). Reads the
`loans_customer_idx` index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class BorrowerLoanRow:
    """One loan of a borrower as the read model holds it."""

    id: UUID
    loan_number: str
    status: str
    amount: Decimal
    tenure: int
    dpd: int | None
    asset_class: str | None
    disbursed_on: date | None
    created_at: datetime


class BorrowerLoanQueries:
    """Brand-scoped: a borrower's loans."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def of_customer(self, brand_id: UUID, customer_id: UUID, limit: int = 50) -> list[BorrowerLoanRow]:
        """The borrower's loans of the brand, newest first (at most `limit`: a borrower holds a handful)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, loan_number, status, amount, tenure, dpd, asset_class, disbursed_on, created_at "
                "FROM read.loans WHERE brand_id = %s AND customer_id = %s ORDER BY created_at DESC, id DESC LIMIT %s",
                (brand_id, customer_id, limit),
            ).fetchall()
        return [BorrowerLoanRow(**r) for r in rows]

    def by_number(self, brand_id: UUID, loan_number: str) -> BorrowerLoanRow | None:
        """The brand's loan with that number (upper-cased, trimmed), if Covenant Desk holds it."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id, loan_number, status, amount, tenure, dpd, asset_class, disbursed_on, created_at "
                "FROM read.loans WHERE brand_id = %s AND loan_number = %s",
                (brand_id, loan_number.strip().upper()),
            ).fetchone()
        return BorrowerLoanRow(**row) if row else None
