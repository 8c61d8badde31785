"""A worked example of an integration consumer: copy it.

    covenant-desk consume --topic covenant-desk.notices.notice --group my-service

- Joins a consumer group, so several copies share the partitions and a restarted copy resumes where the group
  committed.
- Commits offsets only after processing, so a crash re-delivers (at least once), never skips.
- Deduplicates by `event_id`: the relay may publish an event again after its own crash or a broker outage; the
  ids already processed are kept in a small SQLite file (`--state`), so repeats are dropped across restarts. An id
  is recorded only once its event is processed (`SeenEvents.once`): recorded first, a crash inside `process` left
  the redelivered event dropped as a repeat, never processed. Where `process` writes to a database of yours, record
  the id in the same transaction as its work, and it is processed exactly once.
- Per aggregate, events arrive in order (the record key is the aggregate id); `aggregate_version` lets a
  consumer check it (a repeat has a version it has already seen).

`process` is where an integrator's own work goes; here it prints one JSON line per new event.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaConsumer


class SeenEvents:
    """Event ids already processed, kept in SQLite so deduplication survives restarts."""

    def __init__(self, path: Path | None) -> None:
        self.db = sqlite3.connect(str(path) if path else ":memory:")
        self.db.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY)")

    def once(self, event: dict[str, Any], process: Callable[[dict[str, Any]], None]) -> bool:
        """Process the event unless its id was processed before (False), then record the id: a crash inside
        `process` records nothing, so the redelivered event is processed (at least once, never skipped)."""
        event_id = event["event_id"]
        if self.db.execute("SELECT 1 FROM seen WHERE event_id = ?", (event_id,)).fetchone() is not None:
            return False
        process(event)
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO seen (event_id) VALUES (?)", (event_id,))
        return True


def printer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    """The example's processing: one line per event."""

    def process(event: dict[str, Any]) -> None:
        summary = {k: event[k] for k in ("position", "type", "aggregate_id", "aggregate_version", "event_id", "actor")}
        out.write(json.dumps(summary) + "\n")
        out.flush()

    return process


def consume(
    bootstrap_servers: str,
    topics: Sequence[str],
    group: str,
    *,
    process: Callable[[dict[str, Any]], None],
    state: Path | None = None,
    from_beginning: bool = True,
    max_events: int | None = None,
    idle_exit: float | None = None,
) -> dict[str, int]:
    """Consume until stopped (or `max_events` new events, or `idle_exit` seconds without a record)."""
    seen = SeenEvents(state)
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        # Short timeouts: group joins and rebalances take seconds rather than minutes.
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=30000,
        max_poll_records=500,
    )
    counts = {"received": 0, "processed": 0, "duplicates": 0}
    last_record = time.monotonic()
    try:
        while max_events is None or counts["processed"] < max_events:
            batch = consumer.poll(timeout_ms=500)
            if not batch:
                if idle_exit is not None and time.monotonic() - last_record > idle_exit:
                    break
                continue
            last_record = time.monotonic()
            for records in batch.values():
                for record in records:
                    counts["received"] += 1
                    event = json.loads(record.value)
                    if seen.once(event, process):
                        counts["processed"] += 1
                    else:
                        counts["duplicates"] += 1
            consumer.commit()  # After processing: a crash before this line re-delivers, never skips.
    finally:
        consumer.close()
    return counts


def main(args: Any) -> int:
    """`covenant-desk consume`."""
    counts = consume(
        args.bootstrap,
        args.topic,
        args.group,
        process=printer(sys.stdout),
        state=Path(args.state) if args.state else None,
        from_beginning=not args.latest,
        max_events=args.max,
        idle_exit=args.idle_exit,
    )
    print(json.dumps(counts), file=sys.stderr)
    return 0
