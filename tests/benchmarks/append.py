"""Append throughput: four writer threads saving one new borrower record per save() through the event store.

The baseline is what PostgreSQL does with the same rows and no event store:
single-row autocommit INSERTs of the same (uuid, int, text, bytea) payload into
a plain table from four threads. Contenders run in alternating rounds on the
same database so that machine noise hits each of them alike; the ratio is the
total rate of a recorder over the total rate of the raw inserts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from adapters.postgres import Database, eventsourcing_env
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from tests.benchmarks.data import Borrower, BorrowerFactory
from tests.benchmarks.harness import Rate, Verdict, fresh_database, run_threads, say, thread_handoff_us

WRITERS = 4
TARGET_RATIO = 0.8
GROUP_COMMIT = "adapters.group_commit:GroupCommitRecorder"
LIBRARY_DEFAULT = "eventsourcing.postgres:PostgresApplicationRecorder"
RAW_TABLE_DDL = (
    "CREATE TABLE bench_raw_events (id uuid NOT NULL, version int NOT NULL, topic text NOT NULL, state bytea NOT NULL)"
)
RAW_INSERT = "INSERT INTO bench_raw_events (id, version, topic, state) VALUES (%s, %s, %s, %s)"


@dataclass
class Contender:
    """One way of appending, with the rounds measured so far."""

    name: str
    step: Callable[[int], int]
    rounds: list[Rate]

    @property
    def total(self) -> Rate:
        return sum(self.rounds[1:], self.rounds[0])


def _register_step(app: Customers, brand_id: uuid.UUID, borrowers: list[list[Borrower]]) -> Callable[[int], int]:
    """A writer step: save one new CustomerRecord (its Registered event, ~330 bytes of JSON) alone.

    The records are built before the clock starts, as the raw baseline's rows are: what is timed is the
    append path (mapping to JSON, the recorder, PostgreSQL), not building domain objects.
    """
    pending = [
        [
            CustomerRecord(
                brand_id=brand_id,
                name=b.name,
                phone=b.phone,
                addresses=[],
                loan_numbers=list(b.loan_numbers),
                email=b.email,
                pan=b.pan,
            )
            for b in mine
        ]
        for mine in borrowers
    ]

    def step(worker: int) -> int:
        app.save(pending[worker].pop())
        return 1

    return step


def _raw_step(connections: list[psycopg.Connection[Any]], topic: str, state: bytes) -> Callable[[int], int]:
    """A writer step: one autocommit single-row INSERT of an event-sized row."""

    def step(worker: int) -> int:
        connections[worker].execute(RAW_INSERT, (uuid.uuid4(), 1, topic, state), prepare=True)
        return 1

    return step


def _sample_event(app: Customers, brand_id: uuid.UUID, borrower: Borrower) -> tuple[str, bytes]:
    """Topic and stored state of one real Registered event, so the raw rows weigh the same."""
    record = CustomerRecord(
        brand_id=brand_id,
        name=borrower.name,
        phone=borrower.phone,
        addresses=[],
        loan_numbers=list(borrower.loan_numbers),
        email=borrower.email,
        pan=borrower.pan,
    )
    stored = app.mapper.to_stored_event(record.collect_events()[0])
    return stored.topic, bytes(stored.state)


def run(quick: bool) -> list[Verdict]:
    """Measure append rates of the group-commit recorder, the library's recorder and raw INSERTs."""
    seconds = 2.0 if quick else 5.0
    rounds = 4 if quick else 10  # short alternating rounds: a burst of other load hits every contender
    round_seconds = seconds / rounds
    say(
        f"== 1. Append throughput ({WRITERS} writer threads, {seconds:g} s per contender in {rounds} alternating rounds)"
    )
    factory = BorrowerFactory(seed=1)
    # Enough records that no writer runs dry in its rounds (each writer saves a few thousand per second).
    borrowers = [list(factory.borrowers(25_000 if not quick else 8_000)) for _ in range(WRITERS)]
    brand_id = uuid.uuid4()
    with fresh_database("cd_bench_append") as dsn:
        db = Database(dsn, min_size=1, max_size=2)
        db.ensure_schemas()
        apps: dict[str, Customers] = {}
        connections: list[psycopg.Connection[Any]] = []
        try:
            for label, topic in (
                ("group-commit recorder", GROUP_COMMIT),
                ("library default recorder", LIBRARY_DEFAULT),
            ):
                env = eventsourcing_env(dsn, pool_size=WRITERS)
                env["APPLICATION_RECORDER_TOPIC"] = topic
                apps[label] = Customers(env=env)
            connections = [psycopg.connect(dsn, autocommit=True) for _ in range(WRITERS)]
            connections[0].execute(RAW_TABLE_DDL)
            event_topic, state = _sample_event(apps["group-commit recorder"], brand_id, borrowers[0][0])
            contenders = [
                Contender("raw INSERT (baseline)", _raw_step(connections, event_topic, state), []),
                Contender(
                    "group-commit recorder",
                    _register_step(apps["group-commit recorder"], brand_id, borrowers),
                    [],
                ),
                Contender(
                    "library default recorder",
                    _register_step(apps["library default recorder"], brand_id, borrowers),
                    [],
                ),
            ]
            for contender in contenders:  # Warm up connections, prepared statements and caches.
                run_threads(WRITERS, 0.3, contender.step)
            for _ in range(rounds):
                for contender in contenders:
                    contender.rounds.append(run_threads(WRITERS, round_seconds, contender.step))
        finally:
            for connection in connections:
                connection.close()
            for app in apps.values():
                app.close()
            db.close()

    raw = contenders[0].total.per_second
    say(f"   payload per row: {len(state)} bytes of event JSON + topic '{event_topic}'")
    for contender in contenders:
        per_round = ", ".join(f"{r.per_second:,.0f}" for r in contender.rounds)
        ratio = contender.total.per_second / raw if raw else 0.0
        say(
            f"   {contender.name:26s} {contender.total.per_second:9,.0f} events/s   ratio {ratio:4.2f}"
            f"   (rounds: {per_round})"
        )
    group_ratio = contenders[1].total.per_second / raw if raw else 0.0
    library_ratio = contenders[2].total.per_second / raw if raw else 0.0
    say(f"   library default recorder ratio {library_ratio:.2f} is for reference (no target)")
    say(f"   machine: {os.cpu_count()} CPUs; one event per save(), one aggregate per save()")
    # Between two groups the writers wake one another (a wake-up, then the GIL passed on): ~3 hand-offs a group in
    # series, where each raw writer's wake-ups overlap the others'. On a virtual machine whose other CPU is idle a
    # hand-off waits for the host to run that CPU, so a quiet hour gives a lower ratio than a busy one.
    across, one = thread_handoff_us(), thread_handoff_us(one_cpu=True)
    say(f"   thread hand-off round trip (lock ping-pong): {across:,.0f} us across CPUs, {one:,.0f} us on one CPU")
    return [Verdict("append", "group-commit events/s over raw INSERTs/s", group_ratio, TARGET_RATIO, True)]
