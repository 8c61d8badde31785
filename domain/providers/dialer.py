"""What the VoIP dialer (Acefone) answers: a click-to-call placed, and the protocol the fieldwork context calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.providers.calls import Caller


@dataclass(frozen=True)
class DialerCredentials:
    """A brand's account at the dialer: the account id and its API token (a secret, never shown back)."""

    account_id: str
    api_token: str


@dataclass(frozen=True)
class PlacedCall:
    """A call the dialer accepted: it rings the agent's extension, then bridges to the borrower. How it ended
    comes later as a signed webhook (`call.completed`) carrying our `reference`."""

    call_id: str  # the provider's id
    reference: str  # ours (the call record's id)
    status: str  # "queued"


class Dialer(Protocol):
    """Places click-to-call calls: agent's extension first, then the borrower's phone."""

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
        """Ask the dialer to connect `extension` to `destination`; ProviderRejected for a number or extension it
        refuses, ProviderUnavailable when it cannot be reached (or the credentials are refused)."""
        ...
