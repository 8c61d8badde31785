"""Read models of repayment operations: notices, sync runs, source health, dashboard totals and feeds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.customers.customer import CustomerRecord
from domain.notices.matching import Candidate
from domain.notices.notice import Notice, NoticeFacts
from domain.notices.source import NoticeSource
from domain.notices.sync_run import SyncRun
from projections.engine import Projection, Write, topics_of

N, S, R = Notice, NoticeSource, SyncRun
C = CustomerRecord

_FACT_COLUMNS = (
    "loan_number = %s, customer_name = %s, phone = %s, phone_e164 = %s, due_date = %s, instalment_no = %s, "
    "amount_due = %s, days_overdue = %s, mode = %s, source_updated_at = %s"
)


def _facts(facts: NoticeFacts) -> tuple[Any, ...]:
    return (
        facts.loan_number,
        facts.customer_name,
        facts.phone,
        facts.phone_e164,
        facts.due_date,
        facts.instalment_no,
        facts.amount_due,
        facts.days_overdue,
        facts.mode.value,
        facts.source_updated_at,
    )


def _history(event: Any, kind: str, detail: dict[str, Any]) -> Write:
    return Write(
        "INSERT INTO read.notice_history (notice_id, version, at, actor, kind, detail) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        (event.originator_id, event.originator_version, event.timestamp, event.actor, kind, Jsonb(detail)),
    )


def _changes(previous: NoticeFacts, facts: NoticeFacts, fields: Iterable[str]) -> dict[str, Any]:
    return {name: [str(getattr(previous, name)), str(getattr(facts, name))] for name in fields}


class NoticeViews(Projection):
    """Notices (with match and history), sync runs, sources with health, and per-company totals."""

    name = "notices"
    source = "notices"
    topics = topics_of(
        N.Imported, N.Changed, N.MarkedInactive, N.Reactivated, N.Matched,
        S.Connected, S.Reconfigured, S.SyncStarted, S.SyncEnded,
        R.Started, R.PagePulled, R.Finished,
    )  # fmt: skip
    tables = (
        "read.notices",
        "read.notice_history",
        "read.notice_totals",
        "read.notice_sources",
        "read.sync_runs",
    )
    ddl = (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        """CREATE TABLE IF NOT EXISTS read.notices (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            source_id uuid NOT NULL,
            company text NOT NULL,
            source_notice_id text NOT NULL,
            loan_number text NOT NULL,
            customer_name text NOT NULL,
            phone text NOT NULL,
            phone_e164 text,
            due_date date NOT NULL,
            instalment_no int NOT NULL,
            amount_due numeric(16, 2) NOT NULL,
            days_overdue int NOT NULL,
            mode text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            source_updated_at timestamptz,
            match_customer_id uuid,
            match_confidence int NOT NULL DEFAULT 0,
            match_band text NOT NULL DEFAULT 'unmatched',
            match_methods text[] NOT NULL DEFAULT '{}',
            match_candidates jsonb NOT NULL DEFAULT '[]',
            version int NOT NULL,
            first_seen_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        # Feeds: overdue by priority (longest overdue, highest amount, company), upcoming by due date then amount.
        "CREATE INDEX IF NOT EXISTS notices_overdue_feed_idx ON read.notices "
        "(brand_id, mode, (-days_overdue), (-amount_due), company, id) WHERE active",
        "CREATE INDEX IF NOT EXISTS notices_overdue_company_idx ON read.notices "
        "(brand_id, company, mode, (-days_overdue), (-amount_due), id) WHERE active",
        "CREATE INDEX IF NOT EXISTS notices_upcoming_feed_idx ON read.notices "
        "(brand_id, mode, due_date, (-amount_due), id) WHERE active",
        "CREATE INDEX IF NOT EXISTS notices_upcoming_company_idx ON read.notices "
        "(brand_id, company, mode, due_date, (-amount_due), id) WHERE active",
        "CREATE INDEX IF NOT EXISTS notices_amount_idx ON read.notices (brand_id, (-amount_due), id) WHERE active",
        "CREATE INDEX IF NOT EXISTS notices_source_idx ON read.notices (source_id, mode) WHERE active",
        "CREATE INDEX IF NOT EXISTS notices_customer_idx ON read.notices (brand_id, match_customer_id)",
        "CREATE INDEX IF NOT EXISTS notices_loan_idx ON read.notices (brand_id, loan_number)",
        "CREATE INDEX IF NOT EXISTS notices_phone_idx ON read.notices (brand_id, phone_e164)",
        "CREATE INDEX IF NOT EXISTS notices_unmatched_name_idx ON read.notices "
        "USING gin (lower(customer_name) gin_trgm_ops) WHERE active AND match_customer_id IS NULL",
        """CREATE TABLE IF NOT EXISTS read.notice_history (
            notice_id uuid NOT NULL,
            version int NOT NULL,
            at timestamptz NOT NULL,
            actor text NOT NULL,
            kind text NOT NULL,
            detail jsonb NOT NULL,
            PRIMARY KEY (notice_id, version)
        )""",
        """CREATE TABLE IF NOT EXISTS read.notice_totals (
            brand_id uuid NOT NULL,
            company text NOT NULL,
            mode text NOT NULL,
            count bigint NOT NULL,
            total numeric(20, 2) NOT NULL,
            PRIMARY KEY (brand_id, company, mode)
        )""",
        """CREATE TABLE IF NOT EXISTS read.notice_sources (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            company text NOT NULL,
            base_url text NOT NULL,
            schedule text NOT NULL,
            enabled boolean NOT NULL,
            token_hint text NOT NULL,
            running_run_id uuid,
            last_run_id uuid,
            last_status text,
            last_success_at timestamptz,
            last_failure_at timestamptz,
            last_error text,
            consecutive_failures int NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS notice_sources_brand_idx ON read.notice_sources (brand_id, company)",
        """CREATE TABLE IF NOT EXISTS read.sync_runs (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            source_id uuid NOT NULL,
            company text NOT NULL,
            trigger text NOT NULL,
            requested_by text NOT NULL,
            status text NOT NULL,
            pages int NOT NULL DEFAULT 0,
            fetched int NOT NULL DEFAULT 0,
            created int NOT NULL DEFAULT 0,
            updated int NOT NULL DEFAULT 0,
            unchanged int NOT NULL DEFAULT 0,
            reactivated int NOT NULL DEFAULT 0,
            malformed int NOT NULL DEFAULT 0,
            matched int NOT NULL DEFAULT 0,
            inactivated int NOT NULL DEFAULT 0,
            retries int NOT NULL DEFAULT 0,
            error text,
            malformed_examples jsonb NOT NULL DEFAULT '[]',
            started_at timestamptz NOT NULL,
            finished_at timestamptz,
            duration_ms int
        )""",
        "CREATE INDEX IF NOT EXISTS sync_runs_source_idx ON read.sync_runs (source_id, started_at DESC, id)",
        "CREATE INDEX IF NOT EXISTS sync_runs_brand_idx ON read.sync_runs (brand_id, started_at DESC, id)",
    )

    def __init__(self) -> None:
        self._deltas: dict[tuple[UUID, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])

    def begin_batch(self) -> None:
        self._deltas.clear()

    def _delta(self, notice_id: UUID, mode: str, count: int, amount: Decimal) -> None:
        entry = self._deltas[(notice_id, mode)]
        entry[0] += count
        entry[1] += amount * count

    def end_batch(self) -> Iterable[Write]:
        """Fold the batch's count and amount changes into the per-company totals in one statement."""
        deltas = [(k, v) for k, v in self._deltas.items() if v[0] or v[1]]
        self._deltas.clear()
        if not deltas:
            return
        yield Write(
            "INSERT INTO read.notice_totals (brand_id, company, mode, count, total) "
            "SELECT n.brand_id, n.company, d.mode, sum(d.dc), sum(d.da) "
            "FROM unnest(%s::uuid[], %s::text[], %s::bigint[], %s::numeric[]) AS d(id, mode, dc, da) "
            "JOIN read.notices n ON n.id = d.id GROUP BY n.brand_id, n.company, d.mode "
            "ON CONFLICT (brand_id, company, mode) DO UPDATE SET "
            "count = read.notice_totals.count + EXCLUDED.count, total = read.notice_totals.total + EXCLUDED.total",
            (
                [k[0] for k, _ in deltas],
                [k[1] for k, _ in deltas],
                [int(v[0]) for _, v in deltas],
                [v[1] for _, v in deltas],
            ),
        )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        oid, at = event.originator_id, event.timestamp
        if isinstance(event, N.Imported):
            f = event.facts
            yield Write(
                "INSERT INTO read.notices (id, brand_id, source_id, company, source_notice_id, loan_number, "
                "customer_name, phone, phone_e164, due_date, instalment_no, amount_due, days_overdue, mode, "
                "source_updated_at, version, first_seen_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (oid, event.brand_id, event.source_id, event.company, event.source_notice_id, *_facts(f), 1, at, at),
            )
            self._delta(oid, f.mode.value, 1, f.amount_due)
            yield _history(
                event,
                "imported",
                {"mode": f.mode.value, "amount_due": str(f.amount_due), "due_date": f.due_date.isoformat(),
                 "days_overdue": f.days_overdue, "run_id": str(event.run_id) if event.run_id else None},
            )  # fmt: skip
        elif isinstance(event, N.Changed | N.Reactivated):
            reactivated = isinstance(event, N.Reactivated)
            yield Write(
                f"UPDATE read.notices SET {_FACT_COLUMNS}, active = true, version = %s, updated_at = %s WHERE id = %s",
                (*_facts(event.facts), event.originator_version, at, oid),
            )
            if not reactivated:
                self._delta(oid, event.previous.mode.value, -1, event.previous.amount_due)
            self._delta(oid, event.facts.mode.value, 1, event.facts.amount_due)
            fields = event.facts.differs_from(event.previous)
            yield _history(
                event,
                "reactivated" if reactivated else "changed",
                {"changes": _changes(event.previous, event.facts, fields),
                 "run_id": str(event.run_id) if event.run_id else None},
            )  # fmt: skip
        elif isinstance(event, N.MarkedInactive):
            yield Write(
                "UPDATE read.notices SET active = false, version = %s, updated_at = %s WHERE id = %s",
                (event.originator_version, at, oid),
            )
            self._delta(oid, event.mode.value, -1, event.amount_due)
            yield _history(event, "inactivated", {"run_id": str(event.run_id) if event.run_id else None})
        elif isinstance(event, N.Matched):
            m = event.match
            candidates = [c.model_dump(mode="json") for c in m.candidates]
            yield Write(
                "UPDATE read.notices SET match_customer_id = %s, match_confidence = %s, match_band = %s, "
                "match_methods = %s, match_candidates = %s, version = %s, updated_at = %s WHERE id = %s",
                (m.customer_id, m.confidence, m.band, list(m.methods), Jsonb(candidates),
                 event.originator_version, at, oid),
            )  # fmt: skip
            yield _history(
                event,
                "matched" if m.customer_id else "unmatched",
                {"customer_id": str(m.customer_id) if m.customer_id else None, "confidence": m.confidence,
                 "band": m.band, "methods": list(m.methods), "reason": event.reason},
            )  # fmt: skip
        elif isinstance(event, S.Connected):
            yield Write(
                "INSERT INTO read.notice_sources (id, brand_id, company, base_url, schedule, enabled, token_hint, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (oid, event.brand_id, event.company, event.base_url, event.schedule, event.enabled,
                 event.token_hint, at, at),
            )  # fmt: skip
        elif isinstance(event, S.Reconfigured):
            yield Write(
                "UPDATE read.notice_sources SET base_url = %s, schedule = %s, enabled = %s, token_hint = %s, "
                "updated_at = %s WHERE id = %s",
                (event.base_url, event.schedule, event.enabled, event.token_hint, at, oid),
            )
        elif isinstance(event, S.SyncStarted):
            yield Write(
                "UPDATE read.notice_sources SET running_run_id = %s, updated_at = %s WHERE id = %s",
                (event.run_id, at, oid),
            )
        elif isinstance(event, S.SyncEnded):
            succeeded = event.status == "succeeded"
            yield Write(
                "UPDATE read.notice_sources s SET running_run_id = NULL, last_run_id = %(run)s, last_status = %(st)s, "
                "last_success_at = CASE WHEN %(ok)s THEN %(at)s ELSE s.last_success_at END, "
                "last_failure_at = CASE WHEN %(ok)s THEN s.last_failure_at ELSE %(at)s END, "
                "last_error = CASE WHEN %(ok)s THEN s.last_error "
                "ELSE (SELECT r.error FROM read.sync_runs r WHERE r.id = %(run)s) END, "
                "consecutive_failures = CASE WHEN %(ok)s THEN 0 ELSE s.consecutive_failures + 1 END, "
                "updated_at = %(at)s WHERE s.id = %(id)s",
                {"run": event.run_id, "st": event.status, "ok": succeeded, "at": at, "id": oid},
            )
        elif isinstance(event, R.Started):
            yield Write(
                "INSERT INTO read.sync_runs (id, brand_id, source_id, company, trigger, requested_by, status, "
                "started_at) VALUES (%s, %s, %s, %s, %s, %s, 'running', %s) ON CONFLICT (id) DO NOTHING",
                (oid, event.brand_id, event.source_id, event.company, event.trigger, event.requested_by, at),
            )
        elif isinstance(event, R.PagePulled):
            c = event.counts
            yield Write(
                "UPDATE read.sync_runs SET pages = pages + 1, fetched = fetched + %s, created = created + %s, "
                "updated = updated + %s, unchanged = unchanged + %s, reactivated = reactivated + %s, "
                "malformed = malformed + %s, matched = matched + %s, "
                "malformed_examples = CASE WHEN jsonb_array_length(malformed_examples) < 20 "
                "THEN malformed_examples || %s ELSE malformed_examples END WHERE id = %s",
                (c.fetched, c.created, c.updated, c.unchanged, c.reactivated, c.malformed, c.matched,
                 Jsonb(event.errors[:5]), oid),
            )  # fmt: skip
        elif isinstance(event, R.Finished):
            yield Write(
                "UPDATE read.sync_runs SET status = %s, inactivated = %s, error = %s, retries = %s, "
                "finished_at = %s, duration_ms = %s WHERE id = %s",
                (event.status.value, event.inactivated, event.error, event.retries, at, event.duration_ms, oid),
            )


