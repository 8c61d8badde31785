"""The penny-drop provider's simulator: a ₹1 credit to an account, and the name the bank holds on it.

    POST /v1/bank-accounts/verify  {"account_number": "50100123456789", "ifsc": "HDFC0001234", "name": "..."}
    -> 200 {"reference", "status": "verified"|"failed", "account_holder", "amount", "failure", "bank"}
    400 {"error": "invalid_ifsc" | "invalid_account_number" | "bad_request"}

The account holder is the name sent, in capitals, as the bank keeps it. Special inputs by the account number's
last four digits: `0000` invalid account, `1111` account closed, `2222` NRE account (cannot take the credit),
`3333` account frozen (each "failed", amount 0.00, no holder); `4444` someone else's account (a different
holder: a low name match); `5555` the bank keeps initials ("KARTHIK R" for "Karthik Raman"). An IFSC is four
letters, 0, six letters or digits; its first four letters name the bank.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.simulators.provider import ProviderSimulator, error, rng
from adapters.simulators.provider_data import BANKS, person

IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
ACCOUNT = re.compile(r"[0-9]{9,18}")
FAILURES = {"0000": "invalid_account", "1111": "account_closed", "2222": "nre_account", "3333": "account_frozen"}


class PennyDropSimulator(ProviderSimulator):
    """Penny drop on loopback (see the module doc)."""

    name: ClassVar[str] = "penny_drop"

    def provider_routes(self) -> Sequence[BaseRoute]:
        """POST /v1/bank-accounts/verify."""
        return [Route("/v1/bank-accounts/verify", self._verify, methods=["POST"])]

    async def _verify(self, request: Request) -> Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = await self.json_body(request)
        if isinstance(body, Response):
            return body
        account, ifsc = str(body.get("account_number", "")).strip(), str(body.get("ifsc", "")).strip().upper()
        name = body.get("name")
        if not ACCOUNT.fullmatch(account):
            return error(400, "invalid_account_number", "an account number is 9 to 18 digits")
        if not IFSC.fullmatch(ifsc):
            return error(400, "invalid_ifsc", f"{ifsc!r} is not an IFSC (AAAA0XXXXXX)")
        if name is not None and not isinstance(name, str):
            return error(400, "bad_request", "name must be a string")
        reference = self.new_id("pd")
        bank = BANKS.get(ifsc[:4], f"{ifsc[:4]} Bank")
        self.sent(account[-4:], check="penny_drop", account_last4=account[-4:], ifsc=ifsc, reference=reference)
        failure = FAILURES.get(account[-4:])
        if failure is not None:
            return JSONResponse(
                {
                    "reference": reference,
                    "status": "failed",
                    "account_holder": None,
                    "amount": "0.00",
                    "failure": failure,
                    "bank": bank,
                }
            )
        holder = (name or "").strip() or person(rng("account", account))
        if account.endswith("4444"):
            holder = person(rng("account", account, holder))
        elif account.endswith("5555"):
            first, *rest = holder.split()
            holder = " ".join([first, *(word[0] for word in rest)])
        return JSONResponse(
            {
                "reference": reference,
                "status": "verified",
                "account_holder": holder.upper(),
                "amount": "1.00",
                "failure": None,
                "bank": bank,
            }
        )
