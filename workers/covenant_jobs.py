"""The covenant jobs: `covenant-evaluation` opens due cycles; `covenant-notification` marks overdue and emails."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import structlog

from adapters.mailer import MailRefused, Slot, SmtpMailer, render_shaped
from domain.covenants.application import Covenants, DueCycles
from domain.covenants.covenant import CovenantEvaluation, CovenantNotice
from domain.covenants.status import NoticeKind
from domain.covenants.terms import CovenantType
from domain.identity.application import Identity
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.shared.gc_pause import collector_paused
from projections.covenant_queries import CovenantQueries
from projections.engine import ProjectionEngine

log = structlog.get_logger(__name__)

FILTERS = frozenset({"company", "type", "frequency"})
#: Evaluation opens the records notification works on: one brand's runs of either take turns.
LANE = "covenants"

EVALUATION = JobDefinition(
    name="covenant-evaluation",
    title="Covenant evaluation",
    description="Creates the evaluation record of every active covenant whose next evaluation date has come, "
    "and moves the next evaluation date on by the frequency.",
    # 1,000 covenants a batch (one atomic save of 2,000 events): half the batches' fixed costs (page and load
    # queries, the run's progress record, the read model's statements) of 500; 1M covenants with the read model
    # 4,421 -> 4,767/s in a full benchmark pair (tests/benchmarks/README.md). Brands may set their own.
    defaults=JobSettings(cron="15 0 * * *", batch_size=1000, retry_count=3, retry_interval_seconds=300),
    filter_keys=FILTERS,
    dry_run=True,
    lane=LANE,
)
NOTIFICATION = JobDefinition(
    name="covenant-notification",
    title="Covenant notifications",
    description="Marks open records past due date and grace as overdue, then emails reminders (on the notification "
    "date) and overdue notices, one email per borrower, application and due date; a notice to a borrower with no "
    "email address is skipped and recorded not sent, shown on the covenant's page.",
    defaults=JobSettings(cron="0 9 * * *", batch_size=200, retry_count=3, retry_interval_seconds=600),
    filter_keys=FILTERS,
    dry_run=True,
    lane=LANE,
)


@dataclass(frozen=True)
class CovenantJobPort:
    """What the covenant jobs use (filled by type by the platform)."""

    covenants: Covenants
    covenant_queries: CovenantQueries
    identity: Identity
    engine: ProjectionEngine
    mailer: SmtpMailer


def _wait(port: CovenantJobPort) -> None:
    """Let the covenant read model catch up with what the last batch wrote (the next query reads it)."""
    # The phase runs even when it lags: anything the lagging read model misses is picked up by the next run.
    port.engine.caught_up("covenants", 30, "covenant job phase")


def run_evaluation(port: CovenantJobPort, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Open due cycles in batches (keyset by covenant id); a batch is one atomic save, so reruns add nothing.

    Three batches are in flight: the next page of due covenants is read while this one is evaluated, and this
    one's save runs while the next is evaluated; a batch is reported (and its cursor recorded) once saved. The
    evaluation runs on a worker thread too (in a copy of the caller's context, so its events keep the job as their
    actor), so the next batch is evaluated while the scheduler records the last one's progress. The next page is
    unaffected by this one's writes: it holds only covenants after this one's last. A dry run counts the cycles it
    would open and saves nothing.
    """
    after = UUID(run.cursor) if run.cursor else None
    size = run.settings.batch_size

    def page(after: UUID | None) -> list[UUID]:
        ids: list[UUID] = port.covenant_queries.due_covenants(
            run.brand_id, run.as_of, run.settings.filters, after, size
        )
        return ids

    def evaluate(ids: list[UUID]) -> DueCycles:
        with collector_paused():  # the batch's aggregates and events die by reference counting: see gc_pause
            return port.covenants.due_cycles(ids, run.as_of)

    saving: tuple[Future[None], BatchCounts, str] | None = None
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="covenant-evaluation") as pool:
        upcoming = pool.submit(page, after)
        while ids := upcoming.result():
            upcoming = pool.submit(page, ids[-1])
            evaluating = pool.submit(contextvars.copy_context().run, evaluate, ids)
            if saving is not None:
                saving[0].result()
                yield saving[1], saving[2]
            cycles = evaluating.result()
            # The unit is the cycle: each due cycle opened succeeded (a covenant behind by months opens several),
            # a covenant the read model listed with none due any more is skipped.
            passed = len(ids) - cycles.covenants
            counts = BatchCounts(processed=cycles.opened + passed, succeeded=cycles.opened, skipped=passed)
            saved = pool.submit(_save_cycles, port.covenants, cycles) if not run.dry_run else _done()
            saving = (saved, counts, str(ids[-1]))
        if saving is not None:
            saving[0].result()
            yield saving[1], saving[2]


