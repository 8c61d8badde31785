"""Fieldwork pages: the dialer's settings (Settings → Dialer), click-to-call from the collections worklist and the
Customer 360 (a form posting to /loans/{id}/call), and the collection dashboard with its SVG charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.collection_charts import bar_chart, rate_gauge
from api.routes.collections import CollectionsPort, guard
from api.routes.disbursals import public_base
from api.services.dialer_calls import WEBHOOK_PATH
from api.web import (
    Page,
    act,
    after_write,
    error_page,
    error_text,
    form_text,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.collections.case import Stage
from domain.fieldwork.application import FieldWork
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.providers.errors import ProviderUnavailable
from domain.shared.application import CommandResult
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, DomainError, NotFound
from domain.shared.rupees import rupees
from domain.shared.values import whole_number
from projections.collection_dashboard import CollectionDashboardQueries
from projections.collection_team import TeamQueries
from projections.fieldwork_queries import FieldworkPicks, FieldworkQueries

SETTINGS_READ = (Permission.BRAND_SETTINGS, Level.READ)
SETTINGS_WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)
CALL = (Permission.COLLECTIONS, Level.WRITE)
DASHBOARD = (Permission.COLLECTION_REALLOCATE_LOANS, Level.READ)
CALL_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class FieldworkPagesPort:
    """What the dialer settings, click-to-call and dashboard pages use."""

    fieldwork: FieldWork
    queries: FieldworkQueries
    picks: FieldworkPicks
    dashboard: CollectionDashboardQueries
    team: TeamQueries
    collections: CollectionsPort
    clock: Clock


# Settings → Dialer ------------------------------------------------------------------------------------------------


async def _settings(
    request: Request,
    port: FieldworkPagesPort,
    principal: Principal,
    error: str | None = None,
    status: int = 422,
) -> Response:
    settings = await run_in_threadpool(port.queries.dialer_settings, principal.brand_id)
    staff = await run_in_threadpool(port.picks.staff, principal.brand_id)
    return render(
        request,
        "dialer_settings.html",
        status if error else 200,
        nav="settings",
        settings=settings,
        staff=staff,
        can_edit=principal.holds(*SETTINGS_WRITE),
        error=error,
    )


async def dialer_settings_page(request: Request, port: FieldworkPagesPort, principal: Principal) -> Response:
    return await _settings(request, port, principal)


async def dialer_settings_save(request: Request, port: FieldworkPagesPort, principal: Principal) -> Response:
    enabled = form_text(request, "enabled") == "on"
    account = form_text(request, "account_id").strip() or None
    token = form_text(request, "api_token") or None
    # The version the page showed: the form posts every field, so saved over a change made since it was opened it
    # would put the old values back (409 instead; the page shows the settings as they are now, the input kept).
    shown = whole_number(form_text(request, "expected_version"))
    try:
        result = await act(
            principal,
            lambda: port.fieldwork.configure_dialer(
                principal.brand_id, enabled=enabled, account_id=account, api_token=token, expected_version=shown
            ),
        )
    except DomainError as exc:
        return await _settings(request, port, principal, error=error_text(exc), status=refusal_status(exc))
    return await after_write(request, FieldWork.name, result.position, "/settings/dialer")


async def dialer_extension_save(request: Request, port: FieldworkPagesPort, principal: Principal) -> Response:
    try:
        staff_id = UUID(form_text(request, "staff_id"))
    except ValueError:
        return await _settings(request, port, principal, error="staff_id: choose a staff member")
    extension = form_text(request, "extension").strip() or None
    # The version the page showed: an extension set over settings changed since (another admin giving the extension
    # to someone else, or this person another) is a 409 that keeps the input, not an overwrite.
    shown = whole_number(form_text(request, "expected_version"))
    try:
        result = await act(
            principal,
            lambda: port.fieldwork.set_extension(principal.brand_id, staff_id, extension, expected_version=shown),
        )
    except DomainError as exc:
        return await _settings(request, port, principal, error=error_text(exc), status=refusal_status(exc))
    return await after_write(request, FieldWork.name, result.position, "/settings/dialer")


# Click-to-call ----------------------------------------------------------------------------------------------------


def _back(request: Request, loan_id: UUID) -> str:
    target = form_text(request, "next")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = f"/loans/{loan_id}"
    return target


async def call_loan(request: Request, port: FieldworkPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    phone = form_text(request, "phone").strip() or None
    callback = public_base(request) + WEBHOOK_PATH

    def call() -> CommandResult:
        guard(port.collections, principal, loan_id, Level.WRITE)  # executives call their own loans only
        return port.fieldwork.place_call(principal.brand_id, loan_id, principal.id, phone, callback)

    try:
        result = await act(principal, call)
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        status = 409 if isinstance(exc, Conflict) else 503 if isinstance(exc, ProviderUnavailable) else 422
        return error_page(request, status, "Cannot place the call", error_text(exc))
    target = _back(request, loan_id)
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}called={quote(str(result.id))}", status_code=303)


# The collection dashboard -----------------------------------------------------------------------------------------


def _dashboard_data(port: FieldworkPagesPort, brand_id: UUID, stage: Stage) -> dict[str, Any]:
    now = port.clock.now()
    team = port.team.team(brand_id, stage, now)
    portfolio = port.dashboard.dpd_buckets(brand_id)
    dialer = {c.staff_id: c for c in port.dashboard.calls_per_executive(brand_id, now - CALL_WINDOW)}
    executives = [{"figures": f, "dialer": dialer.get(f.staff_id) if f.staff_id else None} for f in team.executives]
    calls_rows = [(c.name, c.calls, f"{c.calls} ({c.answered} answered)") for c in dialer.values()]
    return {
        "team": team,
        "portfolio": portfolio,
        "executives": executives,
        "dialer_calls": list(dialer.values()),
        "count_chart": bar_chart(
            "chart-dpd-count", "Open cases by DPD bucket", [(b.bucket, b.count, str(b.count)) for b in team.buckets]
        ),
        "amount_chart": bar_chart(
            "chart-dpd-amount",
            "Amount by DPD bucket (INR)",
            [(b.bucket, float(b.amount), rupees(b.amount)) for b in team.buckets],
        ),
        "portfolio_chart": bar_chart(
            "chart-portfolio",
            "Serviced loans by DPD (count)",
            [(b.label, b.count, f"{b.count} · {rupees(b.amount)}") for b in portfolio],
        ),
        "calls_chart": bar_chart("chart-calls", "Dialer calls per executive (30 days)", calls_rows),
        "recovery_gauge": rate_gauge(
            "chart-recovery", "Recovery rate", float(team.recovery_rate) if team.recovery_rate is not None else None
        ),
        "ptp_gauge": rate_gauge(
            "chart-ptp", "PTP kept rate", float(team.ptp_kept_rate) if team.ptp_kept_rate is not None else None
        ),
    }


async def collection_dashboard(request: Request, port: FieldworkPagesPort, principal: Principal) -> Response:
    chosen = request.query_params.get("stage", Stage.COLLECTIONS.value)
    stage = Stage(chosen) if chosen in {s.value for s in Stage} else Stage.COLLECTIONS
    data = await run_in_threadpool(_dashboard_data, port, principal.brand_id, stage)
    total = sum((b.amount for b in data["team"].buckets), Decimal("0.00"))
    return render(
        request,
        "collection_dashboard.html",
        nav="collection-dashboard",
        total=total,
        stage=stage.value,
        stages=[s.value for s in Stage],
        **data,
    )


PAGES = pages(
    FieldworkPagesPort,
    [
        Page("GET", "/settings/dialer", dialer_settings_page, SETTINGS_READ),
        Page("POST", "/settings/dialer", dialer_settings_save, SETTINGS_WRITE, form=True),
        Page("POST", "/settings/dialer/extensions", dialer_extension_save, SETTINGS_WRITE, form=True),
        Page("POST", "/loans/{loan_id}/call", call_loan, CALL, form=True),
        Page("GET", "/collections/dashboard", collection_dashboard, DASHBOARD),
    ],
)
