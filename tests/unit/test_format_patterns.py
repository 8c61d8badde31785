"""The formats the admin API's schemas state as patterns take exactly what their parsers take: every string a pattern
matches (within the field's length) is parsed, and every near miss it refuses is refused by the parser or the edge's
text rule. schemathesis sends both kinds (`positive_data_acceptance`, `negative_data_rejection`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.fieldwork.dialer import (
    ACCOUNT_PATTERN,
    EXTENSION_PATTERN,
    TOKEN_PATTERN,
    check_account,
    check_extension,
    check_token,
)
from domain.leads.rating import PERIOD, check_period
from domain.notices.source import COMPANY_PATTERN, URL_PATTERN, check_settings, clean_company
from domain.notices.source import TOKEN_PATTERN as SOURCE_TOKEN_PATTERN
from domain.products.terms import CODE_PATTERN, normalise_code
from domain.shared.errors import InvalidInput, InvalidValue
from domain.shared.values import stripped_pattern, text_problem


def _company(text: str) -> None:
    check_settings(company=text)
    assert re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{0,29}", clean_company(text))  # kept upper case, as the lists show it


def _url(text: str) -> None:
    check_settings(base_url=text.strip())  # as connect_source and reconfigure_source call it (no host rule here)


@dataclass(frozen=True)
class Format:
    name: str
    pattern: str
    max_length: int
    parse: Callable[[str], object]


FORMATS = [
    Format("dialer extension", EXTENSION_PATTERN, 8, check_extension),
    Format("dialer account id", ACCOUNT_PATTERN, 60, check_account),
    Format("dialer API token", TOKEN_PATTERN, 200, check_token),
    Format("product or coupon code", CODE_PATTERN, 40, normalise_code),
    Format("notice source company", COMPANY_PATTERN, 30, _company),
    Format("notice source URL", URL_PATTERN, 500, _url),
    Format("rating period", PERIOD.pattern, 7, check_period),
    Format("notice source API token", SOURCE_TOKEN_PATTERN, 500, lambda text: check_settings(token=text)),
]

#: Characters near every format's edges: the ASCII it takes and refuses, whitespace `str.strip` removes and the edge
#: refuses (U+000B, U+001C, U+0085) or takes (U+00A0, U+3000), ECMA-262's `\s` that Python's is not (U+FEFF), letters
#: that upper-case into ASCII ("ı", "ſ", "ß", "ﬁ"), another script's digits, the Kelvin sign and control characters.
NEAR = (
    "aZz09_-./:?#@%~! \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2028\u202f\u3000\ufeff"
    "ıſßﬁ\u212a٣é\x00\x7f\u202e\u200b"
)


def _parsed(fmt: Format, text: str) -> bool:
    """Whether the API takes `text` for the field: within its length, past the edge's text rule and parsed."""
    if len(text) > fmt.max_length or text_problem(text) is not None:
        return False
    try:
        fmt.parse(text)
    except (InvalidValue, InvalidInput):
        return False
    return True


def _stated(fmt: Format, text: str) -> bool:
    return len(text) <= fmt.max_length and re.fullmatch(fmt.pattern, text) is not None


def _near_misses(fmt: Format) -> st.SearchStrategy[str]:
    """Strings the pattern takes with a character put in, replaced or dropped, and strings of the characters above."""

    @st.composite
    def edited(draw: st.DrawFn) -> str:
        text = draw(st.from_regex(fmt.pattern, fullmatch=True))
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(NEAR))
        how = draw(st.sampled_from(["insert", "replace", "drop"]))
        if how == "insert":
            return text[:at] + char + text[at:]
        if how == "replace":
            return text[:at] + char + text[at + 1 :]
        return text[:at] + text[at + 1 :]

    return st.one_of(edited(), st.text(alphabet=NEAR, max_size=12))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_a_format_pattern_and_its_parser_agree(fmt: Format) -> None:
    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(fmt.pattern, fullmatch=True).filter(lambda t: len(t) <= fmt.max_length))
    def stated_is_parsed(text: str) -> None:
        assert _parsed(fmt, text), repr(text)

    @settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(_near_misses(fmt))
    def same_verdict(text: str) -> None:
        assert _stated(fmt, text) == _parsed(fmt, text), repr(text)

    stated_is_parsed()
    same_verdict()


@pytest.mark.parametrize(
    ("fmt", "taken", "refused"),
    [
        (FORMATS[0], [" 2101 ", "\u30002101\u3000", "\t12\n"], ["1", "123456789", "21 01", "٢١٠١", "\ufeff2101"]),
        (FORMATS[1], ["acme.in-01", " AC "], ["a", "-acme", "acme id", "acmé"]),
        (FORMATS[2], ["t0ken-t0ken", "~!@#$%^&*()"], ["short", "t0ken t0ken", "tökentoken", " t0ken-t0ken"]),
        (FORMATS[3], ["pl", " WELCOME-10 ", "a_1"], ["P", "_PL", "PL 2", "ıd", "ßa", "ﬁx"]),
        (FORMATS[4], ["sml", " SML ", "S", "a-b_c"], ["", "-SML", "S M L", "ı", "ß", "ﬁ"]),
        (FORMATS[5], ["http://127.0.0.1:9/api", " https://x.in/a/b/ "], ["ftp://x.in", "https://x.in?q=1", "http://"]),
        (FORMATS[6], ["2024-01", "1900-12"], ["2024-1", "2024-13", "2200-01", "2024-01\n"]),
        (
            FORMATS[7],
            ["tok-1234567890", "~!@#$%^&*()"],
            ["short", "tok 12345678", "टोकन12345678", " tok-12345678", " " * 9],
        ),
    ],
    ids=lambda v: v.name if isinstance(v, Format) else "",
)
def test_a_format_takes_and_refuses_these(fmt: Format, taken: list[str], refused: list[str]) -> None:
    for text in taken:
        assert _stated(fmt, text) and _parsed(fmt, text), repr(text)
    for text in refused:
        assert not _stated(fmt, text) and not _parsed(fmt, text), repr(text)


def test_codes_are_checked_as_typed_not_as_upper_cased() -> None:
    # "ı" and "ß" upper-case to "I" and "SS": they were taken for those codes (and no pattern could say which were).
    assert normalise_code(" welcome ") == "WELCOME"
    for text in ("ıd", "ßa", "ﬁx", "\u212ax"):
        with pytest.raises(InvalidValue):
            normalise_code(text)
        with pytest.raises(InvalidInput):
            check_settings(company=text)


def test_a_trimmed_format_takes_the_whitespace_strip_removes_that_the_edge_lets_through() -> None:
    body, line = stripped_pattern("x"), stripped_pattern("x", multiline=False)
    for code in range(0x10000):
        char = chr(code)
        text = f"{char}x{char}"
        taken = char.isspace() and text.strip() == "x"
        assert (re.fullmatch(body, text) is not None) == (taken and text_problem(text) is None), hex(code)
        assert (re.fullmatch(line, text) is not None) == (taken and text_problem(text, multiline=False) is None)
