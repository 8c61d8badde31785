"""Read model of brands (id, slug, name, timezone) for workers, the CLI and brand pickers, and each brand's timezone
history (`read.brand_timezones`: which timezone was the brand's from when), for the local day of an instant."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.identity.application import Identity
from domain.identity.brand import Brand
from domain.identity.brand_config import BrandConfiguration
from projections.projection import Projection, Write, topics_of

C = BrandConfiguration


def _created(position: int, event: Brand.Created) -> Iterable[Write]:
    yield Write(
        "INSERT INTO read.brands (id, slug, name, timezone, created_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING",
        (event.originator_id, event.slug, event.name, event.timezone, event.timestamp),
    )
    # The timezone it was created with holds for every instant until its first change.
    yield Write(
        "INSERT INTO read.brand_timezones (brand_id, since, timezone) VALUES (%s, '-infinity', %s) "
        "ON CONFLICT DO NOTHING",
        (event.originator_id, event.timezone),
    )


def _config_initialised(position: int, event: C.Initialised) -> Iterable[Write]:
    """The brand's configuration (recorded with the brand, or with its first change for a brand made before
    configurations existed): its id, which the configuration's changes name instead of the brand."""
    yield Write("UPDATE read.brands SET config_id = %s WHERE id = %s", (event.originator_id, event.brand_id))


def _config_changed(position: int, event: C.Changed) -> Iterable[Write]:
    """A new timezone: the brand's from the instant it was recorded (earlier instants keep their day)."""
    timezone = next((c.new for c in event.changes if c.setting == "timezone"), None)
    if timezone:
        yield Write("UPDATE read.brands SET timezone = %s WHERE config_id = %s", (timezone, event.originator_id))
        yield Write(
            "INSERT INTO read.brand_timezones (brand_id, since, timezone) SELECT id, %s, %s FROM read.brands "
            "WHERE config_id = %s ON CONFLICT (brand_id, since) DO UPDATE SET timezone = EXCLUDED.timezone",
            (event.timestamp, timezone, event.originator_id),
        )


#: The directory's writes for each event of a brand and of its configuration (a changed timezone): the directory's
#: own events alone, so a rebuild of it is the live one (the configuration history once moved its timezone, and a
#: rebuilt directory had every brand back at the timezone it was created with).
BRAND_WRITES: dict[type[Any], Callable[[int, Any], Iterable[Write]]] = {
    Brand.Created: _created,
    C.Initialised: _config_initialised,
    C.Changed: _config_changed,
}

#: Existing directories (before the configuration's events were the directory's own): each brand's configuration id
#: and timezone history from the configuration history's tables, once (a brand without the row of its creation's
#: timezone, which the directory writes with the brand). A no-op on empty tables (a rebuild, a new database).
_BACKFILL = """DO $$ BEGIN
    IF to_regclass('read.brand_config_owner') IS NOT NULL THEN
        UPDATE read.brands b SET config_id = o.config_id FROM read.brand_config_owner o
        WHERE o.brand_id = b.id AND b.config_id IS NULL;
    END IF;
    IF to_regclass('read.brand_config_history') IS NOT NULL THEN
        INSERT INTO read.brand_timezones (brand_id, since, timezone)
        SELECT h.brand_id, h.changed_at, h.new #>> '{}' FROM read.brand_config_history h
        WHERE h.setting = 'timezone'
        AND NOT EXISTS (SELECT FROM read.brand_timezones t WHERE t.brand_id = h.brand_id AND t.since = '-infinity')
        ON CONFLICT (brand_id, since) DO UPDATE SET timezone = EXCLUDED.timezone;
        INSERT INTO read.brand_timezones (brand_id, since, timezone)
        SELECT b.id, '-infinity', coalesce((SELECT h.old #>> '{}' FROM read.brand_config_history h
            WHERE h.brand_id = b.id AND h.setting = 'timezone' ORDER BY h.position LIMIT 1), b.timezone)
        FROM read.brands b
        WHERE NOT EXISTS (SELECT FROM read.brand_timezones t WHERE t.brand_id = b.id AND t.since = '-infinity');
    ELSE
        INSERT INTO read.brand_timezones (brand_id, since, timezone) SELECT b.id, '-infinity', b.timezone
        FROM read.brands b WHERE NOT EXISTS (SELECT FROM read.brand_timezones t WHERE t.brand_id = b.id);
    END IF;
END $$"""


class BrandDirectory(Projection):
    """One row per brand, and its timezone history."""

    name = "brands"
    source = Identity.name
    topics = topics_of(*BRAND_WRITES)
    tables = ("read.brands", "read.brand_timezones")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.brands (
            id uuid PRIMARY KEY,
            slug text NOT NULL UNIQUE,
            name text NOT NULL,
            timezone text NOT NULL,
            created_at timestamptz NOT NULL
        )""",
        # The brand's configuration (its `Changed` events name the configuration, not the brand): added later.
        "ALTER TABLE read.brands ADD COLUMN IF NOT EXISTS config_id uuid UNIQUE",
        # The brand's timezone from `since` on (its first row's since is -infinity: read it as text from Python).
        """CREATE TABLE IF NOT EXISTS read.brand_timezones (
            brand_id uuid NOT NULL,
            since timestamptz NOT NULL,
            timezone text NOT NULL,
            PRIMARY KEY (brand_id, since)
        )""",
        _BACKFILL,
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
