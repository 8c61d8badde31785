"""The relay's record building without a broker or database: partition hash, event ids, envelope, log filter."""

from __future__ import annotations

import json
import logging
import random
import uuid
from typing import Any

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from adapters.kafka import murmur2
from workers.logging_setup import KafkaClientAtDebug
from workers.relay_envelopes import BrandLookup, StoredRow, _event_id_text, envelope, event_id

REGISTERED = "domain.customers.customer:CustomerRecord.Registered"
UPDATED = "domain.customers.customer:CustomerRecord.DetailsUpdated"


def test_murmur2_matches_kafka_python_for_keys_of_every_length() -> None:
    rng = random.Random(11)
    for length in range(0, 80):
        for _ in range(20):
            key = bytes(rng.randrange(256) for _ in range(length))
            assert murmur2(key) == kafka_python_murmur2(key), key


def test_event_id_text_is_the_uuid5_event_id() -> None:
    for _ in range(50):
        aggregate = uuid.uuid4()
        assert _event_id_text("customers", str(aggregate), 7) == str(event_id("customers", aggregate, 7))


class _NoMapper:
    def to_domain_event(self, stored: Any) -> Any:
        raise AssertionError("an event stored at version 1 needs no upcast")


def _row(position: int, aggregate: uuid.UUID, version: int, topic: str, state: dict[str, Any]) -> StoredRow:
    return StoredRow(position, str(aggregate), version, topic, json.dumps(state).encode())


def test_envelope_carries_the_stored_payload_with_its_columns_and_finds_a_missing_brand() -> None:
    aggregate, brand = uuid.uuid4(), str(uuid.uuid4())
    brands = BrandLookup(lambda source, aggregate_id: None)
    first = _row(
        41,
        aggregate,
        1,
        REGISTERED,
        {
            "timestamp": "2026-11-30T06:00:00+00:00",
            "actor": "staff:1",
            "trace_id": "req-1",
            "brand_id": brand,
            "name": "Asha Rao",
            "addresses": [{"city": "Pune"}],
        },
    )
    second = _row(
        42, aggregate, 2, UPDATED, {"timestamp": "2026-11-30T06:01:00+00:00", "actor": "cli", "email": "a@b.in"}
    )
    one, two = (envelope("customers", row, brands, "cd", _NoMapper()) for row in (first, second))
    value = json.loads(one.value)
    assert value["payload"] == {"originator_id": str(aggregate), "originator_version": 1, **json.loads(first.state)}
    assert (value["event_id"], value["type"], value["aggregate_type"]) == (
        str(event_id("customers", aggregate, 1)),
        REGISTERED,
        "CustomerRecord",
    )
    assert (value["brand_id"], value["occurred_at"], value["position"], value["actor"]) == (
        brand,
        "2026-11-30T06:00:00+00:00",
        41,
        "staff:1",
    )
    assert one.topic == "cd.customers.customer_record" and one.key == str(aggregate).encode()
    assert dict(one.headers) == {
        "type": REGISTERED.encode(),
        "trace_id": b"req-1",
        "event_id": value["event_id"].encode(),
    }
    assert one.key_hash == murmur2(one.key) & 0x7FFFFFFF
    later = json.loads(two.value)
    assert later["brand_id"] == brand  # not in the event: from the aggregate's first one
    assert dict(two.headers)["trace_id"] == later["event_id"].encode()  # no trace: the event id stands in
    assert later["payload"]["email"] == "a@b.in" and later["payload"]["originator_version"] == 2


def test_an_event_with_an_empty_payload_still_makes_valid_json() -> None:
    row = _row(7, uuid.uuid4(), 3, UPDATED, {})
    value = json.loads(envelope("customers", row, BrandLookup(lambda s, a: None), "cd", _NoMapper()).value)
    assert value["payload"] == {"originator_id": row.originator_id, "originator_version": 3}
    assert value["actor"] == "system" and value["brand_id"] is None


def test_kafka_client_lines_are_debug_lines() -> None:
    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "No node available", None, None)

    assert not KafkaClientAtDebug(False).filter(record("kafka.net.manager", logging.WARNING))
    shown = record("kafka.cluster", logging.ERROR)
    assert KafkaClientAtDebug(True).filter(shown) and shown.levelname == "DEBUG"
    assert KafkaClientAtDebug(False).filter(record("workers.relay", logging.WARNING))
