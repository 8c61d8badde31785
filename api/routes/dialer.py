"""Dialer endpoints: the brand's dialer settings (BRAND_SETTINGS; the API token is write-only), staff extensions,
click-to-call on a loan (COLLECTIONS WRITE) and its calls, a credit executive's click-to-call on an application
assigned to them (LOANS WRITE, without COLLECTIONS) and reading that call back (LOANS READ, the same rule), and the
provider's signed call-event webhook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import anyio.from_thread
from pydantic import BaseModel, ConfigDict, Field

from adapters.webhooks import MALFORMED_HEADER, MISSING_HEADER, WebhookRejected
from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.problems import HttpProblem
from api.request_input import read_body
from api.routes.collections import CollectionsPort, guard
from api.routes.disbursal_models import WebhookOut
from api.routes.disbursals import public_base
from api.services.credit_calls import CREDIT_CALLS, CREDIT_CALLS_READ, CreditCalls
from api.services.dialer_calls import WEBHOOK_PATH, DialerWebhooks
from domain.fieldwork.application import FieldWork
from domain.fieldwork.dialer import (
    ACCOUNT_PATTERN,
    EXTENSION_PATTERN,
    TOKEN_PATTERN,
    DialerCall,
    DialerCallNotFound,
)
from domain.identity.permissions import Level, Permission
from domain.shared.application import CommandResult
from domain.shared.errors import InvalidValue
from domain.shared.values import Flag, stated_pattern
from projections.fieldwork_queries import CallRow, FieldworkQueries

SETTINGS_READ = (Permission.BRAND_SETTINGS, Level.READ)
SETTINGS_WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)
CALLS_READ = (Permission.COLLECTIONS, Level.READ)
CALLS_WRITE = (Permission.COLLECTIONS, Level.WRITE)


@dataclass(frozen=True)
class DialerPort:
    """What the dialer endpoints and pages use."""

    fieldwork: FieldWork
    queries: FieldworkQueries
    webhooks: DialerWebhooks
    collections: CollectionsPort
    credit_calls: CreditCalls


class DialerSettingsIn(BaseModel):
    """What to change of the dialer settings (absent: unchanged). The API token is never shown back."""

    model_config = ConfigDict(extra="forbid")

    enabled: Flag | None = None
    account_id: Annotated[str, Field(max_length=60), stated_pattern(ACCOUNT_PATTERN, max_length=60)] | None = Field(
        None, description="2-60 letters, digits, '_', '.' or '-' (surrounding spaces trimmed)"
    )
    api_token: Annotated[str, Field(max_length=200), stated_pattern(TOKEN_PATTERN, max_length=200)] | None = Field(
        None, description="8-200 printable ASCII characters, no spaces", json_schema_extra={"writeOnly": True}
    )


class ExtensionOut(BaseModel):
    """A staff member's extension."""

    staff_id: UUID
    staff_name: str
    extension: str


class DialerSettingsOut(BaseModel):
    """The brand's dialer settings: the API token only as its last four characters."""

    configured: bool
    enabled: bool
    account_id: str | None
    token_hint: str | None = Field(description="the API token's last four characters, e.g. ****9f3a")
    extensions: list[ExtensionOut]
    changed_by: str | None
    changed_at: InstantOut | None
    version: int | None = Field(
        description="send it back as If-Match to refuse a stale change (0: never configured; null only for settings "
        "recorded before versions were shown, until their next change)"
    )


class ExtensionIn(BaseModel):
    """A staff member's extension (2-8 digits)."""

    model_config = ConfigDict(extra="forbid")

    extension: Annotated[str, Field(max_length=8), stated_pattern(EXTENSION_PATTERN, max_length=8)]


class CallIn(BaseModel):
    """Click-to-call: the borrower's primary phone unless `phone` names one of their alternate phones. A staff
    member calls from their own extension; an API key names the staff member (`staff_id`)."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, max_length=20)
    staff_id: UUID | None = None


class CallOut(BaseModel):
    """A click-to-call and how it ended."""

    id: UUID
    loan_id: UUID
    customer_id: UUID
    staff_id: UUID
    staff_name: str | None
    extension: str
    destination: str
    alternate: bool
    status: str = Field(description="placed, answered, no_answer, busy or failed")
    duration_seconds: int
    recording_url: str | None
    contact_logged: bool
    placed_at: InstantOut
    ended_at: InstantOut | None


class CallListQuery(BaseModel):
    """Paging of a loan's calls."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class CallPageOut(BaseModel):
    """Calls, newest first."""

    items: list[CallOut]
    next_cursor: str | None


