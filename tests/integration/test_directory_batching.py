"""The customer directory gathers a batch's changes per row and writes them in a few statements: a rebuild in big
batches must give exactly the read model that event-at-a-time processing gives, on a generated stream with many
changes to the same row within one batch (and across batches)."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg
import pytest

from adapters.postgres import Database, eventsourcing_env
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.customers.values import Address
from projections.customers import CustomerDirectory, _BatchEffects, name_positions
from projections.engine import ProjectionEngine
from projections.projection import Projection
from tests.support import drop_database, fresh_database_dsn

#: Staff ids the generated stream's borrowers are owned by and moved between (owning agents).
AGENTS = tuple(uuid.UUID(int=0xA9E47 + i) for i in range(3))
FIRST = ("Asha", "Ravi", "Meena", "Arjun", "Kavya", "Imran", "Lakshmi", "Joseph")
LAST = ("Kulkarni", "Iyer", "Reddy", "Khan", "Das", "Nair", "Venkata Naga Sai", "Rao")
TABLES = {
    "read.customers": "SELECT * FROM read.customers ORDER BY id",
    "read.customer_name_vocabulary": "SELECT * FROM read.customer_name_vocabulary ORDER BY brand_id, word, place",
}


@contextmanager
def customers_store(prefix: str, *projections: Projection) -> Iterator[tuple[Customers, ProjectionEngine, Database]]:
    """A fresh database with the customers event store and an engine holding `projections` (set up), dropped after."""
    dsn = fresh_database_dsn(prefix)
    db = Database(dsn, min_size=1, max_size=3)
    db.ensure_schemas()
    app = Customers(env=eventsourcing_env(dsn))
    try:
        engine = ProjectionEngine(db.pool, {"customers": app}, list(projections))
        engine.setup()
        yield app, engine, db
    finally:
        app.close()
        db.close()
        drop_database(dsn)


@pytest.fixture
def directory_store() -> Iterator[tuple[Customers, ProjectionEngine, Database]]:
    with customers_store("cd_test_batching", CustomerDirectory()) as store:
        yield store


def _change(record: CustomerRecord, rng: random.Random, serial: list[int]) -> None:
    """One random change through the record's commands (a valid history, as the aggregate holds it)."""
    serial[0] += 1
    n = serial[0]
    roll = rng.random()
    if roll < 0.12:
        record.update_details(name=f"{rng.choice(FIRST)} {rng.choice(LAST)}")  # a rename moves vocabulary counts
    elif roll < 0.3:
        record.update_details(
            email=rng.choice([f"b{n}@example.in", None]),
            phone=rng.choice([f"+9198{n:08d}", None]),
            pan=rng.choice([f"ABCDE{n % 10_000:04d}F", None]),
            date_of_birth=rng.choice([date(1980, 1, 1 + n % 28), None]),
            addresses=rng.choice([[Address(line1=f"{n} MG Road", city="Pune", pincode="411001")], None]),
        )
    elif roll < 0.55 and len(record.alternate_phones) < 10:
        record.add_alternate_phone(f"+9197{n:08d}", rng.choice(["spouse", None]))
    elif roll < 0.7 and record.alternate_phones:
        record.remove_alternate_phone(rng.choice(list(record.alternate_phones)))
    elif roll < 0.76:
        record.link_loan_number(f"SM{n:07d}")
    elif roll < 0.82 and record.loan_numbers:
        # Unlinked: out of the stored numbers, or of those the same batch linked (and maybe linked again later).
        record.unlink_loan_number(rng.choice(record.loan_numbers), f"unlinked {n}")
    elif roll < 0.82:
        record.link_loan_number(f"SM{n:07d}")
    elif roll < 0.9:
        record.assign_agent(rng.choice([a for a in AGENTS if a != record.agent_id]), f"moved {n}")
    else:
        record.assign_number(f"B-C-{n:06d}")


