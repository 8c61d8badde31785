"""Borrower record endpoints: register, search, Customer 360, update, alternate phones, loan numbers, notes, the
owning agent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import (
    VISIBLE_MIN_REASON,
    VISIBLE_OR_BLANK,
    VISIBLE_REASON,
    VISIBLE_REFERENCE,
    null_refused,
    refuse_null,
    visible_text,
)
from domain.blocklist.entry import BlockKind
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.customers.values import (
    DEFAULT_AGENT_REASON,
    MAX_AGENT_REASON,
    MAX_NOTE_CHARACTERS,
    MAX_UNLINK_REASON,
    Address,
    agent_reason,
    normalise_loan_number,
    note_text,
    unlink_reason,
)
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared import formats
from domain.shared.application import CommandResult
from domain.shared.errors import InvalidInput, InvalidValue
from domain.shared.values import (
    MIN_REASON,
    BusinessDate,
    Instant,
    normalise_email,
    normalise_name,
    normalise_pan,
    normalise_phone,
    stated_choices,
    stated_pattern,
)
from projections.blocklist import BlocklistQueries
from projections.customer_notes import CustomerNoteQueries
from projections.customer_queries import AgentFilter, CustomerProfile, CustomerQueries

READ = (Permission.CUSTOMER, Level.READ)
WRITE = (Permission.CUSTOMER, Level.WRITE)
#: Writing a note is its own permission (collectors hold it without CUSTOMER WRITE); reading notes is READ.
NOTE = (Permission.CUSTOMER_NOTES, Level.WRITE)
#: Moving a borrower to another owning agent (sales managers by default).
RELOCATE = (Permission.RELOCATE_USER, Level.WRITE)

V = TypeVar("V")


@dataclass(frozen=True)
class CustomersPort:
    """What the customer endpoints use: the use cases, the borrower read models and the blocklist's hits."""

    customers: Customers
    queries: CustomerQueries
    blocklist: BlocklistQueries
    notes: CustomerNoteQueries


def _domain_check(check: Callable[[V], object], value: V | None) -> V | None:
    """Run a domain value rule inside pydantic, so every bad field is reported in one 422."""
    if value is None:
        return None
    try:
        check(value)
    except InvalidInput as exc:
        raise ValueError(exc.errors[0].message) from None
    return value


class AddressIn(BaseModel):
    """A postal address."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field("current", max_length=30)
    line1: str = Field(min_length=1, max_length=200, json_schema_extra=VISIBLE_REFERENCE)
    line2: str | None = Field(None, max_length=200)
    city: str = Field(min_length=1, max_length=100, json_schema_extra=VISIBLE_REFERENCE)
    state: str | None = Field(None, max_length=100)
    pincode: str = Field(pattern=r"^[1-9][0-9]{5}$", description="six-digit Indian pincode")

    def to_domain(self) -> Address:
        return Address(**self.model_dump())


class _CustomerFieldRules(BaseModel):
    """The domain's value rules applied while parsing, so one 422 names every bad field."""

    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return _domain_check(normalise_name, v)

    @field_validator("phone", check_fields=False)
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return _domain_check(normalise_phone, v)

    @field_validator("pan", check_fields=False)
    @classmethod
    def _pan(cls, v: str | None) -> str | None:
        return _domain_check(normalise_pan, v)

    @field_validator("email", check_fields=False)
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _domain_check(normalise_email, v)

    @field_validator("loan_numbers", check_fields=False)
    @classmethod
    def _loans(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_domain_check(normalise_loan_number, n) or n for n in v]


