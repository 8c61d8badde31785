"""The dashboards' figures (issue #18 item 3), scoped to one brand; every figure's definition is in docs/insight.md.

- loan counts by status and the DPD buckets: `read.insight_counts` (a few rows per brand);
- disbursals and collections by day, and a month's actuals: `read.insight_daily` (one row per day and metric);
- recovery and the approval funnel: `read.insight_flow_days` of the window's days (one row per step and day);
- TAT per stage: `read.insight_stage_days` of the window's days (a row per stage, day and tenth of an hour taken);
- recent activity: `read.activity` (`activity_brand_time_idx`) and the operational entries of `ops.activity`.

The counters are projections/insight_figures.py's (`InsightFigures`, a projection of the loans' events).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from domain.loans.states import LoanStatus
from projections.companies import companies_param, of_companies_sql

S = LoanStatus
#: Waiting for a decision, a signature or the payout.
PENDING = (S.PENDING, S.CX_APPROVED, S.SM_APPROVED, S.APPROVED, S.AWAITING_DISBURSAL)
#: Every state a loan reaches only once it was disbursed.
DISBURSED = (S.ACTIVE, S.PARTIALLY_PAID, S.OVERDUE, S.COMPLETED, S.SETTLED, S.WRITTEN_OFF)
#: DPD buckets of the serviced loans: (label, lowest dpd, highest dpd or None).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("current", 0, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91+", 91, None),
)
#: TAT stages: (stage, the event that starts it — "created" is the loan's creation —, the event that ends it);
#: `read.insight_stage_ends` records each end (projections/insight_figures.py, STAGE_ENDS).
STAGES = (
    ("application", "created", "submitted"),
    ("credit review", "submitted", "cx_approved"),
    ("sanction", "cx_approved", "sanctioned"),
    ("disbursal", "sanctioned", "disbursed"),
)
#: The approval funnel's steps, by the stage whose end counts a loan in them ("created": the loan's creation).
FUNNEL = (
    ("created", "created"),
    ("submitted", "application"),
    ("credit approved", "credit review"),
    ("sanctioned", "sanction"),
    ("disbursed", "disbursal"),
)
#: States a loan that fell overdue is back in when it recovered.
RECOVERED = (S.ACTIVE, S.PARTIALLY_PAID, S.COMPLETED)
CENT = Decimal("0.01")
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class LoanCounts:
    """Loans of the brand by status, and the V1 headline counts."""

    total: int
    disbursed: int
    pending: int
    overdue: int
    by_status: dict[str, int]


@dataclass(frozen=True)
class ActivityItem:
    """One recent event of the brand, as the activity trail summarises it."""

    occurred_at: datetime
    source: str
    event_type: str
    summary: str
    actor: str


@dataclass(frozen=True)
class DayFigures:
    """One business day: loans disbursed (count, principal) and repayments collected (count, amount)."""

    day: date
    disbursed_count: int
    disbursed_amount: Decimal
    collected_count: int
    collected_amount: Decimal


@dataclass(frozen=True)
class Bucket:
    """The serviced loans in one DPD bucket, with their principal."""

    bucket: str
    loans: int
    amount: Decimal


@dataclass(frozen=True)
class Recovery:
    """Loans that fell overdue in the window, how many are current (or closed) again, and the rate in percent."""

    fell_overdue: int
    recovered: int
    rate: Decimal | None


@dataclass(frozen=True)
class StageTat:
    """How long a stage took for the loans that finished it in the window, in hours."""

    stage: str
    loans: int
    average_hours: Decimal | None
    median_hours: Decimal | None


@dataclass(frozen=True)
class FunnelStep:
    """Loans that reached a step in the window."""

    stage: str
    loans: int


@dataclass(frozen=True)
class MonthActuals:
    """What the brand did in a month: disbursal principal and count, collections."""

    disbursal_amount: Decimal
    disbursal_count: int
    collections: Decimal


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """`part` of `whole` in percent, rounded half up to 0.01; None when `whole` is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, ROUND_HALF_UP)


def _hours(seconds: Any) -> Decimal | None:
    return None if seconds is None else (Decimal(str(seconds)) / 3600).quantize(TENTH, ROUND_HALF_UP)


def _values(states: tuple[LoanStatus, ...]) -> list[str]:
    return [s.value for s in states]


