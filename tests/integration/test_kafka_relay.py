"""The Kafka relay against a real Kafka-protocol broker (Tansu): every event, in order, across crashes and outages."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import structlog.testing
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from adapters.kafka import PARTITIONS, KafkaSettings, Message, Publisher, TansuBroker
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.onboarding.application import Onboarding
from domain.shared.aggregate import SECRET_FIELDS
from tests.conftest import Tenant, make_tenant

# Each test on a database of its own (tests/own_database.py): the relay publishes every stored event and the checks
# compare them all: on the session's database each test relayed whatever the tests before it had stored (thousands of
# events; a clean-clone run met a broker quirk only with that many).
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import ROOT, mobile
from workers.event_catalogue import CATALOGUE, ENVELOPE_FILE
from workers.relay import Relay, publish_all

ENVELOPE = json.loads((CATALOGUE / ENVELOPE_FILE).read_text())


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    b = TansuBroker(log_file=tmp_path / "tansu.log").start()
    yield b
    b.stop()


def _settings(broker: TansuBroker) -> KafkaSettings:
    return KafkaSettings(broker.bootstrap_servers, f"cdt{uuid.uuid4().hex[:8]}")


def _activity(platform: Any, borrowers: int = 5) -> None:
    """Events in several contexts: a brand and its key, borrowers (with index aggregates), changes."""
    tenant = make_tenant(platform)
    for i in range(borrowers):
        result = platform.get(Customers).register(tenant.brand_id, name=f"Relay Borrower {i}", phone=mobile("9"))
        platform.get(Customers).update_details(tenant.brand_id, result.id, email=f"relay{i}@example.in")


def _stored(platform: Any) -> dict[str, tuple[str, int]]:
    """Every stored event by its event id: (aggregate id, version)."""
    from workers.relay import event_id

    events = {}
    for source, app in platform.engine.applications.items():
        position = 0
        while batch := app.recorder.select_notifications(start=position, limit=5000, inclusive_of_start=False):
            for n in batch:
                events[str(event_id(source, n.originator_id, n.originator_version))] = (
                    str(n.originator_id),
                    n.originator_version,
                )
            position = batch[-1].id
    return events


def _describe(platform: Any, ids: set[str]) -> list[tuple[str, str, int, str, int]]:
    """Where each of `ids` is stored: source, aggregate id, version, stored topic, notification id."""
    from workers.relay import event_id

    found = []
    for source, app in platform.engine.applications.items():
        position = 0
        while batch := app.recorder.select_notifications(start=position, limit=5000, inclusive_of_start=False):
            for n in batch:
                if str(event_id(source, n.originator_id, n.originator_version)) in ids:
                    found.append((source, str(n.originator_id), n.originator_version, n.topic, n.id))
            position = batch[-1].id
    return found


def _consume(settings: KafkaSettings) -> list[dict[str, Any]]:
    """Everything on the topics, each partition read from its start to its end offset. Called once the relay has
    stopped or caught up, so what the topics hold is all they will hold, duplicates included. Partitions assigned
    directly, not by a group subscription: a group's join took 3 s (15 s after the broker's restart), and a pattern
    subscription needed an idle window (4 s) to end without missing a late-discovered topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: list[dict[str, Any]] = []
    try:
        pattern = re.compile(f"^{re.escape(settings.topic_prefix)}\\.[a-z0-9_]+\\.[a-z0-9_]+$")
        topics = sorted(topic for topic in consumer.topics() if pattern.match(topic))
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)

        def end(tp: TopicPartition) -> int:
            # Tansu (0.6.0) answers ListOffsets "latest" with the last batch's base offset + 1, not the offset
            # after its last record: reading to that alone stopped inside a partition's last batch (a poll hands
            # over at most 500 records) and lost its tail. A fetch's high watermark is right, and is known once the
            # position has reached the last batch.
            return max(ends[tp], consumer.highwater(tp) or 0)

        deadline = time.monotonic() + 90
        while behind := [tp for tp in partitions if consumer.position(tp) < end(tp)]:
            assert time.monotonic() < deadline, f"partitions not read to their end: {behind}"
            for records in consumer.poll(timeout_ms=500).values():
                received += [_decoded(r) for r in records]
    finally:
        consumer.close()
    return received


def _decoded(record: Any) -> dict[str, Any]:
    event = json.loads(record.value)
    event["_topic"], event["_key"], event["_partition"] = record.topic, record.key.decode(), record.partition
    event["_headers"] = dict(record.headers)
    return dict(event)