def get_dialer_settings(ctx: Context[DialerPort]) -> Reply:
    return json_response(ctx.port.queries.dialer_settings(ctx.brand_id))


def change_dialer_settings(ctx: Context[DialerPort]) -> Reply:
    body: DialerSettingsIn = ctx.body
    result = ctx.port.fieldwork.configure_dialer(
        ctx.brand_id,
        enabled=body.enabled,
        account_id=body.account_id,
        api_token=body.api_token,
        expected_version=ctx.expected_version(),
    )
    return ctx.written(result, FieldWork.name, lambda: ctx.port.queries.dialer_settings(ctx.brand_id))


def set_extension(ctx: Context[DialerPort]) -> Reply:
    body: ExtensionIn = ctx.body
    result = ctx.port.fieldwork.set_extension(
        ctx.brand_id, ctx.path["staff_id"], body.extension, expected_version=ctx.expected_version()
    )
    return ctx.written(result, FieldWork.name, lambda: ctx.port.queries.dialer_settings(ctx.brand_id))


def remove_extension(ctx: Context[DialerPort]) -> Reply:
    result = ctx.port.fieldwork.set_extension(
        ctx.brand_id, ctx.path["staff_id"], None, expected_version=ctx.expected_version()
    )
    return ctx.written(result, FieldWork.name, lambda: ctx.port.queries.dialer_settings(ctx.brand_id))


def caller_staff(ctx: Context[DialerPort], named: UUID | None) -> UUID:
    """Whose extension rings: the signed-in staff member's own; an API key names one."""
    if ctx.principal.kind == "staff":
        if named is not None and named != ctx.principal.id:
            raise InvalidValue("staff_id", "a staff member calls from their own extension; leave staff_id out")
        return ctx.principal.id
    if named is None:
        raise InvalidValue("staff_id", "an API key names the staff member whose extension places the call")
    return named


def place_call(ctx: Context[DialerPort]) -> Reply:
    body: CallIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    staff_id = caller_staff(ctx, body.staff_id)
    guard(ctx.port.collections, ctx.principal, loan_id, Level.WRITE)  # executives call their own loans only
    return _placed(ctx, loan_id, staff_id, body.phone)


def place_credit_call(ctx: Context[DialerPort]) -> Reply:
    body: CallIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    staff_id = caller_staff(ctx, body.staff_id)
    callback = public_base(ctx.request) + WEBHOOK_PATH
    result = ctx.port.credit_calls.place(ctx.principal, loan_id, staff_id, body.phone, callback)
    # A credit executive holds no COLLECTIONS, so the call is read back under the credit call's own rule.
    return _reply(ctx, result, f"/api/v1/loans/{loan_id}/credit-calls/{result.id}")


def _placed(ctx: Context[DialerPort], loan_id: UUID, staff_id: UUID, phone: str | None) -> Reply:
    callback = public_base(ctx.request) + WEBHOOK_PATH
    result = ctx.port.fieldwork.place_call(ctx.brand_id, loan_id, staff_id, phone, callback)
    return _reply(ctx, result, f"/api/v1/calls/{result.id}")


def _reply(ctx: Context[DialerPort], result: CommandResult, location: str) -> Reply:
    ctx.settled(FieldWork.name, result.position)
    return Reply(_call_row(ctx, result.id), 202, {"Location": location})


def _call_row(ctx: Context[DialerPort], call_id: UUID, call: DialerCall | None = None) -> CallRow:
    """The call as its read model shows it, or - while that is behind - as the event store has it."""
    row = ctx.port.queries.call(ctx.brand_id, call_id)
    if row is None:
        call = call or ctx.port.fieldwork.call(ctx.brand_id, call_id)
        row = CallRow(call.id, call.loan_id, call.customer_id, call.staff_id, None, call.extension,
                      call.destination, call.alternate, call.status.value, call.duration_seconds,
                      call.recording_url, call.contact_logged, call.created_on, None)  # fmt: skip
    return row


def get_credit_call(ctx: Context[DialerPort]) -> Reply:
    call = ctx.port.credit_calls.call(ctx.principal, ctx.path["loan_id"], ctx.path["call_id"])
    return json_response(_call_row(ctx, call.id, call))


