"""Value rules shared by every context: Indian phone numbers, PAN, email addresses, personal names, what text
input may hold, decimal precision and range, and the dates inputs may name."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar
from uuid import UUID

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BeforeValidator, Strict, WithJsonSchema

from domain.shared.errors import InvalidValue

T = TypeVar("T")

PAN_PATTERN = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
DEFAULT_REGION = "IN"


def normalise_phone(raw: str, field: str = "phone") -> str:
    """Return `raw` in E.164; Indian numbers may be written as `98765 43210`, `098765-43210`, `+91 9876543210`."""
    text = (raw or "").strip()
    if not text:
        raise InvalidValue(field, "phone number is required")
    if re.search(r"[A-Za-z]", text):
        raise InvalidValue(field, f"'{raw}' is not a phone number")
    digits = re.sub(r"[^\d+]", "", text)
    # "0091 98765 43210" and "91 98765 43210" written without the plus sign.
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif len(digits) == 12 and digits.startswith("91"):
        digits = "+" + digits
    try:
        parsed = phonenumbers.parse(digits, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue(field, f"'{raw}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValue(field, f"'{raw}' is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(text: str) -> bool:
    """True when a search term is plausibly a phone number (digits with separators)."""
    digits = re.sub(r"[\s\-().+]", "", text)
    return digits.isdigit() and 10 <= len(digits) <= 14


def normalise_pan(raw: str, field: str = "pan") -> str:
    """Return an upper-case PAN after checking its format (five letters, four digits, a letter)."""
    # As given: surrounding whitespace, either case (domain/shared/formats.py builds its patterns from this module's
    # text rule, so it is read here, not at import).
    from domain.shared.formats import PAN

    pan = (raw or "").strip().upper()
    if not re.fullmatch(PAN, raw or "") or not PAN_PATTERN.match(pan):
        raise InvalidValue(field, f"'{raw}' is not a valid PAN (expected e.g. ABCDE1234F)")
    return pan


def mask_pan(pan: str | None) -> str | None:
    """Mask a PAN for lists: ``ABCDE1234F`` -> ``ABCDE****F``."""
    if not pan:
        return None
    return pan[:5] + "****" + pan[-1]


def normalise_email(raw: str, field: str = "email") -> str:
    """Return a syntactically valid, normalised email address (no DNS lookups)."""
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidValue(field, f"'{raw}' is not a valid email address: {exc}") from exc


def normalise_name(raw: str, field: str = "name") -> str:
    """Collapse whitespace; a name needs at least two visible characters including a letter."""
    problem = text_problem(raw or "")  # line breaks and tabs collapse to spaces below
    if problem is not None:
        raise InvalidValue(field, problem)
    name = " ".join((raw or "").split())
    letters = any(ch.isalpha() and ch not in _BLANK_LOOKALIKES for ch in name)
    if visible_characters(name) < 2 or not letters:
        raise InvalidValue(field, "name must have at least two characters including a letter")
    if len(name) > 200:
        raise InvalidValue(field, "name must be at most 200 characters")
    return name


# Text -----------------------------------------------------------------------------------------------------------

# What no text input may hold: NUL (PostgreSQL text cannot store it), unpaired surrogates (not text: UTF-8 cannot
# encode them), control characters other than tab and line breaks, and the bidirectional embedding, override and
# isolate controls (invisible, and they reorder what a reviewer reads: "Trojan Source").
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
#: The code points `_UNSAFE_TEXT` refuses (but unpaired surrogates, which no UTF-8 request can carry and ECMA-262 and
#: Rust patterns cannot name), and those `_LINE_BREAKS` adds for a single line: `text_pattern` writes them.
_UNSAFE_RANGES = ((0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069))
_LINE_BREAK_RANGES = ((0x09, 0x0A), (0x0D, 0x0D))
_LINE_BREAKS = re.compile("[\t\n\r]")
# Letters that render as nothing (Hangul fillers) and the blank Braille pattern: they pass as "a letter".
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800")


#: The fewest visible characters of a reason, remark, note or title staff must give (a word, not "ok" or "."): the
#: API's schemas state it as the field's `minLength`.
MIN_REASON = 3
#: The most characters of a reason, remark or note (after its whitespace is folded): the API's schemas state it as
#: the field's `maxLength`, and a longer one is refused naming the field (`within_limit`), never cut. The events and
#: read tables hold text of any length: the limit keeps a history readable, not a column's size.
MAX_REASON = 2000


def company_code(raw: str) -> str:
    """A company code as compared: trimmed and upper case. Codes are case-insensitive identifiers of the brand's
    companies (kept as typed for a covenant and a staff member; a notice source's is kept upper case,
    `^[A-Z0-9][A-Z0-9_-]{0,29}$`): "sml" is "SML"."""
    return (raw or "").strip().upper()


def sees_company(companies: Sequence[str], company: str | None) -> bool:
    """Whether a caller limited to `companies` (empty: every company) may see a record of `company` (None: a record of
    no company is every company's), codes compared as `company_code`s (a record stored as "sml" is "SML"'s); projections/companies.py is the same rule in SQL."""
    return not companies or company is None or company_code(company) in {company_code(c) for c in companies}


#: Per aggregate type (class name), the fields of its records that may name another company's records whatever the
#: record's own company: a job run's `cursor` (the brand-wide covenant-evaluation job's is the id of the last covenant
#: of a batch, of whichever company). A caller limited to companies reads them as null (`withheld_across_companies`):
#: in the trail (`/activity`, `/audit/trail`, a staff member's activity) and in the audit replay of the record.
ACROSS_COMPANIES: dict[str, frozenset[str]] = {"JobRun": frozenset({"cursor"})}


def records_named(created: object, keys: Sequence[str]) -> list[UUID]:
    """The ids a creation event names at `keys` (a uuid or a list of them): the records whose company a record of no
    company of its own takes (the covenants' `covenant_id`, `evaluation_ids`), in the trail and the audit replay."""
    named: list[UUID] = []
    for key in keys:
        value = getattr(created, key, None)
        named.extend(value if isinstance(value, list) else [value] if isinstance(value, UUID) else [])
    return named


def withheld_across_companies(aggregate_type: str, data: dict[str, Any], companies: Sequence[str]) -> dict[str, Any]:
    """`data` (a record's state, or one of its events' fields) as a caller limited to `companies` (empty: every
    company) reads it: its `ACROSS_COMPANIES` fields null (kept, not removed). The same dict when nothing is withheld."""
    hidden = ACROSS_COMPANIES.get(aggregate_type, frozenset()) if companies else frozenset()
    if not hidden.intersection(data):
        return data
    return {k: None if k in hidden else v for k, v in data.items()}


def within_limit(text: str, field: str, limit: int = MAX_REASON) -> str:
    """`text` when it has at most `limit` characters; InvalidValue naming `field` (with the count) otherwise."""
    if len(text) > limit:
        raise InvalidValue(field, f"at most {limit:,} characters (this has {len(text):,}): shorten it")
    return text


def text_problem(text: str, *, multiline: bool = True) -> str | None:
    """Why `text` is refused as input (a NUL, an unpaired surrogate, a control or bidi-override character), or None.

    `multiline` text may hold tabs and line breaks; single-line text (names, labels, codes) may not."""
    found = _UNSAFE_TEXT.search(text) or (None if multiline else _LINE_BREAKS.search(text))
    if found is None:
        return None
    char = found.group()
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"contains a NUL character ({code}), which cannot be stored"
    if "\ud800" <= char <= "\udfff":
        return f"contains an unpaired surrogate ({code}), which is not text"
    if "\u202a" <= char <= "\u2069":
        return f"contains a bidirectional-override character ({code})"
    if char in "\t\n\r":
        return f"must be a single line (contains {code})"
    return f"contains a control character ({code})"


def text_pattern(*, multiline: bool = True) -> str:
    """The rule of `text_problem` as a JSON Schema (ECMA-262) pattern, for the API's schemas: any text without a
    character it refuses (`multiline`: tabs and line breaks allowed). The edge applies it to every string of a JSON
    body (multi-line) and every query, path and header value (one line), so the OpenAPI document states it there."""
    return f"^[^{refused_ranges(multiline=multiline)}]*$"


def refused_ranges(*, multiline: bool = True) -> str:
    """The characters `text_problem` refuses (but unpaired surrogates), as the inside of a character class (ECMA-262
    `\\uXXXX`, which Python's re also reads): for a format's pattern that also states the text rule."""
    return _ranges(
        code
        for low, high in _UNSAFE_RANGES + (() if multiline else _LINE_BREAK_RANGES)
        for code in range(low, high + 1)
    )


def _ranges(codes: Iterable[int]) -> str:
    """BMP code points `codes` as the inside of a character class (ECMA-262 `\\uXXXX`, which Python's re also reads)."""
    merged: list[list[int]] = []
    for code in sorted(set(codes)):
        if merged and code == merged[-1][1] + 1:
            merged[-1][1] = code
        else:
            merged.append([code, code])
    return "".join(f"\\u{low:04x}" + (f"-\\u{high:04x}" if high > low else "") for low, high in merged)


#: The whitespace `str.strip` removes and Python's `\s` matches (`str.isspace`: all of it in the BMP), as the inside
#: of a character class: ECMA-262's `\s` is another set (it takes U+FEFF, not U+001C-U+001F or U+0085).
SPACE_RANGES = _ranges(c for c in range(0x10000) if chr(c).isspace())


def stripped_pattern(core: str, *, multiline: bool = True) -> str:
    """The JSON Schema (ECMA-262) pattern of what a parser takes that strips the surrounding whitespace (`str.strip`)
    and then matches `core` in full: `core` between any whitespace `strip` removes, but the characters the edge
    refuses first (`text_problem`: vertical tab, form feed, U+001C-U+001F, U+0085; `multiline` for a JSON body's
    strings, which may hold tabs and line breaks, not for a query, path or header value). `core` (a format's own
    regex, ECMA-262 and Python alike) must neither begin nor end with whitespace, and holds only characters the edge
    lets through: the pattern then also states the text rule (`text_pattern`), so it is the field's one pattern."""
    space = f"[{stripped_spaces(multiline=multiline)}]"
    return f"^{space}*(?:{core}){space}*$"


@functools.cache
def stripped_spaces(*, multiline: bool = True) -> str:
    """The whitespace `str.strip` removes that the edge lets through (`text_problem`; `multiline`: a JSON body's
    strings, else a query, path or header value), as the inside of a character class (ECMA-262 and Python alike):
    what a trimming parser's pattern allows around its value (`stripped_pattern`) or between its parts."""
    return _ranges(c for c in range(0x10000) if chr(c).isspace() and text_problem(chr(c), multiline=multiline) is None)


def _code_point_class(ranges: Iterable[tuple[int, int]], *, negate: bool = False) -> str:
    """A character class of `ranges`: BMP code points as ECMA-262 `\\uXXXX` escapes (which Python's re also reads),
    astral ones as the characters themselves (one code point in Python's re and in ECMA-262's Unicode mode, where a
    `\\uXXXX` pair would be two lone surrogates to Python). No range holds a surrogate."""

    def spelled(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    written = "".join(spelled(low) + (f"-{spelled(high)}" if high > low else "") for low, high in ranges)
    return f"[{'^' if negate else ''}{written}]"


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`ranges` sorted, with overlapping or adjacent ones joined."""
    found: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if found and low <= found[-1][1] + 1:
            found[-1] = (found[-1][0], max(high, found[-1][1]))
        else:
            found.append((low, high))
    return found


@functools.cache
def _visible_ranges() -> tuple[tuple[int, int], ...]:
    """The code points `visible_characters` counts (categories L, N, P and S but the blank look-alikes; surrogates
    aside), as (low, high) ranges. Every code point's category is read into one string of two letters each, and a
    regex finds the runs of visible ones: a Python call per code point (1.1 million of them) took a second at each
    start of a process."""
    categories = "".join(map(unicodedata.category, map(chr, range(0xD800)))) + "".join(
        map(unicodedata.category, map(chr, range(0xE000, 0x110000)))
    )

    def code(position: int) -> int:  # a category's place in the string -> its code point (no surrogates in it)
        return position // 2 + (0x800 if position >= 2 * 0xD800 else 0)

    runs = []
    for run in re.finditer("(?:[LNPS][a-z])+", categories):  # a category is an upper- then a lower-case letter
        low, high = code(run.start()), code(run.end() - 2)
        runs.extend([(low, 0xD7FF), (0xE000, high)] if low < 0xD800 < high else [(low, high)])
    shown: list[tuple[int, int]] = []
    for low, high in runs:  # without the blank look-alikes (each a code point of a visible category)
        for blank in sorted(ord(ch) for ch in _BLANK_LOOKALIKES if low <= ord(ch) <= high):
            if low < blank:
                shown.append((low, blank - 1))
            low = blank + 1
        if low <= high:
            shown.append((low, high))
    return tuple(shown)


@functools.cache
def _text_classes(multiline: bool) -> tuple[str, str, str, str]:
    """The character classes of `visible_pattern`: visible, allowed but not visible, allowed, and the whitespace
    `str.strip` removes that is allowed (one line: without tab and line breaks)."""
    refused = _UNSAFE_RANGES + (() if multiline else _LINE_BREAK_RANGES)
    shown = _visible_ranges()
    # Hidden: neither visible nor refused, written as the class of neither (a lone surrogate, which no request can
    # carry, is not named, as in `text_pattern`); hypothesis then expands the visible ranges, not a million unassigned.
    hidden = _merged((*refused, *shown))
    allowed = text_pattern(multiline=multiline).removeprefix("^").removesuffix("*$")
    blank = f"[{stripped_spaces(multiline=multiline)}]"
    return _code_point_class(shown), _code_point_class(hidden, negate=True), allowed, blank


@functools.cache
def visible_pattern(
    at_least: int = MIN_REASON,
    *,
    multiline: bool = True,
    stripped: bool = False,
    or_empty: bool = False,
    or_blank: bool = False,
) -> str:
    """`clean_text(..., min_visible=at_least)` as a JSON Schema pattern: text `text_problem` takes (`multiline`: tabs
    and line breaks allowed) with at least `at_least` characters `visible_characters` counts. `stripped`: one line
    once the whitespace `str.strip` removes is gone (a JSON body's single-line text: the edge takes line breaks
    anywhere, `clean_text` strips before it checks); `or_empty` takes "" too; `or_blank` any run of that whitespace
    (a reason left blank means the default one).

    One pattern without lookarounds, `^(?:[hidden]*[visible]){n}[allowed]*$`, generated from `unicodedata` (the
    server's own Unicode version): each `[hidden]*[visible]` can match one way only, so a match is linear and
    hypothesis draws from it directly. Astral characters are written as themselves: the pattern reads code points,
    as Python's re, Rust's regex and ECMA-262 in Unicode mode (the `u` flag JSON Schema asks for) do."""
    shown, hidden, allowed, _ = _text_classes(multiline)
    blank = _text_classes(True)[3] if stripped else _text_classes(multiline)[3]
    body = f"(?:{hidden}*{shown}){{{at_least}}}{allowed}*"
    if stripped:
        body = f"{blank}*{body}{blank}*"
    if or_blank:
        return f"^(?:{blank}*|{body})$"
    if or_empty:
        return f"^(?:{body})?$"
    return f"^{body}$"


def visible_characters(text: str) -> int:
    """How many characters of `text` show: letters, digits, punctuation and symbols (not spaces, zero-width or
    formatting characters, combining marks on their own, or blank look-alikes)."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANK_LOOKALIKES)


def unix_line_breaks(text: str) -> str:
    """Line breaks as LF: a browser's textarea counts a line break as one character but posts it as CR LF, so a
    length limit is checked after this."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_text(
    raw: str | None, field: str, *, multiline: bool = False, min_visible: int = 1, missing: str | None = None
) -> str:
    """`raw` without surrounding whitespace; InvalidValue naming `field` when it holds a character `text_problem`
    refuses, or fewer than `min_visible` visible characters (`missing` says what to give; a name of zero-width
    spaces is no name)."""
    text = (raw or "").strip()
    problem = text_problem(text, multiline=multiline)
    if problem is not None:
        raise InvalidValue(field, problem)
    if visible_characters(text) < min_visible:
        needed = "visible text" if min_visible == 1 else f"at least {min_visible} visible characters"
        raise InvalidValue(field, missing or f"must contain {needed}")
    return text


# Decimals ---------------------------------------------------------------------------------------------------------

_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: A decimal string as the API's schemas publish it (`DecimalRule.json_schema`); digits and places are checked after.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
#: The exponent of a decimal string `_DECIMAL_TEXT` matched (`1e3`, `1E+3`).
_EXPONENT = re.compile(r"[eE]")


@dataclass(frozen=True)
class DecimalRule:
    """The precision and range of a decimal input, so that the column it ends in (`numeric(p, s)`, a JSON value a
    read model casts) can hold it: at most `integer_digits` before the point and `places` after, finite, not
    negative zero, not below `minimum`. `pad` writes every value with exactly `places` (money in paise). A string
    written with an exponent (`1e3`) is refused wherever it comes from - a form, a body, a file: typed, it is a typo ("1e5" typed for "1.5" would be a lakh of rupees; "1e1" for a rate of 1.1 % would be 10 %), not a
    way of writing an amount, a rate or a measure (`refuse_exponent`)."""

    integer_digits: int
    places: int
    minimum: Decimal | None = None
    pad: bool = False

    def parse(self, raw: object, field: str = "value") -> Decimal:
        """`raw` (a decimal string, an int, a JSON float or a Decimal) as a Decimal within the rule."""
        value = self._decimal(raw, field)
        if not value.is_finite():
            raise InvalidValue(field, "must be a finite number")
        if value.is_zero():
            if value.is_signed():
                raise InvalidValue(field, "-0 is not a number to record; write 0")
            value = Decimal(0)
        _sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
        if value and exponent + trailing_zeros < -self.places:
            raise InvalidValue(field, f"at most {self.places} decimal places")
        if value and value.adjusted() >= self.integer_digits:
            raise InvalidValue(field, f"at most {self.integer_digits} digits before the decimal point")
        if self.minimum is not None and value < self.minimum:
            raise InvalidValue(field, f"must be at least {self.minimum}")
        # (after the range checks, so that "1e28" still says how many digits fit: any exponent text is past them)
        if isinstance(raw, str):
            refuse_exponent(raw, field)
        precision = Context(prec=self.integer_digits + self.places + 1)
        if self.pad or exponent < -self.places:
            value = value.quantize(Decimal(1).scaleb(-self.places), context=precision)
        elif exponent > 0:
            value = value.quantize(Decimal(1), context=precision)  # 1E+3 -> 1000: plain digits in events and JSON
        return value

    def validate(self, raw: object) -> Decimal:
        """`parse` for a pydantic validator (ValueError, so one 422 names every bad field). A string must be what
        `json_schema` publishes, a plain decimal: no exponent, '+', spaces or bare point (`parse`, for files, forms and
        the command line, takes those too - but never an exponent). "1e5" where "1.5" was meant would otherwise be a lakh
        of rupees."""
        if isinstance(raw, str) and not _PLAIN_DECIMAL.fullmatch(raw):
            if raw.strip().lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
                raise ValueError("must be a finite number")
            shown = raw if len(raw) <= 40 else raw[:40] + "…"
            raise ValueError(
                f"'{shown}' is not a decimal number as written here: digits with an optional point and decimals "
                "(no exponent, '+' or spaces)"
            )
        try:
            return self.parse(raw)
        except InvalidValue as exc:
            raise ValueError(exc.errors[0].message) from None

    def json_schema(self, *, positive: bool = False) -> dict[str, object]:
        """What the rule accepts, for OpenAPI: a number with at most `places` decimals (`multipleOf`, read exactly as
        written: JSON Schema's multiples are decimal, not binary) or a plain decimal string within the digits and
        places; a negative one (where the rule allows it) is not zero: "-0" and "-0.00" are refused (`parse`).
        `positive`: for an amount its command refuses at 0 too (`parse_money(..., positive=True)`, "must be more than
        0"): the number's `exclusiveMinimum` is 0 and the string names a digit that is not 0."""
        largest = float(10**self.integer_digits - 1)  # exact as a float; the fraction adds less than 1
        step = float(Decimal(1).scaleb(-self.places))
        number: dict[str, object] = {"type": "number", "maximum": largest, "multipleOf": step}
        if positive:
            assert self.minimum is not None and self.minimum >= 0, "positive is for a rule that refuses negatives"
            number["exclusiveMinimum"] = 0.0
        else:
            number["minimum"] = float(self.minimum) if self.minimum is not None else -largest
        digits, places = self.integer_digits, self.places
        decimals = rf"(\.[0-9]{{1,{places}}})?" if places else ""
        pattern = rf"[0-9]{{1,{digits}}}{decimals}"
        # A number that is not zero names a digit that is not 0: in the whole part, or in the decimals (the first one
        # of them).
        not_zero = [rf"0{{0,{digits - 1}}}[1-9][0-9]{{0,{digits - 1}}}{decimals}"]
        if places:
            fraction = "|".join(rf"0{{{zeros}}}[1-9][0-9]{{0,{places - 1 - zeros}}}" for zeros in range(places))
            not_zero.append(rf"[0-9]{{1,{digits}}}\.(?:{fraction})")
        if positive:
            pattern = "|".join(not_zero)
        elif self.minimum is None or self.minimum < 0:
            pattern = f"{pattern}|-(?:{'|'.join(not_zero)})"
        return {"anyOf": [number, {"type": "string", "pattern": f"^(?:{pattern})$"}]}

    @staticmethod
    def _decimal(raw: object, field: str) -> Decimal:
        if isinstance(raw, Decimal):
            return raw
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise InvalidValue(field, "must be a number or a decimal string")
        if isinstance(raw, float) and not math.isfinite(raw):
            raise InvalidValue(field, "must be a finite number")
        text = (raw if isinstance(raw, str) else str(raw)).strip()
        if len(text) > 100 or not _DECIMAL_TEXT.fullmatch(text):
            if text.lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
                raise InvalidValue(field, "must be a finite number")
            shown = text if len(text) <= 40 else text[:40] + "…"
            raise InvalidValue(field, f"'{shown}' is not a decimal number")
        try:
            return Decimal(text)
        except InvalidOperation:  # an exponent beyond what Decimal holds
            raise InvalidValue(field, "is out of range") from None


def refuse_exponent(raw: str, field: str) -> None:
    """InvalidValue naming `field` when `raw` is a decimal written with an exponent (`1e3`, `1E-2`): typed input
    spells a number in plain digits, and an exponent there is a typo, not a way of writing it."""
    text = raw.strip()
    if _EXPONENT.search(text) and _DECIMAL_TEXT.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InvalidValue(
            field, f"'{shown}' is written with an exponent: write it in plain digits, e.g. 1000, 1000.50 or 0.25"
        )


#: Rupee amounts: up to 14 digits and paise, like the read models' numeric(16, 2); an amount written as a string is
#: plain digits in every input (the API, the portal's forms, settings and rules): "1e3" is a 422 naming the field.
MONEY = DecimalRule(integer_digits=14, places=2, minimum=Decimal(0), pad=True)
#: Measured values and thresholds of financial covenants (ratios, amounts): numeric(21, 6); like MONEY, written
#: in plain digits in every input ("1e1" or "1E-2" is a 422 naming the field).
MEASURE = DecimalRule(integer_digits=15, places=6)

Money = Annotated[Decimal, BeforeValidator(MONEY.validate), WithJsonSchema(MONEY.json_schema())]
#: An amount its command refuses at 0 ("must be more than 0": a repayment, a waiver, a promise to pay, a loan's
#: amount, ...): read as `Money` (the command's own check and message stay), stated with `exclusiveMinimum: 0` and a
#: string that is not zero, so a schema-valid request is not refused for it.
PositiveMoney = Annotated[Decimal, BeforeValidator(MONEY.validate), WithJsonSchema(MONEY.json_schema(positive=True))]
Measure = Annotated[Decimal, BeforeValidator(MEASURE.validate), WithJsonSchema(MEASURE.json_schema())]


def integral_number(raw: object) -> object:
    """A JSON number without a fraction (`12.0`, `1.2e1`) as the integer it is; anything else as it came. JSON has one
    number type, and JSON Schema's `integer` (what the API's schemas state) is any number whose fraction is zero:
    `12.0` is the 12 a client's float serialiser writes, not a typo, where "12", `true` or 12.5 are not numbers of
    that kind."""
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw


#: A whole number a body gives (a loan's `tenure`, the day of the month a salary comes): a JSON integer only, written
#: 12 or (as JSON Schema's `integer` reads it) 12.0 (`integral_number`). Read laxly, "12", " 12 ", "1_2" and even
#: `true` (1) passed as integers; each is a 422 naming the field, as a decimal string with stray characters is, and
#: so is 12.5. (Money stays a decimal string: `Money`.)
WholeNumber = Annotated[int, BeforeValidator(integral_number), Strict()]
#: A yes/no a body gives (`enabled`, `dry_run`, `available`, `gst_inclusive`): a JSON `true` or `false` only. Read
#: laxly, "yes", "on", "1", 1 and "f" passed as flags (`"dry_run": "yes"` ran a dry run); now each is a 422 naming
#: the field. Portal forms read their checkboxes themselves.
Flag = Annotated[bool, Strict()]


# Dates and instants -------------------------------------------------------------------------------------------

#: The dates any input may name: business dates, due dates, leave, "as of" instants. Year 1 or 9999 is a typo or a
#: probe, and an instant near either end overflows when moved between timezones.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2200, 12, 31)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def check_date_range(value: date, field: str) -> date:
    """`value` when it lies within EARLIEST_DATE..LATEST_DATE; InvalidValue otherwise."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise InvalidValue(field, f"must be between {EARLIEST_DATE.year} and {LATEST_DATE.year}")
    return value


def parse_date(raw: object, field: str = "date") -> date:
    """A date written YYYY-MM-DD (or a `date`) within the accepted range."""
    if isinstance(raw, datetime) or not isinstance(raw, str | date):
        raise InvalidValue(field, "must be a date written YYYY-MM-DD")
    if isinstance(raw, str):
        text = raw.strip()
        if not _ISO_DATE.fullmatch(text):
            raise InvalidValue(field, "must be a date written YYYY-MM-DD")
        try:
            raw = date.fromisoformat(text)
        except ValueError:
            raise InvalidValue(field, f"'{text}' is not a calendar date") from None
    return check_date_range(raw, field)


#: The offsets of every timezone's local time: what an instant may be written with (`parse_instant`).
EARLIEST_OFFSET, LATEST_OFFSET = -timedelta(hours=12), timedelta(hours=14)


def parse_instant(raw: object, field: str = "instant") -> datetime:
    """An ISO-8601 date and time (YYYY-MM-DDTHH:MM[:SS[.ffffff]], optional Z or ±HH:MM), or a `datetime`, within
    the accepted range; without an offset it stays naive (the caller knows which timezone it means)."""
    if not isinstance(raw, str | datetime):
        raise InvalidValue(field, "must be a date and time written YYYY-MM-DDTHH:MM:SS±HH:MM")
    if isinstance(raw, str):
        text = raw.strip()
        if not _ISO_INSTANT.fullmatch(text):
            raise InvalidValue(field, "must be a date and time written YYYY-MM-DDTHH:MM:SS±HH:MM")
        try:
            raw = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidValue(field, f"'{text}' is not a calendar date and time") from None
    check_date_range(raw, field)
    return check_offset(raw, field)


def check_offset(at: datetime, field: str) -> datetime:
    """`at` when it has no offset or one of a zone's (`EARLIEST_OFFSET`..`LATEST_OFFSET`); InvalidValue otherwise.
    Python reads offsets up to ±23:59, PostgreSQL stores them up to ±15:59: one past that was recorded, then broke the
    read model writing it (the answer a 202 for what never appeared)."""
    offset = at.utcoffset()
    if offset is not None and not EARLIEST_OFFSET <= offset <= LATEST_OFFSET:
        raise InvalidValue(field, "the offset must lie between -12:00 and +14:00 (e.g. +05:30)")
    return at


#: How far ahead a callback may be asked for (a later one is a typo of the year, not a callback).
CALLBACK_HORIZON = timedelta(days=366)


def check_callback(at: datetime, now: datetime, field: str = "callback_at") -> datetime:
    """A time to call a borrower back: an instant with its offset, after `now` and within CALLBACK_HORIZON, kept in
    UTC. One rule for a Customer 360 note's callback (customers) and a callback request's call-me-later (callbacks)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidValue(field, "give the time with its offset (e.g. 2026-12-01T18:00:00+05:30)")
    if at <= now:
        raise InvalidValue(field, "a callback is asked for a time still to come")
    if at > now + CALLBACK_HORIZON:
        raise InvalidValue(field, "a callback more than a year ahead is not a callback")
    return at.astimezone(UTC)


#: A calendar date as the API's schemas state it: a year within the accepted range (`parse_date`), a month 01-12 and
#: a day 01-31 (the day's month, `format: date`, says the rest). Months and days spelled out, not `[0-9]{2}`: a client
#: reads what it may send, and a fuzzer drawing from the pattern does not throw away most of what it draws (a month
#: and a day drawn from 00-99 made a real date about one time in thirty, and an instant's time one in twelve of those).
_DATE_PATTERN = r"(19[0-9]{2}|2[01][0-9]{2}|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DATE_PATTERN = f"^{_DATE_PATTERN}$"
#: An RFC 3339 date-time `parse_instant` takes, as the API's schemas state it: a date as above, an upper-case `T`, a
#: time 00:00:00-23:59:59 (no leap second: Python's datetime refuses 60) with at most six decimals, and `Z` or an
#: offset within `EARLIEST_OFFSET`..`LATEST_OFFSET`.
INSTANT_PATTERN = (
    rf"^{_DATE_PATTERN}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{{1,6}})?"
    r"(Z|\+((0[0-9]|1[0-3]):[0-5][0-9]|14:00)|-((0[0-9]|1[01]):[0-5][0-9]|12:00))$"
)


def _pydantic(parse: Callable[[object, str], T]) -> Callable[[object], T]:
    def validate(raw: object) -> T:
        try:
            return parse(raw, "value")
        except InvalidValue as exc:
            raise ValueError(exc.errors[0].message) from None

    return validate


BusinessDate = Annotated[
    date,
    BeforeValidator(_pydantic(parse_date)),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
]
Instant = Annotated[
    datetime,
    BeforeValidator(_pydantic(parse_instant)),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN}),
]


def stated_choices(values: Iterable[str], description: str | None = None, *, or_id: bool = False) -> WithJsonSchema:
    """A string field's schema when the domain checks it against a set of choices (its own check, message and case
    rules stay): an enum of `values` (the canonical spelling, where the check also takes other cases or spaces), so a
    schema-valid request does not name a choice the domain refuses. `or_id`: a record's id is the other choice (a
    staff id besides `me` or `mine`), `format: uuid`. Use it as `Annotated[str, Field(max_length=...),
    stated_choices(...)]`."""
    choices: dict[str, Any] = {"type": "string", "enum": list(values)}
    schema: dict[str, Any] = {"anyOf": [choices, {"type": "string", "format": "uuid"}]} if or_id else choices
    if description:
        schema["description"] = description
    return WithJsonSchema(schema)


def stated_pattern(
    pattern: str, *, max_length: int | None = None, min_length: int | None = None, description: str | None = None
) -> WithJsonSchema:
    """A string field's schema when the domain checks its format (its own check and message stay): `pattern`, a
    format's pattern made from the parser's own regex (`stripped_pattern`, or one beside it) that also states the
    text rule, with the field's lengths. On the string type, so that in `... | None` it is the string branch's:
    `Annotated[str, Field(max_length=n), stated_pattern(P, max_length=n)]`."""
    schema: dict[str, Any] = {"type": "string", "pattern": pattern}
    if max_length is not None:
        schema["maxLength"] = max_length
    if min_length is not None:
        schema["minLength"] = min_length
    if description:
        schema["description"] = description
    return WithJsonSchema(schema)


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """`text` as a whole number when it is one written in ASCII digits (at most `max_digits`), else None.
    `str.isdigit()` also takes "²" and other scripts' digits, which `int()` then refuses, and a number of thousands
    of digits is past `int()`'s limit: a form field, query parameter or header holding either was a 500."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= max_digits else None