def _check_complete_and_ordered(platform: Any, received: list[dict[str, Any]]) -> None:
    stored = _stored(platform)
    got = {e["event_id"] for e in received}
    missing = set(stored) - got
    assert not missing, (
        f"{len(missing)} of {len(stored)} events missing from the topics: {_describe(platform, missing)}"
    )
    by_aggregate: dict[str, list[int]] = {}
    for event in received:  # in delivery order per partition: an aggregate lives in one partition
        by_aggregate.setdefault(event["aggregate_id"], []).append(event["aggregate_version"])
    for aggregate, versions in by_aggregate.items():
        first_seen = list(dict.fromkeys(versions))
        assert first_seen == sorted(first_seen), f"aggregate {aggregate} out of order: {versions}"


def test_the_check_reads_a_partition_to_its_last_record_whatever_the_broker_says_its_end_is(
    broker: TansuBroker,
) -> None:
    """The completeness checks below read every topic to its end. Tansu's end offset stops at the last batch's
    first record, so a reader trusting it lost the tail of a last batch longer than a poll (a clean-clone run
    reported 142 relayed events "missing" that were on the topic)."""
    settings = _settings(broker)
    publisher = Publisher(settings, timeout=10)
    topic = f"{settings.topic_prefix}.loans.loan"
    sizes, n = (10, 1000), 0
    try:
        for size in sizes:
            batch = []
            for _ in range(size):
                batch.append(Message(topic, b"k", json.dumps({"event_id": str(n)}).encode(), [], 0))
                n += 1
            publisher.publish(batch)
    finally:
        publisher.reset()
    received = [int(e["event_id"]) for e in _consume(settings)]
    assert received == list(range(n))


def test_every_event_is_published_once_in_order_with_a_valid_envelope(platform: Any, broker: TansuBroker) -> None:
    _activity(platform)
    settings = _settings(broker)
    relay = Relay(platform, settings, timeout=5)
    try:
        published = publish_all(relay)
    finally:
        relay.close()
    assert published >= len(_stored(platform)) > 0
    received = _consume(settings)
    _check_complete_and_ordered(platform, received)
    assert len(received) == len({e["event_id"] for e in received})  # no crash, no repeats
    topics = {e["_topic"] for e in received}
    assert f"{settings.topic_prefix}.customers.customer_record" in topics
    assert f"{settings.topic_prefix}.identity.brand" in topics
    for event in received:  # appended past KafkaProducer.send: the partition its default partitioner picks
        assert event["_partition"] == (murmur2(event["_key"].encode()) & 0x7FFFFFFF) % PARTITIONS, event["_key"]
    for event in received[:300]:
        jsonschema.validate({k: v for k, v in event.items() if not k.startswith("_")}, ENVELOPE)
        assert event["_key"] == event["aggregate_id"] and event["_headers"]["type"].decode() == event["type"]
        assert event["_headers"]["trace_id"]
        schema = _schema_for(event["type"], event["schema_version"])
        jsonschema.validate(event["payload"], schema)
    registered = {e["aggregate_id"]: e for e in received if e["type"].endswith("CustomerRecord.Registered")}
    updated = next(e for e in received if e["type"].endswith("DetailsUpdated") and e["aggregate_id"] in registered)
    registered_event = registered[updated["aggregate_id"]]
    assert updated["brand_id"] == registered_event["brand_id"] is not None  # resolved for events without brand_id


def _schema_for(topic: str, version: int) -> dict[str, Any]:
    _, _, qualname = topic.partition(":")
    for path in CATALOGUE.glob(f"*/{qualname}.v{version}.json"):
        schema = json.loads(path.read_text())
        if schema["x-topic"] == topic:
            return dict(schema)
    raise AssertionError(f"no schema for {topic} v{version}")


def test_a_broker_outage_degrades_health_then_the_relay_catches_up_with_nothing_lost(
    platform: Any, broker: TansuBroker, app: Any
) -> None:
    _activity(platform, borrowers=2)
    settings = _settings(broker)
    relay = Relay(platform, settings, timeout=2, backoff_max=1.0)
    relay.start()
    platform.relay = relay
    with structlog.testing.capture_logs() as logs:
        _outage(platform, broker, relay, app)
    changes = [e["event"] for e in logs if e["event"] in ("relay.broker_down", "relay.broker_up")]
    assert changes == ["relay.broker_down", "relay.broker_up"]  # one line each way, however long it was down
    _check_complete_and_ordered(platform, _consume(settings))


