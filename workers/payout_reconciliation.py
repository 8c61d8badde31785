"""The `payout-reconciliation` job: payout requests whose gateway answer we never read (the process asking died,
or its answer was lost, and no gateway webhook reached us within `INITIATION_WINDOW`) are looked up at the gateway
by their idempotency key and their outcome recorded on the loan once - paid (active), failed, or still pending (its
webhook will come); a request that made no payout is settled. Each settled request's `ops.payout_initiations` row
is deleted (`Disbursals.reconcile`, docs/loans.md "Disbursal"). A run that could not settle one fails its attempt
(`PayoutsUnsettled`: retried, then failed), its error saying how many requests are left open past the window and the
oldest's age; the disbursal queue page says the same while any is open."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from api.services.disbursals import Disbursals
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings

PAYOUT_RECONCILIATION = JobDefinition(
    name="payout-reconciliation",
    title="Payout reconciliation",
    description="Asks the payment gateway about payout requests left unanswered past 15 minutes and records each "
    "one's outcome on its loan once (paid, failed, pending, or no payout made).",
    defaults=JobSettings(cron="*/15 * * * *", batch_size=100, retry_count=3, retry_interval_seconds=60),
)


@dataclass(frozen=True)
class PayoutReconciliationPort:
    """What the payout-reconciliation job uses (filled by type by the platform)."""

    disbursals: Disbursals


class PayoutsUnsettled(RuntimeError):
    """Raised at the end of a run that could not settle a payout request (the gateway unreachable or answering an
    error, or the loan refusing the outcome): the run's attempt fails, so the run is retried and, its retries used
    up, recorded failed, with how many requests are left and the oldest's age as its error (the jobs page)."""


def run_payout_reconciliation(port: PayoutReconciliationPort, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The job's handler: the brand's unanswered requests, a batch at a time, until none is left that this run can
    settle (one the gateway cannot be asked about now stays for the next run). Its batches recorded, a run that
    could not settle one fails (PayoutsUnsettled) naming what is left open past the window."""
    failed = 0
    while True:
        done = port.disbursals.reconcile(run.brand_id, run.settings.batch_size)
        if done.total == 0:
            break
        failed += done.failed
        settled = done.total - done.failed
        yield BatchCounts(processed=done.total, succeeded=settled, failed=done.failed), None
        if settled == 0:
            break
    if failed:
        left = port.disbursals.unsettled(run.brand_id)
        if left.count:  # none: settled meanwhile (a webhook, staff pressing again)
            raise PayoutsUnsettled(
                f"{left.words()} still open: the gateway could not be asked or answered an error, or the loan "
                "refused the outcome (logged disbursal.reconcile_failed); asked again on the retry and the next run"
            )
