"""RFC 9457 problem+json responses and the mapping from domain errors to HTTP statuses."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import structlog
from eventsourcing import persistence
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.identity.principal import AuthenticationFailed
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from domain.shared.errors import (
    Conflict,
    DomainError,
    FieldError,
    Gone,
    InvalidInput,
    NotFound,
    NotPermitted,
    Throttled,
    field_path,
)

log = structlog.get_logger(__name__)

PROBLEM_BASE = "https://covenant-desk.dev/problems/"
TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemResponse(JSONResponse):
    """A problem+json body written as ASCII JSON: a detail that quotes a caller's bad input (an unpaired surrogate,
    say) cannot make the error response itself fail to encode."""

    media_type = "application/problem+json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class HttpProblem(Exception):
    """Raised by the HTTP layer itself (bad JSON, missing credentials, forbidden, too large)."""

    def __init__(self, status: int, detail: str, slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or TITLES.get(status, "error").lower().replace(" ", "-")
        self.extra = extra


#: Seconds a client is told to wait before retrying after a 503 (the database was unreachable).
RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """The error means the database could not be reached or used just now (outage, lost connection, pool timeout,
    lock or statement timeout), here or in any error it was raised from: a 503 to retry, not a 500."""
    seen: BaseException | None = exc
    for _ in range(5):  # eventsourcing and our recorder wrap the psycopg error once or twice
        if seen is None:
            return False
        if isinstance(
            seen,
            psycopg.OperationalError
            | psycopg.InterfaceError
            | persistence.OperationalError
            | persistence.InterfaceError,
        ):
            return True
        if isinstance(seen, psycopg.Error) and not isinstance(seen, psycopg.DatabaseError):
            return True  # adapters.postgres.DatabaseUnavailable: no connection within the pool timeout
        seen = seen.__cause__
    return False


def unavailable_problem(instance: str | None = None) -> ProblemResponse:
    """503 problem+json with Retry-After: the database is unreachable for now; nothing of the request was done, or
    (for a command whose answer was lost) it may have been: retry with the same Idempotency-Key."""
    response = problem(
        503,
        "the database is unavailable just now; retry after a few seconds (with the same Idempotency-Key for a command)",
        "database-unavailable",
        instance,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def problem(status: int, detail: str, slug: str, instance: str | None = None, **extra: Any) -> ProblemResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": 'Bearer realm="covenant-desk"'} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


def field_errors_from_pydantic(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic errors as (field, message) pairs, the field named as every error names it (`field_path`)."""
    errors = []
    for err in exc.errors():
        loc = field_path(err["loc"]) or "body"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        errors.append(FieldError(prefix + loc, message))
    return errors


def problem_for(exc: Exception, request: Request) -> JSONResponse:
    """Map any exception raised while handling `request` to a problem response."""
    path = request.url.path
    if isinstance(exc, HttpProblem):
        answer = problem(exc.status, exc.detail, exc.slug, path, **exc.extra)
        if exc.status == 503:  # a dependency is down: say when to ask again (`retry_after` in seconds, if given)
            answer.headers["Retry-After"] = str(exc.extra.get("retry_after", RETRY_AFTER_SECONDS))
        return answer
    if isinstance(exc, ValidationError):
        errors = field_errors_from_pydantic(exc)
        return _invalid(errors, path)
    if isinstance(exc, InvalidInput):
        return _invalid(exc.errors, path, exc.details)
    if isinstance(exc, AuthenticationFailed):
        return problem(401, exc.message, "unauthenticated", path)
    if isinstance(exc, NotFound):
        return problem(404, exc.message, "not-found", path, **_safe(exc.details))
    if isinstance(exc, Conflict):
        return problem(409, exc.message, "conflict", path, **_safe(exc.details))
    if isinstance(exc, Gone):
        return problem(410, exc.message, "gone", path, **_safe(exc.details))
    if isinstance(exc, NotPermitted):  # as an endpoint's own permission check answers (api/endpoint.py)
        return problem(403, exc.message, "forbidden", path, **_safe(exc.details))
    if isinstance(exc, Throttled):
        throttled = problem(
            429, exc.message, "too-many-requests", path, retry_after=exc.retry_after, **_safe(exc.details)
        )
        throttled.headers["Retry-After"] = str(exc.retry_after)
        return throttled
    if isinstance(exc, ProviderUnavailable):
        down = problem(503, exc.message, "provider-unavailable", path, provider=exc.provider)
        down.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return down
    if isinstance(exc, ProviderRejected):
        return problem(422, exc.message, "provider-rejected", path, provider=exc.provider, code=exc.code or None)
    if isinstance(exc, DomainError):
        return problem(422, exc.message, "invalid-input", path)
    if database_unavailable(exc):
        log.warning("request.database_unavailable", path=path, error=type(exc).__name__, detail=str(exc)[:200])
        return unavailable_problem(path)
    log.exception("request.failed", path=path, error=type(exc).__name__)
    return problem(500, "an unexpected error occurred; it has been logged", "internal-error", path)


def _invalid(errors: list[FieldError], path: str, details: dict[str, object] | None = None) -> JSONResponse:
    """422 naming each field; an error's scalar details (a refused back-dated payment's figures) beside them."""
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem(
        422, detail, "invalid-input", path, errors=[{"field": e.field, "message": e.message} for e in errors],
        **_safe(details or {}),
    )  # fmt: skip


_RESERVED = frozenset({"type", "title", "status", "detail", "instance", "errors"})


def _safe(details: dict[str, object]) -> dict[str, object]:
    """The scalar details, a detail named as one of the problem's own members renamed `current_<name>`: a refusal
    of a record in the wrong state says `status=...` (the loan's, the funnel's, the document's), and the body's own
    `status` is the HTTP one. It was dropped, so the 409 never said which state refused the command."""
    return {
        (f"current_{k}" if k in _RESERVED else k): v
        for k, v in details.items()
        if isinstance(v, (str, int, float, bool))
    }
