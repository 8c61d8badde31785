"""The identifier formats the domain parses (PAN, IFSC, bank account, pincode, UAN, Aadhaar, loan number, UPI id) as
one pattern each, which the parser matches and the API states (OpenAPI `pattern`), so the two cannot drift.

Each pattern is written in the part of regular-expression syntax that Python's `re` and ECMA-262 (JSON Schema's
dialect) read alike: character classes of ASCII and `\\uXXXX` escapes, `{m,n}`, groups, `^...$`. A parser matches it
with `fullmatch` (Python's `$` would also match before a final line break) and then normalises what it matched (strips,
upper-cases, drops separators). Each pattern admits only ASCII letters and digits in the identifier itself: the
parsers once upper-cased first and matched after, which let "ı" or "ſ" pass for I or S and a ligature "ﬀ" for FF; a
code written that way is a typo, not a PAN, and no JSON Schema pattern could say what `str.upper()` maps (the one
narrowing of what the server accepts, docs/api.md).
"""

from __future__ import annotations

from domain.shared.values import stripped_pattern, stripped_spaces

#: The whitespace the parsers strip around a value (`str.strip()`, and `\\s` where they drop separators) that a JSON
#: body may carry: Python's `str.isspace()` characters, but those the edge refuses in every string (`text_problem`:
#: vertical tab, form feed, the C0 separators and NEL). tests/unit/test_formats.py checks it against both.
SPACES = stripped_spaces()
#: Separators an account or Aadhaar number may be written with: whitespace and dashes (`re.sub(r"[\\s-]", "", ...)`).
_SEPARATOR = f"[{SPACES}-]*"


def _trimmed(core: str) -> str:
    """`core` with any surrounding whitespace (the parser strips it)."""
    return stripped_pattern(core)


def _digits_among_separators(first: str, rest: str, count: str) -> str:
    """Digits (the first of class `first`, then `count` of `rest`) with separators anywhere, which the parser drops."""
    return f"^{_SEPARATOR}{first}{_SEPARATOR}(?:{rest}{_SEPARATOR}){count}$"


#: A PAN: five letters, four digits, a letter (either case: kept upper-case).
PAN = _trimmed("[A-Za-z]{5}[0-9]{4}[A-Za-z]")
#: An IFSC: four letters, a zero, six letters or digits (either case: kept upper-case).
IFSC = _trimmed("[A-Za-z]{4}0[A-Za-z0-9]{6}")
#: A bank account number: 9 to 18 digits, spaces and dashes anywhere ignored.
ACCOUNT_NUMBER = _digits_among_separators("[0-9]", "[0-9]", "{8,17}")
#: An Indian pincode: six digits, not starting with 0.
PINCODE = _trimmed("[1-9][0-9]{5}")
#: An EPFO Universal Account Number: 12 digits; blank (only whitespace) is none given.
UAN = _trimmed("(?:[0-9]{12})?")
#: An Aadhaar number's shape: 12 digits, the first not 0 or 1, spaces and dashes anywhere ignored. Its last digit is
#: a Verhoeff checksum, which no pattern states (domain/blocklist/entry.py checks it).
AADHAAR_SHAPE = _digits_among_separators("[2-9]", "[0-9]", "{11}")
#: A loan number: letters, digits and / _ . - (3-40 characters, starting with a letter or digit; kept upper-case).
LOAN_NUMBER = _trimmed("[A-Za-z0-9][A-Za-z0-9/_.-]{2,39}")
#: A UPI id (VPA): name@handle.
UPI_ID = _trimmed("[A-Za-z0-9._-]{2,64}@[A-Za-z][A-Za-z0-9]{1,32}")
