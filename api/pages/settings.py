"""The brand settings page: every setting with its description, saving changes, and the history of changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import actor_names
from api.request_input import MAX_JSON_DEPTH, nests_deeper_than
from api.routes.brands import READ, WRITE, BrandsPort
from api.web import (
    Page,
    TypedForm,
    act,
    after_write,
    error_text,
    form_text,
    keyset_page,
    pages,
    refusal_status,
    render,
)
from domain.identity.application import Identity
from domain.identity.brand_config import BrandSettings, SettingChange
from domain.identity.principal import Principal
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError
from domain.shared.values import whole_number
from projections.identity import ConfigHistoryPage


@dataclass(frozen=True)
class _Settings:
    config: BrandSettings
    history: ConfigHistoryPage
    business_date: date
    business_date_held: bool
    version: int
    actors: dict[str, str]
    min_loan_amount_enforced: bool


async def _settings(
    request: Request, port: BrandsPort, principal: Principal, error: str | None = None, status: int = 200
) -> Response:
    """The page; a refused save (422) comes back as typed, a conflicting one (409) with the settings as they are
    now: its typed values would carry the stale ones back (the business date the close of business moved)."""

    def load() -> _Settings:
        state = port.identity.configuration_state(principal.brand_id)
        history = keyset_page(request, lambda cursor: port.queries.config_history(principal.brand_id, cursor, 50))
        assert isinstance(history, ConfigHistoryPage)
        # Who changed a setting by name (staff, API key, job), not the actor's id as recorded.
        actors = actor_names(port.identity, principal.brand_id, {h.actor for h in history.items})
        return _Settings(
            state.settings, history, state.business_date, state.business_date_held, state.version, actors,
            state.min_loan_amount_enforced,
        )  # fmt: skip

    data = await run_in_threadpool(load)
    extra: dict[str, Any] = {"kept": lambda action: TypedForm()} if status == 409 else {}
    return render(
        request,
        "settings.html",
        status,
        **extra,
        nav="settings",
        fields=BrandSettings.model_fields,
        json_fields=JSON_FIELDS,
        values=data.config.model_dump(mode="json"),
        can_edit=principal.holds(*WRITE),
        error=error,
        config=data.config,
        history=data.history,
        business_date=data.business_date,
        business_date_held=data.business_date_held,
        version=data.version,
        actors=data.actors,
        min_loan_amount_enforced=data.min_loan_amount_enforced,
    )


async def settings_page(request: Request, port: BrandsPort, principal: Principal) -> Response:
    return await _settings(request, port, principal)


#: The settings written as JSON in the form: maps, lists and nested values (every field with a default factory).
JSON_FIELDS = frozenset(name for name, field in BrandSettings.model_fields.items() if field.default_factory is not None)


#: The settings an empty field unsets (no fixed business date; re-loan offers that never expire).
EMPTY_IS_NONE = frozenset({"business_date", "reloan_offer_days", "reloan_refresh_days"})


def _updates(form: FormData) -> tuple[dict[str, Any], list[str]]:
    """The settings as the form gives them (checkboxes, text, JSON of per-frequency maps), and the fields whose
    JSON could not be read."""
    updates: dict[str, Any] = {}
    bad_json = []
    for name, field in BrandSettings.model_fields.items():
        if field.annotation is bool:
            updates[name] = form.get(name) == "on"
        elif name in form:
            raw = str(form.get(name)).strip()
            if name in JSON_FIELDS:
                try:
                    if nests_deeper_than(raw.encode(), MAX_JSON_DEPTH):
                        raise ValueError("nested too deep")
                    updates[name] = json.loads(raw) if raw else field.get_default(call_default_factory=True)
                except ValueError:  # not JSON (JSONDecodeError), or nested too deep to parse
                    bad_json.append(name)
            else:
                updates[name] = raw or None if name in EMPTY_IS_NONE else raw
    return updates, bad_json


async def settings_save(request: Request, port: BrandsPort, principal: Principal) -> Response:
    updates, bad_json = _updates(request.state.form)
    if bad_json:
        error = f'{", ".join(bad_json)}: write it as JSON, e.g. {{"monthly": 7}} or ["560001", "110001"]'
        return await _settings(request, port, principal, error=error, status=422)
    shown = form_text(request, "expected_version")
    shown_version = whole_number(shown)  # the version the page showed: its changes only

    def save() -> tuple[CommandResult, list[SettingChange]]:
        return port.identity.change_configuration_shown(principal.brand_id, updates, shown_version)

    try:
        result, _ = await act(principal, save)
    except DomainError as exc:
        status = refusal_status(exc)
        return await _settings(request, port, principal, error=error_text(exc), status=status)
    return await after_write(request, Identity.name, result.position, "/settings")


PAGES = pages(
    BrandsPort,
    [
        Page("GET", "/settings", settings_page, READ),
        Page("POST", "/settings", settings_save, WRITE, form=True),
    ],
)
