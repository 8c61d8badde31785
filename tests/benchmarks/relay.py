"""Integration and audit: relay throughput into Kafka, end-to-end lag, an idle relay's CPU, as-of replay time.

1. Relay throughput. N borrower events (registrations and changes, as in the catch-up benchmark) are in the event
   store; the relay publishes all of them to a Tansu broker on loopback (log read, envelopes built, records keyed
   and acknowledged, positions moved in PostgreSQL). Baseline: a tuned kafka-python producer sending the very
   same records (pre-built envelopes, same keys and headers) as fast as it can: send everything, flush once, with
   the relay's batching (adapters.kafka.PRODUCER_TUNING: acks=all, idempotent, linger 5 ms, 512 KiB batches) and
   five requests in flight. Variants (gzip; one request in flight, as the relay runs) run too and the fastest is
   the baseline (it runs again after the relay; the better run counts). Target: relay >= 0.9 of it.
2. End-to-end lag. A real `covenant-desk relay` process follows the event store (LISTEN/NOTIFY); a writer
   registers borrowers at a steady rate; a Kafka consumer of ours (its own group) reads the topic. Lag = when the
   consumer received an event - when the command that stored it returned (its commit). Target: p99 <= 150 ms.
3. Idle relay CPU. The same process once it has caught up: its CPU time from /proc/<pid>/stat over a quiet
   interval. Target: <= 1% of a core.
4. As-of replay. One borrower record with 1,000 events (999 changes after registering); the auditor's
   `state_as_of` for an instant in the middle and at the end, timed over repeated calls, against the baseline of
   reading the same 1,000 stored events raw. Target: p50 <= 10 ms at the end. The record keeps a snapshot every 100
   events (domain/shared/snapshot.py), so the replay decodes the one before the instant and the events after it;
   the same state without snapshots (every event decoded) is printed alongside.

Run alone: `python -m tests.benchmarks.relay [--quick] [--only relay|lag|replay]` (`lag` includes idle CPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from kafka import KafkaConsumer, KafkaProducer

from adapters.kafka import PRODUCER_TUNING, KafkaSettings, Message, Publisher, TansuBroker
from domain.customers.application import Customers
from domain.identity.application import Identity
from tests.benchmarks.catchup import _write_events
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say
from tests.support import ROOT
from workers.platform import Platform
from workers.relay import Relay, publish_all, relay_lag
from workers.relay_envelopes import (
    BrandLookup,
    RecordReader,
    first_event,
    log_tables,
    standalone_mapper,
    topic_name,
)

RELAY_RATIO_TARGET = 0.9
LAG_P99_TARGET_MS = 150.0
IDLE_CPU_TARGET_PERCENT = 1.0
REPLAY_TARGET_MS = 10.0


def _relay_throughput(quick: bool) -> list[Verdict]:
    total = 10_000 if quick else 100_000
    say(f"== Relay throughput ({total:,} borrower events into Tansu on loopback)")
    broker = TansuBroker().start()
    try:
        with fresh_database("cd_bench_relay") as dsn:
            platform = Platform.open(dsn)
            try:
                began = time.perf_counter()
                kinds = _write_events(platform.get(Customers), total)
                say(f"   loaded {sum(kinds.values()):,} events in {time.perf_counter() - began:.1f} s")
                settings = KafkaSettings(broker.bootstrap_servers, f"bench{uuid.uuid4().hex[:6]}")
                relay = Relay(platform, settings, timeout=30)
                head = sum((a.recorder.max_notification_id() or 0) for a in platform.engine.applications.values())
                # The baseline's records: the relay's own, built beforehand (not timed).
                records = _records(platform)
                baselines = {name: _tuned_producer(broker, records, **kw) for name, kw in _BASELINES.items()}
                # Warm, as the baseline's producer is: the marker checked, the producer connected, the topics made.
                relay.check_epoch()
                relay.publisher.ensure_topics(
                    {m.topic.replace("raw.", f"{settings.topic_prefix}.", 1) for m in records}
                )
                began = time.perf_counter()
                published = publish_all(relay, timeout=900)
                seconds = time.perf_counter() - began
                relay.close()
                # The fastest variant once more after the relay, the better of the two counting: a machine busier
                # during one run than the other moves the ratio against the relay, not for it.
                fastest = max(baselines, key=lambda name: baselines[name])
                again = _tuned_producer(broker, records, **_BASELINES[fastest])
                baselines[fastest] = max(baselines[fastest], again)
            finally:
                platform.close()
    finally:
        broker.stop()
    if published < head:
        raise AssertionError(f"relay published {published} of {head} events")
    rate = published / seconds
    best = max(baselines, key=lambda name: baselines[name])
    size = sum(len(m.value) for m in records) // len(records)
    for name, records_per_second in baselines.items():
        mark = "  <- baseline" if name == best else ""
        say(f"   tuned producer, {name:<26} {records_per_second:9,.0f} records/s{mark}")
    say(f"   ({len(records):,} records, {size} bytes on average, keyed by aggregate, 3 headers)")
    say(
        f"   relay                                 {rate:9,.0f} events/s   ({published:,} in {seconds:.1f} s)"
        f"   ratio {rate / baselines[best]:.2f}"
    )
    return [
        Verdict(
            "relay",
            "relay events/s over a tuned producer's records/s",
            rate / baselines[best],
            RELAY_RATIO_TARGET,
            True,
        )
    ]


#: The tuned producer's variants; the fastest is the baseline.
_BASELINES: dict[str, dict[str, Any]] = {
    "5 requests in flight": {"max_in_flight_requests_per_connection": 5},
    "5 in flight, gzip": {"max_in_flight_requests_per_connection": 5, "compression_type": "gzip"},
    "1 in flight (as the relay)": {"max_in_flight_requests_per_connection": 1},
}


def _records(platform: Platform) -> list[Message]:
    records: list[Message] = []
    logs, mapper = log_tables(platform), standalone_mapper()
    with platform.db.pool.connection() as conn:
        brands = BrandLookup(lambda source, aggregate_id: first_event(conn, logs[source], aggregate_id))
        for source, log in logs.items():
            reader, position = RecordReader(source, log, "raw", brands, mapper), 0
            while True:
                position, batch = reader.read(conn, position, 5000)
                if not batch:
                    break
                records += batch
    return records


def _tuned_producer(broker: TansuBroker, records: list[Message], **variant: Any) -> float:
    """Records/s of a tuned producer sending `records` to fresh topics: everything at once, then one flush."""
    prefix = f"raw{uuid.uuid4().hex[:6]}"
    renamed = [m._replace(topic=prefix + m.topic.removeprefix("raw")) for m in records]
    Publisher(KafkaSettings(broker.bootstrap_servers, prefix)).ensure_topics({m.topic for m in renamed})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, **{**PRODUCER_TUNING, **variant})
    for topic in {m.topic for m in renamed}:
        producer.partitions_for(topic)  # metadata before the clock starts, as the relay's producer has it
    send = producer.send
    began = time.perf_counter()
    futures = [send(m.topic, key=m.key, value=m.value, headers=m.headers) for m in renamed]
    producer.flush(timeout=300)
    for future in futures:
        future.get(timeout=30)
    seconds = time.perf_counter() - began
    producer.close()
    return len(renamed) / seconds


def _lag_and_idle(quick: bool) -> list[Verdict]:
    rate, seconds, quiet = (100, 8.0, 5.0) if quick else (200, 20.0, 10.0)
    say(f"== End-to-end lag (a `covenant-desk relay` process; writer at {rate} registrations/s for {seconds:g} s)")
    broker = TansuBroker().start()
    committed: dict[str, float] = {}
    received: dict[str, tuple[float, float]] = {}  # aggregate id -> (received, lag behind occurred_at)
    try:
        with fresh_database("cd_bench_lag") as dsn:
            platform = Platform.open(dsn)
            settings = KafkaSettings(broker.bootstrap_servers, f"lag{uuid.uuid4().hex[:6]}")
            relay = _relay_process(dsn, settings)
            try:
                brand = platform.get(Identity).create_brand(f"lag{uuid.uuid4().hex[:6]}", "Lag Bench").id
                topic = topic_name(settings.topic_prefix, "customers", "CustomerRecord")
                Publisher(settings).ensure_topics([topic])
                stop = threading.Event()
                consumer_ready = threading.Event()

                def consume() -> None:
                    consumer = KafkaConsumer(
                        topic,
                        bootstrap_servers=broker.bootstrap_servers,
                        group_id="lag-bench",
                        auto_offset_reset="latest",
                        session_timeout_ms=6000,
                        heartbeat_interval_ms=1000,
                        max_poll_interval_ms=30000,
                        fetch_max_wait_ms=20,
                    )
                    while not consumer.assignment():
                        consumer.poll(timeout_ms=200)
                    consumer_ready.set()
                    while not stop.is_set():
                        for records in consumer.poll(timeout_ms=100).values():
                            now, wall = time.monotonic(), datetime.now(UTC)
                            for record in records:
                                occurred = datetime.fromisoformat(json.loads(record.value)["occurred_at"])
                                received[record.key.decode()] = (now, (wall - occurred).total_seconds())
                    consumer.close()

                reader = threading.Thread(target=consume, daemon=True)
                reader.start()
                if not consumer_ready.wait(timeout=60):
                    raise AssertionError("the consumer did not join its group")
                _wait_caught_up(platform, relay)
                time.sleep(1.0)
                interval = 1.0 / rate
                began = time.perf_counter()
                written = 0
                while time.perf_counter() - began < seconds:
                    result = platform.get(Customers).register(
                        brand, name=f"Lag Borrower {written}", phone=f"9{written:09d}"
                    )
                    committed[str(result.id)] = time.monotonic()
                    written += 1
                    pause = began + written * interval - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                deadline = time.monotonic() + 30
                while len(received.keys() & committed.keys()) < written and time.monotonic() < deadline:
                    time.sleep(0.1)
                stop.set()
                reader.join(timeout=10)
                _wait_caught_up(platform, relay)
                time.sleep(1.0)
                cpu = _cpu_seconds(relay.pid)
                time.sleep(quiet)
                idle_percent = (_cpu_seconds(relay.pid) - cpu) / quiet * 100
            finally:
                relay.terminate()
                relay.wait(timeout=15)
                platform.close()
    finally:
        broker.stop()
    lags = [max(received[a][0] - committed[a], 0.0) for a in committed if a in received]
    if len(lags) < written:
        raise AssertionError(f"the consumer received {len(lags)} of {written} registrations")
    p50, p95, p99 = (percentile(lags, f) * 1000 for f in (0.5, 0.95, 0.99))
    since_event = [received[a][1] for a in committed]
    say(f"   {written:,} registrations written, each one's Registered event received from the customer_record topic")
    say(
        f"   lag from commit to consumer:  p50 {p50:4.0f} ms, p95 {p95:4.0f} ms, p99 {p99:4.0f} ms,"
        f" max {max(lags) * 1000:.0f} ms"
    )
    say(
        f"   (from the event's occurred_at, which is taken before the commit: p50 {percentile(since_event, 0.5) * 1000:.0f}"
        f" ms, p99 {percentile(since_event, 0.99) * 1000:.0f} ms)"
    )
    say(f"== Idle relay: {idle_percent:.2f}% of a CPU over {quiet:g} s after catching up (from /proc/{relay.pid}/stat)")
    return [
        Verdict("relay", "end-to-end lag p99, commit to consumer", p99, LAG_P99_TARGET_MS, False, " ms"),
        Verdict("relay", "idle relay process CPU", idle_percent, IDLE_CPU_TARGET_PERCENT, False, " %"),
    ]


def _relay_process(dsn: str, settings: KafkaSettings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.topic_prefix,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "relay"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )


def _wait_caught_up(platform: Platform, relay: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(relay_lag(platform).values()) or not _relayed_anything(platform):
        if relay.poll() is not None:
            raise AssertionError(f"the relay process exited with {relay.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the relay did not catch up: {relay_lag(platform)}")
        time.sleep(0.1)


def _relayed_anything(platform: Platform) -> bool:
    with platform.db.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM ops.relay_positions").fetchone()
    return bool(row and row["n"])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _replay(quick: bool) -> list[Verdict]:
    events = 1_000
    say(f"== As-of replay (one borrower record with {events:,} events)")
    with fresh_database("cd_bench_replay") as dsn:
        platform = Platform.open(dsn)
        try:
            brand = platform.get(Identity).create_brand(f"rp{uuid.uuid4().hex[:6]}", "Replay Bench").id
            customer = platform.get(Customers).register(brand, name="Replay Borrower", phone="9800000001").id
            middle = None
            for i in range(events - 1):
                platform.get(Customers).update_details(brand, customer, email=f"replay{i}@example.in")
                if i == events // 2:
                    middle = datetime.now(UTC)
            assert middle is not None
            now = datetime.now(UTC)
            for _ in range(3):  # warm caches and pools
                platform.audit.state_as_of("customer", customer, brand, now)
            rounds = 10 if quick else 30
            raw_times, mid_times, end_times, whole_times = [], [], [], []
            for _ in range(rounds):
                began = time.perf_counter()
                stored = platform.get(Customers).recorder.select_events(customer)
                raw_times.append(time.perf_counter() - began)
                began = time.perf_counter()
                at_middle = platform.audit.state_as_of("customer", customer, brand, middle)
                mid_times.append(time.perf_counter() - began)
                began = time.perf_counter()
                at_end = platform.audit.state_as_of("customer", customer, brand, now)
                end_times.append(time.perf_counter() - began)
                snapshots, platform.audit.snapshots = platform.audit.snapshots, {}
                began = time.perf_counter()
                assert platform.audit.state_as_of("customer", customer, brand, now) == at_end
                whole_times.append(time.perf_counter() - began)
                platform.audit.snapshots = snapshots
        finally:
            platform.close()
    if len(stored) != events or at_end["version"] != events or not 0 < at_middle["version"] < events:
        raise AssertionError(
            f"replay wrong: {len(stored)} stored, versions {at_middle['version']}, {at_end['version']}"
        )
    raw = percentile(raw_times, 0.5) * 1000
    mid = percentile(mid_times, 0.5) * 1000
    end = percentile(end_times, 0.5) * 1000
    whole = percentile(whole_times, 0.5) * 1000
    say(f"   raw read of the {events:,} stored events (baseline)  p50 {raw:6.1f} ms")
    say(f"   state as of the middle (version {at_middle['version']})     p50 {mid:6.1f} ms")
    say(
        f"   state as of now (version {at_end['version']})          p50 {end:6.1f} ms   ratio to raw read {end / raw:.1f}x"
    )
    say(
        f"   baseline, the state as of now without snapshots (every event decoded)  p50 {whole:6.1f} ms; with the "
        f"record's snapshot every 100 events {end / whole:.2f} of it"
    )
    return [Verdict("replay", f"as-of replay of {events:,} events p50", end, REPLAY_TARGET_MS, False, " ms")]


def run(quick: bool) -> list[Verdict]:
    """All four."""
    logging.getLogger("kafka").setLevel(logging.ERROR)  # reconnect chatter after a broker stops
    return _relay_throughput(quick) + _lag_and_idle(quick) + _replay(quick)


def main(argv: list[str] | None = None) -> int:
    """Run alone and report; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.relay", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("relay", "lag", "replay"))
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)  # reconnect chatter after a broker stops
    chosen = {"relay": _relay_throughput, "lag": _lag_and_idle, "replay": _replay}
    verdicts: list[Verdict] = []
    for name, bench in chosen.items():
        if args.only in (None, name):
            verdicts += bench(args.quick)
    for verdict in verdicts:
        say(verdict.line())
    return 1 if any(not v.passed for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["run"]
