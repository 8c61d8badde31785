"""The staff queue of callback requests on PostgreSQL over read-model rows: by when to call - a follow-up by when it
is due, a fresh ask by when it was made: (coalesce(due_at, requested_at), id) - so keyset pages cover each request of
the filter once and in order (ties on the instant included), another brand's never; and each filter's query is served
by an index in the queue's order (no sort of a brand's or a staff member's whole history)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections.callbacks import QUEUE_CURSOR, UNASSIGNED, CallbackQueries, CallbackView

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _request(
    conn: Any, brand: uuid.UUID, assignee: uuid.UUID | None, status: str, at: datetime, due: datetime | None = None
) -> uuid.UUID:
    request_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO read.callback_requests (id, brand_id, borrower_id, phone, time_window, note, assignee_id, source, "
        "status, requested_at, due_at) VALUES (%s, %s, %s, '+919800000001', 'anytime', '', %s, %s, %s, %s, %s)",
        (request_id, brand, uuid.uuid4(), assignee, "follow_up" if due else "api", status, at, due),
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
        for n in range(6):  # follow-ups asked after all of those, due among them, before and after them
            assignee = (asha, ravi, None)[n % 3]
            state = "open" if n % 4 else "closed"
            due = AT + timedelta(minutes=(-30, 2, 3, 2, 90, 2)[n])  # tied with fresh asks at 2 and 3 minutes too
            made.append((due, _request(conn, brand, assignee, state, AT + timedelta(hours=2), due), state, assignee))
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


def test_a_follow_up_is_listed_by_when_it_is_due_a_fresh_ask_by_when_it_was_made(platform: Any) -> None:
    brand = uuid.uuid4()
    with platform.db.pool.connection() as conn:
        asked_first = _request(conn, brand, None, "open", AT)
        due_tomorrow = _request(conn, brand, None, "open", AT + timedelta(minutes=5), AT + timedelta(days=1))
        asked_later = _request(conn, brand, None, "open", AT + timedelta(hours=1))
        due_soon = _request(conn, brand, None, "open", AT + timedelta(hours=2), AT + timedelta(minutes=30))
    page = CallbackQueries(platform.db.pool).queue(brand, "open", None)
    assert [r.id for r in page.items] == [asked_first, due_soon, asked_later, due_tomorrow]


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
    queries = CallbackQueries(recorded)
    queries.queue(brand, status, assigned, None, 50)
    page_on = QUEUE_CURSOR.encode(AT + timedelta(days=4), uuid.uuid4(), scope=(brand, status, assigned))
    queries.queue(brand, status, assigned, page_on, 50)  # a page on
    # Years of one brand's requests over twenty staff (and nobody), mostly answered, one in five a follow-up due a
    # day after it was made, analysed so the planner costs the indexes on real statistics; rolled back at the end.
    with platform.db.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "INSERT INTO read.callback_requests (id, brand_id, borrower_id, phone, time_window, note, assignee_id, "
            "source, status, requested_at, due_at) SELECT gen_random_uuid(), %s, gen_random_uuid(), '+919800000001', "
            "'anytime', '', CASE WHEN i %% 21 = 0 THEN %s::uuid WHEN i %% 21 = 1 THEN NULL ELSE gen_random_uuid() END, "
            "'api', CASE WHEN i %% 10 = 0 THEN 'open' ELSE 'closed' END, %s + i * interval '1 minute', "
            "CASE WHEN i %% 5 = 0 THEN %s + i * interval '1 minute' + interval '1 day' END "
            "FROM generate_series(1, 20000) AS i",
            (brand, asha, AT, AT),
        )
        conn.execute("ANALYZE read.callback_requests")
        plans = [
            "\n".join(r["QUERY PLAN"] for r in conn.execute(f"EXPLAIN ANALYZE {sql}", params).fetchall())
            for sql, params in recorded.statements
        ]
    # Served: the first page and a page from a cursor are read in the queue's order from an index of its key (no sort
    # of every match), reading about a page of rows (not walking the brand's history and dropping those of other
    # staff or statuses).
    for plan in plans:
        removed = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan)]
        assert "callback_requests_" in plan and "Sort" not in plan and all(n < 51 for n in removed), plan
    # The cursor's bound on the key is the index's condition (not a filter over the rows read).
    assert re.search(r"Index Cond: .*ROW\(COALESCE\(due_at, requested_at\), id\) >", plans[1]), plans[1]


def test_a_database_made_before_the_queue_key_gets_its_indexes_at_setup(platform: Any) -> None:
    def indexes(conn: Any) -> set[str]:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'callback_requests'").fetchall()
        return {r["indexname"] for r in rows}

    with platform.db.pool.connection() as conn, conn.transaction(force_rollback=True):
        now = indexes(conn)
        # As the table was before: the indexes by requested_at, none by the queue's key.
        for name in [n for n in now if n.endswith("_due_idx")]:
            conn.execute(f"DROP INDEX read.{name}")
        conn.execute(
            "CREATE INDEX callback_requests_queue_idx ON read.callback_requests (brand_id, status, requested_at, id)"
        )
        CallbackView().create(conn)  # what setup runs at the next start
        assert indexes(conn) == now and "callback_requests_queue_idx" not in now
        assert {"callback_requests_queue_due_idx", "callback_requests_unassigned_all_due_idx"} <= now
