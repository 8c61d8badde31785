from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.customers.values import check_date_of_birth
from domain.shared.errors import InvalidInput
from domain.shared.values import (
    CALLBACK_HORIZON,
    check_callback,
    looks_like_phone,
    mask_pan,
    normalise_email,
    normalise_name,
    normalise_pan,
    normalise_phone,
)


@pytest.mark.parametrize(
    "raw",
    [
        "98765 43210",
        "098765-43210",
        "+91 9876543210",
        "+91-98765-43210",
        "919876543210",
        "0091 98765 43210",
        "(98765) 43210",
    ],
)
def test_indian_phone_formats_normalise_to_one_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+919876543210"


@pytest.mark.parametrize("raw", ["12345", "abc", "", "98765 4321", "+91 98765 432100"])
def test_invalid_phone_names_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalise_phone(raw)
    assert err.value.errors[0].field == "phone"


def test_foreign_number_keeps_its_country_code() -> None:
    assert normalise_phone("+1 202 555 0143") == "+12025550143"


def test_pan_is_upper_cased_and_format_checked() -> None:
    assert normalise_pan(" abcde1234f ") == "ABCDE1234F"
    for bad in ("ABCD1234F", "ABCDE12345", "12345ABCDE", "ABCDE1234"):
        with pytest.raises(InvalidInput):
            normalise_pan(bad)


def test_pan_is_masked_for_lists() -> None:
    assert mask_pan("ABCDE1234F") == "ABCDE****F"
    assert mask_pan(None) is None


def test_email_and_name_rules() -> None:
    assert normalise_email("Asha.K@Example.in") == "Asha.K@example.in"
    assert normalise_name("  Asha   Kulkarni ") == "Asha Kulkarni"
    with pytest.raises(InvalidInput):
        normalise_email("not-an-email")
    with pytest.raises(InvalidInput):
        normalise_name("1")


def test_borrower_must_be_adult() -> None:
    today = date(2026, 11, 22)
    assert check_date_of_birth(date(2008, 11, 22), today) == date(2008, 11, 22)
    with pytest.raises(InvalidInput):
        check_date_of_birth(date(2008, 11, 23), today)


def test_search_term_phone_detection() -> None:
    assert looks_like_phone("98765 43210")
    assert looks_like_phone("+91-98765-43210")
    assert not looks_like_phone("Asha")
    assert not looks_like_phone("SM123456")


def test_a_callback_time_is_one_rule_for_notes_and_callback_requests() -> None:
    # domain.shared.values: the customers context (a note's callback) and the callbacks context (call me later) use it.
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    ist = timezone(timedelta(hours=5, minutes=30))
    kept = check_callback(datetime(2026, 12, 1, 18, 0, tzinfo=ist), now)
    assert kept == datetime(2026, 12, 1, 12, 30, tzinfo=UTC) and kept.tzinfo is UTC
    assert check_callback(now + CALLBACK_HORIZON, now) == now + CALLBACK_HORIZON
    for bad, says in (
        (datetime(2026, 12, 1, 18, 0), "offset"),
        (now, "still to come"),
        (now - timedelta(minutes=1), "still to come"),
        (now + CALLBACK_HORIZON + timedelta(seconds=1), "more than a year"),
    ):
        with pytest.raises(InvalidInput) as refused:
            check_callback(bad, now, "callback_at")
        assert says in str(refused.value) and "callback_at" in str(refused.value), bad
