"""The onboarding job: close the funnels of borrowers inactive for the brand's `inactive_user_days`, as rejected
with the reason (their application still in onboarding cancelled), when the brand's `auto_reject_inactive_users` is
on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import structlog

from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.onboarding.application import Onboarding
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict
from projections.keyset import InvalidCursor
from projections.onboarding import OnboardingQueries

INACTIVE = JobDefinition(
    name="onboarding-inactive",
    title="Close inactive onboardings",
    description=(
        "When the brand's auto_reject_inactive_users is on, closes as rejected each onboarding untouched for "
        "inactive_user_days before the run's date, with the reason (the borrower sees it; staff see it in the lists), "
        "cancelling its application still in onboarding."
    ),
    defaults=JobSettings(cron="15 3 * * *", batch_size=500, retry_count=3, retry_interval_seconds=300),
    dry_run=True,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OnboardingJobPort:
    """What the onboarding job uses: the use cases (which re-check each funnel) and the read model (which finds
    the candidates on its index)."""

    onboarding: Onboarding
    queries: OnboardingQueries


def run_inactive(port: OnboardingJobPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Yield one (counts, cursor) per batch; safe to rerun (a closed funnel is no longer a candidate, and one whose
    close failed after its application was cancelled still is: the rerun finishes it)."""
    rules = port.onboarding.brands.rules(job_run.brand_id)
    if not rules.auto_reject_inactive:
        yield BatchCounts(), None
        return
    cutoff = datetime.combine(job_run.as_of, time.min, tzinfo=UTC) - timedelta(days=rules.inactive_days)
    days = "1 day" if rules.inactive_days == 1 else f"{rules.inactive_days} days"
    reason = f"inactive for {days}: closed automatically"
    after = job_run.cursor or None
    while True:
        try:
            ids, after = port.queries.idle(job_run.brand_id, cutoff, after, job_run.settings.batch_size)
        except InvalidCursor:
            # A retry's cursor from another cutoff (the brand's inactive days changed) or an earlier release: the
            # walk starts again from the first candidate, which is safe (a closed funnel is no longer one).
            log.warning("onboarding_inactive.cursor_restarted", brand_id=str(job_run.brand_id), run_id=str(job_run.id))
            after = None
            continue
        if not ids:
            break
        closed = skipped = 0
        for borrower_id in ids:
            if job_run.dry_run:
                closed += 1
                continue
            try:
                with acting_as(f"job:{INACTIVE.name}"):
                    result = port.onboarding.close_inactive(job_run.brand_id, borrower_id, cutoff, reason)
            except Conflict:
                result = None
            if result is not None and result.changed:
                closed += 1
            else:
                skipped += 1
        yield BatchCounts(processed=len(ids), succeeded=closed, skipped=skipped), after
