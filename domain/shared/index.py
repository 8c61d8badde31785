"""Uniqueness index aggregates: one aggregate per unique value, with a uuid5 id.

Creating the index aggregate for a value that another transaction claimed at the
same time fails on the event store's (id, version) key, so uniqueness holds
under concurrency without a read-side check.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate, with_id

INDEX_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/index")


def index_id(kind: str, brand_id: UUID | None, value: str) -> UUID:
    """Deterministic id of the index aggregate for `value` of `kind` within a brand."""
    return uuid5(INDEX_NAMESPACE, f"{kind}:{brand_id or '*'}:{value}")


class UniqueValue(Aggregate):
    """Claims one value (a PAN, a phone, a slug) for one owner; released values can be claimed again."""

    id: UUID  # Passed in (uuid5 of the natural key) rather than random.

    class Claimed(Aggregate.Created):
        """A value was claimed for the first time."""

        brand_id: UUID | None
        kind: str
        value: str
        owner_id: UUID

    class Reclaimed(Aggregate.Event):
        """A released value was claimed again."""

        owner_id: UUID

    class Released(Aggregate.Event):
        """The owner gave the value up."""

    @classmethod
    def claim(cls, brand_id: UUID | None, kind: str, value: str, owner_id: UUID) -> UniqueValue:
        """A new index aggregate claiming `value` for `owner_id`."""
        return with_id(
            cls, index_id(kind, brand_id, value), brand_id=brand_id, kind=kind, value=value, owner_id=owner_id
        )

    @event(Claimed)
    def __init__(self, brand_id: UUID | None, kind: str, value: str, owner_id: UUID) -> None:
        self.brand_id = brand_id  # type: ignore[assignment]
        self.kind = kind
        self.value = value
        self.owner_id: UUID | None = owner_id

    @event(Reclaimed)
    def reclaim(self, owner_id: UUID) -> None:
        self.owner_id = owner_id

    @event(Released)
    def release(self) -> None:
        self.owner_id = None
