"""The activity log copies events stored as their class's JSON into their rows in SQL (`ActivityLog.applies_stored`):
every source's activity rows must be exactly those that decoding each event and projecting it in Python gives, on the
demo's varied events (brands, staff, borrowers, covenants, products, loans, onboarding), in batches small enough that
an aggregate's brandless events find their brand in an earlier batch and in big ones where it is in the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.utils import resolve_topic

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from projections.activity import _BASE_FIELDS, ActivityLog
from projections.engine import _events_table
from tests.support import copy_database_dsn, drop_database
from workers.platform import Platform
from workers.seed import seed_demo


@pytest.fixture(scope="module")
def seeded(platform_template: str) -> Iterator[Platform]:
    dsn = copy_database_dsn(platform_template, "cd_test_activity")
    platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
    try:
        seed_demo(platform, borrowers=48)
        yield platform
    finally:
        platform.close()
        drop_database(dsn)


def _rows(platform: Platform, source: str) -> list[tuple[Any, ...]]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT position, brand_id, occurred_at, actor, aggregate_type, aggregate_id, event_type, summary, details "
            "FROM read.activity WHERE source = %s ORDER BY position",
            (source,),
        ).fetchall()
    return [tuple(r.values()) for r in rows]


def _strip_a_defaulted_field(platform: Platform, source: str) -> int:
    """Take an optional field out of some stored events' JSON, as events stored before it was added lack it: the
    decoded event has its default in its details, so the stored path must give it too. Returns how many."""
    app = platform.engine.applications[source]
    table = _events_table(app)
    stripped = 0
    with platform.db.pool.connection() as conn:
        topics = [r["topic"] for r in conn.execute(f"SELECT DISTINCT topic FROM {table}").fetchall()]
        for topic in topics:
            cls = resolve_topic(topic)
            optional = [n for n, f in cls.model_fields.items() if not f.is_required() and n not in _BASE_FIELDS]
            if not optional or cls.class_version != 1:
                continue
            stripped += conn.execute(
                f"UPDATE {table} SET state = convert_to((convert_from(state, 'UTF8')::jsonb - %s)::text, 'UTF8') "
                f"WHERE notification_id IN (SELECT notification_id FROM {table} WHERE topic = %s LIMIT 2)",
                (optional[0], topic),
            ).rowcount
    return stripped


def test_stored_rows_equal_decoded_rows(seeded: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = seeded
    activity = {name: p for name, p in platform.engine.projections.items() if isinstance(p, ActivityLog)}
    assert len(activity) >= 10
    stripped = sum(_strip_a_defaulted_field(platform, p.source) for p in activity.values())
    assert stripped > 0

    stored_positions: list[int] = []
    original = ActivityLog.stored_writes

    def counting(self: ActivityLog, events_table: str, positions: list[int]) -> Any:
        stored_positions.extend(positions)
        return original(self, events_table, positions)

    compared = 0
    for name, projection in activity.items():
        with monkeypatch.context() as patch:
            patch.setattr(ActivityLog, "stored_writes", counting)
            platform.engine.rebuild(name, batch=7)
            small = _rows(platform, projection.source)
            platform.engine.rebuild(name, batch=5000)
            big = _rows(platform, projection.source)
        with monkeypatch.context() as patch:
            patch.setattr(ActivityLog, "applies_stored", lambda self, topic, state: False)
            platform.engine.rebuild(name, batch=5000)
            decoded = _rows(platform, projection.source)
        assert small == decoded, name
        assert big == decoded, name
        compared += len(decoded)
    assert compared > 200
    assert len(stored_positions) > compared  # most events took the stored path (both stored rebuilds count)
    with platform.db.pool.connection() as conn:
        brandless = conn.execute(
            "SELECT count(*) AS n FROM read.activity WHERE NOT details ? 'brand_id' AND event_type <> 'Created'"
        ).fetchone()
    assert brandless is not None and brandless["n"] > 0  # events without a brand of their own found one
