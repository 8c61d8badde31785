"""Read model of onboarding: one row per borrower funnel (the step they are on, since when) and per-brand step
counters (how many reached each step, how many wait at it), so the staff lists and the conversion figures read
an index or a dozen rows however many borrowers a brand has."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import Funnel, FunnelStatus
from domain.onboarding.steps import STEPS, Step
from domain.shared.values import mask_pan
from projections.keyset import KeysetCursor, Page
from projections.loans import CLOSE_CANCELS
from projections.projection import Projection, Write, handles

#: Rows are ordered by (since, id), newest first.
BORROWERS_CURSOR = KeysetCursor(datetime, UUID, name="onboarding.borrowers")
UNRECORDED_SUBMISSIONS_CURSOR = KeysetCursor(datetime, UUID, name="onboarding.unrecorded_submissions")
ORPHANS_CURSOR = KeysetCursor(datetime, UUID, name="onboarding.orphan_applications")
UNFINISHED_CLOSES_CURSOR = KeysetCursor(datetime, UUID, name="onboarding.unfinished_closes")

#: How many candidates one query of a reconciliation sweep looks at (`OnboardingQueries._sweep`): a few milliseconds
#: of index probes, however many sound funnels or applications a brand has.
SWEEP_WINDOW = 1000

F = Funnel

_LEAVE_STEP = (
    "UPDATE read.onboarding_steps AS c SET waiting = c.waiting - 1 FROM read.onboarding AS o "
    "WHERE o.id = %(id)s AND o.status = 'in_progress' AND c.brand_id = o.brand_id AND c.step = o.step"
)
_ENTER_STEP = (
    "INSERT INTO read.onboarding_steps (brand_id, step, reached, waiting) "
    "SELECT brand_id, %(step)s, 0, 1 FROM read.onboarding WHERE id = %(id)s AND status = 'in_progress' "
    "ON CONFLICT (brand_id, step) DO UPDATE SET waiting = read.onboarding_steps.waiting + 1"
)
_REACHED = (
    "INSERT INTO read.onboarding_steps (brand_id, step, reached, waiting) VALUES (%(brand)s, %(step)s, 1, 0) "
    "ON CONFLICT (brand_id, step) DO UPDATE SET reached = read.onboarding_steps.reached + 1"
)


def _moved(event_id: UUID, step: Step | None, status: FunnelStatus, at: datetime, **extra: Any) -> list[Write]:
    """Leave the current step's waiting count, move the row, enter the new step's."""
    sets = ", ".join(f"{name} = %({name})s" for name in extra)
    params = {"id": event_id, "step": (step or Step.SUBMITTED).value, "status": status.value, "at": at, **extra}
    return [
        Write(_LEAVE_STEP, params),
        Write(
            "UPDATE read.onboarding SET step_since = CASE WHEN step = %(step)s AND status = %(status)s "
            "THEN step_since ELSE %(at)s END, step = %(step)s, status = %(status)s, updated_at = %(at)s"
            + (f", {sets}" if sets else "")
            + " WHERE id = %(id)s",
            params,
        ),
        Write(_ENTER_STEP, params),
    ]


class OnboardingView(Projection):
    """`read.onboarding` (a row per funnel) and `read.onboarding_steps` (counters per brand and step)."""

    name = "onboarding"
    source = Onboarding.name
    tables = ("read.onboarding", "read.onboarding_steps")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.onboarding (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            phone text NOT NULL,
            name text,
            pan_masked text,
            customer_id uuid,
            status text NOT NULL,
            step text NOT NULL,
            step_since timestamptz NOT NULL,
            started_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            reason text
        )""",
        # The two lists: by status newest first, and by status and step (the "stuck on" filter).
        # The borrower of a Customer 360 record (a loan sent back to the borrower reopens their funnel; the BRE finds
        # a borrower's funnel, its Aadhaar digest).
        "CREATE INDEX IF NOT EXISTS onboarding_customer_idx ON read.onboarding (brand_id, customer_id)",
        "CREATE INDEX IF NOT EXISTS onboarding_status_idx ON read.onboarding (brand_id, status, step_since DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS onboarding_step_idx "
        "ON read.onboarding (brand_id, status, step, step_since DESC, id DESC)",
        # The marketing reports' key: funnels by their start (keyset pages, a date range's rows).
        "CREATE INDEX IF NOT EXISTS onboarding_started_idx ON read.onboarding (brand_id, started_at, id)",
        # The inactivity job: unfinished funnels by last touch.
        "CREATE INDEX IF NOT EXISTS onboarding_idle_idx ON read.onboarding (brand_id, updated_at, id) "
        "WHERE status = 'in_progress'",
        """CREATE TABLE IF NOT EXISTS read.onboarding_steps (
            brand_id uuid NOT NULL,
            step text NOT NULL,
            reached bigint NOT NULL,
            waiting bigint NOT NULL,
            PRIMARY KEY (brand_id, step)
        )""",
    )

    @handles(F.Started)
    def _started(self, position: int, event: F.Started) -> Iterable[Write]:
        step = (event.next_step or Step.SUBMITTED).value
        yield Write(
            "INSERT INTO read.onboarding (id, brand_id, phone, status, step, step_since, started_at, updated_at) "
            "VALUES (%s, %s, %s, 'in_progress', %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (event.originator_id, event.brand_id, event.phone, step, event.at, event.at, event.at),
        )
        yield Write(_REACHED, {"brand": event.brand_id, "step": Step.MOBILE.value})
        yield Write(_ENTER_STEP, {"id": event.originator_id, "step": step})

    @handles(F.StepRecorded)
    def _recorded(self, position: int, event: F.StepRecorded) -> Iterable[Write]:
        borrower = event.originator_id
        if event.first:
            yield Write(
                _REACHED.replace("%(brand)s", "(SELECT brand_id FROM read.onboarding WHERE id = %(id)s)"),
                {"id": borrower, "step": event.step.value},
            )
        extra: dict[str, Any] = {}
        if event.step is Step.PERSONAL:
            extra["name"] = event.details.get("name")
        elif event.step is Step.PAN:
            extra["pan_masked"] = mask_pan(event.details.get("pan"))
        status = FunnelStatus.COMPLETED if event.step is Step.SUBMITTED else FunnelStatus.IN_PROGRESS
        yield from _moved(borrower, event.next_step, status, event.at, **extra)

    @handles(F.StepReopened)
    def _reopened(self, position: int, event: F.StepReopened) -> Iterable[Write]:
        yield from _moved(event.originator_id, event.next_step, FunnelStatus.IN_PROGRESS, event.at)

    @handles(F.Restarted)
    def _restarted(self, position: int, event: F.Restarted) -> Iterable[Write]:
        """A new application after a rejection (or a closed funnel): in progress again at its next step."""
        yield from _moved(event.originator_id, event.next_step, FunnelStatus.IN_PROGRESS, event.at, reason=None)

    @handles(F.CustomerLinked)
    def _linked(self, position: int, event: F.CustomerLinked) -> Iterable[Write]:
        yield Write(
            "UPDATE read.onboarding SET customer_id = %s WHERE id = %s",
            (event.customer_id, event.originator_id),
        )

    @handles(F.Closed)
    def _closed(self, position: int, event: F.Closed) -> Iterable[Write]:
        borrower = event.originator_id
        yield Write(_LEAVE_STEP, {"id": borrower})
        yield Write(
            "UPDATE read.onboarding SET status = 'rejected', reason = %s, step_since = %s, updated_at = %s "
            "WHERE id = %s",
            (event.reason, event.at, event.at, borrower),
        )