def _write_stream(app: Customers, seed: int = 11) -> list[CustomerRecord]:
    """Saves of new borrowers with several changes each, then saves changing borrowers of earlier saves."""
    rng = random.Random(seed)
    brands = [uuid.uuid4() for _ in range(2)]
    serial = [0]
    everyone: list[CustomerRecord] = []
    for _ in range(4):
        records = [
            CustomerRecord(
                brand_id=rng.choice(brands),
                name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                phone=f"+9199{len(everyone) * 100 + i:08d}",
                addresses=[Address(line1="12 MG Road", city="Pune", pincode="411001")],
                loan_numbers=[f"CD{len(everyone) * 100 + i:07d}"],
                pan=rng.choice([None, f"PQRST{i:04d}Z"]),
                agent_id=rng.choice([None, *AGENTS]),
            )
            for i in range(60)
        ]
        for _ in range(240):  # about four changes a borrower, in one save with the registrations
            _change(rng.choice(records), rng, serial)
        app.save(*records)
        everyone.extend(records)
        earlier = everyone[:-60]
        if earlier:
            changed = rng.sample(earlier, 30)
            for _ in range(120):  # changes to borrowers of earlier saves, several to the same row
                _change(rng.choice(changed), rng, serial)
            app.save(*changed)
    # A removal of a phone added twice before (the events' order alone decides the row): raw events, no command.
    odd = everyone[0]
    odd._alternate_phone_added(phone="+919700000001", label="x")  # type: ignore[attr-defined]
    odd._alternate_phone_added(phone="+919700000001", label="y")  # type: ignore[attr-defined]
    odd._alternate_phone_removed(phone="+919700000001")  # type: ignore[attr-defined]
    odd._alternate_phone_added(phone="+919700000001", label="z")  # type: ignore[attr-defined]
    app.save(odd)
    # A number unlinked and linked again in one save (last in the row), one linked and unlinked in the same save.
    odd.link_loan_number("RL0000001")
    app.save(odd)
    odd.unlink_loan_number("RL0000001", "wrong borrower")
    odd.link_loan_number("RL0000002")
    odd.link_loan_number("RL0000001")
    odd.unlink_loan_number("RL0000002", "wrong borrower")
    app.save(odd)
    assert odd.loan_numbers[-1] == "RL0000001" and "RL0000002" not in odd.loan_numbers
    return everyone


def _tables(db: Database) -> dict[str, list[Any]]:
    with db.pool.connection() as conn:
        return {table: conn.execute(sql).fetchall() for table, sql in TABLES.items()}


