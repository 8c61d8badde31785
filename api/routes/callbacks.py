"""Callback requests, staff side: the queue (oldest first, by status and assignee), one request, and answering it
with how the call went (CALLBACKS; docs/callbacks.md). Borrowers ask through api/routes/borrower_callbacks.py and
the web flow's status page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_REASON
from domain.callbacks.application import Callbacks
from domain.callbacks.request import MAX_REMARKS, CallbackRequestNotFound, CallbackStatus, CallbackWindow
from domain.collections.case import Outcome
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.errors import InvalidValue
from domain.shared.values import MIN_REASON, Instant, stripped_spaces
from projections.callbacks import UNASSIGNED, CallbackQueries, CallbackRow

READ = (Permission.CALLBACKS, Level.READ)
WRITE = (Permission.CALLBACKS, Level.WRITE)


@dataclass(frozen=True)
class CallbackPort:
    """What the callback endpoints and pages use."""

    callbacks: Callbacks
    queries: CallbackQueries


#: What `assigned_to` takes, as the document states it: `me` or `unassigned` in any case with the spaces `str.strip()`
#: drops that a query value may hold around them (`assigned_filter` trims and reads its words in any case), only such
#: spaces (not given; an empty value is a 422, `parse_query`), or a staff id.
_SPACE = f"[{stripped_spaces(multiline=False)}]"
_WORDS = "(?:[mM][eE]|[uU][nN][aA][sS][sS][iI][gG][nN][eE][dD])"
ASSIGNED_TO = WithJsonSchema(
    {
        "anyOf": [
            {
                "type": "string",
                "maxLength": 40,
                "pattern": f"^(?:{_SPACE}*{_WORDS}{_SPACE}*|{_SPACE}+)$",
            },
            {"type": "string", "format": "uuid"},
        ],
        "description": "`me` (a staff member's own queue), `unassigned`, or a staff id; empty: anyone's",
    }
)


class QueueQuery(BaseModel):
    """The queue's filters and keyset paging. `assigned_to`: `me`, `unassigned` or a staff id (absent: anyone's)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "closed", "all"] = "open"
    assigned_to: Annotated[str, Field(max_length=40), ASSIGNED_TO] | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class RespondIn(BaseModel):
    """How the call went (the collections' contact outcomes), remarks, the dialer call made for it if any, and -
    outcome `callback_requested` only, and then required - when to call the borrower again (`callback_at`)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    remarks: str = Field(
        min_length=MIN_REASON,
        max_length=2 * MAX_REMARKS,  # surrounding whitespace is trimmed and CR LF counts as one: the rule counts that
        description=f"{MIN_REASON} to {MAX_REMARKS} characters once surrounding whitespace is trimmed (at least "
        f"{MIN_REASON} visible; a CR LF line break counts as one)",
        json_schema_extra=VISIBLE_REASON,
    )
    call_id: UUID | None = None
    callback_at: Instant | None = Field(
        None,
        description="outcome callback_requested: when the borrower asked to be called again (with offset, to come, "
        "within a year); it opens a follow-up request due then. Any other outcome takes none",
    )


class CallbackOut(BaseModel):
    """A callback request: the borrower, what they asked (a follow-up: when to call, `due_at`, and the request it
    follows), who has it, and how it was answered once closed (callback_requested: `callback_at`, `follow_up_id`)."""

    id: UUID
    borrower_id: UUID
    customer_id: UUID | None
    borrower_name: str | None
    phone: str
    loan_id: UUID | None
    loan_number: str | None
    window: CallbackWindow
    note: str
    assignee_id: UUID | None
    assignee_name: str | None
    source: str = Field(
        description="api or web: where the borrower asked; follow_up: opened by a response callback_requested"
    )
    status: CallbackStatus
    requested_at: InstantOut
    outcome: Outcome | None
    remarks: str | None
    call_id: UUID | None
    responded_by: str | None = Field(description="who answered it: staff:<id> or apikey:<id>")
    responded_at: InstantOut | None
    due_at: InstantOut | None = Field(description="a follow-up's time to call the borrower (else null)")
    follows_id: UUID | None = Field(description="a follow-up's answered request (else null)")
    callback_at: InstantOut | None = Field(description="answered callback_requested: when to call again")
    follow_up_id: UUID | None = Field(description="answered callback_requested: the follow-up request opened")


class CallbackPageOut(BaseModel):
    """Callback requests, oldest first."""

    items: list[CallbackOut]
    next_cursor: str | None


def assigned_filter(raw: str | None, principal: Principal) -> UUID | str | None:
    """`assigned_to` as the queue query takes it: a staff id, UNASSIGNED, or None (anyone's); `me` for an API key,
    which is nobody's assignee, is InvalidValue (an empty queue would read as nothing to call)."""
    value = (raw or "").strip().lower()
    if not value:
        return None
    if value == "me":
        if principal.kind != "staff":
            raise InvalidValue(
                "assigned_to", "'me' is a staff member's own queue; an API key has none (give a staff id)"
            )
        return principal.id
    if value == UNASSIGNED:
        return UNASSIGNED
    try:
        return UUID(value)
    except ValueError:
        raise InvalidValue("assigned_to", "me, unassigned or a staff member's id") from None


def follow_up_owner(principal: Principal) -> UUID | None:
    """Who a follow-up (a response callback_requested) goes to: the staff member answering, one of the brand's own
    (None - the answered request's assignee - for an API key or a Super Admin acting within another brand)."""
    return principal.id if principal.kind == "staff" and principal.home_brand_id is None else None


def _request(ctx: Context[CallbackPort], request_id: UUID) -> CallbackRow | None:
    return ctx.port.queries.request(ctx.brand_id, request_id)


def callback_queue(ctx: Context[CallbackPort]) -> Reply:
    q: QueueQuery = ctx.query
    assigned = assigned_filter(q.assigned_to, ctx.principal)
    status = None if q.status == "all" else q.status
    page = ctx.port.queries.queue(ctx.brand_id, status, assigned, q.cursor, q.limit)
    return json_response(page)


def get_callback(ctx: Context[CallbackPort]) -> Reply:
    callback_id: UUID = ctx.path["callback_id"]
    found = _request(ctx, callback_id)
    if found is None:
        raise CallbackRequestNotFound(f"CallbackRequest {callback_id} not found", id=str(callback_id))
    return json_response(found)


def respond_to_callback(ctx: Context[CallbackPort]) -> Reply:
    body: RespondIn = ctx.body
    result = ctx.port.callbacks.respond(ctx.brand_id, ctx.path["callback_id"], body.outcome, body.remarks,
                                        body.call_id, body.callback_at, staff_id=follow_up_owner(ctx.principal))  # fmt: skip
    return ctx.written(result, Callbacks.name, lambda: _request(ctx, result.id))


ENDPOINTS = serve(
    CallbackPort,
    "callbacks",
    [
        Endpoint("GET", "/api/v1/callback-requests", callback_queue, "Borrowers' callback requests, oldest first: "
                 "by status (open by default) and assignee (me, unassigned, a staff id)", READ, query=QueueQuery,
                 response=CallbackPageOut),
        Endpoint("GET", "/api/v1/callback-requests/{callback_id}", get_callback, "One callback request", READ,
                 response=CallbackOut),
        Endpoint("POST", "/api/v1/callback-requests/{callback_id}/respond", respond_to_callback, "Answer a callback "
                 "request with how the call went (closes it, recording who and when; 409 once answered); "
                 "callback_requested takes callback_at and opens the follow-up due then", WRITE,
                 body=RespondIn, response=CallbackOut, accepts=True),
    ],
)  # fmt: skip
