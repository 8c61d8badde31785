"""Read model of borrowers' callback requests: one row per request (`read.callback_requests`), the staff queue
(brand-scoped, by status and assignee, by when to call in keyset pages), a borrower's open request for Customer 360;
and the look-ups the callbacks context's parties make over other read models (who a borrower's open application or
loan is assigned to)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.callbacks.application import Callbacks
from domain.callbacks.notices import ASSIGNED, DUE
from domain.callbacks.request import CallbackRequest, CallbackSource
from domain.identity.permissions import Permission
from domain.loans.states import CLOSED
from projections.identity import holds_sql
from projections.keyset import KeysetCursor, Page
from projections.projection import Change, Insert, Projection, Write, handles

#: The queue is listed by when to call: a follow-up by when it is due, a fresh ask by when it was made - open and
#: closed requests alike - then by id; (that instant, id) is its keyset.
QUEUE_KEY = "coalesce(due_at, requested_at)"
QUEUE_CURSOR = KeysetCursor(datetime, UUID, name="callbacks.queue", order=2)
#: `assigned_to` of the queue: nobody yet.
UNASSIGNED = "unassigned"
#: The staff notices waiting to be pushed, and their kinds: a request reached its holder; a follow-up fell due.
NOTICE_QUEUE = "read.callback_notice_queue"

R = CallbackRequest


class CallbackView(Projection):
    """read.callback_requests: one row per request."""

    name = "callbacks"
    source = Callbacks.name
    tables = ("read.callback_requests", "read.callback_notice_queue")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.callback_requests (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            borrower_id uuid NOT NULL,
            customer_id uuid,
            phone text NOT NULL,
            loan_id uuid,
            loan_number text,
            time_window text NOT NULL,
            note text NOT NULL,
            assignee_id uuid,
            source text NOT NULL,
            status text NOT NULL,
            requested_at timestamptz NOT NULL,
            outcome text,
            remarks text,
            call_id uuid,
            responded_by text,
            responded_at timestamptz
        )""",
        # A follow-up's time to call and the request it follows; a response's time to call again and its follow-up.
        "ALTER TABLE read.callback_requests ADD COLUMN IF NOT EXISTS due_at timestamptz, "
        "ADD COLUMN IF NOT EXISTS follows_id uuid, ADD COLUMN IF NOT EXISTS callback_at timestamptz, "
        "ADD COLUMN IF NOT EXISTS follow_up_id uuid",
        # The queue's key, `QUEUE_KEY`: when to call - a follow-up by when it is due, a fresh ask by when it was made.
        # An expression index per filter, so nothing is added to the rows and a database made before it gets the
        # indexes at the next start (setup runs this DDL); the indexes of the earlier key, by requested_at, go.
        *(
            f"DROP INDEX IF EXISTS read.callback_requests_{old}_idx"
            for old in ("queue", "assignee", "all", "assignee_all", "unassigned", "unassigned_all")
        ),
        "CREATE INDEX IF NOT EXISTS callback_requests_queue_due_idx ON read.callback_requests "
        f"(brand_id, status, ({QUEUE_KEY}), id)",
        "CREATE INDEX IF NOT EXISTS callback_requests_assignee_due_idx ON read.callback_requests "
        f"(brand_id, assignee_id, status, ({QUEUE_KEY}), id)",
        f"CREATE INDEX IF NOT EXISTS callback_requests_all_due_idx ON read.callback_requests (brand_id, ({QUEUE_KEY}), id)",
        # Every status of one staff member's (their history grows for ever), and nobody's: `assignee_id IS NULL`
        # is no equality to the planner, so the indexes above cannot give its rows in the queue's order.
        "CREATE INDEX IF NOT EXISTS callback_requests_assignee_all_due_idx ON read.callback_requests "
        f"(brand_id, assignee_id, ({QUEUE_KEY}), id)",
        "CREATE INDEX IF NOT EXISTS callback_requests_unassigned_due_idx ON read.callback_requests "
        f"(brand_id, status, ({QUEUE_KEY}), id) WHERE assignee_id IS NULL",
        "CREATE INDEX IF NOT EXISTS callback_requests_unassigned_all_due_idx ON read.callback_requests "
        f"(brand_id, ({QUEUE_KEY}), id) WHERE assignee_id IS NULL",
        "CREATE INDEX IF NOT EXISTS callback_requests_customer_idx ON read.callback_requests "
        "(brand_id, customer_id, requested_at DESC) WHERE customer_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS callback_requests_borrower_idx ON read.callback_requests "
        "(brand_id, borrower_id, requested_at DESC)",
        # The staff notices to push (workers/callback_jobs.py): `assigned` - a request reached its holder (a fresh
        # ask when made, any request when moved to a new holder; not a follow-up when opened, its holder promised
        # it) - and `due` - a follow-up's time to call came (`not_before` its due_at). One row per request and
        # kind: a move hands a pending row to the new holder, an answer takes the request's rows off.
        """CREATE TABLE IF NOT EXISTS read.callback_notice_queue (
            request_id uuid NOT NULL,
            kind text NOT NULL,
            brand_id uuid NOT NULL,
            assignee_id uuid NOT NULL,
            not_before timestamptz NOT NULL,
            PRIMARY KEY (request_id, kind)
        )""",
        "CREATE INDEX IF NOT EXISTS callback_notice_queue_due_idx ON read.callback_notice_queue (not_before)",
    )

    @handles(R.Requested)
    def _requested(self, position: int, event: R.Requested) -> Iterable[Change]:
        yield Insert(
            "read.callback_requests",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "borrower_id": event.borrower_id,
                "customer_id": event.customer_id,
                "phone": event.phone,
                "loan_id": event.loan_id,
                "loan_number": event.loan_number,
                "time_window": event.window.value,
                "note": event.note,
                "assignee_id": event.assignee_id,
                "source": event.source.value,
                "status": "open",
                "requested_at": event.timestamp,
                "due_at": event.due_at,
                "follows_id": event.follows_id,
            },
        )
        if event.assignee_id is None:
            return
        notice = {"request_id": event.originator_id, "brand_id": event.brand_id, "assignee_id": event.assignee_id}
        if event.source is not CallbackSource.FOLLOW_UP:  # a follow-up's holder promised the call: no news to them
            yield Insert(NOTICE_QUEUE, {**notice, "kind": ASSIGNED, "not_before": event.timestamp})
        if event.due_at is not None:
            yield Insert(NOTICE_QUEUE, {**notice, "kind": DUE, "not_before": event.due_at})

    @handles(R.Reassigned)
    def _reassigned(self, position: int, event: R.Reassigned) -> Iterable[Change]:
        yield Write(
            "UPDATE read.callback_requests SET assignee_id = %s WHERE id = %s", (event.assignee_id, event.originator_id)
        )
        if event.assignee_id is None:  # moved to nobody (a case closed): nobody to tell, not the one who had it
            yield Write(f"DELETE FROM {NOTICE_QUEUE} WHERE request_id = %s", (event.originator_id,))
            return
        yield Write(
            f"INSERT INTO {NOTICE_QUEUE} (request_id, kind, brand_id, assignee_id, not_before) "
            "SELECT id, %s, brand_id, %s, %s FROM read.callback_requests WHERE id = %s "
            "ON CONFLICT (request_id, kind) DO UPDATE SET assignee_id = EXCLUDED.assignee_id, "
            "not_before = EXCLUDED.not_before",
            (ASSIGNED, event.assignee_id, event.timestamp, event.originator_id),
        )
        yield Write(  # a follow-up not yet pushed as due: its due notice goes to the new holder
            f"UPDATE {NOTICE_QUEUE} SET assignee_id = %s WHERE request_id = %s AND kind = %s",
            (event.assignee_id, event.originator_id, DUE),
        )
        yield Write(  # one not yet due that was with nobody (its row went): queued again for the new holder
            f"INSERT INTO {NOTICE_QUEUE} (request_id, kind, brand_id, assignee_id, not_before) "
            "SELECT id, %s, brand_id, %s, due_at FROM read.callback_requests WHERE id = %s AND due_at > %s "
            "AND status = 'open' ON CONFLICT (request_id, kind) DO NOTHING",
            (DUE, event.assignee_id, event.originator_id, event.timestamp),
        )

    @handles(R.Responded)
    def _responded(self, position: int, event: R.Responded) -> Iterable[Change]:
        yield Write(
            "UPDATE read.callback_requests SET status = 'closed', outcome = %s, remarks = %s, call_id = %s, "
            "responded_by = %s, responded_at = %s, callback_at = %s, follow_up_id = %s WHERE id = %s",
            (event.outcome.value, event.remarks, event.call_id, event.responder, event.responded_at,
             event.callback_at, event.follow_up_id, event.originator_id),
        )  # fmt: skip
        yield Write(f"DELETE FROM {NOTICE_QUEUE} WHERE request_id = %s", (event.originator_id,))