class CustomerIn(_CustomerFieldRules):
    """Registration of a borrower; phone in any common Indian format, PAN like ABCDE1234F."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    phone: str = Field(max_length=30)
    pan: Annotated[str, Field(max_length=20), stated_pattern(formats.PAN, max_length=20)] | None = None
    email: str | None = Field(None, max_length=254)
    date_of_birth: BusinessDate | None = None
    addresses: list[AddressIn] = Field(default_factory=list, max_length=10)
    loan_numbers: list[Annotated[str, stated_pattern(formats.LOAN_NUMBER)]] = Field(default_factory=list, max_length=50)


#: The fields of a customer's PATCH that are never null: left out, they stay as they are.
NEVER_NULL = ("name", "phone", "pan", "email", "date_of_birth", "addresses", "loan_numbers")


class CustomerPatch(_CustomerFieldRules):
    """Any registration field to change; `loan_numbers` are linked in addition to existing ones."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=null_refused(*NEVER_NULL))

    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=30)
    pan: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)
    date_of_birth: BusinessDate | None = None
    addresses: list[AddressIn] | None = Field(None, max_length=10)
    loan_numbers: list[str] | None = Field(None, max_length=50)

    # None is only "left out": the record has no cleared state for these (an explicit null used to answer 200 and
    # change nothing); the schema leaves null out of them (`null_refused`).
    _no_null = field_validator(*NEVER_NULL, mode="before")(refuse_null)


class AlternatePhoneIn(BaseModel):
    """An alternate phone (a relative's or a reference's) with an optional label."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=30)
    label: str | None = Field(None, max_length=60)


class LoanNumberIn(BaseModel):
    """A loan number to link to the borrower."""

    model_config = ConfigDict(extra="forbid")

    loan_number: Annotated[str, Field(max_length=40), stated_pattern(formats.LOAN_NUMBER, max_length=40)]


class LoanNumberUnlinkIn(BaseModel):
    """A loan number linked to the borrower by mistake, to unlink, and why."""

    model_config = ConfigDict(extra="forbid")

    loan_number: Annotated[str, Field(max_length=40), stated_pattern(formats.LOAN_NUMBER, max_length=40)] = Field(
        description="one of the borrower's linked loan numbers (any case)"
    )
    reason: str = Field(
        min_length=MIN_REASON,
        max_length=MAX_UNLINK_REASON,
        description=VISIBLE_MIN_REASON,
        json_schema_extra=VISIBLE_REASON,
    )

    @field_validator("loan_number")
    @classmethod
    def _loan_number(cls, v: str) -> str:
        return _domain_check(normalise_loan_number, v) or v

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        return _domain_check(unlink_reason, v) or v


class NoteIn(BaseModel):
    """A note on the borrower's record: what was said or agreed, optionally about one of the borrower's loans and a
    callback the borrower asked for."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=2 * MAX_NOTE_CHARACTERS,  # surrounding whitespace is trimmed; the rule counts what is kept
        description=f"1 to {MAX_NOTE_CHARACTERS} characters once surrounding whitespace is trimmed (at least one "
        f"visible; a CR LF line break counts as one); line breaks are kept",
        json_schema_extra=visible_text(1),
    )
    loan_id: UUID | None = Field(None, description="one of the borrower's loans the note is about")
    callback_at: Instant | None = Field(None, description="when the borrower asked to be called back (with offset)")

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return _domain_check(note_text, v) or v


class NotesQuery(BaseModel):
    """A page of the borrower's notes, newest first; `loan_id` keeps those about one loan."""

    model_config = ConfigDict(extra="forbid")

    loan_id: UUID | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(25, ge=1, le=100)


class NoteOut(BaseModel):
    """A note on a borrower's record, as written (notes are never edited: a correction is another note)."""

    id: UUID
    customer_id: UUID
    text: str
    author: str = Field(description="who wrote it, as events record actors: staff:<id> or apikey:<id>")
    loan_id: UUID | None
    callback_at: InstantOut | None
    at: InstantOut


class NotePageOut(BaseModel):
    """A page of a borrower's notes, newest first."""

    items: list[NoteOut]
    next_cursor: str | None


