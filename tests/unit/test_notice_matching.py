from __future__ import annotations

import itertools
import random
from uuid import UUID

import pytest

from domain.notices.matching import (
    FLOOR,
    METHODS,
    NAME_METHOD_MIN,
    Candidate,
    MatchResult,
    band_of,
    match,
    name_key,
    name_keys,
    name_probes,
    name_similarity,
    phone_key,
)
from domain.shared.errors import InvalidInput
from domain.shared.values import normalise_phone

PHONE = "+919876543210"
OTHER_PHONE = "+919812345678"


def _id(n: int) -> UUID:
    return UUID(int=n)


def _candidate(
    n: int, name: str, phones: tuple[str, ...] = (OTHER_PHONE,), loans: tuple[str, ...] = ("OTHER-1",)
) -> Candidate:
    return Candidate(customer_id=_id(n), name=name, phones=phones, loan_numbers=loans)


def _only(result: MatchResult) -> tuple[int, str, tuple[str, ...]]:
    return result.confidence, result.band, result.methods


# name_key and name similarity


def test_name_key_lowercases_drops_leading_honorifics_and_punctuation() -> None:
    assert name_key("  Dr. SMT.  Lakshmi   K. ") == "lakshmi k"
    assert name_key("Mr.Karthik-R") == "karthik r"
    assert name_key("Late Shri O'Brien") == "obrien"


def test_name_key_keeps_honorific_words_that_are_part_of_the_name() -> None:
    assert name_key("Priya Kumari") == "priya kumari"
    assert name_key("Kumari") == "kumari"


def test_name_key_keeps_indic_script_words_whole() -> None:
    # Devanagari vowel signs are not `\w`; treating them as punctuation would split "राम" into "र म".
    assert name_key("राम  प्रसाद।") == "राम प्रसाद"


def test_name_key_drops_the_relative_named_after_s_o_or_w_o() -> None:
    assert name_key("Ramesh S/O Krishnan") == "ramesh"
    assert name_key("Smt. Lakshmi w/o Ramesh Iyer") == "lakshmi"


@pytest.mark.parametrize(
    ("notice_name", "record_name"),
    [
        ("Karthik R", "R. Karthik"),  # initials and order
        ("SURESH MENON", "suresh menon"),  # case
        ("Mr. Suresh Menon", "Suresh Menon"),  # honorific
        ("Suresh Menon", "Suresh Kumar Menon"),  # extra middle name
        ("Menon Suresh", "Suresh Menon"),  # order
        ("K. Ramesh", "Krishnan Ramesh"),  # initial for a word
        ("KR Ramesh", "K. R. Ramesh"),  # run-together initials
        ("Laxmi Narayanan", "Lakshmi Narayanan"),  # spelling variant
        ("Preeti Sharma", "Priti Sharma"),  # spelling variant
        ("Md Irfan Khan", "Mohammed Irfan Khan"),  # abbreviation
        ("Saikumar Reddy", "Sai Kumar Reddy"),  # words run together
        ("Venkatsh Iyer", "Venkatesh Iyer"),  # one typo
    ],
)
def test_the_same_person_written_differently_scores_high(notice_name: str, record_name: str) -> None:
    assert name_similarity(notice_name, record_name) >= 90


@pytest.mark.parametrize(
    ("notice_name", "record_name", "at_most"),
    [
        ("Ramesh Menon", "Suresh Menon", 50),  # same surname only
        ("Ramesh Menon", "Rajesh Menon", 50),  # one letter apart is another name, not a typo
        ("Lakshmi Iyer", "Ramesh Menon", 0),
        ("Suresh", "Suresh Menon", 70),  # a single word fits many borrowers
        ("K R", "Karthik Raja", 50),  # initials alone
    ],
)
def test_different_or_thin_names_score_low(notice_name: str, record_name: str, at_most: int) -> None:
    assert name_similarity(notice_name, record_name) <= at_most


def test_name_similarity_is_symmetric() -> None:
    pairs = [("Suresh Kumar Menon", "Suresh Menon"), ("K. Ramesh", "Krishnan Ramesh"), ("Suresh", "Suresh Menon")]
    for a, b in pairs:
        assert name_similarity(a, b) == name_similarity(b, a)


