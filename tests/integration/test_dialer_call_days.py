"""The collection dashboard's dialer calls are counted on the brand's local day, not the UTC day (a call placed after
18:30 UTC is on the next day in Asia/Kolkata)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.fieldwork.application import FieldWork
from domain.fieldwork.dialer import CallStatus, DialerCall
from domain.identity.application import Identity
from domain.shared.aggregate import with_id
from projections.collection_dashboard import CollectionDashboardQueries
from tests.support import settle

# UTC+14 and UTC-12: whatever the hour of the run, at least one of the two brands is on another day than UTC.
TIMEZONES = ("Etc/GMT-14", "Etc/GMT+12")


def test_a_call_is_counted_on_the_brands_local_day(platform: Any) -> None:
    identity, fieldwork = platform.get(Identity), platform.get(FieldWork)
    placed: list[tuple[uuid.UUID, uuid.UUID, str]] = []
    for timezone in TIMEZONES:
        brand = identity.create_brand(f"dial{uuid.uuid4().hex[:10]}", "Dialer Days", timezone=timezone)
        settle(platform, "identity", brand.position)
        staff_id = uuid.uuid4()
        call = with_id(DialerCall, uuid.uuid4(), brand_id=brand.id, loan_id=uuid.uuid4(), customer_id=uuid.uuid4(),
                       staff_id=staff_id, extension="2101", destination="9740012345", alternate=False,
                       provider_call_id=f"DAYS-{uuid.uuid4().hex}")  # fmt: skip
        settle(platform, FieldWork.name, fieldwork.commit(call).position)
        assert call.end(CallStatus.ANSWERED, 42, None, datetime.now(UTC), f"end-{call.id}")
        settle(platform, FieldWork.name, fieldwork.commit(call).position)
        placed.append((brand.id, staff_id, timezone))
    with platform.db.pool.connection() as conn:
        for brand_id, staff_id, timezone in placed:
            rows = conn.execute(
                "SELECT day, calls, answered, talk_seconds FROM read.dialer_call_days WHERE brand_id = %s "
                "AND staff_id = %s",
                (brand_id, staff_id),
            ).fetchall()
            placed_at = conn.execute(
                "SELECT placed_at FROM read.dialer_calls WHERE brand_id = %s", (brand_id,)
            ).fetchone()["placed_at"]
            local = placed_at.astimezone(ZoneInfo(timezone)).date()
            assert [(r["day"], r["calls"], r["answered"], r["talk_seconds"]) for r in rows] == [(local, 1, 1, 42)]
    dashboard = CollectionDashboardQueries(platform.db.pool)
    for brand_id, staff_id, _ in placed:
        # The window starts on the brand's local day of `since`: a call placed after it is counted.
        calls = dashboard.calls_per_executive(brand_id, datetime.now(UTC))
        assert [(c.staff_id, c.calls, c.answered) for c in calls] == [(staff_id, 1, 1)]


def test_a_calls_end_is_counted_on_the_day_its_placing_was() -> None:
    """The day a call's end was counted on was worked out again from the brand's timezone history at the end: a
    timezone change the brand directory projected between the two (its runner behind, or being rebuilt) moved the
    end to another day, where its answer and talk time were lost. The call keeps the day it was counted on."""
    from adapters.postgres import Database
    from projections.batch_writes import _PipelinedWrites
    from projections.fieldwork import FieldworkView
    from tests.support import drop_database, fresh_database_dsn

    at = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # 8 Dec 01:30 in Asia/Kolkata; 7 Dec 08:00 at UTC-12
    brand, staff_id = uuid.uuid4(), uuid.uuid4()
    call = with_id(DialerCall, uuid.uuid4(), brand_id=brand, loan_id=uuid.uuid4(), customer_id=uuid.uuid4(),
                   staff_id=staff_id, extension="2101", destination="9740012345", alternate=False,
                   provider_call_id=f"DAYS-{uuid.uuid4().hex}")  # fmt: skip
    assert call.end(CallStatus.ANSWERED, 42, None, at, f"end-{call.id}")
    placed, ended = call.collect_events()
    placed = placed.model_copy(update={"timestamp": at})
    own = fresh_database_dsn("cd_test_dialer_call_days")
    db = Database(own, min_size=1, max_size=2)
    try:
        db.ensure_schemas()
        view = FieldworkView()

        def project(position: int, event: Any) -> None:
            with db.pool.connection() as conn, conn.transaction(), _PipelinedWrites(conn) as out:
                for change in view.project(position, event):
                    out.send(change)

        with db.pool.connection() as conn:
            view.create(conn)
        project(1, placed)  # no timezone history yet: Asia/Kolkata, 8 Dec
        with db.pool.connection() as conn:  # the brand's timezone, projected late
            conn.execute("CREATE TABLE read.brands (id uuid, timezone text)")
            conn.execute("CREATE TABLE read.brand_timezones (brand_id uuid, since timestamptz, timezone text)")
            conn.execute("INSERT INTO read.brand_timezones VALUES (%s, '-infinity', 'Etc/GMT+12')", (brand,))
        project(2, ended)
        with db.pool.connection() as conn:
            rows = conn.execute("SELECT day, calls, answered, talk_seconds FROM read.dialer_call_days").fetchall()
        assert [(str(r["day"]), r["calls"], r["answered"], r["talk_seconds"]) for r in rows] == [
            ("2026-12-08", 1, 1, 42)
        ]
    finally:
        db.close()
        drop_database(own)
