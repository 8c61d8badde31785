"""Declarative API endpoints: authentication, permission, parsing, idempotency and OpenAPI metadata in one place."""

from __future__ import annotations

import hashlib
import json
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Union, cast, get_args, get_origin
from uuid import UUID

import structlog
from pydantic import BaseModel, PlainSerializer, ValidationError, WithJsonSchema
from pydantic.fields import FieldInfo
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.auth import authenticate
from api.problems import HttpProblem, problem_for
from api.security import require_json
from domain.identity.application import Principal
from domain.identity.permissions import Level, Permission
from domain.shared.aggregate import acting_as, tracing
from domain.shared.errors import FieldError, InvalidInput
from domain.shared.values import text_problem

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024
#: No request body of ours nests deeper than a few levels; a bound this far above them keeps parsers and
#: validators out of deep recursion.
MAX_JSON_DEPTH = 32
#: The request headers the API reads, checked like any other input.
READ_HEADERS = {"idempotency-key": "Idempotency-Key", "if-match": "If-Match", "x-brand-id": "X-Brand-Id"}

# An instant in a response: ISO 8601 with its offset as Python writes it (`+00:00`, which the portal's links use
# too), where pydantic would write `Z`.
InstantOut = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


@dataclass
class Context:
    """What a handler gets: the platform, the caller, parsed inputs and path parameters."""

    request: Request
    platform: Any
    principal: Principal  # None only for public endpoints
    body: Any
    query: Any
    path: dict[str, Any]
    headers: dict[str, str]

    @property
    def brand_id(self) -> UUID:
        return self.principal.brand_id

    def expected_version(self) -> int | None:
        """The record version from an `If-Match` ETag (None without the header); 422 when it is not ours."""
        raw = self.headers.get("if-match")
        if not raw:
            return None
        try:
            return int(raw.strip().removeprefix("W/").strip('"'))
        except ValueError:
            raise HttpProblem(
                422, "If-Match must be an ETag from this API (the record's version)", "invalid-input"
            ) from None


@dataclass(frozen=True)
class Reply:
    """A handler's answer: data the endpoint renders through its response model, with a status and headers."""

    data: Any
    status: int | None = None  # None: the endpoint's declared status
    headers: dict[str, str] | None = None


class ResponseDrift(Exception):
    """Raised when a handler's answer does not fit the endpoint's declared response (a bug: 500, logged)."""


Handler = Callable[[Context], Reply | Response]