# phone_key


@pytest.mark.parametrize("raw", ["098765-43210", "+91 98765 43210", "919876543210", "98765 43210", PHONE])
def test_phone_key_normalises_common_indian_formats(raw: str) -> None:
    assert phone_key(raw) == PHONE


@pytest.mark.parametrize("raw", ["", "12345", "not given", "98765 4321"])
def test_phone_key_is_none_for_what_is_not_a_phone(raw: str) -> None:
    assert phone_key(raw) is None


def test_phone_key_agrees_with_the_general_phone_rule_in_every_shape() -> None:
    # The mobile fast path must answer what normalise_phone answers, valid ranges and unallocated ones alike.
    rng = random.Random(5)
    shapes = (
        "{d}", "{a} {b}", "0{a}-{b}", "+91 {d}", "91{d}", "+91-{a}-{b}", "+91{d}", "0091 {d}", " {d}\t", "91 {d}",
        "+91 0{d}", "{d}x", "0{d}1",
    )  # fmt: skip
    for _ in range(3000):
        digits = f"{rng.randint(1, 9)}{rng.randrange(10**9):09d}"
        raw = rng.choice(shapes).format(d=digits, a=digits[:5], b=digits[5:])
        try:
            expected: str | None = normalise_phone(raw)
        except InvalidInput:
            expected = None
        assert phone_key(raw) == expected, raw


# bands


@pytest.mark.parametrize(
    ("confidence", "band"),
    [(0, "low"), (49, "low"), (50, "medium"), (79, "medium"), (80, "high"), (100, "high")],
)
def test_band_boundaries(confidence: int, band: str) -> None:
    assert band_of(confidence) == band


# scoring rules


def test_loan_number_match_is_high_and_highest_with_an_agreeing_name() -> None:
    same_name = match("LN-001", None, "Suresh Menon", [_candidate(1, "Suresh Menon", loans=("LN-001",))])
    other_name = match("LN-001", None, "Suresh Menon", [_candidate(1, "Lakshmi Iyer", loans=("LN-001",))])
    assert _only(same_name) == (100, "high", ("loan_number", "name"))
    assert _only(other_name) == (85, "high", ("loan_number",))
    assert same_name.customer_id == other_name.customer_id == _id(1)


def test_loan_number_compares_trimmed_and_upper_case() -> None:
    result = match(" ln-001 ", None, "Lakshmi Iyer", [_candidate(1, "Suresh Menon", loans=("LN-000", "LN-001"))])
    assert result.methods == ("loan_number",)


def test_phone_match_with_a_similar_name_is_high() -> None:
    result = match(None, "098765-43210", "Karthik R", [_candidate(1, "R. Karthik", phones=(PHONE,))])
    assert _only(result) == (90, "high", ("phone", "name"))


def test_alternate_phone_counts_as_a_phone_match() -> None:
    result = match(None, "+91 98765 43210", "Suresh Menon", [_candidate(1, "Suresh Kumar Menon", (OTHER_PHONE, PHONE))])
    assert result.band == "high"
    assert result.methods == ("phone", "name")


def test_relatives_phone_is_medium() -> None:
    # Ramesh's notice carries his brother Suresh's phone: same surname, different first name.
    result = match(None, "919876543210", "Ramesh Menon", [_candidate(1, "Suresh Menon", phones=(PHONE,))])
    assert _only(result) == (75, "medium", ("phone",))


def test_phone_match_with_an_unrelated_name_is_still_medium() -> None:
    result = match(None, PHONE, "Lakshmi Iyer", [_candidate(1, "Ramesh Menon", phones=(PHONE,))])
    assert _only(result) == (60, "medium", ("phone",))


def test_loan_number_and_phone_together_are_the_top() -> None:
    both = match("LN-001", PHONE, "Suresh Menon", [_candidate(1, "Suresh Menon", (PHONE,), ("LN-001",))])
    both_other_name = match("LN-001", PHONE, "Lakshmi Iyer", [_candidate(1, "Suresh Menon", (PHONE,), ("LN-001",))])
    loan_only_other_name = match("LN-001", None, "Lakshmi Iyer", [_candidate(1, "Suresh Menon", loans=("LN-001",))])
    assert _only(both) == (100, "high", METHODS)
    assert both_other_name.confidence > loan_only_other_name.confidence
    assert both_other_name.methods == ("loan_number", "phone")


