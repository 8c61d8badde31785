"""The loan list's search by part of a borrower's name on PostgreSQL: it finds exactly the loans whose borrower's name
holds the query (in a word, across words, in a long name; nothing for a fragment no name holds), through its keyset
pages, for a rare name by the directory's word indexes -- reading the matching borrowers, not every borrower of the
brand (a pass over all of them before: 37 ms at 200,000 borrowers for a name nobody has, tests/benchmarks/routes.py)
-- and for a fragment in thousands of names by one pass over them, as before."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from projections.loan_queries import NAME_LOOKUP_MAX, LoanQueries

COMMON = NAME_LOOKUP_MAX + 500  # borrowers named Ravi Kumar: more than the word lookup takes
NAMES = ["Meera Iyer", "Anil Kumar Joshi", "Farah Khan", "Priya Ramesh Nair Menon Pillai Iyengar", "Ravindra Rao"]


def _book(conn: Any, brand: uuid.UUID) -> dict[uuid.UUID, str]:
    """COMMON borrowers named Ravi Kumar N and a few others, a loan each, and the brand's name vocabulary as the
    directory keeps it; loan id -> the borrower's name (lower case)."""
    conn.execute(
        "INSERT INTO read.customers (id, brand_id, name, name_key, phone, version, created_at, updated_at) "
        "SELECT gen_random_uuid(), %(brand)s, name, lower(name), '+9198' || lpad(n::text, 8, '0'), 1, now(), now() "
        "FROM (SELECT n, CASE WHEN n <= %(common)s THEN 'Ravi Kumar ' || n ELSE (%(names)s::text[])[n - %(common)s] "
        "END AS name FROM generate_series(1, %(total)s) n) s",
        {"brand": brand, "common": COMMON, "names": NAMES, "total": COMMON + len(NAMES)},
    )
    conn.execute(
        "INSERT INTO read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, "
        "channel, pricing, instalment, status, version, created_at, updated_at) SELECT gen_random_uuid(), brand_id, "
        "'SRCH-L-' || lpad(row_number() OVER (ORDER BY id)::text, 7, '0'), id, %s, 1, 100000, 12, 'staff', '{}', "
        "9456.00, 'pending', 1, now() - row_number() OVER (ORDER BY id) * interval '1 minute', now() "
        "FROM read.customers WHERE brand_id = %s",
        (uuid.uuid4(), brand),
    )
    conn.execute(
        "INSERT INTO read.customer_name_vocabulary (brand_id, word, place, borrowers) SELECT c.brand_id, p.word, "
        "p.place, count(*) FROM read.customers c CROSS JOIN read.name_positions(c.name_key) AS p "
        "WHERE c.brand_id = %s GROUP BY 1, 2, 3",
        (brand,),
    )
    rows = conn.execute(
        "SELECT l.id, c.name_key FROM read.loans l JOIN read.customers c ON c.id = l.customer_id WHERE l.brand_id = %s",
        (brand,),
    ).fetchall()
    return {r["id"]: r["name_key"] for r in rows}


def _all(queries: LoanQueries, brand: uuid.UUID, q: str) -> list[uuid.UUID]:
    found, cursor = [], None
    while True:
        page = queries.loans(brand, q=q, cursor=cursor, limit=400)
        found += [item.id for item in page.items]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


@pytest.mark.parametrize("q", ["meera", "IYER", "il kumar jo", "ramesh nair", "pillai iyen", "rav", "ravi kumar 12",
                               "qzx", "kumar", "a", "kumar 1234", "vi kumar 7", "ar ", " mar  12"])  # fmt: skip
def test_a_name_search_finds_exactly_the_loans_of_names_holding_it(platform: Any, q: str) -> None:
    brand = uuid.uuid4()
    with platform.db.pool.connection() as conn:
        loans = _book(conn, brand)
    wanted = " ".join(q.lower().split())
    expected = {loan for loan, name in loans.items() if wanted in name}
    found = _all(LoanQueries(platform.db.pool), brand, q)
    assert len(found) == len(set(found)) and set(found) == expected
    assert expected or q == "qzx"


class _Recording:
    """The platform's pool, recording each statement its connections run."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.statements: list[tuple[str, Any]] = []

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self.pool.connection() as conn:
            outer = self

            class Conn:
                def execute(self, sql: str, params: Any = None, **kwargs: Any) -> Any:
                    outer.statements.append((sql, params))
                    return conn.execute(sql, params, **kwargs)

            yield Conn()


def _customer_rows_read(plan: dict[str, Any]) -> int:
    here = 0
    if plan.get("Relation Name") == "customers":
        here = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
        here += plan.get("Rows Removed by Index Recheck", 0)
    return here + sum(_customer_rows_read(child) for child in plan.get("Plans", []))


@pytest.mark.parametrize("q", ["farah", "kumar 1234"])
def test_a_rare_name_reads_its_borrowers_not_every_borrower_of_the_brand(platform: Any, q: str) -> None:
    """For "kumar 1234" the rare word drives, though "kumar" (in COMMON names) is the longer one (the directory's
    lookup, projections/name_vocabulary.py; the longest word drove before, and the brand's names were walked)."""
    brand = uuid.uuid4()
    with platform.db.pool.connection() as conn:
        _book(conn, brand)
        conn.execute("ANALYZE read.customers")
        conn.execute("ANALYZE read.loans")
    recording = _Recording(platform.db.pool)
    page = LoanQueries(recording).loans(brand, q=q)
    assert len(page.items) == 1
    sql, params = recording.statements[-1]
    with platform.db.pool.connection() as conn:
        plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()["QUERY PLAN"]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    # one borrower is named Farah, one Ravi Kumar 1234: a few rows read, not the brand's COMMON + 5
    assert _customer_rows_read(plan[0]["Plan"]) < 50, json.dumps(plan, indent=1)[:4000]
