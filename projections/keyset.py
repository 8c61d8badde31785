"""Keyset pagination: the page type, and the one typed codec every list's cursor goes through.

A cursor is the sort key of a page's last row, as base64url JSON. Each list declares its key's types
(`KeysetCursor(str, UUID)`); decoding checks the count and the type and range of every value, so a forged or
edited cursor is a 422 naming `cursor` before any SQL runs, and a query never receives a value of the wrong type.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.shared.errors import FieldError, InvalidInput, InvalidValue
from domain.shared.values import DecimalRule, text_problem

#: Longer than any cursor a list makes; the API's query models allow 500 characters.
MAX_CURSOR_LENGTH = 500
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_KEY_DECIMAL = DecimalRule(integer_digits=20, places=6)  # amounts of any read model (numeric(16, 2) and wider)
_INT4 = 2**31 - 1
_INT8 = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """A keyset page of items."""

    items: list[Any]
    next_cursor: str | None


class InvalidCursor(InvalidInput):
    """Raised when a pagination cursor was not made by this list."""

    def __init__(self) -> None:
        super().__init__([FieldError("cursor", "not a cursor from this list (edited, or from another list)")])


class Int4(int):
    """A key column of type integer (the codec bounds it to ±(2³¹-1), so negating it stays in range)."""


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1000 or text_problem(value) is not None:
        raise ValueError(value)
    return value


def _bounded_int(bound: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not -bound <= value <= bound:
            raise ValueError(value)
        return value

    return parse


def _uuid(value: Any) -> UUID:
    if not isinstance(value, str) or len(value) != 36:
        raise ValueError(value)
    return UUID(value)


def _date(value: Any) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError(value)
    return date.fromisoformat(value)


def _instant(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # every instant a list writes carries its offset
        raise ValueError(value)
    return parsed


def _decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(value)
    try:
        return _KEY_DECIMAL.parse(value)
    except InvalidValue:
        raise ValueError(value) from None


_PARSERS: dict[type, Callable[[Any], Any]] = {
    str: _text,
    int: _bounded_int(_INT8),
    Int4: _bounded_int(_INT4),
    UUID: _uuid,
    date: _date,
    datetime: _instant,
    Decimal: _decimal,
}


def _dump(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


class KeysetCursor:
    """The codec of one list's cursor: the types of its sort key, in order (str, int, Int4, UUID, date, datetime
    with offset, Decimal)."""

    def __init__(self, *types: type) -> None:
        unknown = [t for t in types if t not in _PARSERS]
        if unknown or not types:
            raise TypeError(f"no cursor codec for {unknown or 'an empty key'}")
        self.types = types
        self._parsers = [_PARSERS[t] for t in types]

    def encode(self, *values: Any) -> str:
        """The cursor after a row whose sort key is `values`."""
        if len(values) != len(self.types):
            raise TypeError(f"a key of {len(self.types)} values, got {len(values)}")
        raw = json.dumps([_dump(v) for v in values], separators=(",", ":"), ensure_ascii=True)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, ...]:
        """The sort key a cursor holds, each value of its declared type; InvalidCursor (422) for anything else."""
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH or not _BASE64URL.fullmatch(cursor):
            raise InvalidCursor()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            values = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
        except (binascii.Error, ValueError):
            raise InvalidCursor() from None
        if not isinstance(values, list) or len(values) != len(self._parsers):
            raise InvalidCursor()
        try:
            return tuple(parse(value) for parse, value in zip(self._parsers, values, strict=True))
        except (ValueError, TypeError, OverflowError):
            raise InvalidCursor() from None


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON
