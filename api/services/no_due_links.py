"""Signed share links to a completed loan's no-due certificate (issue #17 item 3): what the borrower's "loan fully
paid" message links to. The staff endpoint needs a staff login; this link needs none and opens exactly one loan's
certificate until it expires.

    {PUBLIC_BASE_URL}/api/v1/no-due-certificates/{token}

`token` is base64url of brand id (16 bytes), loan id (16), expiry (4, Unix seconds) and the first 16 bytes of
HMAC-SHA256 over `ndc` + those 36 bytes with `SHARE_LINK_SECRET` (comma-separated while rotating: the first signs,
any verifies; default `shlsec_demo_links`, what `make run` uses): 70 characters, so the link fits an SMS and a
template value (200 characters). Links live `NDC_LINK_DAYS` days (default 90). A changed, forged or expired link is
a 404 and serves nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

SECRET_ENV = "SHARE_LINK_SECRET"
DEFAULT_SECRET = "shlsec_demo_links"
DEFAULT_DAYS = 90
PATH = "/api/v1/no-due-certificates/"
_MAC_BYTES = 16


def _secrets() -> list[str]:
    found = [s.strip() for s in os.environ.get(SECRET_ENV, DEFAULT_SECRET).split(",") if s.strip()]
    return found or [DEFAULT_SECRET]


def _mac(secret: str, purpose: bytes, signed: bytes) -> bytes:
    return hmac.new(secret.encode(), purpose + signed, hashlib.sha256).digest()[:_MAC_BYTES]


@dataclass(frozen=True)
class LoanLinks:
    """Signed links that open one thing of one loan without a login until they expire: `purpose` is signed with
    the ids, so a link made for one purpose (`ndc`: the certificate, `pay`: the payment page) opens nothing else."""

    purpose: bytes
    path: str
    days: int

    def token(self, brand_id: UUID, loan_id: UUID, now: datetime) -> str:
        """The signed token of one loan, valid for `days` from `now`."""
        expires = int((now + timedelta(days=self.days)).timestamp())
        signed = brand_id.bytes + loan_id.bytes + expires.to_bytes(4, "big")
        return base64.urlsafe_b64encode(signed + _mac(_secrets()[0], self.purpose, signed)).decode().rstrip("=")

    def url(self, base: str, brand_id: UUID, loan_id: UUID, now: datetime) -> str:
        """The borrower's link."""
        return f"{base}{self.path}{self.token(brand_id, loan_id, now)}"

    def opened(self, token: str, now: datetime) -> tuple[UUID, UUID] | None:
        """(brand id, loan id) of a genuine, unexpired token of this purpose; None otherwise (constant-time)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 36 + _MAC_BYTES:
            return None
        signed, mac = raw[:36], raw[36:]
        if not any(hmac.compare_digest(_mac(s, self.purpose, signed), mac) for s in _secrets()):
            return None
        if int.from_bytes(signed[32:36], "big") < now.timestamp():
            return None
        return UUID(bytes=signed[:16]), UUID(bytes=signed[16:32])


@dataclass(frozen=True)
class NoDueLinks(LoanLinks):
    """The certificate's share links (see the module doc)."""

    purpose: bytes = b"ndc"
    path: str = PATH
    days: int = DEFAULT_DAYS

    @classmethod
    def configured(cls) -> NoDueLinks:
        """With `NDC_LINK_DAYS` from the environment."""
        return cls(days=int(os.environ.get("NDC_LINK_DAYS", str(DEFAULT_DAYS))))

    @staticmethod
    def open(token: str, now: datetime) -> tuple[UUID, UUID] | None:
        """(brand id, loan id) of a genuine, unexpired certificate token; None otherwise."""
        return NoDueLinks().opened(token, now)