def _outage(platform: Any, broker: TansuBroker, relay: Relay, app: Any) -> None:
    from starlette.testclient import TestClient

    try:
        _wait(lambda: relay.status.state == "ok" and not any(relay.status.lag.values()), "relay caught up")
        broker.stop()
        _activity(platform, borrowers=3)  # written while the broker is down
        _wait(lambda: relay.status.state == "degraded", "relay degraded")
        with TestClient(app) as client:
            health = client.get("/health").json()
        assert health["status"] == "degraded" and health["relay"]["state"] == "degraded" and health["relay"]["error"]
        broker.start()  # a new, empty broker on the same port: the relay publishes everything again
        _wait(lambda: relay.status.state == "ok" and not any(relay.status.lag.values()), "relay recovered", 60)
        assert relay.status.republishes >= 1
    finally:
        relay.stop()
        relay.join(timeout=15)
        platform.relay = None


def test_a_relay_killed_mid_batch_resumes_and_loses_nothing(
    platform: Any, broker: TansuBroker, dsn: str, tmp_path: Path
) -> None:
    _activity(platform, borrowers=400)
    settings = _settings(broker)
    Relay(platform, settings)  # creates ops.relay_positions
    with platform.db.pool.connection() as conn:  # a new broker: this relay starts from the beginning anyway
        conn.execute("DELETE FROM ops.relay_positions")
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.topic_prefix,
        "LOG_LEVEL": "WARNING",
    }

    log = tmp_path / "relay.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "relay", "--batch", "50"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
            )

    def relayed() -> int:
        with platform.db.pool.connection() as conn:
            row = conn.execute("SELECT coalesce(sum(position), 0) AS n FROM ops.relay_positions").fetchone()
        return int(row["n"]) if row else 0

    heads = sum((app.recorder.max_notification_id() or 0) for app in platform.engine.applications.values())
    first = start()
    try:
        # Kill it as soon as it has moved some position: mid-way through the history, batches in flight.
        _wait(lambda: 0 < relayed() < heads, "relay started publishing", 60, step=0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert relayed() < heads, "the relay finished before it could be killed"
    second = start()
    try:
        _wait(lambda: relayed() == heads, f"caught up ({relayed()} of {heads}): {log.read_text()[-2000:]}", 90)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)
    _check_complete_and_ordered(platform, _consume(settings))


def _wait(condition: Any, what: str, timeout: float = 30.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(step)


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children, from /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0.0
    for each in [pid, *map(int, children)]:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def test_an_idle_relay_process_stays_near_zero_cpu(
    platform: Any, broker: TansuBroker, dsn: str, tmp_path: Path
) -> None:
    _activity(platform, borrowers=3)
    settings = _settings(broker)
    Relay(platform, settings)  # creates ops.relay_positions
    with platform.db.pool.connection() as conn:  # a new broker: this relay starts from the beginning
        conn.execute("DELETE FROM ops.relay_positions")
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.topic_prefix,
        "LOG_LEVEL": "WARNING",
    }
    heads = sum((app.recorder.max_notification_id() or 0) for app in platform.engine.applications.values())

    def relayed() -> int:
        with platform.db.pool.connection() as conn:
            row = conn.execute("SELECT coalesce(sum(position), 0) AS n FROM ops.relay_positions").fetchone()
        return int(row["n"]) if row else 0

    log = tmp_path / "relay.log"
    with log.open("ab") as out:
        relay = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "relay"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        _wait(lambda: relayed() == heads, f"caught up: {log.read_text()[-2000:]}", 90)
        time.sleep(1.0)
        before, began = _cpu_seconds(relay.pid), time.monotonic()
        time.sleep(3.0)
        share = (_cpu_seconds(relay.pid) - before) / (time.monotonic() - began)
        # kafka-python's sender thread looping in RecordAccumulator.ready used a whole CPU here (share ~1.0).
        assert share < 0.05, f"an idle relay used {share:.0%} of a CPU"
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=15)


class _CodeCatcher:
    """Stands in for the SMS provider of the onboarding application: keeps the last code sent."""

    def __init__(self) -> None:
        self.code = ""

    def send(self, to: str, text: str, sender: str = "", *, caller: Any) -> Any:
        self.code = text.split()[0]
        return None


