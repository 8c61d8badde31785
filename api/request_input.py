"""Reading a request's input strictly: body size and JSON depth, text no input may hold, query parameters, path
parameters and the headers the API reads."""

from __future__ import annotations

import json
import re
import types
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from starlette.requests import Request

from api.problems import HttpProblem
from domain.shared.errors import FieldError, InvalidInput, field_path
from domain.shared.values import MIN_REASON, text_problem, visible_pattern, whole_number

MAX_BODY_BYTES = 1024 * 1024
#: No request body of ours nests deeper than a few levels; a bound this far above them keeps parsers and
#: validators out of deep recursion.
MAX_JSON_DEPTH = 32
#: How a reason's, a remark's or a note's schema states the rule its validator enforces (`MIN_REASON`).
VISIBLE_MIN_REASON = (
    f"at least {MIN_REASON} visible characters (whitespace, zero-width and control characters do not count)"
)


def visible_text(at_least: int = MIN_REASON, **options: bool) -> Callable[[dict[str, Any]], None]:
    """A field's `json_schema_extra` stating the rule its validator enforces (`clean_text` with `at_least` visible
    characters) as `visible_pattern(at_least, **options)` on its string (the string option of `str | None` too),
    so that a schema-valid reason is one the server takes; the pattern is generated with the schema, not at import."""

    def state(schema: dict[str, Any]) -> None:
        for option in schema.get("anyOf", [schema]):
            if option.get("type") == "string":
                option["pattern"] = visible_pattern(at_least, **options)

    return state


#: A reason's, a remark's or a note's `json_schema_extra` (any lines; surrounding whitespace does not count).
VISIBLE_REASON = visible_text()
#: A title's (one line once surrounding whitespace is stripped).
VISIBLE_TITLE = visible_text(multiline=False, stripped=True)
#: A payment's reference (a UTR, a receipt): one visible character at least, one line once stripped.
VISIBLE_REFERENCE = visible_text(1, multiline=False, stripped=True)
#: An optional reason whose blank (whitespace only, or null) means the default one.
VISIBLE_OR_BLANK = visible_text(or_blank=True)
#: A reason given as a query parameter (one line), "" meaning the default one (`parse_query`: empty free text).
VISIBLE_QUERY_REASON = visible_text(multiline=False, or_empty=True)
#: An optional note: "" (or null) is none, anything else needs a visible character.
VISIBLE_NOTE = visible_text(1, or_empty=True)
#: An optional note whose blank (whitespace only, or null) is none; anything else needs a visible character.
VISIBLE_NOTE_OR_BLANK = visible_text(1, or_blank=True)
#: An optional one-line value (a company) whose blank is none; anything else needs a visible character.
VISIBLE_LINE_OR_BLANK = visible_text(1, multiline=False, stripped=True, or_blank=True)
#: The request headers the API reads, checked like any other input.
READ_HEADERS = {"idempotency-key": "Idempotency-Key", "if-match": "If-Match", "x-brand-id": "X-Brand-Id"}


