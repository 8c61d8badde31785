"""The `mandate-debits` job (issue #15 item 2): for each active UPI Autopay mandate of a brand, present what is due
on the run's business date at the gateway (`Mandates.plan` / `Mandates.present`); the gateway settles each debit by
webhook. Failed debits are presented again per the retry policy (`domain.loans.mandate_debits.RETRIES`,
`RETRY_SPACING_DAYS`). A rerun presents nothing twice: each instalment's attempt is presented once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import structlog

from api.services.paylinks import Paylinks
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.providers.errors import ProviderUnavailable
from domain.shared.errors import DomainError

log = structlog.get_logger(__name__)

MANDATE_DEBITS = JobDefinition(
    name="mandate-debits",
    title="UPI Autopay debits",
    description="Presents the due instalment of every active UPI Autopay mandate at the payment gateway; failed "
    "debits are presented again per the retry policy; the gateway settles each by webhook.",
    defaults=JobSettings(cron="0 7 * * *", batch_size=200, retry_count=3, retry_interval_seconds=60),
    variable_keys=frozenset({"as_of"}),
    waits_for_close=True,  # presents the unpaid instalment and penal charges the close of business computes
)


class DebitsNotPresented(RuntimeError):
    """Raised at the end of a run whose gateway could not be reached for some debit (a timeout, a 5xx): the attempt
    fails, so the run is retried after its interval (a debit kept awaiting its answer is presented again under the
    same reference; the others are not presented twice), and its retries used up, recorded failed. A run that
    logged the failures and ended `succeeded` never retried: the debit waited for the next day's run, after the close
    of business had marked the instalment overdue."""


@dataclass(frozen=True)
class MandateJobPort:
    """What the mandate-debits job uses (filled by type by the platform)."""

    paylinks: Paylinks


def run_mandate_debits(port: MandateJobPort, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The job's handler: active mandates a keyset page at a time, each presented when something is due."""
    mandates = port.paylinks.mandates
    after = None
    unreached = 0
    while True:
        page = mandates.store.active_mandates(run.brand_id, after, run.settings.batch_size)
        if not page:
            if unreached:
                raise DebitsNotPresented(
                    f"{unreached} debit(s) not presented: the gateway could not be reached (logged "
                    "mandate_debits.failed); presented again on the retry"
                )
            return
        presented = failed = skipped = 0
        for mandate in page:
            try:
                plan = mandates.plan(mandate, run.as_of)
                if plan is None or mandates.present(plan, run.as_of) is None:
                    skipped += 1
                else:
                    presented += 1
            except DomainError as exc:
                failed += 1
                unreached += isinstance(exc, ProviderUnavailable)
                log.warning("mandate_debits.failed", mandate_id=str(mandate.id), error=str(exc))
        after = page[-1].id
        yield BatchCounts(processed=len(page), succeeded=presented, failed=failed, skipped=skipped), str(after)
