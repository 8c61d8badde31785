"""The payment gateway's simulator: an order, its hosted payment page, and a signed payment webhook to us; and
payouts to a beneficiary's account (`adapters.simulators.payouts`).

    POST /v1/orders  {"amount": "1234.50", "reference", "customer_phone", "description", "callback_url"}
    -> 201 {"order_id", "payment_url", "amount", "reference", "status": "created", "expires_at"}
    400 invalid_amount | invalid_number | invalid_callback | bad_request;  409 duplicate_reference
    GET  /v1/orders/{id}   -> {"order_id", "reference", "amount", "status": created|paid|failed|expired, ...}
    GET  {payment_url}     the payment page; `?outcome=success|failure` pays (UPI) or fails at once

On payment the simulator POSTs a signed webhook (`adapters.webhooks` scheme) to `callback_url`:
`payment.captured` `{"order_id", "reference", "amount", "method": "upi", "utr", "paid_at"}` or `payment.failed`
`{"order_id", "reference", "amount", "reason"}`. Special input: an amount whose paise are `.13` always fails
(`bank_declined`), whatever the payer does. An amount is positive, at most 2 places, at most ₹10,00,000. The
payment link goes to the customer's phone (GET /outbox?to=<phone>). `pay(order_id, success=True)` pays from a
test. Orders expire after 30 minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.mandates import MandateDesk
from adapters.simulators.payouts import PayoutDesk
from adapters.simulators.provider import ProviderSimulator, consent_page, e164, error, rng, text_field, valid_redirect
from adapters.simulators.sms import MOBILE
from adapters.simulators.webhook_sender import WebhookDelivery

LIFETIME = timedelta(minutes=30)
MAX_AMOUNT = Decimal("1000000")


@dataclass
class _Order:
    order_id: str
    reference: str
    amount: Decimal
    phone: str
    description: str
    callback_url: str
    created_at: datetime
    status: str = "created"
    utr: str | None = None


class GatewaySimulator(MandateDesk, PayoutDesk, ProviderSimulator):
    """A payment gateway on loopback (see the module doc; payouts: `adapters.simulators.payouts`; UPI Autopay
    mandates: `adapters.simulators.mandates`); made with a webhook secret to call us back."""

    name: ClassVar[str] = "gateway"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("webhook_secret", "whsec_simulators")
        self._orders: dict[str, _Order] = {}
        self._references: set[str] = set()
        self._state_lock = threading.Lock()
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """The orders API and the payment page."""
        return [
            Route("/v1/orders", self._create, methods=["POST"]),
            Route("/v1/orders/{order_id}", self._status, methods=["GET"]),
            Route("/pay/{order_id}", self._page, methods=["GET"]),
            *self.payout_routes(),
            *self.mandate_routes(),
        ]

    def pay(self, order_id: str, success: bool = True) -> Future[WebhookDelivery]:
        """The customer pays (or the payment fails): the order changes and the webhook leaves."""
        now = self.clock.now()
        with self._state_lock:
            order = self._orders[order_id]
            if self._status_of(order) != "created":
                raise ValueError(f"the order is {self._status_of(order)}")
            declined = order.amount % 1 == Decimal("0.13")
            if success and not declined:
                order.status, order.utr = "paid", str(rng("utr", order_id).randrange(10**11, 10**12))
                data = {**self._view(order), "method": "upi", "paid_at": now.isoformat()}
                kind = "payment.captured"
            else:
                order.status = "failed"
                data = {**self._view(order), "reason": "bank_declined" if declined else "payer_cancelled"}
                kind = "payment.failed"
        return self.send_webhook_later(order.callback_url, kind, data)

    def _status_of(self, order: _Order) -> str:
        expired = order.status == "created" and self.clock.now() - order.created_at > LIFETIME
        return "expired" if expired else order.status

    def _view(self, order: _Order) -> dict[str, Any]:
        return {
            "order_id": order.order_id,
            "reference": order.reference,
            "amount": str(order.amount),
            "status": self._status_of(order),
            "utr": order.utr,
        }

    async def _create(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        try:
            amount = Decimal(str(body.get("amount")))
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            return error(400, "invalid_amount", f"amount must be 0.01 to {MAX_AMOUNT} rupees, at most 2 places")
        phone = body.get("customer_phone")
        if not isinstance(phone, str) or not MOBILE.fullmatch(e164(phone)):
            return error(400, "invalid_number", f"{phone!r} is not an Indian mobile number")
        if not valid_redirect(body.get("callback_url")):
            return error(400, "invalid_callback", "callback_url must be an absolute http(s) URL")
        try:
            reference = text_field(body, "reference", max_length=100) or ""
            description = text_field(body, "description", required=False) or ""
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        now = self.clock.now()
        order = _Order(
            self.new_id("order"),
            reference,
            amount.quantize(Decimal("0.01")),
            e164(phone),
            description,
            body["callback_url"],
            now,
        )
        with self._state_lock:
            if reference in self._references:
                return error(409, "duplicate_reference", f"an order for {reference!r} exists")
            self._references.add(reference)
            self._orders[order.order_id] = order
        url = f"{self.base_url}/pay/{order.order_id}"
        self.sent(order.phone, check="payment_link", order_id=order.order_id, text=f"Pay Rs {order.amount} at {url}")
        return JSONResponse(
            {**self._view(order), "payment_url": url, "expires_at": (now + LIFETIME).isoformat()}, status_code=201
        )

    async def _status(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        with self._state_lock:
            order = self._orders.get(request.path_params["order_id"])
            view = self._view(order) if order else None
        return JSONResponse(view) if view else error(404, "not_found", "no such order")

    async def _page(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        with self._state_lock:
            order = self._orders.get(order_id)
        if order is None:
            return error(404, "not_found", "no such order")
        outcome = request.query_params.get("outcome")
        if outcome in ("success", "failure"):
            try:
                self.pay(order_id, success=outcome == "success")
            except ValueError as exc:
                return error(409, "already_decided", str(exc))
            return HTMLResponse(f"<!doctype html><p id='result'>{escape(order.status)}</p>")
        here = f"{self.base_url}/pay/{order_id}"
        return consent_page(
            "Pay with UPI",
            [f"Rs {order.amount} — {order.description or order.reference}"],
            f"{here}?outcome=success",
            f"{here}?outcome=failure",
        )
