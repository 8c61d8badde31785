"""The credit bureau's simulator: a score and active tradelines, the same for one PAN every time.

    POST /v1/credit-reports  {"pan", "name", "dob", "phone"}  (Bearer key)
    -> 200 {"reference", "score": 300..900 | -1, "tradelines": [{"lender", "type", "sanctioned_amount",
            "outstanding", "emi", "max_dpd", "opened_on"}], "enquiries_last_6m"}
    400 {"error": "invalid_pan" | "bad_request"}

Picking a score: `scores` (a table: PAN -> score, set with `set_score` or `POST /_sim/scores {"pan", "score"}`)
wins; else a PAN whose four digits are 0300-0900 has that score (ABCPK0742L scores 742); `0000` has no credit
history (score -1, no tradelines); anything else draws from a generator seeded by the PAN: mostly 650-820.
Tradelines follow the score: 0-4 of them, and below 600 some are 30-90+ days past due.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.base import CONTROL_PREFIX
from adapters.simulators.pan import PAN_FORMAT
from adapters.simulators.provider import ProviderSimulator, error, rng
from adapters.simulators.provider_data import LENDERS, TRADELINE_KINDS, rupees

NO_HISTORY = -1
_DIGITS = re.compile(r"[0-9]{4}")


class BureauSimulator(ProviderSimulator):
    """A credit bureau on loopback (see the module doc)."""

    name: ClassVar[str] = "bureau"

    def __init__(self, **kwargs: Any) -> None:
        self.scores: dict[str, int] = {}
        self._scores_lock = threading.Lock()
        super().__init__(**kwargs)

    def provider_routes(self) -> Sequence[BaseRoute]:
        """POST /v1/credit-reports, and the score table's control endpoint."""
        return [
            Route("/v1/credit-reports", self._report, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/scores", self._set_score_over_http, methods=["POST"]),
        ]

    def set_score(self, pan: str, score: int) -> None:
        """Make `pan` score `score` (300-900, or -1 for no history) from now on."""
        if score != NO_HISTORY and not 300 <= score <= 900:
            raise ValueError("a score is 300-900, or -1 for no history")
        with self._scores_lock:
            self.scores[pan.upper()] = score

    def score_of(self, pan: str) -> int:
        """The score the bureau reports for `pan` (see the module doc)."""
        with self._scores_lock:
            if pan in self.scores:
                return self.scores[pan]
        digits = pan[5:9]
        if digits == "0000":
            return NO_HISTORY
        if _DIGITS.fullmatch(digits) and 300 <= int(digits) <= 900:
            return int(digits)
        draw = rng("score", pan)
        return min(900, max(300, round(draw.gauss(735, 70))))

    def report(self, pan: str, today: date) -> dict[str, Any]:
        """The report body for `pan`."""
        score = self.score_of(pan)
        draw = rng("tradelines", pan)
        count = 0 if score == NO_HISTORY else draw.choice((0, 1, 1, 2, 2, 3, 4))
        tradelines = [_tradeline(draw, score, today) for _ in range(count)]
        enquiries = 0 if score == NO_HISTORY else draw.choice((0, 0, 1, 2, 3, 5))
        return {"score": score, "tradelines": tradelines, "enquiries_last_6m": enquiries}

    async def _report(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        pan = str(body.get("pan", "")).strip().upper()
        if not PAN_FORMAT.fullmatch(pan):
            return error(400, "invalid_pan", f"{body.get('pan')!r} is not a PAN")
        if not isinstance(body.get("name"), str) or not isinstance(body.get("phone"), str):
            return error(400, "bad_request", "name and phone are required")
        reference = self.new_id("cr")
        self.sent(pan, check="bureau", reference=reference)
        return JSONResponse({"reference": reference, **self.report(pan, self.clock.now().date())})

    async def _set_score_over_http(self, request: Request) -> Response:
        try:
            command = json.loads(await request.body())
            self.set_score(str(command["pan"]), int(command["score"]))
        except (ValueError, KeyError, TypeError) as exc:
            return error(422, "bad_request", f"expected {{'pan': ..., 'score': 300-900 or -1}}: {exc}")
        return Response(status_code=204)


def _tradeline(draw: Any, score: int, today: date) -> dict[str, Any]:
    kind = draw.choice(TRADELINE_KINDS)
    sanctioned = Decimal(draw.randrange(20_000, 500_000, 1000)) * (10 if kind == "home_loan" else 1)
    outstanding = (sanctioned * Decimal(draw.uniform(0.1, 0.95))).quantize(Decimal("0.01"))
    emi = Decimal(0) if kind == "credit_card" else (sanctioned / draw.choice((12, 24, 36, 60, 240))) * Decimal("1.09")
    if score >= 700:
        dpd = draw.choice((0, 0, 0, 0, 0, 5))
    elif score >= 600:
        dpd = draw.choice((0, 0, 15, 30))
    else:
        dpd = draw.choice((30, 60, 90, 120))
    return {
        "lender": draw.choice(LENDERS),
        "type": kind,
        "sanctioned_amount": rupees(sanctioned),
        "outstanding": rupees(outstanding),
        "emi": rupees(emi),
        "max_dpd": dpd,
        "opened_on": (today - timedelta(days=draw.randrange(60, 1800))).isoformat(),
    }