@dataclass(frozen=True)
class OnboardingRow:
    """A borrower in the staff lists: who, the step they are on and since when."""

    id: UUID
    phone: str
    name: str | None
    pan_masked: str | None
    customer_id: UUID | None
    status: str
    step: str
    step_since: datetime
    started_at: datetime
    updated_at: datetime
    reason: str | None


@dataclass(frozen=True)
class StepConversion:
    """How many borrowers reached a step (and its share of those who started), and how many wait at it."""

    step: str
    reached: int
    percent: Decimal
    waiting: int


@dataclass(frozen=True)
class Conversion:
    """The brand's funnel: borrowers who started, and each step's conversion."""

    started: int
    steps: list[StepConversion]


_COLUMNS = "id, phone, name, pan_masked, customer_id, status, step, step_since, started_at, updated_at, reason"


class OnboardingQueries:
    """Brand-scoped onboarding lists (keyset pages on their indexes) and per-step conversion."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def borrower(self, brand_id: UUID, borrower_id: UUID) -> OnboardingRow | None:
        """One borrower's row in the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM read.onboarding WHERE id = %s AND brand_id = %s", (borrower_id, brand_id)
            ).fetchone()
        return OnboardingRow(**row) if row else None

    def borrowers_of_customer(self, brand_id: UUID, customer_id: UUID, limit: int = 20) -> list[UUID]:
        """The borrowers (funnels) linked to a Customer 360 record of the brand, the latest started first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM read.onboarding WHERE brand_id = %s AND customer_id = %s ORDER BY started_at DESC "
                "LIMIT %s",
                (brand_id, customer_id, limit),
            ).fetchall()
        return [r["id"] for r in rows]

    def borrowers(
        self,
        brand_id: UUID,
        status: FunnelStatus,
        step: Step | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Borrowers of a status (optionally on one step), most recently arrived at their step first."""
        page_scope = (brand_id, status, step)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s", "status = %(status)s"]
        params: dict[str, Any] = {"brand": brand_id, "status": status.value, "limit": limit + 1}
        if step is not None:
            where.append("step = %(step)s")
            params["step"] = step.value
        if cursor:
            at, last = BORROWERS_CURSOR.decode(cursor, page_scope)
            where.append("(step_since, id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM read.onboarding WHERE {' AND '.join(where)} "
                "ORDER BY step_since DESC, id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            BORROWERS_CURSOR.encode(rows[-1]["step_since"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[OnboardingRow(**r) for r in rows], next_cursor=next_cursor)

    def idle(self, brand_id: UUID, before: datetime, after: str | None, limit: int) -> tuple[list[UUID], str | None]:
        """Unfinished funnels last touched before `before`, oldest first, after the cursor `after`; the ids and
        the cursor of the last one (on the partial index of unfinished funnels)."""
        page_scope = (brand_id, before)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s", "status = 'in_progress'", "updated_at < %(before)s"]
        params: dict[str, Any] = {"brand": brand_id, "before": before, "limit": limit}
        if after:
            at, last = BORROWERS_CURSOR.decode(after, page_scope)
            where.append("(updated_at, id) > (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT id, updated_at FROM read.onboarding WHERE {' AND '.join(where)} "
                "ORDER BY updated_at, id LIMIT %(limit)s",
                params,
            ).fetchall()
        if not rows:
            return [], after
        return [r["id"] for r in rows], BORROWERS_CURSOR.encode(
            rows[-1]["updated_at"], rows[-1]["id"], scope=page_scope
        )

    def unrecorded_submissions(self, brand_id: UUID, after: str | None, limit: int) -> tuple[list[UUID], str | None]:
        """Funnels in progress waiting at the submitted step whose borrower has an application of the borrower channel
        past onboarding (submitted; not cancelled) in the brand: the candidates `Onboarding.sync_submission` checks on
        the aggregates. Longest waiting first, after the cursor `after` (on the step index); up to `limit` ids and the
        cursor of the last funnel looked at, or no ids (and `after`) once none is left.

        Most funnels waiting at the submitted step are sound (their application still in onboarding), so each query
        looks at `SWEEP_WINDOW` of them (`_sweep`)."""
        page_scope = (brand_id,)
        start = UNRECORDED_SUBMISSIONS_CURSOR.decode(after, page_scope) if after else None
        found, cursor = self._sweep(
            "SELECT o.id, o.step_since AS at, CASE WHEN EXISTS (SELECT 1 FROM read.loans l WHERE l.brand_id = o.brand_id"
            " AND l.customer_id = o.customer_id AND l.channel = 'borrower' AND l.status NOT IN ('onboarding', 'cancelled'))"
            " THEN o.id END AS found FROM read.onboarding o WHERE o.brand_id = %(brand)s AND o.status = 'in_progress'"
            " AND o.step = 'submitted' {after} ORDER BY o.step_since, o.id LIMIT %(window)s",
            "(o.step_since, o.id)",
            {"brand": brand_id},
            start,
            limit,
        )
        if not found:
            return [], after
        return [row["found"] for row in found], UNRECORDED_SUBMISSIONS_CURSOR.encode(*cursor, scope=page_scope)

    def orphan_applications(
        self, brand_id: UUID, before: datetime, after: str | None, limit: int
    ) -> tuple[list[tuple[UUID, UUID]], str | None]:
        """Applications of the borrower channel still in onboarding, started before `before`, whose borrower's funnels
        in the brand are all closed (at least one; none in progress or submitted, which could be the one pointing at
        it): the candidates `Onboarding.cancel_orphan` checks on the aggregates, each with the funnel closed last.
        Oldest first, after the cursor `after` (on the status index); up to `limit` (borrower, application) pairs and
        the cursor of the last application looked at, or no pairs (and `after`) once none is left.

        Most applications in onboarding are being filled in, so each query looks at `SWEEP_WINDOW` of them
        (`_sweep`)."""
        page_scope = (brand_id,)
        start = ORPHANS_CURSOR.decode(after, page_scope) if after else None
        # `found`: the borrower's funnel closed last, when all their funnels are closed (none in progress or submitted).
        found, cursor = self._sweep(
            "SELECT l.id, l.created_at AS at, CASE WHEN NOT EXISTS (SELECT 1 FROM read.onboarding p"
            " WHERE p.brand_id = l.brand_id AND p.customer_id = l.customer_id AND p.status <> 'rejected')"
            " THEN (SELECT o.id FROM read.onboarding o WHERE o.brand_id = l.brand_id AND o.customer_id = l.customer_id"
            " AND o.status = 'rejected' ORDER BY o.updated_at DESC, o.id LIMIT 1) END AS found"
            " FROM read.loans l WHERE l.brand_id = %(brand)s AND l.status = 'onboarding' AND l.channel = 'borrower'"
            " AND l.created_at < %(before)s {after} ORDER BY l.created_at, l.id LIMIT %(window)s",
            "(l.created_at, l.id)",
            {"brand": brand_id, "before": before},
            start,
            limit,
        )
        if not found:
            return [], after
        return [(row["found"], row["id"]) for row in found], ORPHANS_CURSOR.encode(*cursor, scope=page_scope)

    def unfinished_closes(
        self, brand_id: UUID, before: datetime, after: str | None, limit: int
    ) -> tuple[list[tuple[UUID, UUID]], str | None]:
        """Applications of the borrower channel cancelled by a close of their onboarding (the timeline's cancels with
        the reason `CLOSED_ONBOARDING`) before `before`, whose borrower has a funnel in progress in the brand: the
        candidates `Onboarding.finish_close` checks on the aggregates (the funnel pointing at the application), each
        with every such funnel of the borrower. Oldest cancel first, after the cursor `after` (on the partial index of
        those cancels); up to `limit` cancels' (borrower, application) pairs and the cursor of the last cancel looked
        at, or no pairs (and `after`) once none is left.

        Nearly every close saved its funnel, so each query looks at `SWEEP_WINDOW` cancels (`_sweep`)."""
        page_scope = (brand_id,)
        start = UNFINISHED_CLOSES_CURSOR.decode(after, page_scope) if after else None
        # `found`: the borrower's funnels in progress, when the cancelled application is the borrower channel's.
        found, cursor = self._sweep(
            "SELECT e.loan_id AS id, e.at, (SELECT array_agg(o.id ORDER BY o.id) FROM read.onboarding o"
            " WHERE o.brand_id = e.brand_id AND o.status = 'in_progress' AND o.customer_id = (SELECT l.customer_id"
            " FROM read.loans l WHERE l.id = e.loan_id AND l.channel = 'borrower' AND l.status = 'cancelled')) AS found"
            f" FROM read.loan_events e WHERE e.brand_id = %(brand)s AND {CLOSE_CANCELS} AND e.at < %(before)s"
            " {after} ORDER BY e.at, e.loan_id LIMIT %(window)s",
            "(e.at, e.loan_id)",
            {"brand": brand_id, "before": before},
            start,
            limit,
        )
        if not found:
            return [], after
        pairs = [(borrower, row["id"]) for row in found for borrower in row["found"]]
        return pairs, UNFINISHED_CLOSES_CURSOR.encode(*cursor, scope=page_scope)

    def _sweep(
        self, sql: str, key: str, params: dict[str, Any], start: tuple[Any, ...] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[Any, ...]]:
        """Walk a reconciliation sweep's candidates in `SWEEP_WINDOW`s until a window holds mismatches or none is
        left: up to `limit` rows whose `found` is set, and the sort key (`at`, `id`) of the last row looked at.

        `sql` selects a window of candidates in the order of `key` (each with `id`, its sort key's `at`, and `found`
        when it is a mismatch), its `{after}` the place of the condition `key > cursor` after the first window.
        The candidates are mostly sound, so a query that stopped only at `limit` mismatches would check all of them
        at once (every funnel or application of a big brand waiting there); each window's query stays short."""
        position = start
        with self.pool.connection() as conn:
            while True:
                after = f"AND {key} > (%(c_at)s, %(c_id)s)" if position else ""
                window = {**params, "window": SWEEP_WINDOW}
                if position:
                    window.update(c_at=position[0], c_id=position[1])
                # Only the window's mismatches and its last row (where the next window starts) come back.
                rows = conn.execute(
                    "SELECT id, at, found, looked_at FROM (SELECT w.*, count(*) OVER () AS looked_at,"
                    " row_number() OVER (ORDER BY at DESC, id DESC) AS from_end FROM ("
                    + sql.format(after=after)
                    + ") w) window_rows WHERE found IS NOT NULL OR from_end = 1 ORDER BY at, id",
                    window,
                ).fetchall()
                found: list[dict[str, Any]] = []
                for row in rows:
                    position = (row["at"], row["id"])
                    if row["found"] is not None:
                        found.append(row)
                        if len(found) == limit:
                            break
                if found or not rows or rows[0]["looked_at"] < SWEEP_WINDOW:
                    return found, position or ()

    def conversion(self, brand_id: UUID) -> Conversion:
        """Each step: how many reached it (count and percent of those who started), how many wait at it."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT step, reached, waiting FROM read.onboarding_steps WHERE brand_id = %s", (brand_id,)
            ).fetchall()
        found = {r["step"]: r for r in rows}
        started = int(found[Step.MOBILE.value]["reached"]) if Step.MOBILE.value in found else 0
        steps = []
        for step in STEPS:
            row = found.get(step.value)
            reached = int(row["reached"]) if row else 0
            percent = (Decimal(reached * 100) / started).quantize(Decimal("0.1")) if started else Decimal("0.0")
            steps.append(StepConversion(step.value, reached, percent, int(row["waiting"]) if row else 0))
        return Conversion(started=started, steps=steps)
