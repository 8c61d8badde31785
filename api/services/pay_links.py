"""Signed links to a loan's payment page: what the due and overdue reminders' `{{payment_link}}` opens.

    {PUBLIC_BASE_URL}/pay/{token}

The token is made and checked as the no-due certificate's share link is (`api.services.no_due_links`: brand id, loan
id, expiry, HMAC-SHA256 with `SHARE_LINK_SECRET`), signed for the purpose `pay`, so a certificate's link opens no
payment page and this link no certificate. Links live `PAY_LINK_DAYS` days (default 30: a reminder is read within
days, the overdue ones come again). The page (`api/pages/pay.py`) shows what is due now and the payoff, and starts a
gateway order for either (`Paylinks.checkout`); a changed, forged or expired link is a 404.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from api.services.no_due_links import LoanLinks

PATH = "/pay/"
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class PayLinks(LoanLinks):
    """The payment page's links."""

    purpose: bytes = b"pay"
    path: str = PATH
    days: int = DEFAULT_DAYS

    @classmethod
    def configured(cls) -> PayLinks:
        """With `PAY_LINK_DAYS` from the environment."""
        return cls(days=int(os.environ.get("PAY_LINK_DAYS", str(DEFAULT_DAYS))))
