"""The VoIP dialer's simulator (Acefone): click-to-call rings the agent's extension, bridges to the borrower, and
posts a signed `call.completed` webhook to us when the call ends.

    POST /v1/click-to-call  {"account_id", "api_token", "agent_extension", "destination", "reference",
                             "callback_url"}  (Bearer key)
    -> 202 {"call_id", "reference", "status": "queued"}; the same reference again -> 200, the same call
    400 invalid_extension | invalid_number | invalid_callback | bad_request;  403 invalid_credentials
    GET  /v1/calls/{call_id}        -> {"call_id", "reference", "status", "duration_seconds", "recording_url", ...}
    GET  /recordings/{call_id}.mp3  the recording of an answered call (a few bytes of audio/mpeg)

How a call ends is picked by the destination's **last four digits**: `1111` no answer, `2222` busy, `3333`
switched off (`failed`); anything else is answered and talks 20-300 seconds (seeded by the reference), with a
recording. An API token starting `bad` (or shorter than 8 characters) is refused (403 `invalid_credentials`).
The webhook `call.completed` `{"call_id", "reference", "status": answered|no_answer|busy|failed,
"duration_seconds", "recording_url", "agent_extension", "destination", "started_at", "ended_at"}` leaves
`complete_delay` seconds after the call is placed (0.2 s); with `auto_complete = False` a test ends each call
itself with `complete(call_id, status=…, duration=…)`. The token is never recorded in the outbox.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, e164, error, rng, text_field, valid_redirect
from adapters.simulators.sms import MOBILE
from adapters.simulators.webhook_sender import WebhookDelivery

EXTENSION = re.compile(r"[0-9]{2,8}")
#: By the destination's last four digits: how the call ends (anything else: answered).
ENDINGS = {"1111": "no_answer", "2222": "busy", "3333": "failed"}
STATUSES = ("answered", "no_answer", "busy", "failed")


@dataclass
class _Call:
    call_id: str
    reference: str
    account_id: str
    extension: str
    destination: str
    callback_url: str
    placed_at: datetime
    status: str = "queued"
    duration: int = 0
    recording_url: str | None = None
    ended_at: datetime | None = None


class DialerSimulator(ProviderSimulator):
    """An Acefone-like dialer on loopback (see the module doc); made with a webhook secret to call us back."""

    name: ClassVar[str] = "dialer"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("webhook_secret", "whsec_simulators")
        self._calls: dict[str, _Call] = {}
        self._by_reference: dict[str, str] = {}
        self._state_lock = threading.Lock()
        self.auto_complete = True
        self.complete_delay = 0.2
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """Click-to-call, a call's status and its recording."""
        return [
            Route("/v1/click-to-call", self._place, methods=["POST"]),
            Route("/v1/calls/{call_id}", self._status, methods=["GET"]),
            Route("/recordings/{call_id}.mp3", self._recording, methods=["GET"]),
        ]

    def calls(self) -> list[dict[str, Any]]:
        """Every call placed, oldest first (as GET /v1/calls/{id} shows each)."""
        with self._state_lock:
            return [self._view(call) for call in self._calls.values()]

    def complete(
        self, call_id: str, *, status: str | None = None, duration: int | None = None, delay: float = 0.0
    ) -> Future[WebhookDelivery]:
        """End a call (by its destination's rule unless `status` is given): it changes, the webhook leaves."""
        now = self.clock.now()
        with self._state_lock:
            call = self._calls[call_id]
            if call.status != "queued":
                raise ValueError(f"the call is {call.status}")
            ending = status or ENDINGS.get(call.destination[-4:], "answered")
            if ending not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}")
            call.status = ending
            if ending == "answered":
                call.duration = duration if duration is not None else rng("talk", call.reference).randrange(20, 301)
                call.recording_url = f"{self.base_url}/recordings/{call.call_id}.mp3"
            call.ended_at = now + timedelta(seconds=call.duration)
            data = self._view(call)
        return self.send_webhook_later(call.callback_url, "call.completed", data, delay=delay)

    def _view(self, call: _Call) -> dict[str, Any]:
        return {
            "call_id": call.call_id,
            "reference": call.reference,
            "status": call.status,
            "duration_seconds": call.duration,
            "recording_url": call.recording_url,
            "agent_extension": call.extension,
            "destination": call.destination,
            "started_at": call.placed_at.isoformat(),
            "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        }

    async def _place(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        try:
            account = text_field(body, "account_id", max_length=100) or ""
            reference = text_field(body, "reference", max_length=100) or ""
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        token = body.get("api_token")
        if not isinstance(token, str) or len(token) < 8 or token.startswith("bad"):
            return error(403, "invalid_credentials", "the account's API token is not valid")
        extension, destination = body.get("agent_extension"), body.get("destination")
        if not isinstance(extension, str) or not EXTENSION.fullmatch(extension):
            return error(400, "invalid_extension", "agent_extension must be 2-8 digits")
        if not isinstance(destination, str) or not MOBILE.fullmatch(e164(destination)):
            return error(400, "invalid_number", f"{destination!r} is not an Indian mobile number")
        if not valid_redirect(body.get("callback_url")):
            return error(400, "invalid_callback", "callback_url must be an absolute http(s) URL")
        with self._state_lock:
            known = self._by_reference.get(reference)
            if known is not None:
                call = self._calls[known]
                return JSONResponse({"call_id": call.call_id, "reference": reference, "status": "queued"})
            call = _Call(
                self.new_id("call"),
                reference,
                account,
                extension,
                e164(destination),
                body["callback_url"],
                self.clock.now(),
            )
            self._calls[call.call_id] = call
            self._by_reference[reference] = call.call_id
        self.sent(call.destination, check="call", call_id=call.call_id, reference=reference, extension=extension)
        if self.auto_complete:
            self.complete(call.call_id, delay=self.complete_delay)
        return JSONResponse({"call_id": call.call_id, "reference": reference, "status": "queued"}, status_code=202)

    async def _status(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        with self._state_lock:
            call = self._calls.get(request.path_params["call_id"])
            view = self._view(call) if call else None
        return JSONResponse(view) if view else error(404, "not_found", "no such call")

    async def _recording(self, request: Request) -> Response:
        with self._state_lock:
            call = self._calls.get(request.path_params["call_id"])
        if call is None or call.recording_url is None:
            return error(404, "not_found", "no recording of this call")
        return Response(b"ID3\x03\x00\x00\x00\x00\x00\x00" + call.call_id.encode(), media_type="audio/mpeg")
