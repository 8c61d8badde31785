"""The payment gateway simulator's UPI Autopay mandates: a standing instruction the payer approves in their UPI app,
then debits we present on due dates.

    POST /v1/mandates  {"vpa", "max_amount", "frequency": "monthly"|"weekly"|"as_presented", "reference",
                        "callback_url"}
    -> 201 {"mandate_id", "reference", "vpa", "max_amount", "frequency", "status": "pending", "approval_url"}
    400 invalid_vpa | invalid_amount | invalid_frequency | invalid_callback | bad_request; 409 duplicate_reference
    GET  {approval_url}?outcome=approve|decline   the payer approves (or declines) in their UPI app
    POST /v1/mandates/{id}/revoke                 we revoke it -> 200 {"status": "revoked"}
    POST /v1/mandates/{id}/debits {"amount", "reference"} -> 202 {"order_id", "status": "presented"}
    400 invalid_amount | bad_request; 409 mandate_not_active | duplicate_reference

Webhooks (signed, to the mandate's `callback_url`): `mandate.activated` / `mandate.revoked` `{"mandate_id",
"reference", "vpa", "reason"?}`; a presented debit settles by itself shortly after as `payment.captured`
`{"order_id", "reference", "amount", "method": "upi_autopay", "mandate_id", "utr", "paid_at"}` or `payment.failed`
`{..., "reason"}`. Special input: a debit above the mandate's `max_amount` fails `exceeds_mandate_limit`; a VPA
starting `lowbalance` always fails `insufficient_funds`; `fail_next_debits(mandate_id, n, reason)` makes the next
`n` debits fail (for retry tests). `approve_mandate(id)` / `revoke_by_payer(id)` act as the payer from a test
(`mandate_by_reference(reference)` finds the id).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, consent_page, error, rng, text_field, valid_redirect
from adapters.simulators.webhook_sender import WebhookDelivery

VPA = re.compile(r"[A-Za-z0-9._-]{2,64}@[A-Za-z][A-Za-z0-9]{1,32}")
FREQUENCIES = ("monthly", "weekly", "as_presented")
MAX_MANDATE = Decimal("100000")


@dataclass
class _Mandate:
    mandate_id: str
    reference: str
    vpa: str
    max_amount: Decimal
    frequency: str
    callback_url: str
    status: str = "pending"
    fail_next: list[str] = field(default_factory=list)


def _amount(raw: Any) -> Decimal | None:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    return value.quantize(Decimal("0.01"))


class MandateDesk:
    """The UPI Autopay half of `GatewaySimulator` (a mixin over `ProviderSimulator`)."""

    def _mandate_state(self) -> tuple[dict[str, _Mandate], set[str], threading.Lock]:
        if not hasattr(self, "_mandates"):
            self._mandates: dict[str, _Mandate] = {}
            self._debit_refs: set[str] = set()
            self._mandate_lock = threading.Lock()
        return self._mandates, self._debit_refs, self._mandate_lock

    def _msim(self) -> ProviderSimulator:
        assert isinstance(self, ProviderSimulator)
        return self

    def mandate_routes(self) -> Sequence[BaseRoute]:
        """The mandates API and the payer's approval page."""
        self._mandate_state()
        return [
            Route("/v1/mandates", self._create_mandate, methods=["POST"]),
            Route("/v1/mandates/{mandate_id}/revoke", self._revoke_mandate, methods=["POST"]),
            Route("/v1/mandates/{mandate_id}/debits", self._debit, methods=["POST"]),
            Route("/mandates/{mandate_id}/approve", self._approval_page, methods=["GET"]),
        ]

    def _view_mandate(self, m: _Mandate) -> dict[str, Any]:
        return {"mandate_id": m.mandate_id, "reference": m.reference, "vpa": m.vpa,
                "max_amount": str(m.max_amount), "frequency": m.frequency, "status": m.status}  # fmt: skip

    def mandate_by_reference(self, reference: str) -> str | None:
        """The id of the mandate registered under `reference` (ours: our mandate id), for a test acting as payer."""
        mandates, _, lock = self._mandate_state()
        with lock:
            return next((m.mandate_id for m in mandates.values() if m.reference == reference), None)

    def approve_mandate(self, mandate_id: str, approve: bool = True) -> Future[WebhookDelivery]:
        """The payer approves (or declines) the mandate: `mandate.activated` (or `mandate.revoked`) leaves."""
        mandates, _, lock = self._mandate_state()
        with lock:
            m = mandates[mandate_id]
            if m.status != "pending":
                raise ValueError(f"the mandate is {m.status}")
            m.status = "active" if approve else "revoked"
            data = {**self._view_mandate(m), **({} if approve else {"reason": "payer_declined"})}
        return self._msim().send_webhook_later(m.callback_url, f"mandate.{'activated' if approve else 'revoked'}", data)

    def revoke_by_payer(self, mandate_id: str) -> Future[WebhookDelivery]:
        """The payer revokes the mandate in their UPI app: `mandate.revoked` leaves."""
        mandates, _, lock = self._mandate_state()
        with lock:
            m = mandates[mandate_id]
            m.status = "revoked"
            data = {**self._view_mandate(m), "reason": "revoked_by_payer"}
        return self._msim().send_webhook_later(m.callback_url, "mandate.revoked", data)

    def fail_next_debits(self, mandate_id: str, n: int = 1, reason: str = "insufficient_funds") -> None:
        """The next `n` debits under the mandate fail with `reason`."""
        mandates, _, lock = self._mandate_state()
        with lock:
            mandates[mandate_id].fail_next.extend([reason] * n)

    async def _create_mandate(self, request: Request) -> Response:
        sim = self._msim()
        refused = sim.authorized(request)
        if refused is not None:
            return refused
        body = await sim.json_body(request)
        if isinstance(body, Response):
            return body
        vpa = body.get("vpa")
        if not isinstance(vpa, str) or not VPA.fullmatch(vpa):
            return error(400, "invalid_vpa", f"{vpa!r} is not a UPI id (name@handle)")
        limit = _amount(body.get("max_amount"))
        if limit is None or limit > MAX_MANDATE:
            return error(400, "invalid_amount", f"max_amount must be 0.01 to {MAX_MANDATE} rupees, at most 2 places")
        if body.get("frequency") not in FREQUENCIES:
            return error(400, "invalid_frequency", f"frequency must be one of {', '.join(FREQUENCIES)}")
        if not valid_redirect(body.get("callback_url")):
            return error(400, "invalid_callback", "callback_url must be an absolute http(s) URL")
        try:
            reference = text_field(body, "reference", max_length=100) or ""
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        mandates, _, lock = self._mandate_state()
        m = _Mandate(sim.new_id("mdt"), reference, vpa, limit, str(body["frequency"]), str(body["callback_url"]))
        with lock:
            if any(x.reference == reference for x in mandates.values()):
                return error(409, "duplicate_reference", f"a mandate for {reference!r} exists")
            mandates[m.mandate_id] = m
        url = f"{sim.base_url}/mandates/{m.mandate_id}/approve"
        return JSONResponse({**self._view_mandate(m), "approval_url": url}, status_code=201)

    async def _revoke_mandate(self, request: Request) -> Response:
        sim = self._msim()
        refused = sim.authorized(request)
        if refused is not None:
            return refused
        mandates, _, lock = self._mandate_state()
        with lock:
            m = mandates.get(request.path_params["mandate_id"])
            if m is None:
                return error(404, "not_found", "no such mandate")
            m.status = "revoked"
            view = self._view_mandate(m)
        return JSONResponse(view)

    async def _debit(self, request: Request) -> Response:
        sim = self._msim()
        refused = sim.authorized(request)
        if refused is not None:
            return refused
        body = await sim.json_body(request)
        if isinstance(body, Response):
            return body
        amount = _amount(body.get("amount"))
        if amount is None:
            return error(400, "invalid_amount", "amount must be positive, at most 2 places")
        try:
            reference = text_field(body, "reference", max_length=100) or ""
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        mandates, refs, lock = self._mandate_state()
        with lock:
            m = mandates.get(request.path_params["mandate_id"])
            if m is None:
                return error(404, "not_found", "no such mandate")
            if m.status != "active":
                return error(409, "mandate_not_active", f"the mandate is {m.status}")
            if reference in refs:
                return error(409, "duplicate_reference", f"a debit for {reference!r} exists")
            refs.add(reference)
            order_id = sim.new_id("order")
            view = {"order_id": order_id, "reference": reference, "amount": str(amount), "mandate_id": m.mandate_id}
            reason = None
            if amount > m.max_amount:
                reason = "exceeds_mandate_limit"
            elif m.vpa.startswith("lowbalance"):
                reason = "insufficient_funds"
            elif m.fail_next:
                reason = m.fail_next.pop(0)
        if reason is None:
            utr = str(rng("autopay-utr", order_id).randrange(10**11, 10**12))
            data = {**view, "method": "upi_autopay", "utr": utr, "paid_at": sim.clock.now().isoformat()}
            sim.send_webhook_later(m.callback_url, "payment.captured", data)
        else:
            sim.send_webhook_later(m.callback_url, "payment.failed", {**view, "reason": reason})
        return JSONResponse({**view, "status": "presented"}, status_code=202)

    async def _approval_page(self, request: Request) -> Response:
        sim = self._msim()
        mandate_id = request.path_params["mandate_id"]
        mandates, _, lock = self._mandate_state()
        with lock:
            m = mandates.get(mandate_id)
        if m is None:
            return error(404, "not_found", "no such mandate")
        outcome = request.query_params.get("outcome")
        if outcome in ("approve", "decline"):
            try:
                self.approve_mandate(mandate_id, approve=outcome == "approve")
            except ValueError as exc:
                return error(409, "already_decided", str(exc))
            return HTMLResponse(f"<!doctype html><p id='result'>{escape(m.status)}</p>")
        here = f"{sim.base_url}/mandates/{mandate_id}/approve"
        return consent_page(
            "Approve UPI Autopay",
            [f"Up to Rs {m.max_amount} {m.frequency} from {m.vpa} — {m.reference}"],
            f"{here}?outcome=approve",
            f"{here}?outcome=decline",
        )
