"""Staff onboarding pages: borrowers in progress (the step each is stuck on, since when; by step) with the funnel's
conversion, borrowers who completed, one borrower's funnel (who closed it, when, why), sending a step back and closing
the funnel."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import actor_names
from api.routes.onboarding import CLOSE, COMPLETED, IN_PROGRESS, SEND_BACK, OnboardingPort
from api.web import (
    Page,
    act,
    after_write,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.identity.principal import Principal
from domain.onboarding.account import BorrowerNotFound
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.steps import STEPS, Step
from domain.shared.errors import DomainError
from domain.shared.values import whole_number


def _step(request: Request) -> Step | None:
    try:
        return Step(request.query_params.get("step") or "")
    except ValueError:
        return None


async def onboarding_page(request: Request, port: OnboardingPort, principal: Principal) -> Response:
    step = _step(request)

    def load() -> tuple[object, object]:
        page = keyset_page(
            request,
            lambda cursor: port.queries.borrowers(principal.brand_id, FunnelStatus.IN_PROGRESS, step, cursor),
        )
        return page, port.queries.conversion(principal.brand_id)

    page, conversion = await run_in_threadpool(load)
    return render(
        request,
        "onboarding.html",
        nav="onboarding",
        page=page,
        conversion=conversion,
        step=step.value if step else "",
        steps=[s.value for s in STEPS],
        completed_list=principal.holds(*COMPLETED),
    )


async def onboarding_completed_page(request: Request, port: OnboardingPort, principal: Principal) -> Response:
    page = await run_in_threadpool(
        keyset_page,
        request,
        lambda cursor: port.queries.borrowers(principal.brand_id, FunnelStatus.COMPLETED, None, cursor),
    )
    return render(request, "onboarding_completed.html", nav="onboarding", page=page)


async def _funnel(
    request: Request, port: OnboardingPort, principal: Principal, error: str | None = None, status: int = 422
) -> Response:
    """The borrower's funnel; `error`: why a form was refused, answered with `status` (409 for a conflict such as a
    funnel closed or changed meanwhile, 422 for bad input), the refused form filled again with what was typed."""
    borrower_id = path_id(request, "borrower_id")
    if borrower_id is None:
        return await not_found(request)
    try:
        state = await run_in_threadpool(port.onboarding.state, principal.brand_id, borrower_id)
    except BorrowerNotFound:
        return await not_found(request)
    closers = [state.closed_by] if state.closed_by else []
    actors = await run_in_threadpool(actor_names, port.identity, principal.brand_id, closers)
    in_progress = state.status is FunnelStatus.IN_PROGRESS
    return render(
        request,
        "onboarding_funnel.html",
        status if error else 200,
        nav="onboarding",
        funnel=state,
        actors=actors,
        can_send_back=principal.holds(*SEND_BACK) and in_progress,
        can_close=principal.holds(*CLOSE) and in_progress,
        error=error,
    )


async def onboarding_funnel_page(request: Request, port: OnboardingPort, principal: Principal) -> Response:
    return await _funnel(request, port, principal)


async def onboarding_send_back(request: Request, port: OnboardingPort, principal: Principal) -> Response:
    borrower_id = path_id(request, "borrower_id")
    if borrower_id is None:
        return await not_found(request)
    try:
        step = Step(form_text(request, "step"))
    except ValueError:
        return await _funnel(request, port, principal, error="choose the step to send back")
    reason = form_text(request, "reason")
    expected = whole_number(form_text(request, "expected_version"))  # the funnel as shown: a change since is a 409
    try:
        result = await act(
            principal, lambda: port.onboarding.send_back(principal.brand_id, borrower_id, step, reason, expected)
        )
    except BorrowerNotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _funnel(request, port, principal, error_text(exc), refusal_status(exc))
    # Post/redirect/get: a reload shows the funnel (it re-posted the form, a 409 once the step was open again).
    return await after_write(request, "onboarding", result.position, f"/onboarding/{borrower_id}")


async def onboarding_close(request: Request, port: OnboardingPort, principal: Principal) -> Response:
    borrower_id = path_id(request, "borrower_id")
    if borrower_id is None:
        return await not_found(request)
    reason = form_text(request, "reason")
    shown = form_text(request, "expected_version")  # the funnel as the page showed it: a change since is a 409
    expected = whole_number(shown)
    try:
        result = await act(
            principal, lambda: port.onboarding.close_funnel(principal.brand_id, borrower_id, reason, expected)
        )
    except BorrowerNotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _funnel(request, port, principal, error_text(exc), refusal_status(exc))
    return await after_write(request, "onboarding", result.position, f"/onboarding/{borrower_id}")


PAGES = pages(
    OnboardingPort,
    [
        Page("GET", "/onboarding", onboarding_page, IN_PROGRESS),
        Page("GET", "/onboarding/completed", onboarding_completed_page, COMPLETED),
        Page("GET", "/onboarding/{borrower_id}", onboarding_funnel_page, IN_PROGRESS),
        Page("POST", "/onboarding/{borrower_id}/send-back", onboarding_send_back, SEND_BACK, form=True),
        Page("POST", "/onboarding/{borrower_id}/close", onboarding_close, CLOSE, form=True),
    ],
)
