"""The admin's list of staff notices on PostgreSQL: each notice's recipients (the brand's enabled staff it reaches by
role or names by id, each once) are right, and a page reads the brand's staff once, not once per notice (50 notices
of a brand with thousands of staff read the staff table 50 times over before)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.staff_notices import StaffNoticeQueries

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)
ROLE_SETS = (["credit_executive"], ["collection_executive"], ["collection_executive", "field_agent"], ["admin"])


def _staff(conn: Any, brand: uuid.UUID, count: int) -> list[tuple[uuid.UUID, list[str], bool]]:
    made = []
    for i in range(count):
        staff_id, roles, enabled = uuid.uuid4(), ROLE_SETS[i % len(ROLE_SETS)], i % 7 != 0
        conn.execute(
            "INSERT INTO read.staff (id, brand_id, name, name_key, email, roles, enabled, has_password, version, "
            "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, true, 1, %s, %s)",
            (staff_id, brand, f"Staff {i}", f"staff {i}", f"s{i}-{brand.hex[:6]}@lender.in", roles, enabled, AT, AT),
        )
        made.append((staff_id, roles, enabled))
    return made


def _notice(conn: Any, brand: uuid.UUID, n: int, roles: list[str], staff_ids: list[uuid.UUID]) -> uuid.UUID:
    notice_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO read.staff_notices (id, brand_id, title, body, priority, roles, staff_ids, publish_at, "
        "created_by, created_at) VALUES (%s, %s, %s, 'body', 'LOW', %s, %s, %s, 'staff:x', %s)",
        (notice_id, brand, f"Notice {n}", roles, staff_ids, AT + timedelta(minutes=n), AT),
    )
    return notice_id


def test_each_notice_counts_the_enabled_staff_it_reaches_by_role_or_by_name_once(platform: Any) -> None:
    brand, other = uuid.uuid4(), uuid.uuid4()
    with platform.db.pool.connection() as conn:
        staff = _staff(conn, brand, 40)
        _staff(conn, other, 10)  # another brand's staff hold the same roles: never counted
        named = [s for s, _, _ in staff[:6]]  # by role too, disabled, or only by name
        asked = {
            _notice(conn, brand, 1, ["collection_executive"], []): (["collection_executive"], []),
            _notice(conn, brand, 2, ["admin", "field_agent"], named): (["admin", "field_agent"], named),
            _notice(conn, brand, 3, [], named): ([], named),
            _notice(conn, brand, 4, ["sales"], []): (["sales"], []),
        }
    page = StaffNoticeQueries(platform.db.pool).notices(brand)
    got = {n.id: n.recipients for n in page.items}
    expected = {
        notice_id: sum(1 for s, held, on in staff if on and (set(held) & set(roles) or s in ids))
        for notice_id, (roles, ids) in asked.items()
    }
    assert got == expected and expected[next(iter(asked))] > 0
    one = StaffNoticeQueries(platform.db.pool).notice(brand, list(asked)[1])
    assert one is not None and one.recipients == got[one.id]


class _Recorded:
    """A pool whose connection records the statements and answers no rows."""

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


def _staff_rows_read(plan: dict[str, Any]) -> int:
    """Rows the plan read from read.staff: each scan's rows kept and removed, times its loops."""
    here = 0
    if plan.get("Relation Name") == "staff":
        here = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return here + sum(_staff_rows_read(child) for child in plan.get("Plans", []))


def test_a_page_of_notices_reads_the_brands_staff_once_not_once_per_notice(platform: Any) -> None:
    brand = uuid.uuid4()
    recorded = _Recorded()
    StaffNoticeQueries(recorded).notices(brand, None, 50)
    with platform.db.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "INSERT INTO read.staff (id, brand_id, name, name_key, email, roles, enabled, has_password, version, "
            "created_at, updated_at) SELECT gen_random_uuid(), %s, 'Staff ' || i, 'staff ' || i, 's' || i || "
            "'@lender.in', CASE WHEN i %% 2 = 0 THEN ARRAY['credit_executive', 'sales'] "
            "ELSE ARRAY['collection_executive', 'sales'] END, true, true, 1, %s, %s FROM generate_series(1, 3000) AS i",
            (brand, AT, AT),
        )
        for n in range(50):
            _notice(conn, brand, n, ["collection_executive"] if n % 2 else ["admin"], [])
        conn.execute("ANALYZE read.staff")
        conn.execute("ANALYZE read.staff_notices")
        # A sequential scan reads the other tests' staff too (the database is shared): one pass over the table is
        # what "once" allows, against 50 passes over the brand's 3,000 before.
        table_rows = conn.execute("SELECT count(*) AS n FROM read.staff").fetchone()["n"]
        ((sql, params),) = recorded.statements
        plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()["QUERY PLAN"]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        rows = conn.execute(sql, params).fetchall()
    assert len(rows) == 50 and {r["recipients"] for r in rows} == {1500, 0}
    # The brand's 3,000 staff are read about once for the page (the per-notice count read 50 x 3,000).
    assert _staff_rows_read(plan[0]["Plan"]) <= table_rows + 3000, json.dumps(plan, indent=1)[:3000]
