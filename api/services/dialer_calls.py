"""The dialer's call-event webhook (`POST /api/v1/webhooks/dialer`): verified (HMAC over timestamp and body, the
`adapters.webhooks` scheme), then applied to the call - idempotently: a repeated `call.completed` finds the call
ended and changes nothing - and the call written onto the loan's contact log (collections) once.

Secrets: `PROVIDER_DIALER_WEBHOOK_SECRET`, else `PROVIDER_WEBHOOK_SECRET` (comma-separated while rotating; default
`whsec_demo_providers`, what the demo's simulators sign with)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.webhooks import WebhookVerifier, parse_event
from api.services.disbursals import DEFAULT_WEBHOOK_SECRET, WebhookOutcome
from domain.fieldwork.application import FieldWork
from domain.fieldwork.dialer import CallStatus, DialerCallNotFound
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, FieldError, InvalidInput, field_path
from domain.shared.values import Instant

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/api/v1/webhooks/dialer"


def webhook_secrets() -> list[str]:
    """The secrets a dialer webhook may be signed with."""
    raw = os.environ.get("PROVIDER_DIALER_WEBHOOK_SECRET") or os.environ.get("PROVIDER_WEBHOOK_SECRET")
    secrets = [s.strip() for s in (raw or DEFAULT_WEBHOOK_SECRET).split(",") if s.strip()]
    return secrets or [DEFAULT_WEBHOOK_SECRET]


class CallCompleted(BaseModel):
    """The data of a `call.completed` event."""

    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(min_length=1, max_length=100)
    reference: UUID
    status: CallStatus
    duration_seconds: int = Field(ge=0, le=86_400)
    recording_url: str | None = Field(None, max_length=500)
    ended_at: Instant | None = None  # an offset no zone has is refused (`parse_instant`)


@dataclass(frozen=True)
class DialerWebhooks:
    """Applies the dialer's signed call events."""

    fieldwork: FieldWork
    clock: Clock

    def receive(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Verify (WebhookRejected when forged or stale), then apply once; Conflict (409, deliver again) for a call
        not recorded yet; `ignored` for our call under another provider call id (docs/api.md, "Provider webhooks")."""
        WebhookVerifier(webhook_secrets(), clock=self.clock).verify(body, headers)
        event = parse_event(body)
        if event.type != "call.completed":
            return WebhookOutcome("ignored", f"{event.type} is not a call event we act on")
        try:
            data = CallCompleted.model_validate(event.data)
        except ValidationError as exc:
            raise InvalidInput([FieldError(field_path(e["loc"], "data"), e["msg"]) for e in exc.errors()]) from None
        if data.status is CallStatus.PLACED:
            raise InvalidInput([FieldError("data.status", "a completed call says how it ended")])
        try:
            ended = self.fieldwork.end_call(
                data.reference,
                data.call_id,
                data.status,
                data.duration_seconds,
                data.recording_url,
                data.ended_at or self.clock.now(),
                event.id,
            )
        except DialerCallNotFound:
            if self._recorded(data.reference):
                # Our call, but another provider call id: that never changes, so a 409 would have the dialer deliver
                # it again for ever. Acknowledged and logged, nothing recorded (docs/api.md, "Provider webhooks").
                log.warning("webhook.unknown_reference", source="dialer", event_id=event.id,
                            reference=str(data.reference), call_id=data.call_id)  # fmt: skip
                return WebhookOutcome("ignored", "the call of this reference has another provider call id")
            # The provider may answer before we recorded the call: a retry finds it (409 asks the provider to).
            raise Conflict("no such call is recorded (yet); deliver again", call_id=data.call_id) from None
        logged = self.fieldwork.log_contact(ended.call.id)
        log.info(
            "dialer.call_event",
            call_id=str(ended.call.id),
            status=data.status.value,
            changed=ended.changed,
            contact_logged=logged.changed,
        )
        if not ended.changed and not logged.changed:
            return WebhookOutcome("duplicate", "this call's end is recorded already")
        return WebhookOutcome("processed")

    def _recorded(self, call_id: UUID) -> bool:
        """Whether a call of ours (any brand) has this id."""
        try:
            self.fieldwork.call(None, call_id)
        except DialerCallNotFound:
            return False
        return True
