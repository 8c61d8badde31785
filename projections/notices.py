"""Read models of repayment operations: notices, sync runs, source health, dashboard totals and feeds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.rows import scalar_row, tuple_row
from psycopg.types.json import Jsonb

from domain.customers.customer import CustomerRecord
from domain.notices.matching import Candidate, name_keys, name_probes
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


def _fact_values(facts: NoticeFacts) -> dict[str, Any]:
    """A notice's facts as JSON values of its read row."""
    return {
        "loan_number": facts.loan_number,
        "customer_name": facts.customer_name,
        "phone": facts.phone,
        "phone_e164": facts.phone_e164,
        "due_date": facts.due_date.isoformat(),
        "instalment_no": facts.instalment_no,
        "amount_due": str(facts.amount_due),
        "days_overdue": facts.days_overdue,
        "mode": facts.mode.value,
        "source_updated_at": facts.source_updated_at.isoformat() if facts.source_updated_at else None,
    }


_NOTICE_ROW = (
    "id uuid, brand_id uuid, source_id uuid, company text, source_notice_id text, loan_number text, "
    "customer_name text, phone text, phone_e164 text, due_date date, instalment_no int, amount_due numeric, "
    "days_overdue int, mode text, source_updated_at timestamptz, match_customer_id uuid, match_confidence int, "
    "match_band text, match_methods text[], match_candidates jsonb, version int, first_seen_at timestamptz, "
    "updated_at timestamptz"
)
#: A batch's new notices, from one JSON array of rows (psycopg would send long arrays value by value).
_INSERT_NEW = (
    f"INSERT INTO read.notices ({', '.join(column.split()[0] for column in _NOTICE_ROW.split(', '))}) "
    f"SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r({_NOTICE_ROW}) ON CONFLICT (id) DO NOTHING"
)
_HISTORY_ROW = "notice_id uuid, version int, at timestamptz, actor text, kind text, detail jsonb"
_INSERT_HISTORY = (
    "INSERT INTO read.notice_history (notice_id, version, at, actor, kind, detail) "
    f"SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r({_HISTORY_ROW}) ON CONFLICT DO NOTHING"
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
        # A batch's new notices (their match folded in when it comes in the same batch) and history rows, written
        # with one statement each: a sync imports and matches every notice of a page together.
        self._new: dict[UUID, dict[str, Any]] = {}
        self._history: list[dict[str, Any]] = []

    def begin_batch(self) -> None:
        self._deltas.clear()
        self._new.clear()
        self._history.clear()

    def _delta(self, notice_id: UUID, mode: str, count: int, amount: Decimal) -> None:
        entry = self._deltas[(notice_id, mode)]
        entry[0] += count
        entry[1] += amount * count

    def _note(self, event: Any, kind: str, detail: dict[str, Any]) -> None:
        """A history row, written with the batch's others."""
        self._history.append(
            {"notice_id": str(event.originator_id), "version": event.originator_version, "at": event.timestamp.isoformat(),
             "actor": event.actor, "kind": kind, "detail": detail}
        )  # fmt: skip

    def _flush(self) -> Iterable[Write]:
        """The batch's new notices so far, in one statement (before anything else writes to them)."""
        if self._new:
            rows = list(self._new.values())
            self._new.clear()
            yield Write(_INSERT_NEW, (Jsonb(rows),))

    def end_batch(self) -> Iterable[Write]:
        """Write the batch's new notices and history rows, then fold its count and amount changes into the
        per-company totals, one statement each."""
        yield from self._flush()
        if self._history:
            rows, self._history = self._history, []
            yield Write(_INSERT_HISTORY, (Jsonb(rows),))
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
            self._new[oid] = {
                "id": str(oid), "brand_id": str(event.brand_id), "source_id": str(event.source_id),
                "company": event.company, "source_notice_id": event.source_notice_id, **_fact_values(f),
                "match_customer_id": None, "match_confidence": 0, "match_band": "unmatched", "match_methods": [],
                "match_candidates": [], "version": 1, "first_seen_at": at.isoformat(), "updated_at": at.isoformat(),
            }  # fmt: skip
            self._delta(oid, f.mode.value, 1, f.amount_due)
            self._note(
                event,
                "imported",
                {"mode": f.mode.value, "amount_due": str(f.amount_due), "due_date": f.due_date.isoformat(),
                 "days_overdue": f.days_overdue, "run_id": str(event.run_id) if event.run_id else None},
            )  # fmt: skip
            return
        if isinstance(event, N.Changed | N.Reactivated | N.MarkedInactive):
            yield from self._flush()  # the notice's row must be there before it changes
        if isinstance(event, N.Changed | N.Reactivated):
            reactivated = isinstance(event, N.Reactivated)
            yield Write(
                f"UPDATE read.notices SET {_FACT_COLUMNS}, active = true, version = %s, updated_at = %s WHERE id = %s",
                (*_facts(event.facts), event.originator_version, at, oid),
            )
            if not reactivated:
                self._delta(oid, event.previous.mode.value, -1, event.previous.amount_due)
            self._delta(oid, event.facts.mode.value, 1, event.facts.amount_due)
            fields = event.facts.differs_from(event.previous)
            self._note(
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
            self._note(event, "inactivated", {"run_id": str(event.run_id) if event.run_id else None})
        elif isinstance(event, N.Matched):
            m = event.match
            candidates = [c.model_dump(mode="json") for c in m.candidates]
            new = self._new.get(oid)
            if new is not None:  # imported in this batch: written once, matched
                new.update(
                    match_customer_id=str(m.customer_id) if m.customer_id else None, match_confidence=m.confidence,
                    match_band=m.band, match_methods=list(m.methods), match_candidates=candidates,
                    version=event.originator_version, updated_at=at.isoformat(),
                )  # fmt: skip
            else:
                yield Write(
                    "UPDATE read.notices SET match_customer_id = %s, match_confidence = %s, match_band = %s, "
                    "match_methods = %s, match_candidates = %s, version = %s, updated_at = %s WHERE id = %s",
                    (m.customer_id, m.confidence, m.band, list(m.methods), Jsonb(candidates),
                     event.originator_version, at, oid),
                )  # fmt: skip
            self._note(
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


class NoticeNameKeys(Projection):
    """Borrower records by the keys notice matching blocks on (`domain.notices.matching.name_keys`): the whole
    name, word order aside, and each pair of its words. A notice's name finds the few borrowers it could match by
    name with one index probe per key (`NoticeQueries.borrowers_by_name`), fewest words first."""

    name = "notice_name_keys"
    source = "customers"
    topics = topics_of(C.Registered, C.DetailsUpdated)
    tables = ("read.notice_name_keys",)
    ddl = (
        # Keys compare bytewise (COLLATE "C"): a key prefix is one index range whatever the database's collation.
        """CREATE TABLE IF NOT EXISTS read.notice_name_keys (
            customer_id uuid NOT NULL,
            key text COLLATE "C" NOT NULL,
            brand_id uuid NOT NULL,
            words smallint NOT NULL,
            PRIMARY KEY (customer_id, key)
        )""",
        "CREATE INDEX IF NOT EXISTS notice_name_keys_idx ON read.notice_name_keys (brand_id, key, words, customer_id)",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        if isinstance(event, C.Registered):
            words, keys = name_keys(event.name)
            yield Write(
                "INSERT INTO read.notice_name_keys (customer_id, key, brand_id, words) "
                "SELECT %s, k, %s, %s FROM unnest(%s::text[]) AS k ON CONFLICT DO NOTHING",
                (event.originator_id, event.brand_id, words, keys),
            )
        elif isinstance(event, C.DetailsUpdated) and event.name is not None:
            # The event does not name the brand: the borrower's present keys do (its whole name always has one).
            words, keys = name_keys(event.name)
            yield Write(
                "INSERT INTO read.notice_name_keys (customer_id, key, brand_id, words) "
                "SELECT %(id)s, k, o.brand_id, %(words)s FROM (SELECT brand_id FROM read.notice_name_keys "
                "WHERE customer_id = %(id)s LIMIT 1) AS o CROSS JOIN unnest(%(keys)s::text[]) AS k "
                "ON CONFLICT (customer_id, key) DO UPDATE SET words = EXCLUDED.words",
                {"id": event.originator_id, "words": words, "keys": keys},
            )
            yield Write(
                "DELETE FROM read.notice_name_keys WHERE customer_id = %s AND key <> ALL(%s::text[])",
                (event.originator_id, keys),
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
        with self.pool.connection() as conn, conn.cursor(row_factory=scalar_row) as cursor:
            # Tens of thousands of ids: one value a row, not a dict.
            return cursor.execute(
                "SELECT id FROM read.notices WHERE source_id = %s AND mode = ANY(%s) AND active",
                (source_id, [getattr(m, "value", m) for m in modes]),
            ).fetchall()

    def borrowers_by_loan_or_phone(
        self, brand_id: UUID, loan_numbers: Sequence[str], phones: Sequence[str]
    ) -> dict[tuple[str, str], list[Candidate]]:
        """Borrower records holding any of the loan numbers or phones (primary or alternate), keyed by
        ("loan", number) and ("phone", e164)."""
        found: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
        if not loan_numbers and not phones:
            return found
        loans, numbers = set(loan_numbers), set(phones)
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            # One index probe per key (LATERAL): an `&&` with hundreds of keys is estimated so dear that the
            # planner scans the whole table instead (3 s at 1M borrowers, against 25 ms probing).
            c = ", ".join("c." + col for col in _CANDIDATE.split(", "))
            rows = cursor.execute(
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
                "WITH hits AS MATERIALIZED (SELECT q.i, h.customer_id FROM unnest(%(ei)s::int[], %(ek)s::text[]) "
                "AS q(i, k) CROSS JOIN LATERAL (SELECT customer_id FROM read.notice_name_keys WHERE brand_id = %(b)s "
                'AND key = q.k COLLATE "C" ORDER BY words, customer_id LIMIT %(n)s) AS h '
                "UNION SELECT q.i, h.customer_id FROM unnest(%(pi)s::int[], %(lo)s::text[], %(hi)s::text[]) "
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


def _candidate(values: Sequence[Any]) -> Candidate:
    """A candidate from the values of `_CANDIDATE`, in order."""
    customer_id, name, phone, alternate_numbers, loan_numbers = values
    return Candidate(
        customer_id=customer_id, name=name, phones=(phone, *alternate_numbers), loan_numbers=tuple(loan_numbers)
    )
