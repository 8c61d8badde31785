"""The collections sweep after the close of business of a date (called by the `loan-cob` job, workers/loan_cob.py):
set-based over the read models, one pass per brand and date.

1. Every loan that is serviced or post-collection (settled, written off), or has an open case, is put in its stage
   for the next business date (domain/collections/stages.py): post (written off with something left to recover, or
   moved to legal), collections (overdue), pre (due within the brand's `pre_collection_window_days`, not yet
   overdue), or none (its case closes: cured, completed, not due, settled, recovered).
2. With the brand's `auto_allocate_collections` on, a loan entering a stage (or still unassigned) goes to the
   least-loaded executive of the stage's team (enabled, available, not on leave on the next business date, holding
   the stage's permission at WRITE), the highest DPD and amount first; a loan staying in its stage stays with its
   executive (sticky) - unless that executive has left: disabled, or no longer holding the stage's permission at
   WRITE (`departures`). Their cases are unassigned and allocated as such (with it off: left unassigned, for the
   managers), recorded in batches of their own whose reason says why ("executive disabled").
3. The moves are recorded in batches (`Collections.record_moves`), then the promises due by the date are judged
   (`promise_tallies`: the money paid within each promise's dates and recorded after it was made, and the day its loan
   came to owe nothing) - the open ones, and those due in the last `REJUDGE_DAYS` days again (money approved or
   reversed since) - then the date is marked swept (a rerun of the date does nothing).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import structlog

from adapters.postgres import Database
from domain.collections.application import Collections
from domain.collections.case import REJUDGE_DAYS, STAGE_PERMISSION, PromiseTally, Stage
from domain.collections.moves import Move
from domain.collections.stages import ENDED_STATUSES, closure, stage_after
from domain.identity.application import Identity
from domain.identity.permissions import Level
from domain.loans.application import Loans
from projections.engine import ProjectionEngine
from projections.identity import row_grants

log = structlog.get_logger(__name__)

#: Who auto-allocation gives each stage's loans to (enabled, available, not on leave).
STAGE_ROLES: dict[Stage, tuple[str, ...]] = {
    Stage.PRE: ("collection_executive",),
    Stage.COLLECTIONS: ("collection_executive",),
    Stage.POST: ("collection_head",),
}
#: Why the sweep moves loans, recorded on each batch (`CaseMoves.Recorded.reason`) and in the allocation history.
CLOSE_OF_BUSINESS = "close of business"
DISABLED = "executive disabled"

#: The candidate loans with their figures as of the next business date. `unpaid` (the post stage's amount) is what
#: the loan owes without penal charges: settled or written off, `left_to_recover`; moved to legal while still being
#: repaid, the principal + interest of the instalments due by `day` and the principal of those not yet due, less what
#: its payments paid of principal + interest (the payoff less its penal charges and the current period's accrued
#: interest, LENDING.md). Only legal loans pay for that pass over their arrays (on every candidate it took about as
#: long as each of the three passes above, over 100,000 rows); no stage reads the others' `unpaid` but a written-off
#: loan's, whose dues row made before `left_to_recover` asks, as before, for every instalment left, as does a legal
#: loan's row made before `cum_principal` and not filled then.
_CANDIDATES = """
WITH ids AS (
    SELECT id FROM read.loans WHERE brand_id = %(brand)s AND status = ANY(%(hard)s)
    UNION
    SELECT loan_id FROM read.collection_cases WHERE brand_id = %(brand)s AND open
    UNION
    SELECT d.loan_id FROM read.collection_dues d JOIN read.loans w ON w.id = d.loan_id
    WHERE d.due_dates && %(window)s::date[] AND w.brand_id = %(brand)s AND w.status IN ('active', 'partially_paid')
)
SELECT l.id AS loan_id, l.status, coalesce(l.dpd, 0) AS dpd, c.open, c.stage, c.assignee, coalesce(c.legal, false) AS legal,
       c.dpd AS cur_dpd, c.amount AS cur_amount, c.due_on AS cur_due,
       (SELECT min(x.due) FROM unnest(d.due_dates, d.cum_due) AS x(due, cum) WHERE x.cum > d.paid) AS next_due,
       (SELECT min(x.cum) FROM unnest(d.due_dates, d.cum_due) AS x(due, cum) WHERE x.cum > d.paid) - d.paid AS next_amount,
       greatest(coalesce((SELECT max(x.cum) FROM unnest(d.due_dates, d.cum_due) AS x(due, cum) WHERE x.due <= %(day)s),
                0) - d.paid, 0) AS overdue_amount,
       CASE WHEN d.left_to_recover IS NOT NULL THEN d.left_to_recover
            WHEN NOT coalesce(c.legal, false) OR d.cum_principal IS NULL
            THEN greatest(d.cum_due[array_upper(d.cum_due, 1)] - d.paid, 0)
            ELSE greatest(coalesce((SELECT max(x.cum - x.principal) FROM unnest(d.due_dates, d.cum_due, d.cum_principal)
                 AS x(due, cum, principal) WHERE x.due <= %(day)s), 0)
                 + d.cum_principal[array_upper(d.cum_principal, 1)] - d.paid, 0) END AS unpaid
