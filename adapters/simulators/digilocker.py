"""The DigiLocker (Aadhaar) provider's simulator: an authorisation the borrower allows, then their e-Aadhaar.

    POST /v1/authorizations  {"redirect_to", "name"?, "dob"?}  (Bearer key)
    -> 201 {"consent_id", "redirect_url", "expires_at"}
    GET  {redirect_url}                     a page with Allow / Deny; `?decision=allow|deny` answers at once:
                                            303 to redirect_to?consent_id=…&status=success|denied
    GET  /v1/authorizations/{id}/aadhaar    (Bearer key)
    -> 200 {"consent_id", "name", "dob", "gender", "address", "pincode", "photo_base64", "masked_aadhaar"}
       409 consent_pending (not allowed yet), 422 consent_denied, 410 consent_expired (10 minutes), 404 not_found

Real DigiLocker knows the person; the simulator takes them from the request: the Aadhaar holder is `name`
(born on `dob`) when given, else a generated person. Special input: a `name` whose last word is `Mismatch`
gives someone else's Aadhaar (a low name match). Address, gender and the last four Aadhaar digits are drawn
from a generator seeded by the name. `allow(consent_id)` / `deny(consent_id)` do what the page's links do.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, back_to, consent_page, error, rng, valid_redirect
from adapters.simulators.provider_data import FEMALE_NAMES, PHOTO_JPEG, PLACES, person

LIFETIME = timedelta(minutes=10)


@dataclass
class _Authorization:
    consent_id: str
    redirect_to: str
    name: str
    dob: date
    created_at: datetime
    status: str = "pending"  # pending | allowed | denied


class DigilockerSimulator(ProviderSimulator):
    """DigiLocker on loopback (see the module doc)."""

    name: ClassVar[str] = "digilocker"

    def __init__(self, **kwargs: Any) -> None:
        self._authorizations: dict[str, _Authorization] = {}
        self._state_lock = threading.Lock()
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """The authorisation API, the borrower's page and the e-Aadhaar."""
        return [
            Route("/v1/authorizations", self._start, methods=["POST"]),
            Route("/v1/authorizations/{consent_id}/aadhaar", self._aadhaar, methods=["GET"]),
            Route("/authorize/{consent_id}", self._page, methods=["GET"]),
        ]

    def allow(self, consent_id: str) -> None:
        """The borrower signs in and allows sharing (KeyError for an unknown id)."""
        self._decide(consent_id, "allowed")

    def deny(self, consent_id: str) -> None:
        """The borrower refuses."""
        self._decide(consent_id, "denied")

    def _decide(self, consent_id: str, status: str) -> None:
        with self._state_lock:
            self._authorizations[consent_id].status = status

    async def _start(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        if not valid_redirect(body.get("redirect_to")):
            return error(400, "invalid_redirect", "redirect_to must be an absolute http(s) URL")
        name = body.get("name")
        try:
            dob = date.fromisoformat(body["dob"]) if body.get("dob") else None
        except (TypeError, ValueError):
            return error(400, "bad_request", "dob must be YYYY-MM-DD")
        draw = rng("aadhaar", name or "")
        holder = name.strip() if isinstance(name, str) and name.strip() else person(draw)
        if holder.split()[-1].lower() == "mismatch":
            holder, dob = person(rng("aadhaar-other", holder)), None
        born = dob or date(draw.randrange(1965, 2004), draw.randrange(1, 13), draw.randrange(1, 29))
        consent_id = self.new_id("dl")
        now = self.clock.now()
        with self._state_lock:
            self._authorizations[consent_id] = _Authorization(consent_id, body["redirect_to"], holder, born, now)
        return JSONResponse(
            {
                "consent_id": consent_id,
                "redirect_url": f"{self.base_url}/authorize/{consent_id}",
                "expires_at": (now + LIFETIME).isoformat(),
            },
            status_code=201,
        )

    async def _page(self, request: Request) -> Response:
        consent_id = request.path_params["consent_id"]
        with self._state_lock:
            found = self._authorizations.get(consent_id)
        if found is None:
            return error(404, "not_found", "no such authorisation")
        decision = request.query_params.get("decision")
        if decision in ("allow", "deny"):
            self._decide(consent_id, "allowed" if decision == "allow" else "denied")
            return back_to(
                found.redirect_to, consent_id=consent_id, status="success" if decision == "allow" else "denied"
            )
        here = f"{self.base_url}/authorize/{consent_id}"
        return consent_page(
            "DigiLocker — share your Aadhaar",
            [
                f"Signed in as {found.name}.",
                "Covenant Desk asks to read your e-Aadhaar (name, date of birth, address, photo).",
            ],
            f"{here}?decision=allow",
            f"{here}?decision=deny",
        )

    async def _aadhaar(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        consent_id = request.path_params["consent_id"]
        with self._state_lock:
            found = self._authorizations.get(consent_id)
        if found is None:
            return error(404, "not_found", "no such authorisation")
        if self.clock.now() - found.created_at > LIFETIME and found.status == "pending":
            return error(410, "consent_expired", "the authorisation expired before it was allowed")
        if found.status == "pending":
            return error(409, "consent_pending", "the borrower has not allowed sharing yet")
        if found.status == "denied":
            return error(422, "consent_denied", "the borrower refused to share their Aadhaar")
        draw = rng("aadhaar-record", found.name)
        locality, city, state, pincode = draw.choice(PLACES)
        house = f"{draw.randrange(1, 400)}, {draw.choice(('2nd Cross', 'Main Road', 'MG Road', 'Station Road'))}"
        first = found.name.split()[0]
        self.sent(consent_id, check="digilocker", consent_id=consent_id)
        return JSONResponse(
            {
                "consent_id": consent_id,
                "name": found.name,
                "dob": found.dob.isoformat(),
                "gender": "F" if first in FEMALE_NAMES else "M",
                "address": f"{house}, {locality}, {city}, {state}",
                "pincode": pincode,
                "photo_base64": base64.b64encode(PHOTO_JPEG).decode(),
                "masked_aadhaar": f"XXXX XXXX {draw.randrange(1000, 10000)}",
            }
        )
