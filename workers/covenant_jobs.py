"""The covenant jobs: `covenant-evaluation` opens due cycles; `covenant-notification` marks overdue and emails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import structlog

from adapters.mailer import render_email
from domain.covenants.covenant import CovenantEvaluation, CovenantType, NoticeKind
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings

log = structlog.get_logger(__name__)

FILTERS = frozenset({"company", "type", "frequency"})

EVALUATION = JobDefinition(
    name="covenant-evaluation",
    title="Covenant evaluation",
    description="Creates the evaluation record of every active covenant whose next evaluation date has come, "
    "and moves the next evaluation date on by the frequency.",
    defaults=JobSettings(cron="15 0 * * *", batch_size=500, retry_count=3, retry_interval_seconds=300),
    filter_keys=FILTERS,
)
NOTIFICATION = JobDefinition(
    name="covenant-notification",
    title="Covenant notifications",
    description="Marks open records past due date and grace as overdue, then emails reminders (on the notification "
    "date) and overdue notices, one email per borrower, application and due date.",
    defaults=JobSettings(cron="0 9 * * *", batch_size=200, retry_count=3, retry_interval_seconds=600),
    filter_keys=FILTERS,
)


def _wait(platform: Any) -> None:
    """Let the covenant read model catch up with what the last batch wrote (the next query reads it)."""
    platform.engine.wait_for("covenants", platform.engine.head("covenants"), timeout=30)


def run_evaluation(platform: Any, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Open due cycles in batches (keyset by covenant id); a batch is one atomic save, so reruns add nothing."""
    after = UUID(run.cursor) if run.cursor else None
    size = run.settings.batch_size
    while True:
        ids = platform.covenant_queries.due_covenants(run.brand_id, run.as_of, run.settings.filters, after, size)
        if not ids:
            return
        changed, opened = platform.covenants.open_due_cycles(ids, run.as_of)
        after = ids[-1]
        yield BatchCounts(processed=len(ids), succeeded=opened, skipped=len(ids) - changed), str(after)


PHASES = ("overdue", "overdue-notices", "reminders", "send")


def run_notification(platform: Any, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Mark overdue, queue overdue notices and reminders (each record and kind at most once), then send queued mail.

    Every phase is idempotent, so a retry restarts at the phase it stopped in. Mail that the server refused stays
    queued; the attempt then fails so the scheduler retries after the retry interval.
    """
    start = PHASES.index(run.cursor) if run.cursor in PHASES else 0
    size = run.settings.batch_size
    filters = run.settings.filters
    for phase in PHASES[start:]:
        _wait(platform)
        if phase == "overdue":
            after = None
            while ids := platform.covenant_queries.overdue_candidates(run.brand_id, run.as_of, filters, after, size):
                marked = platform.covenants.mark_overdue(ids, run.as_of)
                after = ids[-1]
                yield BatchCounts(processed=len(ids), succeeded=marked, skipped=len(ids) - marked), phase
        elif phase in ("overdue-notices", "reminders"):
            kind = NoticeKind.OVERDUE if phase == "overdue-notices" else NoticeKind.REMINDER
            yield from _queue_notices(platform, run, kind, phase)
        else:
            yield from _send_queued(platform, run)


def _requirement(record: CovenantEvaluation) -> str | None:
    terms = record.terms
    if terms.type is CovenantType.FINANCIAL:
        return f"{terms.metric} {terms.operator} {terms.threshold}"
    if terms.type is CovenantType.DOCUMENT:
        return terms.document
    return terms.description


def _subject(kind: NoticeKind) -> Any:
    def subject(records: list[CovenantEvaluation]) -> str:
        due = records[0].due_date.strftime("%d %b %Y")
        what = records[0].title if len(records) == 1 else f"{len(records)} covenants"
        if kind is NoticeKind.REMINDER:
            return f"Reminder: {what} due {due} ({records[0].application_ref})"
        return f"Overdue: {what} due {due} ({records[0].application_ref})"

    return subject


def _queue_notices(
    platform: Any, run: JobRun, kind: NoticeKind, phase: str
) -> Iterator[tuple[BatchCounts, str | None]]:
    after = None
    while groups := platform.covenant_queries.notice_groups(
        run.brand_id, kind, run.as_of, run.settings.filters, after, run.settings.batch_size
    ):
        queued = skipped = 0
        for group in groups:
            if not group.recipient:
                skipped += 1
                log.warning("covenant.notice_skipped", reason="borrower has no email", customer=str(group.customer_id))
                continue
            notice = platform.covenants.queue_notice(
                run.brand_id,
                kind,
                group.evaluation_ids,
                recipient=group.recipient,
                subject_for=_subject(kind),
                as_of=run.as_of,
            )
            queued += notice is not None
            skipped += notice is None
        last = groups[-1]
        after = (last.customer_id, last.application_ref, last.due_date)
        yield BatchCounts(processed=len(groups), succeeded=queued, skipped=skipped), phase


def _send_queued(platform: Any, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    brand_name = platform.identity.brand(run.brand_id).name
    failures = 0
    after = None
    while page := platform.covenant_queries.pending_notices(run.brand_id, after, run.settings.batch_size):
        sent = failed = 0
        for _queued_at, notice_id in page:
            notice = platform.covenants.notice(notice_id)
            if notice.sent:  # sent by an earlier attempt that died before the read model caught up
                continue
            try:
                _send(platform, run, notice, brand_name)
            except Exception as exc:  # noqa: BLE001 - any refusal is recorded; the notice stays owed.
                platform.covenants.mark_failed(notice, f"{type(exc).__name__}: {exc}")
                failed += 1
                continue
            platform.covenants.mark_sent(notice)
            sent += 1
        after = page[-1]
        failures += failed
        yield BatchCounts(processed=sent + failed, succeeded=sent, failed=failed), "send"
    if failures:
        raise RuntimeError(f"{failures} email(s) were not accepted by the mail server; they stay queued for the retry")


def _send(platform: Any, run: JobRun, notice: Any, brand_name: str) -> None:
    records = [platform.covenants.evaluation(run.brand_id, i) for i in notice.evaluation_ids]
    customer = platform.customer_queries.profile(run.brand_id, notice.customer_id, timeline_limit=0)
    text, html = render_email(
        f"covenant_{notice.kind.value}",
        name=customer.name if customer else "Customer",
        due_date=records[0].due_date,
        application_ref=notice.application_ref,
        items=[{"title": r.title, "requirement": _requirement(r)} for r in records],
        brand_name=brand_name,
    )
    platform.mailer.send(
        to=notice.recipient, subject=notice.subject, text=text, html=html, message_id=notice.message_id
    )
