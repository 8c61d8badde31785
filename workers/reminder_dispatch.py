"""The `reminder-dispatch` job (issue #17 item 4): every minute, sends each brand's scheduled reminders whose time
has come through the engagement context's send service, exactly once.

Per batch of due reminders: take them (one atomic save of `DispatchStarted`: a cancel after this is a 409, a cancel
before it leaves the reminder out), send each under the key `reminder:<id>`, then record what each became (one
save). A run killed between sending and recording leaves the reminders taken but still scheduled; the next run
takes them again and sends under the same key, which the messages store has claimed already, so it returns the
first message and nothing reaches the borrower twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import structlog

from api.services.reminder_messages import ReminderMessages
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.reminders.application import Reminders
from domain.shared.clock import Clock
from projections.engine import ProjectionEngine
from projections.reminders import ReminderQueries

log = structlog.get_logger(__name__)

DEFINITION = JobDefinition(
    name="reminder-dispatch",
    title="Reminder dispatch",
    description="Sends the scheduled reminders whose time has come (SMS, WhatsApp or email with their template), "
    "each exactly once, and records each as sent or failed.",
    defaults=JobSettings(cron="* * * * *", batch_size=200, retry_count=3, retry_interval_seconds=60),
)


@dataclass(frozen=True)
class ReminderJobPort:
    """What the job uses (filled by type)."""

    reminders: Reminders
    queries: ReminderQueries
    engine: ProjectionEngine
    messages: ReminderMessages
    clock: Clock


def run(port: ReminderJobPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Batches of due reminders, oldest first, until none is due."""
    brand_id = job_run.brand_id
    port.engine.caught_up(Reminders.name, 30, "reminder dispatch")
    now = port.clock.now()
    after = None
    batches = 0
    while due := port.queries.due(brand_id, now, after, job_run.settings.batch_size):
        after = due[-1]
        taken = port.reminders.take(brand_id, [reminder_id for _, reminder_id in due])
        outcomes = [port.messages.send(brand_id, reminder) for reminder in taken]
        port.reminders.record(taken, outcomes)
        sent = sum(1 for o in outcomes if o.sent)
        log.info("reminders.dispatched", brand=str(brand_id), due=len(due), sent=sent, failed=len(outcomes) - sent)
        batches += 1
        yield (
            BatchCounts(processed=len(due), succeeded=sent, failed=len(outcomes) - sent, skipped=len(due) - len(taken)),
            None,
        )
    if batches == 0:
        yield BatchCounts(), None
