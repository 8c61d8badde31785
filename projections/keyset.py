"""Keyset pagination: the page type, and the one typed codec every list's cursor goes through.

A cursor is the sort key of a page's last row, bound to what it was made for, as base64url JSON
(`{"o": order, "f": filters, "k": [key]}`):

- `k`, the key: each list declares its types (`KeysetCursor(str, UUID)`); decoding checks the count and the type
  and range of every value, so a forged or edited cursor is a 422 naming `cursor` before any SQL runs, and a
  query never receives a value of the wrong type.
- `o`, the list's ordering version: a list whose order changes raises its `order`, so a cursor made under the old
  order (a position in another sequence) is refused instead of starting its page at the wrong place.
- `f`, a digest of the filters (the `scope`) the page was read with: the same cursor with other filters would
  start a page of one list at a position of another, skipping or repeating rows, so it is refused.

A cursor of an earlier release (a bare JSON list: no filters, no order) is refused the same way: every refusal is
a 422 naming `cursor` that says to start again from the first page.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel

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


#: Why a cursor is refused, as its field error says.
NOT_OURS = "not a cursor from this list (edited, or from another list)"
OLD_FORMAT = (
    "a cursor of an earlier release (bound to neither its filters nor the list's order): start again from the "
    "first page, without a cursor"
)
OTHER_ORDER = "made for an earlier order of this list: start again from the first page, without a cursor"
OTHER_FILTERS = (
    "made with other filters: repeat the filters of the page it came from, or start again from the first page "
    "without a cursor"
)


class InvalidCursor(InvalidInput):
    """Raised when a pagination cursor was not made by this list, with these filters, in its current order."""

    def __init__(self, reason: str = NOT_OURS) -> None:
        super().__init__([FieldError("cursor", reason)])
        self.reason = reason


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


def _scope_value(value: Any) -> Any:
    """A filter value as JSON (for the digest): enums by value, sets sorted, dataclasses by their fields."""
    if isinstance(value, enum.Enum):
        return _scope_value(value.value)
    if isinstance(value, BaseModel):
        return _scope_value(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _scope_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, set | frozenset):
        return sorted(str(_scope_value(v)) for v in value)
    if isinstance(value, list | tuple):
        return [_scope_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _scope_value(v) for k, v in value.items()}
    return _dump(value)


def scope_digest(scope: Sequence[Any]) -> str:
    """A short digest of a page's filters: equal filters give equal digests (not a secret, a consistency check)."""
    raw = json.dumps(_scope_value(list(scope)), separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()[:9]).decode()


class KeysetCursor:
    """The codec of one list's cursor: the types of its sort key, in order (str, int, Int4, UUID, date, datetime
    with offset, Decimal), the list's `name` (a cursor of another list with the same key types is refused too)
    and the version of its order (`order`: raise it whenever the list's ORDER BY changes).

    `encode` and `decode` take the page's `scope`: every filter the list's query takes (brand included), in a
    fixed order; a cursor decodes only with the scope it was made with. A codec shared by several lists puts the
    list in the scope."""

    def __init__(self, *types: type, name: str, order: int = 1) -> None:
        unknown = [t for t in types if t not in _PARSERS]
        if unknown or not types:
            raise TypeError(f"no cursor codec for {unknown or 'an empty key'}")
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise TypeError(f"an order version is a positive integer, got {order!r}")
        if not name:
            raise TypeError("a cursor codec names its list")
        self.types = types
        self.name = name
        self.order = order
        self._parsers = [_PARSERS[t] for t in types]

    def encode(self, *values: Any, scope: Sequence[Any]) -> str:
        """The cursor after a row whose sort key is `values`, on a page read with the filters `scope`."""
        if len(values) != len(self.types):
            raise TypeError(f"a key of {len(self.types)} values, got {len(values)}")
        bound = {"o": self.order, "f": scope_digest([self.name, *scope]), "k": [_dump(v) for v in values]}
        raw = json.dumps(bound, separators=(",", ":"), ensure_ascii=True)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode(self, cursor: str, scope: Sequence[Any]) -> tuple[Any, ...]:
        """The sort key a cursor holds, each value of its declared type; InvalidCursor (422) for anything else: a
        cursor not made by this list, one of an earlier release or an earlier order, or one made with filters
        other than `scope`."""
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH or not _BASE64URL.fullmatch(cursor):
            raise InvalidCursor()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            bound = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
        except (binascii.Error, ValueError):
            raise InvalidCursor() from None
        if isinstance(bound, list) and len(bound) == len(self._parsers):
            raise InvalidCursor(OLD_FORMAT)  # a bare key: how cursors were made before they were bound
        if not isinstance(bound, dict) or set(bound) != {"o", "f", "k"}:
            raise InvalidCursor()
        order, digest, values = bound["o"], bound["f"], bound["k"]
        if isinstance(order, bool) or not isinstance(order, int) or not isinstance(digest, str):
            raise InvalidCursor()
        if not isinstance(values, list) or len(values) != len(self._parsers):
            raise InvalidCursor()
        if order != self.order:
            raise InvalidCursor(OTHER_ORDER if 0 < order < self.order else NOT_OURS)
        if digest != scope_digest([self.name, *scope]):
            raise InvalidCursor(OTHER_FILTERS)
        try:
            return tuple(parse(value) for parse, value in zip(self._parsers, values, strict=True))
        except (ValueError, TypeError, OverflowError):
            raise InvalidCursor() from None


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON
