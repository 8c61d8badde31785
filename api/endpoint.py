"""Declarative API endpoints: authentication, permission, parsing, idempotency and OpenAPI metadata in one place.

A route module declares a port (the typed dependencies of its handlers, see `api.ports`) and its endpoints:

    ENDPOINTS = serve(BlocklistPort, "blocklist", [Endpoint("GET", "/api/v1/blocklist", list_blocklist, ...), ...])

Each handler takes a `Context[BlocklistPort]` and returns a `Reply` rendered through the declared response model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, cast
from uuid import UUID

import structlog
from pydantic import BaseModel, PlainSerializer, ValidationError, WithJsonSchema
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.auth import acting_brand, authenticate, authenticate_borrower
from api.idempotency import run_once
from api.ports import BorrowerGate, Gate, Services
from api.problems import HttpProblem, problem_for
from api.request_input import check_headers, check_query_text, parse_body, parse_path, parse_query, read_body
from api.security import require_json
from api.uploads import Upload, UploadedFile, fingerprint, parse_form, read_multipart
from domain.identity.permissions import Required, alternatives, required_words
from domain.identity.principal import Principal
from domain.onboarding.parties import BorrowerPrincipal
from domain.shared.aggregate import acting_as, tracing
from domain.shared.application import CommandResult
from domain.shared.errors import InvalidValue

log = structlog.get_logger(__name__)

P = TypeVar("P")
T = TypeVar("T")

#: The version an If-Match ETag carries: a record version as this API sends it (`"3"`).
_ETAG_VERSION = re.compile(r"[0-9]{1,18}")
#: An If-Match value `expected_version` reads, as the OpenAPI document states it: the ETag as sent (`"3"`), weak or
#: not, or its bare version (it also takes surrounding whitespace and stray quotes, which no client need send).
ETAG_PATTERN = r'^(W/)?"?[0-9]{1,18}"?$'

#: The methods that change something (and may carry Idempotency-Key and If-Match).
COMMANDS = ("POST", "PATCH", "PUT", "DELETE")

#: How long a command's answer waits for its read model before answering 202 Accepted instead.
READ_YOUR_WRITES_SECONDS = 5.0

# An instant in a response: ISO 8601 with its offset as Python writes it (`+00:00`, which the portal's links use
# too), where pydantic would write `Z`.
InstantOut = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class AcceptedOut(BaseModel):
    """A command was recorded but its read model has not caught up yet: the resource appears at `location` soon."""

    id: UUID
    status: str = "accepted"
    location: str
    position: int


#: Where providers deliver their signed webhooks; what they change is recorded as `webhook:<provider>`.
WEBHOOKS = "/api/v1/webhooks/"


@dataclass
class Context(Generic[P]):
    """What a handler gets: its port, the caller, parsed inputs and path parameters."""

    request: Request
    port: P
    principal: Principal  # None only for public and borrower endpoints
    body: Any
    query: Any
    path: dict[str, Any]
    headers: dict[str, str]
    services: Services
    borrower: BorrowerPrincipal | None = None  # the signed-in borrower, on borrower endpoints only
    upload: UploadedFile | None = None  # the file of a multipart upload (its `body` holds the text fields)

    @property
    def brand_id(self) -> UUID:
        return self.borrower.brand_id if self.borrower is not None else self.principal.brand_id

    @property
    def actor(self) -> str:
        """Who the request acts for, as recorded on events (staff, API key, borrower, a provider's webhook -
        `webhook:gateway` - or anonymous)."""
        if self.borrower is not None:
            return self.borrower.actor
        if self.principal is not None:
            return self.principal.actor
        path = self.request.url.path
        if path.startswith(WEBHOOKS):
            return "webhook:" + path.removeprefix(WEBHOOKS).split("/", 1)[0]
        return "anonymous"

    def expected_version(self) -> int | None:
        """The record version from an `If-Match` ETag (None without the header); 422 when it is not ours (an empty
        one too: it names no version, and the schema's pattern refuses it)."""
        raw = self.headers.get("if-match")
        if raw is None:
            return None
        # ASCII digits only: int() would also read "1_0" as 10 and other scripts' digits, neither an ETag of ours.
        version = _ETAG_VERSION.fullmatch(raw.strip().removeprefix("W/").strip('"'))
        if version is None:
            raise InvalidValue("If-Match", 'must be an ETag from this API (the record\'s version, e.g. "3")')
        return int(version.group())

    def settled(self, source: str, position: int) -> bool:
        """Whether every read model of `source` has caught up with `position` (waits a bounded time)."""
        return position <= 0 or self.services.engine.wait_for(source, position, timeout=READ_YOUR_WRITES_SECONDS)

    def written(
        self,
        result: CommandResult,
        source: str,
        read: Callable[[], object | None],
        location: str | None = None,
        status: int | None = None,
        also: tuple[tuple[str, int], ...] = (),
    ) -> Reply:
        """The answer to a command: the resource as its read model shows it once caught up, or - when the read
        model is still behind after the bound - 202 Accepted with the resource's Location and the command's own
        result. Never a 404 for something that was written. `also`: `(source, position)` of each write the command
        made in another context (an offer's accept starts an application in the loans context), whose read models
        are waited for as well, so a client reading that resource next finds it."""
        headers = {"Location": location} if location else None
        others = all([self.settled(other, position) for other, position in also])
        if self.settled(source, result.position) and others:
            found = read()
            if found is not None:
                return Reply(found, status, headers)
        log.warning("api.read_model_behind", source=source, position=result.position, id=str(result.id))
        accepted = AcceptedOut(id=result.id, location=location or self.request.url.path, position=result.position)
        return Reply(accepted, 202, {"Location": accepted.location})


@dataclass(frozen=True)
class Reply:
    """A handler's answer: data the endpoint renders through its response model, with a status and headers."""

    data: Any
    status: int | None = None  # None: the endpoint's declared status
    headers: dict[str, str] | None = None


class ResponseDrift(Exception):
    """Raised when a handler's answer does not fit the endpoint's declared response (a bug: 500, logged)."""


Handler = Callable[[Context[P]], Reply | Response]


def forbidden(required: Required) -> HttpProblem:
    """The 403 of a caller without what `required` asks: `permission` (the first of several) and `level`, and
    `any_of` when any one of several permissions would do."""
    permissions = alternatives(required)
    extra: dict[str, Any] = {"any_of": [p.value for p in permissions]} if len(permissions) > 1 else {}
    return HttpProblem(
        403,
        f"this needs {required_words(required)} at {required[1].value}",
        "forbidden",
        permission=permissions[0].value,
        level=required[1].value,
        **extra,
    )


@dataclass
class Endpoint(Generic[P]):
    """One API operation; `permission` is what the caller needs (None: any authenticated caller).

    Every answer but a raw `Response` (a download in one of `media`) is validated against `response` and
    serialised through it, so the OpenAPI document and the wire cannot drift apart.
    """

    method: str
    path: str
    handler: Handler[P]
    summary: str
    permission: Required | None  # a permission at a level, or any one of several (a tuple) at that level
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    public: bool = False  # no credentials needed (e.g. accepting an invite)
    borrower: bool = False  # only a borrower's bearer token opens it (never a staff key or session)
    cross_brand: bool = False  # only a cross-brand principal (Super Admin) may call it
    tags: list[str] = field(default_factory=list)
    statuses: tuple[int, ...] = ()  # other success statuses with the same body (e.g. 200 when nothing changed)
    errors: tuple[int, ...] = ()  # error statuses of this operation beyond the ones every operation of its kind has
    if_match: bool = False  # takes `If-Match: "<version>"` (409 when stale)
    etag: bool = False  # success answers carry `ETag: "<version>"` of the record (the model's `version`)
    media: tuple[str, ...] = ()  # other media types of the success body, answered as a raw Response (e.g. text/csv)
    accepts: bool = False  # may answer 202 AcceptedOut when its read model is behind (see Context.written)
    upload: Upload | None = None  # takes multipart/form-data: a file (`ctx.upload`) and `body`'s text fields
    port: type[P] | None = None  # the port its handler takes (set by `serve`)

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
        services: Services = request.app.state.services
        raw = await read_body(request) if self.body is not None and self.upload is None else b""
        principal = None
        borrower = None
        if self.borrower:
            borrower = await run_in_threadpool(authenticate_borrower, services.port(BorrowerGate), request)
        if self.borrower or self.public:
            check_headers(request)
        else:  # in one thread-pool call (each costs a thread's wake-up)
            principal = await run_in_threadpool(_caller, services.port(Gate), request)
        if self.cross_brand and not (principal and principal.cross_brand):
            raise HttpProblem(403, "only a Super Admin may do this", "forbidden")
        if self.permission is not None and principal is not None and not principal.meets(self.permission):
            raise forbidden(self.permission)
        if not self.if_match and not self.public and self.method in COMMANDS and "if-match" in request.headers:
            # A precondition nobody checks would let the change overwrite what the caller never saw: refuse it.
            raise InvalidValue("If-Match", "this operation does not check a record's version: send it without If-Match")
        query = parse_query(self.query, request) if self.query is not None else None
        if self.query is None:
            check_query_text(request)  # read by nobody, but a NUL there is still refused
        file = None
        if self.upload is not None:  # read once the caller may upload: nobody else gets to stream megabytes in
            fields, file = await read_multipart(request, self.upload)
            body = parse_form(self.body, fields, file, self.upload) if self.body is not None else None
            raw = fingerprint(fields, file)
        else:
            if self.body is not None and raw.strip():
                require_json(request)
            body = parse_body(self.body, raw) if self.body is not None else None
        path = parse_path(request.path_params)
        port = services.port(self.port) if self.port is not None else cast(P, services)
        # Public endpoints never touch ctx.principal (nor idempotency, which is kept per principal).
        context = Context(
            request,
            port,
            cast(Principal, principal),
            body,
            query,
            path,
            dict(request.headers),
            services,
            borrower=borrower,
            upload=file,
        )
        key = request.headers.get("idempotency-key") if self.method in COMMANDS and not self.public else None
        if key is None:
            return await run_in_threadpool(self.invoke, context)
        return await run_in_threadpool(run_once, services.port(Gate).ops, self, context, key, raw)

    def invoke(self, context: Context[P]) -> Response:
        """Run the handler as the caller (actor and trace recorded on its events) and render its answer."""
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        with acting_as(context.actor), tracing(request_id):
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
        model = self.response
        if status == 202 and self.accepts:
            model = AcceptedOut
        elif status not in (self.status, *self.statuses):
            raise ResponseDrift(f"{self.operation_id} answered {status}, which it does not declare")
        try:
            body = model.model_validate(reply.data, from_attributes=True)
        except ValidationError as exc:
            raise ResponseDrift(f"{self.operation_id} answered a body that is not a {model.__name__}") from exc
        headers = dict(reply.headers or {})
        if self.etag and model is self.response and (version := getattr(body, "version", None)) is not None:
            headers["ETag"] = f'"{version}"'
        return Response(body.model_dump_json(by_alias=True), status, headers, media_type="application/json")


def serve(port: type[P], tag: str, endpoints: Sequence[Endpoint[P]]) -> list[Endpoint[P]]:
    """The endpoints of one route module, each served with `port` and grouped under `tag` in the OpenAPI document."""
    return [replace(ep, port=port, tags=ep.tags or [tag]) for ep in endpoints]


def json_response(data: Any, status: int | None = None, headers: dict[str, str] | None = None) -> Reply:
    """A handler's JSON answer (dataclasses, dicts, pydantic values), rendered through the endpoint's response model."""
    return Reply(data, status, headers)


def _caller(gate: Gate, request: Request) -> Principal:
    """The caller of a staff endpoint, within the brand it acts in: authenticated (401), its headers checked (422),
    then the brand `X-Brand-Id` names (`acting_brand`)."""
    principal = authenticate(gate, request)
    check_headers(request)
    return acting_brand(gate, request, principal)
