from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from eventsourcing.persistence import JSONTranscoder

from adapters.event_mapper import PydanticMapper
from domain.shared.aggregate import DomainEvent


class Tier(StrEnum):
    GOLD = "gold"
    SILVER = "silver"


class Priced(DomainEvent):
    amount: Decimal
    due: date
    tier: Tier
    ref: uuid.UUID
    tags: list[str]


class Renamed(DomainEvent):
    class_version: ClassVar[int] = 2
    full_name: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["full_name"] = state.pop("name")


def _mapper() -> PydanticMapper:
    return PydanticMapper(transcoder=JSONTranscoder())


def test_decimal_date_enum_and_uuid_round_trip_exactly() -> None:
    event = Priced(
        originator_id=uuid.uuid4(),
        originator_version=3,
        timestamp=datetime(2026, 11, 22, 10, 30, tzinfo=UTC),
        amount=Decimal("1234567.10"),
        due=date(2027, 2, 28),
        tier=Tier.GOLD,
        ref=uuid.uuid4(),
        tags=["a"],
    )
    mapper = _mapper()
    stored = mapper.to_stored_event(event)
    back = mapper.to_domain_event(stored)
    assert back == event
    assert isinstance(back.amount, Decimal) and str(back.amount) == "1234567.10"
    assert isinstance(back.tier, Tier) and back.tier is Tier.GOLD
    assert isinstance(back.due, date) and isinstance(back.ref, uuid.UUID)


def test_stored_state_is_readable_json() -> None:
    event = Priced(
        originator_id=uuid.uuid4(),
        originator_version=1,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        amount=Decimal("10.50"),
        due=date(2026, 1, 31),
        tier=Tier.SILVER,
        ref=uuid.UUID(int=7),
        tags=[],
    )
    state = json.loads(_mapper().to_stored_event(event).state)
    assert state["amount"] == "10.50"
    assert state["due"] == "2026-01-31"
    assert state["tier"] == "silver"
    assert state["ref"] == str(uuid.UUID(int=7))
    assert "originator_id" not in state  # kept in its own column


def test_old_event_versions_are_upcast_on_read() -> None:
    mapper = _mapper()
    new = Renamed(originator_id=uuid.uuid4(), originator_version=1, timestamp=datetime.now(UTC), full_name="A B")
    stored = mapper.to_stored_event(new)
    state = json.loads(stored.state)
    assert state["class_version"] == 2
    state.pop("class_version")
    state["name"] = state.pop("full_name")
    old = type(stored)(stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode())
    assert mapper.to_domain_event(old).full_name == "A B"


def test_only_the_class_s_own_json_is_plain() -> None:
    """The fast decode (and SQL reading the fields) takes stored JSON without a class version, the columns or
    transcoded values; any of the four keys anywhere sends the event the upcasting way."""
    from adapters.event_mapper import _plain

    assert _plain(b'{"timestamp":"2026-11-30T00:00:00Z","originator_topic":"x:Y","name":"Asha"}')
    for key in (b"class_version", b"originator_id", b"originator_version", b"_type_"):
        assert not _plain(b'{"name":"Asha","' + key + b'":1}')
        assert not _plain(b'{"addresses":[{"' + key + b'":"x"}]}')
    assert _plain(b'{"note":"originator_idx"}')  # (a key only when quoted whole)
    assert not _plain(b"[]") and not _plain(b"{}")
