"""Integration and audit: relay throughput into Kafka, end-to-end lag under steady load, as-of replay time.

1. Relay throughput. N borrower events (registrations and changes, as in the catch-up benchmark) are in the event
   store; the relay publishes all of them to a Tansu broker on loopback (envelopes built, keyed, acknowledged by
   the broker batch by batch, positions moved in PostgreSQL). Baseline: a bare kafka-python producer with the
   relay's settings (acks=all, one request in flight) sending as many pre-built records of the same size, so the
   ratio is what reading the log, building envelopes and tracking positions cost over publishing alone.
2. End-to-end lag. With the relay running as in a worker process, a writer registers borrowers at a steady rate;
   a consumer in its own group reads the topic; lag = time received - the event's `occurred_at`. Reported
   p50/p95/p99. Target (ours): p99 <= 1 s.
3. As-of replay. One borrower record with 1,000 events (999 changes after registering); the auditor's
   `state_as_of` for an instant in the middle and at the end, timed over repeated calls, against the baseline of
   reading the same 1,000 stored events raw. Snapshots would pay only if replay were a large multiple of the
   read; the report shows whether it is.

Run alone: `python -m tests.benchmarks.relay [--quick] [--only relay|lag|replay]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import structlog
from kafka import KafkaConsumer, KafkaProducer

from adapters.kafka import KafkaSettings, TansuBroker
from tests.benchmarks.catchup import _write_events
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say
from workers.platform import Platform
from workers.relay import Relay, envelope, publish_all, topic_name

LAG_TARGET_SECONDS = 1.0
REPLAY_TARGET_MS = 100.0
RELAY_RATIO_TARGET = 0.3


def _relay_throughput(quick: bool) -> list[Verdict]:
    total = 10_000 if quick else 100_000
    say(f"== Relay throughput ({total:,} borrower events into Tansu on loopback)")
    broker = TansuBroker().start()
    try:
        with fresh_database("cd_bench_relay") as dsn:
            platform = Platform.open(dsn)
            try:
                began = time.perf_counter()
                kinds = _write_events(platform.customers, total)
                say(f"   loaded {sum(kinds.values()):,} events in {time.perf_counter() - began:.1f} s")
                settings = KafkaSettings(broker.bootstrap_servers, f"bench{uuid.uuid4().hex[:6]}")
                relay = Relay(platform, settings, timeout=30)
                head = sum((a.recorder.max_notification_id() or 0) for a in platform.engine.applications.values())
                began = time.perf_counter()
                published = publish_all(relay, timeout=900)
                seconds = time.perf_counter() - began
                sample = platform.customers.recorder.select_notifications(start=0, limit=1)[0]
                size = len(
                    envelope("customers", sample, relay.brands, settings.topic_prefix, platform.customers.mapper).value
                )
                relay.publisher.close()
            finally:
                platform.close()
        raw = _raw_producer(broker.bootstrap_servers, published, size)
    finally:
        broker.stop()
    if published < head:
        raise AssertionError(f"relay published {published} of {head} events")
    rate = published / seconds
    say(f"   raw producer (baseline)   {raw:9,.0f} records/s  ({published:,} records of {size} bytes, acks=all)")
    say(
        f"   relay                     {rate:9,.0f} events/s   ({published:,} in {seconds:.1f} s)   ratio {rate / raw:.2f}"
    )
    return [
        Verdict("relay", "relay events/s over raw producer records/s", rate / raw, RELAY_RATIO_TARGET, True),
    ]


def _raw_producer(bootstrap: str, count: int, size: int) -> float:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_in_flight_requests_per_connection=1,
        linger_ms=5,
        batch_size=256 * 1024,
    )
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    payload = b"x" * size
    keys = [str(uuid.uuid4()).encode() for _ in range(1000)]
    began = time.perf_counter()
    for start in range(0, count, 1000):
        futures = [
            producer.send(topic, key=keys[i % 1000], value=payload) for i in range(start, min(start + 1000, count))
        ]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    seconds = time.perf_counter() - began
    producer.close()
    return count / seconds


def _lag(quick: bool) -> list[Verdict]:
    rate, seconds = (100, 8.0) if quick else (200, 20.0)
    say(f"== End-to-end lag (writer at {rate} registrations/s for {seconds:g} s, relay and consumer running)")
    broker = TansuBroker().start()
    lags: list[float] = []
    try:
        with fresh_database("cd_bench_lag") as dsn:
            platform = Platform.open(dsn)
            settings = KafkaSettings(broker.bootstrap_servers, f"lag{uuid.uuid4().hex[:6]}")
            relay = Relay(platform, settings, idle=0.02, timeout=10)
            try:
                brand = platform.identity.create_brand(f"lag{uuid.uuid4().hex[:6]}", "Lag Bench").id
                relay.start()
                topic = topic_name(settings.topic_prefix, "customers", "CustomerRecord")
                relay.publisher.ensure_topics([topic])
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
                            now = datetime.now(UTC)
                            for record in records:
                                occurred = datetime.fromisoformat(json.loads(record.value)["occurred_at"])
                                lags.append((now - occurred).total_seconds())
                    consumer.close()

                reader = threading.Thread(target=consume, daemon=True)
                reader.start()
                consumer_ready.wait(timeout=60)
                time.sleep(1.0)
                interval = 1.0 / rate
                began = time.perf_counter()
                written = 0
                while time.perf_counter() - began < seconds:
                    platform.customers.register(brand, name=f"Lag Borrower {written}", phone=f"9{written:09d}")
                    written += 1
                    pause = began + written * interval - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                deadline = time.monotonic() + 30
                while len(lags) < written and time.monotonic() < deadline:
                    time.sleep(0.1)
                stop.set()
                reader.join(timeout=10)
            finally:
                relay.stop()
                relay.join(timeout=15)
                platform.close()
    finally:
        broker.stop()
    if not lags:
        raise AssertionError("the consumer received nothing")
    p50, p95, p99 = (percentile(lags, f) * 1000 for f in (0.5, 0.95, 0.99))
    say(
        f"   {written:,} registrations written, {len(lags):,} Registered events received from the customer_record topic"
    )
    say(
        f"   lag from commit to consumer: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {max(lags) * 1000:.0f} ms"
    )
    return [Verdict("relay", "end-to-end lag p99", p99 / 1000, LAG_TARGET_SECONDS, False, " s")]


def _replay(quick: bool) -> list[Verdict]:
    events = 1_000
    say(f"== As-of replay (one borrower record with {events:,} events)")
    with fresh_database("cd_bench_replay") as dsn:
        platform = Platform.open(dsn)
        try:
            brand = platform.identity.create_brand(f"rp{uuid.uuid4().hex[:6]}", "Replay Bench").id
            customer = platform.customers.register(brand, name="Replay Borrower", phone="9800000001").id
            middle = None
            for i in range(events - 1):
                platform.customers.update_details(brand, customer, email=f"replay{i}@example.in")
                if i == events // 2:
                    middle = datetime.now(UTC)
            assert middle is not None
            now = datetime.now(UTC)
            for _ in range(3):  # warm caches and pools
                platform.audit.state_as_of("customer", customer, brand, now)
            rounds = 10 if quick else 30
            raw_times, mid_times, end_times = [], [], []
            for _ in range(rounds):
                began = time.perf_counter()
                stored = platform.customers.recorder.select_events(customer)
                raw_times.append(time.perf_counter() - began)
                began = time.perf_counter()
                at_middle = platform.audit.state_as_of("customer", customer, brand, middle)
                mid_times.append(time.perf_counter() - began)
                began = time.perf_counter()
                at_end = platform.audit.state_as_of("customer", customer, brand, now)
                end_times.append(time.perf_counter() - began)
        finally:
            platform.close()
    if len(stored) != events or at_end["version"] != events or not 0 < at_middle["version"] < events:
        raise AssertionError(
            f"replay wrong: {len(stored)} stored, versions {at_middle['version']}, {at_end['version']}"
        )
    raw = percentile(raw_times, 0.5) * 1000
    mid = percentile(mid_times, 0.5) * 1000
    end = percentile(end_times, 0.5) * 1000
    say(f"   raw read of the {events:,} stored events (baseline)  p50 {raw:6.1f} ms")
    say(f"   state as of the middle (version {at_middle['version']})     p50 {mid:6.1f} ms")
    say(
        f"   state as of now (version {at_end['version']})          p50 {end:6.1f} ms   ratio to raw read {end / raw:.1f}x"
    )
    say("   (snapshots would save at most the decode and apply part of that; not worth their upkeep at this size)")
    return [Verdict("replay", f"as-of replay of {events:,} events p50", end, REPLAY_TARGET_MS, False, " ms")]


def run(quick: bool) -> list[Verdict]:
    """All three."""
    logging.getLogger("kafka").setLevel(logging.ERROR)  # reconnect chatter after a broker stops
    return _relay_throughput(quick) + _lag(quick) + _replay(quick)


def main(argv: list[str] | None = None) -> int:
    """Run alone and report; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.relay", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("relay", "lag", "replay"))
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)  # reconnect chatter after a broker stops
    chosen = {"relay": _relay_throughput, "lag": _lag, "replay": _replay}
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
