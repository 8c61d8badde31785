"""The `page` decorator of page modules not yet declared as `api.web.Page`s (the shell itself - templates,
rendering, sign-in - is api.web; the customer pages are api/pages/customers.py). Goes when the last of them does."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.auth import SESSION_COOKIE, session_principal
from api.web import input_problem, render
from domain.identity.application import Principal
from domain.identity.permissions import Level, Permission

PageHandler = Callable[[Request, Any, Principal], Awaitable[Response]]


def page(
    permission: tuple[Permission, Level] | None = None, form: bool = False
) -> Callable[[PageHandler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a page: require a session (else redirect to login), the permission, and CSRF on forms."""

    def decorate(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            platform = request.app.state.platform
            token = request.cookies.get(SESSION_COOKIE)
            principal = await run_in_threadpool(session_principal, platform, token) if token else None
            if principal is None:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            session = await run_in_threadpool(platform.ops.session, token, platform.clock.now())
            request.state.csrf = session.csrf_token if session else ""
            request.state.principal = principal
            request.state.timezone = await run_in_threadpool(_brand_timezone, platform, principal.brand_id)
            if permission is not None:
                granted = principal.grants.get(permission[0])
                if granted is None or not granted.covers(permission[1]):
                    return render(
                        request,
                        "error.html",
                        403,
                        title="Forbidden",
                        message=f"You need {permission[0].value} ({permission[1].value}) for this page.",
                    )
            data = None
            if form:
                data = await request.form()
                if not hmac.compare_digest(str(data.get("csrf_token", "")), request.state.csrf or "-"):
                    return render(
                        request,
                        "error.html",
                        403,
                        title="Form expired",
                        message="The form's security token did not match. Reload the page and try again.",
                    )
                request.state.form = data
            problem = input_problem(request, data)
            if problem is not None:
                return render(request, "error.html", 422, title="Cannot use this input", message=problem)
            return await handler(request, platform, principal)

        endpoint.__name__ = handler.__name__
        return endpoint

    return decorate


def _brand_timezone(platform: Any, brand_id: Any) -> str:
    return str(platform.identity.brand(brand_id).timezone)
