"""The Kafka relay: every context's events to `<prefix>.<context>.<aggregate>` topics, at least once, in order.

For each source application the relay reads the notification log after its tracking position
(`ops.relay_positions`), wraps each event in the envelope (docs/events/envelope.json), publishes the batch keyed
by aggregate id (one partition per aggregate, so its events stay in order), waits for the broker's
acknowledgement of every record, and only then moves the position, in PostgreSQL. A crash re-sends at most the
unacknowledged batch; consumers drop repeats by `event_id`.

One relay publishes at a time (a PostgreSQL advisory lock elects it). While the broker is unreachable it retries
with backoff and reports itself degraded (`/health`, the `covenant_desk_relay_*` metrics); when the broker is
back it carries on where it stopped. A broker that lost its topics (the in-memory Tansu used in development
restarted) is noticed by the epoch marker the relay keeps in `<prefix>._relay`: every position goes back to 0
and the whole history is published again, so topics never miss an event.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import structlog
from eventsourcing.utils import resolve_topic

from adapters.kafka import KafkaSettings, Message, Publisher, PublishFailed
from domain.audit.replay import snake

log = structlog.get_logger(__name__)

RELAY_LOCK_KEY = 7_316_002
_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://covenant-desk/event")
BATCH = 1000
DDL = (
    """CREATE TABLE IF NOT EXISTS ops.relay_positions (
        source text PRIMARY KEY,
        position bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
)


def topic_name(prefix: str, context: str, aggregate_type: str) -> str:
    """The topic of an aggregate type's events: `<prefix>.<context>.<aggregate>`."""
    return f"{prefix}.{context}.{snake(aggregate_type)}"


