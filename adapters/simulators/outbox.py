"""A simulator's outbox: every request it received and everything it sent, in order, for tests and the demo."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.shared.clock import Clock, SystemClock

REQUEST = "request"  # a request the simulator received (method, path, query, headers, body, json, status, fault)
WEBHOOK = "webhook"  # one attempt at delivering a webhook to us (url, event_id, type, attempt, status, error, ...)


@dataclass(frozen=True)
class OutboxRecord:
    """One thing a simulator received or sent: a `kind` (REQUEST, WEBHOOK or the simulator's own) and its facts."""

    seq: int
    kind: str
    at: datetime
    payload: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The record as JSON-ready values (served at /_sim/outbox)."""
        return {"seq": self.seq, "kind": self.kind, "at": self.at.isoformat(), "payload": self.payload}


class Outbox:
    """Thread-safe, ordered and bounded (the oldest records go first): a long demo keeps the latest `limit`."""

    def __init__(self, clock: Clock | None = None, limit: int = 10_000) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._records: deque[OutboxRecord] = deque(maxlen=limit)
        self._seq = 0
        self._changed = threading.Condition()

    def record(self, kind: str, **payload: Any) -> OutboxRecord:
        """Append a record stamped with the simulator's clock; returns it."""
        with self._changed:
            self._seq += 1
            entry = OutboxRecord(self._seq, kind, self._clock.now(), payload)
            self._records.append(entry)
            self._changed.notify_all()
            return entry

    def update(self, entry: OutboxRecord, **changes: Any) -> None:
        """Complete a record's payload (a request's status once answered) and wake anyone waiting."""
        with self._changed:
            entry.payload.update(changes)
            self._changed.notify_all()

    def records(self, kind: str | None = None, *, since: int = 0, **match: Any) -> list[OutboxRecord]:
        """Records after sequence number `since`, of `kind` when given, whose payload has every `match` value."""
        with self._changed:
            return [entry for entry in self._records if _matches(entry, kind, since, match)]

    def requests(self, path: str | None = None) -> list[OutboxRecord]:
        """The requests received, only those to `path` when given."""
        return self.records(REQUEST) if path is None else self.records(REQUEST, path=path)

    def webhooks(self, **match: Any) -> list[OutboxRecord]:
        """Every webhook delivery attempt, oldest first."""
        return self.records(WEBHOOK, **match)

    def wait_for(
        self, kind: str | None = None, *, count: int = 1, timeout: float = 10.0, since: int = 0, **match: Any
    ) -> list[OutboxRecord]:
        """Block until at least `count` matching records exist (a webhook is sent from another thread); returns them.

        Raises TimeoutError naming what was awaited when they do not come within `timeout` seconds.
        """
        with self._changed:
            found: list[OutboxRecord] = []

            def enough() -> bool:
                found[:] = [entry for entry in self._records if _matches(entry, kind, since, match)]
                return len(found) >= count

            if not self._changed.wait_for(enough, timeout=timeout):
                raise TimeoutError(f"{len(found)} of {count} {kind or 'records'} matching {match} after {timeout} s")
            return list(found)

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest record (0 when none): pass it as `since` to see only newer ones."""
        with self._changed:
            return self._seq

    def clear(self) -> None:
        """Forget every record (sequence numbers keep counting)."""
        with self._changed:
            self._records.clear()

    def __len__(self) -> int:
        with self._changed:
            return len(self._records)


def _matches(entry: OutboxRecord, kind: str | None, since: int, match: dict[str, Any]) -> bool:
    if entry.seq <= since or (kind is not None and entry.kind != kind):
        return False
    return all(entry.payload.get(key) == value for key, value in match.items())
