"""Typed queries of the collections read models: the worklist (what needs attention first - a callback due, a
broken promise - then DPD, then amount), a loan's case with its contacts, promises and allocation history, and the
open cases the reallocation and the sweep start from. Every query takes the caller's brand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.collections.application import OpenCase
from domain.collections.case import Stage
from projections.keyset import Int4, KeysetCursor, Page

#: (segment, attention instant, DPD, amount, loan): segment 0 needs attention now, segment 1 the rest.
WORKLIST_CURSOR = KeysetCursor(Int4, datetime, Int4, Decimal, UUID, name="collections.worklist")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WorkItem:
    """A loan on a worklist, with what to do next."""

    loan_id: UUID
    loan_number: str | None
    customer_id: UUID | None
    customer_name: str | None
    stage: str | None  # None only for a case opened by a contact before any sweep put the loan in a stage
    assignee: UUID | None
    dpd: int
    amount: Decimal
    due_on: date | None
    legal: bool
    attention_at: datetime | None
    callback_at: datetime | None
    last_contact_at: datetime | None
    last_outcome: str | None
    contacts: int
    ptp_due_on: date | None
    ptp_amount: Decimal | None
    ptp_status: str | None
    next_action: str


@dataclass(frozen=True)
class CaseView(WorkItem):
    """A loan's case: its worklist item, whether it is open and why it closed."""

    open: bool
    closed_reason: str | None
    opened_at: datetime | None


@dataclass(frozen=True)
class ContactRow:
    """A contact as the loan's panel lists it."""

    contact_id: UUID
    outcome: str
    remarks: str
    callback_at: datetime | None
    channel: str
    staff_id: UUID | None
    call: dict[str, Any] | None
    evidence: list[UUID]
    actor: str
    at: datetime


@dataclass(frozen=True)
class PtpRow:
    """A promise to pay and how it was judged."""

    ptp_id: UUID
    staff_id: UUID | None
    due_on: date
    amount: Decimal
    made_on: date
    status: str
    paid: Decimal
    judged_on: date | None
    at: datetime


@dataclass(frozen=True)
class AllocationRow:
    """One move of a loan between executives."""

    staff_id: UUID | None
    previous: UUID | None
    stage: str | None
    kind: str
    business_date: date
    actor: str
    at: datetime
    reason: str | None = None  # why: "close of business", "executive disabled", "reallocated by a manager"


def next_action(row: dict[str, Any], now: datetime) -> str:
    """What the executive should do next with the loan."""
    if row["attention_at"] is not None and row["attention_at"] <= now:
        # what is due now: a callback whose time has come, else a broken promise (a callback still ahead waits)
        if row["callback_at"] is not None and row["callback_at"] <= now:
            return "call back (requested)"
        if row["ptp_status"] == "broken":
            return "promise broken: call again"
    if row["ptp_status"] == "open":
        return f"follow up the promise due {row['ptp_due_on'].isoformat()}"
    if row["callback_at"] is not None:
        return f"call back at {row['callback_at'].isoformat()}"
    if row["stage"] == Stage.PRE:
        return "reminder call before the due date"
    if row["stage"] == Stage.POST:
        return "recovery follow-up (settlement, legal)"
    return "call the borrower" if not row["contacts"] else "call again"


_CASE_COLUMNS = (
    "c.stage, c.assignee, c.dpd, c.amount, c.due_on, c.legal, c.attention_at, c.callback_at, c.last_contact_at, "
    "c.last_outcome, c.contacts, c.ptp_due_on, c.ptp_amount, c.ptp_status"
)
#: A worklist row reads the case table alone: the loan number and borrower are copied onto the case by the projection
#: (the borrower's current name is read for the page's rows after it: `_current_names`).
_WORK_COLUMNS = f"c.loan_id, c.loan_number, c.customer_id, c.customer_name, {_CASE_COLUMNS}"
#: One case (the loan's panel) joins the loan and borrower for their current figures.
_COLUMNS = (
    "c.loan_id, coalesce(l.loan_number, c.loan_number) AS loan_number, coalesce(l.customer_id, c.customer_id) "
    f"AS customer_id, coalesce(cu.name, c.customer_name) AS customer_name, {_CASE_COLUMNS}"
)
_FROM = (
    "FROM read.collection_cases c LEFT JOIN read.loans l ON l.id = c.loan_id "
    "LEFT JOIN read.customers cu ON cu.id = coalesce(l.customer_id, c.customer_id)"
)


