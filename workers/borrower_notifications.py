"""The `borrower-notifications` job (issue #17 item 3): from the loans' read model (projections/engagement_dues.py),
on the run's business date, the 7, 3 and 1 day reminders before a due date and the one on it, overdue reminders
every `overdue_reminder_days` until paid, the disbursal confirmation and the fully-paid receipt with the no-due
certificate's link; then whatever is due to go out (deferred past quiet hours, retries).

Exactly one message per loan, instalment, kind and channel: each message's key is claimed in PostgreSQL before it
is sent (`ops.messages`, adapters/message_store.py), so reruns, a killed run's retry and repeated receipts send
nothing twice. Each phase pages by keyset and reports its batches; a retry restarts at the phase it stopped in."""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from adapters.engagement_store import Template
from adapters.message_store import Message
from api.services.engagement import Engagement, loan_message_values
from api.services.engagement_delivery import PARALLEL, BrandMessaging, Sent, public_base
from api.services.no_due_links import NoDueLinks
from api.services.pay_links import PayLinks
from domain.engagement.defaults import kind_channels
from domain.engagement.templates import DUE_OFFSETS, Channel, Kind
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from projections.engagement_dues import DueItem

BORROWER_NOTIFICATIONS = JobDefinition(
    name="borrower-notifications",
    title="Borrower notifications",
    description="Due-date reminders 7, 3 and 1 days before and on the due date, overdue reminders on the brand's "
    "cadence until paid, disbursal confirmations and fully-paid receipts with the no-due certificate, by SMS, "
    "WhatsApp and email; exactly one message per loan, instalment, kind and channel; quiet hours and opt-outs apply.",
    defaults=JobSettings(cron="0 * * * *", batch_size=500, retry_count=3, retry_interval_seconds=120),
    lane="engagement",
    waits_for_close=True,  # reads the overdue status and dues the close of business computes
)
PHASES = ("due_7", "due_3", "due_1", "due_0", "overdue", "disbursed", "paid", "pending")
#: Disbursals and closures this many days back still get their message (a run missed over a weekend).
EVENT_WINDOW_DAYS = 3


@dataclass(frozen=True)
class NotificationJobPort:
    """What the job uses (filled by type by the platform)."""

    engagement: Engagement


Builder = Callable[[DueItem, "_Templates"], list[Message]]


class _Templates:
    """The usable template of each kind, channel and language, read once per run."""

    def __init__(self, engagement: Engagement, brand_id: UUID) -> None:
        self.engagement, self.brand_id = engagement, brand_id
        self._found: dict[tuple[str, str], dict[str, Template]] = {}

    def pick(self, kind: str, channel: Channel, language: str) -> Template | None:
        key = (kind, channel.value)
        if key not in self._found:
            self._found[key] = self.engagement.store.usable(self.brand_id, kind, channel.value)
        usable = self._found[key]
        return usable.get(language) or usable.get("en")


def channels_of(settings_channels: dict[str, list[str]], kind: Kind) -> tuple[Channel, ...]:
    """The channels a kind goes out on for the brand (its setting, else the spec's)."""
    named = settings_channels.get(kind.value)
    return tuple(Channel(c) for c in named) if named is not None else kind_channels(kind)


def run_borrower_notifications(port: NotificationJobPort, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The job's handler (see the module doc)."""
    engagement = port.engagement
    engagement.seed_defaults(run.brand_id)
    settings = engagement.identity.settings(run.brand_id)
    brand = BrandMessaging.of(run.brand_id, engagement.identity.brand(run.brand_id).name, settings)
    templates = _Templates(engagement, run.brand_id)
    start = PHASES.index(run.cursor) if run.cursor in PHASES else 0
    size = run.settings.batch_size
    for phase in PHASES[start:]:
        if phase == "pending":
            # Alone in its lane, so a `sending` row was left by a killed attempt (or is another lane's, sent again under
            # its reference, which the provider deduplicates; an email left `sending` is presumed sent). An email
            # another lane just claimed (`queued`) is left to it: `MessageStore.due`.
            sent = engagement.deliver_due(run.brand_id, size, stuck=timedelta(0), as_of=run.as_of)
            # Suppressed (opted out, no longer due, superseded since they waited) are processed and skipped.
            yield BatchCounts(processed=sent.sent + sent.failed + sent.retry + sent.deferred + sent.suppressed,
                              succeeded=sent.sent, failed=sent.failed,
                              skipped=sent.deferred + sent.retry + sent.suppressed), phase  # fmt: skip
            continue
        kind = Kind(phase)
        channels = channels_of(settings.notification_channels, kind)
        if not channels:
            continue
        # Pages overlap: page N+1 is read and claimed while page N sends, and its sends queue in the same pool of
        # PARALLEL sender threads behind page N's, so no thread idles while page N's tail finishes and its outcomes
        # are recorded (by page N's own delivering thread; at most two pages are in flight).
        inflight: deque[tuple[Future[Sent], int]] = deque()
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="notifications-send") as senders, \
                ThreadPoolExecutor(max_workers=2, thread_name_prefix="notifications-page") as pages:  # fmt: skip
            for items, build in _pages(engagement, brand, kind, channels, run.as_of, size,
                                       settings.overdue_reminder_days):  # fmt: skip
                messages = [m for item in items for m in build(item, templates)]
                # A taken key is skipped by the claim itself (ON CONFLICT DO NOTHING): no query for the taken ones.
                claimed = engagement.claim(brand, messages)
                inflight.append((pages.submit(contextvars.copy_context().run, engagement.deliver_claimed, brand,
                                              claimed, senders), len(messages)))  # fmt: skip
                while len(inflight) >= 2:
                    yield _counts(*inflight.popleft()), phase
            while inflight:
                yield _counts(*inflight.popleft()), phase


