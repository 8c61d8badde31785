"""The Sales Manager / Head views: a month's targets (the brand's `monthly_targets`) against actuals, conversion
per funnel step (leads and onboarding), and aggregated sales figures by source, campaign and UTM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.leads.lead import FUNNEL

CENT = Decimal("0.01")


@dataclass(frozen=True)
class TargetLine:
    """One target of the month: goal, actual, percent achieved (None without a goal or a measure)."""

    name: str
    goal: Decimal
    actual: Decimal | None
    achieved_percent: Decimal | None


@dataclass(frozen=True)
class FunnelStep:
    """How many reached a step, and the percent of the step before that did."""

    step: str
    reached: int
    conversion_percent: Decimal | None


@dataclass(frozen=True)
class SourceLine:
    """Leads of one source and campaign (organic: no campaign), how far they got."""

    source: str
    is_organic: bool
    campaign: str | None
    leads: int
    applied: int
    converted: int
    rejected: int


@dataclass(frozen=True)
class UtmLine:
    """Sign-ups and loan applications of one UTM source / medium / campaign (all None: no UTM)."""

    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    signups: int
    applications: int


@dataclass(frozen=True)
class SalesOverview:
    """A month of sales."""

    month: str
    targets: list[TargetLine]
    lead_funnel: list[FunnelStep]
    lead_rejected: int
    onboarding_funnel: list[FunnelStep]
    by_source: list[SourceLine]
    by_utm: list[UtmLine]


@dataclass(frozen=True)
class MonthBounds:
    """A month in the brand's local days: its first day and the next month's (for the tables filed by business day),
    and the instants they start at in the brand's timezone (for the tables filed by instant)."""

    first_day: date
    next_day: date
    start: datetime
    end: datetime

    def args(self, brand_id: UUID) -> dict[str, Any]:
        """The query parameters: brand `b`, days `first_day` and `next_day`, instants `start` and `end`."""
        return {"b": brand_id, "first_day": self.first_day, "next_day": self.next_day, "start": self.start,
                "end": self.end}  # fmt: skip


def month_bounds(month: str, tz: str) -> MonthBounds:
    """The month (YYYY-MM) in the brand's timezone `tz`: from local midnight of its 1st to local midnight of the next
    month's 1st (as the reports' date filters count a day), so one indexed range over the instants counts it."""
    year, number = int(month[:4]), int(month[5:7])
    first, following = date(year, number, 1), date(year + number // 12, number % 12 + 1, 1)
    zone = ZoneInfo(tz)
    return MonthBounds(
        first, following, datetime.combine(first, time(), zone), datetime.combine(following, time(), zone)
    )


def percent(part: Decimal | int | None, whole: Decimal | int | None) -> Decimal | None:
    """part / whole as a percent to two places (None when either is missing or the whole is 0)."""
    if part is None or not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, ROUND_HALF_UP)


def _steps(counts: list[tuple[str, int]]) -> list[FunnelStep]:
    steps, before = [], None
    for step, reached in counts:
        steps.append(FunnelStep(step, reached, percent(reached, before) if before is not None else None))
        before = reached
    return steps


def _targets(conn: Any, args: dict[str, Any], goals: dict[str, Decimal]) -> list[TargetLine]:
    """The month's targets (`args`: `MonthBounds.args`) against what was done in it: both figures are filed by business
    day already (`disbursed_on`, the insight's `day`), so they are counted by the month's days."""
    disbursed = conn.execute(
        # The principal disbursed on: the sanctioned amount (what Dashboard V2's targets count), not the amount asked.
        "SELECT count(*) AS n, COALESCE(sum(COALESCE(l.sanctioned_amount, l.amount)), 0) AS amount "
        "FROM read.loan_disbursals d "
        "JOIN read.loans l ON l.id = d.loan_id WHERE d.brand_id = %(b)s AND d.state = 'disbursed' "
        "AND d.disbursed_on >= %(first_day)s AND d.disbursed_on < %(next_day)s",
        args,
    ).fetchone()
    # What was collected in the month: repayments standing, by the day they were paid (the figure Dashboard V2's
    # targets read, `read.insight_daily`; a reversal takes its payment out again).
    collected = conn.execute(
        "SELECT COALESCE(sum(amount), 0) AS amount FROM read.insight_daily WHERE brand_id = %(b)s "
        "AND metric = 'collected' AND day >= %(first_day)s AND day < %(next_day)s",
        args,
    ).fetchone()
    assert disbursed is not None and collected is not None
    actual_amount = Decimal(disbursed["amount"]).quantize(CENT)
    collections = Decimal(collected["amount"]).quantize(CENT)
    return [
        TargetLine("disbursal_amount", goals.get("disbursal_amount", Decimal(0)), actual_amount,
                   percent(actual_amount, goals.get("disbursal_amount"))),
        TargetLine("disbursal_count", goals.get("disbursal_count", Decimal(0)), Decimal(disbursed["n"]),
                   percent(disbursed["n"], goals.get("disbursal_count"))),
        TargetLine("collections", goals.get("collections", Decimal(0)), collections,
                   percent(collections, goals.get("collections"))),
    ]  # fmt: skip


