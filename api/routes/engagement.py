"""Engagement endpoints (issue #17): message templates (versioned; preview), messages and their delivery, a
borrower's opt-outs, one message sent now, the delivery dashboard, and the SMS and WhatsApp providers' signed
delivery receipts. The use cases are `api.services.engagement.Engagement`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import anyio.from_thread

from adapters.engagement_store import Template
from adapters.message_store import Message
from adapters.webhooks import MALFORMED_HEADER, MISSING_HEADER, WebhookRejected
from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.problems import HttpProblem
from api.request_input import read_body
from api.routes.disbursal_models import WebhookOut
from api.routes.engagement_models import (
    ApprovalIn,
    DashboardOut,
    DashboardQuery,
    MessageOut,
    MessagePageOut,
    MessageQuery,
    PreferencesIn,
    PreferencesOut,
    PreviewIn,
    PreviewOut,
    SendIn,
    SubmissionIn,
    TemplateChangeIn,
    TemplateIn,
    TemplateOut,
    TemplatePageOut,
    TemplateQuery,
)
from api.services.engagement import Engagement
from domain.engagement.templates import Channel
from domain.identity.permissions import Level, Permission
from projections.keyset import KeysetCursor

READ = (Permission.MESSAGES, Level.READ)
WRITE = (Permission.MESSAGES, Level.WRITE)
TEMPLATES_READ = (Permission.MESSAGE_TEMPLATES, Level.READ)
TEMPLATES_WRITE = (Permission.MESSAGE_TEMPLATES, Level.WRITE)
_TEMPLATES = "/api/v1/message-templates"
_TEMPLATES_CURSOR = KeysetCursor(datetime, UUID, name="message-templates")
MESSAGES_CURSOR = KeysetCursor(datetime, UUID, name="messages")


@dataclass(frozen=True)
class EngagementPort:
    """What the engagement endpoints and pages use."""

    engagement: Engagement


def template_out(t: Template) -> dict[str, Any]:
    """A template as the API shows it."""
    return {k: v for k, v in t.__dict__.items() if k != "brand_id"}


def message_out(m: Message) -> dict[str, Any]:
    """A message as the API shows it."""
    return {k: v for k, v in m.__dict__.items() if k not in ("brand_id", "dedupe_key")}


def list_templates(ctx: Context[EngagementPort]) -> Reply:
    q: TemplateQuery = ctx.query
    page_scope = (ctx.brand_id, q.channel, q.kind, q.language)  # the filters its cursor is bound to
    after = _TEMPLATES_CURSOR.decode(q.cursor, page_scope) if q.cursor else None
    ctx.port.engagement.seed_defaults(ctx.brand_id)  # a brand's first look at its templates finds the defaults
    rows = ctx.port.engagement.store.templates(
        ctx.brand_id, q.channel and q.channel.value, q.kind and q.kind.value, q.language and q.language.value,
        (after[0], after[1]) if after else None, q.limit + 1,
    )  # fmt: skip
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = _TEMPLATES_CURSOR.encode(rows[-1].created_at, rows[-1].id, scope=page_scope) if more and rows else None
    return json_response({"items": [template_out(t) for t in rows], "next_cursor": cursor})


def create_template(ctx: Context[EngagementPort]) -> Reply:
    body: TemplateIn = ctx.body
    t = ctx.port.engagement.create_template(ctx.brand_id, body.name, body.kind, body.channel, body.language,
                                            body.subject, body.body, ctx.actor)  # fmt: skip
    return Reply(template_out(t), 201, {"Location": f"{_TEMPLATES}/{t.id}"})


def get_template(ctx: Context[EngagementPort]) -> Reply:
    return json_response(template_out(ctx.port.engagement.template(ctx.brand_id, ctx.path["template_id"])))


def change_template(ctx: Context[EngagementPort]) -> Reply:
    body: TemplateChangeIn = ctx.body
    t = ctx.port.engagement.update_template(
        ctx.brand_id, ctx.path["template_id"], body.subject, body.body, ctx.actor, ctx.expected_version()
    )
    return json_response(template_out(t))


def template_versions(ctx: Context[EngagementPort]) -> Reply:
    ctx.port.engagement.template(ctx.brand_id, ctx.path["template_id"])
    versions = ctx.port.engagement.store.versions(ctx.brand_id, ctx.path["template_id"])
    return json_response({"items": [template_out(t) for t in versions], "next_cursor": None})


def approve_template(ctx: Context[EngagementPort]) -> Reply:
    body: ApprovalIn = ctx.body
    t = ctx.port.engagement.set_approval(ctx.brand_id, ctx.path["template_id"], body.version, body.state, ctx.actor,
                                         body.reason)  # fmt: skip
    return json_response(template_out(t))


def submit_template(ctx: Context[EngagementPort]) -> Reply:
    body: SubmissionIn = ctx.body
    t = ctx.port.engagement.submit_for_approval(ctx.brand_id, ctx.path["template_id"], body.version, ctx.actor,
                                                body.category)  # fmt: skip
    return Reply(template_out(t), 202)


def preview_template(ctx: Context[EngagementPort]) -> Reply:
    body: PreviewIn = ctx.body
    t, r = ctx.port.engagement.preview(ctx.brand_id, ctx.path["template_id"], body.variables, body.subject, body.body)
    return json_response({"template_id": t.id, "version": t.version, "channel": t.channel, "subject": r.subject,
                          "body": r.body, "text": r.text})  # fmt: skip


def list_messages(ctx: Context[EngagementPort]) -> Reply:
    q: MessageQuery = ctx.query
    page_scope = (ctx.brand_id, q.customer_id, q.loan_id, q.channel, q.status)  # the filters its cursor is bound to
    after = MESSAGES_CURSOR.decode(q.cursor, page_scope) if q.cursor else None
    rows = ctx.port.engagement.messages.page(
        ctx.brand_id, customer_id=q.customer_id, loan_id=q.loan_id, channel=q.channel and q.channel.value,
        status=q.status, after=(after[0], after[1]) if after else None, limit=q.limit + 1,
    )  # fmt: skip
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = MESSAGES_CURSOR.encode(rows[-1].created_at, rows[-1].id, scope=page_scope) if more and rows else None
    return json_response({"items": [message_out(m) for m in rows], "next_cursor": cursor})


def get_message(ctx: Context[EngagementPort]) -> Reply:
    return json_response(message_out(ctx.port.engagement.message(ctx.brand_id, ctx.path["message_id"])))


def send_message(ctx: Context[EngagementPort]) -> Reply:
    body: SendIn = ctx.body
    m = ctx.port.engagement.send(
        ctx.brand_id, body.customer_id, body.channel, idempotency_key=body.idempotency_key,
        template_id=body.template_id, kind=body.kind, variables=body.variables, loan_id=body.loan_id,
    )  # fmt: skip
    return Reply(message_out(m), 201, {"Location": f"/api/v1/messages/{m.id}"})


def get_preferences(ctx: Context[EngagementPort]) -> Reply:
    p = ctx.port.engagement.preferences(ctx.brand_id, ctx.path["customer_id"])
    return json_response({**p.__dict__, "opted_out": list(p.opted_out)})


def set_preferences(ctx: Context[EngagementPort]) -> Reply:
    body: PreferencesIn = ctx.body
    p = ctx.port.engagement.set_preferences(ctx.brand_id, ctx.path["customer_id"], body.language, body.opted_out,
                                            body.reason, ctx.actor, ctx.expected_version())  # fmt: skip
    return json_response({**p.__dict__, "opted_out": list(p.opted_out)})


def message_deliveries(ctx: Context[EngagementPort]) -> Reply:
    q: DashboardQuery = ctx.query
    rows = ctx.port.engagement.dashboard(ctx.brand_id, q.days)
    return json_response({"days": q.days, "items": [r.__dict__ for r in rows]})


def _receipts(channel: Channel) -> Any:
    def receipt(ctx: Context[EngagementPort]) -> Reply:
        raw = anyio.from_thread.run(read_body, ctx.request)
        try:
            outcome = ctx.port.engagement.receipt(channel, raw, ctx.request.headers)
        except WebhookRejected as rejected:  # unsigned: a malformed request (400); forged or stale: 401
            status = 400 if rejected.reason in (MISSING_HEADER, MALFORMED_HEADER) else 401
            raise HttpProblem(status, rejected.detail, "invalid-signature", reason=rejected.reason) from None
        return json_response(outcome)

    receipt.__name__ = f"{channel.value}_receipt"
    return receipt


_T = f"{_TEMPLATES}/{{template_id}}"
_PREFS = "/api/v1/customers/{customer_id}/messaging-preferences"

ENDPOINTS = serve(
    EngagementPort,
    "engagement",
    [
        Endpoint(
            "GET",
            _TEMPLATES,
            list_templates,
            "The brand's message templates at their latest version",
            TEMPLATES_READ,
            query=TemplateQuery,
            response=TemplatePageOut,
        ),
        Endpoint(
            "POST",
            _TEMPLATES,
            create_template,
            "Add a message template (per channel and language, with "
            "{{placeholders}}), or the next version of the brand's template of that name, channel and language; "
            "a WhatsApp version awaits approval",
            TEMPLATES_WRITE,
            body=TemplateIn,
            response=TemplateOut,
            status=201,
        ),
        Endpoint(
            "GET",
            _T,
            get_template,
            "A message template at its latest version",
            TEMPLATES_READ,
            response=TemplateOut,
            etag=True,
        ),
        Endpoint(
            "PUT",
            _T,
            change_template,
            "A template's next version (messages keep the version they used); with If-Match (the version it was "
            "edited from), 409 when the template was saved since",
            TEMPLATES_WRITE,
            body=TemplateChangeIn,
            response=TemplateOut,
            if_match=True,
            etag=True,
        ),
        Endpoint(
            "GET",
            f"{_T}/versions",
            template_versions,
            "Every version of a template, newest first",
            TEMPLATES_READ,
            response=TemplatePageOut,
        ),
        Endpoint(
            "POST",
            f"{_T}/approval",
            approve_template,
            "Record the provider's approval of a WhatsApp template version (approved, rejected, pending)",
            TEMPLATES_WRITE,
            body=ApprovalIn,
            response=TemplateOut,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            f"{_T}/whatsapp-submission",
            submit_template,
            "Submit a WhatsApp template version to WhatsApp's review (pending; its verdict arrives by WhatsApp's "
            "signed webhook); 409 when approved or awaiting review, 503 when the provider is down, 422 when it "
            "refuses the request (nothing recorded then)",
            TEMPLATES_WRITE,
            body=SubmissionIn,
            response=TemplateOut,
            status=202,
            errors=(409, 422, 503),
        ),
        Endpoint(
            "POST",
            f"{_T}/preview",
            preview_template,
            "The template (or an unsaved draft) rendered with sample data; values escaped (HTML for email)",
            TEMPLATES_READ,
            body=PreviewIn,
            response=PreviewOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/messages",
            list_messages,
            "Messages to borrowers and their delivery, newest first",
            READ,
            query=MessageQuery,
            response=MessagePageOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/messages",
            send_message,
            "Send one message to a borrower now on a channel with a "
            "template (opt-outs and quiet hours apply), once per idempotency key",
            WRITE,
            body=SendIn,
            response=MessageOut,
            status=201,
            errors=(409,),
        ),
        Endpoint(
            "GET", "/api/v1/messages/{message_id}", get_message, "One message and its life", READ, response=MessageOut
        ),
        Endpoint(
            "GET",
            "/api/v1/message-deliveries",
            message_deliveries,
            "Messages by day, channel and status",
            READ,
            query=DashboardQuery,
            response=DashboardOut,
        ),
        Endpoint(
            "GET",
            _PREFS,
            get_preferences,
            "A borrower's messaging language and opt-outs (ETag: their version)",
            READ,
            response=PreferencesOut,
            etag=True,
        ),
        Endpoint(
            "PUT",
            _PREFS,
            set_preferences,
            "Set a borrower's messaging language and the channels they opted out of (DND); recorded with who and why; "
            "If-Match with the version read refuses a stale change with 409",
            WRITE,
            body=PreferencesIn,
            response=PreferencesOut,
            if_match=True,
            etag=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/webhooks/sms",
            _receipts(Channel.SMS),
            "The SMS provider's signed delivery receipts (sent, delivered, failed with reason)",
            None,
            response=WebhookOut,
            public=True,
            errors=(400, 401, 422),
        ),
        Endpoint(
            "POST",
            "/api/v1/webhooks/whatsapp",
            _receipts(Channel.WHATSAPP),
            "The WhatsApp provider's signed delivery receipts (sent, delivered, failed with reason) and its "
            "templates' verdicts (message_template_status_update: APPROVED, REJECTED with reason) and later states "
            "(FLAGGED, PAUSED, DISABLED, REINSTATED, PENDING_DELETION, DELETED; one older than the template's latest "
            "event is ignored); 409 for a verdict on a submission not recorded yet (deliver again)",
            None,
            response=WebhookOut,
            public=True,
            errors=(400, 401, 409, 422),
        ),
    ],
)