def _save_cycles(covenants: Covenants, cycles: DueCycles) -> None:
    with collector_paused():  # encoding the batch's events makes no cyclic garbage either
        covenants.save_cycles(cycles)


def _done() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


#: The cursors a notification run reports, one per phase (a retry runs every phase again: see run_notification).
PHASES = ("overdue", "overdue-notices", "reminders", "send")


def run_notification(port: CovenantJobPort, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Mark overdue, queue overdue notices and reminders (each record and kind at most once), and send them.

    Each page of notices is sent as soon as it is queued (the page's notices and records are in memory: nothing is
    read again), while the next page is queued: so the mail server works from the first page on rather than after
    the last. Before queueing, the notices an earlier run or attempt queued and did not send go out (the `send`
    step, read from the read model). Sends are reported with the cursor `send`.

    Every phase is idempotent, so a retry runs them all again: those finished find nothing left to do, and the
    notices a dead attempt queued but did not send are sent by the retry's `send` step. Mail that the server
    refused stays queued; the attempt then fails so the scheduler retries after the retry interval.

    A dry run saves nothing and sends nothing: each phase reports what a real run would do (records it would mark
    overdue, notices it would queue, emails it would send — those already queued and those it would queue).
    """
    size = run.settings.batch_size
    filters = run.settings.filters
    _wait(port)
    after = None
    while ids := port.covenant_queries.overdue_candidates(run.brand_id, run.as_of, filters, after, size):
        marked = port.covenants.mark_overdue(ids, run.as_of, dry_run=run.dry_run)
        after = ids[-1]
        yield BatchCounts(processed=len(ids), succeeded=marked, skipped=len(ids) - marked), "overdue"
    if run.dry_run:
        would_queue = 0
        for phase, kind in (("overdue-notices", NoticeKind.OVERDUE), ("reminders", NoticeKind.REMINDER)):
            _wait(port)
            for counts, cursor in _queue_notices(port, run, kind, phase, None):
                would_queue += counts.succeeded
                yield counts, cursor
        _wait(port)
        yield _count_sends(port, run, would_queue), "send"
        return
    with _Mailing(port, run) as mailing:
        _wait(port)
        yield from mailing.send_queued()  # what an earlier run or attempt queued and did not send
        for phase, kind in (("overdue-notices", NoticeKind.OVERDUE), ("reminders", NoticeKind.REMINDER)):
            _wait(port)
            yield from _queue_notices(port, run, kind, phase, mailing)
        yield from mailing.flush()
    if mailing.failures:
        raise RuntimeError(
            f"{mailing.failures} email(s) were not accepted by the mail server; they stay queued for the retry"
        )


def _count_sends(port: CovenantJobPort, run: JobRun, would_queue: int) -> BatchCounts:
    """What the send phase of a real run would send: the notices queued already and those the run would queue."""
    queued, after = 0, None
    while page := port.covenant_queries.pending_notices(run.brand_id, after, run.settings.batch_size):
        queued += len(page)
        after = page[-1]
    return BatchCounts(processed=queued + would_queue, succeeded=queued + would_queue)


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
    port: CovenantJobPort, run: JobRun, kind: NoticeKind, phase: str, mailing: _Mailing | None
) -> Iterator[tuple[BatchCounts, str | None]]:
    """Queue one notice per group owing one; each page of groups is one atomic save, then (`mailing`) sent."""
    after = None
    while groups := port.covenant_queries.notice_groups(
        run.brand_id, kind, run.as_of, run.settings.filters, after, run.settings.batch_size, overdue_by_then=run.dry_run
    ):
        # A group whose borrower has no email address is skipped, but not silently: its notice is recorded not sent
        # (once per record and kind; a rerun records nothing more), so the covenant's pages say the borrower was not
        # told. Its records still owe the notice, so a run after an address was added sends it.
        notices, records = port.covenants.queue_notices_with_records(
            run.brand_id,
            kind,
            [(group.evaluation_ids, group.recipient or None) for group in groups],
            subject_for=_subject(kind),
            as_of=run.as_of,
            dry_run=run.dry_run,
        )
        for group, notice in zip(groups, notices, strict=True):
            if not group.recipient:
                log.warning(
                    "covenant.notice_skipped",
                    reason="borrower has no email",
                    customer=str(group.customer_id),
                    recorded_not_sent=str(notice.id) if notice is not None else None,
                )
        queued = [notice for notice in notices if notice is not None and notice.not_sent is None]
        last = groups[-1]
        after = (last.customer_id, last.application_ref, last.due_date)
        # This page's emails go out while the last page's outcome is recorded and the next page is queued.
        received = {i: at for g in groups for i, at in g.received.items()}
        names = {g.customer_id: g.customer_name for g in groups}
        sent = mailing.submit(queued, records, names, received) if mailing else None
        yield BatchCounts(processed=len(groups), succeeded=len(queued), skipped=len(groups) - len(queued)), phase
        if sent is not None:
            yield sent, "send"


class _Mailing:
    """A notification run's sending: pages of notices with their records go to the sender threads (`_Senders`),
    one page in flight while the next is prepared; a page's accepted emails are recorded (`Sent`, one save) once
    they are all answered, when the next page is submitted or at `flush`.

    A notice found handed over but not sent (`send_queued`) was being committed at the mail server when an earlier
    attempt died: the server has it (or discarded it before the hand-over was recorded), so it is recorded as
    presumed sent, never sent again.
    """

    def __init__(self, port: CovenantJobPort, run: JobRun) -> None:
        self.port = port
        self.run = run
        self.brand_name = port.identity.brand(run.brand_id).name
        # The day a proof was received, as the borrower's email says it: in the brand's timezone.
        self.zone = ZoneInfo(port.identity.timezone(run.brand_id))
        self.senders = _Senders(port.mailer)
        self.sending: tuple[list[CovenantNotice], list[Future[bool | str]], int] | None = None
        self.failures = 0

    def __enter__(self) -> _Mailing:
        self.senders.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.senders.__exit__(*exc)

    def submit(
        self, notices: list[CovenantNotice], records: dict[UUID, CovenantEvaluation], names: dict[UUID, str],
        received: dict[UUID, datetime], presumed: int = 0,
    ) -> BatchCounts | None:  # fmt: skip
        """Hand a page's notices to the senders; the previous page's counts once its emails are all answered.
        `received`: when proof was last attached to each of the records that have one (`NoticeGroup.received`)."""
        days = {i: at.astimezone(self.zone).strftime("%d %B %Y") for i, at in received.items()}
        deliver = partial(_deliver, self.port, records, names, self.brand_name, days)
        futures = [self.senders.submit(deliver, notice) for notice in notices]
        counts = self._finish() if self.sending is not None else None
        self.sending = (notices, futures, presumed)
        return counts

    def flush(self) -> Iterator[tuple[BatchCounts, str | None]]:
        """The last page's counts, once its emails are all answered."""
        if self.sending is not None:
            yield self._finish(), "send"

    def _finish(self) -> BatchCounts:
        assert self.sending is not None
        notices, futures, presumed = self.sending
        self.sending = None
        outcomes = [f.result() for f in futures]
        # The server accepted these: one save records them all (each is already on record as handed over, so a
        # crash before this line leaves them presumed sent, never sent again).
        self.port.covenants.mark_sent_many([n for n, ok in zip(notices, outcomes, strict=True) if ok is ACCEPTED])
        sent = sum(bool(o) for o in outcomes) + presumed
        failed = len(outcomes) - sum(bool(o) for o in outcomes)
        self.failures += failed
        return BatchCounts(processed=sent + failed, succeeded=sent, failed=failed)

    def send_queued(self) -> Iterator[tuple[BatchCounts, str | None]]:
        """Send the notices queued before this run (the read model's pending notices), a page claimed (its notices
        and records loaded in one read) while the last one sends. The next page is unaffected by this one's
        writes: it holds only notices after this one's last."""
        port, run = self.port, self.run
        after: Any = None
        while page := port.covenant_queries.pending_notices_with_records(run.brand_id, after, run.settings.batch_size):
            after = page[-1][:2]
            loaded, records = port.covenants.notices_and_records(
                [notice_id for _, notice_id, _, _ in page], [i for _, _, ids, _ in page for i in ids]
            )
            received = {i: at for *_, found in page for i, at in found.items()}
            # Sent by an earlier attempt that died before the read model caught up: skip; so is one recorded not sent
            # (read as queued when the read model had its `Queued` but not yet its `NotSent`): it is never sent.
            notices = [n for n in loaded if not n.sent and n.not_sent is None]
            presumed = [n for n in notices if n.handing_over]
            notices = [n for n in notices if not n.handing_over]
            for notice in presumed:
                log.warning("covenant.notice_presumed_sent", notice=str(notice.id), message_id=notice.message_id)
                port.covenants.mark_sent(notice, presumed=True)
            names = port.covenant_queries.customer_names(run.brand_id, {n.customer_id for n in notices})
            counts = self.submit(notices, records, names, received, len(presumed))
            if counts is not None:
                yield counts, "send"
        yield from self.flush()


def _deliver(
    port: CovenantJobPort, records: dict[UUID, CovenantEvaluation], names: dict[UUID, str], brand_name: str,
    received: dict[UUID, str], notice: CovenantNotice,
) -> bool | str:  # fmt: skip
    """Send one notice and record the outcome; False when it was not delivered (it stays owed).

    Once the hand-over is recorded the email counts as delivered unless the server refuses it: a line that breaks
    while waiting for the server's answer records it as presumed sent rather than risk sending it twice.
    """
    handed_over: list[bool] = []

    def hand_over(end_of_data: Callable[[], None]) -> None:
        port.covenants.mark_handing_over(notice, end_of_data)
        handed_over.append(True)

    try:
        _send(port, notice, [records[i] for i in notice.evaluation_ids], names, brand_name, received, hand_over)
    except MailRefused as exc:
        port.covenants.mark_failed(notice, f"refused: {exc}")
        return False
    except Exception as exc:  # noqa: BLE001 - a broken line or server; recorded, the notice stays owed.
        if handed_over:
            log.warning("covenant.notice_presumed_sent", notice=str(notice.id), error=f"{type(exc).__name__}: {exc}")
            port.covenants.mark_sent(notice, presumed=True)
            return True
        port.covenants.mark_failed(notice, f"{type(exc).__name__}: {exc}")
        return False
    return ACCEPTED


#: `_deliver`'s answer for an email the server accepted (its `Sent` is recorded with the page's others).
ACCEPTED = "accepted"


class _Senders:
    """Sender threads for a send phase, each with its own SMTP connection (the mailer's, per thread) kept open
    from page to page and closed when the phase ends: up to `MailSettings.connections` emails in flight at once
    (SMTP round trips, the mail server's work and the shared hand-over transactions overlap with composing the next
    ones). The threads start on demand and run in a copy of the caller's context, so the events they record keep
    the job as their actor. After a failure the remaining work is cancelled and the failure is each future's."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self.size = mailer.settings.connections
        self.work: queue.SimpleQueue[tuple[Callable[[Any], bool | str], Any, Future[bool | str]] | None] = (
            queue.SimpleQueue()
        )
        self.threads: list[threading.Thread] = []
        self.failed: BaseException | None = None
        self.stopping = False
        self.context = contextvars.copy_context()

    def __enter__(self) -> _Senders:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # the phase failed: what is still queued is not sent
            self.stopping = True
        for _ in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join()

    def submit(self, deliver: Callable[[Any], bool | str], item: Any) -> Future[bool | str]:
        future: Future[bool | str] = Future()
        self.work.put((deliver, item, future))
        if len(self.threads) < self.size:
            thread = threading.Thread(
                target=self.context.copy().run, args=(self._work,), name=f"covenant-mail-{len(self.threads)}"
            )
            thread.start()
            self.threads.append(thread)
        return future

    def _work(self) -> None:
        try:
            while (task := self.work.get()) is not None:
                deliver, item, future = task
                if self.stopping:
                    future.cancel()
                    continue
                if self.failed is not None:
                    future.set_exception(self.failed)
                    continue
                try:
                    future.set_result(deliver(item))
                except BaseException as exc:  # noqa: BLE001 - the caller raises it from the future.
                    self.failed = exc
                    future.set_exception(exc)
        finally:
            self.mailer.close()


def _send(
    port: CovenantJobPort,
    notice: Any,
    records: list[CovenantEvaluation],
    names: dict[UUID, str],
    brand_name: str,
    received: dict[UUID, str],
    hand_over: Callable[[Callable[[], None]], None],
) -> None:
    requirements = [_requirement(r) for r in records]
    # An overdue record with proof staff have not rejected stays overdue until a reviewer decides (the spec's
    # Overdue: not received *and approved*), but its email says the proof came and is being reviewed rather than
    # asking for it again; so does a reminder for a record whose proof came before it went out.
    days = [received.get(r.id) for r in records]
    values = [names.get(notice.customer_id, "Customer"), notice.application_ref]
    for record, requirement, day in zip(records, requirements, days, strict=True):
        values.append(record.title)
        if requirement:
            values.append(requirement)
        if day:
            values.append(day)
    # The templates are rendered once per shape (kind, due date, brand, which items have a requirement and which a
    # proof received) and filled in with each email's name, reference, titles, requirements and days received.
    shape = (records[0].due_date, brand_name, tuple(bool(r) for r in requirements), tuple(bool(d) for d in days))
    text, html = render_shaped(f"covenant_{notice.kind.value}", _context, shape, values)
    port.mailer.send(
        to=notice.recipient,
        subject=notice.subject,
        text=text,
        html=html,
        message_id=notice.message_id,
        handing_over=hand_over,
    )


def _context(
    slot: Callable[[], Slot],
    due_date: date,
    brand_name: str,
    requirements: tuple[bool, ...],
    received: tuple[bool, ...] = (),
) -> dict[str, Any]:
    """A notice email's template context with slots for its per-email strings, in `_send`'s order of values
    (`received`: which items' proof came, the day it came a slot after the item's requirement; none when empty)."""
    name, application_ref = slot(), slot()
    came = received or (False,) * len(requirements)
    items = [
        {"title": slot(), "requirement": slot() if has else None, "received": slot() if got else None}
        for has, got in zip(requirements, came, strict=True)
    ]
    return {
        "name": name, "due_date": due_date, "application_ref": application_ref, "items": items,
        "brand_name": brand_name,
    }  # fmt: skip
