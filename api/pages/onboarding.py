"""Staff onboarding pages: borrowers in progress (the step each is stuck on, since when; by step) with the funnel's
conversion, borrowers who completed, one borrower's funnel and sending a step back."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.onboarding import COMPLETED, IN_PROGRESS, SEND_BACK, OnboardingPort
from api.web import Page, act, error_text, form_text, keyset_page, not_found, pages, path_id, render
from domain.identity.principal import Principal
from domain.onboarding.account import BorrowerNotFound
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.steps import STEPS, Step
from domain.shared.errors import DomainError


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


async def _funnel(request: Request, port: OnboardingPort, principal: Principal, error: str | None = None) -> Response:
    borrower_id = path_id(request, "borrower_id")
    if borrower_id is None:
        return await not_found(request)
    try:
        state = await run_in_threadpool(port.onboarding.state, principal.brand_id, borrower_id)
    except BorrowerNotFound:
        return await not_found(request)
    return render(
        request,
        "onboarding_funnel.html",
        422 if error else 200,
        nav="onboarding",
        funnel=state,
        can_send_back=principal.holds(*SEND_BACK) and state.status is FunnelStatus.IN_PROGRESS,
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
    try:
        await act(principal, lambda: port.onboarding.send_back(principal.brand_id, borrower_id, step, reason))
    except BorrowerNotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _funnel(request, port, principal, error=error_text(exc))
    return await _funnel(request, port, principal)


PAGES = pages(
    OnboardingPort,
    [
        Page("GET", "/onboarding", onboarding_page, IN_PROGRESS),
        Page("GET", "/onboarding/completed", onboarding_completed_page, COMPLETED),
        Page("GET", "/onboarding/{borrower_id}", onboarding_funnel_page, IN_PROGRESS),
        Page("POST", "/onboarding/{borrower_id}/send-back", onboarding_send_back, SEND_BACK, form=True),
    ],
)