def test_loan_number_beats_a_name_only_namesake() -> None:
    result = match(
        "LN-001",
        None,
        "Suresh Menon",
        [_candidate(1, "Suresh Menon"), _candidate(2, "Suresh Menon", loans=("LN-001",))],
    )
    assert result.customer_id == _id(2)
    assert [s.customer_id for s in result.candidates] == [_id(2), _id(1)]


def test_name_only_match_is_at_most_medium() -> None:
    result = match(None, None, "Suresh Menon", [_candidate(1, "SURESH MENON")])
    assert _only(result) == (75, "medium", ("name",))
    assert result.confidence < 80


def test_name_only_match_is_low_when_the_name_is_only_somewhat_similar() -> None:
    single_word = match(None, None, "Suresh", [_candidate(1, "Suresh Menon")])
    other_middle = match(None, None, "Suresh Kumar Menon", [_candidate(1, "Suresh Raj Menon")])
    assert single_word.band == other_middle.band == "low"
    assert single_word.customer_id == other_middle.customer_id == _id(1)


def test_unrelated_candidate_scores_below_the_floor() -> None:
    result = match("LN-001", PHONE, "Lakshmi Iyer", [_candidate(1, "Ramesh Menon")])
    assert result.candidates[0].confidence < FLOOR


def test_same_surname_alone_does_not_match_by_name() -> None:
    result = match(None, None, "Priya Sharma", [_candidate(1, "Anita Sharma")])
    assert result.customer_id is None


def test_nothing_above_the_floor_is_unmatched_but_shows_what_was_considered() -> None:
    result = match(None, "not given", "Lakshmi Iyer", [_candidate(1, "Ramesh Menon"), _candidate(2, "Lakshmi Rao")])
    assert (result.customer_id, result.confidence, result.band, result.methods) == (None, 0, "unmatched", ())
    assert [s.customer_id for s in result.candidates] == [_id(2), _id(1)]
    assert result.candidates[0].name_score == 50


def test_no_candidates_is_unmatched() -> None:
    assert match("LN-001", PHONE, "Suresh Menon", []) == MatchResult(None, 0, "unmatched", (), ())


def test_two_equally_good_high_candidates_lower_the_band_to_medium() -> None:
    # One phone shared by two borrowers called the same: matching cannot tell them apart.
    first, second = _candidate(7, "Suresh Menon", phones=(PHONE,)), _candidate(3, "Suresh Menon", (OTHER_PHONE, PHONE))
    result = match(None, PHONE, "Suresh Menon", [first, second, _candidate(9, "Suresh Kumar")])
    assert _only(result) == (79, "medium", ("phone", "name"))
    assert result.customer_id == _id(3)  # first by customer_id string, whatever the input order
    assert [s.customer_id for s in result.candidates[:2]] == [_id(3), _id(7)]
    assert [s.confidence for s in result.candidates[:2]] == [90, 90]


def test_two_equally_good_medium_candidates_lower_the_band_to_low() -> None:
    result = match(None, None, "Suresh Menon", [_candidate(2, "Suresh Menon"), _candidate(1, "Suresh Menon")])
    assert (result.customer_id, result.confidence, result.band) == (_id(1), 49, "low")
    assert {s.customer_id for s in result.candidates} == {_id(1), _id(2)}


def test_candidates_are_the_best_five_best_first() -> None:
    names = ["Suresh Menon", "Suresh K Menon", "Suresh", "Ramesh Menon", "Suresh Nair", "Lakshmi Iyer", "S Menon"]
    candidates = [_candidate(i, n) for i, n in enumerate(names)]
    candidates.append(_candidate(99, "Lakshmi Iyer", phones=(PHONE,)))
    result = match(None, PHONE, "Suresh Menon", candidates)
    confidences = [s.confidence for s in result.candidates]
    assert len(result.candidates) == 5
    assert confidences == sorted(confidences, reverse=True)
    assert result.candidates[0].customer_id == _id(0)