def _current_names(conn: Any, brand_id: UUID, rows: list[dict[str, Any]]) -> dict[UUID, str]:
    """The current names of a page's borrowers (customer directory, by id: one index probe a row of the page, not a
    join per case read). A name copied onto the case when it was written went stale on a rename, and a rebuilt
    projection copied the name of the day instead: the case table holds no name now (docs/collections.md)."""
    ids = list({r["customer_id"] for r in rows if r["customer_id"] is not None})
    if not ids:
        return {}
    found = conn.execute(
        "SELECT id, name FROM read.customers WHERE id = ANY(%s) AND brand_id = %s", (ids, brand_id)
    ).fetchall()
    return {r["id"]: r["name"] for r in found}


def _item(row: dict[str, Any], now: datetime) -> WorkItem:
    fields = {k: v for k, v in row.items() if k != "segment"}
    return WorkItem(**fields, next_action=next_action(row, now))


class CollectionQueries:
    """Worklists, cases and their history."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def worklist(
        self,
        brand_id: UUID,
        stage: Stage,
        assignee: UUID | None,
        now: datetime,
        cursor: str | None = None,
        limit: int = 50,
        unassigned: bool = False,
        assignees: Sequence[UUID] | None = None,
    ) -> Page:
        """Open cases of `stage` (of one assignee, the unassigned ones, those of `assignees` - a manager's team - or
        all): those needing attention now first (oldest first), then by DPD and amount, highest first."""
        page_scope = (
            brand_id,
            stage,
            assignee,
            unassigned,
            None if assignees is None else sorted(map(str, assignees)),
        )  # the filters its cursor is bound to
        segment, at, dpd, amount, last = (
            WORKLIST_CURSOR.decode(cursor, page_scope) if cursor else (0, _EPOCH, 0, Decimal(0), None)
        )
        where = "c.brand_id = %(brand)s AND c.stage = %(stage)s AND c.open"
        params: dict[str, Any] = {"brand": brand_id, "stage": stage.value, "now": now, "limit": limit + 1}
        if assignee is not None:
            where += " AND c.assignee = %(assignee)s"
            params["assignee"] = assignee
        elif unassigned:
            where += " AND c.assignee IS NULL"
        elif assignees is not None:
            where += " AND c.assignee = ANY(%(assignees)s)"
            params["assignees"] = list(assignees)
        # Each part is one range of one partial index, read in its order and cut by LIMIT, from the case table alone:
        # what needs attention now (collection_attention_idx, by attention instant; a callback whose time has come
        # is in it at once, no job has to move it), then the rest (collection_worklist_idx by executive,
        # collection_stage_idx for everyone's; by DPD, amount, loan, highest first).
        rest = (
            f"SELECT {_WORK_COLUMNS}, 1 AS segment FROM read.collection_cases c WHERE {where} AND (c.attention_at IS "
            "NULL OR c.attention_at > %(now)s){keyset} ORDER BY c.dpd DESC, c.amount DESC, c.loan_id DESC LIMIT %(limit)s"
        )
        if segment == 0:  # one statement: what needs attention, then (read only as far as the page needs) the rest
            after = " AND (c.attention_at, c.loan_id) > (%(at)s, %(last)s)" if last is not None else ""
            sql = (
                f"(SELECT {_WORK_COLUMNS}, 0 AS segment FROM read.collection_cases c WHERE {where} AND c.attention_at "
                f"IS NOT NULL AND c.attention_at <= %(now)s{after} ORDER BY c.attention_at, c.loan_id LIMIT %(limit)s) "
                f"UNION ALL ({rest.format(keyset='')}) LIMIT %(limit)s"
            )
        else:
            # The row-value bound is an index condition of the (dpd DESC, amount DESC, loan_id DESC) range. It is
            # written `<=` with the last loan left out because the planner estimates a row comparison by its first
            # column alone: with `<` and every case at the cursor's DPD it expects no row from either index, ties
            # their costs and may read the stage-wide index filtering out the other executives' cases (seen at 1M
            # loans: 969 rows read for a page of 51); with `<=` it counts the executive's rows and takes their range.
            sql = rest.format(
                keyset=" AND (c.dpd, c.amount, c.loan_id) <= (%(dpd)s, %(amount)s, %(last)s) AND c.loan_id <> %(last)s"
            )
        with self.pool.connection() as conn:
            rows = conn.execute(sql, params | {"at": at, "last": last, "dpd": dpd, "amount": amount}).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            names = _current_names(conn, brand_id, rows)
        rows = [{**r, "customer_name": names.get(r["customer_id"], r["customer_name"])} for r in rows]
        next_cursor = None
        if more and rows:
            tail = rows[-1]
            next_cursor = (
                WORKLIST_CURSOR.encode(0, tail["attention_at"], 0, Decimal(0), tail["loan_id"], scope=page_scope)
                if tail["segment"] == 0
                else WORKLIST_CURSOR.encode(1, _EPOCH, tail["dpd"], tail["amount"], tail["loan_id"], scope=page_scope)
            )
        return Page(items=[_item(r, now) for r in rows], next_cursor=next_cursor)

    def case(self, brand_id: UUID, loan_id: UUID, now: datetime) -> CaseView | None:
        """A loan's case row (None when the loan never was in collections)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, c.open, c.closed_reason, c.opened_at {_FROM} "
                "WHERE c.loan_id = %s AND c.brand_id = %s",
                (loan_id, brand_id),
            ).fetchone()
        if row is None:
            return None
        return CaseView(**row, next_action=next_action(row, now))

    def has_loan(self, brand_id: UUID, loan_id: UUID) -> bool:
        """Whether the loan is the brand's."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM read.loans WHERE id = %s AND brand_id = %s", (loan_id, brand_id)
            ).fetchone()
        return row is not None

    def worked_by(self, brand_id: UUID, loan_id: UUID, staff_id: UUID) -> bool:
        """Whether the staff member ever had the loan allocated or logged a contact on it."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM read.collection_allocations WHERE loan_id = %(loan)s AND brand_id = "
                "%(brand)s AND staff_id = %(staff)s) OR EXISTS (SELECT 1 FROM read.collection_contacts WHERE "
                "loan_id = %(loan)s AND brand_id = %(brand)s AND staff_id = %(staff)s) AS worked",
                {"loan": loan_id, "brand": brand_id, "staff": staff_id},
            ).fetchone()
        return bool(row["worked"])

    def contacts(self, brand_id: UUID, loan_id: UUID, limit: int = 200) -> list[ContactRow]:
        """The loan's contacts, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT contact_id, outcome, remarks, callback_at, channel, staff_id, call, evidence, actor, at "
                "FROM read.collection_contacts WHERE loan_id = %s AND brand_id = %s ORDER BY at DESC LIMIT %s",
                (loan_id, brand_id, limit),
            ).fetchall()
        return [ContactRow(**r) for r in rows]

    def contact(self, brand_id: UUID, contact_id: UUID, loan_id: UUID | None = None) -> ContactRow | None:
        """One contact (of the loan `loan_id`, when given)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT contact_id, outcome, remarks, callback_at, channel, staff_id, call, evidence, actor, at "
                "FROM read.collection_contacts WHERE contact_id = %s AND brand_id = %s "
                "AND (%s::uuid IS NULL OR loan_id = %s)",
                (contact_id, brand_id, loan_id, loan_id),
            ).fetchone()
        return ContactRow(**row) if row else None

    def ptps(self, brand_id: UUID, loan_id: UUID) -> list[PtpRow]:
        """The loan's promises to pay, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT ptp_id, staff_id, due_on, amount, made_on, status, paid, judged_on, at "
                "FROM read.collection_ptps WHERE loan_id = %s AND brand_id = %s ORDER BY at DESC",
                (loan_id, brand_id),
            ).fetchall()
        return [PtpRow(**r) for r in rows]

    def ptp(self, brand_id: UUID, ptp_id: UUID) -> PtpRow | None:
        """One promise."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT ptp_id, staff_id, due_on, amount, made_on, status, paid, judged_on, at "
                "FROM read.collection_ptps WHERE ptp_id = %s AND brand_id = %s",
                (ptp_id, brand_id),
            ).fetchone()
        return PtpRow(**row) if row else None

    def allocations(self, brand_id: UUID, loan_id: UUID) -> list[AllocationRow]:
        """Every move of the loan between executives, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT staff_id, previous, stage, kind, business_date, actor, at, reason FROM read.collection_allocations "
                "WHERE loan_id = %s AND brand_id = %s ORDER BY at DESC",
                (loan_id, brand_id),
            ).fetchall()
        return [AllocationRow(**r) for r in rows]

    def open_cases(self, brand_id: UUID, loan_ids: Sequence[UUID]) -> dict[UUID, OpenCase]:
        """The open cases among `loan_ids`."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT loan_id, stage, assignee FROM read.collection_cases "
                "WHERE brand_id = %s AND loan_id = ANY(%s) AND open",
                (brand_id, list(loan_ids)),
            ).fetchall()
        return {r["loan_id"]: OpenCase(r["loan_id"], Stage(r["stage"]), r["assignee"]) for r in rows}
