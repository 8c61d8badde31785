"""Read models of repayment operations: notices, sync runs, source health, dashboard totals and feeds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.customers.customer import CustomerRecord
from domain.notices.notice import Notice, NoticeFacts
from domain.notices.source import NoticeSource
from domain.notices.sync_run import SyncRun
from projections.batch_writes import json_document
from projections.projection import Projection, Write, topics_of

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
        N.Imported, N.Changed, N.MarkedInactive, N.Reactivated, N.Matched, N.MatchConfirmed, N.MatchRemoved,
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
        # The settings' version (the originator version of the source's last Connected or Reconfigured event; ETag
        # and If-Match): added after the table's first version, so added when missing; null for sources projected
        # before, until their next change or a rebuild.
        "ALTER TABLE read.notice_sources ADD COLUMN IF NOT EXISTS version int",
        # Whether a staff member confirmed (or corrected) the match (`Notice.MatchConfirmed`): added after the
        # table's first version, so added when missing.
        "ALTER TABLE read.notices ADD COLUMN IF NOT EXISTS match_confirmed boolean NOT NULL DEFAULT false",
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
            yield Write(_INSERT_NEW, (json_document(rows),))

    def end_batch(self) -> Iterable[Write]:
        """Write the batch's new notices and history rows, then fold its count and amount changes into the
        per-company totals, one statement each."""
        yield from self._flush()
        if self._history:
            rows, self._history = self._history, []
            yield Write(_INSERT_HISTORY, (json_document(rows),))
        deltas = [(k, v) for k, v in self._deltas.items() if v[0] or v[1]]
        self._deltas.clear()
        if not deltas:
            return
        yield Write(
            "INSERT INTO read.notice_totals (brand_id, company, mode, count, total) "
            "SELECT n.brand_id, n.company, d.mode, sum(d.dc), sum(d.da) "
            "FROM unnest(%b::uuid[], %b::text[], %b::bigint[], %b::numeric[]) AS d(id, mode, dc, da) "
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
        elif isinstance(event, N.MatchConfirmed):
            yield from self._flush()
            m = event.match
            yield Write(
                "UPDATE read.notices SET match_customer_id = %s, match_confidence = %s, match_band = %s, "
                "match_methods = %s, match_candidates = %s::jsonb, match_confirmed = true, version = %s, "
                "updated_at = %s WHERE id = %s",
                (m.customer_id, m.confidence, m.band, list(m.methods),
                 json_document([c.model_dump(mode="json") for c in m.candidates]), event.originator_version, at, oid),
            )  # fmt: skip
            self._note(
                event,
                "confirmed" if m.customer_id == event.previous_customer_id else "corrected",
                {"customer_id": str(m.customer_id), "confidence": m.confidence, "band": m.band,
                 "methods": list(m.methods), "reason": event.reason,
                 "previous_customer_id": str(event.previous_customer_id) if event.previous_customer_id else None},
            )  # fmt: skip
        elif isinstance(event, N.MatchRemoved):
            yield from self._flush()
            m = event.match
            yield Write(
                "UPDATE read.notices SET match_customer_id = NULL, match_confidence = %s, match_band = %s, "
                "match_methods = %s, match_candidates = %s::jsonb, match_confirmed = false, version = %s, "
                "updated_at = %s WHERE id = %s",
                (m.confidence, m.band, list(m.methods),
                 json_document([c.model_dump(mode="json") for c in m.candidates]), event.originator_version, at, oid),
            )  # fmt: skip
            self._note(
                event,
                "match_removed",
                {"previous_customer_id": str(event.previous_customer_id), "was_confirmed": event.was_confirmed,
                 "band": m.band, "confidence": m.confidence, "reason": event.reason},
            )  # fmt: skip
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
                    "match_methods = %s, match_candidates = %s::jsonb, version = %s, updated_at = %s WHERE id = %s",
                    (m.customer_id, m.confidence, m.band, list(m.methods), json_document(candidates),
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
                "created_at, updated_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (oid, event.brand_id, event.company, event.base_url, event.schedule, event.enabled,
                 event.token_hint, at, at, event.originator_version),
            )  # fmt: skip
        elif isinstance(event, S.Reconfigured):
            yield Write(
                "UPDATE read.notice_sources SET base_url = %s, schedule = %s, enabled = %s, token_hint = %s, "
                "updated_at = %s, version = %s WHERE id = %s",
                (event.base_url, event.schedule, event.enabled, event.token_hint, at, event.originator_version, oid),
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