class AgentIn(BaseModel):
    """The borrower's new owning agent and why they move."""

    model_config = ConfigDict(extra="forbid")

    agent_id: UUID = Field(description="an enabled staff member of the brand who holds CUSTOMER")
    reason: str | None = Field(
        None,
        max_length=2 * MAX_AGENT_REASON,  # whitespace runs are folded; the rule counts what is kept
        description=f"{MIN_REASON} to {MAX_AGENT_REASON} characters once each run of whitespace is folded to one "
        f"space (at least {MIN_REASON} of them visible; what is sent may be up to {2 * MAX_AGENT_REASON}); "
        f"absent, empty or only whitespace: the move records '{DEFAULT_AGENT_REASON}'",
        json_schema_extra=VISIBLE_OR_BLANK,
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _domain_check(agent_reason, v)


#: The `agent` filter's words besides a staff id.
AGENT_ME, AGENT_NONE = "me", "none"


class CustomerSearch(BaseModel):
    """Directory search: `q` matches name, phone (any format), loan number or PAN; `agent` keeps one agent's
    borrowers."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=100)
    agent: Annotated[str, Field(max_length=40), stated_choices([AGENT_ME, AGENT_NONE], or_id=True)] | None = Field(
        None,
        description="a staff id: that agent's borrowers; `me`: the calling staff member's (a staff member's "
        "only); `none`: those no agent owns; empty: everyone's",
    )
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(25, ge=1, le=100)

    @field_validator("agent")
    @classmethod
    def _agent(cls, v: str | None) -> str | None:
        if v is None or v in (AGENT_ME, AGENT_NONE):
            return v
        try:
            return str(UUID(v))
        except ValueError:
            raise ValueError("a staff id, 'me' or 'none'") from None


def agent_filter(principal: Principal, raw: str | None, field: str = "agent") -> AgentFilter | None:
    """The directory's agent filter from its parameter (a staff id, `me`, `none`, or empty: everyone's borrowers);
    `me` for an API key, which owns no borrowers, is InvalidValue naming `field`. Shared by the portal's list."""
    if not raw:
        return None
    if raw == AGENT_NONE:
        return AgentFilter(None)
    if raw == AGENT_ME:
        if principal.kind != "staff":
            raise InvalidValue(field, "'me' is a staff member's own borrowers; an API key owns none (give a staff id)")
        return AgentFilter(principal.id)
    try:
        return AgentFilter(UUID(raw))
    except ValueError:
        raise InvalidValue(field, "a staff id, 'me' or 'none'") from None


def registering_agent(principal: Principal) -> UUID | None:
    """Who owns a borrower a principal registers: the staff member, acting within their own brand (a Super Admin
    acting within another brand is no staff member there); nobody for an API key (docs/customers.md)."""
    return principal.id if principal.kind == "staff" and principal.home_brand_id is None else None


class CustomerItemOut(BaseModel):
    """A directory row (PAN masked)."""

    id: UUID
    name: str
    phone: str
    pan: str | None
    email: str | None
    loan_numbers: list[str]
    updated_at: InstantOut
    number: str | None = Field(None, description="the brand's formatted id, e.g. DEMO-C-000123")
    agent_id: UUID | None = Field(None, description="the owning agent, a staff member of the brand (None: nobody)")
    agent_name: str | None = None


class CustomerPageOut(BaseModel):
    """A page of the directory."""

    items: list[CustomerItemOut]
    next_cursor: str | None


class TimelineEntryOut(BaseModel):
    """One thing that happened to the record."""

    position: int
    occurred_at: InstantOut
    kind: str
    summary: str
    actor: str
    details: dict[str, Any] = Field(description="what changed; its members depend on `kind`")


class AlternatePhoneOut(BaseModel):
    """A relative's or a reference's phone."""

    phone: str
    label: str | None = None


class AddressOut(BaseModel):
    """A postal address."""

    kind: str
    line1: str
    line2: str | None = None
    city: str
    state: str | None = None
    pincode: str


class BlocklistHitOut(BaseModel):
    """A value of the borrower's that is on the brand's blocklist (masked where sensitive)."""

    entry_id: UUID
    kind: BlockKind
    value: str
    reason: str


