"""Read models of covenants: the worklist, evaluation history, notices, dashboard counts and job feeds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.covenants.covenant import Covenant, CovenantEvaluation, CovenantNotice, NoticeKind
from projections.engine import Projection, Write, topics_of
from projections.keyset import KeysetCursor, Page

#: The worklist is ordered by (current due date, id).
WORKLIST_CURSOR = KeysetCursor(date, UUID)

C, E, N = Covenant, CovenantEvaluation, CovenantNotice
PRESUMED_NOTE = "delivery presumed: the sender stopped after handing the email to the mail server"


class CovenantViews(Projection):
    """Covenants, their evaluation records and notices, in three tables kept in step."""

    name = "covenants"
    source = "covenants"
    topics = topics_of(
        C.Created, C.CycleOpened, C.Reassigned, C.Expired, C.Closed,
        E.Opened, E.ValueSubmitted, E.Complied, E.Waived, E.MarkedOverdue, E.NoticeQueued,
        N.Queued, N.Sent, N.SendFailed,
    )  # fmt: skip
    tables = ("read.covenants", "read.covenant_evaluations", "read.covenant_notices")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.covenants (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            application_ref text NOT NULL,
            title text NOT NULL,
            type text NOT NULL,
            terms jsonb NOT NULL,
            frequency text NOT NULL,
            start_date date NOT NULL,
            first_due_date date NOT NULL,
            expiry_date date NOT NULL,
            grace_days int NOT NULL,
            lead_days int NOT NULL,
            assignee_id uuid,
            company text,
            status text NOT NULL,
            cycles int NOT NULL DEFAULT 0,
            next_due_date date,
            next_evaluation_date date,
            current_evaluation_id uuid,
            current_status text,
            current_due_date date,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS covenants_due_idx ON read.covenants (next_evaluation_date, id) WHERE status = 'active'",
        "CREATE INDEX IF NOT EXISTS covenants_brand_idx ON read.covenants (brand_id, coalesce(current_due_date, next_due_date), id)",
        "CREATE INDEX IF NOT EXISTS covenants_customer_idx ON read.covenants (brand_id, customer_id)",
        """CREATE TABLE IF NOT EXISTS read.covenant_evaluations (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            covenant_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            application_ref text NOT NULL,
            title text NOT NULL,
            type text NOT NULL,
            cycle int NOT NULL,
            due_date date NOT NULL,
            overdue_after date NOT NULL,
            notification_date date NOT NULL,
            expiry_date date NOT NULL,
            status text NOT NULL,
            value numeric,
            passed boolean,
            evidence text,
            reason text,
            reviewed_by text,
            reviewed_at timestamptz,
            reminder_notice_id uuid,
            overdue_notice_id uuid,
            opened_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (covenant_id, cycle)
        )""",
        "CREATE INDEX IF NOT EXISTS covenant_evals_open_idx ON read.covenant_evaluations (overdue_after, id) WHERE status = 'open'",
        "CREATE INDEX IF NOT EXISTS covenant_evals_remind_idx ON read.covenant_evaluations (notification_date, customer_id, application_ref, due_date) WHERE status = 'open' AND reminder_notice_id IS NULL",
        "CREATE INDEX IF NOT EXISTS covenant_evals_overdue_idx ON read.covenant_evaluations (brand_id, customer_id, application_ref, due_date) WHERE status = 'overdue' AND overdue_notice_id IS NULL",
        "CREATE INDEX IF NOT EXISTS covenant_evals_covenant_idx ON read.covenant_evaluations (covenant_id, cycle DESC)",
        "CREATE INDEX IF NOT EXISTS covenant_evals_brand_status_idx ON read.covenant_evaluations (brand_id, status)",
        """CREATE TABLE IF NOT EXISTS read.covenant_notices (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            kind text NOT NULL,
            customer_id uuid NOT NULL,
            application_ref text NOT NULL,
            recipient text NOT NULL,
            subject text NOT NULL,
            evaluation_ids uuid[] NOT NULL,
            as_of date NOT NULL,
            status text NOT NULL,
            message_id text,
            failures int NOT NULL DEFAULT 0,
            error text,
            queued_at timestamptz NOT NULL,
            sent_at timestamptz
        )""",
        "CREATE INDEX IF NOT EXISTS covenant_notices_pending_idx ON read.covenant_notices (queued_at, id) WHERE status = 'queued'",
        "CREATE INDEX IF NOT EXISTS covenant_notices_customer_idx ON read.covenant_notices (brand_id, customer_id, queued_at DESC)",
    )

    def __init__(self) -> None:
        self._rows = _BatchRows()

    def begin_batch(self) -> None:
        self._rows = _BatchRows()

    def end_batch(self) -> Iterable[Write]:
        return self._rows.flush()

    def project(self, position: int, event: Any) -> Iterable[Write]:
        """The writes of `event`: the bulk kinds (new covenants, opened cycles, new records) as rows of the batch's
        few multi-row statements, anything else as its own statements after the rows gathered so far."""
        rows = _BULK_ROWS.get(type(event))
        if rows is not None:
            return self._rows.add(rows[0], event.originator_id, rows[1](event))
        return [*self._rows.flush(), *self._writes(event)]

    def _writes(self, event: Any) -> Iterable[Write]:
        oid, at = event.originator_id, event.timestamp
        if isinstance(event, C.Reassigned):
            yield Write(
                "UPDATE read.covenants SET assignee_id = %s, updated_at = %s WHERE id = %s",
                (event.assignee_id, at, oid),
            )
        elif isinstance(event, C.Expired | C.Closed):
            status = "expired" if isinstance(event, C.Expired) else "closed"
            yield Write("UPDATE read.covenants SET status = %s, updated_at = %s WHERE id = %s", (status, at, oid))
        elif isinstance(event, E.ValueSubmitted):
            yield Write(
                "UPDATE read.covenant_evaluations SET value = %s, passed = %s, updated_at = %s WHERE id = %s",
                (event.value, event.passed, at, oid),
            )
        elif isinstance(event, E.Complied | E.Waived | E.MarkedOverdue):
            status = {E.Complied: "complied", E.Waived: "waived", E.MarkedOverdue: "overdue"}[type(event)]
            reviewed = not isinstance(event, E.MarkedOverdue)
            yield Write(
                "UPDATE read.covenant_evaluations SET status = %s, evidence = coalesce(%s, evidence), "
                "reason = coalesce(%s, reason), reviewed_by = CASE WHEN %s THEN %s ELSE reviewed_by END, "
                "reviewed_at = CASE WHEN %s THEN %s ELSE reviewed_at END, updated_at = %s WHERE id = %s",
                (status, getattr(event, "evidence", None), getattr(event, "reason", None), reviewed, event.actor,
                 reviewed, at, at, oid),
            )  # fmt: skip
            yield Write(
                "UPDATE read.covenants SET current_status = %s, updated_at = %s WHERE current_evaluation_id = %s",
                (status, at, oid),
            )
        elif isinstance(event, E.NoticeQueued):
            column = "reminder_notice_id" if event.kind is NoticeKind.REMINDER else "overdue_notice_id"
            yield Write(f"UPDATE read.covenant_evaluations SET {column} = %s WHERE id = %s", (event.notice_id, oid))
        elif isinstance(event, N.Queued):
            yield Write(
                "INSERT INTO read.covenant_notices (id, brand_id, kind, customer_id, application_ref, recipient, subject, "
                "evaluation_ids, as_of, status, queued_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'queued', %s) "
                "ON CONFLICT (id) DO NOTHING",
                (oid, event.brand_id, event.kind.value, event.customer_id, event.application_ref, event.recipient,
                 event.subject, list(event.evaluation_ids), event.as_of, at),
            )  # fmt: skip
        elif isinstance(event, N.Sent):
            yield Write(
                "UPDATE read.covenant_notices SET status = 'sent', message_id = %s, sent_at = %s, error = %s WHERE id = %s",
                (event.message_id, at, PRESUMED_NOTE if event.presumed else None, oid),
            )
        elif isinstance(event, N.SendFailed):
            yield Write(
                "UPDATE read.covenant_notices SET failures = failures + 1, error = %s WHERE id = %s", (event.error, oid)
            )


# The bulk kinds: a batch's rows of each go to the server as one statement over arrays (unnest), not a statement per
# event: a catch-up of the evaluation job's events was mostly statement overhead, on both sides. The arrays go in
# binary (%b): psycopg's text array dumper quotes element by element, ten times the cost.


@dataclass(frozen=True)
class _Bulk:
    """A multi-row statement over `table`: `sql` takes one array per column of the rows (see `_BatchRows.flush`)."""

    table: str
    sql: str


_COVENANT_ROWS = _Bulk(
    "read.covenants",
    "INSERT INTO read.covenants (id, brand_id, customer_id, application_ref, title, type, terms, frequency, start_date, "
    "first_due_date, expiry_date, grace_days, lead_days, assignee_id, company, status, next_due_date, "
    "next_evaluation_date, created_at, updated_at) "
    "SELECT id, brand_id, customer_id, application_ref, title, type, terms::jsonb, frequency, start_date, "
    "first_due_date, expiry_date, grace_days, lead_days, assignee_id, company, 'active', next_due_date, "
    "next_evaluation_date, at, at FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::date[], %b::date[], %b::date[], %b::int[], %b::int[], %b::uuid[], %b::text[], "
    "%b::date[], %b::date[], %b::timestamptz[]) AS v(id, brand_id, customer_id, application_ref, title, type, terms, "
    "frequency, start_date, first_due_date, expiry_date, grace_days, lead_days, assignee_id, company, next_due_date, "
    "next_evaluation_date, at) ON CONFLICT (id) DO NOTHING",
)
_CYCLE_ROWS = _Bulk(
    "read.covenants",
    "UPDATE read.covenants c SET cycles = v.cycle, next_due_date = v.next_due_date, "
    "next_evaluation_date = v.next_evaluation_date, current_evaluation_id = v.evaluation_id, current_status = 'open', "
    "current_due_date = v.due_date, updated_at = v.at "
    "FROM unnest(%b::uuid[], %b::int[], %b::date[], %b::date[], %b::uuid[], %b::date[], %b::timestamptz[]) "
    "AS v(id, cycle, next_due_date, next_evaluation_date, evaluation_id, due_date, at) WHERE c.id = v.id",
)
_RECORD_ROWS = _Bulk(
    "read.covenant_evaluations",
    "INSERT INTO read.covenant_evaluations (id, brand_id, covenant_id, customer_id, application_ref, title, type, "
    "cycle, due_date, overdue_after, notification_date, expiry_date, status, opened_at, updated_at) "
    "SELECT id, brand_id, covenant_id, customer_id, application_ref, title, type, cycle, due_date, "
    "due_date + grace_days, notification_date, expiry_date, 'open', at, at "
    "FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[], %b::int[], "
    "%b::date[], %b::int[], %b::date[], %b::date[], %b::timestamptz[]) AS v(id, brand_id, covenant_id, customer_id, "
    "application_ref, title, type, cycle, due_date, grace_days, notification_date, expiry_date, at) "
    "ON CONFLICT (id) DO NOTHING",
)


def _covenant_row(event: Any) -> tuple[Any, ...]:
    cal, terms = event.calendar, event.terms
    first_due = cal.due(1)
    return (event.originator_id, event.brand_id, event.customer_id, event.application_ref, event.title,
            terms.type.value, terms.model_dump_json(), cal.frequency.value, cal.start_date, cal.first_due_date,
            cal.expiry_date, cal.grace_days, cal.lead_days, event.assignee_id, event.company, first_due,
            cal.opens_on(first_due) if first_due else None, event.timestamp)  # fmt: skip


def _cycle_row(event: Any) -> tuple[Any, ...]:
    return (event.originator_id, event.cycle, event.next_due_date, event.next_evaluation_date, event.evaluation_id,
            event.due_date, event.timestamp)  # fmt: skip


def _record_row(event: Any) -> tuple[Any, ...]:
    return (event.originator_id, event.brand_id, event.covenant_id, event.customer_id, event.application_ref,
            event.title, event.terms.type.value, event.cycle, event.due_date, event.grace_days,
            event.notification_date, event.expiry_date, event.timestamp)  # fmt: skip


#: Event type -> (its multi-row statement, its row).
_BULK_ROWS: dict[type[Any], tuple[_Bulk, Any]] = {
    C.Created: (_COVENANT_ROWS, _covenant_row),
    C.CycleOpened: (_CYCLE_ROWS, _cycle_row),
    E.Opened: (_RECORD_ROWS, _record_row),
}


class _BatchRows:
    """The rows gathered for the bulk statements, written in the events' order where it matters.

    Rows of one statement go together, so a second row for the same read row (a covenant created and its first
    cycle opened in one batch, two cycles opened at once) first writes out everything gathered; so does any event
    of another kind, before its own writes. What is gathered at once touches distinct read rows, in any order.
    """

    def __init__(self) -> None:
        self.rows: dict[_Bulk, list[tuple[Any, ...]]] = {}
        self.touched: set[tuple[str, UUID]] = set()

    def add(self, bulk: _Bulk, key: UUID, row: tuple[Any, ...]) -> list[Write]:
        """Gather `row` for `bulk`; the writes that must go first (none unless its read row was touched already)."""
        touched = (bulk.table, key)
        written = self.flush() if touched in self.touched else []
        self.touched.add(touched)
        self.rows.setdefault(bulk, []).append(row)
        return written

    def flush(self) -> list[Write]:
        """One write per bulk statement with rows gathered, columns as arrays; nothing is gathered afterwards."""
        writes = [Write(bulk.sql, tuple(list(column) for column in zip(*rows, strict=True)))
                  for bulk, rows in self.rows.items()]  # fmt: skip
        self.rows = {}
        self.touched = set()
        return writes


# Queries ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CovenantRow:
    """A covenant in the worklist."""

    id: UUID
    customer_id: UUID
    customer_name: str | None
    application_ref: str
    title: str
    type: str
    terms: dict[str, Any]
    frequency: str
    start_date: date
    first_due_date: date
    expiry_date: date
    grace_days: int
    lead_days: int
    assignee_id: UUID | None
    company: str | None
    status: str
    cycles: int
    next_due_date: date | None
    next_evaluation_date: date | None
    current_evaluation_id: UUID | None
    current_status: str | None
    current_due_date: date | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EvaluationRow:
    """One cycle's evaluation record."""

    id: UUID
    covenant_id: UUID
    customer_id: UUID
    application_ref: str
    title: str
    type: str
    cycle: int
    due_date: date
    overdue_after: date
    notification_date: date
    status: str
    value: Decimal | None
    passed: bool | None
    evidence: str | None
    reason: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    reminder_notice_id: UUID | None
    overdue_notice_id: UUID | None
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NoticeGroup:
    """Records of one borrower and application due the same day that owe the same kind of notice."""

    brand_id: UUID
    customer_id: UUID
    application_ref: str
    due_date: date
    recipient: str | None
    customer_name: str
    evaluation_ids: list[UUID]


