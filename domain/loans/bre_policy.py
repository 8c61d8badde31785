"""The BRE's view of a brand's settings: `brand_policy` turns BrandSettings (and the blocklist's pincodes) into the
`BrandPolicy` that `evaluate` reads, for the loans context to call when an application is submitted."""

from __future__ import annotations

from collections.abc import Iterable

from domain.identity.brand_config import BrandSettings
from domain.loans.bre import BrandPolicy


def brand_policy(
    settings: BrandSettings, serviceable: Iterable[str] | None = None, blocked: Iterable[str] = ()
) -> BrandPolicy:
    """The policy of a brand: salary minimum, age range and cooldown from its settings; serviceable pincodes from
    `serviceable` when given, else the settings' list (empty: every pincode); `blocked` are the pincodes on its
    blocklist (`BlocklistQueries.blocked_pincodes`)."""
    listed = list(settings.serviceable_pincodes if serviceable is None else serviceable)
    return BrandPolicy(
        min_salary=settings.min_salary,
        min_age=settings.min_age,
        max_age=settings.max_age,
        rejection_cooldown_days=settings.rejection_cooldown_days,
        serviceable_pincodes=frozenset(listed) if listed else None,
        blocked_pincodes=frozenset(blocked),
    )
