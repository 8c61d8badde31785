"""The borrower messaging channels' clients (issue #17 item 1): SMS and WhatsApp over their providers' v1 contracts,
with our reference (the provider deduplicates it) and the URL its signed delivery receipts go to.

    SMS       POST {base}/v1/messages {"to", "text", "sender", "reference", "callback_url"}
              -> 202 {"message_id", "to", "status": "queued", "duplicate"?}
    WhatsApp  POST {base}/v1/messages {"to", "template", "language", "text", "sender", "reference", "callback_url"}
              -> 202 {"message_id", "to", "status": "accepted", "duplicate"?}

Errors as every provider's (`adapters.providers.http`): ProviderRejected for a refused message (invalid or
blocked number, no WhatsApp account), ProviderUnavailable after the bounded retries of 429 and 5xx. The brand's
choice of provider per channel is its `providers` setting (`sms`, `whatsapp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.providers.directory import ProviderDirectory
from domain.providers.calls import Caller


@dataclass(frozen=True)
class Accepted:
    """A message the provider took: its id there, and whether it had it already (our reference repeated)."""

    message_id: str
    duplicate: bool


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
