"""Borrower endpoints of callback requests: ask to be called back (one open request at a time; a second is a 409
naming the open one, so a double tap makes one request) and see one's own requests. Staff answer them
(api/routes/callbacks.py); what staff wrote stays internal."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_NOTE_OR_BLANK
from domain.callbacks.application import Callbacks
from domain.callbacks.request import MAX_NOTE, CallbackSource, CallbackStatus, CallbackWindow
from projections.callbacks import CallbackQueries, CallbackRow


@dataclass(frozen=True)
class BorrowerCallbackPort:
    """What the borrower's callback endpoints (and the web flow's form) use."""

    callbacks: Callbacks
    queries: CallbackQueries


class CallbackRequestIn(BaseModel):
    """When to call (the brand's local time), a note, and the application or loan it is about (your own)."""

    model_config = ConfigDict(extra="forbid")

    window: CallbackWindow = CallbackWindow.ANYTIME
    note: str | None = Field(
        None,
        max_length=2 * MAX_NOTE,  # surrounding whitespace is trimmed and CR LF counts as one: the rule counts that
        description=f"at most {MAX_NOTE} characters once surrounding whitespace is trimmed (a CR LF line break "
        "counts as one); absent, empty or only whitespace: no note; given, it needs a visible character",
        json_schema_extra=VISIBLE_NOTE_OR_BLANK,
    )
    loan_id: UUID | None = None


class BorrowerCallbackOut(BaseModel):
    """A callback request as the borrower sees it: open until we have called (staff remarks stay internal)."""

    id: UUID
    status: CallbackStatus
    window: CallbackWindow
    note: str
    loan_id: UUID | None
    loan_number: str | None
    requested_at: InstantOut
    responded_at: InstantOut | None
    due_at: InstantOut | None = Field(None, description="when we call you again, as you asked (else null)")


class BorrowerCallbacksOut(BaseModel):
    """The borrower's callback requests, newest first (the last 20)."""

    items: list[BorrowerCallbackOut]


def _own(ctx: Context[BorrowerCallbackPort], request_id: UUID) -> CallbackRow | None:
    assert ctx.borrower is not None
    return next(
        (r for r in ctx.port.queries.of_borrower(ctx.brand_id, ctx.borrower.borrower_id) if r.id == request_id), None
    )


def request_callback(ctx: Context[BorrowerCallbackPort]) -> Reply:
    assert ctx.borrower is not None
    body: CallbackRequestIn = ctx.body
    result = ctx.port.callbacks.request(
        ctx.brand_id, ctx.borrower.borrower_id, window=body.window, note=body.note, loan_id=body.loan_id,
        source=CallbackSource.API,
    )  # fmt: skip
    return ctx.written(result, Callbacks.name, lambda: _own(ctx, result.id), "/api/v1/borrower/callback-requests")


def my_callbacks(ctx: Context[BorrowerCallbackPort]) -> Reply:
    assert ctx.borrower is not None
    return json_response(BorrowerCallbacksOut.model_validate(
        {"items": ctx.port.queries.of_borrower(ctx.brand_id, ctx.borrower.borrower_id)}, from_attributes=True
    ))  # fmt: skip


ENDPOINTS = serve(
    BorrowerCallbackPort,
    "borrower",
    [
        Endpoint("POST", "/api/v1/borrower/callback-requests", request_callback, "Ask to be called back (a time "
                 "window, a note, optionally about your own application or loan); 409 naming `open_id` while one is "
                 "open", None, body=CallbackRequestIn, response=BorrowerCallbackOut, status=201, borrower=True,
                 accepts=True, errors=(409,)),
        Endpoint("GET", "/api/v1/borrower/callback-requests", my_callbacks, "Your callback requests, newest first",
                 None, response=BorrowerCallbacksOut, borrower=True),
    ],
)  # fmt: skip
