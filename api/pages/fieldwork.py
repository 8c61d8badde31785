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
from api.routes.disbursals import public_base
from api.services.dialer_calls import WEBHOOK_PATH
from api.web import Page, act, after_write, error_page, error_text, form_text, not_found, pages, path_id, render
from domain.fieldwork.application import FieldWork
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.providers.errors import ProviderUnavailable
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, DomainError, NotFound
from projections.collection_dashboard import CollectionDashboardQueries
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
    clock: Clock


# Settings → Dialer ------------------------------------------------------------------------------------------------


async def _settings(
    request: Request, port: FieldworkPagesPort, principal: Principal, error: str | None = None
) -> Response:
    settings = await run_in_threadpool(port.queries.dialer_settings, principal.brand_id)
    staff = await run_in_threadpool(port.picks.staff, principal.brand_id)
    return render(
        request,
        "dialer_settings.html",
        422 if error else 200,
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
    try:
        result = await act(
            principal,
            lambda: port.fieldwork.configure_dialer(
                principal.brand_id, enabled=enabled, account_id=account, api_token=token
            ),
        )
    except DomainError as exc:
        return await _settings(request, port, principal, error=error_text(exc))
    return await after_write(request, FieldWork.name, result.position, "/settings/dialer")


async def dialer_extension_save(request: Request, port: FieldworkPagesPort, principal: Principal) -> Response:
    try:
        staff_id = UUID(form_text(request, "staff_id"))
    except ValueError:
        return await _settings(request, port, principal, error="staff_id: choose a staff member")
    extension = form_text(request, "extension").strip() or None
    try:
        result = await act(principal, lambda: port.fieldwork.set_extension(principal.brand_id, staff_id, extension))
    except DomainError as exc:
        return await _settings(request, port, principal, error=error_text(exc))
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
    try:
        result = await act(
            principal, lambda: port.fieldwork.place_call(principal.brand_id, loan_id, principal.id, phone, callback)
        )
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        status = 409 if isinstance(exc, Conflict) else 503 if isinstance(exc, ProviderUnavailable) else 422
        return error_page(request, status, "Cannot place the call", error_text(exc))
    target = _back(request, loan_id)
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}called={quote(str(result.id))}", status_code=303)


# The collection dashboard -----------------------------------------------------------------------------------------


def _dashboard_data(port: FieldworkPagesPort, brand_id: UUID) -> dict[str, Any]:
    buckets = port.dashboard.dpd_buckets(brand_id)
    calls = port.dashboard.calls_per_executive(brand_id, port.clock.now() - CALL_WINDOW)
    rates = _team_rates(port, brand_id)
    return {
        "buckets": buckets,
        "calls": calls,
        "rates": rates,
        "count_chart": bar_chart(
            "chart-dpd-count", "Loans by DPD bucket", [(b.label, b.count, str(b.count)) for b in buckets]
        ),
        "amount_chart": bar_chart(
            "chart-dpd-amount",
            "Amount by DPD bucket (INR)",
            [(b.label, float(b.amount), f"₹{b.amount:,.2f}") for b in buckets],
        ),
        "calls_chart": bar_chart(
            "chart-calls",
            "Dialer calls per executive (30 days)",
            [(c.name, c.calls, f"{c.calls} ({c.answered} answered)") for c in calls],
        ),
        "recovery_gauge": rate_gauge("chart-recovery", "Recovery rate", rates.get("recovery_rate")),
        "ptp_gauge": rate_gauge("chart-ptp", "PTP kept rate", rates.get("ptp_kept_rate")),
    }


def _team_rates(port: FieldworkPagesPort, brand_id: UUID) -> dict[str, float | None]:
    """Recovery and PTP kept rates: the collections context's team figures (None until it has any)."""
    return {"recovery_rate": None, "ptp_kept_rate": None}


async def collection_dashboard(request: Request, port: FieldworkPagesPort, principal: Principal) -> Response:
    data = await run_in_threadpool(_dashboard_data, port, principal.brand_id)
    total = sum((b.amount for b in data["buckets"]), Decimal("0.00"))
    return render(request, "collection_dashboard.html", nav="collection-dashboard", total=total, **data)


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
