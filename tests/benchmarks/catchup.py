"""Projection catch-up: rebuild the customer directory from an event store of N borrower events.

The events are written in big saves (many aggregates per save()): 80% are
registrations, the rest details updates, alternate phones and linked loans of
already registered borrowers, so the rebuild runs INSERTs and UPDATEs. The
baseline is the raw rate of reading the same notifications from the event
store (select_notifications in the same batch size, no decoding, no writes),
so the ratio shows what decoding, projecting and writing cost on top of the read.

For reference (no target), eventsourcing's own `ProjectionRunner` does the same
job on the same data for a fixed time (`library_runner.py`: our projector's
writes, one transaction per event with its tracking record, as the library's
runner works), before the rebuild replaces what it wrote.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

from adapters.postgres import Database, eventsourcing_env
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.customers.values import Address
from projections.customers import CustomerDirectory
from projections.engine import ProjectionEngine
from tests.benchmarks.data import BorrowerFactory
from tests.benchmarks.harness import Verdict, fresh_database, say
from tests.benchmarks.library_runner import run_library

TARGET_EVENTS_PER_SECOND = 40_000
SAVE_SIZE = 2_000  # aggregates per save() while loading
BATCH = 5_000  # the engine's rebuild batch


def _write_events(app: Customers, total: int, seed: int = 7) -> dict[str, int]:
    """Append `total` CustomerRecord events in big saves; return how many of each kind."""
    factory = BorrowerFactory(seed=seed)
    rng = random.Random(seed)
    brands = [uuid.uuid4() for _ in range(3)]
    kinds = {"registered": 0, "details_updated": 0, "alternate_phone_added": 0, "loan_number_linked": 0}
    written = 0
    while written < total:
        size = min(SAVE_SIZE, total - written)
        registrations = max(size * 4 // 5, 1)
        records = [
            CustomerRecord(
                brand_id=rng.choice(brands),
                name=b.name,
                phone=b.phone,
                addresses=[Address(line1="12 MG Road", city=b.city, state=b.state, pincode=b.pincode)],
                loan_numbers=list(b.loan_numbers),
                email=b.email,
                pan=b.pan,
            )
            for b in factory.borrowers(registrations)
        ]
        kinds["registered"] += registrations
        for _ in range(size - registrations):  # Changes to borrowers registered in this save.
            record = rng.choice(records)
            roll = rng.random()
            if roll < 0.4:
                email = f"{record.name.split()[0].lower()}.{rng.randrange(10**7)}@mail.example.in"
                kinds["details_updated"] += int(record.update_details(email=email))
            elif roll < 0.7:
                record.add_alternate_phone(factory.phone(), rng.choice(["spouse", "father", "reference", None]))
                kinds["alternate_phone_added"] += 1
            else:
                record.link_loan_number(factory.loan_number())
                kinds["loan_number_linked"] += 1
        app.save(*records)
        written = sum(kinds.values())
    return kinds


def _read_all(app: Customers, topics: list[str], batch: int) -> Iterator[int]:
    """Read the whole notification log in batches like the engine does; yield batch sizes."""
    position = 0
    while True:
        notifications = app.recorder.select_notifications(
            start=position, limit=batch, topics=topics, inclusive_of_start=False
        )
        if not notifications:
            return
        position = notifications[-1].id
        yield len(notifications)


def run(quick: bool) -> list[Verdict]:
    """Load N events, time a full rebuild of customer_directory, compare with a raw read of the log."""
    total = 20_000 if quick else 200_000
    say(f"== 2. Projection catch-up (rebuild customer_directory from {total:,} borrower events)")
    with fresh_database("cd_bench_catchup") as dsn:
        db = Database(dsn, min_size=1, max_size=4)
        db.ensure_schemas()
        app = Customers(env=eventsourcing_env(dsn))
        try:
            directory = CustomerDirectory()
            engine = ProjectionEngine(db.pool, {"customers": app}, [directory])
            engine.setup()

            began = time.perf_counter()
            kinds = _write_events(app, total)
            load_seconds = time.perf_counter() - began
            with db.pool.connection() as conn:
                conn.execute("VACUUM ANALYZE events.customers_events")
            say(
                f"   loaded {sum(kinds.values()):,} events in {load_seconds:.1f} s "
                f"({sum(kinds.values()) / load_seconds:,.0f} events/s in saves of {SAVE_SIZE} aggregates): "
                + ", ".join(f"{k} {v:,}" for k, v in kinds.items())
            )

            topics = list(directory.topics)
            sum(_read_all(app, topics, BATCH))  # Warm the cache the same way for both readers.
            began = time.perf_counter()
            read = sum(_read_all(app, topics, BATCH))
            read_seconds = time.perf_counter() - began

            began = time.perf_counter()
            decoded = 0
            position = 0
            while True:
                notifications = app.recorder.select_notifications(
                    start=position, limit=BATCH, topics=topics, inclusive_of_start=False
                )
                if not notifications:
                    break
                for notification in notifications:
                    app.mapper.to_domain_event(notification)
                decoded += len(notifications)
                position = notifications[-1].id
            decode_seconds = time.perf_counter() - began

            # The library's runner, for a fixed time (it would take minutes to the end); the rebuild then starts over.
            library_done, library_seconds = run_library(eventsourcing_env(dsn), 4.0 if quick else 15.0)

            began = time.perf_counter()
            replayed = engine.rebuild(directory.name, batch=BATCH)
            rebuild_seconds = time.perf_counter() - began
            with db.pool.connection() as conn:
                rows = conn.execute("SELECT count(*) AS n FROM read.customers").fetchone()
            status = {s.name: s for s in engine.status()}[directory.name]
        finally:
            app.close()
            db.close()

    if rows is None or rows["n"] != kinds["registered"] or status.lag != 0:
        raise AssertionError(f"rebuild incomplete: {rows} rows for {kinds['registered']} borrowers, lag {status.lag}")
    read_rate = read / read_seconds
    decode_rate = decoded / decode_seconds
    rebuild_rate = replayed / rebuild_seconds
    say(f"   raw read of the log (baseline)   {read_rate:9,.0f} events/s  ({read:,} in {read_seconds:.2f} s)")
    say(f"   read + decode to domain events   {decode_rate:9,.0f} events/s  ({decoded:,} in {decode_seconds:.2f} s)")
    say(
        f"   rebuild (read, decode, project, write, track)"
        f" {rebuild_rate:9,.0f} events/s  ({replayed:,} in {rebuild_seconds:.2f} s)"
        f"   ratio to raw read {rebuild_rate / read_rate:.2f}"
    )
    say(
        f"   eventsourcing ProjectionRunner (reference, no target) {library_done / library_seconds:9,.0f} events/s"
        f"  ({library_done:,} in {library_seconds:.1f} s, one transaction per event)"
    )
    say(f"   read.customers has {rows['n']:,} rows; projection lag 0; batch {BATCH:,} events per transaction")
    return [Verdict("catchup", "rebuild events/s", rebuild_rate, TARGET_EVENTS_PER_SECOND, True, " ev/s")]
