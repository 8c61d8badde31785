"""The name searches' shared vocabulary lookup (projections/name_vocabulary.py) on PostgreSQL, against a brute-force
match: every name holding a query holds one of the (word, place) entries found for each of the query's words (so any
of them, and the driving word, may lead a search without losing a name), a word in no name finds nothing, and a word
in more entries than asked is cut short and said to be."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from projections.customers import name_positions
from projections.name_vocabulary import driving_word, vocabulary_matches
from tests.integration.test_customer_search import NAMES, TERMS


def _directory(conn: Any, brand: uuid.UUID, names: list[str]) -> None:
    """The names as the directory keeps them (name_key lower case), with the brand's vocabulary counted from them."""
    conn.execute(
        "INSERT INTO read.customers (id, brand_id, name, name_key, phone, version, created_at, updated_at) "
        "SELECT gen_random_uuid(), %s, name, lower(name), '+9197' || lpad(n::text, 8, '0'), 1, now(), now() "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS u(name, n)",
        (brand, names),
    )
    conn.execute(
        "INSERT INTO read.customer_name_vocabulary (brand_id, word, place, borrowers) SELECT c.brand_id, p.word, "
        "p.place, count(*) FROM read.customers c CROSS JOIN read.name_positions(c.name_key) AS p "
        "WHERE c.brand_id = %s GROUP BY 1, 2, 3",
        (brand,),
    )


@pytest.mark.parametrize("term", [t for t in TERMS if " " in t or len(t) >= 2] + ["ravi k. sharma", "q"])
def test_every_name_holding_the_query_holds_an_entry_found_for_each_of_its_words(platform: Any, term: str) -> None:
    brand, other = uuid.uuid4(), uuid.uuid4()
    with platform.db.pool.connection() as conn:
        _directory(conn, brand, NAMES)
        _directory(conn, other, ["Qq Zz Xx"])  # another brand's words are never found
        words = term.lower().split()
        matches = vocabulary_matches(conn, brand, words, most=1_000)
    holding = [name.lower() for name in NAMES if " ".join(words) in name.lower()]
    assert [m.query_word for m in matches] == words
    for match in matches:
        found = {(word, place) for word, place, _ in match.found}
        assert not match.more and len(match.found) == len(found)
        assert all(set(name_positions(name)) & found for name in holding), (match, holding)
        assert not {w for w, _ in found} & {"qq", "zz", "xx"}
        assert (
            match.borrowers
            == sum(n for *_, n in match.found)
            == sum(1 for name in NAMES for entry in set(name_positions(name.lower())) if entry in found)
        )
    driver = driving_word(matches)
    assert driver.borrowers == min(m.borrowers for m in matches)
    if term in ("qx", "q"):  # in no name's word
        assert driver.found == [] and holding == []


def test_a_word_in_more_entries_than_asked_is_cut_short(platform: Any) -> None:
    brand = uuid.uuid4()
    with platform.db.pool.connection() as conn:
        _directory(conn, brand, NAMES)
        (an,) = vocabulary_matches(conn, brand, ["an"], most=5)
        (qx,) = vocabulary_matches(conn, brand, ["qx"], most=5)
        (exact,) = vocabulary_matches(conn, brand, ["venkatesh"], most=1)
    assert an.more and len(an.found) == 6  # "an" is in 19 different words: most + 1 read
    assert not qx.more and qx.found == [] and qx.borrowers == 0
    assert not exact.more and exact.found == [("venkatesh", 1, 1)]