def event_id(context: str, aggregate_id: uuid.UUID, version: int) -> uuid.UUID:
    """A stable id per event (the same on every re-publication), for consumers to deduplicate on."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{context}:{aggregate_id}:{version}")


@dataclass
class RelayStatus:
    """What `/health` and the metrics show about the relay."""

    enabled: bool = False
    leader: bool = False
    state: str = "stopped"  # stopped, ok, degraded
    error: str | None = None
    since: datetime | None = None
    published: int = 0
    lag: dict[str, int] = field(default_factory=dict)
    republishes: int = 0


class BrandLookup:
    """The brand of an aggregate whose event does not carry it: from its first event, cached."""

    def __init__(self, applications: dict[str, Any], size: int = 200_000) -> None:
        self.applications = applications
        self.cache: OrderedDict[uuid.UUID, str | None] = OrderedDict()
        self.size = size

    def remember(self, aggregate_id: uuid.UUID, brand_id: str | None) -> None:
        self.cache[aggregate_id] = brand_id
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)

    def __call__(self, source: str, aggregate_id: uuid.UUID) -> str | None:
        if aggregate_id in self.cache:
            self.cache.move_to_end(aggregate_id)
            return self.cache[aggregate_id]
        first = self.applications[source].recorder.select_events(aggregate_id, lte=1, limit=1)
        brand = json.loads(bytes(first[0].state)).get("brand_id") if first else None
        if brand is None and first:  # A brand's own aggregate: the brand is itself.
            brand = str(aggregate_id) if first[0].topic.endswith(":Brand.Created") else None
        self.remember(aggregate_id, brand)
        return brand


def envelope(source: str, notification: Any, brands: BrandLookup, prefix: str, mapper: Any) -> Message:
    """The published record of one stored event."""
    cls = resolve_topic(notification.topic)
    payload = json.loads(bytes(notification.state))
    if "class_version" in payload or getattr(cls, "class_version", 1) != 1:
        # Stored at an older version: publish the current shape (upcast), which schema_version names.
        payload = mapper.to_domain_event(notification).model_dump(mode="json")
    else:
        payload = {
            "originator_id": str(notification.originator_id),
            "originator_version": notification.originator_version,
            **payload,
        }
    _, _, qualname = notification.topic.partition(":")
    aggregate_type = qualname.split(".")[0]
    aggregate_id = notification.originator_id
    brand = payload.get("brand_id")
    if brand is not None:
        brands.remember(aggregate_id, brand)
    else:
        brand = brands(source, aggregate_id)
    eid = event_id(source, aggregate_id, notification.originator_version)
    trace = payload.get("trace_id") or str(eid)
    value = {
        "event_id": str(eid),
        "type": notification.topic,
        "schema_version": int(getattr(cls, "class_version", 1)),
        "aggregate_type": aggregate_type,
        "aggregate_id": str(aggregate_id),
        "aggregate_version": notification.originator_version,
        "brand_id": brand,
        "occurred_at": payload.get("timestamp"),
        "position": notification.id,
        "actor": payload.get("actor", "system"),
        "payload": payload,
    }
    return Message(
        topic=topic_name(prefix, source, aggregate_type),
        key=str(aggregate_id).encode(),
        value=json.dumps(value, separators=(",", ":")).encode(),
        headers=[("type", notification.topic.encode()), ("trace_id", trace.encode()), ("event_id", str(eid).encode())],
    )


class Relay(threading.Thread):
    """Publishes every source application's events; one leader per database."""

    def __init__(
        self,
        platform: Any,
        settings: KafkaSettings,
        *,
        batch: int = BATCH,
        idle: float = 0.2,
        backoff_max: float = 10.0,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name="kafka-relay", daemon=True)
        self.platform = platform
        self.settings = settings
        self.batch = batch
        self.idle = idle
        self.backoff_max = backoff_max
        self.publisher = Publisher(settings, timeout=timeout)
        self.brands = BrandLookup(platform.engine.applications)
        self.status = RelayStatus(enabled=True)
        self.stopping = threading.Event()
        self.marker_topic = f"{settings.topic_prefix}._relay"
        with platform.db.pool.connection() as conn:
            for statement in DDL:
                conn.execute(statement)

    @property
    def sources(self) -> list[str]:
        return list(self.platform.engine.applications)

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.platform.dsn, autocommit=True) as lock_conn:
                    self._lead(lock_conn)
            except Exception as exc:  # noqa: BLE001 - the database went away: stand down, try again.
                log.warning("relay.failed", error=f"{type(exc).__name__}: {exc}")
                self.status.leader = False
                self.stopping.wait(2.0)
        self.publisher.close()
        self.status.state = "stopped"

    def _lead(self, lock_conn: psycopg.Connection[Any]) -> None:
        while not self.stopping.is_set():
            row = lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,)).fetchone()
            if row and row[0]:
                break
            self.status.leader = False
            self.stopping.wait(2.0)
        if self.stopping.is_set():
            return
        self.status.leader = True
        log.info("relay.leader_acquired", bootstrap=self.settings.bootstrap_servers)
        delay = 0.5
        epoch_checked = False
        while not self.stopping.is_set():
            try:
                if not epoch_checked:
                    self.check_epoch()
                    epoch_checked = True
                published = self.pump()
                self._healthy()
                delay = 0.5
                if not published:
                    self.stopping.wait(self.idle)
                lock_conn.execute("SELECT 1")
            except PublishFailed as exc:
                self._degraded(str(exc))
                epoch_checked = False  # The broker may come back empty: check before publishing more.
                self.stopping.wait(delay)
                delay = min(delay * 2, self.backoff_max)

    def check_epoch(self) -> None:
        """Publish everything again when the broker lost what it had (its marker topic is empty)."""
        try:
            marker = self.publisher.end_offset(self.marker_topic)
        except Exception as exc:
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
        if marker == 0:
            published_before = any(p > 0 for p in self.positions().values())
            if published_before:
                log.warning("relay.broker_lost_topics", action="publishing every event again")
                self.status.republishes += 1
                with self.platform.db.pool.connection() as conn:
                    conn.execute("UPDATE ops.relay_positions SET position = 0, updated_at = now()")
            self.publisher.publish(
                [
                    Message(
                        self.marker_topic,
                        b"epoch",
                        json.dumps({"epoch": str(uuid.uuid4()), "at": datetime.now().isoformat()}).encode(),
                        [],
                    )
                ]
            )

    def positions(self) -> dict[str, int]:
        with self.platform.db.pool.connection() as conn:
            rows = conn.execute("SELECT source, position FROM ops.relay_positions").fetchall()
        return {r["source"]: r["position"] for r in rows}

    def pump(self) -> int:
        """One batch per source that has new events; returns how many events were published."""
        positions = self.positions()
        total = 0
        for source in self.sources:
            app = self.platform.engine.applications[source]
            position = positions.get(source, 0)
            notifications = app.recorder.select_notifications(
                start=position, limit=self.batch, inclusive_of_start=False
            )
            head = app.recorder.max_notification_id() or 0
            if not notifications:
                self.status.lag[source] = max(head - position, 0)
                continue
            messages = [envelope(source, n, self.brands, self.settings.topic_prefix, app.mapper) for n in notifications]
            self.publisher.publish(messages)
            last = notifications[-1].id
            with self.platform.db.pool.connection() as conn:
                conn.execute(
                    "INSERT INTO ops.relay_positions (source, position) VALUES (%s, %s) "
                    "ON CONFLICT (source) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
                    (source, last),
                )
            self.status.lag[source] = max(head - last, 0)
            self.status.published += len(messages)
            total += len(messages)
        return total

    def _healthy(self) -> None:
        if self.status.state != "ok":
            log.info("relay.publishing", previous=self.status.state)
            self.status.since = datetime.now().astimezone()
        self.status.state = "ok"
        self.status.error = None

    def _degraded(self, error: str) -> None:
        if self.status.state != "degraded":
            log.warning("relay.broker_unavailable", error=error)
            self.status.since = datetime.now().astimezone()
        self.status.state = "degraded"
        self.status.error = error


def relay_lag(platform: Any) -> dict[str, int]:
    """Events each source's relay position is behind its head (from the database, for any process)."""
    with platform.db.pool.connection() as conn:
        conn.execute(DDL[0])
        rows = {r["source"]: r["position"] for r in conn.execute("SELECT source, position FROM ops.relay_positions")}
    return {
        source: max((app.recorder.max_notification_id() or 0) - rows.get(source, 0), 0)
        for source, app in platform.engine.applications.items()
    }


def publish_all(relay: Relay, timeout: float = 60.0) -> int:
    """Run the relay's loop in the caller's thread until every source is caught up (tests and benchmarks)."""
    relay.check_epoch()
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        published = relay.pump()
        total += published
        if not published:
            return total
    raise TimeoutError(f"relay did not catch up within {timeout:.0f} s")
