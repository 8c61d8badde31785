"""The e-sign provider's simulator: a signing request, the signer's page, and a signed webhook to us.

    POST /v1/esign/requests  {"document_sha256", "signer_name", "signer_phone", "reference", "callback_url",
                              "expires_in_days"?}
    -> 201 {"request_id", "signing_url", "expires_at", "status": "pending"}
    400 invalid_document_hash | invalid_number | invalid_callback | bad_request
    GET  /v1/esign/requests/{id}  -> {"request_id", "reference", "status": pending|signed|declined|expired, ...}
    GET  {signing_url}            the signer's page; `?decision=sign|decline` signs or declines at once
    POST {signing_url}            `{"action": "sign"|"decline"}` does the same for a program -> {"request_id",
                                  "status"}; 409 already_decided, 410 expired

On signing (or declining) the simulator POSTs a webhook to `callback_url`, signed with the scheme of
`adapters.webhooks` (X-Timestamp, X-Signature v1=HMAC-SHA256), event type `esign.signed` or `esign.declined`,
data `{"request_id", "reference", "document_sha256", "status", "signer_name", "signed_at", "aadhaar_last4"}`.
The signing link goes to the signer's phone: GET /outbox?to=<phone> shows it. A request expires after 24
hours, or after `expires_in_days` (1-90) when the request gives it. `sign(request_id)` / `decline(request_id)` do what the page's links do (the webhook's Future returned).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, consent_page, e164, error, rng, text_field, valid_redirect
from adapters.simulators.sms import MOBILE
from adapters.simulators.webhook_sender import WebhookDelivery

LIFETIME = timedelta(hours=24)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class _Signing:
    request_id: str
    reference: str
    document_sha256: str
    signer_name: str
    signer_phone: str
    callback_url: str
    created_at: datetime
    lifetime: timedelta = LIFETIME
    status: str = "pending"
    signed_at: datetime | None = None


class EsignSimulator(ProviderSimulator):
    """E-sign on loopback (see the module doc); made with a webhook secret to call us back."""

    name: ClassVar[str] = "esign"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("webhook_secret", "whsec_simulators")
        self._requests: dict[str, _Signing] = {}
        self._state_lock = threading.Lock()
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """The signing API and the signer's page."""
        return [
            Route("/v1/esign/requests", self._create, methods=["POST"]),
            Route("/v1/esign/requests/{request_id}", self._status, methods=["GET"]),
            Route("/sign/{request_id}", self._page, methods=["GET"]),
            Route("/sign/{request_id}", self._act, methods=["POST"]),
        ]

    def sign(self, request_id: str) -> Future[WebhookDelivery]:
        """The signer signs: the request is signed and the webhook leaves (KeyError: unknown, ValueError: done)."""
        return self._decide(request_id, "signed")

    def decline(self, request_id: str) -> Future[WebhookDelivery]:
        """The signer declines."""
        return self._decide(request_id, "declined")

    def _decide(self, request_id: str, status: str) -> Future[WebhookDelivery]:
        now = self.clock.now()
        with self._state_lock:
            signing = self._requests[request_id]
            if self._status_of(signing) != "pending":
                raise ValueError(f"the request is {self._status_of(signing)}")
            signing.status, signing.signed_at = status, now if status == "signed" else None
            data = self._view(signing)
        return self.send_webhook_later(signing.callback_url, f"esign.{status}", data)

    def _status_of(self, signing: _Signing) -> str:
        expired = signing.status == "pending" and self.clock.now() - signing.created_at > signing.lifetime
        return "expired" if expired else signing.status

    def _view(self, signing: _Signing) -> dict[str, Any]:
        return {
            "request_id": signing.request_id,
            "reference": signing.reference,
            "document_sha256": signing.document_sha256,
            "status": self._status_of(signing),
            "signer_name": signing.signer_name,
            "signed_at": signing.signed_at.isoformat() if signing.signed_at else None,
            "aadhaar_last4": f"{rng('esign', signing.signer_phone).randrange(1000, 10000)}",
        }

    async def _create(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        digest, phone = body.get("document_sha256"), body.get("signer_phone")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            return error(400, "invalid_document_hash", "document_sha256 must be 64 lower-case hex digits")
        if not isinstance(phone, str) or not MOBILE.fullmatch(e164(phone)):
            return error(400, "invalid_number", f"{phone!r} is not an Indian mobile number")
        if not valid_redirect(body.get("callback_url")):
            return error(400, "invalid_callback", "callback_url must be an absolute http(s) URL")
        days = body.get("expires_in_days", 1)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
            return error(400, "bad_request", "expires_in_days must be a whole number of days from 1 to 90")
        try:
            name, reference = text_field(body, "signer_name") or "", text_field(body, "reference", max_length=100) or ""
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        now = self.clock.now()
        lifetime = timedelta(days=days)
        signing = _Signing(self.new_id("es"), reference, digest, name, e164(phone), body["callback_url"], now, lifetime)
        with self._state_lock:
            self._requests[signing.request_id] = signing
        url = f"{self.base_url}/sign/{signing.request_id}"
        self.sent(signing.signer_phone, check="esign", request_id=signing.request_id, text=f"Sign your document: {url}")
        return JSONResponse(
            {
                "request_id": signing.request_id,
                "signing_url": url,
                "expires_at": (now + lifetime).isoformat(),
                "status": "pending",
            },
            status_code=201,
        )

    async def _status(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        with self._state_lock:
            signing = self._requests.get(request.path_params["request_id"])
            view = self._view(signing) if signing else None
        return JSONResponse(view) if view else error(404, "not_found", "no such signing request")

    async def _act(self, request: Request) -> Response:
        """`POST {signing_url} {"action": "sign"|"decline"}`: the signer's decision, as the page's links make it."""
        request_id = request.path_params["request_id"]
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        action = body.get("action")
        if action not in ("sign", "decline"):
            return error(400, "bad_request", 'action must be "sign" or "decline"')
        with self._state_lock:
            signing = self._requests.get(request_id)
            status = self._status_of(signing) if signing else None
        if signing is None:
            return error(404, "not_found", "no such signing request")
        if status == "expired":
            return error(410, "expired", "the signing request has expired")
        try:
            self._decide(request_id, "signed" if action == "sign" else "declined")
        except ValueError as exc:
            return error(409, "already_decided", str(exc))
        return JSONResponse({"request_id": request_id, "status": signing.status})

    async def _page(self, request: Request) -> Response:
        request_id = request.path_params["request_id"]
        with self._state_lock:
            signing = self._requests.get(request_id)
        if signing is None:
            return error(404, "not_found", "no such signing request")
        decision = request.query_params.get("decision")
        if decision in ("sign", "decline"):
            try:
                self._decide(request_id, "signed" if decision == "sign" else "declined")
            except ValueError as exc:
                return error(409, "already_decided", str(exc))
            return HTMLResponse(f"<!doctype html><p id='result'>{escape(signing.status)}</p>")
        here = f"{self.base_url}/sign/{request_id}"
        return consent_page(
            "Aadhaar e-sign",
            [f"{signing.signer_name}: sign document {signing.document_sha256[:16]}… ({signing.reference})?"],
            f"{here}?decision=sign",
            f"{here}?decision=decline",
        )
