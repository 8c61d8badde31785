"""The relay's records as PostgreSQL builds them are the records the Python envelope builds, byte for byte."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.shared.aggregate import SECRET_FIELDS
from tests.conftest import make_tenant
from workers.relay_envelopes import (
    BrandLookup,
    LogTable,
    RecordReader,
    envelope,
    first_event,
    log_tables,
    read_log,
    standalone_mapper,
)

DETAILS_UPDATED = "domain.customers.customer:CustomerRecord.DetailsUpdated"


def _compare(conn: psycopg.Connection[Any], source: str, log: LogTable) -> tuple[int, RecordReader]:
    """Read `log` with a RecordReader and with read_log + envelope; assert the records equal; how many."""
    mapper = standalone_mapper()
    brands = BrandLookup(lambda _, aggregate_id: first_event(conn, log, aggregate_id))
    reader, compared = RecordReader(source, log, "cd", brands, mapper), 0
    # Twice: the first pass meets each topic for the first time (the general path), the second has PostgreSQL
    # build the records of the topics it now knows.
    for _ in range(2):
        position = 0
        while True:
            read, built = reader.read(conn, position, 7)
            rows = read_log(conn, log, position, 7)
            assert len(built) == len(rows)
            if not rows:
                break
            position = rows[-1].id
            assert read == position
            for record, row in zip(built, rows, strict=True):
                assert record == envelope(source, row, brands, "cd", mapper), row
                compared += 1
    return compared, reader


def test_every_context_s_records_built_in_postgresql_equal_the_python_envelopes(platform: Any) -> None:
    tenant = make_tenant(platform)  # a brand (its own brand: the Brand.Created case), its staff and keys
    for i in range(3):
        result = platform.get(Customers).register(tenant.brand_id, name=f"Sql Borrower {i}", phone=f"98{i:08d}")
        platform.get(Customers).update_details(tenant.brand_id, result.id, email=f"sql{i}@example.in")  # no brand_id
    with platform.db.pool.connection() as conn:
        for source, log in log_tables(platform).items():
            compared, reader = _compare(conn, source, log)
            assert not compared or reader.plain, f"{source}: PostgreSQL built none of the records"
            if source in ("customers", "identity"):  # the borrowers' events; the brand's and its staff's
                assert compared >= 2 * 4


def test_stored_json_the_envelope_cannot_splice_takes_the_general_path_with_the_same_records(platform: Any) -> None:
    tenant = make_tenant(platform)
    borrower = platform.get(Customers).register(tenant.brand_id, name="Sql Edge", phone="9870000001").id
    customers = log_tables(platform)["customers"]
    with platform.db.pool.connection() as conn:
        # A private copy of the log, with stored events as an older release or another writer may have left them.
        conn.execute(
            f'CREATE TEMP TABLE relay_edge AS SELECT * FROM "{customers.schema}"."{customers.table}"'
            " WHERE originator_id = %s",
            (borrower,),
        )
        try:
            last = conn.execute("SELECT max(notification_id) AS n FROM relay_edge").fetchone()["n"]
            for offset, state in enumerate(
                [
                    {"class_version": 1, "timestamp": "2026-11-30T06:00:00Z", "actor": "cli", "email": "x@a.in"},
                    {"timestamp": "2026-11-30T06:01:00Z", "trace_id": "req-7", "actor": None, "email": "y@a.in"},
                    {},
                    {"timestamp": "2026-11-30T06:02:00Z", "trace_id": "", "email": "z@a.in"},
                ],
                start=1,
            ):
                conn.execute(
                    "INSERT INTO relay_edge (originator_id, originator_version, topic, state, notification_id)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (borrower, 1 + offset, DETAILS_UPDATED, json.dumps(state).encode(), last + offset),
                )
            compared, reader = _compare(conn, "customers", LogTable("pg_temp", "relay_edge"))
            assert compared == 2 * 5 and DETAILS_UPDATED in reader.plain
            _, built = reader.read(conn, 0, 100)
        finally:
            conn.execute("DROP TABLE relay_edge")
    values = [json.loads(record.value) for record in built]
    assert [v["aggregate_version"] for v in values] == [1, 2, 3, 4, 5]
    assert values[1]["payload"]["email"] == "x@a.in" and "class_version" not in values[1]["payload"]
    assert values[2]["actor"] is None and values[2]["brand_id"] == str(tenant.brand_id)
    assert dict(built[2].headers)["trace_id"] == b"req-7"
    assert values[3]["payload"] == {"originator_id": str(borrower), "originator_version": 4}
    assert values[3]["actor"] == "system" and values[3]["occurred_at"] is None
    assert dict(built[4].headers)["trace_id"] == values[4]["event_id"].encode()  # an empty trace: the event id


def test_events_that_store_a_credential_are_published_without_it_on_both_paths(platform: Any) -> None:
    """Password, invite and API-key hashes stay out of the records PostgreSQL and Python build alike: PostgreSQL hands
    such an event to the general path, which withholds the credential and keeps the rest as stored."""
    tenant = make_tenant(platform)  # a key: ApiKey.Issued with its secret_hash
    identity = platform.get(Identity)
    for i in range(2):
        tag = uuid.uuid4().hex[:8]
        identity.create_staff(
            tenant.brand_id,
            f"sql-pw-{tag}@example.in",
            f"Sql Staff {i}",
            ["credit_executive"],
            password="Correct-Horse-42",
            granter=OPERATOR,
        )
        invited = identity.create_staff(
            tenant.brand_id,
            f"sql-inv-{tag}@example.in",
            f"Sql Invitee {i}",
            ["credit_executive"],
            invite=True,
            granter=OPERATOR,
        )
        assert invited.invite is not None
        identity.accept_invite(invited.invite.code, "Battery-Staple-42")
    log = log_tables(platform)["identity"]
    with platform.db.pool.connection() as conn:
        compared, reader = _compare(conn, "identity", log)  # byte for byte, twice (PostgreSQL knowing the topics)
        rows = read_log(conn, log, 0, 1_000_000)
        fetched = reader.fetch(conn, 0, 1_000_000)
        _, built = reader.build(fetched, 0)
    assert compared == 2 * len(rows)
    credentials = {row.id for row in rows if SECRET_FIELDS & set(json.loads(row.state))}
    hashes = {v for row in rows for k, v in json.loads(row.state).items() if k in SECRET_FIELDS and v}
    assert len(credentials) >= 7 and len(hashes) >= 7  # a key; per round a password, an invite, the accepted one
    assert {row.topic for row in rows if row.id in credentials} <= set(reader.plain)  # PostgreSQL knows them ...
    assert all((row[-1] is not None) == (row[0] in credentials) for row in fetched)  # ... and hands them over
    for record, row in zip(built, rows, strict=True):
        payload = json.loads(record.value)["payload"]
        assert not SECRET_FIELDS & set(payload) and not [h for h in hashes if h.encode() in record.value], row.topic
        stored = {k: v for k, v in json.loads(row.state).items() if k not in SECRET_FIELDS}
        assert payload == {"originator_id": row.originator_id, "originator_version": row.originator_version, **stored}
