"""Read model of brands (id, slug, name, timezone) for workers, the CLI and brand pickers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.identity.brand import Brand
from projections.engine import Projection, Write, topics_of


class BrandDirectory(Projection):
    """One row per brand."""

    name = "brands"
    source = "identity"
    topics = topics_of(Brand.Created)
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
        if isinstance(event, Brand.Created):
            yield Write(
                "INSERT INTO read.brands (id, slug, name, timezone, created_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (event.originator_id, event.slug, event.name, event.timezone, event.timestamp),
            )


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
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, slug, name, timezone FROM read.brands ORDER BY slug").fetchall()
        return [BrandView(**r) for r in rows]
