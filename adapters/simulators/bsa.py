"""The bank-statement analysis (BSA) provider's simulator: a statement PDF in, income and obligations out.

    POST /v1/statements/analyse   body: the statement's bytes (application/pdf)   (Bearer key)
    -> 200 {"reference", "account_holder", "bank", "period_from", "period_to", "salary_credits": [{"month",
            "amount", "employer", "credited_on"}], "emis": [{"lender", "amount", "day_of_month"}],
            "average_balance", "bounces"}
    422 {"error": "unsupported_document" | "password_protected" | "unreadable"}

The analysis is drawn from a generator seeded by the document's SHA-256 (one statement, one analysis). A test
picks values by writing them into the document: `SALARY=52000`, `EMPLOYER=ACME LTD`, `EMIS=2`, `BOUNCES=1`,
`HOLDER=Karthik Raman` (one per line, anywhere in the bytes); `SALARY=0` means no salary credits. A body that does
not start with `%PDF-` is unsupported, one containing `/Encrypt` is password protected, one containing
`UNREADABLE` cannot be parsed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, error, rng
from adapters.simulators.provider_data import person, statement

MAX_DOCUMENT = 20 * 1024 * 1024
_SETTING = re.compile(rb"(SALARY|EMPLOYER|EMIS|BOUNCES|HOLDER)=([^\r\n]{1,60})")


def statement_settings(document: bytes) -> dict[str, Any]:
    """The values a test wrote into a statement (see the module doc), as `statement()` keywords."""
    found: dict[str, Any] = {}
    for key, raw in _SETTING.findall(document):
        value = raw.decode("utf-8", "replace").strip()
        if key == b"SALARY" and value.isdigit():
            found["salary"] = Decimal(value)
        elif key == b"EMPLOYER":
            found["employer"] = value.upper()
        elif key == b"EMIS" and value.isdigit():
            found["emis"] = min(int(value), 6)
        elif key == b"BOUNCES" and value.isdigit():
            found["bounces"] = int(value)
        elif key == b"HOLDER":
            found["holder"] = value
    return found


class BsaSimulator(ProviderSimulator):
    """Bank-statement analysis on loopback (see the module doc)."""

    name: ClassVar[str] = "bsa"

    def provider_routes(self) -> Sequence[BaseRoute]:
        """POST /v1/statements/analyse."""
        return [Route("/v1/statements/analyse", self._analyse, methods=["POST"])]

    async def _analyse(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        document = await request.body()
        if len(document) > MAX_DOCUMENT:
            return error(413, "too_large", f"a statement is at most {MAX_DOCUMENT} bytes")
        if not document.startswith(b"%PDF-"):
            return error(422, "unsupported_document", "a statement must be a PDF")
        if b"/Encrypt" in document:
            return error(422, "password_protected", "the statement is password protected")
        if b"UNREADABLE" in document:
            return error(422, "unreadable", "no transactions could be read from the statement")
        digest = hashlib.sha256(document).hexdigest()
        reference = self.new_id("bsa")
        settings = statement_settings(document)
        draw = rng("statement", digest)
        holder = settings.pop("holder", None) or person(draw)
        self.sent(digest[:12], check="bsa", sha256=digest, size=len(document), reference=reference)
        body = statement(draw, self.clock.now().date(), holder=holder, **settings)
        return JSONResponse({"reference": reference, **body})
