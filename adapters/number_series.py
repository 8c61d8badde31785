"""Number series in the operational store: one row per (brand, kind), allocated with `UPDATE ... RETURNING`.

The row is locked only for the statement (its own short transaction, committed before the command's events), so
concurrent applications of a brand queue on the row for microseconds and never get the same number. A number
taken by a command that then fails stays unused: a series may have gaps, never repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.shared.ddl import unless_present
from domain.shared.numbering import SeriesKind, format_number

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.number_series (
        brand_id uuid NOT NULL,
        kind text NOT NULL,
        last_number bigint NOT NULL,
        PRIMARY KEY (brand_id, kind)
    )""",
)


class PostgresNumberSeries:
    """The `NumberSeries` of every brand: `prefix(brand_id)` names the brand's prefix (its code, upper-cased)."""

    def __init__(self, pool: Any, prefix: Callable[[UUID], str]) -> None:
        self.pool = pool
        self.prefix = prefix

    def setup(self) -> None:
        """Create the table if missing."""
        with self.pool.connection() as conn:
            for statement in DDL:
                conn.execute(unless_present(statement))

    def allocate(self, brand_id: UUID, kind: SeriesKind) -> int:
        """The next number of the series (1 for a new one)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO ops.number_series AS s (brand_id, kind, last_number) VALUES (%s, %s, 1) "
                "ON CONFLICT (brand_id, kind) DO UPDATE SET last_number = s.last_number + 1 RETURNING last_number",
                (brand_id, kind.value),
            ).fetchone()
        assert row is not None
        return int(row["last_number"] if isinstance(row, dict) else row[0])

    def next(self, brand_id: UUID, kind: SeriesKind) -> str:
        """The next number, formatted (`DEMO-L-000456`)."""
        return format_number(self.prefix(brand_id), kind, self.allocate(brand_id, kind))
