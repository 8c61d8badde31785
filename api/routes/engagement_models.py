"""Request and response models of the engagement endpoints (issue #17)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import InstantOut
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_NOTE, VISIBLE_REASON, VISIBLE_REFERENCE
from domain.engagement.templates import Approval, Channel, Kind, Language
from domain.shared.values import MIN_REASON, WholeNumber, stated_choices


class TemplateIn(BaseModel):
    """A new template (or, for a name, channel and language the brand has, its next version)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, description="The template's name, unique per channel and language")
    kind: Kind = Field(Kind.CUSTOM, description="The automatic notification it serves, or custom")
    channel: Channel
    language: Language = Language.EN
    subject: str | None = Field(None, max_length=200, description="Email only")
    body: str = Field(
        min_length=MIN_REASON,
        max_length=20_000,
        description=f"Text with {{{{placeholders}}}} (HTML for email): {VISIBLE_MIN_REASON}",
        json_schema_extra=VISIBLE_REASON,
    )


class TemplateChangeIn(BaseModel):
    """A template's next version."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(None, max_length=200)
    body: str = Field(
        min_length=MIN_REASON, max_length=20_000, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class ApprovalIn(BaseModel):
    """The provider's decision on a WhatsApp template version."""

    model_config = ConfigDict(extra="forbid")

    state: Approval
    version: WholeNumber | None = Field(None, ge=1, le=1_000_000, description="Default: the latest version")
    reason: str | None = Field(
        None,
        min_length=MIN_REASON,
        max_length=300,
        description=f"Why WhatsApp rejected it (kept with a rejection only): {VISIBLE_MIN_REASON}",
    )


class SubmissionIn(BaseModel):
    """A WhatsApp template version to submit to WhatsApp's review."""

    model_config = ConfigDict(extra="forbid")

    version: WholeNumber | None = Field(None, ge=1, le=1_000_000, description="Default: the latest version")
    category: Literal["UTILITY", "MARKETING"] | None = Field(
        None, description="WhatsApp's template category; default MARKETING for reloan_offer, UTILITY otherwise"
    )


class PreviewIn(BaseModel):
    """Sample values overriding the defaults, and optionally an unsaved draft to render instead."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, str] = Field(default_factory=dict, max_length=20)
    subject: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=20_000)


class TemplateQuery(BaseModel):
    """Template filters and paging."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel | None = None
    kind: Kind | None = None
    language: Language | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(100, ge=1, le=200)


class TemplateOut(BaseModel):
    """A template at one version."""

    id: UUID
    name: str
    kind: str
    channel: str
    language: str
    version: int
    subject: str | None
    body: str
    approval: str | None
    created_by: str
    created_at: InstantOut
    updated_at: InstantOut
    approval_reason: str | None = Field(None, description="Why WhatsApp rejected this version")
    whatsapp_template_id: str | None = Field(None, description="The version's id at WhatsApp, once submitted")
    whatsapp_submitted_at: InstantOut | None = None
    whatsapp_submitted_by: str | None = None
    whatsapp_submissions: int = Field(0, description="How many times this version was submitted to WhatsApp")
    whatsapp_status: str | None = Field(
        None,
        description="What WhatsApp reported of the version after its verdict: flagged (still sent), paused, disabled, "
        "pending_deletion, deleted (not sent), reinstated (sent again); null: nothing",
    )
    whatsapp_status_reason: str | None = Field(None, description="WhatsApp's reason of that status (FIRST_PAUSE, ...)")
    whatsapp_status_at: InstantOut | None = Field(None, description="WhatsApp's instant of its latest event applied")


class TemplatePageOut(BaseModel):
    """Templates, oldest first."""

    items: list[TemplateOut]
    next_cursor: str | None


class PreviewOut(BaseModel):
    """A template rendered with sample data (values escaped as the channel needs)."""

    template_id: UUID
    version: int
    channel: str
    subject: str | None
    body: str
    text: str


class MessageQuery(BaseModel):
    """Message filters and paging."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID | None = None
    loan_id: UUID | None = None
    channel: Channel | None = None
    status: str | None = Field(None, pattern="^(queued|deferred|sending|sent|delivered|failed|suppressed)$")
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class MessageOut(BaseModel):
    """One message and its life."""

    id: UUID
    customer_id: UUID
    loan_id: UUID | None
    instalment: int | None
    kind: str
    channel: str
    source: str
    template_id: UUID | None
    template_version: int | None
    language: str | None
    recipient: str | None
    subject: str | None
    body: str
    status: str
    reason: str | None
    provider: str | None
    provider_id: str | None
    attempts: int
    next_attempt_at: InstantOut | None
    created_at: InstantOut
    updated_at: InstantOut
    sent_at: InstantOut | None
    delivered_at: InstantOut | None


class MessagePageOut(BaseModel):
    """Messages, newest first."""

    items: list[MessageOut]
    next_cursor: str | None


class SendIn(BaseModel):
    """One message to a borrower now (opt-outs and quiet hours apply), once per idempotency key."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    channel: Channel
    template_id: UUID | None = None
    kind: Kind | None = None
    loan_id: UUID | None = None
    variables: dict[str, str] = Field(default_factory=dict, max_length=20)
    idempotency_key: str = Field(
        min_length=1,
        max_length=200,
        description="the caller's key for this message: a repeat with it returns the first (one line, visible text)",
        json_schema_extra=VISIBLE_REFERENCE,
    )


class PreferencesIn(BaseModel):
    """A borrower's messaging language and the channels they opted out of (DND)."""

    model_config = ConfigDict(extra="forbid")

    language: Language = Language.EN
    opted_out: list[Annotated[str, stated_choices([c.value for c in Channel])]] = Field(
        default_factory=list, max_length=3, description="sms, whatsapp, email"
    )
    reason: str | None = Field(
        None,
        max_length=300,
        description="Why (optional; given, it needs a visible character)",
        json_schema_extra=VISIBLE_NOTE,
    )


class PreferencesOut(BaseModel):
    """A borrower's messaging preferences."""

    customer_id: UUID
    language: str
    opted_out: list[str]
    reason: str | None
    changed_by: str | None
    changed_at: InstantOut | None
    version: int = Field(
        description="0 while never set; send it back as If-Match on PUT to refuse a stale change with 409"
    )


class DayCountOut(BaseModel):
    """Messages of one channel on one day by status."""

    day: date
    channel: str
    status: str
    count: int


class DashboardOut(BaseModel):
    """The brand's deliveries by day, channel and status (brand time)."""

    days: int
    items: list[DayCountOut]


class DashboardQuery(BaseModel):
    """How many days back."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(14, ge=1, le=90)
