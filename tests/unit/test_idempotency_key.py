"""The Idempotency-Key rule: 1-200 characters on one line, not blank, no control characters; the OpenAPI pattern
states the same rule."""

from __future__ import annotations

import re

import pytest

from api.idempotency import KEY_PATTERN, check_key
from domain.shared.errors import InvalidValue

#: Headers reach the app decoded as Latin-1: these are the whitespace and control characters a key can hold.
REFUSED = [" ", "   ", "\xa0", " \xa0 ", "\t", "k\x00", "k\x01", "k\x1f", "k\x7f", "k\x85ey", "k\tey", "k\ney", ""]
ACCEPTED = ["k", " k ", "a key", "x" * 200, "caf\xe9", "order-2026-11-20/7"]


@pytest.mark.parametrize("key", [*REFUSED, "x" * 201])
def test_a_blank_key_or_one_with_a_control_character_is_refused_naming_the_header(key: str) -> None:
    with pytest.raises(InvalidValue) as err:
        check_key(key)
    assert err.value.field == "Idempotency-Key"


@pytest.mark.parametrize("key", ACCEPTED)
def test_a_key_with_something_to_show_is_taken(key: str) -> None:
    check_key(key)


def test_the_stated_pattern_refuses_and_accepts_what_the_server_does() -> None:
    stated = re.compile(KEY_PATTERN)
    assert [key for key in REFUSED if stated.search(key)] == []
    assert [key for key in ACCEPTED if not stated.search(key)] == []
