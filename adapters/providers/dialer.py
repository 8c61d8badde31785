"""The VoIP dialer's client (Acefone; docs/providers.md, "Dialer").

    POST /v1/click-to-call  {"account_id", "api_token", "agent_extension", "destination", "reference",
                             "callback_url"}
    -> 202 {"call_id", "reference", "status": "queued"}

The brand's own dialer account travels in the body (the platform's bearer key opens the API, the account's token
says whose line rings); the call log keeps no body, so the token is never logged. The same `reference` placed again
(a retry after a lost answer) is the same call, never a second ring.
"""

from __future__ import annotations

from typing import Any

from adapters.providers.http import ProviderCalls
from domain.providers.calls import Caller
from domain.providers.dialer import DialerCredentials, PlacedCall


class DialerClient:
    """Click-to-call through the dialer (a `Dialer`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def click_to_call(
        self,
        credentials: DialerCredentials,
        *,
        extension: str,
        destination: str,
        reference: str,
        callback_url: str,
        caller: Caller,
    ) -> PlacedCall:
        """Ring `extension`, then bridge to `destination`; `call.completed` arrives at `callback_url`."""

        def parse(body: Any) -> PlacedCall:
            return PlacedCall(
                call_id=str(body["call_id"]), reference=str(body["reference"]), status=str(body["status"])
            )

        return self.http.call(
            "click_to_call",
            "POST",
            "/v1/click-to-call",
            parse,
            caller=caller,
            json={
                "account_id": credentials.account_id,
                "api_token": credentials.api_token,
                "agent_extension": extension,
                "destination": destination,
                "reference": reference,
                "callback_url": callback_url,
            },
        )
