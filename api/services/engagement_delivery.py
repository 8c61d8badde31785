"""Handing claimed messages to their channels (issue #17 items 1, 3): quiet hours, opt-outs, the providers, the
outcomes recorded a page at a time, and the retry policy. `ops.messages` (adapters/message_store.py) says why this
never sends a message twice."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import structlog

from adapters.mailer import MailRefused, SmtpMailer
from adapters.message_store import Message, MessageStore
from adapters.providers.call_log import calls_written_behind
from adapters.providers.channels import ChannelClients
from domain.identity.brand_config import BrandSettings
from domain.providers.calls import Caller
from domain.providers.errors import ProviderRejected, ProviderUnavailable

log = structlog.get_logger(__name__)

#: No SMS or WhatsApp between these hours, brand time (Indian practice; TRAI's promotional window is 9-21).
QUIET_START, QUIET_END = time(21, 0), time(8, 0)
QUIET_CHANNELS = ("sms", "whatsapp")
#: Delivery failures a later attempt may cure (the handset off, a network blip); others are final.
RETRYABLE = frozenset({"handset_unreachable", "network_error", "timeout", "expired", "throttled"})
#: Waiting before retrying a message the provider could not take at all (429/5xx after the client's retries).
UNAVAILABLE_BACKOFF = timedelta(minutes=5)
#: Messages handed to providers at once (SMTP connections are the mailer's setting).
PARALLEL = int(os.environ.get("ENGAGEMENT_SEND_THREADS", "16"))
WEBHOOK_PATHS = {"sms": "/api/v1/webhooks/sms", "whatsapp": "/api/v1/webhooks/whatsapp"}
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def public_base() -> str:
    """Where providers reach this deployment (`PUBLIC_BASE_URL`)."""
    return (os.environ.get("PUBLIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


@dataclass(frozen=True)
class BrandMessaging:
    """What sending for one brand needs from its settings, read once per batch."""

    brand_id: UUID
    name: str
    timezone: str
    providers: dict[str, str]
    senders: dict[str, str]
    retry_minutes: int
    max_attempts: int
    callbacks: bool = True

    @classmethod
    def of(cls, brand_id: UUID, name: str, settings: BrandSettings) -> BrandMessaging:
        return cls(brand_id, name, settings.timezone, dict(settings.providers), dict(settings.message_senders),
                   settings.message_retry_minutes, settings.message_max_attempts)  # fmt: skip

    def quiet_until(self, channel: str, now: datetime) -> datetime | None:
        """When quiet hours end if `channel` may not send at `now` (brand time), else None."""
        if channel not in QUIET_CHANNELS:
            return None
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        if QUIET_END <= local.time() < QUIET_START:
            return None
        day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
        return datetime.combine(day, QUIET_END, zone)


@dataclass
class Sent:
    """What a page of deliveries came to."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    retry: int = 0
    #: waiting messages recorded `suppressed` instead of sent (opted out, no longer due, superseded)
    suppressed: int = 0
    ids: list[UUID] = field(default_factory=list)


Outcome = tuple[UUID, str, str | None, str | None, str | None, datetime | None, int]


