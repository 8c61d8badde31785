"""Idempotency-Key: a command runs once per key; a repeat with the same request replays the stored answer."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import structlog
from starlette.responses import Response

from adapters.operational import OperationalStore
from api.problems import HttpProblem, problem_for
from api.request_input import canonical
from domain.shared.application import ACTED_OUTSIDE, SAVE_BESIDE
from domain.shared.errors import InvalidValue
from domain.shared.values import text_problem

if TYPE_CHECKING:
    from api.endpoint import Context, Endpoint

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
#: What a key may hold, as the OpenAPI document states it (ECMA-262): no control, line-break or bidi-override
#: character (what `text_problem` refuses in a single line) and at least one character that is not whitespace;
#: `check_key` enforces the same rule.
_NOT_CONTROL = r"[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]"
_SHOWN = r"[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]"
KEY_PATTERN = f"^{_NOT_CONTROL}*{_SHOWN}{_NOT_CONTROL}*$"


def check_key(key: str) -> None:
    """InvalidValue (422 naming the header) unless `key` is 1-200 characters on one line, without control or
    bidi-override characters, and not blank: a key of spaces would be one shared, invisible key."""
    problem = text_problem(key, multiline=False)
    if problem is not None:
        raise InvalidValue(HEADER, problem)
    if not key.strip():
        raise InvalidValue(HEADER, f"is blank: give 1-{MAX_KEY_LENGTH} characters, not only whitespace")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidValue(HEADER, f"must be 1-{MAX_KEY_LENGTH} characters")


def run_once(ops: OperationalStore, endpoint: Endpoint[Any], context: Context[Any], key: str, raw: bytes) -> Response:
    """Run the command once per Idempotency-Key; replay the stored response for a repeat.

    The key is reserved (per brand and principal) before the command runs. A repeat with the same canonical body
    replays the stored answer, its bytes as first sent (`Idempotent-Replayed: true`), without running; another body is
    422; a repeat while the first is in flight is 409. A 5xx or 429, an interruption or an answer that cannot be
    stored frees the key when the command recorded nothing, so a retry runs the command instead of meeting 409 for
    ever. A reservation left by a request that died is taken over once stale. A request that had recorded something
    (each of its saves marks the key `applied` in its own transaction) is never run again: once it ended without a
    stored answer (a 5xx or an exception after its commit, an answer not stored) or died (its reservation stale), a
    retry is 409 `idempotency-applied`.
    """
    check_key(key)
    request_hash = hashlib.sha256(
        b"\0".join([endpoint.method.encode(), context.request.url.path.encode(), canonical(raw)])
    ).hexdigest()
    principal = context.actor
    earlier = ops.begin_idempotent(context.brand_id, principal, key, request_hash)
    if earlier is not None:
        if earlier.request_hash != request_hash:
            raise HttpProblem(
                422,
                "this Idempotency-Key was used with a different request",
                "idempotency-key-reused",
                errors=[{"field": HEADER, "message": "was used with a different request (another body or endpoint)"}],
            )
        if earlier.status is None and earlier.applied and earlier.stale:
            # The first request recorded its command and failed or died before its answer was stored: running it
            # again would record it twice, and its answer is lost.
            raise HttpProblem(
                409,
                "the request with this Idempotency-Key was applied, but its answer was lost (the server failed or "
                "stopped after recording it): read the resource instead of sending the request again",
                "idempotency-applied",
            )
        if earlier.status is None:
            raise HttpProblem(
                409, "a request with this Idempotency-Key is still in progress", "idempotency-in-progress"
            )
        headers = {**earlier.headers, "Idempotent-Replayed": "true"}
        media = headers.pop("content-type", "application/json")
        return Response(earlier.body, status_code=earlier.status, headers=headers, media_type=media)
    # Every save the command makes marks the key applied in the save's own transaction (`SAVE_BESIDE`), and so does a
    # provider call that reached the provider (`ACTED_OUTSIDE`): a command that recorded only in ops tables (a payment
    # link: a gateway order, then a text) was run again by a retry after a later failure - a second order, a second
    # text.
    marked = SAVE_BESIDE.set((*SAVE_BESIDE.get(), ops.marking_applied(context.brand_id, principal, key)))
    applied_once: list[bool] = []

    def provider_acted() -> None:
        if not applied_once:
            ops.mark_applied(context.brand_id, principal, key)
            applied_once.append(True)

    acted = ACTED_OUTSIDE.set((*ACTED_OUTSIDE.get(), provider_acted))
    try:
        response = endpoint.invoke(context)
    except Exception as exc:  # noqa: BLE001 - the outcome (a problem response) is what gets stored.
        response = problem_for(exc, context.request)
    except BaseException:  # Cancelled or interrupted: nothing to store, so the key goes back.
        ops.abandon_idempotent(context.brand_id, principal, key)
        raise
    finally:
        ACTED_OUTSIDE.reset(acted)
        SAVE_BESIDE.reset(marked)
    if response.status_code >= 500 or response.status_code == 429:
        # A retry with the same key (after Retry-After) runs the command, not replays this - when nothing was recorded;
        # a command whose events were committed before the failure keeps its key (`applied`): never run twice.
        ops.abandon_idempotent(context.brand_id, principal, key)
        return response
    try:
        body = bytes(response.body) if response.body else None
        keep = {k: v for k, v in response.headers.items() if k in ("location", "content-type", "etag")}
        ops.finish_idempotent(context.brand_id, principal, key, response.status_code, body, keep)
    except Exception as exc:  # noqa: BLE001 - an unrecorded outcome must not pin the key "in progress".
        # The command's outcome stands (it may have been written): the caller gets it as is, and the key is
        # freed (or, when the command recorded something, ended as applied) so a retry never meets 409
        # "in progress" for ever.
        log.error("idempotency.store_failed", key=key, status=response.status_code, error=type(exc).__name__)
        ops.abandon_idempotent(context.brand_id, principal, key)
    return response