class CustomerOut(BaseModel):
    """The Customer 360: profile and timeline."""

    id: UUID
    brand_id: UUID
    name: str
    phone: str
    alternate_phones: list[AlternatePhoneOut]
    email: str | None
    pan: str | None
    pan_masked: str | None
    date_of_birth: date | None
    addresses: list[AddressOut]
    loan_numbers: list[str]
    version: int
    created_at: InstantOut
    updated_at: InstantOut
    timeline: list[TimelineEntryOut]
    blocklist_hits: list[BlocklistHitOut]
    number: str | None = Field(None, description="the brand's formatted id, e.g. DEMO-C-000123")
    agent_id: UUID | None = Field(None, description="the owning agent, a staff member of the brand (None: nobody)")
    agent_name: str | None = None


def _customer(ctx: Context[CustomersPort], customer_id: UUID) -> CustomerProfile | None:
    """The Customer 360 of a borrower of the caller's brand, with the blocklist entries its values match."""
    profile = ctx.port.queries.profile(ctx.brand_id, customer_id)
    if profile is None:
        return None
    return profile.with_blocklist_hits(ctx.port.blocklist.hits(ctx.brand_id, profile.blocklist_candidates()))


def _written(ctx: Context[CustomersPort], result: CommandResult, status: int | None = None) -> Reply:
    """The answer to a command on a borrower: its 360 once the read model shows the change, else 202."""
    location = f"/api/v1/customers/{result.id}"
    return ctx.written(result, Customers.name, lambda: _customer(ctx, result.id), location, status)


def register_customer(ctx: Context[CustomersPort]) -> Reply:
    body: CustomerIn = ctx.body
    result = ctx.port.customers.register(
        ctx.brand_id,
        name=body.name,
        phone=body.phone,
        pan=body.pan,
        email=body.email,
        date_of_birth=body.date_of_birth,
        addresses=[a.to_domain() for a in body.addresses],
        loan_numbers=body.loan_numbers,
        agent_id=registering_agent(ctx.principal),
    )
    return _written(ctx, result)


def search_customers(ctx: Context[CustomersPort]) -> Reply:
    q: CustomerSearch = ctx.query
    agent = agent_filter(ctx.principal, q.agent)
    return json_response(ctx.port.queries.search(ctx.brand_id, q.q, q.cursor, q.limit, agent))


def get_customer(ctx: Context[CustomersPort]) -> Reply:
    customer_id: UUID = ctx.path["customer_id"]
    profile = _customer(ctx, customer_id)
    if profile is None:
        raise CustomerNotFound(f"CustomerRecord {customer_id} not found", id=str(customer_id))
    return json_response(profile, headers={"Location": f"/api/v1/customers/{profile.id}"})


def update_customer(ctx: Context[CustomersPort]) -> Reply:
    body: CustomerPatch = ctx.body
    fields = body.model_dump(exclude_unset=True, exclude={"addresses"})
    if body.addresses is not None:
        fields["addresses"] = [a.to_domain() for a in body.addresses]
    result = ctx.port.customers.update_details(
        ctx.brand_id, ctx.path["customer_id"], expected_version=ctx.expected_version(), **fields
    )
    return _written(ctx, result)


def add_alternate_phone(ctx: Context[CustomersPort]) -> Reply:
    body: AlternatePhoneIn = ctx.body
    result = ctx.port.customers.add_alternate_phone(ctx.brand_id, ctx.path["customer_id"], body.phone, body.label)
    return _written(ctx, result)


def remove_alternate_phone(ctx: Context[CustomersPort]) -> Reply:
    result = ctx.port.customers.remove_alternate_phone(ctx.brand_id, ctx.path["customer_id"], ctx.path["phone"])
    return _written(ctx, result)


def link_loan_number(ctx: Context[CustomersPort]) -> Reply:
    body: LoanNumberIn = ctx.body
    result = ctx.port.customers.link_loan_number(ctx.brand_id, ctx.path["customer_id"], body.loan_number)
    return _written(ctx, result, None if result.changed else 200)


