"""The payment gateway simulator's payouts: money sent to a beneficiary's bank account by IMPS, NEFT or UPI.

    POST /v1/payouts  {"amount": "9270.00", "mode": "IMPS"|"NEFT"|"UPI", "reference",
                       "beneficiary": {"name", "account_number", "ifsc"}, "idempotency_key", "callback_url"}
    -> 202 {"payout_id", "reference", "amount", "mode", "status": "pending", "utr": null, "simulator_url"}
    the same idempotency_key again with the same request -> 200 and the same payout (no second payout);
    with another request -> 409 idempotency_conflict
    400 invalid_amount | invalid_mode | invalid_beneficiary | invalid_callback | bad_request
    GET  /v1/payouts/{id}  -> {"payout_id", "reference", "amount", "mode", "status": pending|processed|failed, "utr"}
    GET  /v1/payouts?idempotency_key=K -> the same view of the payout made under that key (a failed one with its
         "reason"); 404 not_found when no payout was made under it: how a caller whose answer was lost learns
         whether its request made a payout and how it ended, without asking for one again
    POST {simulator_url}   {"action": "confirm"} or {"action": "fail", "reason": "..."}: the bank settles it

Settling is asynchronous, as at a real gateway: the simulator POSTs a signed webhook (`adapters.webhooks` scheme)
to `callback_url`: `payout.processed` `{"payout_id", "reference", "amount", "mode", "status", "utr",
"processed_at"}` or `payout.failed` `{..., "reason"}`. `simulator_url` is the simulator's own control (a real
gateway has none); it takes no API key, like the hosted payment page. A payout settles once (409
`already_settled`). Special input: a beneficiary account ending **0000** is closed — the payout is accepted and
fails by itself (`account_closed`) when settled as confirmed. `settle(payout_id, confirm=True)` from a test.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, error, rng, text_field, valid_redirect
from adapters.simulators.webhook_sender import WebhookDelivery

MODES = ("IMPS", "NEFT", "UPI")
MAX_PAYOUT = Decimal("1000000")
IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
ACCOUNT = re.compile(r"[0-9]{6,18}")


@dataclass
class _Payout:
    payout_id: str
    idempotency_key: str
    request: dict[str, Any]  # what was asked, to compare a repeated key's request
    reference: str
    amount: Decimal
    mode: str
    account_number: str
    callback_url: str
    created_at: datetime
    status: str = "pending"
    utr: str | None = None
    reason: str | None = None


class PayoutDesk:
    """The payouts half of `GatewaySimulator` (a mixin over `ProviderSimulator`)."""

    def _payout_state(self) -> tuple[dict[str, _Payout], dict[str, str], threading.Lock]:
        if not hasattr(self, "_payouts"):
            self._payouts: dict[str, _Payout] = {}
            self._payout_keys: dict[str, str] = {}  # idempotency key -> payout id
            self._payout_lock = threading.Lock()
        return self._payouts, self._payout_keys, self._payout_lock

    def payout_routes(self) -> Sequence[BaseRoute]:
        """The payouts API and the settle control."""
        self._payout_state()
        return [
            Route("/v1/payouts", self._create_payout, methods=["POST"]),
            Route("/v1/payouts", self._payout_by_key, methods=["GET"]),
            Route("/v1/payouts/{payout_id}", self._payout_status, methods=["GET"]),
            Route("/payouts/{payout_id}/settle", self._settle, methods=["POST"]),
        ]

    def payouts(self) -> list[dict[str, Any]]:
        """Every payout made, oldest first (for tests: how many were really sent)."""
        payouts, _, lock = self._payout_state()
        with lock:
            return [self._payout_view(p) for p in payouts.values()]

    def settle(
        self, payout_id: str, confirm: bool = True, reason: str = "beneficiary_bank_down"
    ) -> Future[WebhookDelivery]:
        """The bank settles a payout (or fails it with `reason`): its webhook leaves. ValueError when settled."""
        sim = self._sim()
        payouts, _, lock = self._payout_state()
        now = sim.clock.now()
        with lock:
            payout = payouts.get(payout_id)
            if payout is None:
                raise KeyError(payout_id)
            if payout.status != "pending":
                raise ValueError(f"the payout is {payout.status}")
            if confirm and payout.account_number.endswith("0000"):
                confirm, reason = False, "account_closed"
            if confirm:
                payout.status, payout.utr = "processed", str(rng("payout-utr", payout_id).randrange(10**11, 10**12))
                data = {**self._payout_view(payout), "processed_at": now.isoformat()}
                kind = "payout.processed"
            else:
                payout.status, payout.reason = "failed", reason
                data = {**self._payout_view(payout), "reason": reason}
                kind = "payout.failed"
        return sim.send_webhook_later(payout.callback_url, kind, data)

    def _sim(self) -> ProviderSimulator:
        assert isinstance(self, ProviderSimulator)
        return self

    def _payout_view(self, payout: _Payout) -> dict[str, Any]:
        return {
            "payout_id": payout.payout_id,
            "reference": payout.reference,
            "amount": str(payout.amount),
            "mode": payout.mode,
            "status": payout.status,
            "utr": payout.utr,
        }

    async def _create_payout(self, request: Request) -> Response:
        sim = self._sim()
        refused = sim.authorized(request)
        if refused is not None:
            return refused
        body = await sim.json_body(request)
        if isinstance(body, Response):
            return body
        try:
            amount = Decimal(str(body.get("amount")))
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount <= 0 or amount > MAX_PAYOUT or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            return error(400, "invalid_amount", f"amount must be 0.01 to {MAX_PAYOUT} rupees, at most 2 places")
        mode = body.get("mode")
        if mode not in MODES:
            return error(400, "invalid_mode", f"mode must be one of {', '.join(MODES)}")
        beneficiary = body.get("beneficiary")
        if not isinstance(beneficiary, dict):
            return error(400, "invalid_beneficiary", "beneficiary must be an object")
        account, ifsc = beneficiary.get("account_number"), beneficiary.get("ifsc")
        if not isinstance(account, str) or not ACCOUNT.fullmatch(account):
            return error(400, "invalid_beneficiary", "account_number must be 6 to 18 digits")
        if not isinstance(ifsc, str) or not IFSC.fullmatch(ifsc):
            return error(400, "invalid_beneficiary", "ifsc must be an IFSC code (4 letters, 0, 6 characters)")
        if not valid_redirect(body.get("callback_url")):
            return error(400, "invalid_callback", "callback_url must be an absolute http(s) URL")
        try:
            text_field(beneficiary, "name")
            reference = text_field(body, "reference", max_length=100) or ""
            key = text_field(body, "idempotency_key", max_length=100) or ""
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        asked = {k: body.get(k) for k in ("amount", "mode", "reference", "beneficiary", "callback_url")}
        payouts, keys, lock = self._payout_state()
        with lock:
            known = keys.get(key)
            if known is not None:
                payout = payouts[known]
                if payout.request != asked:
                    return error(409, "idempotency_conflict", "this idempotency_key was used for another payout")
                return JSONResponse(self._created(payout), status_code=200)
            payout = _Payout(
                sim.new_id("pout"),
                key,
                asked,
                reference,
                amount.quantize(Decimal("0.01")),
                mode,
                account,
                body["callback_url"],
                sim.clock.now(),
            )
            payouts[payout.payout_id] = payout
            keys[key] = payout.payout_id
        return JSONResponse(self._created(payout), status_code=202)

    def _created(self, payout: _Payout) -> dict[str, Any]:
        return {
            **self._payout_view(payout),
            "simulator_url": f"{self._sim().base_url}/payouts/{payout.payout_id}/settle",
        }

    async def _payout_status(self, request: Request) -> Response:
        sim = self._sim()
        refused = sim.authorized(request)
        if refused is not None:
            return refused
        payouts, _, lock = self._payout_state()
        with lock:
            payout = payouts.get(request.path_params["payout_id"])
            view = self._payout_view(payout) if payout else None
        return JSONResponse(view) if view else error(404, "not_found", "no such payout")

    async def _payout_by_key(self, request: Request) -> Response:
        sim = self._sim()
        refused = sim.authorized(request)
        if refused is not None:
            return refused
        key = request.query_params.get("idempotency_key") or ""
        if not key:
            return error(400, "bad_request", "give idempotency_key")
        payouts, keys, lock = self._payout_state()
        with lock:
            payout = payouts.get(keys.get(key, ""))
            view = self._payout_view(payout) if payout else None
            if payout is not None and payout.reason is not None:
                view = {**(view or {}), "reason": payout.reason}
        return JSONResponse(view) if view else error(404, "not_found", "no payout was made under this key")

    async def _settle(self, request: Request) -> Response:
        body = await self._sim().json_body(request)
        if isinstance(body, Response):
            return body
        action = body.get("action")
        if action not in ("confirm", "fail"):
            return error(400, "bad_request", "action must be confirm or fail")
        try:
            reason = text_field(body, "reason", required=False) or "beneficiary_bank_down"
        except ValueError as exc:
            return error(400, "bad_request", str(exc))
        if any(ord(c) < 32 for c in reason):
            return error(400, "bad_request", "reason must be printable text")
        try:
            self.settle(request.path_params["payout_id"], confirm=action == "confirm", reason=reason)
        except KeyError:
            return error(404, "not_found", "no such payout")
        except ValueError as exc:
            return error(409, "already_settled", str(exc))
        payouts, _, lock = self._payout_state()
        with lock:
            view = self._payout_view(payouts[request.path_params["payout_id"]])
        return JSONResponse(view)