@dataclass(frozen=True)
class CallbackRow:
    """A callback request as the queue shows it: the borrower (current name), what they asked (a follow-up: when to
    call, `due_at`, and the request it follows), who has it, and how it was answered once closed (`responded_by` the
    actor, ``staff:<id>`` or ``apikey:<id>``; outcome callback_requested: `callback_at` and its `follow_up_id`)."""

    id: UUID
    borrower_id: UUID
    customer_id: UUID | None
    borrower_name: str | None
    phone: str
    loan_id: UUID | None
    loan_number: str | None
    window: str
    note: str
    assignee_id: UUID | None
    assignee_name: str | None
    source: str
    status: str
    requested_at: datetime
    outcome: str | None
    remarks: str | None
    call_id: UUID | None
    responded_by: str | None
    responded_at: datetime | None
    due_at: datetime | None = None
    follows_id: UUID | None = None
    callback_at: datetime | None = None
    follow_up_id: UUID | None = None


_SELECT = (
    "SELECT r.id, r.borrower_id, r.customer_id, c.name AS borrower_name, r.phone, r.loan_id, r.loan_number, "
    "r.time_window AS window, r.note, r.assignee_id, s.name AS assignee_name, r.source, r.status, r.requested_at, "
    "r.outcome, r.remarks, r.call_id, r.responded_by, r.responded_at, r.due_at, r.follows_id, r.callback_at, "
    "r.follow_up_id FROM read.callback_requests r "
    "LEFT JOIN read.customers c ON c.id = r.customer_id AND c.brand_id = r.brand_id "
    "LEFT JOIN read.staff s ON s.id = r.assignee_id AND s.brand_id = r.brand_id"
)


