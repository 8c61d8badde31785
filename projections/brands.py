"""Read model of brands (id, slug, name, timezone) for workers, the CLI and brand pickers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.identity.application import Identity
from domain.identity.brand import Brand
from projections.projection import Projection, Write, topics_of


def _created(position: int, event: Brand.Created) -> Iterable[Write]:
    yield Write(
        "INSERT INTO read.brands (id, slug, name, timezone, created_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING",
        (event.originator_id, event.slug, event.name, event.timezone, event.timestamp),
    )


#: The directory's writes for each event of a brand (a changed timezone comes from the configuration history).
BRAND_WRITES = {Brand.Created: _created}


class BrandDirectory(Projection):
    """One row per brand."""

    name = "brands"
    source = Identity.name
    topics = topics_of(*BRAND_WRITES)
    tables = ("read.brands",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.brands (
            id uuid PRIMARY KEY,
            slug text NOT NULL UNIQUE,
            name text NOT NULL,
            timezone text NOT NULL,
            created_at timestamptz NOT NULL
        )""",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        writes = BRAND_WRITES.get(type(event))
        return writes(position, event) if writes is not None else ()


@dataclass(frozen=True)
class BrandView:
    """A brand as lists show it."""

    id: UUID
    slug: str
    name: str
    timezone: str


class BrandQueries:
    """Brand listing (platform-level: callers decide who may see which brand)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def all(self) -> list[BrandView]:
        """Every brand, by slug."""
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, slug, name, timezone FROM read.brands ORDER BY slug").fetchall()
        return [BrandView(**r) for r in rows]

    def brand(self, brand_id: UUID) -> BrandView | None:
        """One brand."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT id, slug, name, timezone FROM read.brands WHERE id = %s", (brand_id,)).fetchone()
        return BrandView(**row) if row else None

    def visible(self, brand_id: UUID, cross_brand: bool) -> list[BrandView]:
        """The brands a caller acting within `brand_id` may see: every brand for a cross-brand caller."""
        if cross_brand:
            return self.all()
        found = self.brand(brand_id)
        return [found] if found is not None else []
