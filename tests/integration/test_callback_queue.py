"""The staff queue of callback requests on PostgreSQL over read-model rows: oldest first by (requested_at, id), so
keyset pages cover each request of the filter once and in order (ties on the instant included), another brand's
never; and each filter's query is served by an index in the queue's order (no sort of a brand's or a staff
member's whole history)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections.callbacks import UNASSIGNED, CallbackQueries

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _request(conn: Any, brand: uuid.UUID, assignee: uuid.UUID | None, status: str, at: datetime) -> uuid.UUID:
    request_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO read.callback_requests (id, brand_id, borrower_id, phone, time_window, note, assignee_id, source, "
        "status, requested_at) VALUES (%s, %s, %s, '+919800000001', 'anytime', '', %s, 'api', %s, %s)",
        (request_id, brand, uuid.uuid4(), assignee, status, at),
    )
    return request_id


FILTERS = [(status, who) for status in ("open", "closed", None) for who in ("asha", UNASSIGNED, None)]


@pytest.mark.parametrize(("status", "who"), FILTERS)
def test_keyset_pages_cover_each_request_of_the_filter_once_in_order(
    platform: Any, status: str | None, who: str | None
) -> None:
    brand, asha, ravi = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    made: list[tuple[datetime, uuid.UUID, str, uuid.UUID | None]] = []
    with platform.db.pool.connection() as conn:
        for n in range(14):
            at = AT + timedelta(minutes=n // 3)  # three requests at each instant: the id breaks the tie
            assignee = (asha, ravi, None)[n % 3]
            state = "open" if n % 4 else "closed"
            made.append((at, _request(conn, brand, assignee, state, at), state, assignee))
        _request(conn, uuid.uuid4(), asha, "open", AT)  # another brand's, at the same instant
    assigned = asha if who == "asha" else who
    expected = [
        i for at, i, state, assignee in sorted(made)
        if (status is None or state == status)
        and (assigned is None or (assignee is None if assigned == UNASSIGNED else assignee == assigned))
    ]  # fmt: skip
    queries = CallbackQueries(platform.db.pool)
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = queries.queue(brand, status, assigned, cursor, 2)
        seen += [r.id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected and expected


class _Recorded:
    """A pool whose connection records the queue's SQL and answers no rows."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    @contextmanager
    def connection(self) -> Iterator[Any]:
        yield self

    def execute(self, sql: str, params: Any) -> Any:
        self.statements.append((sql, params))
        return self

    def fetchall(self) -> list[Any]:
        return []


@pytest.mark.parametrize(("status", "who"), FILTERS)
def test_each_queue_filter_reads_an_index_in_the_queues_order(
    platform: Any, status: str | None, who: str | None
) -> None:
    brand, asha = uuid.uuid4(), uuid.uuid4()
    recorded = _Recorded()
    assigned = asha if who == "asha" else who
    CallbackQueries(recorded).queue(brand, status, assigned, None, 50)
    [(sql, params)] = recorded.statements
    # Years of one brand's requests over twenty staff (and nobody), mostly answered, analysed so the planner costs
    # the indexes on real statistics; rolled back at the end.
    with platform.db.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "INSERT INTO read.callback_requests (id, brand_id, borrower_id, phone, time_window, note, assignee_id, "
            "source, status, requested_at) SELECT gen_random_uuid(), %s, gen_random_uuid(), '+919800000001', "
            "'anytime', '', CASE WHEN i %% 21 = 0 THEN %s::uuid WHEN i %% 21 = 1 THEN NULL ELSE gen_random_uuid() END, "
            "'api', CASE WHEN i %% 10 = 0 THEN 'open' ELSE 'closed' END, %s + i * interval '1 minute' "
            "FROM generate_series(1, 20000) AS i",
            (brand, asha, AT),
        )
        conn.execute("ANALYZE read.callback_requests")
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute(f"EXPLAIN ANALYZE {sql}", params).fetchall())
    # Served: the first page is read in the queue's order from an index (no sort of every match), reading about a
    # page of rows (not walking the brand's history and dropping those of other staff or statuses).
    removed = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan)]
    assert "callback_requests_" in plan and "Sort" not in plan and all(n < 51 for n in removed), plan
