"""Engagement (issue #17): message templates, borrowers' opt-outs, sending one message on a channel, the delivery
receipts' webhooks and the message list. The automatic notifications (workers/borrower_notifications.py) and the
scheduled reminders send through `Engagement.send` / `Engagement.claim_and_deliver` too. docs/engagement.md."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import structlog

from adapters.engagement_store import EngagementStore, PreferenceChange, Preferences, SeededTemplate, Template
from adapters.mailer import SmtpMailer
from adapters.message_store import STUCK, DayCount, Message, MessageStore
from adapters.providers.channels import ChannelClients
from adapters.providers.directory import ProviderDirectory
from adapters.webhooks import WebhookEvent, WebhookVerifier, parse_event, require_text
from api.services.disbursals import DEFAULT_WEBHOOK_SECRET, WEBHOOK_SECRET_ENV, WebhookOutcome
from api.services.engagement_delivery import (
    WEBHOOK_PATHS,
    BrandMessaging,
    Deliveries,
    Sent,
    parse_reference,
    public_base,
    reference_attempt,
)
from api.services.pay_links import PayLinks
from domain.engagement.defaults import LATER_KIND_CHANNELS, default_templates
from domain.engagement.templates import (
    NO_LONGER_DUE,
    PLACEHOLDERS,
    SUPERSEDED,
    TEMPLATE_UNSENDABLE,
    Approval,
    Channel,
    Kind,
    Language,
    Rendered,
    WhatsAppStatus,
    check_template,
    clean_value,
    placeholders_of,
    render,
    sendable_on_whatsapp,
    superseded,
)
from domain.identity.application import Identity
from domain.providers.calls import Caller
from domain.shared.aggregate import current_actor
from domain.shared.application import ConcurrentModification
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, FieldError, InvalidInput, InvalidValue, NotFound
from domain.shared.rupees import rupees
from domain.shared.values import clean_text
from projections.engagement_dues import EngagementDueQueries, Recipient

log = structlog.get_logger(__name__)

#: The WhatsApp webhook's event of a submitted template's verdict, and the verdicts we record.
TEMPLATE_STATUS_EVENT = "message_template_status_update"
TEMPLATE_VERDICTS = {"APPROVED": Approval.APPROVED, "REJECTED": Approval.REJECTED}
#: The same webhook's events of an approved template afterwards (its quality, its pause, ...), and what each records.
TEMPLATE_STATUSES = {
    "FLAGGED": WhatsAppStatus.FLAGGED,
    "PAUSED": WhatsAppStatus.PAUSED,
    "DISABLED": WhatsAppStatus.DISABLED,
    "REINSTATED": WhatsAppStatus.REINSTATED,
    "PENDING_DELETION": WhatsAppStatus.PENDING_DELETION,
    "DELETED": WhatsAppStatus.DELETED,
}
TEMPLATE_WEBHOOK_SOURCE = "whatsapp-templates"
#: Who a verdict WhatsApp sent is recorded by (the audit entry's actor).
PROVIDER_ACTOR = "webhook:whatsapp"
TEMPLATE_UTILITY, TEMPLATE_MARKETING = "UTILITY", "MARKETING"
TEMPLATE_CATEGORIES = ("UTILITY", "MARKETING")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
#: Our reference of a submission: `<template id>.v<version>.<submission number>`.
_SUBMISSION_REFERENCE = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.v([0-9]{1,7})\.([0-9]{1,7})"
)


def loan_message_values(loan_number: str, amount: Decimal, due_date: date | None,
                        payment_link: str) -> dict[str, object]:  # fmt: skip
    """The placeholders an automatic loan message fills from the loans' read model (the job's composing, and a
    waiting reminder composed again when it goes); `borrower_name` and `brand_name` are added by `compose`."""
    return {"loan_number": loan_number, "amount": rupees(amount),
            "due_date": due_date.strftime("%d %b %Y") if due_date else "", "payment_link": payment_link}  # fmt: skip


def whatsapp_template_name(name: str, template_id: UUID, version: int) -> str:
    """The name a version goes to WhatsApp under: lowercase letters, digits and underscores (WhatsApp's rule), unique
    per template and version (the id's first 8 hex digits), e.g. `due_7_whatsapp_en_1a2b3c4d_v2`."""
    slug = _NOT_NAME.sub("_", name.lower()).strip("_")[:200] or "template"
    return f"{slug}_{template_id.hex[:8]}_v{version}"


class TemplateNotFound(NotFound):
    """No message template with this id in the brand."""


class MessageNotFound(NotFound):
    """No message with this id in the brand."""


class CustomerNotFound(NotFound):
    """No borrower with this id in the brand."""


@dataclass(frozen=True)
class Engagement:
    """The engagement use cases (see the module doc)."""

    store: EngagementStore
    messages: MessageStore
    dues: EngagementDueQueries
    directory: ProviderDirectory
    mailer: SmtpMailer
    identity: Identity
    clock: Clock

    @property
    def deliveries(self) -> Deliveries:
        """The sender of claimed messages."""
        return Deliveries(self.messages, ChannelClients(self.directory), self.mailer)

    def brand(self, brand_id: UUID) -> BrandMessaging:
        """The brand's messaging settings (read once per batch)."""
        return BrandMessaging.of(brand_id, self.identity.brand(brand_id).name, self.identity.settings(brand_id))

    # Templates ---------------------------------------------------------------------------------------------------

    def create_template(self, brand_id: UUID, name: str, kind: Kind, channel: Channel, language: Language,
                        subject: str | None, body: str, by: str) -> Template:  # fmt: skip
        """A new template, or the next version of the brand's template of that name, channel and language (409 when
        that one serves another kind). A new WhatsApp version awaits the provider's approval (`pending`) before it
        goes out."""
        clean_name = clean_text(name, "name", min_visible=3)[:100]
        subject, body = check_template(channel, subject, body)  # refused input seeds nothing either
        self.seed_defaults(brand_id)
        approval = Approval.PENDING.value if channel is Channel.WHATSAPP else None
        saved = self.store.save_template(
            brand_id, uuid.uuid4(), clean_name, kind.value, channel.value, language.value, subject, body, approval,
            by, self.clock.now(),
        )  # fmt: skip
        if saved.version is None:  # a new version would have dropped the kind asked for: refused, nothing saved
            raise Conflict(
                f"the {channel.value} template '{clean_name}' ({language.value}) is a {saved.kind} template, not "
                f"{kind.value}: edit that one (PUT), or give this one another name",
                id=str(saved.id),
                kind=saved.kind,
            )
        return self.template(brand_id, saved.id, saved.version)

    def update_template(
        self, brand_id: UUID, template_id: UUID, subject: str | None, body: str, by: str,
        expected_version: int | None = None,
    ) -> Template:  # fmt: skip
        """The template's next version (each message keeps naming the version it used). With `expected_version`
        (the version the editor started from: the API's If-Match, the portal's form), a template saved since by
        someone else is a ConcurrentModification (409) and nothing is saved: their version is not overwritten."""
        current = self.template(brand_id, template_id)
        subject, body = check_template(Channel(current.channel), subject, body)
        approval = Approval.PENDING.value if current.channel == Channel.WHATSAPP else None
        version = self.store.new_version(
            brand_id, template_id, subject, body, approval, by, self.clock.now(), expected_version
        )
        if version is None:
            latest = self.template(brand_id, template_id)  # TemplateNotFound when it is gone
            raise ConcurrentModification(
                f"the template is at version {latest.version}, not {expected_version}: someone saved it since; "
                "reload it and make the change again",
                id=str(template_id),
                current_version=latest.version,
            )
        return self.template(brand_id, template_id, version)

    def set_approval(self, brand_id: UUID, template_id: UUID, version: int | None, approval: Approval,
                     by: str | None = None, reason: str | None = None,
                     provider_at: datetime | None = None) -> Template:  # fmt: skip
        """Record the provider's verdict on a WhatsApp template version (its latest when None), with its audit entry
        by `by` (the acting staff member or key when None; `webhook:whatsapp` when WhatsApp's own webhook says it).
        The one path of a verdict, whether staff type it in or WhatsApp sends it; a reason is kept with a rejection.
        `provider_at` (WhatsApp's instant of its event): a verdict older than the version's latest event applied
        changes nothing (the template's `whatsapp_status_at` is then after it)."""
        current = self.template(brand_id, template_id, version)
        if current.channel != Channel.WHATSAPP:
            raise Conflict("only WhatsApp templates need approval")
        why = clean_text(reason, "reason")[:300] if reason and approval is Approval.REJECTED else None
        self.store.set_approval(brand_id, template_id, current.version, approval.value, by or current_actor(),
                                self.clock.now(), why, provider_at)  # fmt: skip
        return self.template(brand_id, template_id, current.version)

    def record_whatsapp_status(self, brand_id: UUID, template_id: UUID, version: int, status: WhatsAppStatus,
                               reason: str | None, provider_at: datetime, by: str) -> str:  # fmt: skip
        """Record what WhatsApp reported of an approved version since its verdict (paused, disabled, flagged,
        reinstated, pending deletion, deleted), with its audit entry by `by`: `recorded`, `same` (nothing new),
        `stale` (older than the version's latest event applied: a newer state is never undone)."""
        current = self.template(brand_id, template_id, version)
        if current.channel != Channel.WHATSAPP:
            raise Conflict("only WhatsApp templates have a WhatsApp status")
        return self.store.record_whatsapp_status(brand_id, template_id, current.version, status.value, reason,
                                                 provider_at, by, self.clock.now())  # fmt: skip

    def submit_for_approval(self, brand_id: UUID, template_id: UUID, version: int | None, by: str,
                            category: str | None = None) -> Template:  # fmt: skip
        """Submit a WhatsApp template version (its latest when None) to WhatsApp's review through the brand's
        provider: recorded `pending` with the provider's template id; the verdict comes by the provider's signed
        webhook (`template_status`). A version approved, or submitted and awaiting review, is a Conflict (409); the
        provider down is ProviderUnavailable (503) and refusing the request ProviderRejected (422): nothing is
        recorded then. A rejected version may be submitted again."""
        current = self.template(brand_id, template_id, version)
        if current.channel != Channel.WHATSAPP:
            raise Conflict("only WhatsApp templates need approval")
        if current.approval == Approval.APPROVED:
            raise Conflict(f"version {current.version} is approved already", approval=current.approval)
        if current.approval == Approval.PENDING and current.whatsapp_template_id:
            raise Conflict(f"version {current.version} was submitted to WhatsApp and awaits its review",
                           approval=current.approval, whatsapp_template_id=current.whatsapp_template_id)  # fmt: skip
        category = category or (TEMPLATE_MARKETING if current.kind == Kind.RELOAN_OFFER else TEMPLATE_UTILITY)
        brand = self.brand(brand_id)
        vendor = brand.providers.get(Channel.WHATSAPP.value)
        submitted = ChannelClients(self.directory).submit_template(
            None if vendor in (None, "simulator") else vendor,
            name=whatsapp_template_name(current.name, template_id, current.version),
            language=current.language,
            category=category,
            body=current.body,
            examples={name: PLACEHOLDERS[name] for name in sorted(placeholders_of(current.body))},
            # One reference per version and submission: the client's retries, or two submissions at once, are one
            # submission at the provider (it answers a repeated reference with the template it made).
            reference=f"{template_id}.v{current.version}.{current.whatsapp_submissions + 1}",
            callback_url=public_base() + WEBHOOK_PATHS[Channel.WHATSAPP.value],
            caller=Caller(brand_id),
        )
        recorded = self.store.record_submission(brand_id, template_id, current.version, current.whatsapp_submissions,
                                                submitted.template_id, category, by, self.clock.now())  # fmt: skip
        now = self.template(brand_id, template_id, current.version)
        if not recorded and now.whatsapp_template_id != submitted.template_id:
            raise Conflict(f"version {current.version} was submitted or decided meanwhile", approval=now.approval)
        log.info("whatsapp.template_submitted", brand_id=str(brand_id), template_id=str(template_id),
                 version=current.version, whatsapp_template_id=submitted.template_id, duplicate=submitted.duplicate)  # fmt: skip
        return now

    def template_status(self, event: WebhookEvent) -> WebhookOutcome:
        """WhatsApp's verdict on a submitted template (`message_template_status_update`, already verified): recorded
        through `set_approval` by `webhook:whatsapp`, once per event id; a template id of no version of ours (or of
        a submission replaced since) is acknowledged `ignored` and logged, as the receipts are. Its later events
        (FLAGGED, PAUSED, DISABLED, REINSTATED, PENDING_DELETION, DELETED) are recorded as the version's WhatsApp
        status (`record_whatsapp_status`). Ordered by the event's `created_at` (WhatsApp's instant of it): one older
        than the version's latest event applied is acknowledged `ignored` (stale) and changes nothing."""
        require_text(event.data, "event", "reason", "reference", "message_template_name", "message_template_language")
        raw_id = event.data.get("message_template_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise InvalidInput([FieldError("data.message_template_id", "must be a string or a number")])
        name = str(event.data.get("event") or "")
        verdict, status = TEMPLATE_VERDICTS.get(name), TEMPLATE_STATUSES.get(name)
        if verdict is None and status is None:
            return WebhookOutcome("ignored", f"{event.data.get('event')!r} is not a template event we record")
        candidates = self.store.submitted_versions(str(raw_id))
        if len(candidates) != 1:
            self._not_recorded_yet(event.data.get("reference"))
            log.warning("webhook.unknown_reference", source=TEMPLATE_WEBHOOK_SOURCE, event_id=event.id,
                        reference=str(raw_id), carriers=len(candidates))  # fmt: skip
            return WebhookOutcome("ignored", "no template of ours has this id" if not candidates else
                                  "templates of more than one brand have this id")  # fmt: skip
        found = candidates[0]
        inbox, now = self.messages.inbox, self.clock.now()
        if not inbox.claim(TEMPLATE_WEBHOOK_SOURCE, event.id, event.type, now).fresh:
            return WebhookOutcome("duplicate", f"event {event.id} was processed already")
        try:
            reason = clean_value(event.data.get("reason") or "")  # the provider's words, shown on our pages
            why = None if reason.upper() in ("", "NONE") else reason
            if status is not None:
                # A pause carries its kind in `other_info.title` (FIRST_PAUSE, SECOND_PAUSE, ...) and no reason.
                info = event.data.get("other_info")
                title = info.get("title") if isinstance(info, dict) else None
                why = why or (clean_value(title) or None if isinstance(title, str) else None)
                done = self.record_whatsapp_status(found.brand_id, found.template_id, found.version, status, why,
                                                   event.created_at, PROVIDER_ACTOR)  # fmt: skip
                outcome = (WebhookOutcome("ignored", f"{name} at {event.created_at.isoformat()} is older than the "
                                          "template's latest WhatsApp event") if done == "stale" else
                           WebhookOutcome("processed", status.value))  # fmt: skip
            else:
                assert verdict is not None
                now_at = self.set_approval(found.brand_id, found.template_id, found.version, verdict, PROVIDER_ACTOR,
                                           why, event.created_at).whatsapp_status_at  # fmt: skip
                outcome = (WebhookOutcome("ignored", f"{name} at {event.created_at.isoformat()} is older than the "
                                          "template's latest WhatsApp event") if now_at and now_at > event.created_at
                           else WebhookOutcome("processed", verdict.value))  # fmt: skip
            if outcome.status == "ignored":
                log.info("webhook.stale_template_event", source=TEMPLATE_WEBHOOK_SOURCE, event_id=event.id,
                         template_id=str(found.template_id), version=found.version, template_event=name)  # fmt: skip
        except Exception:
            inbox.release(TEMPLATE_WEBHOOK_SOURCE, event.id)
            raise
        inbox.settle(TEMPLATE_WEBHOOK_SOURCE, event.id, outcome.status, outcome.detail, now)
        return outcome

    def template(self, brand_id: UUID, template_id: UUID, version: int | None = None) -> Template:
        """A template of the brand (TemplateNotFound otherwise)."""
        found = self.store.template(brand_id, template_id, version)
        if found is None:
            raise TemplateNotFound("no such message template")
        return found

    def preview(self, brand_id: UUID, template_id: UUID, variables: Mapping[str, str] | None,
                subject: str | None = None, body: str | None = None) -> tuple[Template, Rendered]:  # fmt: skip
        """The template (or an unsaved draft of it) rendered with sample data, `variables` overriding it. A draft
        gives its subject, its body or both; what it leaves out is the saved version's (a subject for a channel
        without one is a 422 naming it, as saving it would be: never dropped unsaid)."""
        template = self.template(brand_id, template_id)
        if body is not None or subject is not None:
            subject, body = check_template(
                Channel(template.channel),
                subject if subject is not None else template.subject,
                body if body is not None else template.body,
            )
            template = replace(template, subject=subject, body=body)
        unknown = sorted(set(variables or {}) - set(PLACEHOLDERS))
        if unknown:
            raise InvalidValue("variables", f"unknown placeholder {unknown}; use {sorted(PLACEHOLDERS)}")
        values = {**PLACEHOLDERS, "brand_name": self.identity.brand(brand_id).name, **(variables or {})}
        return template, render(Channel(template.channel), template.subject, template.body, values)

    def seed_defaults(self, brand_id: UUID) -> int:
        """Give a brand without templates the defaults (en + hi for every automatic kind), and a brand seeded before
        a kind was added (`LATER_KIND_CHANNELS`) that kind's defaults; how many were added (a default another request
        seeded meanwhile is left as it is)."""
        if not self.store.has_templates(brand_id):
            seeding = default_templates() + default_templates(LATER_KIND_CHANNELS)
        else:
            have = self.store.kinds_with_templates(brand_id, [k.value for k in LATER_KIND_CHANNELS])
            missing = {k: c for k, c in LATER_KIND_CHANNELS.items() if k.value not in have}
            seeding = default_templates(missing) if missing else []
        # All or none of them, each once however many requests seed at once (each read "no templates" above).
        defaults = [
            SeededTemplate(
                id=uuid.uuid4(),
                name=f"{kind.value} {channel.value} {language.value}",
                kind=kind.value,
                channel=channel.value,
                language=language.value,
                subject=subject,
                body=body,
                approval=Approval.APPROVED.value if channel is Channel.WHATSAPP else None,
            )
            for kind, channel, language, subject, body in seeding
        ]
        return self.store.seed_templates(brand_id, defaults, self.clock.now())

    # Preferences -------------------------------------------------------------------------------------------------

    def set_preferences(self, brand_id: UUID, customer_id: UUID, language: Language, opted_out: Sequence[str],
                        reason: str | None, by: str, expected_version: int | None = None) -> Preferences:  # fmt: skip
        """Record a borrower's language and the channels they opted out of (DND), with why. With `expected_version`
        (If-Match; 0: never set) preferences changed since are a ConcurrentModification (409), nothing saved."""
        self._recipient(brand_id, customer_id)
        channels = []
        for i, raw in enumerate(opted_out):
            if raw not in {c.value for c in Channel}:
                raise InvalidValue(f"opted_out[{i}]", f"one of {[c.value for c in Channel]}")
            channels.append(raw)
        why = clean_text(reason, "reason", multiline=True)[:300] if reason else None
        saved = self.store.set_preferences(brand_id, customer_id, language.value, channels, why, by, self.clock.now(),
                                           expected_version)  # fmt: skip
        now = self.store.preferences(brand_id, customer_id)
        if saved is None:
            raise ConcurrentModification(
                f"the preferences are at version {now.version}, not {expected_version}: someone changed them since; "
                "reload and retry",
                id=str(customer_id),
                current_version=now.version,
            )
        return now

    def preference_history(self, brand_id: UUID, customer_id: UUID) -> list[PreferenceChange]:
        """Every change of a borrower's messaging preferences, oldest first (their audit entries)."""
        self._recipient(brand_id, customer_id)
        return self.store.preference_history(brand_id, customer_id)

    def preferences(self, brand_id: UUID, customer_id: UUID) -> Preferences:
        """A borrower's messaging preferences."""
        self._recipient(brand_id, customer_id)
        return self.store.preferences(brand_id, customer_id)

    def _recipient(self, brand_id: UUID, customer_id: UUID) -> Recipient:
        found = self.dues.recipient(brand_id, customer_id)
        if found is None:
            raise CustomerNotFound("no such borrower")
        return found

    # Sending -----------------------------------------------------------------------------------------------------

    def compose(self, brand: BrandMessaging, recipient: Recipient, channel: Channel, kind: str, key: str,
                template: Template | None, variables: Mapping[str, object], *, loan_id: UUID | None = None,
                instalment: int | None = None, source: str = "auto") -> Message | None:  # fmt: skip
        """A message to claim (not yet stored): rendered, suppressed when the borrower opted out, deferred in quiet
        hours, failed `no_template` when there is none; None when the borrower has no address on the channel. SMS and
        WhatsApp to go now come `sending` (as `claim` stores them), email `queued` (marked at its hand-over)."""
        address = recipient.email if channel is Channel.EMAIL else recipient.phone
        if not address:
            return None
        now = self.clock.now()
        status, reason, next_at = "queued", None, None
        if channel.value in recipient.opted_out:
            status, reason = "suppressed", "opted_out"
        elif template is None:
            status, reason = "failed", "no_template"
        elif (until := brand.quiet_until(channel.value, now)) is not None:
            status, reason, next_at = "deferred", "quiet_hours", until
        elif channel is not Channel.EMAIL:
            status = "sending"  # claimed `sending`, sent right after (see `claim`): no copy of the message to make
        rendered = (
            render(channel, template.subject, template.body, {"borrower_name": recipient.name,
                                                              "brand_name": brand.name, **variables})
            if template is not None else Rendered(None, "", "")
        )  # fmt: skip
        return Message(
            id=uuid.uuid4(), brand_id=brand.brand_id, dedupe_key=key, customer_id=recipient.customer_id,
            loan_id=loan_id, instalment=instalment, kind=kind, channel=channel.value, source=source,
            template_id=template.id if template else None, template_version=template.version if template else None,
            language=template.language if template else recipient.language, recipient=address,
            subject=rendered.subject, body=rendered.body or "(no template)", status=status, reason=reason,
            provider=None, provider_id=None, attempts=1, next_attempt_at=next_at, created_at=now, updated_at=now,
            sent_at=None, delivered_at=None,
        )  # fmt: skip

    def claim(self, brand: BrandMessaging, messages: Sequence[Message]) -> list[Message]:
        """Claim the messages whose keys are free (one statement): the ones claimed. SMS and WhatsApp to send now
        are claimed `sending` (one write fewer; a crash leaves them to be re-sent with the same reference, which the
        provider deduplicates); email is marked `sending` at its hand-over to the mail server."""
        now = self.clock.now()
        quiet = {channel: brand.quiet_until(channel, now) is not None for channel in {m.channel for m in messages}}
        return self.messages.claim([
            replace(m, status="sending") if m.status == "queued" and m.channel != Channel.EMAIL and
            not quiet[m.channel] else m for m in messages
        ])  # fmt: skip

    def deliver_claimed(
        self, brand: BrandMessaging, claimed: Sequence[Message], senders: Executor | None = None
    ) -> Sent:
        """Send the claimed messages that are to go now (through `senders` when given: see `Deliveries.deliver`);
        the deferred ones are counted."""
        result = self.deliveries.deliver(brand, [m for m in claimed if m.status in ("queued", "sending")],
                                         self.clock.now(), senders)  # fmt: skip
        result.deferred += sum(m.status == "deferred" for m in claimed)
        return result

    def claim_and_deliver(self, brand: BrandMessaging, messages: Sequence[Message]) -> Sent:
        """Claim the messages whose keys are free and send the ones to go now."""
        return self.deliver_claimed(brand, self.claim(brand, messages))

    def send(self, brand_id: UUID, customer_id: UUID, channel: Channel, *, idempotency_key: str,
             template_id: UUID | None = None, kind: Kind | None = None, variables: Mapping[str, object] | None = None,
             loan_id: UUID | None = None, source: str = "manual") -> Message:  # fmt: skip
        """Send one message to a borrower on `channel` with a template (by id, or the brand's template of `kind`
        in the borrower's language), once per `idempotency_key`: a repeated key returns the first message, and a key
        used for another message (another borrower, channel, template, kind or loan) is a 422 naming it, nothing
        sent. Opt-outs and quiet hours apply. The interface scheduled reminders send through."""
        key = f"{source}:{clean_text(idempotency_key, 'idempotency_key')[:200]}"
        existing = self.messages.by_key(brand_id, key)
        if existing is not None:
            asked = (
                customer_id,
                channel.value,
                loan_id,
                template_id or existing.template_id,
                (kind or Kind(existing.kind)).value,
            )
            if asked != (existing.customer_id, existing.channel, existing.loan_id, existing.template_id, existing.kind):
                raise InvalidValue(
                    "idempotency_key",
                    f"already used for message {existing.id} (to another borrower, on another channel, or with "
                    "another template, kind or loan): a repeat must be the same message; use a new key for a new one",
                )
            return existing
        recipient = self._recipient(brand_id, customer_id)
        template = self._pick(brand_id, channel, template_id, kind, recipient.language)
        brand = self.brand(brand_id)
        # A reminder's template with {{payment_link}} is not sent with the link blank: the loan's payment page, as
        # the automatic messages link it, or the brand's borrower portal when the message names no loan.
        values: dict[str, object] = dict(variables or {})
        if loan_id is not None:
            found = self.dues.loan_number(brand_id, loan_id)
            if found is None or found[1] != customer_id:
                raise InvalidInput([FieldError("loan_id", "not a loan of this borrower")])
            values.setdefault("loan_number", found[0])
            values.setdefault("payment_link", PayLinks.configured().url(public_base(), brand_id, loan_id,
                                                                        self.clock.now()))  # fmt: skip
        else:
            values.setdefault("payment_link", f"{public_base()}/apply/{self.identity.brand(brand_id).slug}")
        message = self.compose(brand, recipient, channel, (kind or Kind(template.kind)).value, key, template, values,
                               loan_id=loan_id, source=source)  # fmt: skip
        if message is None:
            raise Conflict(f"the borrower has no {'email address' if channel is Channel.EMAIL else 'phone'}")
        self.claim_and_deliver(brand, [message])
        stored = self.messages.by_key(brand_id, key)
        assert stored is not None
        return stored

    def _pick(self, brand_id: UUID, channel: Channel, template_id: UUID | None, kind: Kind | None,
              language: str) -> Template:  # fmt: skip
        if template_id is not None:
            template = self.template(brand_id, template_id)
            if template.channel != channel.value:
                raise InvalidValue("template_id", f"a {template.channel} template cannot go out by {channel.value}")
            if template.channel == Channel.WHATSAPP and not sendable_on_whatsapp(
                template.approval, template.whatsapp_status
            ):
                versions = self.store.versions(brand_id, template.id)
                approved = [v for v in versions if v.approval == Approval.APPROVED]
                if not approved:
                    raise Conflict("no version of this WhatsApp template is approved yet")
                sendable = [v for v in approved if sendable_on_whatsapp(v.approval, v.whatsapp_status)]
                if not sendable:
                    # WhatsApp refuses a send with a paused, disabled or deleted template: it is not attempted.
                    raise Conflict(f"WhatsApp has {approved[0].whatsapp_status} this template (version "
                                   f"{approved[0].version}); no approved version of it can go out now",
                                   whatsapp_status=approved[0].whatsapp_status)  # fmt: skip
                return sendable[0]
            return template
        if kind is None:
            raise InvalidValue("template_id", "give a template or a kind")
        self.seed_defaults(brand_id)
        usable = self.store.usable(brand_id, kind.value, channel.value)
        found = usable.get(language) or usable.get("en")
        if found is None:
            raise Conflict(f"the brand has no usable {channel.value} template of kind {kind.value}")
        return found

    def deliver_due(self, brand_id: UUID, limit: int = 500, stuck: timedelta = STUCK,
                    as_of: date | None = None) -> Sent:  # fmt: skip
        """Send the brand's messages whose time has come: deferred past quiet hours, retries, ones a crash left
        `sending` (untouched for `stuck`; the notifications job, which runs alone in its lane, passes 0). A waiting
        (queued or deferred) one whose borrower opted out since, or a reminder no longer owed on the business date
        `as_of` (the brand's today when None), is recorded `suppressed` instead (`Sent.suppressed`)."""
        brand = self.brand(brand_id)
        if as_of is None:
            as_of = self.identity.business_date(brand_id)
        templates: dict[tuple[UUID, int], Template | None] = {}
        total, after = Sent(), None
        while page := self.messages.due(brand_id, self.clock.now(), limit, after, stuck):
            after = page[-1].id
            # An opt-out recorded while a message waited (for quiet hours to end, for its retry) stops it.
            stopped = self.messages.suppress_opted_out(
                [m.id for m in page if m.status in ("queued", "deferred")], self.clock.now()
            )
            total.suppressed += len(stopped)
            waiting = self._sendable(brand, [m for m in page if m.id not in stopped], templates, total)
            going = self._still_owed(brand, waiting, as_of, templates, total)
            result = self.deliveries.deliver(brand, going, self.clock.now())
            total.sent += result.sent
            total.failed += result.failed
            total.retry += result.retry
            total.deferred += result.deferred
        return total

    def _sendable(self, brand: BrandMessaging, page: Sequence[Message],
                  templates: dict[tuple[UUID, int], Template | None], total: Sent) -> list[Message]:  # fmt: skip
        """The page without the waiting WhatsApp messages whose template version WhatsApp paused, disabled or deleted
        while they waited (it would refuse them): recorded `suppressed` (`template_unsendable`) and counted, never
        sent. Messages a crash left `sending` are not checked (they may have reached the provider)."""
        reasons: dict[UUID, str] = {}
        for m in page:
            if m.channel != Channel.WHATSAPP or m.status not in ("queued", "deferred") or m.template_id is None \
                    or m.template_version is None:  # fmt: skip
                continue
            key = (m.template_id, m.template_version)
            if key not in templates:
                templates[key] = self.store.template(brand.brand_id, *key)
            template = templates[key]
            if template is not None and not sendable_on_whatsapp(template.approval, template.whatsapp_status):
                reasons[m.id] = TEMPLATE_UNSENDABLE
        if not reasons:
            return list(page)
        stopped = self.messages.suppress(reasons, self.clock.now())
        total.suppressed += len(stopped)
        log.info("messages.suppressed", brand_id=str(brand.brand_id), template_unsendable=len(stopped))
        return [m for m in page if m.id not in reasons]

    def _still_owed(self, brand: BrandMessaging, page: Sequence[Message], as_of: date,
                    templates: dict[tuple[UUID, int], Template | None], total: Sent) -> list[Message]:  # fmt: skip
        """The page without the waiting due-date and overdue reminders that are no longer owed (the instalment paid,
        the loan paid off, settled, written off or closed since they were composed: `no_longer_due`) or overtaken by
        the next reminder of the cadence (`superseded`), which are recorded `suppressed` and counted; the others
        composed again with what they ask for now (a part paid meanwhile is off the amount). One read of the loans'
        read model (the rule the job composed them by) and at most two writes a page. Messages a crash left
        `sending` are not checked: they may have reached the provider, and re-sending them is deduplicated there."""
        now = self.clock.now()
        reminders = self.dues.waiting_reminders(
            brand.brand_id, [m.id for m in page if m.status in ("queued", "deferred")], as_of
        )
        if not reminders:
            return list(page)
        reasons: dict[UUID, str] = {}
        for reminder in reminders:
            if not reminder.owed:
                reasons[reminder.message_id] = NO_LONGER_DUE
            elif reminder.due_date is not None and superseded(reminder.kind, reminder.due_date, as_of):
                reasons[reminder.message_id] = SUPERSEDED
        stopped = self.messages.suppress(reasons, now)
        total.suppressed += len(stopped)
        if stopped:
            log.info("messages.suppressed", brand_id=str(brand.brand_id), no_longer_due=sum(
                reasons[i] == NO_LONGER_DUE for i in stopped), superseded=sum(reasons[i] == SUPERSEDED for i in stopped))  # fmt: skip
        by_id = {m.id: m for m in page}
        base, pay = public_base(), PayLinks.configured()
        texts: list[tuple[UUID, str | None, str]] = []
        for reminder in reminders:
            message = by_id[reminder.message_id]
            if reminder.message_id in reasons or message.template_id is None or message.template_version is None:
                continue
            key = (message.template_id, message.template_version)
            if key not in templates:
                templates[key] = self.store.template(brand.brand_id, *key)
            template = templates[key]
            if template is None or reminder.amount is None or reminder.due_date is None:
                continue
            values = loan_message_values(reminder.loan_number or "", reminder.amount, reminder.due_date,
                                         pay.url(base, brand.brand_id, reminder.loan_id, now))  # fmt: skip
            if reminder.kind == Kind.OVERDUE:
                values["days_overdue"] = (as_of - reminder.due_date).days
            rendered = render(Channel(message.channel), template.subject, template.body,
                              {"borrower_name": reminder.borrower_name or "", "brand_name": brand.name, **values})  # fmt: skip
            by_id[message.id] = replace(message, subject=rendered.subject, body=rendered.body)
            texts.append((message.id, rendered.subject, rendered.body))
        self.messages.restate(texts, now)
        # A reminder named in `reasons` is not sent even when its row moved on meanwhile (it is not ours to send).
        return [by_id[m.id] for m in page if m.id not in reasons]

    # Receipts ----------------------------------------------------------------------------------------------------

    def receipt(self, channel: Channel, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """A provider's signed delivery receipt: verified (WebhookRejected when forged or stale), deduplicated by
        event id, applied once; a retryable failure queues the next attempt per the brand's policy."""
        secrets = [s for s in os.environ.get(WEBHOOK_SECRET_ENV, DEFAULT_WEBHOOK_SECRET).split(",") if s]
        WebhookVerifier(secrets, clock=self.clock).verify(body, headers)
        event = parse_event(body)
        if channel is Channel.WHATSAPP and event.type == TEMPLATE_STATUS_EVENT:  # one webhook URL, as WhatsApp's
            return self.template_status(event)
        require_text(event.data, "status", "reference", "message_id", "reason")
        status = str(event.data.get("status") or event.type.removeprefix("message."))
        if status not in ("sent", "delivered", "failed"):
            return WebhookOutcome("ignored", f"{event.type} is not a delivery receipt")
        message_id = parse_reference(event.data.get("reference"))
        message = self.messages.message(None, message_id) if message_id is not None else None
        if message is None:
            message = self.messages.by_provider_id(channel.value, str(event.data.get("message_id") or ""))
        if message is None or message.channel != channel.value:
            # A reference of nobody's is acknowledged (a 4xx would have the provider deliver it again for ever) and
            # logged; nothing is kept, so the same delivery gets the same answer (docs/api.md, "Provider webhooks").
            log.warning("webhook.unknown_reference", source=f"{channel.value}-receipts", event_id=event.id,
                        reference=str(event.data.get("reference") or event.data.get("message_id") or ""))  # fmt: skip
            return WebhookOutcome("ignored", "no message of ours has this reference")
        attempt = reference_attempt(event.data.get("reference")) if message_id == message.id else None
        if attempt is not None and attempt != message.attempts:
            # A receipt of an earlier attempt arriving late (out of order, or repeated under a new event id) says
            # nothing of the current one: applied, a late `sent` cancelled the queued retry and a late `failed`
            # queued one more send.
            log.info("webhook.stale_attempt", source=f"{channel.value}-receipts", event_id=event.id,
                     message=str(message.id), attempt=attempt, current=message.attempts)  # fmt: skip
            return WebhookOutcome("ignored", f"a receipt of attempt {attempt}; the message is at {message.attempts}")
        inbox, source, now = self.messages.inbox, f"{channel.value}-receipts", self.clock.now()
        if not inbox.claim(source, event.id, event.type, now).fresh:
            return WebhookOutcome("duplicate", f"event {event.id} was processed already")
        try:
            reason = str(event.data.get("reason") or "")[:200] or None
            changed = self.messages.receipt(message.id, status, reason, now, attempt)
            retried = False
            # Failed now, or by an earlier receipt whose retry was never queued (its queueing failed, or its process
            # died, after the failure was recorded; the provider's next delivery found the message failed already
            # and left it so for good): the policy decides (a message queued again since is not queued twice).
            if status == "failed" and (changed or message.status == "failed"):
                retried = self.deliveries.after_failure(self.brand(message.brand_id), message, reason, now)
            outcome = WebhookOutcome("processed", "retry queued" if retried else None)
        except Exception:
            inbox.release(source, event.id)
            raise
        inbox.settle(source, event.id, outcome.status, outcome.detail, now)
        return outcome

    def _not_recorded_yet(self, reference: object) -> None:
        """Conflict (409, deliver again; nothing kept) when a verdict's `reference` (ours, sent with the submission)
        names a submission not recorded yet: the verdict overtook the provider's answer to our submission."""
        match = _SUBMISSION_REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
        if match is None:
            return
        recorded = self.store.submissions(UUID(match.group(1)), int(match.group(2)))
        if recorded is not None and recorded < int(match.group(3)):
            raise Conflict("the template's submission is not recorded yet; deliver again", reference=reference)

    # Reading -----------------------------------------------------------------------------------------------------

    def message(self, brand_id: UUID, message_id: UUID) -> Message:
        """A message of the brand."""
        found = self.messages.message(brand_id, message_id)
        if found is None:
            raise MessageNotFound("no such message")
        return found

    def dashboard(self, brand_id: UUID, days: int = 14) -> list[DayCount]:
        """Messages of the last `days` days by day, channel and status (brand time)."""
        timezone = self.identity.settings(brand_id).timezone
        return self.messages.by_day(brand_id, self.clock.now() - timedelta(days=days), timezone)
