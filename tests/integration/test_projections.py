from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from domain.customers.application import Customers
from projections.customer_queries import CustomerQueries
from tests.conftest import make_tenant
from tests.support import settle


def _table(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def test_runner_follows_new_events_through_listen_notify(platform: Any, tenant: Any) -> None:
    result = platform.get(Customers).register(
        tenant.brand_id, name="Deepa Pillai", phone="97400 10001", loan_numbers=["SM700001"]
    )
    assert platform.engine.wait_for("customers", result.position, timeout=5)
    page = CustomerQueries(platform.db.pool).search(tenant.brand_id, "SM700001")
    assert [c.name for c in page.items] == ["Deepa Pillai"]


def test_rebuilt_projection_equals_the_live_one(private_platform: Any, private_dsn: str) -> None:
    # On a database of its own: the tables are compared whole, and the session's held every earlier test's borrowers
    # -- some written straight into read.customers (test_engagement_kill's), which no rebuild brings back.
    platform, dsn = private_platform, private_dsn
    tenant = make_tenant(platform)
    ids = [
        platform.get(Customers).register(tenant.brand_id, name=f"Rebuild Person {i}", phone=f"97400 2000{i}").id
        for i in range(5)
    ]
    platform.get(Customers).add_alternate_phone(tenant.brand_id, ids[0], "97400 29999", "brother")
    r = platform.get(Customers).update_details(tenant.brand_id, ids[1], email="p1@example.in", loan_numbers=["SM7100"])
    settle(platform, "customers", r.position)
    queries = {
        "customer_directory": "SELECT * FROM read.customers ORDER BY id",
        "customer_timeline": "SELECT * FROM read.customer_timeline ORDER BY customer_id, position",
    }
    for name, sql in queries.items():
        live = _table(dsn, sql)
        progress: list[tuple[int, int]] = []
        replayed = platform.engine.rebuild(name, lambda done, total, seen=progress: seen.append((done, total)))
        assert replayed >= r.position and progress and progress[-1][0] == replayed
        assert _table(dsn, sql) == live


def test_processing_a_batch_twice_applies_events_once(platform: Any, dsn: str, tenant: Any) -> None:
    r = platform.get(Customers).register(tenant.brand_id, name="Once Only", phone="97400 30001")
    settle(platform, "customers", r.position)
    projection = platform.engine.projection("customer_timeline")
    with platform.db.pool.connection() as conn:
        assert platform.engine.process_batch(conn, projection) == 0
    rows = _table(dsn, f"SELECT count(*) FROM read.customer_timeline WHERE customer_id = '{r.id}'")
    assert rows == [(1,)]


def test_status_reports_position_and_lag(platform: Any, tenant: Any) -> None:
    r = platform.get(Customers).register(tenant.brand_id, name="Lag Check", phone="97400 40001")
    settle(platform, "customers", r.position)
    status = {s.name: s for s in platform.engine.status()}
    assert status["customer_directory"].position >= r.position
    assert status["customer_directory"].lag == max(
        status["customer_directory"].head - status["customer_directory"].position, 0
    )


def test_waiting_for_a_name_that_is_not_a_source_is_an_error_not_an_instant_yes(platform: Any) -> None:
    # "activity_customers" is a projection of the source "customers": no projection has it as its source, so a wait
    # on it once answered True at once (three tests waited so for the activity log and never waited).
    with pytest.raises(KeyError, match="activity_customers"):
        platform.engine.wait_for("activity_customers", platform.engine.head("customers"))
    assert platform.engine.wait_for("customers", platform.engine.head("customers"), timeout=30)


def test_a_runner_pass_reads_a_small_batch_once_and_each_projection_keeps_its_own_topics(
    platform: Any, tenant: Any
) -> None:
    from projections.engine import SHARED_READ_MAX, _batch_events

    customers = platform.get(Customers)
    first = customers.register(tenant.brand_id, name="Shared Read One", phone="97400 50001")
    customers.add_alternate_phone(tenant.brand_id, first.id, "97400 50002", "sister")
    customers.update_details(tenant.brand_id, first.id, email="one@example.in", loan_numbers=["SM750001"])
    last = customers.register(tenant.brand_id, name="Shared Read Two", phone="97400 50003")
    start, stop = first.position - 1, last.position
    assert 0 < stop - start <= SHARED_READ_MAX
    app = platform.engine.applications["customers"]
    of_source = [p for p in platform.engine.projections.values() if p.source == "customers"]
    assert len({p.topics for p in of_source}) > 2  # projections of several topic sets, and one of every topic
    shared: dict[tuple[int, int], Any] = {}
    for projection in of_source:
        alone = [n.id for n in _batch_events(app, projection, start, stop, None)]
        together = [n.id for n in _batch_events(app, projection, start, stop, shared)]
        assert together == alone
    assert list(shared) == [(start, stop)]  # one read served the pass
    assert [n.id for n in shared[(start, stop)]] == list(range(start + 1, stop + 1))


def test_no_partial_index_tests_a_never_null_column(platform: Any) -> None:
    """A partial index `WHERE col IS NOT NULL` on a NOT NULL column is never used for a query that only says
    `col IS NOT NULL` (or nothing of it): PostgreSQL 17+ drops that qual as redundant and then cannot prove the
    index's predicate (master-report's all-dates pages sorted 990k borrowers until its key was indexed whole)."""
    with platform.db.pool.connection() as conn:
        checked = conn.execute(
            "SELECT x.indexrelid::regclass::text AS index, a.attname AS column, a.attnotnull AS never_null "
            "FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum > 0 "
            "WHERE x.indpred IS NOT NULL "
            "AND pg_get_expr(x.indpred, x.indrelid) ~ ('(^|[^.\\w])' || quote_ident(a.attname) || ' IS NOT NULL')"
        ).fetchall()
    assert len(checked) >= 10  # the reports' nullable date keys among them
    assert [(r["index"], r["column"]) for r in checked if r["never_null"]] == []


def test_a_rebuilt_brand_directory_keeps_a_changed_timezone_and_earlier_instants_keep_their_local_day(
    platform: Any, dsn: str
) -> None:
    # The configuration history's projection once moved `read.brands.timezone`: a rebuild of `brands` put every brand
    # back at the timezone it was created with, and the loan read models filed an instant on the local day of the
    # timezone of the moment they projected it, so a rebuild after a change moved earlier events to other days.
    from datetime import UTC, date, datetime

    from domain.identity.application import Identity

    identity = platform.get(Identity)
    brand = identity.create_brand(f"tz{uuid.uuid4().hex[:10]}", "Timezone Brand", timezone="Etc/GMT-14")
    settle(platform, "identity", brand.position)
    before = datetime.now(UTC).replace(microsecond=0)
    changed, _ = identity.change_configuration(brand.id, {"timezone": "Etc/GMT+12"})
    settle(platform, "identity", changed.position)
    sql = f"SELECT slug, timezone FROM read.brands WHERE id = '{brand.id}'"
    local_day = f"SELECT read.brand_local_day('{brand.id}', '{before.isoformat()}'::timestamptz)"
    live = _table(dsn, sql)
    assert [r[1] for r in live] == ["Etc/GMT+12"]
    platform.engine.rebuild("brands")
    assert _table(dsn, sql) == live
    # UTC+14 and UTC-12 are 26 hours apart: the instant before the change is on the UTC+14 day, whatever the hour.
    (day,) = _table(dsn, local_day)[0]
    assert day == date.fromordinal(before.date().toordinal() + (1 if before.hour >= 10 else 0))
