"""The WhatsApp Business provider's simulator (issue #17 item 1): template messages to Indian mobiles.

    POST /v1/messages  {"to", "template", "language", "text", "sender", "reference"?, "callback_url"?}  (Bearer key)
    -> 202 {"message_id": "wamid_…", "to": "+91…", "status": "accepted", "duplicate": false}

Refusals: a number that is not an Indian mobile is `400 invalid_number`; one ending in 0000 has no WhatsApp
account: `422 not_on_whatsapp`; an empty `template` name is `400 invalid_template`; an empty text or one over
1,024 characters is `400 invalid_text`. Accepted messages are in GET /outbox (`to`, `text`, `template`,
`language`, `sender`, `message_id`, `reference`), newest first; receipts and de-duplication by `reference` as
`adapters.simulators.receipts` says; rate limits (429) and transient 5xx through the fault switches (`/faults`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, e164, error
from adapters.simulators.receipts import DeliveryReceipts
from adapters.simulators.sms import MOBILE

MAX_TEXT = 1024


class WhatsAppSimulator(DeliveryReceipts, ProviderSimulator):
    """A WhatsApp Business API on loopback (see the module doc)."""

    name: ClassVar[str] = "whatsapp"
    fault_switches: ClassVar[tuple[str, ...]] = (*ProviderSimulator.fault_switches, "fail_next_deliveries")

    def __init__(self, **kwargs: Any) -> None:
        self._receipts_init()
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """POST /v1/messages."""
        return [Route("/v1/messages", self._send, methods=["POST"])]

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
        """Every fault switch off, the delivery failures too."""
        super().reset_faults()
        self.reset_receipts()
