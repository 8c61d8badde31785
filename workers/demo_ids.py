"""The ids the demo seed gives its records (uuid5 of the brand and a stable name), so each run finds what an
earlier one made and makes only what is missing (docs/operations.md, "Demo data")."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

DEMO_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/demo-seed")


def demo_id(brand_id: UUID, name: str) -> UUID:
    """The id of the demo record `name` (what it is, e.g. ``covenant:3``), the same on every run."""
    return uuid5(DEMO_NAMESPACE, f"{brand_id}:{name}")