async def read_body(request: Request) -> bytes:
    """The body, 413 beyond MAX_BODY_BYTES (declared or streamed)."""
    length = request.headers.get("content-length")
    if length is not None and (whole_number(length, 4000) or 0) > MAX_BODY_BYTES:
        raise HttpProblem(413, f"request body is over {MAX_BODY_BYTES} bytes", "too-large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpProblem(413, f"request body is over {MAX_BODY_BYTES} bytes", "too-large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    """A JSON object body into `model`: 400 when it is not one (or nests too deep), 422 naming each bad field."""
    if not raw.strip():
        raise HttpProblem(400, "a JSON request body is required", "malformed-json")
    if nests_deeper_than(raw, MAX_JSON_DEPTH):
        raise HttpProblem(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", "malformed-json")
    repeated = _RepeatedNames()
    try:
        data = json.loads(raw, parse_constant=_not_json, object_pairs_hook=repeated)
    except UnicodeDecodeError:
        raise HttpProblem(400, "request body is not UTF-8", "malformed-json") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer of thousands of digits
        raise HttpProblem(400, f"request body is not valid JSON: {exc}", "malformed-json") from None
    if not isinstance(data, dict):
        raise HttpProblem(400, "request body must be a JSON object", "malformed-json")
    errors = list(_text_errors(data, "", repeated))
    if errors:
        raise InvalidInput(errors)
    return model.model_validate(data)


_JSON_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_JSON_STRING = re.compile(rb'"[^"]*"')  # once escapes are gone: linear, at most one unterminated scan
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the arrays and objects of a JSON text nest more than `limit` levels (brackets inside strings do not
    count); read before parsing, so a body of a thousand nested arrays never reaches a recursive parser."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # not even that many brackets
    brackets = _JSON_STRING.sub(b"", _JSON_ESCAPE.sub(b"", raw)).translate(None, delete=_NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


class _RepeatedNames:
    """A JSON parse's object hook that notes, per object, the names given more than once (JSON keeps the last)."""

    def __init__(self) -> None:
        #: id of a parsed object -> the object (kept, so that no other object takes its id) and its repeated names
        self.found: dict[int, tuple[dict[str, Any], list[str]]] = {}

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        parsed = dict(pairs)
        if len(parsed) < len(pairs):
            counts = Counter(name for name, _ in pairs)
            self.found[id(parsed)] = (parsed, [name for name in parsed if counts[name] > 1])
        return parsed

    def names(self, parsed: dict[str, Any]) -> list[str]:
        """The names `parsed` was given more than once."""
        found = self.found.get(id(parsed))
        return found[1] if found is not None and found[0] is parsed else []


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _text_errors(value: Any, path: str, repeated: _RepeatedNames | None = None) -> Iterator[FieldError]:
    """Every string of a parsed JSON body, keys included, that no text input may hold (see text_problem), and every
    name an object was given more than once (`repeated`, from `_RepeatedNames`): `{"amount": "1", "amount": "1000"}`
    means whichever value a reader keeps, so it is refused as a query parameter given twice is."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            yield FieldError(path or "body", problem)
    elif isinstance(value, dict):
        for key in repeated.names(value) if repeated is not None else ():
            yield FieldError(_join(path, _shown(key)), "given more than once")
        for key, item in value.items():
            problem = text_problem(key)
            if problem is not None:
                yield FieldError(_join(path, _shown(key)), f"the field name {problem}")
            else:
                yield from _text_errors(item, _join(path, key), repeated)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _text_errors(item, field_path([index], path), repeated)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shown(text: str) -> str:
    """`text` with unprintable characters escaped, for naming it in an error."""
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def require_plain_body(request: Request) -> None:
    """A request body is read as sent: a `Content-Encoding` other than `identity` (gzip, deflate, br) is a 415 naming
    it, rather than its compressed bytes read as JSON or a form (a 400 or 422 that said nothing of the encoding)."""
    coding = request.headers.get("content-encoding", "").strip().lower()
    if coding not in ("", "identity"):
        raise HttpProblem(
            415,
            f"send the request body without a Content-Encoding (got '{coding[:40]}'): it is read as sent",
            "unsupported-media",
        )


def check_headers(request: Request) -> None:
    """422 when a header the API reads holds text no input may hold."""
    errors = []
    for key, name in READ_HEADERS.items():
        value = request.headers.get(key)
        if value is not None and (problem := text_problem(value, multiline=False)) is not None:
            errors.append(FieldError(name, problem))
    if errors:
        raise InvalidInput(errors)


def check_query_text(request: Request) -> list[tuple[str, str]]:
    """The query parameters as (name, value) pairs; 422 for a parameter given twice or holding text no input
    may hold."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    items = request.query_params.multi_items()
    for name, value in items:
        if (problem := text_problem(name, multiline=False)) is not None:
            errors.append(FieldError(_shown(name), f"the parameter name {problem}"))
        elif (problem := text_problem(value, multiline=False)) is not None:
            errors.append(FieldError(name, problem))
        elif name in seen:
            errors.append(FieldError(name, "given more than once"))
        seen.add(name)
    if errors:
        raise InvalidInput(errors)
    return items


#: What a whole-number query parameter (`limit`, `days`, `tenure`) says when its value is written any other way.
NOT_WHOLE = (
    "must be a whole number written in the digits 0-9 only (no sign, spaces or separators; a decimal point only "
    "before zeros, as in 3.0)"
)
#: The zero fraction a whole number may be written with in a query (`3.0`, `3.00`): JSON Schema's `integer`, which the
#: document states, is any number whose fraction is zero, and a client's float serialiser writes 3 that way.
_ZERO_FRACTION = re.compile(r"(?<=[0-9])\.0+$")


def parse_query(model: type[BaseModel], request: Request) -> BaseModel:
    """Query parameters into `model`. An empty value means "not given" for a free-text parameter (a search term,
    a text filter, a cursor); for every other parameter (numbers, dates, ids, choices, flags) it is a 422. A whole
    number is ASCII digits only (`whole_number`), with at most a zero fraction (`3.0`, `_ZERO_FRACTION`): pydantic
    reads " 3", "+3" and "3_0" as integers too."""
    values: dict[str, str] = {}
    errors: list[FieldError] = []
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    for name, value in check_query_text(request):
        info = fields.get(name)
        if value == "":
            if info is not None and free_text(info):
                continue
            if info is not None:
                errors.append(FieldError(name, "is empty; give a value or leave the parameter out"))
                continue
        elif info is not None and _whole(info):
            value = _ZERO_FRACTION.sub("", value)  # "3.0" is the integer 3, as JSON Schema's `integer` reads it
            if whole_number(value) is None:
                errors.append(FieldError(name, NOT_WHOLE))
                continue
        values[name] = value
    if errors:
        raise InvalidInput(errors)
    return model.model_validate(values)


def free_text(info: FieldInfo) -> bool:
    """A plain (optionally None) string without a pattern: a search term, a text filter or a cursor."""
    patterned = any(getattr(m, "pattern", None) for m in info.metadata)
    return _plain_type(info) is str and not patterned


def _whole(info: FieldInfo) -> bool:
    """An (optionally None) integer: a page size, a number of days, a tenure."""
    return _plain_type(info) is int


def _plain_type(info: FieldInfo) -> Any:
    """The field's type without its `None` (`int | None` is `int`)."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
    return annotation


def parse_path(params: dict[str, Any]) -> dict[str, Any]:
    """Path parameters; those named `...id` as UUIDs (404 when one is not)."""
    errors = [
        FieldError(name, problem)
        for name, value in params.items()
        if (problem := text_problem(str(value), multiline=False)) is not None
    ]
    if errors:
        raise InvalidInput(errors)
    parsed: dict[str, Any] = {}
    for name, value in params.items():
        if name.endswith("id"):
            try:
                parsed[name] = UUID(str(value))
            except ValueError:
                raise HttpProblem(404, f"no resource with id '{value}'", "not-found") from None
        else:
            parsed[name] = value
    return parsed


def canonical(raw: bytes) -> bytes:
    """The body with key order and whitespace normalised, so equal JSON hashes equally."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw


def check_ranges(model: BaseModel, *pairs: tuple[str, str]) -> None:
    """A 422 naming each range of `model`'s (start field, end field) pairs whose end is before its start (both
    given, of one kind: two dates, or two instants both with or both without an offset), by their parameter
    names. A reversed range would match nothing and answer an empty page as if nothing were there."""
    errors: list[FieldError] = []
    for start_name, end_name in pairs:
        start, end = getattr(model, start_name), getattr(model, end_name)
        if start is None or end is None or type(start) is not type(end):
            continue
        try:
            reversed_ = end < start
        except TypeError:  # an instant with an offset and one without: the brand's time zone decides, later
            continue
        if reversed_:
            fields = type(model).model_fields
            shown_start = fields[start_name].alias or start_name
            errors.append(FieldError(fields[end_name].alias or end_name, f"must not be before '{shown_start}'"))
    if errors:
        raise InvalidInput(errors)


#: What a PATCH says about an explicit null on a field it has no "cleared" state for.
NOT_CLEARABLE = "cannot be cleared: leave the field out to keep it, or give a value"


def refuse_null(value: Any) -> Any:
    """A PATCH field's `mode="before"` validator: an explicit null is refused (422 naming the field) rather than read
    as "leave unchanged", which would answer 200 to a change that was never made. A field left out is not validated
    and still means "unchanged"."""
    if value is None:
        raise ValueError(NOT_CLEARABLE)
    return value


def null_refused(*names: str) -> Callable[[dict[str, Any]], None]:
    """A model's `json_schema_extra` stating `refuse_null` on its fields `names`: their schemas leave null out (and a
    default of null, which only says that a field left out changes nothing), so a schema-valid PATCH is not refused
    for a null."""

    def state(schema: dict[str, Any]) -> None:
        for name in names:
            field = schema["properties"][name]
            options = [option for option in field.pop("anyOf", []) if option.get("type") != "null"]
            if len(options) == 1:
                field.update(options[0])
            elif options:
                field["anyOf"] = options
            if "default" in field and field["default"] is None:
                del field["default"]

    return state
