"""The identifier formats' patterns (domain/shared/formats.py, stated in the OpenAPI document) and their parsers
agree: every string a pattern matches is accepted, and every near miss it refuses is refused (over the strings the
API's edge lets through: `text_problem`). Python's `re` and ECMA-262 (node, where installed) read each pattern alike."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.services.mandates import normalise_upi_id
from domain.blocklist.entry import BlockKind, normalise_blocked_value
from domain.customers.values import Address, normalise_loan_number
from domain.onboarding.steps import BankAccountIn, EmploymentIn, PanIn
from domain.shared import formats
from domain.shared.errors import InvalidInput
from domain.shared.values import normalise_pan, text_problem
from domain.verification.values import normalise_account_number, normalise_ifsc

TODAY = date(2026, 12, 6)


def _employment(uan: str) -> Any:
    return EmploymentIn(
        company_name="Acme Tools", designation="Fitter", date_of_joining=date(2020, 1, 6), monthly_salary="45000",
        salary_mode="bank", salary_date=1, office_address="12 MG Road", office_pincode="560001", uan=uan,
        employment_type="full_time",
    ).checked(TODAY)  # fmt: skip


def _step_bank(account_number: str = "50100012345678", ifsc: str = "HDFC0001234") -> Any:
    return BankAccountIn(account_number=account_number, ifsc=ifsc, holder_name="Asha Rao").checked(TODAY)


def _address(pincode: str) -> Any:
    return Address(kind="current", line1="12 MG Road", city="Bengaluru", pincode=pincode).checked()


def _step_pincode(pincode: str) -> Any:
    return EmploymentIn(
        company_name="Acme Tools", designation="Fitter", date_of_joining=date(2020, 1, 6), monthly_salary="45000",
        salary_mode="bank", salary_date=1, office_address="12 MG Road", office_pincode=pincode,
        employment_type="full_time",
    ).checked(TODAY)  # fmt: skip


#: Each format's pattern, a valid example, the maxLength its fields state, and every parser that reads it.
FORMATS: dict[str, tuple[str, str, int, list[Callable[[str], Any]]]] = {
    "pan": (formats.PAN, "ABCPM1234F", 20, [normalise_pan, lambda s: PanIn(pan=s).checked(TODAY),
                                        lambda s: normalise_blocked_value(BlockKind.PAN, s)]),
    "ifsc": (formats.IFSC, "HDFC0001234", 20, [normalise_ifsc, lambda s: _step_bank(ifsc=s)]),
    "account_number": (formats.ACCOUNT_NUMBER, "50100012345678", 30,
                       [normalise_account_number, lambda s: _step_bank(account_number=s)]),
    "pincode": (formats.PINCODE, "560001", 10, [_address, _step_pincode,
                                            lambda s: normalise_blocked_value(BlockKind.PINCODE, s)]),
    "uan": (formats.UAN, "100123456789", 20, [_employment]),
    "loan_number": (formats.LOAN_NUMBER, "SML/2024-00017", 40, [normalise_loan_number]),
    "upi_id": (formats.UPI_ID, "asha.rao@okhdfc", 100, [normalise_upi_id]),
}  # fmt: skip

#: Characters a near miss is made with: each format's own, their lower case, what `str.upper()` maps to ASCII
#: letters ("ı", "ſ", the ligatures), other scripts' digits, the whitespace the parsers strip and some they do not.
NEAR = "AZaz09 @._-/\t\n\u00a0\u2003\u3000\u200b\ufeff\u0131\u017f\ufb00\ufb01\u00df\u0663\u0967\uff11\u212a+#"


def _accepted(parser: Callable[[str], Any], text: str) -> bool:
    try:
        parser(text)
    except (InvalidInput, ValidationError):  # a model's maxLength, as the field states it
        return False
    return True


def _near_misses(example: str) -> st.SearchStrategy[str]:
    """`example` with a few characters replaced, inserted or removed (and surrounded by whitespace or not)."""

    def edit(text: str, edits: list[tuple[int, int, str]]) -> str:
        for kind, at, char in edits:
            i = at % (len(text) + 1)
            if kind == 0:
                text = text[:i] + char + text[i + 1 :]
            elif kind == 1:
                text = text[:i] + char + text[i:]
            else:
                text = text[:i] + text[i + 1 :]
        return text

    edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 40), st.sampled_from(NEAR)), min_size=1, max_size=3)
    return st.builds(edit, st.just(example), edits)


@pytest.mark.parametrize("name", FORMATS)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_string_the_pattern_matches_is_parsed(name: str, data: st.DataObject) -> None:
    pattern, _, longest, parsers = FORMATS[name]
    # At most two separators a run (the pattern's `*`), so that most drawn strings are within the field's maxLength.
    bounded = pattern.replace("]*", "]{0,2}")
    text = data.draw(st.from_regex(bounded, fullmatch=True).filter(lambda s: len(s) <= longest))
    for parser in parsers:
        assert _accepted(parser, text), (name, text)


@pytest.mark.parametrize("name", FORMATS)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_near_miss_is_refused_exactly_when_the_pattern_refuses_it(name: str, data: st.DataObject) -> None:
    pattern, example, longest, parsers = FORMATS[name]
    text = data.draw(_near_misses(example).filter(lambda s: text_problem(s) is None))
    stated = re.fullmatch(pattern, text) is not None and len(text) <= longest
    for parser in parsers:
        assert _accepted(parser, text) == stated, (name, text)


def test_an_aadhaar_number_of_another_shape_is_refused_and_its_checksum_decides_the_rest() -> None:
    # The pattern states the shape only: the Verhoeff checksum is the parser's (the step stays listed, NOT_STATED).
    valid = "2345 6789 0124"  # passes the checksum
    assert re.fullmatch(formats.AADHAAR_SHAPE, valid)
    assert normalise_blocked_value(BlockKind.AADHAAR, valid) == "234567890124"
    assert re.fullmatch(formats.AADHAAR_SHAPE, "2345 6789 0125")
    with pytest.raises(InvalidInput, match="checksum"):
        normalise_blocked_value(BlockKind.AADHAAR, "2345 6789 0125")
    for near in ("1345 6789 0124", "2345 6789 012", "2345 6789 01245", "2345\u00b7678901 24", "２345 6789 0124",
                 "2345 6789 012\u0664", "2345_6789_0124"):  # fmt: skip
        assert re.fullmatch(formats.AADHAAR_SHAPE, near) is None, near
        with pytest.raises(InvalidInput):
            normalise_blocked_value(BlockKind.AADHAAR, near)


def test_the_stripped_whitespace_is_what_python_strips_that_the_edge_lets_through() -> None:
    # `str.strip()` and `\s` (the parsers') take the same characters; the pattern's class is those the edge keeps.
    spaces = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert spaces == {chr(c) for c in range(0x110000) if re.fullmatch(r"\s", chr(c))}
    kept = "".join(sorted(c for c in spaces if text_problem(c) is None))
    assert re.fullmatch(f"[{formats.SPACES}]*", kept)
    assert not any(re.fullmatch(f"[{formats.SPACES}]", chr(c)) for c in range(0x10000) if chr(c) not in kept)


def test_a_lower_case_or_padded_value_is_kept_as_the_domain_writes_it() -> None:
    assert normalise_pan(" abcpm1234f\n") == "ABCPM1234F"
    assert normalise_ifsc("\u00a0hdfc0001234 ") == "HDFC0001234"
    assert normalise_account_number("5010-0012 345678") == "50100012345678"
    assert normalise_loan_number(" sml/2024-17 ") == "SML/2024-17"
    # What upper-casing maps to ASCII letters is not taken any more: "ı" is no I, "ſ" no S, "ﬀ" no FF.
    for text, parse in (("abcpm1234\u0131", normalise_pan), ("\u017fml/1", normalise_loan_number),
                        ("\ufb00DC0001234", normalise_ifsc)):  # fmt: skip
        with pytest.raises(InvalidInput):
            parse(text)


def test_ecma_262_reads_each_pattern_as_python_does() -> None:
    samples = [example for _, example, _, _ in FORMATS.values()]
    samples += [f"{edge}{s}{edge}" for s in samples for edge in (" ", "\t", "\u3000", "\u200b", "\ufeff", "\u0085")]
    samples += [s.lower() for s in samples] + [s[:-1] + "\u0663" for s in samples] + ["2345-6789-0124", ""]
    patterns = {name: pattern for name, (pattern, *_) in FORMATS.items()} | {"aadhaar": formats.AADHAAR_SHAPE}
    script = (
        "const [patterns, samples] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const out = {}; for (const [n, p] of Object.entries(patterns)) {"
        "const r = new RegExp(p, 'u'); out[n] = samples.map(s => r.test(s)); }"
        "process.stdout.write(JSON.stringify(out));"
    )
    ran = subprocess.run(
        ["node", "-e", script], input=json.dumps([patterns, samples]), capture_output=True, text=True, check=True
    )
    ecma = json.loads(ran.stdout)
    for name, pattern in patterns.items():
        assert ecma[name] == [re.fullmatch(pattern, s) is not None for s in samples], name