def _counts(sending: Future[Sent], messages: int) -> BatchCounts:
    sent = sending.result()
    # The unit is the message (as in the `pending` phase): an item owing its notice on SMS and WhatsApp is two.
    return BatchCounts(processed=messages, succeeded=sent.sent, failed=sent.failed,
                       skipped=messages - sent.sent - sent.failed)  # fmt: skip


def _pages(engagement: Engagement, brand: BrandMessaging, kind: Kind, channels: Sequence[Channel], as_of: date,
           size: int, cadence: int) -> Iterator[tuple[list[DueItem], Builder]]:  # fmt: skip
    """Pages of the items owing `kind`, each with the function composing its messages."""
    dues = engagement.dues
    base = public_base()
    links = NoDueLinks.configured()
    pay = PayLinks.configured()
    now = engagement.clock.now()  # the links of a run expire together

    def compose(item: DueItem, templates: _Templates, key: str, channel: Channel, extra: dict[str, object],
                instalment: int | None) -> Message | None:  # fmt: skip
        template = templates.pick(kind.value, channel, item.recipient.language)
        values = {**loan_message_values(item.loan_number, item.amount, item.due_date,
                                        pay.url(base, brand.brand_id, item.loan_id, now)), **extra}  # fmt: skip
        return engagement.compose(brand, item.recipient, channel, kind.value, key, template, values,
                                  loan_id=item.loan_id, instalment=instalment)  # fmt: skip

    if kind in DUE_OFFSETS:
        due_date = as_of + timedelta(days=DUE_OFFSETS[kind])

        def due(item: DueItem, templates: _Templates) -> list[Message]:
            found = [compose(item, templates, f"{kind.value}:{item.loan_id}:{item.instalment}:{c.value}", c, {},
                             item.instalment) for c in channels]  # fmt: skip
            return [m for m in found if m is not None]

        def page(after: tuple[UUID, int] | None) -> list[DueItem]:
            return dues.instalments_due(brand.brand_id, due_date, kind.value, [c.value for c in channels], after, size)

        # The next page is read while this one is sent (it holds only instalments after this one's last).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="notifications-read") as reader:
            upcoming = reader.submit(page, None)
            while items := upcoming.result():
                upcoming = reader.submit(page, (items[-1].loan_id, items[-1].instalment or 0))
                yield items, due
        return

    def overdue(item: DueItem, templates: _Templates) -> list[Message]:
        assert item.due_date is not None
        days = (as_of - item.due_date).days
        cycle = (days - 1) // cadence
        found = [compose(item, templates, f"overdue:{item.loan_id}:{item.instalment}:{cycle}:{c.value}", c,
                         {"days_overdue": days}, item.instalment) for c in channels]  # fmt: skip
        return [m for m in found if m is not None]

    def event(item: DueItem, templates: _Templates) -> list[Message]:
        extra: dict[str, object] = {}
        if kind is Kind.PAID:
            # The borrower's signed share link (no login), not the staff endpoint; the code verifies it with us.
            extra["ndc_link"] = links.url(base, brand.brand_id, item.loan_id, engagement.clock.now()) + (
                f" (code {item.ndc_code})" if item.ndc_code else ""
            )
        # A closure after a reversal re-opened the loan is told again, with its new certificate: its own key.
        again = f"{item.reopened}:" if kind is Kind.PAID and item.reopened else ""
        found = [compose(item, templates, f"{kind.value}:{item.loan_id}:{again}{c.value}", c, extra, None)
                 for c in channels]  # fmt: skip
        return [m for m in found if m is not None]

    since = as_of - timedelta(days=EVENT_WINDOW_DAYS)
    after_loan = None
    while True:
        if kind is Kind.OVERDUE:
            items = dues.overdue(brand.brand_id, as_of, after_loan, size)
        elif kind is Kind.DISBURSED:
            items = dues.disbursed(brand.brand_id, since, as_of, after_loan, size)
        else:
            items = dues.closed(brand.brand_id, since, as_of, after_loan, size)
        if not items:
            return
        yield items, overdue if kind is Kind.OVERDUE else event
        after_loan = items[-1].loan_id
