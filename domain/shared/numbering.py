"""Human-readable ids: a number series per brand and kind (`DEMO-L-000456` for loans, `DEMO-C-000123` for customers).

The domain asks a `NumberSeries` for the next formatted number; the adapter (adapters/number_series.py) keeps one
row per (brand, kind) in the operational store and allocates with `UPDATE ... RETURNING`, so two requests never get
the same number. A number taken by a command that then fails stays unused (series may have gaps; never repeats).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Protocol
from uuid import UUID


class SeriesKind(StrEnum):
    """What a series numbers; the value is the letter in the formatted id."""

    LOAN = "L"
    CUSTOMER = "C"


#: Numbers are zero-padded to six digits (a seventh digit appears after 999,999).
DIGITS = 6
NUMBER_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]*-[A-Z]-[0-9]{6,}$")


def brand_prefix(slug: str) -> str:
    """A brand's prefix: its code (slug) upper-cased (`demo` → `DEMO`)."""
    return slug.strip().upper()


def format_number(prefix: str, kind: SeriesKind, number: int) -> str:
    """`{PREFIX}-{L|C}-{number:06d}`."""
    return f"{prefix}-{kind.value}-{number:0{DIGITS}d}"


class NumberSeries(Protocol):
    """Allocates the next formatted number of a brand's series of `kind` (never the same one twice)."""

    def next(self, brand_id: UUID, kind: SeriesKind) -> str:
        """The next number, formatted (e.g. `DEMO-L-000456`)."""
        ...


class CountingSeries:
    """An in-process series (tests and in-memory use): counts per (brand, kind) from 1, with a fixed prefix."""

    def __init__(self, prefix: str = "DEMO") -> None:
        self.prefix = prefix
        self.counters: dict[tuple[UUID, SeriesKind], int] = {}

    def next(self, brand_id: UUID, kind: SeriesKind) -> str:
        """The next number of the brand's series."""
        key = (brand_id, kind)
        self.counters[key] = self.counters.get(key, 0) + 1
        return format_number(self.prefix, kind, self.counters[key])
