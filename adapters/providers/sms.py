"""SMS client: `send(to, text, sender)` over the provider's v1 contract (docs/providers.md, "SMS").

POST {base}/v1/messages  {"to": "+919876543210", "text": "...", "sender": "CVDESK"}
-> 202 {"message_id": "...", "to": "+919876543210", "status": "queued"}
400/422 {"error": "invalid_number" | "blocked_number" | "invalid_text" | "invalid_sender", "detail": ...}
"""

from __future__ import annotations

from typing import Any

from adapters.providers.http import ProviderCalls
from domain.providers.calls import Caller
from domain.providers.messaging import SmsReceipt

DEFAULT_SENDER = "CVDESK"


class SmsClient:
    """Sends text messages through one SMS provider (an `SmsSender`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def send(self, to: str, text: str, sender: str = DEFAULT_SENDER, *, caller: Caller) -> SmsReceipt:
        """Hand one message to the provider; ProviderRejected for a number it will not deliver to."""
        return self.http.call(
            "send_sms", "POST", "/v1/messages", _receipt, caller=caller, json={"to": to, "text": text, "sender": sender},
            repeatable=False,  # no reference to know it by: sent again, the person gets the text twice
        )  # fmt: skip


def _receipt(body: Any) -> SmsReceipt:
    return SmsReceipt(message_id=str(body["message_id"]), to=str(body["to"]), status=str(body["status"]))
