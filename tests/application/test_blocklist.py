"""Blocklist use cases: add, re-add, remove and check values in any spelling, per brand."""

from __future__ import annotations

import uuid

import pytest

from domain.blocklist.application import Blocklists, entry_id
from domain.blocklist.entry import BlockKind, BlocklistEntry, BlocklistEntryNotFound
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000b2")


@pytest.fixture
def blocklists(clock: FixedClock) -> Blocklists:
    return in_memory(Blocklists, clock)


def _events(app: Blocklists, aggregate_id: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(aggregate_id)]


def test_a_value_is_found_in_any_spelling_once_blocked(blocklists: Blocklists) -> None:
    result = blocklists.add(BRAND, BlockKind.MOBILE, "+91 98765 11111", "fraud ring")
    assert result.id == entry_id(BRAND, BlockKind.MOBILE, "+919876511111")
    for spelling in ("9876511111", "098765-11111", "+91 9876511111"):
        found = blocklists.check(BRAND, BlockKind.MOBILE, spelling)
        assert found is not None and found.id == result.id and found.reason == "fraud ring"


def test_blocking_is_per_brand(blocklists: Blocklists) -> None:
    blocklists.add(BRAND, BlockKind.PAN, "ABCDE1234F", "forged documents")
    assert blocklists.check(OTHER, BlockKind.PAN, "abcde1234f") is None


def test_an_invalid_value_is_refused_and_nothing_is_recorded(blocklists: Blocklists) -> None:
    with pytest.raises(InvalidInput) as refused:
        blocklists.add(BRAND, BlockKind.AADHAAR, "234123412341", "wrong checksum")
    assert refused.value.errors[0].field == "value" and "checksum" in refused.value.errors[0].message
    assert blocklists.recorder.max_notification_id() in (None, 0)


def test_a_reason_needs_three_visible_characters(blocklists: Blocklists) -> None:
    with pytest.raises(InvalidInput) as refused:
        blocklists.add(BRAND, BlockKind.PINCODE, "110011", " x ")
    assert refused.value.errors[0].field == "reason"


def test_removing_keeps_the_entry_and_re_adding_reactivates_it(blocklists: Blocklists, clock: FixedClock) -> None:
    added = blocklists.add(BRAND, BlockKind.PINCODE, "110011", "flood zone")
    blocklists.remove(BRAND, added.id, "cleared by risk")
    assert blocklists.check(BRAND, BlockKind.PINCODE, "110011") is None
    again = blocklists.add(BRAND, BlockKind.PINCODE, "110011", "flooded again")
    assert again.id == added.id
    entry = blocklists.load(BlocklistEntry, added.id, BRAND, BlocklistEntryNotFound)
    assert entry.active and entry.reason == "flooded again"
    assert _events(blocklists, added.id) == ["Added", "Removed", "Readded"]


def test_blocking_a_value_twice_is_a_conflict_naming_the_entry(blocklists: Blocklists) -> None:
    first = blocklists.add(BRAND, BlockKind.PAN, "ABCDE1234F", "forged documents")
    with pytest.raises(Conflict) as twice:
        blocklists.add(BRAND, BlockKind.PAN, "abcde1234f", "again")
    assert twice.value.details.get("existing_id") == str(first.id)


def test_another_brands_entry_cannot_be_removed(blocklists: Blocklists) -> None:
    added = blocklists.add(BRAND, BlockKind.PINCODE, "110011", "flood zone")
    with pytest.raises(BlocklistEntryNotFound):
        blocklists.remove(OTHER, added.id, "not yours")
    assert blocklists.check(BRAND, BlockKind.PINCODE, "110011") is not None