def test_a_batched_rebuild_gives_the_read_model_of_event_at_a_time_processing(
    directory_store: tuple[Customers, ProjectionEngine, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, engine, db = directory_store
    records = _write_stream(app)
    head = engine.head("customers")
    assert head > 1_500

    # The reference: each event its own batch and transaction, every event decoded and projected in Python (the
    # batched rebuilds below insert the registrations in SQL from the event store: `applies_stored`).
    with monkeypatch.context() as python_only:
        python_only.setattr(CustomerDirectory, "applies_stored", lambda self, topic, state: False)
        assert engine.rebuild("customer_directory", batch=1) == head
    one_at_a_time = _tables(db)
    for batch in (7, 250, 5_000):  # batches cut saves apart, hold a save, and hold the whole stream
        assert engine.rebuild("customer_directory", batch=batch) == head
        assert _tables(db) == one_at_a_time, f"batch of {batch} events"
    # New rows sent in small INSERTs as they fill, so later changes in the batch update rows sent already.
    monkeypatch.setattr(_BatchEffects, "ROWS", 16)
    assert engine.rebuild("customer_directory", batch=5_000) == head
    assert _tables(db) == one_at_a_time, "new rows sent 16 at a time"
    assert engine.rebuild("customer_directory", batch=1) == head  # the registrations in SQL, one at a time
    assert _tables(db) == one_at_a_time, "batches of one event, registrations in SQL"

    # And the read model is the borrowers' state (not merely the same mistakes twice): every row against its
    # aggregate, the vocabulary against the names' words.
    rows = {r["id"]: r for r in one_at_a_time["read.customers"]}
    assert len(rows) == len(records)
    assert {r["agent_id"] for r in rows.values()} == {None, *AGENTS}  # owned from the start, moved, and neither
    odd = records[0].id
    for stored in records:
        record = app.repository.get(stored.id)
        row = rows[record.id]
        assert (row["name"], row["name_key"], row["phone"], row["email"], row["pan"]) == (
            record.name, record.name.lower(), record.phone, record.email, record.pan,
        )  # fmt: skip
        assert (row["date_of_birth"], row["number"], row["agent_id"], row["version"]) == (
            record.date_of_birth, record.number, record.agent_id, record.version,
        )  # fmt: skip
        assert row["addresses"] == [a.model_dump(mode="json") for a in record.addresses]
        assert row["loan_numbers"] == record.loan_numbers
        if record.id != odd:  # (the odd record's raw events added one phone twice: its dict holds it once)
            assert row["alternate_numbers"] == list(record.alternate_phones)
            assert row["alternate_phones"] == [{"phone": p, "label": lb} for p, lb in record.alternate_phones.items()]
    assert rows[odd]["alternate_phones"][-1:] == [{"phone": "+919700000001", "label": "z"}]
    assert rows[odd]["alternate_numbers"].count("+919700000001") == 1
    words = Counter(
        (r["brand_id"], word, place) for r in rows.values() for word, place in name_positions(r["name_key"])
    )
    vocabulary = {(v["brand_id"], v["word"], v["place"]): v["borrowers"] for v in one_at_a_time[
        "read.customer_name_vocabulary"]}  # fmt: skip
    assert vocabulary == dict(words)


def _store_raw(app: Customers, record: CustomerRecord, **state: Any) -> int:
    """Append the record's first event with `state` over its stored JSON, straight through the recorder."""
    stored = app.mapper.to_stored_event(record.collect_events()[0])
    document = json.loads(stored.state) if state.pop("keep", True) else {}
    document.update(state)
    poisoned = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(document).encode(),
    )
    [position] = app.recorder.insert_events([poisoned])
    return position


def test_a_rebuild_isolates_events_that_do_not_decode_or_store_and_applies_the_rest(
    directory_store: tuple[Customers, ProjectionEngine, Database],
) -> None:
    app, engine, db = directory_store
    brand = uuid.uuid4()
    records = _write_stream(app)
    undecodable = _store_raw(
        app, CustomerRecord(brand_id=brand, name="Odd One", phone="+919600000001", addresses=[], loan_numbers=[]),
        keep=False, brand_id=str(brand),
    )  # fmt: skip
    records += _write_stream(app, seed=12)
    refused = _store_raw(  # decodes, but PostgreSQL cannot store the name
        app, CustomerRecord(brand_id=brand, name="Nul Name", phone="+919600000002", addresses=[], loan_numbers=[]),
        name="Nul\u0000Name",
    )  # fmt: skip
    head = engine.head("customers")

    # The batches with the bad events are applied again in halves, the two events recorded and skipped, and the
    # batches after them still apply; batches of another size give the same tables.
    assert engine.rebuild("customer_directory", batch=250) == head
    assert {(f.position, f.status) for f in engine.failures("customer_directory")} == {
        (undecodable, "failed"),
        (refused, "failed"),
    }
    tables = _tables(db)
    assert len(tables["read.customers"]) == len(records)
    assert engine.rebuild("customer_directory", batch=5_000) == head
    assert _tables(db) == tables


def _vocabulary_of_rows(tables: dict[str, list[Any]]) -> tuple[dict[Any, int], Counter[Any]]:
    """The vocabulary table, and the counts of the rows' name words it should hold."""
    vocabulary = {
        (v["brand_id"], v["word"], v["place"]): v["borrowers"] for v in tables["read.customer_name_vocabulary"]
    }
    words = Counter(
        (r["brand_id"], word, place) for r in tables["read.customers"] for word, place in name_positions(r["name_key"])
    )
    return vocabulary, words


def test_a_runner_catching_up_batch_by_batch_gives_the_tables_of_a_rebuild(
    directory_store: tuple[Customers, ProjectionEngine, Database],
) -> None:
    """A rebuild counts the name vocabulary once from its rows after the replay (its batches run two at a time and
    count none); a runner counts each batch's names as it goes, renames moving counts: the same tables."""
    app, engine, db = directory_store
    _write_stream(app)
    directory = engine.projection("customer_directory")
    with db.pool.connection() as conn:
        while engine.process_batch(conn, directory, limit=300):
            pass
    caught_up = _tables(db)
    vocabulary, words = _vocabulary_of_rows(caught_up)
    assert vocabulary and vocabulary == dict(words)
    assert engine.rebuild("customer_directory", batch=300) == engine.head("customers")
    assert _tables(db) == caught_up


def test_a_rebuild_cut_short_leaves_rows_and_vocabulary_that_agree(
    directory_store: tuple[Customers, ProjectionEngine, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batches committed before a failure stay (the runners go on from their position), and so the vocabulary
    the rebuild would have counted at its end is counted from the rows it has."""
    app, engine, db = directory_store
    _write_stream(app)
    recorder = type(app.recorder)
    read = recorder.select_notifications
    reads: list[int] = []

    def failing_read(self: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        if len(reads) > 3:
            raise psycopg.OperationalError("the event store went away")
        return read(self, *args, **kwargs)

    monkeypatch.setattr(recorder, "select_notifications", failing_read)
    with pytest.raises(psycopg.OperationalError):
        engine.rebuild("customer_directory", batch=300)
    [status] = engine.status()
    assert 0 < status.position < status.head
    tables = _tables(db)
    vocabulary, words = _vocabulary_of_rows(tables)
    assert tables["read.customers"] and vocabulary == dict(words)
