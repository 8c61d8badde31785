"""The inactivity close's cutoff is the start of a day in the brand's timezone: at UTC midnight a funnel touched
between 00:00 and 05:30 IST was closed a day early (`FunnelRules.inactive_before`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.onboarding.steps import FunnelRules

IST = ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize("days", [1, 7, 30])
def test_a_funnel_touched_early_on_the_first_day_is_not_yet_inactive(days: int) -> None:
    rules = FunnelRules(auto_reject_inactive=True, inactive_days=days, timezone="Asia/Kolkata")
    as_of = date(2026, 3, 8)
    first_day = as_of - timedelta(days=days)
    cutoff = rules.inactive_before(as_of)
    assert cutoff == datetime(first_day.year, first_day.month, first_day.day, tzinfo=IST)
    touched = datetime(first_day.year, first_day.month, first_day.day, 4, 0, tzinfo=IST)  # 22:30 UTC the day before
    assert touched.astimezone(UTC).date() < first_day and not touched < cutoff  # inactive for less than `days`
    assert datetime(first_day.year, first_day.month, first_day.day, tzinfo=IST) - timedelta(minutes=1) < cutoff


def test_the_cutoff_follows_the_brands_own_timezone() -> None:
    ist = FunnelRules(inactive_days=7, timezone="Asia/Kolkata").inactive_before(date(2026, 3, 8))
    dubai = FunnelRules(inactive_days=7, timezone="Asia/Dubai").inactive_before(date(2026, 3, 8))
    assert dubai - ist == timedelta(hours=1, minutes=30)
