"""The collection dashboard's DPD buckets (`CollectionDashboardQueries.dpd_buckets`) read from `read.loan_dpd_buckets`,
which triggers on `read.loans` keep (projections/loan_dpd_buckets.py): after every kind of write to the loans -- a
bulk insert, status and DPD moves in and out of servicing, an amount sanctioned, a loan moved to another brand,
deletes, a truncate -- each brand's buckets are exactly the brute-force sum over its serviced loans, and never hold
another brand's loans; a database made before the table gets it filled from the loans already there."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from projections.collection_dashboard import DPD_BUCKETS, CollectionDashboardQueries
from projections.loan_dpd_buckets import DPD_BUCKETS_DDL
from tests.own_database import own_dsn, own_platform  # noqa: F401 (fixtures)

SERVICED = ("active", "partially_paid", "overdue")
STATUSES = ("onboarding", "pending", "active", "partially_paid", "overdue", "completed", "written_off")
DPDS = (None, 0, 1, 30, 31, 60, 61, 90, 91, 400)


def _brute_force(conn: Any, brand: uuid.UUID) -> list[tuple[str, int, Decimal]]:
    """The buckets summed in Python over every loan of the brand (the definition the old scan implemented)."""
    sums = {label: [0, Decimal("0.00")] for label, _, _ in DPD_BUCKETS}
    rows = conn.execute(
        "SELECT status, dpd, amount, sanctioned_amount FROM read.loans WHERE brand_id = %s", (brand,)
    ).fetchall()
    for row in rows:
        if row["status"] not in SERVICED:
            continue
        dpd = row["dpd"] or 0
        label = next(label for label, low, high in DPD_BUCKETS if low <= dpd and (high is None or dpd <= high))
        sums[label][0] += 1
        sums[label][1] += row["sanctioned_amount"] if row["sanctioned_amount"] is not None else row["amount"]
    return [(label, int(n), Decimal(a).quantize(Decimal("0.01"))) for label, (n, a) in sums.items()]


def _shown(queries: CollectionDashboardQueries, brand: uuid.UUID) -> list[tuple[str, int, Decimal]]:
    return [(b.label, b.count, b.amount) for b in queries.dpd_buckets(brand)]


def _load(conn: Any, brand: uuid.UUID, count: int, seed: int) -> None:
    """`count` loans of the brand in one statement, in every status and DPD, some with a sanctioned amount."""
    conn.execute(
        "INSERT INTO read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, "
        "channel, pricing, instalment, status, version, created_at, updated_at, dpd, sanctioned_amount) "
        "SELECT gen_random_uuid(), %(brand)s, 'DPDB-' || %(seed)s || '-' || n, gen_random_uuid(), gen_random_uuid(), "
        "1, 10000 + n * 37.11, 12, 'staff', '{}', 1000, (%(statuses)s::text[])[1 + (n + %(seed)s) %% %(ns)s], 1, "
        "now(), now(), (%(dpds)s::int[])[1 + (n * 3 + %(seed)s) %% %(nd)s], "
        "CASE WHEN n %% 3 = 0 THEN 9000 + n * 11.07 END FROM generate_series(1, %(count)s) n",
        {"brand": brand, "seed": seed, "statuses": list(STATUSES), "ns": len(STATUSES), "dpds": list(DPDS),
         "nd": len(DPDS), "count": count},
    )  # fmt: skip


def _check(conn: Any, queries: CollectionDashboardQueries, brands: tuple[uuid.UUID, ...]) -> None:
    conn.commit()
    for brand in brands:
        assert _shown(queries, brand) == _brute_force(conn, brand)


def test_the_buckets_are_the_brute_force_sum_of_each_brand_after_every_kind_of_write(platform: Any) -> None:
    queries = CollectionDashboardQueries(platform.db.pool)
    a, b = uuid.uuid4(), uuid.uuid4()
    with platform.db.pool.connection() as conn:
        _load(conn, a, 700, 1)
        _load(conn, b, 300, 2)
        _check(conn, queries, (a, b))
        assert sum(n for _, n, _ in _shown(queries, a)) == 300  # 3 of the 7 statuses serviced: not all empty
        assert _shown(queries, a) != _shown(queries, b)  # each brand its own loans
        # one by one, as the loans projection writes: into servicing, DPD moves, out of servicing, amounts
        ids = [r["id"] for r in conn.execute("SELECT id FROM read.loans WHERE brand_id = %s ORDER BY loan_number "
                                             "LIMIT 60", (a,)).fetchall()]  # fmt: skip
        for i, loan in enumerate(ids):
            status, dpd = STATUSES[(i * 5) % len(STATUSES)], DPDS[(i * 7) % len(DPDS)]
            conn.execute("UPDATE read.loans SET status = %s, dpd = %s WHERE id = %s", (status, dpd, loan))
            if i % 4 == 0:
                conn.execute("UPDATE read.loans SET sanctioned_amount = 5555.55 WHERE id = %s", (loan,))
            if i % 5 == 0:
                conn.execute("UPDATE read.loans SET amount = amount + 1, version = version + 1 WHERE id = %s", (loan,))
        _check(conn, queries, (a, b))
        # whole-set writes: every overdue loan a day later, loans moved from one brand to the other, deletes
        conn.execute("UPDATE read.loans SET dpd = coalesce(dpd, 0) + 1 WHERE brand_id = %s AND status = 'overdue'",
                     (a,))  # fmt: skip
        conn.execute("UPDATE read.loans SET brand_id = %s WHERE brand_id = %s AND loan_number LIKE '%%5'", (b, a))
        _check(conn, queries, (a, b))
        conn.execute("DELETE FROM read.loans WHERE brand_id = %s AND loan_number LIKE '%%7'", (b,))
        conn.execute("UPDATE read.loans SET assignee = gen_random_uuid() WHERE brand_id = %s", (b,))  # no figure
        _check(conn, queries, (a, b))
        conn.execute("DELETE FROM read.loans WHERE brand_id = %s", (a,))
        _check(conn, queries, (a, b))
        assert all(n == 0 and amount == 0 for _, n, amount in _shown(queries, a))
        conn.execute("TRUNCATE read.loans")
        conn.commit()
        assert all(n == 0 for _, n, _ in _shown(queries, b))


def test_a_database_made_before_the_buckets_gets_them_from_its_loans(platform: Any) -> None:
    queries = CollectionDashboardQueries(platform.db.pool)
    a, b = uuid.uuid4(), uuid.uuid4()
    with platform.db.pool.connection() as conn:
        conn.execute("DROP TABLE read.loan_dpd_buckets")
        for trigger in ("insert", "update", "delete", "truncate"):
            conn.execute(f"DROP TRIGGER loan_dpd_buckets_{trigger} ON read.loans")
        _load(conn, a, 400, 3)
        _load(conn, b, 200, 4)
        conn.commit()
        for statement in DPD_BUCKETS_DDL:  # what the loans projection's setup runs
            conn.execute(statement)
        _check(conn, queries, (a, b))
        assert sum(n for _, n, _ in _shown(queries, a)) > 0
        for statement in DPD_BUCKETS_DDL:  # again: made once, not counted twice
            conn.execute(statement)
        conn.execute("UPDATE read.loans SET status = 'overdue', dpd = 45 WHERE brand_id = %s AND status = 'active'",
                     (a,))  # fmt: skip
        _check(conn, queries, (a, b))


def test_a_rebuild_of_the_loans_makes_the_buckets_and_their_triggers_again(platform: Any) -> None:
    queries = CollectionDashboardQueries(platform.db.pool)
    a = uuid.uuid4()
    with platform.db.pool.connection() as conn:
        _load(conn, a, 70, 5)
        _check(conn, queries, (a,))
    platform.engine.rebuild("loans")  # drops read.loans (its triggers with it) and the sums, replays the events
    with platform.db.pool.connection() as conn:
        assert all(n == 0 for _, n, _ in _shown(queries, a))  # the loaded loans had no events
        _load(conn, a, 70, 6)
        conn.execute(
            "UPDATE read.loans SET status = 'overdue', dpd = 75 WHERE brand_id = %s AND status = 'active'", (a,)
        )
        _check(conn, queries, (a,))
        assert sum(n for _, n, _ in _shown(queries, a)) == 30
