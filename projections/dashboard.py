"""The dashboards' figures (issue #18 item 3) over the loans' read models; every figure's definition is in
docs/insight.md, and each query is scoped to one brand and reads through an index (projections/insight_indexes.py).

- loan counts by status: `read.loans` (`loans_status_idx`);
- recent activity: `read.activity` (`activity_brand_time_idx`);
- disbursals by day: `read.loans.disbursed_on` (`loans_disbursed_on_idx`), the sanctioned principal;
- collections by day: the repayments of the loans' timeline (`read.loan_events`, `loan_events_brand_kind_idx`) by
  their `paid_on`, a reversed payment not counted;
- DPD buckets: the serviced loans' `dpd` (`loans_serviced_idx`);
- recovery, TAT per stage and the approval funnel: the timeline's events of the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.loans.states import LoanStatus

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
#: TAT stages: (stage, the timeline kind it starts at — "created" is the loan's creation —, the kind it ends at).
STAGES = (
    ("application", "created", "submitted"),
    ("credit review", "submitted", "cx_approved"),
    ("sanction", "cx_approved", "sanctioned"),
    ("disbursal", "sanctioned", "disbursed"),
)
#: The approval funnel's steps, by the timeline kind that counts a loan in them ("created": the loan's creation).
FUNNEL = (
    ("created", "created"),
    ("submitted", "submitted"),
    ("credit approved", "cx_approved"),
    ("sanctioned", "sanctioned"),
    ("disbursed", "disbursed"),
)
#: The timeline's kinds that can leave a loan overdue: the close of business, a reversal, a part payment.
OVERDUE_KINDS = ("status_moved", "repayment_reversed", "repayment_recorded")
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
    """The dashboards' figures of one brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def loan_counts(self, brand_id: UUID) -> LoanCounts:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT status, count(*) AS n FROM read.loans WHERE brand_id = %s GROUP BY status", (brand_id,)
            ).fetchall()
        by_status = {s.value: 0 for s in LoanStatus} | {r["status"]: r["n"] for r in rows}
        return LoanCounts(
            total=sum(by_status.values()),
            disbursed=sum(by_status[s] for s in _values(DISBURSED)),
            pending=sum(by_status[s] for s in _values(PENDING)),
            overdue=by_status[S.OVERDUE.value],
            by_status=by_status,
        )

    def recent_activity(self, brand_id: UUID, limit: int = 10) -> list[ActivityItem]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT occurred_at, source, event_type, summary, actor FROM read.activity WHERE brand_id = %s "
                "ORDER BY occurred_at DESC, source DESC, position DESC LIMIT %s",
                (brand_id, limit),
            ).fetchall()
        return [ActivityItem(**r) for r in rows]

    def daily(self, brand_id: UUID, start: date, end: date, tz: str) -> list[DayFigures]:
        """Each day from `start` to `end` (business dates), zero when nothing happened."""
        disbursed = self._disbursed_by_day(brand_id, start, end)
        collected = self._collected_by_day(brand_id, start, end, tz)
        days = []
        day = start
        while day <= end:
            d_count, d_amount = disbursed.get(day, (0, Decimal("0.00")))
            c_count, c_amount = collected.get(day, (0, Decimal("0.00")))
            days.append(DayFigures(day, d_count, d_amount, c_count, c_amount))
            day += timedelta(days=1)
        return days

    def month(self, brand_id: UUID, first: date, last: date, tz: str) -> MonthActuals:
        """Disbursals and collections of the business days `first`..`last`."""
        disbursed = self._disbursed_by_day(brand_id, first, last).values()
        collected = self._collected_by_day(brand_id, first, last, tz).values()
        return MonthActuals(
            disbursal_amount=sum((a for _, a in disbursed), Decimal("0.00")),
            disbursal_count=sum(n for n, _ in disbursed),
            collections=sum((a for _, a in collected), Decimal("0.00")),
        )

    def _disbursed_by_day(self, brand_id: UUID, start: date, end: date) -> dict[date, tuple[int, Decimal]]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT disbursed_on AS day, count(*) AS n, sum(COALESCE(sanctioned_amount, amount)) AS amount "
                "FROM read.loans WHERE brand_id = %s AND disbursed_on BETWEEN %s AND %s GROUP BY disbursed_on",
                (brand_id, start, end),
            ).fetchall()
        return {r["day"]: (r["n"], r["amount"]) for r in rows}

    def _collected_by_day(self, brand_id: UUID, start: date, end: date, tz: str) -> dict[date, tuple[int, Decimal]]:
        # A payment is recorded on or after the day it was paid: its event is after the window's first midnight.
        since = datetime.combine(start, time(), ZoneInfo(tz))
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT (e.details->>'paid_on')::date AS day, count(*) AS n, "
                "sum((e.details->>'amount')::numeric(16, 2)) AS amount FROM read.loan_events e "
                "WHERE e.brand_id = %(brand)s AND e.kind = 'repayment_recorded' AND e.at >= %(since)s "
                "AND (e.details->>'paid_on')::date BETWEEN %(start)s AND %(end)s "
                "AND NOT EXISTS (SELECT FROM read.loan_events r WHERE r.loan_id = e.loan_id "
                "AND r.kind = 'repayment_reversed' AND r.details->>'payment_id' = e.details->>'payment_id') "
                "GROUP BY 1",
                {"brand": brand_id, "since": since, "start": start, "end": end},
            ).fetchall()
        return {r["day"]: (r["n"], r["amount"]) for r in rows}

    def dpd_buckets(self, brand_id: UUID) -> list[Bucket]:
        cases = " ".join(
            f"WHEN COALESCE(dpd, 0) BETWEEN {low} AND {high} THEN '{label}'"
            if high is not None
            else f"WHEN COALESCE(dpd, 0) >= {low} THEN '{label}'"
            for label, low, high in BUCKETS
        )
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT CASE {cases} END AS bucket, count(*) AS n, "
                "sum(COALESCE(sanctioned_amount, amount)) AS amount FROM read.loans "
                "WHERE brand_id = %s AND status IN ('active', 'partially_paid', 'overdue') GROUP BY 1",
                (brand_id,),
            ).fetchall()
        found = {r["bucket"]: (r["n"], r["amount"]) for r in rows}
        return [Bucket(label, *found.get(label, (0, Decimal("0.00")))) for label, _, _ in BUCKETS]

    def recovery(self, brand_id: UUID, since: datetime) -> Recovery:
        with self.pool.connection() as conn:
            row = conn.execute(
                "WITH fell AS (SELECT DISTINCT loan_id FROM read.loan_events WHERE brand_id = %s "
                "AND kind = ANY(%s) AND status = 'overdue' AND at >= %s) "
                "SELECT count(*) AS fell, count(*) FILTER (WHERE l.status = ANY(%s)) AS recovered "
                "FROM fell JOIN read.loans l ON l.id = fell.loan_id",
                (brand_id, list(OVERDUE_KINDS), since, _values(RECOVERED)),
            ).fetchone()
        return Recovery(row["fell"], row["recovered"], percent(row["recovered"], row["fell"]))

    def tat(self, brand_id: UUID, since: datetime) -> list[StageTat]:
        """For each stage, the loans whose stage ended in the window: the time from its latest start before."""
        parts = []
        params: dict[str, Any] = {"brand": brand_id, "since": since}
        for i, (stage, start, end) in enumerate(STAGES):
            params[f"s{i}"], params[f"e{i}"], params[f"n{i}"] = start, end, stage
            began = (
                "(SELECT l.created_at FROM read.loans l WHERE l.id = t.loan_id)"
                if start == "created"
                else f"(SELECT max(f.at) FROM read.loan_events f WHERE f.loan_id = t.loan_id AND f.kind = %(s{i})s "
                "AND f.at <= t.at)"
            )
            parts.append(
                f"SELECT %(n{i})s::text AS stage, {i} AS ord, count(s.took) AS n, avg(s.took) AS average, "
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY s.took) AS median FROM read.loan_events t "
                f"CROSS JOIN LATERAL (SELECT extract(epoch FROM t.at - {began}) AS took) s "
                f"WHERE t.brand_id = %(brand)s AND t.kind = %(e{i})s AND t.at >= %(since)s AND s.took IS NOT NULL"
            )
        with self.pool.connection() as conn:
            rows = conn.execute(" UNION ALL ".join(parts) + " ORDER BY ord", params).fetchall()
        return [StageTat(r["stage"], r["n"], _hours(r["average"]), _hours(r["median"])) for r in rows]

    def funnel(self, brand_id: UUID, since: datetime) -> list[FunnelStep]:
        """Distinct loans that reached each step in the window."""
        kinds = [kind for _, kind in FUNNEL if kind != "created"]
        with self.pool.connection() as conn:
            created = conn.execute(
                "SELECT count(*) AS n FROM read.loans WHERE brand_id = %s AND created_at >= %s", (brand_id, since)
            ).fetchone()["n"]
            rows = conn.execute(
                "SELECT kind, count(DISTINCT loan_id) AS n FROM read.loan_events WHERE brand_id = %s "
                "AND kind = ANY(%s) AND at >= %s GROUP BY kind",
                (brand_id, kinds, since),
            ).fetchall()
        reached = {"created": created} | {r["kind"]: r["n"] for r in rows}
        return [FunnelStep(stage, reached.get(kind, 0)) for stage, kind in FUNNEL]