class DashboardQueries:
    """The dashboards' figures of one brand, from the counters of projections/insight_figures.py (and the activity
    trail); each query reads a few rows of an index, never the book."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @contextmanager
    def _read(self) -> Iterator[Any]:
        """A connection in a transaction without JIT: these statements are small, its compile time is not."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL jit = off")
            yield conn

    def _counts(self, brand_id: UUID, dimension: str) -> dict[str, tuple[int, Decimal]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, loans, amount FROM read.insight_counts WHERE brand_id = %s AND dimension = %s",
                (brand_id, dimension),
            ).fetchall()
        return {r["key"]: (r["loans"], r["amount"]) for r in rows}

    def loan_counts(self, brand_id: UUID) -> LoanCounts:
        found = self._counts(brand_id, "status")
        by_status = {s.value: found.get(s.value, (0, None))[0] for s in LoanStatus}
        return LoanCounts(
            total=sum(by_status.values()),
            disbursed=sum(by_status[s] for s in _values(DISBURSED)),
            pending=sum(by_status[s] for s in _values(PENDING)),
            overdue=by_status[S.OVERDUE.value],
            by_status=by_status,
        )

    def dpd_buckets(self, brand_id: UUID) -> list[Bucket]:
        found = self._counts(brand_id, "bucket")
        return [Bucket(label, *found.get(label, (0, Decimal("0.00")))) for label, _, _ in BUCKETS]

    def recent_activity(self, brand_id: UUID, limit: int = 10, companies: Sequence[str] = ()) -> list[ActivityItem]:
        """The newest activity; `companies`: those the viewer may see (empty: every company), as the trail's."""
        of_companies = f" AND {of_companies_sql()}" if companies else ""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM ((SELECT occurred_at, source, position, event_type, summary, actor FROM read.activity "
                f"WHERE brand_id = %(brand)s{of_companies} ORDER BY occurred_at DESC, source DESC, position DESC "
                "LIMIT %(limit)s) "
                "UNION ALL (SELECT occurred_at, 'ops', position, event_type, summary, actor FROM ops.activity "
                "WHERE brand_id = %(brand)s ORDER BY occurred_at DESC, position DESC LIMIT %(limit)s)) a "
                "ORDER BY occurred_at DESC, source DESC, position DESC LIMIT %(limit)s",
                {"brand": brand_id, "limit": limit, "companies": companies_param(companies)},
            ).fetchall()
        return [ActivityItem(**{k: v for k, v in r.items() if k != "position"}) for r in rows]

    def daily(self, brand_id: UUID, start: date, end: date) -> list[DayFigures]:
        """Each business day from `start` to `end`, zero when nothing happened."""
        found = self._days(brand_id, start, end)
        days = []
        day = start
        while day <= end:
            d_count, d_amount = found.get(("disbursed", day), (0, Decimal("0.00")))
            c_count, c_amount = found.get(("collected", day), (0, Decimal("0.00")))
            days.append(DayFigures(day, d_count, d_amount, c_count, c_amount))
            day += timedelta(days=1)
        return days

    def month(self, brand_id: UUID, first: date, last: date) -> MonthActuals:
        """Disbursals and collections of the business days `first`..`last`."""
        found = self._days(brand_id, first, last)
        return MonthActuals(
            disbursal_amount=sum((a for (m, _), (_, a) in found.items() if m == "disbursed"), Decimal("0.00")),
            disbursal_count=sum(n for (m, _), (n, _) in found.items() if m == "disbursed"),
            collections=sum((a for (m, _), (_, a) in found.items() if m == "collected"), Decimal("0.00")),
        )

    def _days(self, brand_id: UUID, start: date, end: date) -> dict[tuple[str, date], tuple[int, Decimal]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT metric, day, n, amount FROM read.insight_daily WHERE brand_id = %s "
                "AND metric IN ('disbursed', 'collected') AND day BETWEEN %s AND %s",
                (brand_id, start, end),
            ).fetchall()
        return {(r["metric"], r["day"]): (r["n"], r["amount"]) for r in rows}

    def recovery(self, brand_id: UUID, start: date) -> Recovery:
        """The loans that fell overdue from the day `start` on, and how many of them are recovered now: a sum over
        the window's days (`read.insight_flow_days`, step `overdue`)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT COALESCE(sum(loans), 0)::bigint AS fell, COALESCE(sum(recovered), 0)::bigint AS recovered "
                "FROM read.insight_flow_days WHERE brand_id = %s AND step = 'overdue' AND day >= %s",
                (brand_id, start),
            ).fetchone()
        return Recovery(row["fell"], row["recovered"], percent(row["recovered"], row["fell"]))

    def tat(self, brand_id: UUID, start: date) -> list[StageTat]:
        """For each stage, the loans that finished it from the day `start` on: how long it took them (count,
        average, lower median), from the window's days binned by tenths of an hour (`read.insight_stage_days`)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT stage, tenths, sum(loans)::bigint AS n, sum(seconds) AS seconds FROM read.insight_stage_days "
                "WHERE brand_id = %s AND stage = ANY(%s) AND day >= %s GROUP BY stage, tenths ORDER BY stage, tenths",
                (brand_id, [stage for stage, _, _ in STAGES], start),
            ).fetchall()
        bins: dict[str, list[tuple[int, int, Decimal]]] = {}
        for r in rows:
            bins.setdefault(r["stage"], []).append((r["tenths"], r["n"], r["seconds"]))
        found = []
        for stage, _, _ in STAGES:
            counted = [(tenths, n) for tenths, n, _ in bins.get(stage, ()) if n]
            loans = sum(n for _, n in counted)
            if not loans:
                found.append(StageTat(stage, 0, None, None))
                continue
            seconds = sum((secs for _, _, secs in bins[stage]), Decimal(0))
            median = Decimal(lower_median(counted)) / 10
            found.append(StageTat(stage, loans, _hours(seconds / loans), median.quantize(TENTH)))
        return found

    def funnel(self, brand_id: UUID, start: date) -> list[FunnelStep]:
        """Distinct loans that reached each step from the day `start` on (created: the loans started in it): a
        sum over the window's days of the loans whose last reach of the step was that day."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT step, sum(loans)::bigint AS n FROM read.insight_flow_days WHERE brand_id = %s "
                "AND step = ANY(%s) AND day >= %s GROUP BY step",
                (brand_id, [stage for _, stage in FUNNEL], start),
            ).fetchall()
        reached = {r["step"]: r["n"] for r in rows}
        return [FunnelStep(step, reached.get(stage, 0)) for step, stage in FUNNEL]


def lower_median(counted: list[tuple[int, int]]) -> int:
    """The lower median of values given as (value, how many) in ascending order: the middle one, or of the two
    middle ones the lower (`percentile_disc(0.5)`; rounding each value first does not change which one it is)."""
    middle = (sum(n for _, n in counted) - 1) // 2  # 0-based rank
    seen = 0
    for value, n in counted:
        seen += n
        if seen > middle:
            return value
    raise ValueError("no values")
