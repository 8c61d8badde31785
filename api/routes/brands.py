"""Brand endpoints: the brands a caller may see, creating a brand (Super Admin), the brand's configuration and the
history of its changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from domain.identity.application import Identity
from domain.identity.brand_config import SETTING_RULES, BrandSettings, SettingChange
from domain.identity.permissions import Level, Permission
from domain.shared.errors import FieldError, InvalidInput, field_path
from projections.brands import BrandQueries
from projections.identity import IdentityQueries

READ = (Permission.BRAND_SETTINGS, Level.READ)
WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)


@dataclass(frozen=True)
class BrandsPort:
    """What the brand endpoints and the settings page use: the use cases, the brand directory and the history."""

    identity: Identity
    brands: BrandQueries
    queries: IdentityQueries


class BrandOut(BaseModel):
    """A brand."""

    id: UUID
    slug: str
    name: str
    timezone: str


class BrandListOut(BaseModel):
    """Brands the caller may see."""

    items: list[BrandOut]


class BrandIn(BaseModel):
    """A new brand."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(max_length=40)
    name: str = Field(max_length=200)
    timezone: str = Field("Asia/Kolkata", max_length=64)


class HistoryQuery(BaseModel):
    """History paging."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(100, ge=1, le=500)


class ConfigOut(BaseModel):
    """The brand's settings, the configuration's version and the business date (`business_date_held`: held at a
    date an admin set, the close of business moving it on one day a run; else it follows the calendar)."""

    brand_id: UUID
    settings: BrandSettings
    version: int
    business_date: date
    business_date_held: bool
    min_loan_amount_enforced: bool = Field(
        False,
        description="whether `settings.min_loan_amount` binds new applications: the brand has set it (saved a value, "
        "its starting 15000.00 included); until then no minimum is enforced (docs/loans.md)",
    )


class ConfigChangedOut(ConfigOut):
    """The configuration after a change, and each setting changed."""

    changes: list[SettingChange]


class ConfigChangeOut(BaseModel):
    """One setting change: who, when, old -> new."""

    changed_at: InstantOut
    actor: str
    setting: str
    old: Any
    new: Any


class ConfigHistoryOut(BaseModel):
    """Setting changes, newest first."""

    items: list[ConfigChangeOut]
    next_cursor: str | None


class ConfigPatch(BaseModel):
    """Any settings to change (validated by the brand settings' rules)."""

    model_config = ConfigDict(extra="allow")


def list_brands(ctx: Context[BrandsPort]) -> Reply:
    return json_response({"items": ctx.port.brands.visible(ctx.brand_id, ctx.principal.cross_brand)})


def create_brand(ctx: Context[BrandsPort]) -> Reply:
    body: BrandIn = ctx.body
    result = ctx.port.identity.create_brand(body.slug, body.name, body.timezone)
    return ctx.written(result, Identity.name, lambda: ctx.port.brands.brand(result.id), f"/api/v1/brands/{result.id}")


def get_config(ctx: Context[BrandsPort]) -> Reply:
    return json_response(ctx.port.identity.configuration_state(ctx.brand_id))


def check_setting_types(updates: dict[str, Any]) -> None:
    """422 naming each setting whose JSON value is not of the setting's type: `"22"` or `true` for a number of days,
    `1` or `"yes"` for a flag, `5.0` for a whole number (which another endpoint's `WholeNumber` reads as 5, JSON
    Schema's integer: the settings are not stated in the document as their own properties yet, so nothing promises
    5.0 here). The settings' rules read the portal form's text (every value a string there); a JSON body says what
    it means, as every other endpoint's whole numbers do (`WholeNumber`).
    Settings with rules of their own (amounts, dates, lists, providers, message senders) and unknown names are left
    to them."""
    errors: list[FieldError] = []
    fields = BrandSettings.model_fields
    for name, value in updates.items():
        annotation = fields[name].annotation if name in fields else None
        if annotation is None or name in SETTING_RULES:
            continue
        try:
            TypeAdapter(annotation).validate_json(json.dumps(value), strict=True)
        except ValidationError as exc:
            errors.extend(FieldError(field_path(e["loc"], name), e["msg"]) for e in exc.errors())
    if errors:
        raise InvalidInput(errors)


def update_config(ctx: Context[BrandsPort]) -> Reply:
    updates = ctx.body.model_dump(exclude_unset=True)
    check_setting_types(updates)
    result, changes = ctx.port.identity.change_configuration(ctx.brand_id, updates, ctx.expected_version())

    def changed() -> ConfigChangedOut:
        state = ctx.port.identity.configuration_state(ctx.brand_id)
        return ConfigChangedOut(
            brand_id=state.brand_id,
            settings=state.settings,
            version=state.version,
            business_date=state.business_date,
            business_date_held=state.business_date_held,
            min_loan_amount_enforced=state.min_loan_amount_enforced,
            changes=changes,
        )

    return ctx.written(result, Identity.name, changed)


def config_history(ctx: Context[BrandsPort]) -> Reply:
    q: HistoryQuery = ctx.query
    return json_response(ctx.port.queries.config_history(ctx.brand_id, q.cursor, q.limit))


ENDPOINTS = serve(
    BrandsPort,
    "brands",
    [
        Endpoint("GET", "/api/v1/brands", list_brands, "Brands the caller may see", None, response=BrandListOut),
        Endpoint(
            "POST",
            "/api/v1/brands",
            create_brand,
            "Create a brand (Super Admin)",
            (Permission.BRAND_SETTINGS, Level.ALL),
            body=BrandIn,
            response=BrandOut,
            status=201,
            cross_brand=True,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/brand/config",
            get_config,
            "The brand's configuration",
            READ,
            response=ConfigOut,
            etag=True,
        ),
        Endpoint(
            "PATCH",
            "/api/v1/brand/config",
            update_config,
            "Change settings (each change on the record)",
            WRITE,
            body=ConfigPatch,
            response=ConfigChangedOut,
            etag=True,
            if_match=True,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/brand/config/history",
            config_history,
            "Who changed what, when, old -> new",
            READ,
            query=HistoryQuery,
            response=ConfigHistoryOut,
        ),
    ],
)
