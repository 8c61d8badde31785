"""Global search (issue #18 item 2): one query over the brand's borrowers, loans and staff, grouped.

Reads only read models, each through an index (docs/insight.md):

- **borrowers** — the directory search (`CustomerQueries.search`: name fragments through the name vocabulary,
  phone in any format, PAN, formatted id, linked loan numbers) plus an email prefix
  (`customers_brand_email_idx`, `lower(email) text_pattern_ops`);
- **loans** — the formatted loan id / loan number exactly, by prefix (`loans_number_prefix_idx`) or by suffix
  (`loans_number_suffix_idx` over `reverse(loan_number)`: "000456" finds DEMO-L-000456), and the loans of the
  borrowers whose name (or phone, PAN, ...) matched (`loans_customer_idx`);
- **staff** — a fragment of the name or the email (`staff_name_trgm_idx`, `staff_email_trgm_idx`, trigram).

Every statement is scoped to the caller's brand; nothing reads another brand's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from projections.customer_queries import CustomerQueries

#: The shortest query searched (shorter ones are refused by the endpoint; the query answers nothing).
MIN_LENGTH = 2
#: Results per group.
GROUP_LIMIT = 8


@dataclass(frozen=True)
class BorrowerHit:
    """A borrower found: what the result list shows (PAN masked) and the profile's address."""

    id: UUID
    name: str
    phone: str
    email: str | None
    pan: str | None
    number: str | None
    url: str


@dataclass(frozen=True)
class LoanHit:
    """A loan found, with its borrower."""

    id: UUID
    loan_number: str
    status: str
    amount: Decimal
    customer_id: UUID
    borrower_name: str | None
    created_at: datetime
    url: str


@dataclass(frozen=True)
class StaffHit:
    """A staff member found."""

    id: UUID
    name: str
    email: str
    roles: list[str]
    enabled: bool
    url: str


@dataclass(frozen=True)
class SearchResults:
    """The three groups, each at most `GROUP_LIMIT` long."""

    borrowers: list[BorrowerHit]
    loans: list[LoanHit]
    staff: list[StaffHit]


def _like(text: str) -> str:
    """`text` matched literally by LIKE."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class GlobalSearchQueries:
    """The top bar's search over the brand's read models."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.customers = CustomerQueries(pool)

    def search(self, brand_id: UUID, q: str, limit: int = GROUP_LIMIT) -> SearchResults:
        """Borrowers, loans and staff of the brand matching `q` (whitespace trimmed and collapsed)."""
        term = " ".join(q.split())
        if len(term) < MIN_LENGTH:
            return SearchResults([], [], [])
        borrowers = self._borrowers(brand_id, term, limit)
        loans = self._loans(brand_id, term, [b.id for b in borrowers], limit)
        return SearchResults(borrowers, loans, self._staff(brand_id, term, limit))

    def _borrowers(self, brand_id: UUID, term: str, limit: int) -> list[BorrowerHit]:
        found = self.customers.search(brand_id, term, None, limit).items
        hits = [BorrowerHit(c.id, c.name, c.phone, c.email, c.pan, c.number, f"/customers/{c.id}") for c in found]
        if " " in term or (len(hits) >= limit and "@" not in term):
            return hits
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, name, phone, email, pan_masked, number FROM read.customers "
                "WHERE brand_id = %s AND email IS NOT NULL AND lower(email) LIKE %s "
                "ORDER BY lower(email) USING ~<~ LIMIT %s",
                (brand_id, _like(term.lower()) + "%", limit),
            ).fetchall()
        by_email = [
            BorrowerHit(
                r["id"], r["name"], r["phone"], r["email"], r["pan_masked"], r["number"], f"/customers/{r['id']}"
            )
            for r in rows
        ]
        seen = {h.id for h in by_email}
        merged = by_email + [h for h in hits if h.id not in seen] if "@" in term else hits + by_email
        unique: dict[UUID, BorrowerHit] = {}
        for hit in merged:
            unique.setdefault(hit.id, hit)
        return list(unique.values())[:limit]

    def _loans(self, brand_id: UUID, term: str, borrower_ids: list[UUID], limit: int) -> list[LoanHit]:
        key = term.upper().replace(" ", "")
        pattern = _like(key)
        columns = (
            "l.id, l.loan_number, l.status, l.amount, l.customer_id, l.created_at, "
            "(SELECT c.name FROM read.customers c WHERE c.id = l.customer_id AND c.brand_id = l.brand_id) AS name"
        )
        # Each part is its own index probe; the number parts only for a term that can be part of a loan number.
        parts = []
        params: dict[str, Any] = {"brand": brand_id, "limit": limit, "key": key}
        if " " not in term and any(ch.isdigit() for ch in key):
            params.update(prefix=pattern + "%", suffix=_like(key[::-1]) + "%")
            parts += [
                "(SELECT 0 AS rank, id FROM read.loans WHERE brand_id = %(brand)s AND loan_number = %(key)s)",
                "(SELECT 1 AS rank, id FROM read.loans WHERE brand_id = %(brand)s AND loan_number LIKE %(prefix)s "
                "ORDER BY loan_number USING ~<~ LIMIT %(limit)s)",
                "(SELECT 2 AS rank, id FROM read.loans WHERE brand_id = %(brand)s AND reverse(loan_number) LIKE %(suffix)s "
                "ORDER BY reverse(loan_number) USING ~<~ LIMIT %(limit)s)",
            ]
        if borrower_ids:
            params["borrowers"] = borrower_ids
            parts.append(
                "(SELECT 3 AS rank, id FROM read.loans WHERE brand_id = %(brand)s AND customer_id = ANY(%(borrowers)s) "
                "ORDER BY created_at DESC LIMIT %(limit)s)"
            )
        if not parts:
            return []
        sql = (
            f"WITH found AS MATERIALIZED ({' UNION ALL '.join(parts)}), "
            "best AS (SELECT id, min(rank) AS rank FROM found GROUP BY id) "
            f"SELECT {columns} FROM best JOIN read.loans l ON l.id = best.id AND l.brand_id = %(brand)s "
            "ORDER BY best.rank, l.created_at DESC, l.id LIMIT %(limit)s"
        )
        with self.pool.connection() as conn:
            rows = conn.execute(sql, params, prepare=False).fetchall()
        return [
            LoanHit(
                r["id"], r["loan_number"], r["status"], r["amount"], r["customer_id"], r["name"], r["created_at"],
                f"/loans/{r['id']}",
            )
            for r in rows
        ]  # fmt: skip

    def _staff(self, brand_id: UUID, term: str, limit: int) -> list[StaffHit]:
        pattern = "%" + _like(term.lower()) + "%"
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, name, email, roles, enabled FROM read.staff WHERE brand_id = %s "
                "AND (name_key LIKE %s OR lower(email) LIKE %s) ORDER BY name_key, id LIMIT %s",
                (brand_id, pattern, pattern, limit),
            ).fetchall()
        return [
            StaffHit(r["id"], r["name"], r["email"], list(r["roles"]), r["enabled"], f"/staff/{r['id']}") for r in rows
        ]
