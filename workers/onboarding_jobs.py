"""The onboarding job: first reconcile each funnel with its application (the two are saved by two contexts, so a
failure or a race between the saves can leave them disagreeing: docs/onboarding.md, "Keeping the funnel and its
application together"), then close the funnels of borrowers inactive for the brand's `inactive_user_days`, as
rejected with the reason (their application still in onboarding cancelled), when the brand's
`auto_reject_inactive_users` is on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

import structlog

from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.onboarding.application import Onboarding
from domain.shared.aggregate import acting_as
from domain.shared.application import CommandResult
from domain.shared.errors import Conflict
from projections.keyset import InvalidCursor
from projections.onboarding import OnboardingQueries

INACTIVE = JobDefinition(
    name="onboarding-inactive",
    title="Close inactive onboardings",
    description=(
        "Reconciles onboardings with their applications (an application submitted while its onboarding is still in "
        "progress records the submission; one left in onboarding under a closed onboarding is cancelled; an "
        "onboarding left in progress over the application its close cancelled is closed with that close's reason), "
        "then, when the brand's auto_reject_inactive_users is on, closes as rejected each onboarding untouched for "
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


T = TypeVar("T")

#: How old an application must be before the reconciliation takes it for an orphan: a loan request in flight has
#: started its application and not yet recorded its step (a restart after a close records both at once).
ORPHAN_AFTER = timedelta(hours=1)

# The run's phases, in order: the reconciliation's sweeps, then the inactivity walk (after the closes' sweep, so a
# funnel a close left open is closed with that close's reason rather than the walk's). A sweep's cursor is prefixed
# with its phase; the walk's is bare (as before the sweeps existed, so a retry of an older run resumes its walk).
_SUBMISSIONS = "submissions"
_ORPHANS = "orphans"
_CLOSES = "closes"


def _resume(cursor: str | None) -> tuple[str | None, str | None]:
    """The phase a run resumes in (None: the walk) and that phase's own cursor."""
    if not cursor:
        return _SUBMISSIONS, None
    for phase in (_SUBMISSIONS, _ORPHANS, _CLOSES):
        if cursor.startswith(f"{phase}:"):
            return phase, cursor.removeprefix(f"{phase}:") or None
    return None, cursor


