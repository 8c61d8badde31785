"""The loan book's counts for the creation rules (a borrower's open loans against `max_active_loans`, a coupon's uses
against `max_uses`): the loans read model, plus the applications committed under a held count that the read model
does not show yet (docs/loans.md, "Creating an application").

A command holding a count (`LoanBook.exclusive`) notes, before it lets go, the log position of what it committed
under the count's name (`ops.loan_book_pending`). A count adds the noted positions the `loans` projection has not
reached; read in one statement with the read model's rows, so an application is counted exactly once whether or
not the projection has caught up with it - and nobody waits for a projection (a bulk load with no runner following
the store counts as exactly). Notes the projection has passed are deleted by the next note of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from adapters.postgres import create_tables
from domain.loans.states import CLOSED, LoanStatus

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.loan_book_pending (
        name text NOT NULL,
        position bigint NOT NULL,
        noted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, position)
    )""",
)

#: The noted applications of a count that the read model does not show yet.
_PENDING = (
    "(SELECT count(*) FROM ops.loan_book_pending p WHERE p.name = %(name)s AND p.position > coalesce(("
    "SELECT t.position FROM ops.projection_tracking t WHERE t.projection = %(projection)s), 0))"
)
_OPEN_LOANS = (
    "SELECT (SELECT count(*) FROM read.loans WHERE brand_id = %(brand)s AND customer_id = %(customer)s "
    f"AND status <> ALL(%(closed)s)) + {_PENDING} AS n"
)
_COUPON_USES = (
    "SELECT (SELECT count(*) FROM read.loans WHERE brand_id = %(brand)s AND product_id = %(product)s "
    f"AND coupon_code = %(code)s AND status <> ALL(%(refused)s)) + {_PENDING} AS n"
)


class LoanBookCounts:
    """The counts, and the notes of what was committed under a held count (see the module doc)."""

    def __init__(self, pool: Any, projection: str) -> None:
        self.pool = pool
        self.projection = projection  # the projection writing read.loans
        create_tables(pool, "ops.loan_book_pending", DDL)

    def open_loans(self, brand_id: UUID, customer_id: UUID, name: str) -> int:
        """The borrower's applications and loans neither closed nor refused (`name`: the count's, for its notes)."""
        closed = sorted(s.value for s in CLOSED)
        return self._count(_OPEN_LOANS, brand=brand_id, customer=customer_id, closed=closed, name=name)

    def coupon_uses(self, brand_id: UUID, product_id: UUID, code: str, name: str) -> int:
        """Applications using the coupon on the product, not cancelled or rejected (`name`: the count's)."""
        refused = [LoanStatus.CANCELLED.value, LoanStatus.REJECTED.value]
        return self._count(_COUPON_USES, brand=brand_id, product=product_id, code=code, refused=refused, name=name)

    def note(self, names: Sequence[str], position: int) -> None:
        """A command holding the counts `names` committed what ends at `position`: counted until the read model
        shows it. The notes of these counts the read model has passed go."""
        if position <= 0:
            return
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM ops.loan_book_pending WHERE name = ANY(%s) AND position <= coalesce(("
                "SELECT position FROM ops.projection_tracking WHERE projection = %s), 0)",
                (list(names), self.projection),
            )
            for name in names:
                conn.execute(
                    "INSERT INTO ops.loan_book_pending (name, position) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (name, position),
                )

    def _count(self, sql: str, **params: Any) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(sql, {**params, "projection": self.projection}).fetchone()
        return int(row["n"]) if row else 0
