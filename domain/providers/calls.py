"""Who a provider call is made for (every call is logged under it), the services, and the name match score."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.notices.matching import name_similarity

#: The services a brand picks a provider for (BrandSettings `providers`: service -> provider name).
SERVICES = ("sms", "pan", "digilocker", "penny_drop", "bureau", "bsa", "aa", "esign", "gateway", "dialer")


@dataclass(frozen=True)
class Caller:
    """The brand (and, when known, the borrower) a call is made for: recorded on the outbound call log row."""

    brand_id: UUID
    customer_id: UUID | None = None


def name_match_score(expected: str, actual: str | None) -> int:
    """0-100: how well the name a provider holds (PAN, bank, Aadhaar) matches the one the borrower gave.

    Fuzzy by rapidfuzz, word order and honorifics ignored, an initial pairs with its word, common Indian
    spelling variants folded (the same score the notice matching uses, `domain.notices.matching`):
    "KARTHIK R" / "Karthik Raman" scores 95, "Suresh Kumar Menon" / "Suresh Menon" 95."""
    if not actual or not expected:
        return 0
    return name_similarity(expected, actual)
