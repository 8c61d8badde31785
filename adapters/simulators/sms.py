"""The SMS provider's simulator: accepts messages, "delivers" them to its outbox, refuses what a gateway would.

    POST /v1/messages  {"to", "text", "sender"}  (Bearer key)
    -> 202 {"message_id": "msg_…", "to": "+91…", "status": "queued"}

Special inputs (docs/providers.md): a number that is not an Indian mobile (10 digits starting 6-9, optionally
with +91/91/0) is `400 invalid_number`; a number ending in 0000 is on the DND/blocked list: `422 blocked_number`;
an empty text or one over 918 characters (six segments) is `400 invalid_text`; a sender that is not 3-11
letters or digits is `400 invalid_sender`. Each accepted message is in GET /outbox (`to`, `text`, `sender`,
`message_id`), newest first: the only place a test reads an OTP from.

Optional `reference` and `callback_url` (the engagement channel, issue #17): a repeated reference answers the
first message's id with `"duplicate": true` and sends nothing; signed delivery receipts go to `callback_url`
(`adapters.simulators.receipts`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, e164, error
from adapters.simulators.receipts import DeliveryReceipts

MAX_TEXT = 918
MOBILE = re.compile(r"\+91[6-9][0-9]{9}")
_SENDER = re.compile(r"[A-Za-z0-9]{3,11}")
_OTP = re.compile(r"\b([0-9]{4,8})\b")


class SmsSimulator(DeliveryReceipts, ProviderSimulator):
    """An SMS gateway on loopback (see the module doc)."""

    name: ClassVar[str] = "sms"
    fault_switches: ClassVar[tuple[str, ...]] = (*ProviderSimulator.fault_switches, "fail_next_deliveries")

    def __init__(self, **kwargs: Any) -> None:
        self._receipts_init()
        super().__init__(**kwargs)

    def reset_faults(self) -> None:
        """Every fault switch off, the delivery failures too."""
        super().reset_faults()
        self.reset_receipts()

    def provider_routes(self) -> Sequence[BaseRoute]:
        """POST /v1/messages."""
        return [Route("/v1/messages", self._send, methods=["POST"])]

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """The messages sent, newest first (to `to` only, when given)."""
        return self.sent_to(to)

    def last_code(self, to: str) -> str | None:
        """The first 4-8 digit number in the newest message to `to` (an OTP), or None."""
        for message in self.sent_to(to):
            found = _OTP.search(str(message.get("text", "")))
            if found:
                return found.group(1)
        return None

    async def _send(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        to, text, sender = body.get("to"), body.get("text"), body.get("sender", "CVDESK")
        if not isinstance(to, str) or not MOBILE.fullmatch(e164(to)):
            return error(400, "invalid_number", f"{to!r} is not an Indian mobile number")
        number = e164(to)
        if number.endswith("0000"):
            return error(422, "blocked_number", f"{number} is on the do-not-disturb list")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return error(400, "invalid_text", f"text must be 1..{MAX_TEXT} characters")
        if not isinstance(sender, str) or not _SENDER.fullmatch(sender):
            return error(400, "invalid_sender", "sender must be 3-11 letters or digits")
        reference = body.get("reference") if isinstance(body.get("reference"), str) else None
        earlier = self.known_reference(reference)
        if earlier is not None:
            return JSONResponse({"message_id": earlier, "to": number, "status": "queued", "duplicate": True}, 202)
        message_id = self.new_id("msg")
        earlier = self.remember(reference, message_id)
        if earlier is not None:
            return JSONResponse({"message_id": earlier, "to": number, "status": "queued", "duplicate": True}, 202)
        extra = {"reference": reference} if reference else {}
        self.sent(number, text=text, sender=sender, message_id=message_id, channel="sms", **extra)
        self.schedule_receipts(number, message_id, reference, body.get("callback_url"))
        return JSONResponse({"message_id": message_id, "to": number, "status": "queued"}, status_code=202)
