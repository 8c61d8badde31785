"""The source-health rule: healthy, degraded, failing or stale, judged against the source's own schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.notices.health import SourceHealth, SyncHistory, schedule_interval, source_health

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HEALTHY = SyncHistory(
    schedule="*/30 * * * *",
    created_at=NOW - timedelta(days=1),
    last_success_at=NOW - timedelta(minutes=20),
    last_failure_at=None,
    last_status="succeeded",
    consecutive_failures=0,
)


@pytest.mark.parametrize(
    ("changes", "health"),
    [
        ({}, SourceHealth.HEALTHY),
        ({"consecutive_failures": 1, "last_status": "failed", "last_failure_at": NOW}, SourceHealth.DEGRADED),
        ({"consecutive_failures": 2, "last_status": "failed"}, SourceHealth.DEGRADED),
        ({"last_status": "partial"}, SourceHealth.DEGRADED),
        ({"consecutive_failures": 3, "last_status": "failed"}, SourceHealth.FAILING),
        ({"consecutive_failures": 9, "last_status": "failed"}, SourceHealth.FAILING),
        ({"last_success_at": NOW - timedelta(minutes=61)}, SourceHealth.STALE),  # two 30-minute slots missed
        ({"last_success_at": NOW - timedelta(minutes=59)}, SourceHealth.HEALTHY),
        ({"last_success_at": None}, SourceHealth.STALE),  # never succeeded in the day since connecting
        # Stale outranks failing: nothing came in for too long, whatever the count.
        ({"last_success_at": NOW - timedelta(hours=5), "consecutive_failures": 4}, SourceHealth.STALE),
    ],
)
def test_health_of_a_half_hourly_source(changes: dict[str, object], health: SourceHealth) -> None:
    assert source_health(replace(HEALTHY, **changes), NOW) is health  # type: ignore[arg-type]


def test_a_new_source_is_healthy_until_it_runs_then_degraded_when_its_first_run_fails() -> None:
    new = SyncHistory("0 * * * *", NOW - timedelta(minutes=10), None, None, None, 0)
    assert source_health(new, NOW) is SourceHealth.HEALTHY
    failed = replace(new, last_failure_at=NOW, last_status="failed", consecutive_failures=1)
    assert source_health(failed, NOW) is SourceHealth.DEGRADED


def test_staleness_follows_each_sources_own_schedule() -> None:
    daily = replace(HEALTHY, schedule="0 6 * * *", last_success_at=NOW - timedelta(hours=30))
    assert source_health(daily, NOW) is SourceHealth.HEALTHY  # within two days
    assert source_health(replace(daily, last_success_at=NOW - timedelta(hours=49)), NOW) is SourceHealth.STALE


def test_interval_of_a_cron_schedule_and_of_a_broken_one() -> None:
    assert schedule_interval("*/15 * * * *", NOW) == timedelta(minutes=15)
    assert schedule_interval("0 */6 * * *", NOW) == timedelta(hours=6)
    assert schedule_interval("not a schedule", NOW) is None
    broken = replace(HEALTHY, schedule="not a schedule", last_success_at=NOW - timedelta(days=30))
    assert source_health(broken, NOW) is SourceHealth.HEALTHY  # no interval: never stale by schedule
