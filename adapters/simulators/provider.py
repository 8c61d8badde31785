"""The base of the provider simulators (SMS, PAN, bureau, ...): the fixed contract every one of them serves.

On top of `Simulator` (a real HTTP server, fault switches, outbox, signed webhooks) a provider simulator has:

- a bearer API key on its provider endpoints (`401 {"error": "unauthorized"}` without it);
- `GET {base}/outbox?to=&limit=` — what it was asked to send or check, newest first, `to` filtering by recipient
  (phone numbers compared in E.164, so `9876543210`, `+91 98765 43210` and `+919876543210` are one recipient);
- `POST {base}/faults` and `DELETE {base}/faults` — the fault switches of `/_sim/faults`;
- deterministic data: `rng(*parts)` is a random generator seeded by the inputs, so one PAN always has one score.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.base import CONTROL_PREFIX, Simulator
from adapters.simulators.outbox import OutboxRecord
from domain.shared.clock import Clock

SENT = "sent"  # an outbox record of what the simulator was asked to send or check, with its recipient in `to`
DEFAULT_KEY = "sim-key"
MAX_OUTBOX_PAGE = 500

_NON_DIGITS = re.compile(r"[^0-9]")


def e164(phone: str) -> str:
    """An Indian number as +91XXXXXXXXXX when it looks like one (10 digits, or 91/0 and 10 digits), else as given."""
    digits = _NON_DIGITS.sub("", phone)
    if len(digits) == 12 and digits.startswith("91"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("0"):
        digits = digits[1:]
    return f"+91{digits}" if len(digits) == 10 else phone.strip()


def rng(*parts: object) -> random.Random:
    """A generator seeded by `parts` (the same inputs always draw the same data, across runs and machines)."""
    seed = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def error(status: int, code: str, detail: str) -> JSONResponse:
    """The providers' error body: `{"error": code, "detail": detail}`."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


class ProviderSimulator(Simulator):
    """A simulator of one provider: subclasses give `name`, `provider_routes()` and their data rules."""

    control_paths: ClassVar[tuple[str, ...]] = (CONTROL_PREFIX, "/outbox", "/faults")

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        webhook_secret: str | bytes | None = None,
    ) -> None:
        self.api_key = api_key
        super().__init__(host=host, port=port, clock=clock, webhook_secret=webhook_secret)

    def routes(self) -> Sequence[BaseRoute]:
        """The fixed contract's /outbox and /faults, then the provider's own routes."""
        return [
            Route("/outbox", self._sent_outbox, methods=["GET"]),
            Route("/faults", self._set_fault, methods=["POST"]),
            Route("/faults", self._reset_faults, methods=["DELETE"]),
            *self.provider_routes(),
        ]

    def provider_routes(self) -> Sequence[BaseRoute]:
        """The provider's endpoints."""
        return []

    # What it sent ---------------------------------------------------------------------------------------------

    def sent(self, to: str, **facts: Any) -> OutboxRecord:
        """Record something sent to (or checked for) `to`, served at GET /outbox."""
        return self.outbox.record(SENT, to=e164(to), **facts)

    def sent_to(self, to: str | None = None) -> list[dict[str, Any]]:
        """What was sent, newest first, only to `to` when given (as GET /outbox answers)."""
        records = self.outbox.records(SENT) if to is None else self.outbox.records(SENT, to=e164(to))
        return [_item(record) for record in reversed(records)]

    def new_id(self, prefix: str) -> str:
        """A fresh identifier of the provider's style: `prefix_` and 20 hex characters."""
        return f"{prefix}_{uuid.uuid4().hex[:20]}"

    def authorized(self, request: Request) -> Response | None:
        """None when the request carries our API key, else the 401 to answer."""
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return error(401, "unauthorized", "a valid bearer API key is required")

    async def json_body(self, request: Request) -> dict[str, Any] | Response:
        """The request's JSON object, or the 400 to answer."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error(400, "bad_request", "the body must be a JSON object")
        if not isinstance(body, dict):
            return error(400, "bad_request", "the body must be a JSON object")
        return body

    async def _sent_outbox(self, request: Request) -> Response:
        to = request.query_params.get("to") or None
        limit_text = request.query_params.get("limit", "50")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_OUTBOX_PAGE:
            return error(400, "bad_request", f"limit must be 1..{MAX_OUTBOX_PAGE}")
        items = self.sent_to(to)[: int(limit_text)]
        return Response(json.dumps({"items": items}, default=str), media_type="application/json")


def _item(record: OutboxRecord) -> dict[str, Any]:
    return {"seq": record.seq, "at": record.at.isoformat(), **record.payload}


def text_field(body: dict[str, Any], name: str, *, required: bool = True, max_length: int = 200) -> str | None:
    """A string field of a request body, stripped; ValueError naming it when missing or not a string."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise ValueError(f"{name} must be a non-empty string of at most {max_length} characters")
    return value.strip()


def consent_page(title: str, lines: Sequence[str], allow_url: str, deny_url: str) -> Response:
    """The page a borrower is sent to (DigiLocker sign-in, AA consent): what is asked, and Allow / Deny links."""
    from html import escape

    body = "".join(f"<p>{escape(line)}</p>" for line in lines)
    html = (
        f"<!doctype html><html><head><meta name='viewport' content='width=device-width'><title>{escape(title)}"
        f"</title></head><body><h1>{escape(title)}</h1>{body}"
        f"<p><a id='allow' href='{escape(allow_url)}'>Allow</a> &middot; <a id='deny' href='{escape(deny_url)}'>"
        "Deny</a></p><p><small>A simulator of Covenant Desk's: no real data.</small></p></body></html>"
    )
    return Response(html, media_type="text/html")


def back_to(redirect_to: str, **params: str) -> Response:
    """A 303 to the caller's return address with `params` added to its query."""
    from urllib.parse import urlencode

    joiner = "&" if "?" in redirect_to else "?"
    return Response(status_code=303, headers={"Location": f"{redirect_to}{joiner}{urlencode(params)}"})


def valid_redirect(value: object) -> bool:
    """An absolute http(s) URL of at most 2,000 characters."""
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 2000
