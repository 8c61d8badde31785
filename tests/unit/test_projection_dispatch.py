"""The projection engine's dispatch table: `@handles` methods, nearest base class, topics from the table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import pytest

from domain.blocklist.entry import BlockKind, BlocklistEntry
from domain.shared.index import UniqueValue
from projections.activity import activity_projection
from projections.blocklist import BlocklistView
from projections.projection import Insert, Projection, Write, handles, topics_of

E = BlocklistEntry


class _Base(Projection):
    name = "dispatch_base"
    source = "blocklists"

    @handles(E.Added)
    def _added(self, position: int, event: E.Added) -> Iterable[Write]:
        yield Write("added", (position,))

    @handles(E.Removed, E.Readded)
    def _changed(self, position: int, event: E.Removed | E.Readded) -> Iterable[Write]:
        yield Write("changed", (position,))


class _Narrower(_Base):
    name = "dispatch_narrower"

    @handles(E.Readded)
    def _readded(self, position: int, event: E.Readded) -> Iterable[Write]:
        yield Write("readded", (position,))


def _entry_events() -> list[object]:
    entry = BlocklistEntry(
        id=uuid.uuid4(), brand_id=uuid.uuid4(), kind=BlockKind.MOBILE, value="+919876543210", reason="fraud"
    )
    entry.remove("cleared")
    entry.readd("again")
    return list(entry.collect_events())


def test_each_event_goes_to_the_handler_of_its_class_and_a_subclass_overrides_one_entry() -> None:
    added, removed, readded = _entry_events()
    base, narrower = _Base(), _Narrower()
    assert [w.sql for e in (added, removed, readded) for w in base.project(7, e)] == ["added", "changed", "changed"]
    assert [w.sql for e in (added, removed, readded) for w in narrower.project(7, e)] == ["added", "changed", "readded"]
    assert [w.params for w in base.project(42, added)] == [(42,)]


def test_topics_default_to_the_handled_classes_and_an_unhandled_event_writes_nothing() -> None:
    assert set(_Base.topics) == set(topics_of(E.Added, E.Removed, E.Readded))
    assert set(BlocklistView.topics) == set(topics_of(E.Added, E.Removed, E.Readded))
    other = UniqueValue.Event  # not handled by _Base, nor is any class it derives from
    assert other not in _Base.handlers and all(c not in _Base.handlers for c in other.__mro__)


def test_a_class_handling_one_event_class_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="twice"):

        class _Twice(Projection):  # pyright: ignore[reportUnusedClass]
            name = "dispatch_twice"
            source = "blocklists"

            @handles(E.Added)
            def _one(self, position: int, event: E.Added) -> Iterable[Write]:
                return ()

            @handles(E.Added)
            def _two(self, position: int, event: E.Added) -> Iterable[Write]:
                return ()


def test_activity_falls_back_to_the_base_event_handler_and_skips_index_aggregates() -> None:
    activity = activity_projection("blocklists")
    assert activity.topics == ()  # every event of its source
    (added, *_) = _entry_events()
    (row,) = activity.project(3, added)
    # An event with its brand is a new row (inserted with the batch's others), keyed by its position.
    assert isinstance(row, Insert) and row.table == "read.activity"
    assert row.row["event_type"] == "Added" and row.row["position"] == 3 and row.row["brand_id"] == added.brand_id
    assert row.row["summary"] == "blocklist entry added" and row.row["details"]["reason"] == "fraud"


def test_activity_rows_of_events_without_a_brand_take_the_brand_their_aggregate_was_written_with() -> None:
    added, removed, _ = _entry_events()
    assert getattr(removed, "brand_id", None) is None
    # An aggregate this projection has not written yet: the row looks its brand up in the table.
    (lookup,) = activity_projection("blocklists").project(2, removed)
    assert isinstance(lookup, Write) and lookup.params["brand"] is None and lookup.params["id"] == removed.originator_id
    activity = activity_projection("blocklists")
    assert len(list(activity.project(1, added))) == 1
    (row,) = activity.project(2, removed)
    assert isinstance(row, Insert) and row.row["brand_id"] == added.brand_id and row.row["event_type"] == "Removed"
    assert UniqueValue.Event in type(activity).handlers