_COVENANT_COLUMNS = (
    "c.id, c.customer_id, cu.name AS customer_name, c.application_ref, c.title, c.type, c.terms, c.frequency, "
    "c.start_date, c.first_due_date, c.expiry_date, c.grace_days, c.lead_days, c.assignee_id, c.company, c.status, "
    "c.cycles, c.next_due_date, c.next_evaluation_date, c.current_evaluation_id, c.current_status, c.current_due_date, "
    "c.created_at, c.updated_at"
)
_EVALUATION_COLUMNS = (
    "id, covenant_id, customer_id, application_ref, title, type, cycle, due_date, overdue_after, notification_date, "
    "status, value, passed, evidence, reason, reviewed_by, reviewed_at, reminder_notice_id, overdue_notice_id, "
    "opened_at, updated_at"
)
COVENANT_STATUSES = frozenset({"active", "expired", "closed"})
EVALUATION_STATUSES = frozenset({"open", "complied", "waived", "overdue"})


def _job_filters(filters: dict[str, str], prefix: str = "c.") -> tuple[list[str], dict[str, Any]]:
    where, params = [], {}
    for key in ("company", "type", "frequency"):
        if filters.get(key):
            where.append(f"{prefix}{key} = %(f_{key})s")
            params[f"f_{key}"] = filters[key]
    return where, params


