"""The WhatsApp Business provider's simulator (issue #17 item 1): template messages to Indian mobiles.

    POST /v1/messages  {"to", "template", "language", "text", "sender", "reference"?, "callback_url"?}  (Bearer key)
    -> 202 {"message_id": "wamid_…", "to": "+91…", "status": "accepted", "duplicate": false}

Refusals: a number that is not an Indian mobile is `400 invalid_number`; one ending in 0000 has no WhatsApp
account: `422 not_on_whatsapp`; an empty `template` name is `400 invalid_template`; an empty text or one over
1,024 characters is `400 invalid_text`. Accepted messages are in GET /outbox (`to`, `text`, `template`,
`language`, `sender`, `message_id`, `reference`), newest first; receipts and de-duplication by `reference` as
`adapters.simulators.receipts` says; rate limits (429) and transient 5xx through the fault switches (`/faults`).

Message templates go to WhatsApp's review first (the WhatsApp Business Platform's template submission):

    POST /v1/message_templates  {"name", "language", "category", "parameter_format"?, "components":
                                 [{"type": "BODY", "text", "example"?}, ...], "reference"?, "callback_url"?}
    -> 201 {"id": "wat_…", "status": "PENDING", "category"}; the same `reference` again -> 200, the same
       template with its status now and `"duplicate": true` (a retried submission is one submission)
    GET  /v1/message_templates/{id}  -> {"id", "name", "language", "category", "status", "reason", "reference"}

Refusals (400): `invalid_name` (not 1-512 lowercase letters, digits, underscores), `invalid_language`,
`invalid_category` (not UTILITY, MARKETING or AUTHENTICATION), `invalid_components` (no BODY of 1..1,024
characters), `missing_example` (a `{{named}}` parameter of a NAMED body without its example), `invalid_callback`.
A template stays PENDING until decided: `approve_template(id)` / `reject_template(id, reason)` (tests), or
`POST /_sim/templates/{id} {"event": "APPROVED"|"REJECTED"|..., "reason"?}` (the demo; no key); the decision is posted
to the submission's `callback_url` as the signed webhook `message_template_status_update` `{"message_template_id",
"message_template_name", "message_template_language", "event", "reason" ("NONE" when approved), "reference"}`.
An approved template's later life, as WhatsApp reports it on the same webhook (its quality falling, ...):
`flag_template(id)`, `pause_template(id)` (`other_info.title` FIRST_PAUSE, then SECOND_PAUSE, ...),
`disable_template(id)`, `reinstate_template(id)`, `change_template_status(id, event, reason)` for any of
FLAGGED, PAUSED, DISABLED, REINSTATED, PENDING_DELETION, DELETED (tests), or the demo's `POST /_sim/templates/{id}
{"event": "PAUSED", ...}`. Each change is its own event (id `<template id>.<event>.<n>`) stamped with the moment
of the change (`created_at`), however late it is delivered (`delay`): the order to apply them in.
Fault switches: `refuse_next_templates(n, code, status)` refuses the next `n` submissions on the request
(`{"error": code}`, 400 by default); `reject_next_templates(n, reason, delay)` takes them PENDING and rejects
each after `delay` seconds (webhook sent).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, e164, error, valid_redirect
from adapters.simulators.receipts import DeliveryReceipts
from adapters.simulators.sms import MOBILE
from adapters.simulators.webhook_sender import WebhookDelivery

MAX_TEXT = 1024
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
TEMPLATE_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
TEMPLATE_EVENTS = ("APPROVED", "REJECTED")
#: An approved template's later events (WhatsApp's `message_template_status_update` beyond the verdict).
TEMPLATE_STATUS_CHANGES = ("FLAGGED", "PAUSED", "DISABLED", "REINSTATED", "PENDING_DELETION", "DELETED")
NAMED_PARAMETER = re.compile(r"{{\s*([a-z_][a-z0-9_]*)\s*}}")
TEMPLATE_STATUS_EVENT = "message_template_status_update"


@dataclass
class _Submission:
    template_id: str
    name: str
    language: str
    category: str
    text: str
    reference: str | None
    callback_url: str | None
    status: str = "PENDING"
    reason: str | None = None
    changes: int = 0
    pauses: int = 0


class WhatsAppSimulator(DeliveryReceipts, ProviderSimulator):
    """A WhatsApp Business API on loopback (see the module doc)."""

    name: ClassVar[str] = "whatsapp"
    fault_switches: ClassVar[tuple[str, ...]] = (
        *ProviderSimulator.fault_switches,
        "fail_next_deliveries",
        "refuse_next_templates",
        "reject_next_templates",
    )

    def __init__(self, **kwargs: Any) -> None:
        self._receipts_init()
        self._templates: dict[str, _Submission] = {}
        self._template_references: dict[str, str] = {}
        self._template_refusals: list[tuple[int, str]] = []
        self._template_rejections: list[tuple[str, float]] = []
        self._template_lock = threading.Lock()
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """POST /v1/messages, the template submissions, and the demo's decision control."""
        return [
            Route("/v1/messages", self._send, methods=["POST"]),
            Route("/v1/message_templates", self._submit_template, methods=["POST"]),
            Route("/v1/message_templates/{template_id}", self._template_status, methods=["GET"]),
            Route("/_sim/templates/{template_id}", self._decide_over_http, methods=["POST"]),
        ]

    # Message templates ----------------------------------------------------------------------------------------

    def templates(self) -> list[dict[str, Any]]:
        """Every template submitted, oldest first (as GET /v1/message_templates/{id} shows each)."""
        with self._template_lock:
            return [self._template_view(t) for t in self._templates.values()]

    def approve_template(self, template_id: str, *, delay: float = 0.0) -> Future[WebhookDelivery] | None:
        """WhatsApp approves a pending template: it changes, the signed webhook leaves (None: no callback_url)."""
        return self.decide_template(template_id, "APPROVED", delay=delay)

    def reject_template(
        self, template_id: str, reason: str = "INVALID_FORMAT", *, delay: float = 0.0
    ) -> Future[WebhookDelivery] | None:
        """WhatsApp rejects a pending template with `reason` (Meta's words: INVALID_FORMAT, TAG_CONTENT_MISMATCH,
        INCORRECT_CATEGORY, ABUSIVE_CONTENT, SCAM, ...); the signed webhook leaves."""
        return self.decide_template(template_id, "REJECTED", reason, delay=delay)

    def decide_template(
        self, template_id: str, event: str, reason: str | None = None, *, delay: float = 0.0
    ) -> Future[WebhookDelivery] | None:
        """Decide a pending template (`APPROVED` or `REJECTED`); KeyError when unknown, ValueError when decided."""
        if event not in TEMPLATE_EVENTS:
            raise ValueError(f"event must be one of {TEMPLATE_EVENTS}")
        with self._template_lock:
            template = self._templates[template_id]
            if template.status != "PENDING":
                raise ValueError(f"the template is {template.status}")
            template.status = event
            template.reason = (reason or "INVALID_FORMAT") if event == "REJECTED" else None
            callback = template.callback_url
            data = {
                "message_template_id": template.template_id,
                "message_template_name": template.name,
                "message_template_language": template.language,
                "event": event,
                "reason": template.reason or "NONE",
                "reference": template.reference,
            }
        if callback is None:
            return None
        return self.send_webhook_later(
            callback, TEMPLATE_STATUS_EVENT, data, event_id=f"{template_id}.{event.lower()}", delay=delay
        )

    def flag_template(self, template_id: str, *, delay: float = 0.0) -> Future[WebhookDelivery] | None:
        """WhatsApp flags an approved template for low quality (still usable; a pause may follow)."""
        return self.change_template_status(template_id, "FLAGGED", delay=delay)

    def pause_template(self, template_id: str, *, delay: float = 0.0) -> Future[WebhookDelivery] | None:
        """WhatsApp pauses an approved template for low quality (sends with it are refused until reinstated)."""
        return self.change_template_status(template_id, "PAUSED", delay=delay)

    def disable_template(self, template_id: str, reason: str | None = None, *,
                         delay: float = 0.0) -> Future[WebhookDelivery] | None:  # fmt: skip
        """WhatsApp disables a template (after repeated pauses): never usable again."""
        return self.change_template_status(template_id, "DISABLED", reason, delay=delay)

    def reinstate_template(self, template_id: str, *, delay: float = 0.0) -> Future[WebhookDelivery] | None:
        """WhatsApp reinstates a paused or flagged template (usable again)."""
        return self.change_template_status(template_id, "REINSTATED", delay=delay)

    def change_template_status(
        self, template_id: str, event: str, reason: str | None = None, *, delay: float = 0.0
    ) -> Future[WebhookDelivery] | None:
        """An approved template's later event (`TEMPLATE_STATUS_CHANGES`), posted as the signed webhook stamped with
        this moment (delivered after `delay`); KeyError when unknown, ValueError when it was never approved."""
        if event not in TEMPLATE_STATUS_CHANGES:
            raise ValueError(f"event must be one of {TEMPLATE_STATUS_CHANGES}")
        with self._template_lock:
            template = self._templates[template_id]
            if template.status in ("PENDING", "REJECTED"):
                raise ValueError(f"the template is {template.status}")
            template.status = "APPROVED" if event == "REINSTATED" else event
            template.changes += 1
            data: dict[str, Any] = {
                "message_template_id": template.template_id,
                "message_template_name": template.name,
                "message_template_language": template.language,
                "event": event,
                "reason": reason or "NONE",
                "reference": template.reference,
            }
            if event == "PAUSED":
                template.pauses += 1
                data["other_info"] = {"title": "FIRST_PAUSE" if template.pauses == 1 else "SECOND_PAUSE",
                                      "description": "The template's quality rating fell: paused for a while."}  # fmt: skip
            event_id = f"{template_id}.{event.lower()}.{template.changes}"
            callback = template.callback_url
        if callback is None:
            return None
        return self.send_webhook_later(callback, TEMPLATE_STATUS_EVENT, data, event_id=event_id, delay=delay,
                                       created_at=self.clock.now())  # fmt: skip

    def refuse_next_templates(self, n: int = 1, code: str = "invalid_parameter", status: int = 400) -> None:
        """The next `n` template submissions are refused on the request: `status` (4xx) `{"error": code}`."""
        if not 400 <= status < 500:
            raise ValueError("status must be a 4xx")
        with self._template_lock:
            self._template_refusals.extend([(status, code)] * n)

    def reject_next_templates(self, n: int = 1, reason: str = "INVALID_FORMAT", delay: float = 0.2) -> None:
        """The next `n` template submissions are taken PENDING, then rejected with `reason` after `delay` seconds."""
        with self._template_lock:
            self._template_rejections.extend([(reason, delay)] * n)

    @staticmethod
    def _template_view(template: _Submission) -> dict[str, Any]:
        return {
            "id": template.template_id,
            "name": template.name,
            "language": template.language,
            "category": template.category,
            "status": template.status,
            "reason": template.reason,
            "reference": template.reference,
            "text": template.text,
        }

    async def _submit_template(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        name, language, category = body.get("name"), body.get("language"), body.get("category")
        reference = body.get("reference") if isinstance(body.get("reference"), str) else None
        callback = body.get("callback_url")
        if not isinstance(name, str) or not TEMPLATE_NAME.fullmatch(name):
            return error(400, "invalid_name", "name must be 1-512 lowercase letters, digits and underscores")
        if not isinstance(language, str) or not TEMPLATE_LANGUAGE.fullmatch(language):
            return error(400, "invalid_language", f"{language!r} is not a template language code")
        if category not in CATEGORIES:
            return error(400, "invalid_category", f"category must be one of {list(CATEGORIES)}")
        components = body.get("components")
        bodies = [c for c in components if isinstance(c, dict) and c.get("type") == "BODY"] if isinstance(
            components, list) else []  # fmt: skip
        text = bodies[0].get("text") if bodies else None
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return error(400, "invalid_components", f"a BODY component with 1..{MAX_TEXT} characters of text")
        if body.get("parameter_format") == "NAMED":
            example = bodies[0].get("example")
            given = example.get("body_text_named_params") if isinstance(example, dict) else None
            named = {p.get("param_name") for p in given if isinstance(p, dict)} if isinstance(given, list) else set()
            missing = sorted(set(NAMED_PARAMETER.findall(text)) - named)
            if missing:
                return error(400, "missing_example", f"parameters without an example: {missing}")
        if callback is not None and not valid_redirect(callback):
            return error(400, "invalid_callback", "callback_url must be an absolute http(s) URL")
        with self._template_lock:
            known = self._template_references.get(reference) if reference else None
            if known is not None:
                view = self._template_view(self._templates[known])
                return JSONResponse({**view, "duplicate": True}, status_code=200)
            if self._template_refusals:
                status, code = self._template_refusals.pop(0)
                return error(status, code, "the template was refused (simulated)")
            template = _Submission(self.new_id("wat"), name, language, category, text, reference, callback)
            self._templates[template.template_id] = template
            if reference:
                self._template_references[reference] = template.template_id
            rejection = self._template_rejections.pop(0) if self._template_rejections else None
            view = self._template_view(template)
        self.sent(name, check="template", template_id=template.template_id, language=language, category=category,
                  text=text, reference=reference)  # fmt: skip
        if rejection is not None:
            self.reject_template(template.template_id, rejection[0], delay=rejection[1])
        return JSONResponse({**view, "duplicate": False}, status_code=201)

    async def _template_status(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        with self._template_lock:
            template = self._templates.get(request.path_params["template_id"])
            view = self._template_view(template) if template else None
        return JSONResponse(view) if view else error(404, "not_found", "no such template")

    async def _decide_over_http(self, request: Request) -> Response:
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        reason = body.get("reason") if isinstance(body.get("reason"), str) else None
        event = str(body.get("event"))
        try:
            if event in TEMPLATE_STATUS_CHANGES:
                self.change_template_status(request.path_params["template_id"], event, reason)
            else:
                self.decide_template(request.path_params["template_id"], event, reason)
        except KeyError:
            return error(404, "not_found", "no such template")
        except ValueError as exc:
            return error(409, "already_decided", str(exc))
        return Response(status_code=204)

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """The messages sent, newest first (to `to` only, when given)."""
        return self.sent_to(to)

    async def _send(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        to, text, template = body.get("to"), body.get("text"), body.get("template")
        reference = body.get("reference") if isinstance(body.get("reference"), str) else None
        if not isinstance(to, str) or not MOBILE.fullmatch(e164(to)):
            return error(400, "invalid_number", f"{to!r} is not an Indian mobile number")
        number = e164(to)
        if number.endswith("0000"):
            return error(422, "not_on_whatsapp", f"{number} has no WhatsApp account")
        if not isinstance(template, str) or not template.strip():
            return error(400, "invalid_template", "template must name an approved template")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return error(400, "invalid_text", f"text must be 1..{MAX_TEXT} characters")
        earlier = self.known_reference(reference)
        if earlier is not None:
            return JSONResponse({"message_id": earlier, "to": number, "status": "accepted", "duplicate": True}, 202)
        message_id = self.new_id("wamid")
        earlier = self.remember(reference, message_id)
        if earlier is not None:
            return JSONResponse({"message_id": earlier, "to": number, "status": "accepted", "duplicate": True}, 202)
        self.sent(number, text=text, template=template, language=body.get("language"), sender=body.get("sender"),
                  message_id=message_id, reference=reference, channel="whatsapp")  # fmt: skip
        self.schedule_receipts(number, message_id, reference, body.get("callback_url"))
        return JSONResponse({"message_id": message_id, "to": number, "status": "accepted", "duplicate": False}, 202)

    def reset_faults(self) -> None:
        """Every fault switch off, the delivery failures and the template refusals and rejections too."""
        super().reset_faults()
        self.reset_receipts()
        with self._template_lock:
            self._template_refusals.clear()
            self._template_rejections.clear()
