"""A name query's words looked up in the brand's name vocabulary (`read.customer_name_vocabulary`, one row per word
of the brand's borrowers' names, its place in the name and how many names hold it there; written by
projections/customers.py): which (word, place) a name holding the query must have. Both name searches start here, the
directory's (`CustomerQueries.search`) and the loan lists' (projections/loan_queries.py).

A name holds a query when its `name_key` contains the query (both lower-cased, the query's words one space apart). So
in a query of one word, that word is within some word of the name; in a query of several, the first ends a word of
the name, the last starts a word and any between are whole words. Each query word is looked up in the
vocabulary accordingly (one statement, one index probe a word: its trigram index, or a range of its primary key for
a word anchored at its start), and the word in the fewest names drives the search: a name holding the query holds
one of its (word, place) entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID


def like_escaped(text: str) -> str:
    """`text` matched literally by LIKE (its backslash, % and _ escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def word_patterns(words: Sequence[str]) -> list[str]:
    """The LIKE pattern of each of a query's words (in order) over the vocabulary's words: contained in a word for a
    query of one word; else the first ends a word, the last starts one, any between are whole words."""
    if len(words) == 1:
        return ["%" + like_escaped(words[0]) + "%"]
    last = len(words) - 1
    return ["%" * (i == 0) + like_escaped(word) + "%" * (i == last) for i, word in enumerate(words)]


#: (word, place, borrowers): a word of the brand's names at a place (1, 2, ..., LONG for any later one), and how many
#: names hold it there. A plain tuple: a common fragment finds thousands, made in the search's time.
VocabularyWord = tuple[str, int, int]


@dataclass(frozen=True)
class WordMatches:
    """One query word's (word, place) entries in the vocabulary: at most `most` of them, or `most` + 1 with `more`
    set when there are more (the list is then cut short)."""

    query_word: str
    pattern: str  # the LIKE pattern it was looked up with (word_patterns)
    found: list[VocabularyWord]
    more: bool
    borrowers: int  # how many names hold one of the entries found (a name holding two at once counted twice)


def vocabulary_matches(conn: Any, brand_id: UUID, words: Sequence[str], most: int) -> list[WordMatches]:
    """For each of a name query's words (lower case, in order, none empty), the brand's vocabulary entries it can be
    part of in a name holding the whole query (word_patterns), at most `most` + 1 of them: one statement."""
    patterns = word_patterns(words)
    lookup = " UNION ALL ".join(
        f"(SELECT {i} AS part, word, place, borrowers FROM read.customer_name_vocabulary "
        f"WHERE brand_id = %(brand)s AND word LIKE %(p{i})s LIMIT %(cap)s)"
        for i in range(len(patterns))
    )
    found: list[list[VocabularyWord]] = [[] for _ in patterns]
    params = {"brand": brand_id, "cap": most + 1} | {f"p{i}": p for i, p in enumerate(patterns)}
    # Never a prepared statement: a generic plan cannot know how common a fragment is.
    for row in conn.execute(lookup, params, prepare=False):
        found[row["part"]].append((row["word"], row["place"], row["borrowers"]))
    return [
        WordMatches(word, pattern, entries, len(entries) > most, sum(n for *_, n in entries))
        for word, pattern, entries in zip(words, patterns, found, strict=True)
    ]


def driving_word(matches: Sequence[WordMatches]) -> WordMatches:
    """The query word whose entries are in the fewest names (one in none: no name holds the query); words found at
    more than `most` entries come last (their count is cut short); between equals, the longer word, then the first."""
    return min(matches, key=lambda m: (m.more, m.borrowers, -len(m.query_word)))