class SalesQueries:
    """Brand-scoped sales figures for a month, counted in the brand's local days (`tz`: its timezone)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def targets(self, brand_id: UUID, month: str, goals: dict[str, Decimal], tz: str) -> list[TargetLine]:
        """The month's targets against what was done in it, alone (what a Sales agent sees: no funnels, no sources)."""
        with self.pool.connection() as conn:
            return _targets(conn, month_bounds(month, tz).args(brand_id), goals)

    def overview(self, brand_id: UUID, month: str, goals: dict[str, Decimal], tz: str) -> SalesOverview:
        """The month's figures; `goals` are the month's targets (disbursal_amount, disbursal_count, collections).
        Leads, sign-ups and applications of the month are those whose instant falls in it in the brand's timezone
        (one range over each table's brand-and-instant index)."""
        args = month_bounds(month, tz).args(brand_id)
        with self.pool.connection() as conn:
            targets = _targets(conn, args, goals)
            # Steps may be skipped: a lead reached a step when it reached it or any later one (its highest rank).
            reached = conn.execute(
                "SELECT top, count(*) AS n, count(*) FILTER (WHERE rejected) AS rejected FROM (SELECT e.lead_id, "
                "max(CASE e.status WHEN 'contacted' THEN 1 WHEN 'applied' THEN 2 WHEN 'converted' THEN 3 ELSE 0 END) "
                "AS top, bool_or(e.status = 'rejected') AS rejected FROM read.leads l JOIN read.lead_events e "
                "ON e.lead_id = l.id WHERE l.brand_id = %(b)s AND l.created_at >= %(start)s "
                "AND l.created_at < %(end)s GROUP BY e.lead_id) AS per_lead GROUP BY top",
                args,
            ).fetchall()
            sources = conn.execute(
                "SELECT source, is_organic, campaign_name AS campaign, count(*) AS leads, "
                "count(*) FILTER (WHERE status IN ('applied', 'converted')) AS applied, "
                "count(*) FILTER (WHERE status = 'converted') AS converted, "
                "count(*) FILTER (WHERE status = 'rejected') AS rejected FROM read.leads WHERE brand_id = %(b)s "
                "AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 3 LIMIT 200",
                args,
            ).fetchall()
            utm = conn.execute(
                "SELECT b.utm_source, b.utm_medium, b.utm_campaign, count(*) AS signups, "
                "(SELECT count(*) FROM read.loan_attribution a WHERE a.brand_id = %(b)s AND a.applied_at >= %(start)s "
                "AND a.applied_at < %(end)s AND a.utm_source IS NOT DISTINCT FROM b.utm_source "
                "AND a.utm_medium IS NOT DISTINCT FROM b.utm_medium AND a.utm_campaign IS NOT DISTINCT FROM "
                "b.utm_campaign) AS applications FROM read.borrower_attribution b WHERE b.brand_id = %(b)s "
                "AND b.signed_up_at >= %(start)s AND b.signed_up_at < %(end)s GROUP BY 1, 2, 3 "
                "ORDER BY 4 DESC, 1, 2, 3 LIMIT 200",
                args,
            ).fetchall()
            onboarding = conn.execute(
                "SELECT step, reached FROM read.onboarding_steps WHERE brand_id = %(b)s ORDER BY reached DESC, step",
                args,
            ).fetchall()
        by_rank = {int(r["top"]): int(r["n"]) for r in reached}
        counts = [(step.value, sum(n for rank, n in by_rank.items() if rank >= i)) for i, step in enumerate(FUNNEL)]
        rejected = sum(int(r["rejected"]) for r in reached)
        return SalesOverview(
            month=month,
            targets=targets,
            lead_funnel=_steps(counts),
            lead_rejected=rejected,
            onboarding_funnel=_steps([(r["step"], int(r["reached"])) for r in onboarding]),
            by_source=[SourceLine(**r) for r in sources],
            by_utm=[UtmLine(**r) for r in utm],
        )
