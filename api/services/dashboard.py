"""The dashboard of a brand (issue #18 item 3): V1 or V2 as the brand's `dashboard_version` says, on its business
date. The figures are projections/dashboard.py's queries; what each means is in docs/insight.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from domain.identity.application import Identity
from projections.dashboard import (
    ActivityItem,
    Bucket,
    DashboardQueries,
    DayFigures,
    FunnelStep,
    LoanCounts,
    Recovery,
    StageTat,
    percent,
)
from projections.reminders import ReminderQueries

#: The V2 charts' window: this many business days up to the business date.
WINDOW_DAYS = 30


@dataclass(frozen=True)
class TargetLine:
    """One monthly target beside what was done so far in the month."""

    metric: str
    target: Decimal
    actual: Decimal
    achieved: Decimal | None  # percent of the target, rounded half up to 0.01; None when the target is 0


@dataclass(frozen=True)
class Targets:
    """The brand's targets of the business date's month (`monthly_targets`), with the actuals."""

    month: str
    configured: bool
    lines: list[TargetLine]


@dataclass(frozen=True)
class ReminderCounts:
    """The reminders' panel: the brand's reminders by state (`ReminderQueries.counts`: a sent reminder whose
    message finally failed counts as failed)."""

    scheduled: int
    sent: int
    failed: int


@dataclass(frozen=True)
class Dashboard:
    """What the dashboard shows; the V2 parts are None on a V1 dashboard."""

    version: str
    as_of: date
    loans: LoanCounts
    recent_activity: list[ActivityItem]
    window_start: date | None = None
    daily: list[DayFigures] | None = None
    dpd_buckets: list[Bucket] | None = None
    recovery: Recovery | None = None
    tat: list[StageTat] | None = None
    funnel: list[FunnelStep] | None = None
    targets: Targets | None = None
    reminders: ReminderCounts | None = None
    missing: list[str] = field(default_factory=list)  # panels with no read model to show yet


@dataclass(frozen=True)
class DashboardDesk:
    """Builds a brand's dashboard from its settings (version, timezone, business date, targets) and the figures."""

    identity: Identity
    figures: DashboardQueries
    reminders: ReminderQueries

    def dashboard(self, brand_id: UUID, companies: tuple[str, ...] = ()) -> Dashboard:
        """`companies`: those the viewer may see (empty: every company) -- the recent activity leaves out the others'
        records (the trail's rule, `ActivityQueries.entries`)."""
        settings = self.identity.settings(brand_id)
        today = self.identity.business_date(brand_id)
        loans = self.figures.loan_counts(brand_id)
        activity = self.figures.recent_activity(brand_id, companies=companies)
        version = settings.dashboard_version.value
        if version != "V2":
            return Dashboard(version, today, loans, activity)
        start = today - timedelta(days=WINDOW_DAYS - 1)  # the window's days are the brand's local days
        return Dashboard(
            version,
            today,
            loans,
            activity,
            window_start=start,
            daily=self.figures.daily(brand_id, start, today),
            dpd_buckets=self.figures.dpd_buckets(brand_id),
            recovery=self.figures.recovery(brand_id, start),
            tat=self.figures.tat(brand_id, start),
            funnel=self.figures.funnel(brand_id, start),
            targets=self._targets(brand_id, today),
            reminders=self._reminders(brand_id),
        )

    def _reminders(self, brand_id: UUID) -> ReminderCounts:
        counts = self.reminders.counts(brand_id)
        return ReminderCounts(counts["scheduled"], counts["sent"], counts["failed"])

    def _targets(self, brand_id: UUID, today: date) -> Targets:
        month = today.strftime("%Y-%m")
        target = self.identity.settings(brand_id).monthly_targets.get(month)
        actual = self.figures.month(brand_id, today.replace(day=1), today)
        goals = (
            ("disbursal_amount", target.disbursal_amount if target else Decimal("0.00"), actual.disbursal_amount),
            ("disbursal_count", Decimal(target.disbursal_count if target else 0), Decimal(actual.disbursal_count)),
            ("collections", target.collections if target else Decimal("0.00"), actual.collections),
        )
        lines = [TargetLine(metric, goal, done, percent(done, goal)) for metric, goal, done in goals]
        return Targets(month, target is not None, lines)