def run_inactive(port: OnboardingJobPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Reconcile the brand's funnels with their applications (`sync_submissions`, `cancel_orphans`, `finish_closes`:
    whatever the brand's settings), then yield one (counts, cursor) per batch of inactive funnels closed; safe to
    rerun (a closed funnel is no longer a candidate, and one whose close failed after its application was cancelled
    still is: the rerun finishes it)."""
    phase, cursor = _resume(job_run.cursor or None)
    if phase == _SUBMISSIONS:
        yield from sync_submissions(port, job_run, cursor)
        phase, cursor = _ORPHANS, None
    if phase == _ORPHANS:
        yield from cancel_orphans(port, job_run, cursor)
        phase, cursor = _CLOSES, None
    if phase == _CLOSES:
        yield from finish_closes(port, job_run, cursor)
        cursor = None
    yield from _close_inactive(port, job_run, cursor)


def sync_submissions(
    port: OnboardingJobPort, job_run: JobRun, after: str | None
) -> Iterator[tuple[BatchCounts, str | None]]:
    """Funnels still in progress whose application was submitted (a submit that failed between its two saves,
    staff submitting on the loan) record the submitted step (`Onboarding.sync_submission`), in batches on the
    read models' keyset; each fix is logged (`onboarding_sync.submission_recorded`)."""

    def fix(borrower_id: UUID) -> dict[str, str] | None:
        changed = port.onboarding.sync_submission(job_run.brand_id, borrower_id).changed
        return {"borrower_id": str(borrower_id)} if changed else None

    def page(cursor: str | None) -> tuple[list[UUID], str | None]:
        return port.queries.unrecorded_submissions(job_run.brand_id, cursor, job_run.settings.batch_size)

    yield from _reconcile(job_run, _SUBMISSIONS, after, page, fix, "onboarding_sync.submission_recorded")


def cancel_orphans(
    port: OnboardingJobPort, job_run: JobRun, after: str | None
) -> Iterator[tuple[BatchCounts, str | None]]:
    """Applications still in onboarding whose borrower's funnels are all closed (a loan request that raced the close,
    a close made before closes cancelled their application) are cancelled with the close's reason
    (`Onboarding.cancel_orphan`), once older than `ORPHAN_AFTER`, in batches on the read models' keyset; each fix
    is logged (`onboarding_sync.orphan_cancelled`)."""
    yield from _pair_sweep(
        port, job_run, _ORPHANS, after, port.queries.orphan_applications, port.onboarding.cancel_orphan,
        "onboarding_sync.orphan_cancelled",
    )  # fmt: skip


def finish_closes(
    port: OnboardingJobPort, job_run: JobRun, after: str | None
) -> Iterator[tuple[BatchCounts, str | None]]:
    """Funnels still in progress over an application a close cancelled (the close's funnel save never landed: the
    process died between its two saves, or every retry lost its race with the borrower) are closed with that close's
    reason, as the job (`Onboarding.finish_close`), once the cancel is older than `ORPHAN_AFTER` (a close in flight
    saves its funnel a moment after its cancel), in batches on the read models' keyset; each fix is logged
    (`onboarding_sync.close_finished`)."""
    yield from _pair_sweep(
        port, job_run, _CLOSES, after, port.queries.unfinished_closes, port.onboarding.finish_close,
        "onboarding_sync.close_finished",
    )  # fmt: skip


def _pair_sweep(
    port: OnboardingJobPort,
    job_run: JobRun,
    phase: str,
    after: str | None,
    pairs: Callable[[UUID, datetime, str | None, int], tuple[list[tuple[UUID, UUID]], str | None]],
    mend: Callable[[UUID, UUID, UUID], CommandResult],
    logged: str,
) -> Iterator[tuple[BatchCounts, str | None]]:
    """A sweep of (borrower, application) pairs older than `ORPHAN_AFTER`: `pairs` pages them (brand, before, cursor,
    limit), `mend` fixes one (brand, borrower, application) as the job."""
    before = port.onboarding.clock.now() - ORPHAN_AFTER

    def fix(pair: tuple[UUID, UUID]) -> dict[str, str] | None:
        borrower_id, loan_id = pair
        changed = mend(job_run.brand_id, borrower_id, loan_id).changed
        return {"borrower_id": str(borrower_id), "application_id": str(loan_id)} if changed else None

    def page(cursor: str | None) -> tuple[list[tuple[UUID, UUID]], str | None]:
        return pairs(job_run.brand_id, before, cursor, job_run.settings.batch_size)

    yield from _reconcile(job_run, phase, after, page, fix, logged)


def _reconcile(
    job_run: JobRun,
    phase: str,
    after: str | None,
    page: Callable[[str | None], tuple[list[T], str | None]],
    fix: Callable[[T], dict[str, str] | None],
    logged: str,
) -> Iterator[tuple[BatchCounts, str | None]]:
    """One reconciliation sweep: `page` gives the candidates after a cursor (a stale cursor starts the sweep again:
    a fixed pair is no longer a candidate), `fix` mends one as the job (the fields to log when it changed something,
    None when the aggregates say it was sound; a conflict skips it for the next run); a dry run only counts. One
    (counts, phase-prefixed cursor) per batch."""
    brand = str(job_run.brand_id)
    while True:
        try:
            items, after = page(after)
        except InvalidCursor:
            log.warning("onboarding_sync.cursor_restarted", brand_id=brand, run_id=str(job_run.id), phase=phase)
            after = None
            continue
        if not items:
            return
        fixed = skipped = 0
        for item in items:
            if job_run.dry_run:
                fixed += 1
                continue
            try:
                with acting_as(f"job:{INACTIVE.name}"):
                    fields = fix(item)
            except Conflict:
                fields = None
            if fields is not None:
                fixed += 1
                log.info(logged, brand_id=brand, **fields)
            else:
                skipped += 1
        yield BatchCounts(processed=len(items), succeeded=fixed, skipped=skipped), f"{phase}:{after}"


def _close_inactive(
    port: OnboardingJobPort, job_run: JobRun, after: str | None
) -> Iterator[tuple[BatchCounts, str | None]]:
    """Close the funnels untouched for the brand's inactive days, when its `auto_reject_inactive_users` is on."""
    rules = port.onboarding.brands.rules(job_run.brand_id)
    if not rules.auto_reject_inactive:
        yield BatchCounts(), None
        return
    cutoff = rules.inactive_before(job_run.as_of)
    days = "1 day" if rules.inactive_days == 1 else f"{rules.inactive_days} days"
    reason = f"inactive for {days}: closed automatically"
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
