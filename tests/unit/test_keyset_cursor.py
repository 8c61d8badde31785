"""The one keyset cursor codec: round trips every key type, refuses anything the list did not make."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from projections.keyset import (
    NOT_OURS,
    OLD_FORMAT,
    OTHER_FILTERS,
    OTHER_ORDER,
    Int4,
    InvalidCursor,
    KeysetCursor,
    scope_digest,
)

#: The filters of the page the cursors below belong to.
SCOPE = ("brand", "open", None)


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _forge(values: object, name: str = "test", order: int = 1) -> str:
    """A cursor in the bound format, of list `name` at `order`, for SCOPE, holding `values` as its key."""
    return _raw({"o": order, "f": scope_digest([name, *SCOPE]), "k": values})


def test_every_key_type_round_trips() -> None:
    codec = KeysetCursor(str, int, Int4, UUID, date, datetime, Decimal, name="test")
    key = (
        "Asha वर्मा",
        2**62,
        -(2**31 - 1),
        uuid4(),
        date(2026, 11, 20),
        datetime(2026, 11, 20, 7, 18, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        Decimal("1234.50"),
    )
    cursor = codec.encode(*key, scope=SCOPE)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert codec.decode(cursor, SCOPE) == key


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
        KeysetCursor(str, UUID, name="test").decode(cursor, SCOPE)
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
        KeysetCursor(*types, name="test").decode(_forge(values), SCOPE)


def test_a_codec_of_an_unknown_key_type_cannot_be_declared() -> None:
    with pytest.raises(TypeError):
        KeysetCursor(float, name="test")
    with pytest.raises(TypeError):
        KeysetCursor(str, UUID, name="test").encode("only one", scope=SCOPE)
    with pytest.raises(TypeError):
        KeysetCursor(str, UUID, name="test", order=0)


def test_instants_keep_their_offset() -> None:
    codec = KeysetCursor(datetime, UUID, name="test")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    decoded, _ = codec.decode(codec.encode(at, uuid4(), scope=SCOPE), SCOPE)
    assert decoded == at and decoded.utcoffset() == timedelta(0)


def _refusal(codec: KeysetCursor, cursor: str, scope: tuple[object, ...] = SCOPE) -> str:
    with pytest.raises(InvalidCursor) as err:
        codec.decode(cursor, scope)
    assert [e.field for e in err.value.errors] == ["cursor"]
    return err.value.errors[0].message


def test_a_cursor_decodes_only_with_the_filters_it_was_made_with() -> None:
    codec = KeysetCursor(datetime, UUID, name="test")
    cursor = codec.encode(datetime(2026, 1, 1, tzinfo=UTC), uuid4(), scope=("brand", "open", None))
    assert codec.decode(cursor, ("brand", "open", None))
    assert _refusal(codec, cursor, ("brand", "closed", None)) == OTHER_FILTERS
    assert _refusal(codec, cursor, ("brand", None, None)) == OTHER_FILTERS
    assert _refusal(codec, cursor, ("another brand", "open", None)) == OTHER_FILTERS


def test_filter_values_of_every_kind_bind_by_value() -> None:
    codec = KeysetCursor(int, name="test")
    made = (uuid4(), date(2026, 1, 2), datetime(2026, 1, 2, tzinfo=UTC), Decimal("1.50"), {"a": 1, "b": [1, 2]})
    cursor = codec.encode(7, scope=made)
    assert codec.decode(cursor, tuple(made)) == (7,)
    assert _refusal(codec, cursor, (*made[:3], Decimal("1.5"), made[4])) == OTHER_FILTERS


def test_a_cursor_of_another_list_with_the_same_key_types_is_refused() -> None:
    ours, theirs = KeysetCursor(datetime, UUID, name="ours"), KeysetCursor(datetime, UUID, name="theirs")
    cursor = theirs.encode(datetime(2026, 1, 1, tzinfo=UTC), uuid4(), scope=SCOPE)
    assert _refusal(ours, cursor) == OTHER_FILTERS


def test_a_cursor_made_before_the_lists_order_changed_is_refused() -> None:
    before, now = KeysetCursor(datetime, UUID, name="queue"), KeysetCursor(datetime, UUID, name="queue", order=2)
    cursor = before.encode(datetime(2026, 1, 1, tzinfo=UTC), uuid4(), scope=SCOPE)
    assert _refusal(now, cursor) == OTHER_ORDER
    assert _refusal(before, now.encode(datetime(2026, 1, 1, tzinfo=UTC), uuid4(), scope=SCOPE)) == NOT_OURS


def test_a_cursor_of_an_earlier_release_a_bare_key_is_refused_as_such() -> None:
    codec = KeysetCursor(datetime, UUID, name="queue", order=2)
    bare = _raw(["2026-01-01T00:00:00+00:00", ANY_ID])  # how every cursor was made before they were bound
    assert _refusal(codec, bare) == OLD_FORMAT


@pytest.mark.parametrize(
    "bound",
    [
        {"o": 1, "f": "x", "k": [ANY_ID], "extra": 1},
        {"o": "1", "f": "x", "k": ["a", ANY_ID]},
        {"o": True, "f": "x", "k": ["a", ANY_ID]},
        {"o": 1, "f": 1, "k": ["a", ANY_ID]},
        {"o": 1, "f": "x", "k": "a"},
        {"o": 1, "k": ["a", ANY_ID]},
    ],
)
def test_a_bound_cursor_of_the_wrong_shape_is_not_ours(bound: dict[str, object]) -> None:
    assert _refusal(KeysetCursor(str, UUID, name="test"), _raw(bound)) == NOT_OURS