def test_all_tied_best_candidates_are_listed_even_beyond_five() -> None:
    candidates = [_candidate(i, "Suresh Menon") for i in range(7)]
    result = match(None, None, "Suresh Menon", candidates)
    assert len(result.candidates) == 7
    assert result.band == "low"


def test_a_borrower_passed_twice_is_listed_once_with_its_best_score() -> None:
    weak = _candidate(1, "Suresh Menon")
    strong = _candidate(1, "Suresh Menon", phones=(PHONE,))
    result = match(None, PHONE, "Suresh Menon", [weak, strong, weak])
    assert [s.customer_id for s in result.candidates] == [_id(1)]
    assert result.band == "high"


def test_the_same_inputs_in_any_order_give_the_same_result() -> None:
    candidates = [
        _candidate(5, "Suresh Menon", phones=(PHONE,)),
        _candidate(2, "Suresh Menon", phones=(OTHER_PHONE, PHONE)),
        _candidate(8, "Suresh Kumar Menon"),
        _candidate(4, "Ramesh Menon", loans=("LN-001",)),
    ]
    results = {match("LN-001", PHONE, "Suresh Menon", order) for order in itertools.permutations(candidates)}
    assert len(results) == 1


# blocking keys


def _blocked(notice_name: str, record_name: str) -> bool:
    """Whether a notice's name probes find a borrower record's keys."""
    _, keys = name_keys(record_name)
    exact, prefixes = name_probes(notice_name)
    return bool(set(exact) & set(keys)) or any(k.startswith(p) for p in prefixes for k in keys)


@pytest.mark.parametrize(
    "notice_name",
    ["Karthik Raman", "KARTHIK RAMAN", "Mr. Karthik Raman", "R. Karthik", "K. Raman", "Raman  Karthik", "karthik"],
)
def test_a_borrowers_name_as_sources_write_it_finds_the_borrower(notice_name: str) -> None:
    assert _blocked(notice_name, "Karthik Raman")


def test_blocking_finds_every_name_that_could_match_by_name_alone() -> None:
    # Every pair of names that scores NAME_METHOD_MIN or more meets on a key (words spelled alike once folded).
    words = ["Suresh", "Kumar", "Menon", "Lakshmi", "Laxmi", "Iyer", "Mohd", "Imran", "Khan", "Priya", "Devi"]
    rng = random.Random(3)
    names = ["Suresh", "K. R. Menon", "Md Imran Khan", "Mohammed Imran"]
    names += [" ".join(rng.sample(words, rng.randint(2, 4))) for _ in range(60)]
    names += [f"{rng.choice(words)[0]}. {rng.choice(words)}" for _ in range(20)]
    scored = 0
    for notice_name in names:
        for record_name in names:
            if name_similarity(notice_name, record_name) >= NAME_METHOD_MIN:
                scored += 1
                assert _blocked(notice_name, record_name), (notice_name, record_name)
    assert scored > len(names)  # not only each name with itself


def test_name_keys_count_the_words_and_file_the_whole_name_and_its_word_pairs() -> None:
    assert name_keys("Mr. Karthik R.") == (2, ["=k:kartik r", "kartik r"])
    words, keys = name_keys("Suresh Kumar Menon")
    assert words == 3 and len(keys) == 1 + 3 * 2


def test_a_covenant_desk_loan_of_the_borrower_is_certain_whatever_the_name_and_phone() -> None:
    own = Candidate(customer_id=_id(1), name="Lakshmi Iyer", phones=(OTHER_PHONE,), loan_numbers=(),
                    own_loans=("DEMO-L-000123",))  # fmt: skip
    linked = _candidate(2, "Ramesh Menon", phones=(PHONE,), loans=("DEMO-L-000123",))
    result = match(" demo-l-000123 ", PHONE, "Ramesh Menon", [linked, own])
    assert result.customer_id == _id(1)
    assert _only(result) == (100, "high", ("loan_number",))
    # the same borrower named by another loan number is scored as before
    other = match("DEMO-L-000999", None, "Lakshmi Iyer", [own])
    assert other.confidence == 75 and other.methods == ("name",)
