"""Queries of the credit decision (issue #14) over `read.loans`: a loan's amounts and schedule, the CX worklist, the
SM queue, the Sanction Head's view of every SM's loans, and the team figures. Pages are keyset (projections/keyset.py)
on indexes of `read.loans` (projections/loan_decision_views.py, projections/loans.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.schedule import build_schedule
from domain.loans.terms import LoanTerms
from projections.keyset import KeysetCursor, Page

#: Worklists are oldest first on (created_at, id).
OLDEST_CURSOR = KeysetCursor(datetime, UUID, name="loan-decisions.worklists")
#: The Sanction Head's list of SM decisions, newest first (by `updated_at`, as `loans_sm_idx` and
#: `loans_sm_all_idx` are ordered).
DECIDED_CURSOR = KeysetCursor(datetime, UUID, name="loan-decisions.sm-loans")
#: A CX-approved loan waiting longer than this for its sanction is escalated to the Sanction Head.
ESCALATE_AFTER_HOURS = 24


@dataclass(frozen=True)
class AmountsView:
    """The three amounts of the decision and, once sanctioned, the sanction's fees, GST and net disbursed (before
    that: the pricing of the requested amount)."""

    requested: Decimal
    cx_approved: Decimal | None
    sanctioned: Decimal | None
    processing_fee: Decimal
    processing_fee_before_discount: Decimal
    convenience_fee: Decimal
    gst: Decimal
    net_disbursed: Decimal


@dataclass(frozen=True)
class InstalmentView:
    """One instalment of the schedule."""

    no: int
    due_date: date
    principal: Decimal
    interest: Decimal
    amount: Decimal


@dataclass(frozen=True)
class WorkItem:
    """A loan on a worklist or queue."""

    id: UUID
    loan_number: str
    customer_id: UUID
    borrower_name: str | None
    amount: Decimal
    cx_approved_amount: Decimal | None
    sanctioned_amount: Decimal | None
    tenure: int
    status: str
    assignee_id: UUID | None
    assignee_name: str | None
    cx_approved_by: str | None
    sm_actor: str | None
    created_at: datetime
    status_since: datetime | None
    escalated: bool
    escalation_reason: str | None  # why it was escalated (None: not escalated, or only by its day-long wait)
    sanction_assignee_id: UUID | None  # the SM the Sanction Head assigned it to
    sanction_assignee_name: str | None
    version: int  # the loan's, as the list read it: a form posting it is refused (409) after a change since
    updated_at: datetime  # its last change (the SM decisions list's order)


@dataclass(frozen=True)
class WorkPage(Page):
    """A keyset page of a worklist, oldest first."""

    items: list[WorkItem]


@dataclass(frozen=True)
class SmFigures:
    """One Sanction Manager's figures: loans decided, sanctioned, rejected, sent back, the approval rate, and the
    queue assigned to them (size, oldest age)."""

    actor: str
    name: str | None
    decided: int
    sanctioned: int
    rejected: int
    sent_back: int
    approval_rate: Decimal | None  # percent of decided
    queue_size: int = 0  # CX-approved loans the Sanction Head assigned to them
    oldest_hours: Decimal | None = None  # how long the oldest of those has waited


@dataclass(frozen=True)
class TeamFigures:
    """The SM queue's size and oldest age, the escalated count, and each SM's figures."""

    queue_size: int
    oldest_hours: Decimal | None
    escalated: int
    managers: list[SmFigures]


def amounts(row: dict[str, Any]) -> AmountsView:
    """The amounts block of a loan row (`read.loans` with `pricing`, `sanction_pricing`)."""
    pricing = row.get("sanction_pricing") or row["pricing"]
    fee, convenience = pricing["processing_fee"], pricing["convenience_fee"]
    return AmountsView(
        requested=row["amount"],
        cx_approved=row.get("cx_approved_amount"),
        sanctioned=row.get("sanctioned_amount"),
        processing_fee=Decimal(str(fee["amount"])),
        processing_fee_before_discount=Decimal(str(pricing["processing_fee_before_discount"])),
        convenience_fee=Decimal(str(convenience["amount"])),
        gst=Decimal(str(fee["gst"])) + Decimal(str(convenience["gst"])),
        net_disbursed=Decimal(str(pricing["net_disbursed"])),
    )


def schedule(row: dict[str, Any], calendar: RepaymentCalendar, expected_on: date) -> list[InstalmentView] | None:
    """The sanctioned loan's schedule (LENDING.md) from its disbursal date, or `expected_on` until disbursed; None
    before the sanction."""
    terms = row.get("sanction_terms")
    if not terms:
        return None
    built = build_schedule(LoanTerms.model_validate(terms), row.get("disbursed_on") or expected_on, calendar)
    return [InstalmentView(i.no, i.due_date, i.principal, i.interest, i.amount) for i in built.instalments]


#: A CX-approved loan is escalated when someone escalated it, or when it waited over a day since its approval (or since
#: the Sanction Head assigned it).
_ESCALATED = (
    "(l.escalation IS NOT NULL OR GREATEST(l.sanction_assigned_at, l.status_since) "
    "< now() - make_interval(hours => %(escalate)s))"
)

_ITEM = (
    "SELECT l.id, l.loan_number, l.customer_id, c.name AS borrower_name, l.amount, l.cx_approved_amount, "
    "l.sanctioned_amount, l.tenure, l.status, l.assignee AS assignee_id, s.name AS assignee_name, l.cx_approved_by, "
    "l.sm_actor, l.created_at, l.status_since, "
    f"(l.status = 'cx_approved' AND {_ESCALATED}) AS escalated, "
    "CASE WHEN l.status = 'cx_approved' THEN l.escalation ->> 'reason' END AS escalation_reason, "
    "l.sanction_assignee AS sanction_assignee_id, a.name AS sanction_assignee_name, l.version, l.updated_at "
    "FROM read.loans l LEFT JOIN read.customers c ON c.id = l.customer_id LEFT JOIN read.staff s ON s.id = l.assignee "
    "LEFT JOIN read.staff a ON a.id = l.sanction_assignee"
)


class DecisionQueries:
    """Brand-scoped worklists and figures of the credit decision."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def _page(self, where: list[str], params: dict[str, Any], cursor: str | None, limit: int) -> WorkPage:
        page_scope = (tuple(where), dict(params))  # the filters its cursor is bound to
        params.update(limit=limit + 1, escalate=ESCALATE_AFTER_HOURS)
        if cursor:
            at, last = OLDEST_CURSOR.decode(cursor, page_scope)
            where.append("(l.created_at, l.id) > (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_ITEM} WHERE {' AND '.join(where)} ORDER BY l.created_at, l.id LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            OLDEST_CURSOR.encode(rows[-1]["created_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return WorkPage(items=[WorkItem(**r) for r in rows], next_cursor=next_cursor)

    def cx_worklist(self, brand_id: UUID, staff_id: UUID, cursor: str | None = None, limit: int = 50) -> WorkPage:
        """The pending applications allocated to the CX, oldest first."""
        where = ["l.brand_id = %(brand)s", "l.assignee = %(staff)s", "l.status = 'pending'"]
        return self._page(where, {"brand": brand_id, "staff": staff_id}, cursor, limit)

    def sm_queue(
        self, brand_id: UUID, cursor: str | None = None, limit: int = 50, staff_id: UUID | None = None
    ) -> WorkPage:
        """The CX-approved loans awaiting sanction, oldest first; with `staff_id`, one SM's queue: the loans assigned
        to them and the unassigned ones (not those the Sanction Head gave to another SM)."""
        where = ["l.brand_id = %(brand)s", "l.status = 'cx_approved'"]
        params: dict[str, Any] = {"brand": brand_id}
        if staff_id is not None:
            where.append("(l.sanction_assignee IS NULL OR l.sanction_assignee = %(sm)s)")
            params["sm"] = staff_id
        return self._page(where, params, cursor, limit)

    def escalations(self, brand_id: UUID, limit: int = 200) -> list[WorkItem]:
        """The Sanction Head's escalated loans: CX-approved loans escalated by someone or waiting over a day, oldest
        first (at most `limit`)."""
        where = ["l.brand_id = %(brand)s", "l.status = 'cx_approved'", _ESCALATED]
        return self._page(where, {"brand": brand_id}, None, limit).items

    def sm_loans(
        self, brand_id: UUID, actor: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> WorkPage:
        """The Sanction Head's view: loans an SM decided (sanctioned, rejected, sent back), one SM's or all, the
        latest changed first, read in the order of `loans_sm_idx` (one SM's) or `loans_sm_all_idx` (all): ordered
        oldest-created first, a page sorted every decision of the SM (or of the brand) each time."""
        where = ["l.brand_id = %(brand)s", "l.sm_actor IS NOT NULL"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1, "escalate": ESCALATE_AFTER_HOURS}
        if actor:
            where.append("l.sm_actor = %(actor)s")
            params["actor"] = actor
        page_scope = (brand_id, actor or "")
        if cursor:
            at, last = DECIDED_CURSOR.decode(cursor, page_scope)
            where.append("(l.updated_at, l.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_ITEM} WHERE {' AND '.join(where)} ORDER BY l.updated_at DESC, l.id DESC LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        last_row = rows[-1] if more and rows else None
        next_cursor = (
            DECIDED_CURSOR.encode(last_row["updated_at"], last_row["id"], scope=page_scope) if last_row else None
        )
        return WorkPage(items=[WorkItem(**r) for r in rows], next_cursor=next_cursor)

    def team_figures(self, brand_id: UUID, members: Sequence[UUID] | None = None) -> TeamFigures:
        """The SM queue's size, oldest age and escalations, and per SM: the loans assigned to them awaiting sanction
        (size and oldest age) and their decisions (sanctioned, rejected, sent back; the approval rate). Two small
        reads: the CX-approved loans grouped by assignee (`loans_sanction_queue_idx`) and `read.sm_figures`.
        With `members` (a manager's team), only theirs: the loans assigned to them (not the unassigned ones) and
        their decisions."""
        params: dict[str, Any] = {"escalate": ESCALATE_AFTER_HOURS, "brand": brand_id}
        assigned, acted = "", ""
        if members is not None:
            assigned, acted = " AND l.sanction_assignee = ANY(%(members)s)", " AND actor = ANY(%(actors)s)"
            params.update(members=list(members), actors=[f"staff:{m}" for m in members])
        with self.pool.connection() as conn:
            queues = conn.execute(
                "SELECT l.sanction_assignee AS assignee, count(*) AS n, min(l.status_since) AS oldest, "
                f"count(*) FILTER (WHERE {_ESCALATED}) AS escalated "
                f"FROM read.loans l WHERE l.brand_id = %(brand)s AND l.status = 'cx_approved'{assigned} "
                "GROUP BY l.sanction_assignee",
                params,
            ).fetchall()
            decided = conn.execute(
                "SELECT actor, sanctioned, rejected, sent_back FROM read.sm_figures WHERE brand_id = %(brand)s"
                f"{acted} ORDER BY actor",
                params,
            ).fetchall()
            per_sm = {f"staff:{q['assignee']}": q for q in queues if q["assignee"] is not None}
            actors = sorted({r["actor"] for r in decided} | set(per_sm))
            names = _staff_names(conn, brand_id, actors)
        counts = {r["actor"]: r for r in decided}
        now = datetime.now(UTC)
        managers = []
        for actor in actors:
            r = counts.get(actor, {"sanctioned": 0, "rejected": 0, "sent_back": 0})
            total = r["sanctioned"] + r["rejected"] + r["sent_back"]
            rate = (Decimal(r["sanctioned"] * 100) / total).quantize(Decimal("0.1")) if total else None
            queue = per_sm.get(actor)
            managers.append(SmFigures(actor, names.get(actor), total, r["sanctioned"], r["rejected"], r["sent_back"],
                                      rate, int(queue["n"]) if queue else 0,
                                      _hours(now, queue["oldest"] if queue else None)))  # fmt: skip
        oldest = min((q["oldest"] for q in queues if q["oldest"] is not None), default=None)
        return TeamFigures(
            queue_size=sum(int(q["n"]) for q in queues),
            oldest_hours=_hours(now, oldest),
            escalated=sum(int(q["escalated"]) for q in queues),
            managers=managers,
        )


def _hours(now: datetime, since: datetime | None) -> Decimal | None:
    if since is None:
        return None
    return Decimal((now - since).total_seconds() / 3600).quantize(Decimal("0.1"))


def _staff_names(conn: Any, brand_id: UUID, actors: list[str]) -> dict[str, str]:
    ids = [a.removeprefix("staff:") for a in actors if a.startswith("staff:")]
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id::text AS id, name FROM read.staff WHERE brand_id = %s AND id::text = ANY(%s)", (brand_id, ids)
    ).fetchall()
    return {f"staff:{r['id']}": r["name"] for r in rows}
