"""Borrower record endpoints: register, search, Customer 360, update, alternate phones, loan numbers."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response
from domain.blocklist.entry import BlockKind
from domain.customers.customer import CustomerNotFound
from domain.customers.values import Address, normalise_loan_number
from domain.identity.permissions import Level, Permission
from domain.shared.errors import InvalidInput
from domain.shared.values import BusinessDate, normalise_email, normalise_name, normalise_pan, normalise_phone
from projections.customers import CustomerProfile

READ = (Permission.CUSTOMER, Level.READ)
WRITE = (Permission.CUSTOMER, Level.WRITE)


def _domain_check(check: Any, value: Any) -> Any:
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
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
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
    pan: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)
    date_of_birth: BusinessDate | None = None
    addresses: list[AddressIn] = Field(default_factory=list, max_length=10)
    loan_numbers: list[str] = Field(default_factory=list, max_length=50)


class CustomerPatch(_CustomerFieldRules):
    """Any registration field to change; `loan_numbers` are linked in addition to existing ones."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=30)
    pan: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)
    date_of_birth: BusinessDate | None = None
    addresses: list[AddressIn] | None = Field(None, max_length=10)
    loan_numbers: list[str] | None = Field(None, max_length=50)


class AlternatePhoneIn(BaseModel):
    """An alternate phone (a relative's or a reference's) with an optional label."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=30)
    label: str | None = Field(None, max_length=60)


class LoanNumberIn(BaseModel):
    """A loan number to link to the borrower."""

    model_config = ConfigDict(extra="forbid")

    loan_number: str = Field(max_length=40)


class CustomerSearch(BaseModel):
    """Directory search: `q` matches name, phone (any format), loan number or PAN."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=100)
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(25, ge=1, le=100)


class CustomerItemOut(BaseModel):
    """A directory row (PAN masked)."""

    id: UUID
    name: str
    phone: str
    pan: str | None
    email: str | None
    loan_numbers: list[str]
    updated_at: InstantOut


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


def _profile(ctx: Context, customer_id: Any, position: int = 0) -> CustomerProfile:
    if position:
        ctx.platform.engine.wait_for("customers", position)
    profile = ctx.platform.customer_queries.profile(ctx.brand_id, customer_id)
    if profile is None:
        raise CustomerNotFound(f"CustomerRecord {customer_id} not found", id=str(customer_id))
    return profile


def _profile_response(ctx: Context, customer_id: Any, position: int, status: int = 200) -> Reply:
    profile = _profile(ctx, customer_id, position)
    hits = ctx.platform.blocklist_queries.hits(ctx.brand_id, profile.blocklist_candidates())
    body = {**profile.__dict__, "blocklist_hits": hits}
    return json_response(body, status, headers={"Location": f"/api/v1/customers/{profile.id}"})


def register_customer(ctx: Context) -> Reply:
    body: CustomerIn = ctx.body
    result = ctx.platform.customers.register(
        ctx.brand_id,
        name=body.name,
        phone=body.phone,
        pan=body.pan,
        email=body.email,
        date_of_birth=body.date_of_birth,
        addresses=[a.to_domain() for a in body.addresses],
        loan_numbers=body.loan_numbers,
    )
    return _profile_response(ctx, result.id, result.position, 201)


def search_customers(ctx: Context) -> Reply:
    q: CustomerSearch = ctx.query
    page = ctx.platform.customer_queries.search(ctx.brand_id, q.q, q.cursor, q.limit)
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


def get_customer(ctx: Context) -> Reply:
    return _profile_response(ctx, ctx.path["customer_id"], 0)


def update_customer(ctx: Context) -> Reply:
    body: CustomerPatch = ctx.body
    fields = body.model_dump(exclude_unset=True, exclude={"addresses"})
    if body.addresses is not None:
        fields["addresses"] = [a.to_domain() for a in body.addresses]
    result = ctx.platform.customers.update_details(
        ctx.brand_id, ctx.path["customer_id"], expected_version=ctx.expected_version(), **fields
    )
    return _profile_response(ctx, result.id, result.position)


def add_alternate_phone(ctx: Context) -> Reply:
    body: AlternatePhoneIn = ctx.body
    result = ctx.platform.customers.add_alternate_phone(ctx.brand_id, ctx.path["customer_id"], body.phone, body.label)
    return _profile_response(ctx, result.id, result.position, 201)


def remove_alternate_phone(ctx: Context) -> Reply:
    result = ctx.platform.customers.remove_alternate_phone(ctx.brand_id, ctx.path["customer_id"], ctx.path["phone"])
    return _profile_response(ctx, result.id, result.position)


def link_loan_number(ctx: Context) -> Reply:
    body: LoanNumberIn = ctx.body
    result = ctx.platform.customers.link_loan_number(ctx.brand_id, ctx.path["customer_id"], body.loan_number)
    return _profile_response(ctx, result.id, result.position, 201 if result.changed else 200)


ENDPOINTS = [
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
        tags=["customers"],
    ),
    Endpoint(
        "GET",
        "/api/v1/customers",
        search_customers,
        "Search the customer directory",
        READ,
        query=CustomerSearch,
        response=CustomerPageOut,
        tags=["customers"],
    ),
    Endpoint(
        "GET",
        "/api/v1/customers/{customer_id}",
        get_customer,
        "Customer 360: profile and timeline",
        READ,
        response=CustomerOut,
        etag=True,
        tags=["customers"],
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
        tags=["customers"],
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
        tags=["customers"],
    ),
    Endpoint(
        "DELETE",
        "/api/v1/customers/{customer_id}/alternate-phones/{phone}",
        remove_alternate_phone,
        "Remove an alternate phone",
        WRITE,
        response=CustomerOut,
        etag=True,
        tags=["customers"],
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
        tags=["customers"],
    ),
]
