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
from projections.name_vocabulary import like_escaped

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
    opens: bool = True  # whether the reader may open `url` (`api.routes.insight.for_reader`)


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
    opens: bool = True


@dataclass(frozen=True)
class StaffHit:
    """A staff member found."""

    id: UUID
    name: str
    email: str
    roles: list[str]
    enabled: bool
    url: str
    opens: bool = True


@dataclass(frozen=True)
class SearchResults:
    """The three groups, each at most `GROUP_LIMIT` long."""

    borrowers: list[BorrowerHit]
    loans: list[LoanHit]
    staff: list[StaffHit]


#: The borrowers whose email starts with the term, in email order (`customers_brand_email_idx`).
_EMAIL = (
    "SELECT id, name, phone, email, pan_masked, number FROM read.customers "
    "WHERE brand_id = %s AND email IS NOT NULL AND lower(email) LIKE %s ORDER BY lower(email) USING ~<~ LIMIT %s"
)


class GlobalSearchQueries:
    """The top bar's search over the brand's read models."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.customers = CustomerQueries(pool)

    def search(self, brand_id: UUID, q: str, limit: int = GROUP_LIMIT) -> SearchResults:
        """Borrowers, loans and staff of the brand matching `q` (whitespace trimmed and collapsed).

        Three round trips: the directory search's two (its vocabulary probe, then its page), then one pipeline of
        the rest — the email prefix, the loans (by number, and of the borrowers found by name or email) and the
        staff — each an index range with a LIMIT. The borrower group is merged in Python, then the loans of the
        borrowers it kept are picked from what the pipeline read."""
        term = " ".join(q.split())
        if len(term) < MIN_LENGTH:
            return SearchResults([], [], [])
        found = self.customers.search(brand_id, term, None, limit).items
        by_name = [BorrowerHit(c.id, c.name, c.phone, c.email, c.pan, c.number, f"/customers/{c.id}") for c in found]
        by_email_wanted = " " not in term and (len(by_name) < limit or "@" in term)
        email = like_escaped(term.lower()) + "%"
        with self.pool.connection() as conn:
            with conn.pipeline():
                emails = conn.execute(_EMAIL, (brand_id, email, limit)) if by_email_wanted else None
                loans = self._loans(
                    conn, brand_id, term, [b.id for b in by_name], email if by_email_wanted else None, limit
                )
                staff = self._staff(conn, brand_id, term, limit)
            borrowers = self._borrowers(term, by_name, emails.fetchall() if emails else [], limit)
            owners = {b.id for b in borrowers}
            rows = [r for r in loans.fetchall() if r["rank"] < 3 or r["customer_id"] in owners] if loans else []
            staff_rows = staff.fetchall()
        rows.sort(key=lambda r: (r["rank"], -r["created_at"].timestamp(), r["id"]))
        return SearchResults(
            borrowers,
            [
                LoanHit(r["id"], r["loan_number"], r["status"], r["amount"], r["customer_id"], r["name"],
                        r["created_at"], f"/loans/{r['id']}")
                for r in rows[:limit]
            ],
            [StaffHit(r["id"], r["name"], r["email"], list(r["roles"]), r["enabled"], f"/staff/{r['id']}")
             for r in staff_rows],
        )  # fmt: skip

    @staticmethod
    def _borrowers(term: str, by_name: list[BorrowerHit], email_rows: list[Any], limit: int) -> list[BorrowerHit]:
        """The name (and key) matches, then the email matches (email first when `q` holds an `@`), once each."""
        by_email = [
            BorrowerHit(
                r["id"], r["name"], r["phone"], r["email"], r["pan_masked"], r["number"], f"/customers/{r['id']}"
            )
            for r in email_rows
        ]
        merged = by_email + by_name if "@" in term else by_name + by_email
        unique: dict[UUID, BorrowerHit] = {}
        for hit in merged:
            unique.setdefault(hit.id, hit)
        return list(unique.values())[:limit]

    def _loans(
        self, conn: Any, brand_id: UUID, term: str, borrower_ids: list[UUID], email: str | None, limit: int
    ) -> Any:
        """Sends the loans' statement (None when nothing can match): each loan with its best rank — 0 the whole
        number, 1 a number starting with the term, 2 ending with it, 3 a loan of a borrower found (by name or key,
        or by the email prefix: up to `limit` newest loans of each); the caller keeps rank 3 only for the
        borrowers it shows."""
        key = term.upper().replace(" ", "")
        pattern = like_escaped(key)
        parts = []
        params: dict[str, Any] = {"brand": brand_id, "limit": limit, "key": key}
        if " " not in term and any(ch.isdigit() for ch in key):
            params.update(prefix=pattern + "%", suffix=like_escaped(key[::-1]) + "%")
            parts += [
                "(SELECT 0 AS rank, id FROM read.loans WHERE brand_id = %(brand)s AND loan_number = %(key)s)",
                "(SELECT 1 AS rank, id FROM read.loans WHERE brand_id = %(brand)s AND loan_number LIKE %(prefix)s "
                "ORDER BY loan_number USING ~<~ LIMIT %(limit)s)",
                "(SELECT 2 AS rank, id FROM read.loans WHERE brand_id = %(brand)s AND reverse(loan_number) LIKE %(suffix)s "
                "ORDER BY reverse(loan_number) USING ~<~ LIMIT %(limit)s)",
            ]
        owners = []
        if borrower_ids:
            params["borrowers"] = borrower_ids
            owners.append("SELECT unnest(%(borrowers)s::uuid[]) AS id")
        if email is not None:
            params["email"] = email
            owners.append(
                "(SELECT id FROM read.customers WHERE brand_id = %(brand)s AND email IS NOT NULL "
                "AND lower(email) LIKE %(email)s ORDER BY lower(email) USING ~<~ LIMIT %(limit)s)"
            )
        if owners:
            parts.append(
                f"(SELECT 3 AS rank, m.id FROM ({' UNION '.join(owners)}) AS o CROSS JOIN LATERAL "
                "(SELECT id FROM read.loans WHERE brand_id = %(brand)s AND customer_id = o.id "
                "ORDER BY created_at DESC LIMIT %(limit)s) AS m)"
            )
        if not parts:
            return None
        sql = (
            f"WITH found AS MATERIALIZED ({' UNION ALL '.join(parts)}), "
            "best AS (SELECT id, min(rank) AS rank FROM found GROUP BY id) "
            "SELECT best.rank, l.id, l.loan_number, l.status, l.amount, l.customer_id, l.created_at, "
            "(SELECT c.name FROM read.customers c WHERE c.id = l.customer_id AND c.brand_id = l.brand_id) AS name "
            "FROM best JOIN read.loans l ON l.id = best.id AND l.brand_id = %(brand)s"
        )
        return conn.execute(sql, params, prepare=False)

    def _staff(self, conn: Any, brand_id: UUID, term: str, limit: int) -> Any:
        """Sends the staff statement: a fragment of the name or the email, in name order."""
        pattern = "%" + like_escaped(term.lower()) + "%"
        return conn.execute(
            "SELECT id, name, email, roles, enabled FROM read.staff WHERE brand_id = %s "
            "AND (name_key LIKE %s OR lower(email) LIKE %s) ORDER BY name_key, id LIMIT %s",
            (brand_id, pattern, pattern, limit),
        )