class CallbackQueries:
    """Brand-scoped queries of callback requests."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def request(self, brand_id: UUID, request_id: UUID) -> CallbackRow | None:
        """One request of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_SELECT} WHERE r.id = %s AND r.brand_id = %s", (request_id, brand_id)).fetchone()
        return CallbackRow(**row) if row else None

    def queue(
        self,
        brand_id: UUID,
        status: str | None,
        assigned_to: UUID | str | None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Requests by when to call (`QUEUE_KEY`: a follow-up's `due_at`, else `requested_at`), earliest first;
        `status` open or closed (None: both); `assigned_to` a staff id, UNASSIGNED, or None (anyone's)."""
        page_scope = (brand_id, status, assigned_to)  # the filters its cursor is bound to
        where = ["r.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if status is not None:
            where.append("r.status = %(status)s")
            params["status"] = status
        if assigned_to == UNASSIGNED:
            where.append("r.assignee_id IS NULL")
        elif assigned_to is not None:
            where.append("r.assignee_id = %(assignee)s")
            params["assignee"] = assigned_to
        key = "coalesce(r.due_at, r.requested_at)"  # QUEUE_KEY, as its indexes have it
        if cursor:
            at, last = QUEUE_CURSOR.decode(cursor, page_scope)
            where.append(f"({key}, r.id) > (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY {key}, r.id LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        last_row = rows[-1] if rows else None
        next_cursor = (
            QUEUE_CURSOR.encode(last_row["due_at"] or last_row["requested_at"], last_row["id"], scope=page_scope)
            if more and last_row
            else None
        )
        return Page(items=[CallbackRow(**r) for r in rows], next_cursor=next_cursor)

    def open_for_customer(self, brand_id: UUID, customer_id: UUID) -> CallbackRow | None:
        """The borrower's open request (Customer 360), if any."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"{_SELECT} WHERE r.brand_id = %s AND r.customer_id = %s AND r.status = 'open' "
                "ORDER BY r.requested_at DESC LIMIT 1",
                (brand_id, customer_id),
            ).fetchone()
        return CallbackRow(**row) if row else None

    def of_borrower(self, brand_id: UUID, borrower_id: UUID, limit: int = 20) -> list[CallbackRow]:
        """The borrower's own requests, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE r.brand_id = %s AND r.borrower_id = %s ORDER BY r.requested_at DESC, r.id LIMIT %s",
                (brand_id, borrower_id, limit),
            ).fetchall()
        return [CallbackRow(**r) for r in rows]

    def open_count(self, brand_id: UUID, assignee_id: UUID | None = None) -> int:
        """How many requests of the brand are open (assigned to `assignee_id` when given)."""
        sql = "SELECT count(*) AS n FROM read.callback_requests WHERE brand_id = %s AND status = 'open'"
        params: tuple[Any, ...] = (brand_id,)
        if assignee_id is not None:
            sql += " AND assignee_id = %s"
            params += (assignee_id,)
        with self.pool.connection() as conn:
            return int(conn.execute(sql, params).fetchone()["n"])


class CallbackLookups:
    """What the callbacks context's parties read from other contexts' read models."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def assignee(self, brand_id: UUID, customer_id: UUID, loan_id: UUID | None) -> UUID | None:
        """Who the borrower's open application or loan is assigned to: the collection executive of an open
        collection case, else the loan's assignee (the CX); the named loan first, else the latest changed."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT ({holder_sql('%s', '%s', '%s')}) AS who", (brand_id, customer_id, loan_id)
            ).fetchone()
        return row["who"] if row else None

    def may_hold(self, brand_id: UUID, staff_id: UUID) -> bool:
        """Whether the staff member may hold the brand's callback requests (`departed_sql`: not disabled, holding
        CALLBACKS at WRITE; no staff record in the brand: may)."""
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT NOT {departed_sql('%s', '%s')} AS may", (staff_id, brand_id)).fetchone()
        return bool(row["may"])


#: The statuses of an application or loan that is no one's work any more (inlined: fixed enum values).
_CLOSED_STATUSES = "ARRAY[" + ", ".join(f"'{s.value}'" for s in sorted(CLOSED)) + "]"


#: Why a holder who left no longer holds their requests (`Reassigned.reason`, cause holder_departed).
DISABLED = "staff member disabled"
NO_CALLBACKS = "staff member no longer holds CALLBACKS at WRITE"


def may_hold_sql(staff: str) -> str:
    """Whether the `read.staff` row `staff` (an alias) may hold callback requests: enabled and holding CALLBACKS at
    WRITE - a per-user override (`NONE`, `READ`, `WRITE`, `ALL`) replacing its roles' default, as
    `projections.identity.row_grants` reads it (`holds_sql`)."""
    return holds_sql(staff, Permission.CALLBACKS)


def departed_sql(holder: str, brand: str) -> str:
    """Whether the staff member `holder` has left `brand`'s callbacks (an SQL condition): their staff record in the
    brand is disabled or holds CALLBACKS below WRITE (a role or an override taken away). Only the brand's own record
    counts; someone with none there (another brand's id, a new hire the read model has not shown) has not left.
    Each argument is an SQL expression: a placeholder or a column."""
    return (
        f"EXISTS (SELECT FROM read.staff ds WHERE ds.id = {holder} AND ds.brand_id = {brand} "
        f"AND NOT {may_hold_sql('ds')})"
    )


def departure_reason_sql(staff: str) -> str:
    """Why the `read.staff` row `staff`, departed, left: `DISABLED` or `NO_CALLBACKS`."""
    return f"CASE WHEN NOT {staff}.enabled THEN '{DISABLED}' ELSE '{NO_CALLBACKS}' END"


def holder_sql(brand: str, customer: str, named: str) -> str:
    """The routing rule as a scalar subquery (one place for a request being made, a case closing, a follow-up and a
    holder leaving): who holds the borrower `customer` of `brand` - over their open applications and loans, the
    named loan `named` first, else the latest changed, the executive of an open collection case before the loan's
    assignee (the CX), skipping one who left (`departed_sql`); NULL when nobody. Each argument is an SQL expression:
    a placeholder or a column."""
    return (
        "SELECT hw.who FROM read.loans hl "
        "LEFT JOIN read.collection_cases cc ON cc.loan_id = hl.id AND cc.brand_id = hl.brand_id AND cc.open "
        "CROSS JOIN LATERAL (SELECT v.who FROM (VALUES (1, cc.assignee), (2, hl.assignee)) AS v(rank, who) "
        f"WHERE v.who IS NOT NULL AND NOT {departed_sql('v.who', 'hl.brand_id')} ORDER BY v.rank LIMIT 1) hw "
        f"WHERE hl.brand_id = {brand} AND hl.customer_id = {customer} AND hl.status <> ALL({_CLOSED_STATUSES}) "
        f"ORDER BY (hl.id = {named}) IS TRUE DESC, hl.updated_at DESC, hl.id LIMIT 1"
    )
