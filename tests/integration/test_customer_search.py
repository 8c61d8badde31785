from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from domain.customers.application import Customers
from projections.customer_queries import _NAME_KEY_IS_C, CustomerQueries
from projections.customers import CustomerDirectory, name_positions
from tests.conftest import make_tenant
from tests.support import settle

# Words shared by many names, "an" inside many different words, initials, and a word inside another ("sharma",
# "sharmaji"): what decides how the search finds its candidates.
NAMES = [
    "Anand Kumar",
    "Anand Sharma",
    "Ravi Kumar",
    "Ravi K. Sharma",
    "Rahul Sharma",
    "Rahul Sharmaji",
    "Rahul Shankar",
    "Shankar Chavan",
    "Kiran Chavan",
    "Kiran R. Kumar",
    "Priya Raman",
    "Priya Ramanathan",
    "Meena Krishnan",
    "Lakshmi Narayanan",
    "Dan Brown",
    "Ann Mathew",
    "Karan Singh",
    "Imran Khan",
    "Sanjay Kumar",
    "Sanjana Rao",
    "Mohan Das",
    "Venkatesh Iyengar",
    "Asha Kulkarni",
    "Usha Kulkarni",
    "Ravi Shankar Kumar",
    "R. Karthik",
    "Karthik R.",
    "Anil Kumar",
    "Anita Desai",
    "Arjun Menon",
    "Arun Kumar",
    "Ashok Kumar",
    "Gopal Krishna",
    "Venkata Naga Sai Krishna Prasad Rao",  # words past the indexed positions
    "Sri Lakshmi Devi Ananya Kumari Sharma",
]
TERMS = [
    "an",
    "kumar",
    "harm",
    "sharma",
    "rahul sh",
    "l sh",
    "r. k",
    "k. sharma",
    "ravi shankar kumar",
    "an ra",
    "ar m",
    "RAM",
    "qx",
    "r.",
    "ha",
    "kar",
    "100%",
    "r_k",  # "_" is no wildcard: "shankar kumar" does not match
    "prasad",
    "kumari sh",
    "krishna",
]


def _register(platform: Any, brand_id: UUID, names: list[str], first_phone: int) -> dict[UUID, str]:
    ids: dict[UUID, str] = {}
    position = 0
    for i, name in enumerate(names):
        result = platform.get(Customers).register(brand_id, name=name, phone=f"9{first_phone + i:09d}")
        ids[result.id] = name
        position = result.position
    settle(platform, "customers", position)
    return ids


def _all_pages(queries: CustomerQueries, brand_id: UUID, term: str, limit: int) -> list[UUID]:
    found: list[UUID] = []
    cursor = None
    while True:
        page = queries.search(brand_id, term, cursor, limit)
        found += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return found


