"""The one keyset cursor codec: round trips every key type, refuses anything the list did not make."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from projections.keyset import Int4, InvalidCursor, KeysetCursor


def _forge(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def test_every_key_type_round_trips() -> None:
    codec = KeysetCursor(str, int, Int4, UUID, date, datetime, Decimal)
    key = (
        "Asha वर्मा",
        2**62,
        -(2**31 - 1),
        uuid4(),
        date(2026, 11, 20),
        datetime(2026, 11, 20, 7, 18, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        Decimal("1234.50"),
    )
    cursor = codec.encode(*key)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert codec.decode(cursor) == key


#: A fixed id in the parametrized cursors: test ids must be the same in every pytest-xdist worker's collection.
ANY_ID = "6f1c2b9e-4d3a-4c1e-9b7a-2e5d8f0a1c3b"


@pytest.mark.parametrize(
    "cursor",
    [
        "WyJhIiwiYiJd",  # ["a","b"]: the id is not a uuid
        "WyJhIiwiYiIsImMiXQ",  # three values for a key of two
        "W3siYSI6MX0sMV0",  # [{"a":1},1]: "cannot adapt dict"
        _forge(["\ud800", ANY_ID]),  # a lone surrogate
        _forge(["a\u0000b", ANY_ID]),  # a NUL
        _forge(["a", 1]),
        _forge([None, ANY_ID]),
        _forge([["a"], ANY_ID]),
        _forge({"name": "a"}),
        _forge("a"),
        _forge([]),
        "garbage!",
        "not base64 at all",
        "%00",
        "",
        "A",
        "W" * 501,
        base64.urlsafe_b64encode(b'["a",NaN]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_cursor_the_list_did_not_make_is_invalid_input_naming_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as err:
        KeysetCursor(str, UUID).decode(cursor)
    assert [e.field for e in err.value.errors] == ["cursor"]


@pytest.mark.parametrize(
    ("types", "values"),
    [
        ((datetime, UUID), ["2026-11-20T10:00:00", ANY_ID]),  # an instant without its offset
        ((datetime, UUID), ["-1", ANY_ID]),
        ((date, UUID), ["9999-99-99", ANY_ID]),
        ((int, str), [True, "a"]),
        ((int, str), [2**63, "a"]),
        ((int, str), ["1", "a"]),
        ((Int4, Decimal, str, UUID), [2**31, "1", "a", ANY_ID]),
        ((Int4, Decimal, str, UUID), [1, "1e999999999", "a", ANY_ID]),
        ((Int4, Decimal, str, UUID), [1, "NaN", "a", ANY_ID]),
        ((Int4, Decimal, str, UUID), [1, 1.5, "a", ANY_ID]),
        ((datetime, str, int), ["2026-11-20T10:00:00+00:00", "customers", 1.5]),
    ],
)
def test_values_of_the_wrong_type_or_range_are_refused(types: tuple[type, ...], values: list[object]) -> None:
    with pytest.raises(InvalidCursor):
        KeysetCursor(*types).decode(_forge(values))


def test_a_codec_of_an_unknown_key_type_cannot_be_declared() -> None:
    with pytest.raises(TypeError):
        KeysetCursor(float)
    with pytest.raises(TypeError):
        KeysetCursor(str, UUID).encode("only one")


def test_instants_keep_their_offset() -> None:
    codec = KeysetCursor(datetime, UUID)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    decoded, _ = codec.decode(codec.encode(at, uuid4()))
    assert decoded == at and decoded.utcoffset() == timedelta(0)