@dataclass(frozen=True)
class Deliveries:
    """Sends claimed messages (see the module doc)."""

    messages: MessageStore
    channels: ChannelClients
    mailer: SmtpMailer

    def deliver(self, brand: BrandMessaging, page: Sequence[Message], now: datetime,
                senders: Executor | None = None) -> Sent:  # fmt: skip
        """Send a page of queued (or due deferred, or stuck `sending`) messages; every outcome recorded. `senders`:
        a pool shared by consecutive pages (the job's), so the next page's sends start in threads this page's
        tail leaves free while its outcomes are recorded; else a pool of PARALLEL threads for this page."""
        result = Sent()
        ready: list[Message] = []
        quiet = {channel: brand.quiet_until(channel, now) for channel in {m.channel for m in page}}
        for message in page:
            until = quiet[message.channel]
            if until is not None:
                if message.status != "deferred" or message.next_attempt_at != until:
                    self.messages.defer(message.id, until, now)
                result.deferred += 1
            else:
                ready.append(message)
        if not ready:
            return result
        self.messages.mark_sending([m.id for m in ready if m.status != "sending" and m.channel != "email"], now)
        # The page's provider-call rows are committed by the log's writer while the senders go on
        # (calls_written_behind), all of them before the page's outcomes are recorded.
        with calls_written_behind():
            ctx = contextvars.copy_context()
            if senders is not None:
                # One task per sender thread, each sending its share of the page in turn (not a future per message).
                shares = [ready[at::PARALLEL] for at in range(min(PARALLEL, len(ready)))]
                futures = [senders.submit(ctx.copy().run, self._share, brand, share, now) for share in shares]
                outcomes = [outcome for f in futures for outcome in f.result()]
            elif len(ready) == 1:
                outcomes = [self._one(brand, ready[0], now)]
            else:
                with ThreadPoolExecutor(max_workers=min(PARALLEL, len(ready)), thread_name_prefix="engagement") as pool:
                    outcomes = list(pool.map(lambda m: ctx.copy().run(self._one, brand, m, now), ready))
                self.mailer.close()
        self.messages.record_outcomes(outcomes, now)
        for outcome in outcomes:
            status = outcome[1]
            result.sent += status == "sent"
            result.failed += status == "failed"
            result.retry += status == "queued"
        result.ids.extend(m.id for m in ready)
        return result

    def _share(self, brand: BrandMessaging, share: Sequence[Message], now: datetime) -> list[Outcome]:
        return [self._one(brand, message, now) for message in share]

    def _one(self, brand: BrandMessaging, message: Message, now: datetime) -> Outcome:
        if message.channel == "email":
            return self._email(brand, message, now)
        vendor = brand.providers.get(message.channel)
        provider = vendor or "default"
        callback = public_base() + WEBHOOK_PATHS[message.channel] if brand.callbacks else None
        try:
            accepted = self.channels.send(
                message.channel,
                None if vendor in (None, "simulator") else vendor,
                to=message.recipient or "",
                text=message.body,
                sender=brand.senders.get(message.channel) or "CVDESK",
                reference=reference(message),
                callback_url=callback,
                caller=Caller(brand.brand_id, message.customer_id),
                template=f"{message.kind}_{message.language or 'en'}",
                language=message.language,
            )
        except ProviderRejected as exc:
            return (
                message.id,
                "failed",
                f"rejected: {exc.code or exc.message}"[:300],
                provider,
                None,
                None,
                message.attempts,
            )
        except ProviderUnavailable as exc:
            log.warning("engagement.provider_unavailable", message=str(message.id), error=exc.message)
            return (message.id, "queued", f"unavailable: {exc.message}"[:300], provider, None,
                    now + UNAVAILABLE_BACKOFF, message.attempts)  # fmt: skip
        return (message.id, "sent", None, provider, accepted.message_id, None, message.attempts)

    def _email(self, brand: BrandMessaging, message: Message, now: datetime) -> Outcome:
        if message.status == "sending":  # a crash mid-hand-over: the server may have it; never sent twice
            return (message.id, "sent", "presumed_sent", "smtp", None, None, message.attempts)
        handed: list[bool] = []

        def hand_over(end_of_data: Callable[[], None]) -> None:
            self._handing_over(message.id, now, end_of_data)
            handed.append(True)

        try:
            self.mailer.send(
                to=message.recipient or "",
                subject=message.subject or brand.name,
                text=_text_of(message.body),
                html=message.body,
                message_id=f"<{message.id}@covenant-desk>",
                handing_over=hand_over,
                sender=brand.senders.get("email"),  # the brand's From address (`message_senders`), else MAIL_FROM
            )
        except MailRefused as exc:
            return (message.id, "failed", f"refused: {exc}"[:300], "smtp", None, None, message.attempts)
        except Exception as exc:  # noqa: BLE001 - the line or server broke: retried later, unless handed over
            if handed:
                return (message.id, "sent", "presumed_sent", "smtp", None, None, message.attempts)
            return (message.id, "queued", f"{type(exc).__name__}: {exc}"[:300], "smtp", None,
                    now + UNAVAILABLE_BACKOFF, message.attempts)  # fmt: skip
        return (message.id, "sent", None, "smtp", str(message.id), None, message.attempts)

    def _handing_over(self, message_id: UUID, now: datetime, end_of_data: Callable[[], None]) -> None:
        """Record the email as `sending` just before the mail server is told the message is complete: from here on
        a crash leaves it presumed sent (the server may have it), never sent twice."""
        self.messages.mark_sending([message_id], now)
        end_of_data()

    def after_failure(self, brand: BrandMessaging, message: Message, reason: str | None, now: datetime) -> bool:
        """Queue a failed delivery again when the policy allows (a retryable reason, attempts left): True if so."""
        if (reason or "") not in RETRYABLE or message.attempts >= brand.max_attempts:
            return False
        self.messages.requeue(
            message.id, reason or "failed", now, now + timedelta(minutes=brand.retry_minutes), message.attempts
        )
        return True


def reference(message: Message) -> str:
    """The provider reference of a message's current attempt (the provider deduplicates it)."""
    return f"{message.id}.{message.attempts}"


def parse_reference(raw: Any) -> UUID | None:
    """The message id in a provider reference, None when it is not one of ours."""
    if not isinstance(raw, str):
        return None
    try:
        return UUID(raw.split(".", 1)[0])
    except ValueError:
        return None


def reference_attempt(raw: Any) -> int | None:
    """The attempt a provider reference of ours names (`<message id>.<attempt>`), None when it names none."""
    if not isinstance(raw, str):
        return None
    _, _, attempt = raw.partition(".")
    return int(attempt) if attempt.isdigit() else None


def _text_of(html_body: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]{0,500}>", "", html_body))
