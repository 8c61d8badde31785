"""Portal pages for covenant monitoring: dashboard counts, worklist, covenant with history and review actions."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from api.portal import page
from api.portal_admin import _act, _error_text, _uuid
from api.web import keyset_page, not_found, render
from domain.identity.application import Principal
from domain.identity.permissions import Level, Permission
from domain.shared.errors import DomainError

READ = (Permission.COVENANTS, Level.READ)
REVIEW = (Permission.COVENANT_REVIEW, Level.WRITE)


@page(None)
async def dashboard(request: Request, platform: Any, principal: Principal) -> Response:
    covenants = principal.grants.get(Permission.COVENANTS)
    counts = await run_in_threadpool(platform.covenant_queries.counts, principal.brand_id) if covenants else None
    return render(request, "dashboard.html", principal=principal, nav="dashboard", counts=counts)


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@page(READ)
async def worklist(request: Request, platform: Any, principal: Principal) -> Response:
    params = request.query_params
    filters = {
        "status": params.get("status") or None,
        "due_from": _date(params.get("due_from")),
        "due_to": _date(params.get("due_to")),
        "type": params.get("type") or None,
        "assignee_id": _uuid(params.get("assignee_id", "")) if params.get("assignee_id") else None,
    }

    def load() -> dict[str, Any]:
        result = keyset_page(
            request, lambda cursor: platform.covenant_queries.worklist(principal.brand_id, cursor=cursor, **filters)
        )
        staff = platform.identity_queries.staff_list(principal.brand_id, None, None, 200).items
        return {"rows": result, "counts": platform.covenant_queries.counts(principal.brand_id), "staff": staff}

    data = await run_in_threadpool(load)
    query = "&".join(
        f"{k}={params.get(k)}" for k in ("status", "due_from", "due_to", "type", "assignee_id") if params.get(k)
    )
    return render(request, "covenants.html", principal=principal, nav="covenants", filters=params, query=query, **data)


async def _detail(
    request: Request, platform: Any, principal: Principal, covenant_id: UUID, error: str | None = None
) -> Response:
    def load() -> dict[str, Any] | None:
        row = platform.covenant_queries.covenant(principal.brand_id, covenant_id)
        if row is None:
            return None
        return {"c": row, "evaluations": platform.covenant_queries.evaluations(principal.brand_id, covenant_id)}

    data = await run_in_threadpool(load)
    if data is None:
        return await not_found(request)
    can_review = (principal.grants.get(Permission.COVENANT_REVIEW) or Level.READ).covers(Level.WRITE)
    return render(
        request,
        "covenant.html",
        422 if error else 200,
        principal=principal,
        nav="covenants",
        can_review=can_review,
        error=error,
        **data,
    )


@page(READ)
async def covenant_detail(request: Request, platform: Any, principal: Principal) -> Response:
    covenant_id = _uuid(request.path_params["covenant_id"])
    if covenant_id is None:
        return await not_found(request)
    return await _detail(request, platform, principal, covenant_id)


@page(REVIEW, form=True)
async def review(request: Request, platform: Any, principal: Principal) -> Response:
    evaluation_id = _uuid(request.path_params["evaluation_id"])
    action = request.path_params["action"]
    if evaluation_id is None or action not in ("comply", "waive", "submit-value"):
        return await not_found(request)
    row = await run_in_threadpool(platform.covenant_queries.evaluation, principal.brand_id, evaluation_id)
    if row is None:
        return await not_found(request)
    text = str(request.state.form.get("text", ""))
    use_case = {
        "comply": platform.covenants.comply,
        "waive": platform.covenants.waive,
        "submit-value": platform.covenants.submit_value,
    }[action]
    try:
        result = await _act(principal, lambda: use_case(principal.brand_id, evaluation_id, text))
    except DomainError as exc:
        return await _detail(request, platform, principal, row.covenant_id, error=_error_text(exc))
    await run_in_threadpool(platform.engine.wait_for, "covenants", result.position)
    return RedirectResponse(f"/covenants/{row.covenant_id}", status_code=303)


ROUTES = [
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/covenants", worklist, methods=["GET"]),
    Route("/covenants/{covenant_id}", covenant_detail, methods=["GET"]),
    Route("/covenant-evaluations/{evaluation_id}/{action}", review, methods=["POST"]),
]
