"""The Kafka relay: every context's events to `<prefix>.<context>.<aggregate>` topics, at least once, in order.

For each source application the relay reads the notification log after its tracking position
(`ops.relay_positions`), wraps each event in the envelope (docs/events/envelope.json), its credentials withheld
(`SECRET_FIELDS`: workers/relay_envelopes.py), and publishes it keyed by aggregate id (one partition per aggregate,
so its events stay in order). Batches stream: while the broker takes
one, the next is read and built. A batch's position moves in PostgreSQL only once the broker acknowledged every
record of it and of the batches before it (acks=all); a crash re-sends at most the unacknowledged batches, and
consumers drop repeats by `event_id`.

The relay sleeps on LISTEN for the event store's NOTIFY (sent on every commit) and wakes on a commit, so an event
reaches its topic milliseconds after it is stored; it re-checks every few seconds in case a notification was
missed. One relay publishes at a time (a PostgreSQL advisory lock elects it). While the broker is unreachable it
retries with backoff and reports itself degraded (`/health`, the `covenant_desk_relay_*` metrics, one
`relay.broker_down` log line, and `relay.broker_up` when it is back); then it carries on where it stopped. A
broker that lost its topics (the in-memory Tansu used in development restarted) is noticed by the epoch marker
the relay keeps in `<prefix>._relay`: every position goes back to 0 and the whole history is published again, so
topics never miss an event.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from psycopg.sql import SQL, Identifier, Literal

from adapters.kafka import KafkaSettings, Message, Publisher, PublishFailed, Sent
from domain.shared.ddl import unless_present
from domain.shared.gc_pause import collector_paused
from projections.listening import NotifyWaiter
from workers.relay_envelopes import (
    BrandLookup,
    RecordReader,
    envelope,
    event_id,
    first_event,
    log_tables,
    postgres_recorder,
    standalone_mapper,
    topic_name,
)

if TYPE_CHECKING:
    from workers.platform import Platform

__all__ = ["Relay", "RelayStatus", "envelope", "event_id", "publish_all", "relay_lag", "topic_name"]

log = structlog.get_logger(__name__)

RELAY_LOCK_KEY = 7_316_002
BATCH = 1000
#: Batches handed to the producer ahead of the oldest one still unacknowledged (read and built meanwhile).
AHEAD = 2
#: Batches of one source per pass, so one busy source does not hold up the others' latest events.
BATCHES_PER_PASS = 20
DDL = (
    """CREATE TABLE IF NOT EXISTS ops.relay_positions (
        source text PRIMARY KEY,
        position bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
)


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