class NoticeRematchQueue(Projection):
    """Borrower records that changed in a way that can change notice matches (a queue the rematch worker drains)."""

    name = "notice_rematch_queue"
    source = "customers"
    topics = topics_of(
        C.Registered, C.DetailsUpdated, C.AlternatePhoneAdded, C.AlternatePhoneRemoved, C.LoanNumberLinked
    )
    tables = ("read.notice_rematch_queue",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.notice_rematch_queue (
            customer_id uuid PRIMARY KEY,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS notice_rematch_queue_position_idx ON read.notice_rematch_queue (position)",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "INSERT INTO read.notice_rematch_queue (customer_id, position) VALUES (%s, %s) "
            "ON CONFLICT (customer_id) DO UPDATE SET position = EXCLUDED.position",
            (event.originator_id, position),
        )


# Queries ----------------------------------------------------------------------------------------------------


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

    def enabled_sources(self) -> list[dict[str, Any]]:
        """Every enabled source of every brand (workers only: the scheduler fires their cron slots)."""
        with self.pool.connection() as conn:
            return list(
                conn.execute(
                    "SELECT id, brand_id, company, schedule, running_run_id FROM read.notice_sources WHERE enabled"
                ).fetchall()
            )

    # Matching (workers only) -------------------------------------------------------------------------------

    def active_notice_ids(self, source_id: UUID, modes: Sequence[Any]) -> list[UUID]:
        """Ids of a source's active notices of the modes (staleness: those a complete pull did not list)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM read.notices WHERE source_id = %s AND mode = ANY(%s) AND active",
                (source_id, [getattr(m, "value", m) for m in modes]),
            ).fetchall()
        return [r["id"] for r in rows]

    def borrowers_by_loan_or_phone(
        self, brand_id: UUID, loan_numbers: Sequence[str], phones: Sequence[str]
    ) -> dict[tuple[str, str], list[Candidate]]:
        """Borrower records holding any of the loan numbers or phones (primary or alternate), keyed by
        ("loan", number) and ("phone", e164)."""
        found: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
        if not loan_numbers and not phones:
            return found
        loans, numbers = set(loan_numbers), set(phones)
        with self.pool.connection() as conn:
            # One index probe per key (LATERAL): an `&&` with hundreds of keys is estimated so dear that the
            # planner scans the whole table instead (3 s at 1M borrowers, against 25 ms probing).
            c = ", ".join("c." + col for col in _CANDIDATE.split(", "))
            rows = conn.execute(
                f"SELECT {c} FROM unnest(%(loans)s::text[]) AS k(v) CROSS JOIN LATERAL (SELECT {_CANDIDATE} "
                "FROM read.customers WHERE brand_id = %(b)s AND loan_numbers @> ARRAY[k.v]) AS c "
                f"UNION SELECT {_CANDIDATE} FROM read.customers WHERE brand_id = %(b)s AND phone = ANY(%(phones)s) "
                f"UNION SELECT {c} FROM unnest(%(phones)s::text[]) AS k(v) CROSS JOIN LATERAL (SELECT {_CANDIDATE} "
                "FROM read.customers WHERE brand_id = %(b)s AND alternate_numbers @> ARRAY[k.v]) AS c",
                {"b": brand_id, "loans": list(loans), "phones": list(numbers)},
            ).fetchall()
        for row in rows:
            candidate = _candidate(row)
            for loan in loans.intersection(candidate.loan_numbers):
                found[("loan", loan)].append(candidate)
            for phone in numbers.intersection(candidate.phones):
                found[("phone", phone)].append(candidate)
        return found

    #: Trigram similarity a name must reach to be a candidate at all. Matching counts a name only from about
    #: 0.55 of its own (word-level) score; trigrams of reordered or initialled names stay above this.
    NAME_SIMILARITY = 0.6

    def borrowers_by_name(
        self, brand_id: UUID, name_keys: Sequence[str], per_name: int = 5
    ) -> dict[str, list[Candidate]]:
        """The few borrower records most similar by name to each name: blocking, never a scan.

        The same words in any order first (a B-tree probe each on `read.name_tokens`); only names with no such
        namesake go to the trigram index, with a similarity floor that keeps common surnames from matching a large
        part of the book.
        """
        wanted = sorted({k for k in name_keys if k})
        found: dict[str, list[Candidate]] = defaultdict(list)
        if not wanted:
            return found
        columns = ", ".join("c." + c for c in _CANDIDATE.split(", "))
        with self.pool.connection() as conn, conn.transaction():
            exact = conn.execute(
                f"SELECT q.name AS query, {columns} FROM unnest(%(names)s::text[]) AS q(name) CROSS JOIN LATERAL ("
                f"SELECT {_CANDIDATE} FROM read.customers WHERE brand_id = %(b)s "
                "AND read.name_tokens(name_key) = read.name_tokens(q.name) ORDER BY id LIMIT %(n)s) AS c",
                {"b": brand_id, "names": wanted, "n": per_name},
            ).fetchall()
            for row in exact:
                found[row["query"]].append(_candidate(row))
            rest = [name for name in wanted if name not in found]
            if rest:
                conn.execute(f"SET LOCAL pg_trgm.similarity_threshold = {self.NAME_SIMILARITY}")
                similar = conn.execute(
                    f"SELECT q.name AS query, {columns} FROM unnest(%(names)s::text[]) AS q(name) CROSS JOIN LATERAL ("
                    f"SELECT {_CANDIDATE}, similarity(name_key, q.name) AS score FROM read.customers "
                    "WHERE brand_id = %(b)s AND name_key %% q.name ORDER BY score DESC, id LIMIT %(n)s) AS c",
                    {"b": brand_id, "names": rest, "n": per_name},
                ).fetchall()
                for row in similar:
                    found[row["query"]].append(_candidate(row))
        return found

    def pending_rematches(self, limit: int = 100) -> list[dict[str, Any]]:
        """Changed borrower records waiting for their notices to be matched again, oldest change first."""
        with self.pool.connection() as conn:
            return list(
                conn.execute(
                    "SELECT customer_id, position FROM read.notice_rematch_queue ORDER BY position LIMIT %s",
                    (limit,),
                ).fetchall()
            )

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


def _candidate(row: dict[str, Any]) -> Candidate:
    return Candidate(
        customer_id=row["id"],
        name=row["name"],
        phones=(row["phone"], *row["alternate_numbers"]),
        loan_numbers=tuple(row["loan_numbers"]),
    )
