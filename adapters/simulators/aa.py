"""The Account Aggregator's simulator: a consent the borrower approves, then their bank data, analysed.

    POST /v1/consents                {"phone", "months" (1-24), "redirect_to"}  (Bearer key)
    -> 201 {"handle", "redirect_url", "status": "pending", "expires_at"}
    GET  {redirect_url}              a page with Approve / Reject; `?decision=allow|deny` answers at once:
                                     303 to redirect_to?handle=…&status=approved|rejected
    GET  /v1/consents/{handle}       -> {"handle", "redirect_url", "status", "expires_at"}
    POST /v1/consents/{handle}/fetch -> 200 the statement analysis (the shape BSA answers)
         409 consent_pending, 422 consent_rejected, 410 consent_expired (30 minutes unanswered), 404 not_found

The data is drawn from a generator seeded by the phone number. Special inputs by the phone's last four digits:
`1111` the borrower rejects (approving is refused: the page and `approve` reject instead), `2222` an account
without salary credits, `3333` two EMIs and two bounces. `approve(handle)` / `reject(handle)` act as the page.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import (
    ProviderSimulator,
    back_to,
    consent_page,
    e164,
    error,
    rng,
    valid_redirect,
)
from adapters.simulators.provider_data import person, statement
from adapters.simulators.sms import MOBILE

LIFETIME = timedelta(minutes=30)


@dataclass
class _Consent:
    handle: str
    phone: str
    months: int
    redirect_to: str
    created_at: datetime
    status: str = "pending"  # pending | approved | rejected


class AaSimulator(ProviderSimulator):
    """An Account Aggregator on loopback (see the module doc)."""

    name: ClassVar[str] = "aa"

    def __init__(self, **kwargs: Any) -> None:
        self._consents: dict[str, _Consent] = {}
        self._state_lock = threading.Lock()
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """The consent API, the borrower's page and the data fetch."""
        return [
            Route("/v1/consents", self._create, methods=["POST"]),
            Route("/v1/consents/{handle}", self._status, methods=["GET"]),
            Route("/v1/consents/{handle}/fetch", self._fetch, methods=["POST"]),
            Route("/consent/{handle}", self._page, methods=["GET"]),
        ]

    def approve(self, handle: str) -> str:
        """The borrower approves (a phone ending 1111 rejects instead); returns the status (KeyError: unknown)."""
        with self._state_lock:
            consent = self._consents[handle]
            consent.status = "rejected" if consent.phone.endswith("1111") else "approved"
            return consent.status

    def reject(self, handle: str) -> None:
        """The borrower rejects."""
        with self._state_lock:
            self._consents[handle].status = "rejected"

    def _view(self, consent: _Consent) -> dict[str, Any]:
        expired = consent.status == "pending" and self.clock.now() - consent.created_at > LIFETIME
        return {
            "handle": consent.handle,
            "redirect_url": f"{self.base_url}/consent/{consent.handle}",
            "status": "expired" if expired else consent.status,
            "expires_at": (consent.created_at + LIFETIME).isoformat(),
        }

    def _find(self, handle: str) -> _Consent | None:
        with self._state_lock:
            return self._consents.get(handle)

    async def _create(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        phone, months = body.get("phone"), body.get("months", 6)
        if not isinstance(phone, str) or not MOBILE.fullmatch(e164(phone)):
            return error(400, "invalid_number", f"{phone!r} is not an Indian mobile number")
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 24:
            return error(400, "bad_request", "months must be 1 to 24")
        if not valid_redirect(body.get("redirect_to")):
            return error(400, "invalid_redirect", "redirect_to must be an absolute http(s) URL")
        consent = _Consent(self.new_id("aa"), e164(phone), months, body["redirect_to"], self.clock.now())
        with self._state_lock:
            self._consents[consent.handle] = consent
        self.sent(
            consent.phone,
            check="aa_consent",
            handle=consent.handle,
            text=f"Approve at {self._view(consent)['redirect_url']}",
        )
        return JSONResponse(self._view(consent), status_code=201)

    async def _status(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        consent = self._find(request.path_params["handle"])
        if consent is None:
            return error(404, "not_found", "no such consent")
        return JSONResponse(self._view(consent))

    async def _page(self, request: Request) -> Response:
        consent = self._find(request.path_params["handle"])
        if consent is None:
            return error(404, "not_found", "no such consent")
        decision = request.query_params.get("decision")
        if decision in ("allow", "deny"):
            status = self.approve(consent.handle) if decision == "allow" else "rejected"
            if decision == "deny":
                self.reject(consent.handle)
            return back_to(consent.redirect_to, handle=consent.handle, status=status)
        here = f"{self.base_url}/consent/{consent.handle}"
        return consent_page(
            "Account Aggregator — consent",
            [f"{consent.phone}: share {consent.months} months of bank transactions with Covenant Desk?"],
            f"{here}?decision=allow",
            f"{here}?decision=deny",
        )

    async def _fetch(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        consent = self._find(request.path_params["handle"])
        if consent is None:
            return error(404, "not_found", "no such consent")
        status = self._view(consent)["status"]
        if status != "approved":
            codes = {"pending": (409, "consent_pending"), "rejected": (422, "consent_rejected")}
            code, name = codes.get(status, (410, "consent_expired"))
            return error(code, name, f"the consent is {status}")
        draw = rng("aa", consent.phone)
        tail = consent.phone[-4:]
        settings: dict[str, Any] = {}
        if tail == "2222":
            settings["salary"] = Decimal(0)
        elif tail == "3333":
            settings.update(emis=2, bounces=2)
        body = statement(draw, self.clock.now().date(), holder=person(draw), months=consent.months, **settings)
        return JSONResponse({"reference": self.new_id("aaf"), **body})