class Relay(threading.Thread):
    """Publishes every source application's events; one leader per database."""

    def __init__(
        self,
        platform: Platform,
        settings: KafkaSettings,
        *,
        batch: int = BATCH,
        recheck: float = 5.0,
        backoff_max: float = 10.0,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name="kafka-relay", daemon=True)
        self.platform = platform
        self.settings = settings
        self.batch = batch
        self.recheck = recheck
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.publisher = Publisher(settings, timeout=timeout)
        self.logs = log_tables(platform)
        self.mapper = standalone_mapper()
        self.brands = BrandLookup(self._first_event)
        self.readers = {
            source: RecordReader(source, log_table, settings.topic_prefix, self.brands, self.mapper)
            for source, log_table in self.logs.items()
        }
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="kafka-relay-read")
        self.status = RelayStatus(enabled=True)
        self.stopping = threading.Event()
        self.waiter = NotifyWaiter()  # sleeps on the LISTEN connection; stop() wakes it
        self.marker_topic = f"{settings.topic_prefix}._relay"
        # Under the database's setup lock: a relay starting beside another process (a second relay, `serve`)
        # would otherwise race it on CREATE TABLE IF NOT EXISTS, which PostgreSQL can fail on its catalogue keys.
        with platform.db.setup_lock(), platform.db.pool.connection() as conn:
            for statement in DDL:
                conn.execute(unless_present(statement))

    @property
    def sources(self) -> list[str]:
        return list(self.platform.engine.applications)

    def stop(self) -> None:
        self.stopping.set()
        self.waiter.wake()

    def _first_event(self, source: str, aggregate_id: str) -> tuple[str, bytes] | None:
        with self.platform.db.pool.connection() as conn:
            return first_event(conn, self.logs[source], aggregate_id)

    def close(self) -> None:
        """Wait for what was sent, then let go of the producer."""
        self.publisher.close()
        self._reader.shutdown(wait=False)
        self.waiter.close()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.platform.dsn, autocommit=True) as lock_conn:
                    self._lead(lock_conn)
            except Exception as exc:  # noqa: BLE001 - the database went away: stand down, try again.
                log.warning("relay.failed", error=f"{type(exc).__name__}: {exc}")
                self.status.leader = False
                self.stopping.wait(2.0)
        self.close()
        self.status.state = "stopped"

    def _lead(self, conn: psycopg.Connection[Any]) -> None:
        """Hold the leader lock on `conn` and publish; `conn` also LISTENs for the event store's commits."""
        while not self.stopping.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,)).fetchone()
            if row and row[0]:
                break
            self.status.leader = False
            self.stopping.wait(2.0)
        if self.stopping.is_set():
            return
        self.status.leader = True
        channels = {
            postgres_recorder(app).channel_name: source for source, app in self.platform.engine.applications.items()
        }
        for channel in channels:
            conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
        log.info("relay.leader_acquired", bootstrap=self.settings.bootstrap_servers)
        delay = 0.5
        epoch_checked = False
        due = set(self.sources)  # every source at first: commits before the LISTEN sent no notification here
        sweep_at = time.monotonic() + self.recheck
        while not self.stopping.is_set():
            try:
                if not epoch_checked:
                    self.check_epoch()
                    epoch_checked = True
                published = self.pump(due)
                self._healthy()
                delay = 0.5
                due = {source for source, count in published.items() if count}  # may have more
                if not due:
                    due = self._committed(conn, channels, max(sweep_at - time.monotonic(), 0.0))
                if time.monotonic() >= sweep_at:
                    due = set(self.sources)
                    sweep_at = time.monotonic() + self.recheck
            except PublishFailed as exc:
                self._degraded(str(exc))
                epoch_checked = False  # The broker may come back empty: check before publishing more.
                due = set(self.sources)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.backoff_max)

    def _committed(self, conn: psycopg.Connection[Any], channels: dict[str, str], timeout: float) -> set[str]:
        """Wait up to `timeout` for the next commit notification; the sources that committed."""
        woken: set[str] = set()
        deadline = time.monotonic() + timeout
        while not woken and not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            woken.update(channels[n.channel] for n in self.waiter.wait(conn, left))  # stop() wakes it
        return woken

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

    def pump(self, sources: Iterable[str] | None = None) -> dict[str, int]:
        """Publish what is new in `sources` (every source by default), a bounded pass each; events published per
        source."""
        positions = self.positions()
        chosen = list(sources or self.sources)
        heads = self.heads(chosen)
        published = {}
        for source in chosen:
            position = positions.get(source, 0)
            if heads.get(source, 0) <= position:  # nothing new: no read, no pass (one query for every source)
                self.status.lag[source] = 0
                published[source] = 0
            else:
                published[source] = self._relay(source, position)
        return published

    def heads(self, sources: Iterable[str]) -> dict[str, int]:
        """The newest notification id of each source (0 when it has none), in one round trip."""
        parts = [
            SQL("SELECT {} AS source, max(notification_id) AS head FROM {}.{}").format(
                Literal(source), Identifier(self.logs[source].schema), Identifier(self.logs[source].table)
            )
            for source in sources
        ]
        if not parts:
            return {}
        with self.platform.db.pool.connection() as conn:
            rows = conn.execute(SQL(" UNION ALL ").join(parts)).fetchall()
        return {r["source"]: r["head"] or 0 for r in rows}

    def _relay(self, source: str, position: int) -> int:
        """Stream up to BATCHES_PER_PASS batches of one source; its position moves as the broker acknowledges them.

        Up to AHEAD batches travel unacknowledged while the next is read (PostgreSQL building its envelopes). The
        cyclic garbage collector is paused meanwhile: a pass makes a dozen containers a record (rows, records,
        the producer's futures and their locks), all freed by reference counting once acknowledged, and the
        collections they set off walked every long-lived object of the process for none of it.
        """
        with collector_paused():
            return self._relay_paused(source, position)

    def _relay_paused(self, source: str, position: int) -> int:
        reader = self.readers[source]
        in_flight: deque[tuple[int, int, Sent]] = deque()
        published = 0

        def acknowledge(keep: int) -> None:
            nonlocal position, published
            while len(in_flight) > keep:
                last, count, sent = in_flight.popleft()
                self.publisher.wait(sent)
                with self.platform.db.pool.connection() as conn:
                    conn.execute(
                        "INSERT INTO ops.relay_positions (source, position) VALUES (%s, %s) "
                        "ON CONFLICT (source) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
                        (source, last),
                    )
                position, published = last, published + count
                self.status.published += count

        def fetch_after(after: int, plain: list[str]) -> list[tuple[Any, ...]]:
            with self.platform.db.pool.connection() as conn:
                return reader.fetch(conn, after, self.batch, plain)

        # The next batch's rows are fetched (PostgreSQL building their envelopes, the GIL free) while this one's
        # records are built and handed over.
        upcoming: Future[list[tuple[Any, ...]]] | None = self._reader.submit(fetch_after, position, list(reader.plain))
        try:
            for _ in range(BATCHES_PER_PASS):
                rows = upcoming.result() if upcoming is not None else []
                upcoming = None
                if not rows:
                    break
                read = reader.last(rows, position)
                if len(rows) == self.batch:  # more may follow
                    upcoming = self._reader.submit(fetch_after, read, list(reader.plain))
                _, records = reader.build(rows, read)
                in_flight.append((read, len(records), self.publisher.send(records)))
                acknowledge(keep=AHEAD)
                if upcoming is None:
                    break  # caught up
        finally:
            if upcoming is not None and not upcoming.cancel():
                upcoming.exception()  # a read in progress finishes before the next pass starts one
        if in_flight:
            self.publisher.flush()  # the last batch leaves now, not after the producer's linger
            acknowledge(keep=0)
        head = self.platform.engine.applications[source].recorder.max_notification_id() or 0
        self.status.lag[source] = max(head - position, 0)
        return published

    def _healthy(self) -> None:
        if self.status.state != "ok":
            now = datetime.now().astimezone()
            if self.status.state == "degraded" and self.status.since is not None:
                log.info(
                    "relay.broker_up",
                    bootstrap=self.settings.bootstrap_servers,
                    down_seconds=round((now - self.status.since).total_seconds(), 1),
                )
            else:
                log.info("relay.publishing", bootstrap=self.settings.bootstrap_servers)
            self.status.since = now
        self.status.state = "ok"
        self.status.error = None

    def _degraded(self, error: str) -> None:
        if self.status.state != "degraded":
            log.warning(
                "relay.broker_down",
                bootstrap=self.settings.bootstrap_servers,
                error=error,
                lag=sum(self.status.lag.values()),
                retry_max_seconds=self.backoff_max,
            )
            self.status.since = datetime.now().astimezone()
        self.status.state = "degraded"
        self.status.error = error


def relay_lag(platform: Platform) -> dict[str, int]:
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
        published = sum(relay.pump().values())
        total += published
        if not published:
            return total
    raise TimeoutError(f"relay did not catch up within {timeout:.0f} s")