def get_call(ctx: Context[DialerPort]) -> Reply:
    row = ctx.port.queries.call(ctx.brand_id, ctx.path["call_id"])
    if row is None:
        raise DialerCallNotFound(f"call {ctx.path['call_id']} not found", id=str(ctx.path["call_id"]))
    # The loan's calls are the collection desk's data: an executive reads those of the loans they work, as the
    # loan's call list (404 otherwise, as another brand's); the recording link and number are not for everyone.
    guard(ctx.port.collections, ctx.principal, row.loan_id, Level.READ)
    return json_response(row)


def loan_calls(ctx: Context[DialerPort]) -> Reply:
    q: CallListQuery = ctx.query
    guard(ctx.port.collections, ctx.principal, ctx.path["loan_id"], Level.READ)
    return json_response(
        ctx.port.queries.calls(ctx.brand_id, loan_id=ctx.path["loan_id"], cursor=q.cursor, limit=q.limit)
    )


def dialer_webhook(ctx: Context[DialerPort]) -> Reply:
    raw = anyio.from_thread.run(read_body, ctx.request)
    try:
        outcome = ctx.port.webhooks.receive(raw, ctx.request.headers)
    except WebhookRejected as rejected:  # unsigned: a malformed request (400); forged or stale: 401
        status = 400 if rejected.reason in (MISSING_HEADER, MALFORMED_HEADER) else 401
        raise HttpProblem(status, rejected.detail, "invalid-signature", reason=rejected.reason) from None
    return json_response(outcome)


_SETTINGS = "/api/v1/dialer/settings"
_EXTENSION = "/api/v1/dialer/extensions/{staff_id}"

ENDPOINTS = serve(
    DialerPort,
    "dialer",
    [
        Endpoint("GET", _SETTINGS, get_dialer_settings, "The brand's dialer (Acefone) settings and extensions; the "
                 "API token shown only as its last four characters (ETag: their version)", SETTINGS_READ,
                 response=DialerSettingsOut, etag=True),
        Endpoint("PATCH", _SETTINGS, change_dialer_settings, "Switch the dialer on or off, set its account and API "
                 "token (write-only); If-Match with the version read refuses a stale change with 409", SETTINGS_WRITE,
                 body=DialerSettingsIn, response=DialerSettingsOut, accepts=True, if_match=True, etag=True),
        Endpoint("PUT", _EXTENSION, set_extension, "Give a staff member their dialer extension; If-Match with the "
                 "dialer settings' version read refuses a stale change with 409", SETTINGS_WRITE, body=ExtensionIn,
                 response=DialerSettingsOut, accepts=True, errors=(409,), if_match=True, etag=True),
        Endpoint("DELETE", _EXTENSION, remove_extension, "Remove a staff member's dialer extension; If-Match with "
                 "the dialer settings' version read refuses a stale change with 409", SETTINGS_WRITE,
                 response=DialerSettingsOut, accepts=True, if_match=True, etag=True),
        Endpoint("POST", "/api/v1/loans/{loan_id}/calls", place_call, "Click-to-call: ring the caller's extension "
                 "and bridge to the borrower's phone (or an alternate phone); how it ends arrives by the dialer's "
                 "webhook and is written onto the loan's contact log", CALLS_WRITE, body=CallIn, response=CallOut,
                 status=202, errors=(409, 503)),
        Endpoint("POST", "/api/v1/loans/{loan_id}/credit-calls", place_credit_call, "Click-to-call for the credit "
                 "executive the application is assigned to (LOAN_RELOCATE: any application of the brand): as the "
                 "collections' click-to-call, without COLLECTIONS", CREDIT_CALLS, body=CallIn, response=CallOut,
                 status=202, errors=(409, 503)),
        Endpoint("GET", "/api/v1/loans/{loan_id}/credit-calls/{call_id}", get_credit_call, "A credit executive's "
                 "call about the application and how it ended (the Location of a credit call), for whom the "
                 "application is assigned to (LOAN_RELOCATE: any of the brand's); anyone else's, another loan's or "
                 "another brand's 404", CREDIT_CALLS_READ, response=CallOut),
        Endpoint("GET", "/api/v1/loans/{loan_id}/calls", loan_calls, "A loan's dialer calls, newest first",
                 CALLS_READ, query=CallListQuery, response=CallPageOut),
        Endpoint("GET", "/api/v1/calls/{call_id}", get_call, "A dialer call and how it ended", CALLS_READ,
                 response=CallOut),
        Endpoint("POST", WEBHOOK_PATH, dialer_webhook, "The dialer's signed call events (call.completed)", None,
                 response=WebhookOut, public=True, errors=(400, 401, 409, 422)),
    ],
)  # fmt: skip
