"""Portal pages of customers, and the `page` decorator of page modules not yet declared as `api.web.Page`s
(the shell itself - templates, rendering, sign-in - is api.web)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from api.auth import SESSION_COOKIE, session_principal
from api.pages.actors import staff_and_key_names
from api.web import input_problem, keyset_page, not_found, render
from domain.customers.values import Address
from domain.identity.application import Principal
from domain.identity.permissions import Level, Permission
from domain.shared.aggregate import acting_as
from domain.shared.errors import DomainError, InvalidInput
from projections.notice_feed import NoticeFeedQueries
from projections.notices import Scope

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


@page((Permission.CUSTOMER, Level.READ))
async def customer_directory(request: Request, platform: Any, principal: Principal) -> Response:
    q = request.query_params.get("q", "").strip()[:100]
    result = await run_in_threadpool(
        keyset_page, request, lambda cursor: platform.customer_queries.search(principal.brand_id, q or None, cursor, 25)
    )
    return render(request, "customers.html", page=result, q=q, principal=principal, nav="customers")


@page((Permission.CUSTOMER, Level.READ))
async def customer_360(request: Request, platform: Any, principal: Principal) -> Response:
    try:
        from uuid import UUID

        customer_id = UUID(request.path_params["customer_id"])
    except ValueError:
        return await not_found(request)
    profile = await run_in_threadpool(platform.customer_queries.profile, principal.brand_id, customer_id)
    if profile is None:
        return await not_found(request)
    actors = await run_in_threadpool(_actor_names, platform, principal.brand_id, {e.actor for e in profile.timeline})
    hits = await run_in_threadpool(platform.blocklist_queries.hits, principal.brand_id, profile.blocklist_candidates())
    covenants = None
    if principal.grants.get(Permission.COVENANTS):
        covenants = await run_in_threadpool(
            lambda: platform.covenant_queries.worklist(principal.brand_id, customer_id=customer_id, limit=100).items
        )
    notices = None
    if principal.grants.get(Permission.NOTICES):
        scope = Scope.of(principal.brand_id, principal.companies)
        notices = await run_in_threadpool(platform.get(NoticeFeedQueries).of_customer, scope, customer_id)
    return render(
        request,
        "customer.html",
        c=profile,
        actors=actors,
        hits=hits,
        covenants=covenants,
        notices=notices,
        principal=principal,
        nav="customers",
    )


def _actor_names(platform: Any, brand_id: Any, actors: set[str]) -> dict[str, str]:
    """Display names for `staff:<id>` and `apikey:<id>` actors of the brand; others as recorded."""
    return staff_and_key_names(platform.identity, brand_id, actors)


@page((Permission.CUSTOMER, Level.WRITE))
async def new_customer_form(request: Request, platform: Any, principal: Principal) -> Response:
    return render(request, "customer_new.html", principal=principal, nav="customers", values={}, errors={})


@page((Permission.CUSTOMER, Level.WRITE), form=True)
async def new_customer(request: Request, platform: Any, principal: Principal) -> Response:
    data = request.state.form
    values = {
        k: str(data.get(k, "")).strip()
        for k in ("name", "phone", "pan", "email", "date_of_birth", "loan_number", "line1", "city", "pincode")
    }
    errors: dict[str, str] = {}
    dob = None
    if values["date_of_birth"]:
        try:
            dob = date.fromisoformat(values["date_of_birth"])
        except ValueError:
            errors["date_of_birth"] = "use the date picker (YYYY-MM-DD)"
    addresses = []
    if values["line1"] or values["city"] or values["pincode"]:
        if not (values["line1"] and values["city"] and values["pincode"]):
            errors["addresses"] = "address needs line, city and pincode"
        else:
            addresses.append(Address(line1=values["line1"], city=values["city"], pincode=values["pincode"]))
    if not errors:

        def register() -> Any:
            with acting_as(principal.actor):
                result = platform.customers.register(
                    principal.brand_id,
                    name=values["name"],
                    phone=values["phone"],
                    pan=values["pan"] or None,
                    email=values["email"] or None,
                    date_of_birth=dob,
                    addresses=addresses,
                    loan_numbers=[values["loan_number"]] if values["loan_number"] else [],
                )
                platform.engine.wait_for("customers", result.position)
                return result

        try:
            result = await run_in_threadpool(register)
            return RedirectResponse(f"/customers/{result.id}", status_code=303)
        except InvalidInput as exc:
            errors.update({e.field: e.message for e in exc.errors})
        except DomainError as exc:
            errors[str(exc.details.get("field", "form"))] = exc.message
    return render(request, "customer_new.html", 422, principal=principal, nav="customers", values=values, errors=errors)


CUSTOMER_ROUTES = [
    Route("/customers", customer_directory, methods=["GET"]),
    Route("/customers/new", new_customer_form, methods=["GET"]),
    Route("/customers/new", new_customer, methods=["POST"]),
    Route("/customers/{customer_id}", customer_360, methods=["GET"]),
]