FROM ids
JOIN read.loans l ON l.id = ids.id
LEFT JOIN read.collection_dues d ON d.loan_id = l.id
LEFT JOIN read.collection_cases c ON c.loan_id = l.id
"""


@dataclass(frozen=True)
class SweepPort:
    """What the sweep uses (filled by type; the loan-cob job's port names it)."""

    collections: Collections
    identity: Identity
    engine: ProjectionEngine
    db: Database


def target_stage(row: dict[str, Any], day: date, window: int) -> Stage | None:
    """The stage a loan is in for the business date after `day` (None: not in collections), by the domain's rule
    (`stage_after`) over its candidate row."""
    owed = Decimal(row.get("unpaid") or 0)
    return stage_after(row["status"], legal=row["legal"], dpd=row["dpd"], next_due=row["next_due"], owed=owed,
                       day=day, window=window)  # fmt: skip


def _figures(row: dict[str, Any], stage: Stage) -> tuple[Decimal, date | None]:
    """The unpaid amount shown for the stage (the next instalment's, the overdue, all that is left) and the due date."""
    if stage is Stage.PRE:
        return Decimal(row["next_amount"] or 0), row["next_due"]
    if stage is Stage.COLLECTIONS:
        return Decimal(row["overdue_amount"] or 0), row["next_due"]
    return Decimal(row["unpaid"] or 0), None


def _closed_reason(row: dict[str, Any]) -> str:
    return closure(row["status"], Stage(row["stage"]) if row["stage"] else None).value


def left_stage(stage: Stage) -> str:
    """Why a loan left an executive who no longer holds its stage's permission at WRITE."""
    return f"executive no longer on the {stage.value} team"


@dataclass(frozen=True)
class Plan:
    """The sweep's moves, and why each loan taken from an executive who left was moved (loan -> reason; the others
    move for the close of business)."""

    moves: list[Move]
    reasons: dict[UUID, str]

    def batches(self) -> dict[str, list[Move]]:
        """The moves by reason, in their order (the close of business's first)."""
        grouped: dict[str, list[Move]] = {CLOSE_OF_BUSINESS: []}
        for move in self.moves:
            grouped.setdefault(self.reasons.get(move.loan_id, CLOSE_OF_BUSINESS), []).append(move)
        return {reason: moves for reason, moves in grouped.items() if moves}


def may_work(row: dict[str, Any], stage: Stage) -> bool:
    """Whether a `read.staff` row holds the stage's permission at WRITE (what a reallocation asks of its executive)."""
    level = row_grants(row["roles"], row["overrides"]).get(STAGE_PERMISSION[stage])
    return level is not None and level.covers(Level.WRITE)


def departures(conn: Any, brand_id: UUID, holders: Iterable[UUID]) -> dict[tuple[UUID, Stage], str]:
    """Of the staff holding open cases, who may no longer work which stage, with why: disabled, or no longer holding
    the stage's permission at WRITE (a role or an override taken away). One query for the distinct holders, within
    the brand: another brand's staff records are not this brand's, and someone who is no staff member of the brand in
    `read.staff` (its runner behind a new hire) is left as they are."""
    staff = list(set(holders))
    if not staff:
        return {}
    rows = conn.execute(
        "SELECT id, enabled, roles, overrides FROM read.staff WHERE brand_id = %s AND id = ANY(%s)", (brand_id, staff)
    ).fetchall()
    gone: dict[tuple[UUID, Stage], str] = {}
    for row in rows:
        for stage in Stage:
            if not row["enabled"]:
                gone[(row["id"], stage)] = DISABLED
            elif not may_work(row, stage):
                gone[(row["id"], stage)] = left_stage(stage)
    return gone


class Allocator:
    """Least-loaded first among a stage's eligible staff (ties: the smaller id)."""

    def __init__(self, workload: dict[UUID, int], staff: Iterable[UUID]) -> None:
        self.heap = [(workload.get(s, 0), str(s), s) for s in staff]
        heapq.heapify(self.heap)

    def pick(self) -> UUID | None:
        if not self.heap:
            return None
        load, key, staff = heapq.heappop(self.heap)
        heapq.heappush(self.heap, (load + 1, key, staff))
        return staff


def eligible_staff(conn: Any, brand_id: UUID, stage: Stage, day: date) -> list[UUID]:
    """Enabled, available staff of the brand with one of the stage's roles (`STAGE_ROLES`), not on leave on `day`,
    holding the stage's permission at WRITE (an override taking it away leaves them out: else the sweep would give
    them cases and take them back as from someone who left)."""
    rows = conn.execute(
        "SELECT s.id, s.roles, s.overrides FROM read.staff s WHERE s.brand_id = %(brand)s AND s.roles && %(roles)s::text[] "
        "AND s.enabled AND s.available AND NOT EXISTS (SELECT FROM jsonb_each(s.leaves) AS l(id, leave) "
        "WHERE (l.leave->>'start')::date <= %(day)s AND (l.leave->>'end')::date >= %(day)s)",
        {"brand": brand_id, "roles": list(STAGE_ROLES[stage]), "day": day},
    ).fetchall()
    return [r["id"] for r in rows if may_work(r, stage)]


def plan_moves(conn: Any, brand_id: UUID, day: date, window: int, auto: bool) -> Plan:
    """The moves of the sweep of `day` (nothing is written)."""
    window_dates = [day + timedelta(days=n) for n in range(1, window + 1)]
    rows = conn.execute(
        _CANDIDATES, {"brand": brand_id, "day": day, "hard": ["overdue", *ENDED_STATUSES], "window": window_dates}
    ).fetchall()
    # The holders of open cases, and who worked a closed case that may reopen today: without auto-allocation a
    # reopened case goes back to them, which it must not when they have left.
    gone = departures(conn, brand_id, (r["assignee"] for r in rows if r["assignee"] is not None))
    reasons: dict[UUID, str] = {}
    moves: list[Move] = []
    unassigned: list[tuple[dict[str, Any], Stage, Decimal, date | None]] = []
    for row in rows:
        stage = target_stage(row, day, window)
        current = Stage(row["stage"]) if row["open"] and row["stage"] else None
        if stage is None:
            if current is not None:
                moves.append(Move.model_construct(loan_id=row["loan_id"], stage=current, staff_id=row["assignee"],
                                  previous=row["assignee"], dpd=row["dpd"], closed=_closed_reason(row)))  # fmt: skip
            continue
        amount, due_on = _figures(row, stage)
        keep = row["assignee"] if current is stage or not auto else None
        if keep is not None and stage is Stage.POST and current is not Stage.POST:
            keep = None  # the post-collections team takes over
        elif keep is not None and (why := gone.get((keep, stage))) is not None:
            # Sticky no longer: the executive left (disabled, or off the stage's team). The case is unassigned -
            # allocated below with auto-allocation on, else left to the managers - in a batch saying why.
            keep = None
            if current is not None:  # taken from them; a case reopening merely opens unassigned
                reasons[row["loan_id"]] = why
        if keep is None and auto:
            unassigned.append((row, stage, amount, due_on))
            continue
        if current is stage and (row["cur_dpd"], row["cur_amount"], row["cur_due"]) == (row["dpd"], amount, due_on):
            continue  # nothing changed
        moves.append(Move.model_construct(loan_id=row["loan_id"], stage=stage, staff_id=keep, previous=row["assignee"] if current else None,
                          dpd=row["dpd"], amount=amount, due_on=due_on))  # fmt: skip
    if unassigned:
        moves.extend(_allocate(conn, brand_id, day, unassigned))
    return Plan(moves, reasons)


def _allocate(
    conn: Any, brand_id: UUID, day: date, loans: list[tuple[dict[str, Any], Stage, Decimal, date | None]]
) -> list[Move]:
    workload = {r["assignee"]: int(r["n"]) for r in conn.execute(
        "SELECT assignee, count(*) AS n FROM read.collection_cases WHERE brand_id = %s AND open AND assignee IS NOT NULL "
        "GROUP BY assignee", (brand_id,),
    ).fetchall()}  # fmt: skip
    for row, _, _, _ in loans:  # loans leaving their executive no longer count for them
        if row["open"] and row["assignee"] is not None:
            workload[row["assignee"]] = workload.get(row["assignee"], 1) - 1
    allocators: dict[Stage, Allocator] = {}
    moves = []
    for row, stage, amount, due_on in sorted(loans, key=lambda t: (-t[0]["dpd"], -t[2], str(t[0]["loan_id"]))):
        if stage not in allocators:
            allocators[stage] = Allocator(workload, eligible_staff(conn, brand_id, stage, day + timedelta(days=1)))
        staff = allocators[stage].pick()
        previous = row["assignee"] if row["open"] else None
        moves.append(Move.model_construct(loan_id=row["loan_id"], stage=stage, staff_id=staff, previous=previous, dpd=row["dpd"],
                          amount=amount, due_on=due_on))  # fmt: skip
    return moves


#: Each promise to judge at the close of `day` - open and due by it, or due in the last `REJUDGE_DAYS` days (`since`
#: on) - with the money counted for it: payments and recoveries not reversed, paid from the day it was made to its
#: date (`paid_on`: a collection request approved later counts on the day it was collected) and recorded after it
#: was made (the payment's event instant, `recorded_at`, after the promise's: money already in when the borrower
#: promised is not what they promised; a payment projected before the column was kept has none and counts as
#: before). And the day its loan came to owe nothing (`read.collection_dues.owes_nothing_on`). The promises are two
#: index ranges (a BitmapOr: the open ones by `collection_ptps_open_idx`, those of the window by
#: `collection_ptps_due_idx`), never every promise the brand ever had; each promise's payments and dues row by their
#: keys (tests/integration/test_projection_plans.py).
_TALLIES = (
    "SELECT t.loan_id, t.ptp_id, coalesce((SELECT sum(p.amount) FROM read.collection_payments p "
    "WHERE p.loan_id = t.loan_id AND NOT p.reversed AND p.paid_on BETWEEN t.made_on AND t.due_on "
    "AND coalesce(p.recorded_at > t.at, true)), 0)::numeric(16, 2) AS paid, "
    "(SELECT d.owes_nothing_on FROM read.collection_dues d WHERE d.loan_id = t.loan_id) AS owes_nothing_on "
    "FROM read.collection_ptps t WHERE t.brand_id = %(brand)s AND t.due_on <= %(day)s "
    "AND (t.status = 'open' OR t.due_on >= %(since)s)"
)


def promise_tallies(conn: Any, brand_id: UUID, day: date) -> list[PromiseTally]:
    """The promises the sweep of `day` judges, with what the books show for each (`_TALLIES`)."""
    since = day - timedelta(days=REJUDGE_DAYS)
    rows = conn.execute(_TALLIES, {"brand": brand_id, "day": day, "since": since}).fetchall()
    return [PromiseTally(r["loan_id"], r["ptp_id"], Decimal(r["paid"]), r["owes_nothing_on"]) for r in rows]


def sweep(port: SweepPort, brand_id: UUID, day: date) -> dict[str, int]:
    """The collections sweep of a closed business date (once per brand and date)."""
    collections = port.collections
    if collections.swept(brand_id, day):
        return {}
    port.engine.caught_up(Loans.name, 120, f"collections sweep of {day.isoformat()}")
    port.engine.caught_up(Collections.name, 120, f"collections sweep of {day.isoformat()}")
    settings = port.identity.settings(brand_id)
    # The moves restate every case's assignee as planned from the read model: a manager's reallocation recorded
    # between the plan and the moves would be undone, so the brand's assignments are held from one to the other.
    with collections.assignments(brand_id) as shown:
        with port.db.pool.connection() as conn:
            window, auto = settings.pre_collection_window_days, settings.auto_allocate_collections
            plan = plan_moves(conn, brand_id, day, window, auto)
            tallies = promise_tallies(conn, brand_id, day)
        position = 0
        for reason, batch in plan.batches().items():
            position = collections.record_moves(brand_id, day, batch, reason)
        shown(position)
    judged = collections.judge_promises(brand_id, day, tallies) if tallies else {"judged": 0, "rejudged": 0}
    moves = plan.moves
    counts = {
        "moves": len(moves),
        "allocated": sum(1 for m in moves if m.staff_id is not None and m.staff_id != m.previous and m.closed is None),
        "closed": sum(1 for m in moves if m.closed is not None),
        "released": len(plan.reasons),
        **judged,
    }
    collections.close_day(brand_id, day, counts)
    log.info("collections.swept", brand_id=str(brand_id), day=day.isoformat(), **counts)
    return counts


#: A COB port built without the sweep (tests building `CobPort` by hand).
NO_SWEEP = cast(SweepPort, None)


def after_close(sweeper: SweepPort | None, brand_id: UUID, day: date) -> None:
    """The loan-cob job's hook after it closed `day` for a brand (None: a port built without collections)."""
    if sweeper is not None:
        sweep(sweeper, brand_id, day)