def unlink_loan_number(ctx: Context[CustomersPort]) -> Reply:
    body: LoanNumberUnlinkIn = ctx.body
    result = ctx.port.customers.unlink_loan_number(
        ctx.brand_id, ctx.path["customer_id"], body.loan_number, body.reason, expected_version=ctx.expected_version()
    )
    return _written(ctx, result)


def assign_agent(ctx: Context[CustomersPort]) -> Reply:
    body: AgentIn = ctx.body
    result = ctx.port.customers.assign_agent(
        ctx.brand_id, ctx.path["customer_id"], body.agent_id, body.reason, expected_version=ctx.expected_version()
    )
    return _written(ctx, result)


def add_note(ctx: Context[CustomersPort]) -> Reply:
    body: NoteIn = ctx.body
    customer_id: UUID = ctx.path["customer_id"]
    added = ctx.port.customers.add_note(
        ctx.brand_id, customer_id, body.text, loan_id=body.loan_id, callback_at=body.callback_at
    )
    # The notes list is where the note is read (there is no address of one note).
    location = f"/api/v1/customers/{customer_id}/notes"
    result = CommandResult(id=added.note_id, position=added.position)
    return ctx.written(result, Customers.name, lambda: ctx.port.notes.note(ctx.brand_id, added.note_id), location)


def list_notes(ctx: Context[CustomersPort]) -> Reply:
    q: NotesQuery = ctx.query
    customer_id: UUID = ctx.path["customer_id"]
    if not ctx.port.notes.has_borrower(ctx.brand_id, customer_id):
        raise CustomerNotFound(f"CustomerRecord {customer_id} not found", id=str(customer_id))
    return json_response(ctx.port.notes.notes(ctx.brand_id, customer_id, q.loan_id, q.cursor, q.limit))


ENDPOINTS = serve(
    CustomersPort,
    "customers",
    [
        Endpoint(
            "POST",
            "/api/v1/customers",
            register_customer,
            "Register a borrower",
            WRITE,
            body=CustomerIn,
            response=CustomerOut,
            etag=True,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/customers",
            search_customers,
            "Search the customer directory",
            READ,
            query=CustomerSearch,
            response=CustomerPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/customers/{customer_id}",
            get_customer,
            "Customer 360: profile and timeline",
            READ,
            response=CustomerOut,
            etag=True,
        ),
        Endpoint(
            "PATCH",
            "/api/v1/customers/{customer_id}",
            update_customer,
            "Update contact and identity details",
            WRITE,
            body=CustomerPatch,
            response=CustomerOut,
            etag=True,
            if_match=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/alternate-phones",
            add_alternate_phone,
            "Add an alternate phone",
            WRITE,
            body=AlternatePhoneIn,
            response=CustomerOut,
            etag=True,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "DELETE",
            "/api/v1/customers/{customer_id}/alternate-phones/{phone}",
            remove_alternate_phone,
            "Remove an alternate phone",
            WRITE,
            response=CustomerOut,
            etag=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/loan-numbers",
            link_loan_number,
            "Link a loan number",
            WRITE,
            body=LoanNumberIn,
            response=CustomerOut,
            etag=True,
            status=201,
            statuses=(200,),
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/loan-numbers/unlink",
            unlink_loan_number,
            "Unlink a loan number linked by mistake, with a reason (notices are no longer matched by it)",
            WRITE,
            body=LoanNumberUnlinkIn,
            response=CustomerOut,
            etag=True,
            if_match=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/agent",
            assign_agent,
            "Move the borrower to another owning agent",
            RELOCATE,
            body=AgentIn,
            response=CustomerOut,
            etag=True,
            if_match=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/notes",
            add_note,
            "Write a note on the borrower's record",
            NOTE,
            body=NoteIn,
            response=NoteOut,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/customers/{customer_id}/notes",
            list_notes,
            "The borrower's notes, newest first",
            READ,
            query=NotesQuery,
            response=NotePageOut,
        ),
    ],
)