@dataclass
class Endpoint:
    """One API operation; `permission` is what the caller needs (None: any authenticated caller).

    Every answer but a raw `Response` (a download in one of `media`) is validated against `response` and
    serialised through it, so the OpenAPI document and the wire cannot drift apart.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    permission: tuple[Permission, Level] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    public: bool = False  # no credentials needed (e.g. accepting an invite)
    cross_brand: bool = False  # only a cross-brand principal (Super Admin) may call it
    tags: list[str] = field(default_factory=list)
    statuses: tuple[int, ...] = ()  # other success statuses with the same body (e.g. 200 when nothing changed)
    errors: tuple[int, ...] = ()  # error statuses of this operation beyond the ones every operation of its kind has
    if_match: bool = False  # takes `If-Match: "<version>"` (409 when stale)
    etag: bool = False  # success answers carry `ETag: "<version>"` of the record (the model's `version`)
    media: tuple[str, ...] = ()  # other media types of the success body, answered as a raw Response (e.g. text/csv)

    def __post_init__(self) -> None:
        if self.response is None:
            raise TypeError(f"endpoint {self.method} {self.path} declares no response model")
        if self.etag and "version" not in self.response.model_fields:
            raise TypeError(f"endpoint {self.method} {self.path} sends an ETag but its response has no version")

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    def route(self) -> Route:
        return Route(self.path, self._serve, methods=[self.method], name=self.operation_id)

    async def _serve(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a problem response.
            return problem_for(exc, request)

    async def _handle(self, request: Request) -> Response:
        platform = request.app.state.platform
        raw = await _read_body(request) if self.body is not None else b""
        principal = None if self.public else await run_in_threadpool(authenticate, platform, request)
        _check_headers(request)
        if principal is not None:
            principal = await run_in_threadpool(_acting_brand, platform, request, principal)
        if self.cross_brand and not (principal and principal.cross_brand):
            raise HttpProblem(403, "only a Super Admin may do this", "forbidden")
        if self.permission is not None and principal is not None:
            permission, level = self.permission
            granted = principal.grants.get(permission)
            if granted is None or not granted.covers(level):
                raise HttpProblem(
                    403,
                    f"this needs {permission.value} at {level.value}",
                    "forbidden",
                    permission=permission.value,
                    level=level.value,
                )
        query = _parse_query(self.query, request) if self.query is not None else None
        if self.query is None:
            _check_query_text(request)  # read by nobody, but a NUL there is still refused
        if self.body is not None and raw.strip():
            require_json(request)
        body = _parse_body(self.body, raw) if self.body is not None else None
        path = _parse_path(request.path_params)
        # Public endpoints never touch ctx.principal (nor idempotency, which is kept per principal).
        context = Context(request, platform, cast(Principal, principal), body, query, path, dict(request.headers))

        commands = ("POST", "PATCH", "PUT", "DELETE")
        key = request.headers.get("idempotency-key") if self.method in commands and not self.public else None
        if key is None:
            return await run_in_threadpool(self._invoke, context)
        return await run_in_threadpool(self._invoke_once, context, key, raw)

    def _invoke(self, context: Context) -> Response:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        with acting_as(context.principal.actor if context.principal else "anonymous"), tracing(request_id):
            answer = self.handler(context)
        if isinstance(answer, Response):
            if (answer.media_type or "").split(";")[0] not in self.media:
                raise ResponseDrift(f"{self.operation_id} answered {answer.media_type}, which it does not declare")
            return answer
        return self.render(answer)

    def render(self, reply: Reply) -> Response:
        """The reply as JSON of the declared response model; ResponseDrift when it does not fit."""
        assert self.response is not None
        status = reply.status or self.status
        if status not in (self.status, *self.statuses):
            raise ResponseDrift(f"{self.operation_id} answered {status}, which it does not declare")
        try:
            body = self.response.model_validate(reply.data, from_attributes=True)
        except ValidationError as exc:
            raise ResponseDrift(f"{self.operation_id} answered a body that is not a {self.response.__name__}") from exc
        headers = dict(reply.headers or {})
        if self.etag:
            headers["ETag"] = f'"{getattr(body, "version", None)}"'
        return Response(body.model_dump_json(by_alias=True), status, headers, media_type="application/json")

    def _invoke_once(self, context: Context, key: str, raw: bytes) -> Response:
        """Run the command once per Idempotency-Key; replay the stored response for a repeat."""
        if not 1 <= len(key) <= 200:
            raise HttpProblem(422, "Idempotency-Key must be 1-200 characters", "invalid-input")
        ops = context.platform.ops
        request_hash = hashlib.sha256(
            b"\0".join([self.method.encode(), context.request.url.path.encode(), _canonical(raw)])
        ).hexdigest()
        principal = context.principal.actor
        earlier = ops.begin_idempotent(context.brand_id, principal, key, request_hash)
        if earlier is not None:
            if earlier.request_hash != request_hash:
                raise HttpProblem(
                    422, "this Idempotency-Key was used with a different request", "idempotency-key-reused"
                )
            if earlier.status is None:
                raise HttpProblem(
                    409, "a request with this Idempotency-Key is still in progress", "idempotency-in-progress"
                )
            headers = {**earlier.headers, "Idempotent-Replayed": "true"}
            media = headers.pop("content-type", "application/json")
            return Response(json.dumps(earlier.body), status_code=earlier.status, headers=headers, media_type=media)
        try:
            response = self._invoke(context)
        except Exception as exc:  # noqa: BLE001 - the outcome (a problem response) is what gets stored.
            response = problem_for(exc, context.request)
        except BaseException:  # Cancelled or interrupted: nothing to store, so the key goes back.
            ops.abandon_idempotent(context.brand_id, principal, key)
            raise
        if response.status_code >= 500 or response.status_code == 429:
            # Nothing was done: a retry with the same key (after Retry-After) must run the command, not replay this.
            ops.abandon_idempotent(context.brand_id, principal, key)
            return response
        try:
            body = json.loads(bytes(response.body)) if response.body else None
            keep = {k: v for k, v in response.headers.items() if k in ("location", "content-type", "etag")}
            ops.finish_idempotent(context.brand_id, principal, key, response.status_code, body, keep)
        except Exception as exc:  # noqa: BLE001 - an unrecorded outcome must not pin the key "in progress".
            # The command's outcome stands (it may have been written): the caller gets it as is, and the key is
            # freed so a retry runs again instead of meeting 409 for ever.
            log.error("idempotency.store_failed", key=key, status=response.status_code, error=type(exc).__name__)
            ops.abandon_idempotent(context.brand_id, principal, key)
        return response


def _acting_brand(platform: Any, request: Request, principal: Principal) -> Principal:
    """A Super Admin picks the brand to act within with `X-Brand-Id`; everyone else stays in their own."""
    raw = request.headers.get("x-brand-id")
    if raw is None:
        return principal
    try:
        brand_id = UUID(raw.strip())
    except ValueError:
        raise HttpProblem(422, "X-Brand-Id must be a brand id", "invalid-input") from None
    if brand_id != principal.brand_id and not principal.cross_brand:
        raise HttpProblem(403, "this credential is bound to its own brand", "forbidden")
    platform.identity.brand(brand_id)
    return principal.within(brand_id)


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise HttpProblem(413, f"request body is over {MAX_BODY_BYTES} bytes", "too-large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpProblem(413, f"request body is over {MAX_BODY_BYTES} bytes", "too-large")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    if not raw.strip():
        raise HttpProblem(400, "a JSON request body is required", "malformed-json")
    if nests_deeper_than(raw, MAX_JSON_DEPTH):
        raise HttpProblem(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", "malformed-json")
    try:
        data = json.loads(raw, parse_constant=_not_json)
    except UnicodeDecodeError:
        raise HttpProblem(400, "request body is not UTF-8", "malformed-json") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer of thousands of digits
        raise HttpProblem(400, f"request body is not valid JSON: {exc}", "malformed-json") from None
    if not isinstance(data, dict):
        raise HttpProblem(400, "request body must be a JSON object", "malformed-json")
    errors = list(_text_errors(data, ""))
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


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _text_errors(value: Any, path: str) -> Iterator[FieldError]:
    """Every string of a parsed JSON body, keys included, that no text input may hold (see text_problem)."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            yield FieldError(path or "body", problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem is not None:
                yield FieldError(_join(path, _shown(key)), f"the field name {problem}")
            else:
                yield from _text_errors(item, _join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _text_errors(item, _join(path, str(index)))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shown(text: str) -> str:
    """`text` with unprintable characters escaped, for naming it in an error."""
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def _check_headers(request: Request) -> None:
    errors = []
    for key, name in READ_HEADERS.items():
        value = request.headers.get(key)
        if value is not None and (problem := text_problem(value, multiline=False)) is not None:
            errors.append(FieldError(name, problem))
    if errors:
        raise InvalidInput(errors)


def _check_query_text(request: Request) -> list[tuple[str, str]]:
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


def _parse_query(model: type[BaseModel], request: Request) -> BaseModel:
    """Query parameters into `model`. An empty value means "not given" for a free-text parameter (a search term,
    a text filter, a cursor); for every other parameter (numbers, dates, ids, choices, flags) it is a 422."""
    values: dict[str, str] = {}
    errors: list[FieldError] = []
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    for name, value in _check_query_text(request):
        if value == "":
            info = fields.get(name)
            if info is not None and _free_text(info):
                continue
            if info is not None:
                errors.append(FieldError(name, "is empty; give a value or leave the parameter out"))
                continue
        values[name] = value
    if errors:
        raise InvalidInput(errors)
    return model.model_validate(values)


def _free_text(info: FieldInfo) -> bool:
    """A plain (optionally None) string without a pattern: a search term, a text filter or a cursor."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
    patterned = any(getattr(m, "pattern", None) for m in info.metadata)
    return annotation is str and not patterned


def _parse_path(params: dict[str, Any]) -> dict[str, Any]:
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


def _canonical(raw: bytes) -> bytes:
    """The body with key order and whitespace normalised, so equal JSON hashes equally."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw


def json_response(data: Any, status: int | None = None, headers: dict[str, str] | None = None) -> Reply:
    """A handler's JSON answer (dataclasses, dicts, pydantic values), rendered through the endpoint's response model."""
    return Reply(data, status, headers)
