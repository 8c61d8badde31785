"""The borrower messaging channels' clients (issue #17 item 1): SMS and WhatsApp over their providers' v1 contracts,
with our reference (the provider deduplicates it) and the URL its signed delivery receipts go to.

    SMS       POST {base}/v1/messages {"to", "text", "sender", "reference", "callback_url"}
              -> 202 {"message_id", "to", "status": "queued", "duplicate"?}
    WhatsApp  POST {base}/v1/messages {"to", "template", "language", "text", "sender", "reference", "callback_url"}
              -> 202 {"message_id", "to", "status": "accepted", "duplicate"?}
    WhatsApp  POST {base}/v1/message_templates {"name", "language", "category", "parameter_format": "NAMED",
              "components": [{"type": "BODY", "text", "example"}], "reference", "callback_url"}
              -> 201 {"id", "status": "PENDING", "category", "duplicate"?}; the verdict comes later as the signed
              webhook `message_template_status_update` {"message_template_id", "event": APPROVED|REJECTED|PAUSED|..., "reason"}

Errors as every provider's (`adapters.providers.http`): ProviderRejected for a refused message (invalid or
blocked number, no WhatsApp account), ProviderUnavailable after the bounded retries of 429 and 5xx. The brand's
choice of provider per channel is its `providers` setting (`sms`, `whatsapp`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.providers.directory import ProviderDirectory
from domain.providers.calls import Caller


@dataclass(frozen=True)
class Accepted:
    """A message the provider took: its id there, and whether it had it already (our reference repeated)."""

    message_id: str
    duplicate: bool


@dataclass(frozen=True)
class TemplateSubmission:
    """A template the provider took for review: its id there and its status (`PENDING`), and whether it had it
    already (our reference repeated: a retried submission is one submission)."""

    template_id: str
    status: str
    duplicate: bool


def _submission(body: Any) -> TemplateSubmission:
    return TemplateSubmission(template_id=str(body["id"]), status=str(body["status"]),
                              duplicate=bool(body.get("duplicate", False)))  # fmt: skip


def _accepted(body: Any) -> Accepted:
    return Accepted(message_id=str(body["message_id"]), duplicate=bool(body.get("duplicate", False)))


class ChannelClients:
    """Sends one SMS or WhatsApp message through the brand's provider of that channel."""

    def __init__(self, directory: ProviderDirectory) -> None:
        self.directory = directory

    def send(self, channel: str, vendor: str | None, *, to: str, text: str, sender: str, reference: str,
             callback_url: str | None, caller: Caller, template: str | None = None,
             language: str | None = None) -> Accepted:  # fmt: skip
        """Hand one message to the channel's provider (`vendor`: the brand's choice, None for the default)."""
        http = self.directory.http(channel, vendor)
        if http is None:
            raise self.directory.unconfigured(channel, f"send_{channel}", caller, vendor)
        body: dict[str, Any] = {"to": to, "text": text, "sender": sender, "reference": reference}
        if callback_url:
            body["callback_url"] = callback_url
        if channel == "whatsapp":
            body["template"] = template or "notification"
            body["language"] = language or "en"
        return http.call(f"send_{channel}", "POST", "/v1/messages", _accepted, caller=caller, json=body)

    def submit_template(self, vendor: str | None, *, name: str, language: str, category: str, body: str,
                        examples: Mapping[str, str], reference: str, callback_url: str | None,
                        caller: Caller) -> TemplateSubmission:  # fmt: skip
        """Submit a WhatsApp message template for the provider's (Meta's) review: its id there, `PENDING`. `body`
        keeps our `{{named}}` placeholders (WhatsApp's NAMED parameter format), each with its example value. The
        verdict comes later as the signed webhook `message_template_status_update` to `callback_url`."""
        http = self.directory.http("whatsapp", vendor)
        if http is None:
            raise self.directory.unconfigured("whatsapp", "submit_template", caller, vendor)
        component: dict[str, Any] = {"type": "BODY", "text": body}
        named = [{"param_name": key, "example": value} for key, value in examples.items()]
        if named:
            component["example"] = {"body_text_named_params": named}
        request: dict[str, Any] = {
            "name": name,
            "language": language,
            "category": category,
            "parameter_format": "NAMED",
            "components": [component],
            "reference": reference,
        }
        if callback_url:
            request["callback_url"] = callback_url
        return http.call("submit_template", "POST", "/v1/message_templates", _submission, caller=caller, json=request)
