"""Portal pages of customers and jobs, and the `page` decorator of page modules not yet declared as `api.web.Page`s
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
from api.routes.jobs import RunRequest, start_manual_run
from api.web import input_problem, keyset_page, not_found, render
from domain.customers.values import Address
from domain.identity.application import Principal
from domain.identity.permissions import Level, Permission
from domain.shared.aggregate import acting_as
from domain.shared.errors import DomainError, InvalidInput, Throttled
from domain.shared.values import parse_date
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
        scope = Scope(principal.brand_id, tuple(c.upper() for c in principal.companies))
        notices = await run_in_threadpool(platform.notice_queries.of_customer, scope, customer_id)
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
    from uuid import UUID

    names: dict[str, str] = {}
    for actor in actors:
        kind, _, raw_id = actor.partition(":")
        try:
            found = platform.identity.find(UUID(raw_id)) if kind in ("staff", "apikey") else None
        except ValueError:
            found = None
        if found is not None and getattr(found, "brand_id", None) == brand_id:
            names[actor] = found.name if kind == "staff" else f"API key “{found.label}”"
    return names


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


@page((Permission.JOBS, Level.READ))
async def jobs_page(request: Request, platform: Any, principal: Principal) -> Response:
    def load() -> dict[str, Any]:
        last = platform.job_queries.last_runs(principal.brand_id)
        jobs = [
            {
                "definition": platform.jobs.definition(name),
                "settings": platform.jobs.settings(principal.brand_id, name),
                "last": last.get(name),
            }
            for name in sorted(platform.jobs.catalogue)
        ]
        history = keyset_page(
            request, lambda cursor: platform.job_queries.history(principal.brand_id, None, cursor, 25)
        )
        return {"jobs": jobs, "history": history}

    data = await run_in_threadpool(load)
    can_run = (principal.grants.get(Permission.JOBS) or Level.READ).covers(Level.WRITE)
    return render(request, "jobs.html", principal=principal, nav="jobs", can_run=can_run, **data)


@page((Permission.JOBS, Level.WRITE), form=True)
async def run_job(request: Request, platform: Any, principal: Principal) -> Response:
    name = request.path_params["name"]
    raw_as_of = str(request.state.form.get("as_of", "")).strip()
    dry_run = request.state.form.get("dry_run") == "on"

    def trigger() -> None:
        body = RunRequest(as_of=parse_date(raw_as_of, "as_of") if raw_as_of else None, dry_run=dry_run)
        with acting_as(principal.actor):
            start_manual_run(platform, principal.brand_id, principal.actor, principal.companies, name, body)

    try:
        await run_in_threadpool(trigger)
    except Throttled as exc:
        busy = render(request, "error.html", 429, title="Too many runs waiting", message=str(exc))
        busy.headers["Retry-After"] = str(exc.retry_after)
        return busy
    except (DomainError, ValueError) as exc:
        return render(request, "error.html", 422, title="Could not start the job", message=str(exc))
    return RedirectResponse("/jobs", status_code=303)


CUSTOMER_ROUTES = [
    Route("/customers", customer_directory, methods=["GET"]),
    Route("/customers/new", new_customer_form, methods=["GET"]),
    Route("/customers/new", new_customer, methods=["POST"]),
    Route("/customers/{customer_id}", customer_360, methods=["GET"]),
]
JOB_ROUTES = [
    Route("/jobs", jobs_page, methods=["GET"]),
    Route("/jobs/{name}/run", run_job, methods=["POST"]),
]
