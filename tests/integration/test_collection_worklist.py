"""The worklist query on PostgreSQL over read-model rows: attention due first (oldest first), then DPD and amount
highest first; keyset pages cover every open case once, in order; one executive's list holds only theirs; a forged
cursor is a 422; the query plans use the worklist's indexes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.collections.case import Stage
from domain.shared.errors import InvalidInput
from projections.collection_queries import CollectionQueries

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _case(conn: Any, brand: uuid.UUID, staff: uuid.UUID | None, dpd: int, amount: str, **extra: Any) -> uuid.UUID:
    loan = uuid.uuid4()
    row = {"loan_id": loan, "brand_id": brand, "stage": "collections", "open": True, "assignee": staff, "dpd": dpd,
           "amount": Decimal(amount), "updated_at": NOW} | extra  # fmt: skip
    conn.execute(
        f"INSERT INTO read.collection_cases ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
        tuple(row.values()),
    )
    return loan


def test_pages_cover_every_case_once_in_priority_order(platform: Any) -> None:
    brand, asha, ravi = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with platform.db.pool.connection() as conn:
        low = _case(conn, brand, asha, 3, "100.00")
        high = _case(conn, brand, asha, 40, "50.00")
        rich = _case(conn, brand, asha, 3, "900.00")
        twin = _case(conn, brand, asha, 3, "100.00")  # ties `low` on DPD and amount: the loan id decides
        called = _case(conn, brand, asha, 1, "10.00", attention_at=NOW - timedelta(hours=1), callback_at=NOW)
        broken = _case(conn, brand, asha, 2, "10.00", attention_at=NOW - timedelta(hours=2), ptp_status="broken")
        later = _case(conn, brand, asha, 5, "10.00", attention_at=NOW + timedelta(hours=1), callback_at=NOW)
        _case(conn, brand, ravi, 90, "9999.00")  # another executive's
        _case(conn, brand, asha, 99, "9999.00", open=False)  # closed
        _case(conn, brand, asha, 99, "9999.00", stage="pre")  # another stage
        _case(conn, uuid.uuid4(), asha, 99, "9999.00")  # another brand
    queries = platform.get(CollectionQueries)
    expected = [broken, called, high, later, rich, *sorted([low, twin], reverse=True)]
    for size in (1, 2, 4, 50):
        seen, cursor = [], None
        while True:
            page = queries.worklist(brand, Stage.COLLECTIONS, asha, NOW, cursor, size)
            seen += [i.loan_id for i in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, size
    first = queries.worklist(brand, Stage.COLLECTIONS, asha, NOW, None, 2).items
    assert [i.next_action for i in first] == ["promise broken: call again", "call back (requested)"]
    everyone = queries.worklist(brand, Stage.COLLECTIONS, None, NOW, None, 50).items
    assert len(everyone) == 8 and everyone[2].assignee == ravi  # DPD 90 after the two needing attention
    with platform.db.pool.connection() as conn:
        nobody = _case(conn, brand, None, 7, "70.00")
    only = queries.worklist(brand, Stage.COLLECTIONS, None, NOW, None, 50, unassigned=True).items
    assert [i.loan_id for i in only] == [nobody]
    with pytest.raises(InvalidInput):
        queries.worklist(brand, Stage.COLLECTIONS, asha, NOW, "bm90LWEtY3Vyc29y", 2)


def test_the_worklist_reads_by_its_indexes(platform: Any) -> None:
    brand, asha = uuid.uuid4(), uuid.uuid4()
    # A brand's open cases over twenty executives, analysed, so the planner costs the indexes on real statistics
    # (on an empty table it chose between a scan and either index by ties; the pool's connections are autocommit,
    # so the SET LOCAL enable_seqscan this test used did nothing). Rolled back at the end.
    with platform.db.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "INSERT INTO read.collection_cases (loan_id, brand_id, stage, open, assignee, dpd, amount, updated_at) "
            "SELECT gen_random_uuid(), %s, 'collections', true, "
            "CASE WHEN i %% 20 = 0 THEN %s::uuid ELSE gen_random_uuid() END, i %% 120, i, now() "
            "FROM generate_series(1, 4000) AS i",
            (brand, asha),
        )
        conn.execute("ANALYZE read.collection_cases")
        plan = "\n".join(
            r["QUERY PLAN"] for r in conn.execute(
                "EXPLAIN SELECT loan_id FROM read.collection_cases c WHERE c.brand_id = %s AND c.stage = 'collections' "
                "AND c.open AND c.assignee = %s AND (c.attention_at IS NULL OR c.attention_at > now()) "
                "ORDER BY c.dpd DESC, c.amount DESC, c.loan_id DESC LIMIT 51", (brand, asha),
            ).fetchall()
        )  # fmt: skip
    assert "collection_worklist_idx" in plan and "Sort" not in plan, plan