class CovenantQueries:
    """Brand-scoped covenant queries, and the feeds the covenant jobs read."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def worklist(
        self,
        brand_id: UUID,
        *,
        status: str | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
        customer_id: UUID | None = None,
        type: str | None = None,
        assignee_id: UUID | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Covenants by current due date (then id); `status` is a covenant status or the current record's status."""
        due = "coalesce(c.current_due_date, c.next_due_date)"
        where = ["c.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if status in COVENANT_STATUSES:
            where.append("c.status = %(status)s")
            params["status"] = status
        elif status in EVALUATION_STATUSES:
            where.append("c.current_status = %(status)s")
            params["status"] = status
        for column, value in (("customer_id", customer_id), ("type", type), ("assignee_id", assignee_id)):
            if value is not None:
                where.append(f"c.{column} = %({column})s")
                params[column] = value
        if due_from is not None:
            where.append(f"{due} >= %(due_from)s")
            params["due_from"] = due_from
        if due_to is not None:
            where.append(f"{due} <= %(due_to)s")
            params["due_to"] = due_to
        if cursor:
            last_due, last_id = WORKLIST_CURSOR.decode(cursor)
            where.append(f"({due}, c.id) > (%(c_due)s::date, %(c_id)s::uuid)")
            params.update(c_due=last_due, c_id=last_id)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COVENANT_COLUMNS}, {due} AS sort_due FROM read.covenants c "
                "LEFT JOIN read.customers cu ON cu.id = c.customer_id "
                f"WHERE {' AND '.join(where)} ORDER BY {due} NULLS LAST, c.id LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows and rows[-1]["sort_due"] is not None:
            next_cursor = WORKLIST_CURSOR.encode(rows[-1]["sort_due"], rows[-1]["id"])
        return Page(
            items=[CovenantRow(**{k: v for k, v in r.items() if k != "sort_due"}) for r in rows],
            next_cursor=next_cursor,
        )

    def covenant(self, brand_id: UUID, covenant_id: UUID) -> CovenantRow | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COVENANT_COLUMNS} FROM read.covenants c LEFT JOIN read.customers cu ON cu.id = c.customer_id "
                "WHERE c.id = %s AND c.brand_id = %s",
                (covenant_id, brand_id),
            ).fetchone()
        return CovenantRow(**row) if row else None

    def evaluations(self, brand_id: UUID, covenant_id: UUID) -> list[EvaluationRow]:
        """Evaluation history of a covenant, newest cycle first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_EVALUATION_COLUMNS} FROM read.covenant_evaluations WHERE brand_id = %s AND covenant_id = %s "
                "ORDER BY cycle DESC",
                (brand_id, covenant_id),
            ).fetchall()
        return [EvaluationRow(**r) for r in rows]

    def evaluation(self, brand_id: UUID, evaluation_id: UUID) -> EvaluationRow | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_EVALUATION_COLUMNS} FROM read.covenant_evaluations WHERE brand_id = %s AND id = %s",
                (brand_id, evaluation_id),
            ).fetchone()
        return EvaluationRow(**row) if row else None

    def counts(self, brand_id: UUID) -> dict[str, int]:
        """Dashboard figures: records by status and active covenants."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT status, count(*) AS n FROM read.covenant_evaluations WHERE brand_id = %s GROUP BY status",
                (brand_id,),
            ).fetchall()
            active = conn.execute(
                "SELECT count(*) AS n FROM read.covenants WHERE brand_id = %s AND status = 'active'", (brand_id,)
            ).fetchone()
        counts = {status: 0 for status in sorted(EVALUATION_STATUSES)}
        counts.update({r["status"]: r["n"] for r in rows})
        counts["active_covenants"] = active["n"] if active else 0
        return counts

    def notices(self, brand_id: UUID, customer_id: UUID | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Notices newest first (optionally of one borrower)."""
        where, params = ["brand_id = %s"], [brand_id]
        if customer_id is not None:
            where.append("customer_id = %s")
            params.append(customer_id)
        with self.pool.connection() as conn:
            return list(
                conn.execute(
                    "SELECT id, kind, recipient, subject, evaluation_ids, as_of, status, failures, error, queued_at, sent_at "
                    f"FROM read.covenant_notices WHERE {' AND '.join(where)} ORDER BY queued_at DESC LIMIT %s",
                    (*params, limit),
                ).fetchall()
            )

    # Job feeds (workers only; brand comes from the run) ----------------------------------------------------

    def due_covenants(
        self, brand_id: UUID, as_of: date, filters: dict[str, str], after: UUID | None, limit: int
    ) -> list[UUID]:
        """Active covenants whose next evaluation date has come, by id (keyset)."""
        extra, params = _job_filters(filters)
        # Due for a new cycle, or past expiry with no cycle left (so the job can mark it expired).
        due = "(c.next_evaluation_date <= %(as_of)s OR (c.next_evaluation_date IS NULL AND c.expiry_date < %(as_of)s))"
        where = ["c.brand_id = %(brand)s", "c.status = 'active'", due, *extra]
        if after is not None:
            where.append("c.id > %(after)s")
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT c.id FROM read.covenants c WHERE {' AND '.join(where)} ORDER BY c.id LIMIT %(limit)s",
                {"brand": brand_id, "as_of": as_of, "after": after, "limit": limit, **params},
            ).fetchall()
        return [r["id"] for r in rows]

    def overdue_candidates(
        self, brand_id: UUID, as_of: date, filters: dict[str, str], after: UUID | None, limit: int
    ) -> list[UUID]:
        """Open records past due date plus grace, by id (keyset)."""
        extra, params = _job_filters(filters)
        where = ["e.brand_id = %(brand)s", "e.status = 'open'", "e.overdue_after < %(as_of)s", *extra]
        if after is not None:
            where.append("e.id > %(after)s")
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT e.id FROM read.covenant_evaluations e JOIN read.covenants c ON c.id = e.covenant_id "
                f"WHERE {' AND '.join(where)} ORDER BY e.id LIMIT %(limit)s",
                {"brand": brand_id, "as_of": as_of, "after": after, "limit": limit, **params},
            ).fetchall()
        return [r["id"] for r in rows]

    def notice_groups(
        self,
        brand_id: UUID,
        kind: NoticeKind,
        as_of: date,
        filters: dict[str, str],
        after: tuple[Any, ...] | None,
        limit: int,
        overdue_by_then: bool = False,
    ) -> list[NoticeGroup]:
        """Records owing a notice, grouped by borrower, application and due date (keyset on the group).

        `overdue_by_then` (dry runs, which mark nothing): an open record past its due date and grace by `as_of`
        owes an overdue notice too.
        """
        extra, params = _job_filters(filters)
        if kind is NoticeKind.REMINDER:
            where = [
                "e.status = 'open'", "e.reminder_notice_id IS NULL", "e.notification_date = %(as_of)s",
                "e.notification_date < e.expiry_date", "c.status = 'active'",
            ]  # fmt: skip
        else:
            overdue = "(e.status = 'overdue' OR (e.status = 'open' AND e.overdue_after < %(as_of)s))"
            where = [overdue if overdue_by_then else "e.status = 'overdue'", "e.overdue_notice_id IS NULL"]
        where += ["e.brand_id = %(brand)s", *extra]
        if after is not None:
            where.append("(e.customer_id, e.application_ref, e.due_date) > (%(a_cust)s, %(a_app)s, %(a_due)s)")
            params.update(a_cust=after[0], a_app=after[1], a_due=after[2])
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT e.customer_id, e.application_ref, e.due_date, cu.email, cu.name, array_agg(e.id ORDER BY e.title) AS ids "
                "FROM read.covenant_evaluations e JOIN read.covenants c ON c.id = e.covenant_id "
                "LEFT JOIN read.customers cu ON cu.id = e.customer_id "
                f"WHERE {' AND '.join(where)} GROUP BY e.customer_id, e.application_ref, e.due_date, cu.email, cu.name "
                "ORDER BY e.customer_id, e.application_ref, e.due_date LIMIT %(limit)s",
                {"brand": brand_id, "as_of": as_of, "limit": limit, **params},
            ).fetchall()
        return [
            NoticeGroup(
                brand_id,
                r["customer_id"],
                r["application_ref"],
                r["due_date"],
                r["email"],
                r["name"] or "Customer",
                list(r["ids"]),
            )
            for r in rows
        ]

    def customer_names(self, brand_id: UUID, customer_ids: Iterable[UUID]) -> dict[UUID, str]:
        """Borrowers' names by id, for addressing a page of notices (missing ids are left out)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, name FROM read.customers WHERE brand_id = %s AND id = ANY(%s)",
                (brand_id, list(customer_ids)),
            ).fetchall()
        return {r["id"]: r["name"] for r in rows}

    def pending_notices(
        self, brand_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[tuple[datetime, UUID]]:
        """Notices queued but not yet accepted by the mail server, oldest first (keyset on queued_at, id)."""
        where = "brand_id = %s AND status = 'queued'"
        params: list[Any] = [brand_id]
        if after is not None:
            where += " AND (queued_at, id) > (%s, %s)"
            params += [after[0], after[1]]
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT queued_at, id FROM read.covenant_notices WHERE {where} ORDER BY queued_at, id LIMIT %s",
                (*params, limit),
            ).fetchall()
        return [(r["queued_at"], r["id"]) for r in rows]
