"""Brand: a lender tenant; everything else belongs to exactly one brand."""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.clock import DEFAULT_TIMEZONE, is_place_timezone
from domain.shared.errors import InvalidValue, NotFound

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


class BrandNotFound(NotFound):
    """Raised when no brand has the given id or slug."""


def check_slug(slug: str) -> str:
    """Brand slugs are lower-case letters, digits and dashes (2-40)."""
    if not SLUG_PATTERN.match(slug or ""):
        raise InvalidValue("slug", f"'{slug}' is not a valid slug (lower-case letters, digits, dashes)")
    return slug


def check_timezone(tz: str) -> str:
    """The timezone is an IANA name of a place such as Asia/Kolkata (not `localtime`, `posixrules`, `right/UTC`)."""
    if not is_place_timezone(tz):
        raise InvalidValue("timezone", f"'{tz}' is not a known timezone")
    return tz


class Brand(Aggregate):
    """A lending company operating on the platform."""

    class Created(Aggregate.Created):
        """A brand was created."""

        slug: str
        name: str
        timezone: str = DEFAULT_TIMEZONE

    @event(Created)
    def __init__(self, slug: str, name: str, timezone: str) -> None:
        self.slug = slug
        self.name = name
        self.timezone = timezone

    @property
    def brand_id(self) -> UUID:  # type: ignore[override]
        """A brand is its own tenant."""
        return self.id
