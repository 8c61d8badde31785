"""The PAN verification provider's simulator.

    POST /v1/pan/verify  {"pan": "ABCPK1234L", "name": "Karthik Kumar", "dob": "1990-04-12"}  (Bearer key)
    -> 200 {"pan", "status": "valid"|"invalid", "name_on_pan", "category", "dob_match", "aadhaar_linked",
            "fraud_flag"}
    400 {"error": "invalid_pan" | "bad_request"}  (not the AAAAA9999A format, a missing name or date)

The name on a PAN is the one given, in capitals, when the given surname (last word) starts with the PAN's fifth
letter (as the income-tax department files it); otherwise it is someone else's name with that surname initial,
so the name match is low. Special inputs by the PAN's last letter: `Z` not issued (status invalid), `Y` fraud
flag, `X` not linked to Aadhaar, `W` date of birth does not match. The fourth letter is the holder's category
(P individual, C company, H HUF, F firm, T trust, A association, B body of individuals, G government, J
artificial juridical person, L local authority).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, error, rng, text_field
from adapters.simulators.provider_data import person

PAN_FORMAT = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
CATEGORIES = {
    "P": "individual",
    "C": "company",
    "H": "huf",
    "F": "firm",
    "T": "trust",
    "A": "association_of_persons",
    "B": "body_of_individuals",
    "G": "government",
    "J": "artificial_juridical_person",
    "L": "local_authority",
}


class PanSimulator(ProviderSimulator):
    """PAN verification on loopback (see the module doc)."""

    name: ClassVar[str] = "pan"

    def provider_routes(self) -> Sequence[BaseRoute]:
        """POST /v1/pan/verify."""
        return [Route("/v1/pan/verify", self._verify, methods=["POST"])]

    async def _verify(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        pan = str(body.get("pan", "")).strip().upper()
        if not PAN_FORMAT.fullmatch(pan) or pan[3] not in CATEGORIES:
            return error(400, "invalid_pan", f"{body.get('pan')!r} is not a PAN (AAAAA9999A)")
        try:
            name = text_field(body, "name") or ""
            date.fromisoformat(str(body.get("dob")))
        except ValueError as exc:
            return error(400, "bad_request", f"name and dob (YYYY-MM-DD) are required: {exc}")
        self.sent(pan, check="pan", name=name)
        if pan[-1] == "Z":
            answer = {
                "pan": pan,
                "status": "invalid",
                "name_on_pan": None,
                "category": CATEGORIES[pan[3]],
                "dob_match": None,
                "aadhaar_linked": False,
                "fraud_flag": False,
            }
            return JSONResponse(answer)
        words = name.split()
        on_pan = name.upper() if words and words[-1][0].upper() == pan[4] else person(rng("pan", pan), pan[4]).upper()
        return JSONResponse(
            {
                "pan": pan,
                "status": "valid",
                "name_on_pan": on_pan,
                "category": CATEGORIES[pan[3]],
                "dob_match": pan[-1] != "W",
                "aadhaar_linked": pan[-1] != "X",
                "fraud_flag": pan[-1] == "Y",
            }
        )
