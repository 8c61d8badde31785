"""The notice context's scope of a caller and the lookups the sync and the rematcher use (sources to fire, a
source's active notices, borrowers by loan number, phone and name keys)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from psycopg.rows import class_row, scalar_row, tuple_row

from domain.notices.matching import Candidate, name_probes


@dataclass(frozen=True)
class EnabledSource:
    """A source the scheduler fires on its own cron."""

    id: UUID
    brand_id: UUID
    company: str
    schedule: str


@dataclass(frozen=True)
class PendingRematch:
    """A changed borrower record whose notices wait to be matched again."""

    customer_id: UUID
    position: int


@dataclass(frozen=True)
class Scope:
    """What a caller may see: the brand and, when limited, its companies."""

    brand_id: UUID
    companies: tuple[str, ...] = ()  # empty: every company

    @classmethod
    def of(cls, brand_id: UUID, companies: Iterable[str]) -> Scope:
        """The scope of a caller of the brand limited to `companies` (none: every company)."""
        return cls(brand_id, tuple(c.upper() for c in companies))

    def company_filter(self, company: str | None) -> list[str] | None:
        """Companies to filter on (None: all); an unauthorised company gives an empty list (nothing)."""
        if company:
            wanted = company.strip().upper()
            return [wanted] if not self.companies or wanted in self.companies else []
        return list(self.companies) if self.companies else None


class NoticeQueries:
    """Typed queries over the notice read tables; every query is scoped to a brand and its visible companies."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def enabled_sources(self) -> list[EnabledSource]:
        """Every enabled source of every brand (workers only: the scheduler fires their cron slots)."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(EnabledSource)) as cursor:
            sources: list[EnabledSource] = cursor.execute(
                "SELECT id, brand_id, company, schedule FROM read.notice_sources WHERE enabled ORDER BY id"
            ).fetchall()
            return sources

    # Matching (workers only) -------------------------------------------------------------------------------

    def active_notice_ids(self, source_id: UUID, modes: Sequence[Any]) -> list[UUID]:
        """Ids of a source's active notices of the modes (staleness: those a complete pull did not list)."""
        with self.pool.connection() as conn, conn.cursor(row_factory=scalar_row) as cursor:
            # Tens of thousands of ids: one value a row, not a dict.
            ids: list[UUID] = cursor.execute(
                "SELECT id FROM read.notices WHERE source_id = %s AND mode = ANY(%s) AND active",
                (source_id, [getattr(m, "value", m) for m in modes]),
            ).fetchall()
            return ids

    def notice_match_keys(self, notice_ids: Sequence[UUID]) -> dict[UUID, tuple[str, str | None, str]]:
        """What matching looks at (loan number, E.164 phone, name) of those of the notices the read model holds: the
        sync's matching ahead skips a page's notices whose keys it already matched. The read model may
        lag, so the answer is a hint, never the decision."""
        if not notice_ids:
            return {}
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            rows = cursor.execute(
                "SELECT id, loan_number, phone_e164, customer_name FROM read.notices WHERE id = ANY(%b::uuid[])",
                (list(notice_ids),),
            ).fetchall()
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def borrowers_by_loan_or_phone(
        self, brand_id: UUID, loan_numbers: Sequence[str], phones: Sequence[str]
    ) -> dict[tuple[str, str], list[Candidate]]:
        """Borrower records holding any of the loan numbers or phones (primary or alternate), keyed by
        ("loan", number) and ("phone", e164)."""
        found: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
        if not loan_numbers and not phones:
            return found
        loans, numbers = set(loan_numbers), set(phones)
        c = ", ".join("c." + col for col in _CANDIDATE.split(", "))
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            # Loan numbers and alternate phones from their B-tree (`NoticeBorrowerKeys`: one index scan for the
            # page's keys; the brand is checked on the borrower's row), primary phones from read.customers' own.
            # The key arrays go in binary (%b): psycopg's text array dumper quotes element by element, in Python.
            rows = cursor.execute(
                f"SELECT {c} FROM (SELECT DISTINCT customer_id FROM read.notice_borrower_keys "
                "WHERE (kind = 'loan' AND key = ANY(%(loans)b::text[])) "
                "OR (kind = 'alternate' AND key = ANY(%(phones)b::text[]))) AS k "
                "CROSS JOIN LATERAL (SELECT * FROM read.customers WHERE id = k.customer_id LIMIT 1) AS c "
                "WHERE c.brand_id = %(b)s "
                f"UNION SELECT {_CANDIDATE} FROM read.customers WHERE brand_id = %(b)s AND phone = ANY(%(phones)b::text[])",
                {"b": brand_id, "loans": list(loans), "phones": list(numbers)},
            ).fetchall()
            # Covenant Desk's own loans with those numbers (issue #15; its numbers are upper-case): their borrowers,
            # one probe per number, each row naming the number as the notice wrote it.
            own = cursor.execute(
                f"SELECT k.v, {c} FROM unnest(%(loans)b::text[]) AS k(v) CROSS JOIN LATERAL (SELECT customer_id "
                "FROM read.loans WHERE brand_id = %(b)s AND loan_number = upper(btrim(k.v))) AS l "
                "JOIN read.customers c ON c.id = l.customer_id",
                {"b": brand_id, "loans": list(loans)},
            ).fetchall() if loans else []  # fmt: skip
        # One candidate per borrower, its own loans merged in (the caller keys candidates by borrower).
        by_id = {row[0]: _candidate(row) for row in rows}
        owned: dict[UUID, list[str]] = defaultdict(list)
        for number, *values in own:
            by_id.setdefault(values[0], _candidate(values))
            owned[values[0]].append(number)
        for customer_id, numbers_owned in owned.items():
            by_id[customer_id] = replace(by_id[customer_id], own_loans=tuple(numbers_owned))
        for candidate in by_id.values():
            for loan in loans.intersection((*candidate.loan_numbers, *candidate.own_loans)):
                found[("loan", loan)].append(candidate)
            for phone in numbers.intersection(candidate.phones):
                found[("phone", phone)].append(candidate)
        return found

    def borrowers_by_name(
        self, brand_id: UUID, name_keys: Sequence[str], per_key: int = 5
    ) -> dict[str, list[Candidate]]:
        """The borrower records each name could match by name: blocking, never a scan.

        Each name's keys and key prefixes (`domain.notices.matching.name_probes`) are looked up in
        `read.notice_name_keys`, all names of a call in one statement: one index probe per key, the first
        `per_key` borrowers of each, fewest words first (the best scores).
        """
        found: dict[str, list[Candidate]] = defaultdict(list)
        wanted = sorted({k for k in name_keys if k})
        exact_at: list[int] = []
        exact: list[str] = []
        prefix_at: list[int] = []
        low: list[str] = []
        high: list[str] = []
        for i, name in enumerate(wanted):
            keys, prefixes = name_probes(name)
            exact_at += [i] * len(keys)
            exact += keys
            for prefix in prefixes:
                prefix_at.append(i)
                low.append(prefix)
                high.append(prefix[:-1] + chr(ord(prefix[-1]) + 1))  # the first key after every one with it
        if not exact and not low:
            return found
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            rows = cursor.execute(
                "WITH hits AS MATERIALIZED (SELECT q.i, h.customer_id FROM unnest(%(ei)b::int[], %(ek)b::text[]) "
                "AS q(i, k) CROSS JOIN LATERAL (SELECT customer_id FROM read.notice_name_keys WHERE brand_id = %(b)s "
                'AND key = q.k COLLATE "C" ORDER BY words, customer_id LIMIT %(n)s) AS h '
                "UNION SELECT q.i, h.customer_id FROM unnest(%(pi)b::int[], %(lo)b::text[], %(hi)b::text[]) "
                "AS q(i, lo, hi) CROSS JOIN LATERAL (SELECT customer_id FROM read.notice_name_keys "
                'WHERE brand_id = %(b)s AND key >= q.lo COLLATE "C" AND key < q.hi COLLATE "C" '
                "ORDER BY words, customer_id LIMIT %(n)s) AS h) "
                # One primary-key probe per borrower found (LIMIT 1 keeps it a probe: joined, the planner
                # misjudges how few the hits are and hashes the whole directory).
                "SELECT h.names, c.* FROM (SELECT customer_id, array_agg(i) AS names FROM hits GROUP BY customer_id) "
                f"AS h CROSS JOIN LATERAL (SELECT {_CANDIDATE} FROM read.customers WHERE id = h.customer_id LIMIT 1) AS c",
                {"b": brand_id, "ei": exact_at, "ek": exact, "pi": prefix_at, "lo": low, "hi": high, "n": per_key},
            ).fetchall()
        for names, *values in rows:
            candidate = _candidate(values)
            for i in names:
                found[wanted[i]].append(candidate)
        return found

    def pending_rematches(self, limit: int = 100) -> list[PendingRematch]:
        """Changed borrower records waiting for their notices to be matched again, oldest change first."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(PendingRematch)) as cursor:
            pending: list[PendingRematch] = cursor.execute(
                "SELECT customer_id, position FROM read.notice_rematch_queue ORDER BY position LIMIT %s", (limit,)
            ).fetchall()
            return pending

    def rematched(self, customer_id: UUID, position: int) -> None:
        """Done with a queued borrower (unless it changed again since: then its row stays)."""
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM read.notice_rematch_queue WHERE customer_id = %s AND position = %s",
                (customer_id, position),
            )

    def notices_for_borrower(
        self,
        brand_id: UUID,
        customer_id: UUID,
        loan_numbers: Sequence[str],
        phones: Sequence[str],
        name_key: str,
        limit: int = 1000,
    ) -> list[UUID]:
        """Notices whose match a changed borrower record can change: matched to it now, or sharing its loan
        number or a phone, or unmatched with a similar name."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM read.notices WHERE brand_id = %(b)s AND match_customer_id = %(c)s "
                "UNION SELECT id FROM read.notices WHERE brand_id = %(b)s AND loan_number = ANY(%(loans)s) "
                "UNION SELECT id FROM read.notices WHERE brand_id = %(b)s AND phone_e164 = ANY(%(phones)s) "
                "UNION (SELECT id FROM read.notices WHERE brand_id = %(b)s AND active AND match_customer_id IS NULL "
                "AND lower(customer_name) %% %(name)s LIMIT %(limit)s)",
                {"b": brand_id, "c": customer_id, "loans": list(loan_numbers), "phones": list(phones),
                 "name": name_key, "limit": limit},
            ).fetchall()  # fmt: skip
        return [r["id"] for r in rows]


_CANDIDATE = "id, name, phone, alternate_numbers, loan_numbers"


def _candidate(values: Sequence[Any]) -> Candidate:
    """A candidate from the values of `_CANDIDATE`, in order."""
    customer_id, name, phone, alternate_numbers, loan_numbers = values
    return Candidate(
        customer_id=customer_id, name=name, phones=(phone, *alternate_numbers), loan_numbers=tuple(loan_numbers)
    )