def _table(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def test_name_search_finds_every_name_containing_the_query_in_name_order_whichever_way_it_runs(
    platform: Any, tenant: Any
) -> None:
    ids = _register(platform, tenant.brand_id, NAMES, 871_000_000)
    others = _register(platform, make_tenant(platform).brand_id, NAMES[:6], 871_100_000)  # same names, other brand
    merged = CustomerQueries(platform.db.pool)  # few words contain each term: per-word ranges merged
    walked = CustomerQueries(platform.db.pool)
    walked.MERGE_WORDS = 0  # as if many words contained it: the name index walk finds every page
    collected = CustomerQueries(platform.db.pool)
    collected.MERGE_WORDS, collected.NAME_WALK = 0, 2  # the walk gives up at once: every match collected and sorted
    for term in TERMS:
        expected = sorted(
            (name.lower(), str(i)) for i, name in ids.items() if term.lower() in name.lower() and len(term) >= 2
        )
        for queries in (merged, walked, collected):
            for limit in (3, 25):
                found = _all_pages(queries, tenant.brand_id, term, limit)
                assert [str(i) for i in found] == [i for _, i in expected], (term, limit, queries.MERGE_WORDS)
                assert not set(found) & set(others)
    assert len(_all_pages(merged, tenant.brand_id, "an", 3)) == 21  # "an" is in 19 different words


def test_a_directory_made_before_name_keys_compared_in_c_is_searched_alike(
    platform: Any, tenant: Any, dsn: str
) -> None:
    """name_key is COLLATE "C" (index builds sort bytes); one made in the database's collation and not rebuilt
    since is searched the same way, the walk's vocabulary words cast to its collation so its word indexes serve."""
    ids = _register(platform, tenant.brand_id, NAMES, 876_000_000)
    column = "SELECT attcollation::regcollation::text FROM pg_attribute WHERE attrelid = 'read.customers'::regclass "
    column += "AND attname = 'name_key'"
    assert _table(dsn, column) == [('"C"',)] and _table(dsn, _NAME_KEY_IS_C) == [(True,)]
    walked = CustomerQueries(platform.db.pool)
    walked.MERGE_WORDS = 0
    collected = CustomerQueries(platform.db.pool)
    collected.MERGE_WORDS, collected.NAME_WALK = 0, 2

    def pages() -> list[list[UUID]]:
        return [_all_pages(q, tenant.brand_id, term, 3) for term in TERMS for q in (walked, collected)]

    in_c = pages()
    assert sum(map(len, in_c)) > 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('ALTER TABLE read.customers ALTER COLUMN name_key TYPE text COLLATE "default"')
    try:
        assert _table(dsn, column) == [('"default"',)]
        assert pages() == in_c
        # The walk casts the vocabulary's words to this collation (so the word indexes, built in it, serve).
        assert ids and _table(dsn, _NAME_KEY_IS_C) == [(False,)]
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute('ALTER TABLE read.customers ALTER COLUMN name_key TYPE text COLLATE "C"')


def _vocabulary(dsn: str, brand_id: UUID) -> list[tuple[Any, ...]]:
    return _table(
        dsn,
        "SELECT word, place, borrowers FROM read.customer_name_vocabulary "
        f"WHERE brand_id = '{brand_id}' ORDER BY word, place",
    )


def test_renaming_a_borrower_moves_it_between_searches_and_its_words_in_the_vocabulary(
    platform: Any, tenant: Any, dsn: str
) -> None:
    queries = CustomerQueries(platform.db.pool)
    first, second = _register(platform, tenant.brand_id, ["Quentin Zephyrine", "Quentin Marlow"], 872_000_000)
    assert _vocabulary(dsn, tenant.brand_id) == [("marlow", 2, 1), ("quentin", 1, 2), ("zephyrine", 2, 1)]
    renamed = platform.get(Customers).update_details(tenant.brand_id, first, name="Ostara Marlow")
    settle(platform, "customers", renamed.position)

    assert _all_pages(queries, tenant.brand_id, "zephyr", 25) == []
    assert _all_pages(queries, tenant.brand_id, "ostara m", 25) == [first]
    assert _all_pages(queries, tenant.brand_id, "marlow", 25) == [first, second]  # "ostara ..." < "quentin ..."
    assert _all_pages(queries, tenant.brand_id, "quentin", 25) == [second]
    # zephyrine had no one left; quentin one borrower fewer.
    assert _vocabulary(dsn, tenant.brand_id) == [("marlow", 2, 2), ("ostara", 1, 1), ("quentin", 1, 1)]


def test_rebuilt_directory_has_the_same_vocabulary(private_platform: Any, private_dsn: str) -> None:
    # The vocabulary is compared whole, on a database of its own (see the next test).
    platform, dsn = private_platform, private_dsn
    tenant = make_tenant(platform)
    ids = _register(platform, tenant.brand_id, ["Rebuild Word One", "Rebuild Word Two"], 873_000_000)
    renamed = platform.get(Customers).update_details(tenant.brand_id, next(iter(ids)), name="Rebuilt Three")
    settle(platform, "customers", renamed.position)
    sql = "SELECT * FROM read.customer_name_vocabulary ORDER BY brand_id, word, place"
    live = _table(dsn, sql)
    assert ("rebuild", 1, 1) in [row[1:] for row in live if row[0] == tenant.brand_id]
    assert platform.engine.rebuild("customer_directory") >= renamed.position
    assert _table(dsn, sql) == live


def test_setup_fills_the_vocabulary_of_a_directory_that_has_none(private_platform: Any, private_dsn: str) -> None:
    # On a database of its own: the vocabulary is compared whole, and on the session's the backfill also counted the
    # words of every earlier test's borrowers -- of those written straight into read.customers too (test_engagement_
    # kill's), which the live vocabulary never had: the comparison failed after such a test.
    platform, dsn = private_platform, private_dsn
    tenant = make_tenant(platform)
    _register(platform, tenant.brand_id, ["Backfill Person"], 874_000_000)
    sql = "SELECT * FROM read.customer_name_vocabulary ORDER BY brand_id, word, place"
    before = _table(dsn, sql)
    with psycopg.connect(dsn, autocommit=True) as conn:  # a directory made before the vocabulary existed
        conn.execute("TRUNCATE read.customer_name_vocabulary")
        CustomerDirectory().create(conn)
    assert _table(dsn, sql) == before
    assert _all_pages(CustomerQueries(platform.db.pool), tenant.brand_id, "backfill", 25) != []


def test_sql_and_python_number_the_words_of_a_name_alike(dsn: str) -> None:
    keys = ["asha kulkarni", "r. karthik r.", "x", "dan  brown", " o'brien-smith ", "a b c d e f g", "ज्योति कुमारी"]
    with psycopg.connect(dsn) as conn:
        for key in keys:
            rows = conn.execute("SELECT word, place FROM read.name_positions(%s)", (key,)).fetchall()
            assert rows == name_positions(key), key