def _credentials(platform: Any, tenant: Tenant) -> None:
    """Every event that stores a credential: a staff user with a password, one invited who accepts the invite, an API
    key, and a borrower's sign-in code (requested and used)."""
    identity = platform.get(Identity)
    tag = uuid.uuid4().hex[:8]
    identity.create_staff(
        tenant.brand_id,
        f"pw-{tag}@example.in",
        "Pass Word",
        ["credit_executive"],
        password="Correct-Horse-42",
        granter=OPERATOR,
    )
    invited = identity.create_staff(
        tenant.brand_id, f"inv-{tag}@example.in", "Invi Ted", ["credit_executive"], invite=True, granter=OPERATOR
    )
    assert invited.invite is not None
    identity.accept_invite(invited.invite.code, "Battery-Staple-42")
    identity.issue_api_key(tenant.brand_id, "credit_executive", f"integration {tag}", granter=OPERATOR)
    onboarding, catcher, phone = platform.get(Onboarding), _CodeCatcher(), mobile("9")
    before, onboarding.sms = onboarding.sms, catcher
    try:
        onboarding.request_code(tenant.slug, phone)
        onboarding.sign_in(tenant.slug, phone, catcher.code)
    finally:
        onboarding.sms = before


def _stored_states(platform: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every stored event by its event id: (stored topic, the stored JSON)."""
    from workers.relay import event_id

    events = {}
    for source, app in platform.engine.applications.items():
        position = 0
        while batch := app.recorder.select_notifications(start=position, limit=5000, inclusive_of_start=False):
            for n in batch:
                events[str(event_id(source, n.originator_id, n.originator_version))] = (n.topic, json.loads(n.state))
            position = batch[-1].id
    return events


CREDENTIAL_EVENTS = {
    "domain.identity.staff:StaffUser.Created": "identity.staff_user",
    "domain.identity.staff:StaffUser.InviteIssued": "identity.staff_user",
    "domain.identity.staff:StaffUser.InviteAccepted": "identity.staff_user",
    "domain.identity.api_key:ApiKey.Issued": "identity.api_key",
    "domain.onboarding.account:BorrowerAccount.CodeSent": "onboarding.borrower_account",
}


def test_no_published_record_carries_a_credential_or_its_hash(platform: Any, broker: TansuBroker) -> None:
    """Password, API-key, invite and sign-in code hashes are stored but never published (docs/integration.md): the
    records of the events that store one carry the rest of the event as stored, without the key."""
    tenant = make_tenant(platform)
    settings = _settings(broker)
    relay = Relay(platform, settings, timeout=5)
    try:
        _credentials(platform, tenant)
        publish_all(relay)  # the relay meets these event types for the first time: built in Python
        _credentials(platform, tenant)
        publish_all(relay)  # their types are known now: PostgreSQL builds the records of the rest
        assert set(CREDENTIAL_EVENTS) <= set(relay.readers["identity"].plain) | set(relay.readers["onboarding"].plain)
    finally:
        relay.close()
    received = _consume(settings)
    _check_complete_and_ordered(platform, received)
    stored = _stored_states(platform)
    hashes = {v for _, state in stored.values() for k, v in state.items() if k in SECRET_FIELDS and v}
    assert len(hashes) >= 2 * 5  # per round: a password, an invite code, the accepted password, a key, a code
    for event in received:
        raw = json.dumps(event, default=repr)
        assert not SECRET_FIELDS & set(event["payload"]), event["type"]
        assert not [h for h in hashes if h in raw], event["type"]
        jsonschema.validate(event["payload"], _schema_for(event["type"], event["schema_version"]))
    credential_records = [e for e in received if e["type"] in CREDENTIAL_EVENTS]
    assert {e["type"] for e in credential_records} == set(CREDENTIAL_EVENTS)
    assert len(credential_records) >= 2 * len(CREDENTIAL_EVENTS)
    for event in credential_records:
        assert event["_topic"] == f"{settings.topic_prefix}.{CREDENTIAL_EVENTS[event['type']]}"
        topic, state = stored[event["event_id"]]
        assert topic == event["type"] and SECRET_FIELDS & set(state)  # it stored one
        rest = {k: v for k, v in state.items() if k not in SECRET_FIELDS}
        assert rest and event["payload"] == {
            "originator_id": event["aggregate_id"],
            "originator_version": event["aggregate_version"],
            **rest,
        }
        assert event["brand_id"] == str(tenant.brand_id) and event["actor"] == state.get("actor", "system")
