"""The name searches' shared vocabulary lookup (projections/name_vocabulary.py), its pure parts: each query word's
pattern over the vocabulary's words, and which query word drives the search."""

from __future__ import annotations

import pytest

from projections.name_vocabulary import WordMatches, driving_word, like_escaped, word_patterns


def test_like_patterns_match_the_query_literally() -> None:
    assert like_escaped(r"100%_a\b") == r"100\%\_a\\b"


@pytest.mark.parametrize(
    ("words", "patterns"),
    [
        (["harm"], ["%harm%"]),  # one word: within a word of the name
        (["rahul", "sh"], ["%rahul", "sh%"]),  # the first ends a word, the last starts one
        (["l", "shankar", "kumar", "r"], ["%l", "shankar", "kumar", "r%"]),  # those between are whole words
        (["r_k%"], [r"%r\_k\%%"]),
    ],
)
def test_each_query_word_is_looked_up_where_it_can_stand_in_a_name_holding_the_query(
    words: list[str], patterns: list[str]
) -> None:
    assert word_patterns(words) == patterns


def _matches(word: str, *borrowers: int, more: bool = False) -> WordMatches:
    found = [(f"{word}{i}", 1, n) for i, n in enumerate(borrowers)]
    return WordMatches(word, f"%{word}%", found, more, sum(borrowers))


def test_the_query_word_in_the_fewest_names_drives_and_one_cut_short_comes_last() -> None:
    assert driving_word([_matches("kumar", 2500), _matches("12", 1, 1, 1)]).query_word == "12"
    assert driving_word([_matches("qx"), _matches("kumar", 2500)]).query_word == "qx"  # in no name: nothing matches
    assert driving_word([_matches("a", 1, more=True), _matches("kumar", 2500)]).query_word == "kumar"
    assert driving_word([_matches("ra", 3), _matches("ravi", 3), _matches("mani", 3)]).query_word == "ravi"
