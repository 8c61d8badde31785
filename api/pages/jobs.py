"""Jobs pages: every job with the brand's settings and latest run, the run history, and "Run now"."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.request_input import MAX_JSON_DEPTH, nests_deeper_than
from api.routes.jobs import ADMIN, JobsPort
from api.services.jobs import RunOrder, RunsRequested, check_company_filter
from api.web import (
    Page,
    act,
    after_write,
    changed_since,
    error_page,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    refusal_status,
    render,
)
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.jobs.application import JobDefinition, Jobs
from domain.jobs.job import JobSettings
from domain.shared.application import ConcurrentModification
from domain.shared.errors import DomainError, FieldError, InvalidInput, NotFound, NotPermitted, Throttled
from domain.shared.values import parse_date, whole_number
from projections.jobs import RunPage

READ = (Permission.JOBS, Level.READ)
WRITE = (Permission.JOBS, Level.WRITE)
#: Changing a job's settings: the API's PATCH /api/v1/jobs/{name} needs the same.
CONFIGURE = ADMIN
#: The settings the form writes as whole numbers, with the API's bounds (api/routes/jobs.py JobSettingsPatch).
NUMBERS = {"batch_size": (1, 100_000), "retry_count": (0, 20), "retry_interval_seconds": (0, 86_400)}
#: The settings the form writes as JSON objects of text values.
MAPS = ("filters", "variables")


async def _jobs(
    request: Request,
    port: JobsPort,
    principal: Principal,
    error: str | None = None,
    settings_error: str | None = None,
    status: int = 422,
) -> Response:
    """The jobs page; `error`: why a run of the job the address names was refused, `settings_error`: why its
    settings form was refused (answered with `status`: 409 when changed by someone else since, else 422), said at
    that job's form, which is filled again with what was typed (`kept`, api/web.py)."""

    def history(cursor: str | None) -> RunPage:
        return port.queries.history(principal.brand_id, None, cursor, 25, principal.companies)

    jobs = await run_in_threadpool(port.board.all, principal.brand_id, principal.companies)
    runs = await run_in_threadpool(keyset_page, request, history)
    # After "Run now" (`?requested=<job>`): which job's run was asked for, said above the tables. Any other value
    # names no job of the catalogue and is ignored.
    named = request.query_params.get("requested") if error is None else None
    requested = next((j.definition for j in jobs if j.definition.name == named), None)
    # After a settings save (`?configured=<job>`): said above the tables, as "Run now" is.
    saved = request.query_params.get("configured") if settings_error is None else None
    configured = next((j.definition for j in jobs if j.definition.name == saved), None)
    return render(request, "jobs.html", status if error or settings_error else 200, nav="jobs", jobs=jobs,
                  history=runs, can_run=principal.holds(*WRITE), can_configure=principal.holds(*CONFIGURE),
                  error=error, settings_error=settings_error, refused=request.path_params.get("name"),
                  requested=requested, requested_dry_run=request.query_params.get("dry_run") == "1",
                  configured=configured)  # fmt: skip


async def jobs_page(request: Request, port: JobsPort, principal: Principal) -> Response:
    return await _jobs(request, port, principal)


async def run_job(request: Request, port: JobsPort, principal: Principal) -> Response:
    name = request.path_params["name"]
    raw_as_of = form_text(request, "as_of").strip()
    dry_run = form_text(request, "dry_run") == "on"

    def start() -> RunsRequested:
        order = RunOrder(as_of=parse_date(raw_as_of, "as_of") if raw_as_of else None, dry_run=dry_run)
        return port.runs.start(principal.brand_id, name, order, caller=principal, companies=principal.companies)

    try:
        requested = await act(principal, start)
    except Throttled as exc:
        busy = error_page(request, 429, "Too many runs waiting", str(exc))
        busy.headers["Retry-After"] = str(exc.retry_after)
        return busy
    except (DomainError, ValueError) as exc:  # at the job's row, its date and dry run as typed
        status = 403 if isinstance(exc, NotPermitted) else 422
        return await _jobs(request, port, principal, error=str(exc), status=status)
    shown = f"/jobs?requested={quote(name)}" + ("&dry_run=1" if dry_run else "")
    return await after_write(request, Jobs.name, requested.position, shown)


def _settings_form(request: Request, definition: JobDefinition) -> dict[str, Any]:
    """The settings as the form gives them (every field it shows, so a save is the whole form as read); InvalidInput
    naming each field that is not a whole number in the API's bounds or not a JSON object of text values."""
    changes: dict[str, Any] = {"enabled": form_text(request, "enabled") == "on"}
    errors: list[FieldError] = []
    if definition.scheduled:  # empty: manual runs only
        changes["cron"] = " ".join(form_text(request, "cron").split()) or None
    for name, (low, high) in NUMBERS.items():
        number = whole_number(form_text(request, name).strip())
        if number is None or not low <= number <= high:
            errors.append(FieldError(name, f"write a whole number from {low} to {high}"))
        else:
            changes[name] = number
    for name in MAPS:
        raw = form_text(request, name).strip()
        try:
            if nests_deeper_than(raw.encode(), MAX_JSON_DEPTH):
                raise ValueError("nested too deep")
            value = json.loads(raw) if raw else {}
        except ValueError:
            value = None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.append(FieldError(name, 'write it as JSON of names and text values, e.g. {"company": "SML"}'))
        else:
            changes[name] = value
    if errors:
        raise InvalidInput(errors)
    return changes


def _settings_words(settings: JobSettings) -> str:
    """A job's settings in words, for the refusal of a form opened before they changed."""
    schedule = f"schedule {settings.cron}" if settings.cron else "manual runs only"
    state = "enabled" if settings.enabled else "disabled"
    return (
        f"{schedule}, {state}, batches of {settings.batch_size}, {settings.retry_count} retries "
        f"{settings.retry_interval_seconds}s apart, filters {json.dumps(settings.filters)}, "
        f"variables {json.dumps(settings.variables)}"
    )


async def configure_job(request: Request, port: JobsPort, principal: Principal) -> Response:
    """A job's settings form: the API's configure (PATCH /api/v1/jobs/{name}) with the version the page showed, so
    settings changed since are refused (409, in words with the settings now), nothing saved."""
    name = str(request.path_params["name"])
    if name not in port.jobs.catalogue:
        return await not_found(request)
    definition = port.jobs.definition(name)
    shown = whole_number(form_text(request, "expected_version").strip())

    def configure() -> int:
        changes = _settings_form(request, definition)
        check_company_filter(changes.get("filters") or {}, principal.companies)
        return port.jobs.configure(principal.brand_id, name, changes, shown).position

    try:
        position = await act(principal, configure)
    except NotFound:
        return await not_found(request)
    except ConcurrentModification:
        now = await run_in_threadpool(port.jobs.settings, principal.brand_id, name)
        message = changed_since(f"the settings of {definition.title}", _settings_words(now))
        return await _jobs(request, port, principal, settings_error=message, status=409)
    except DomainError as exc:
        return await _jobs(request, port, principal, settings_error=error_text(exc), status=refusal_status(exc))
    # The settings are read from their record (no read model); the run history is the jobs context's too.
    return await after_write(request, Jobs.name, position, f"/jobs?configured={quote(name)}")


PAGES = pages(
    JobsPort,
    [
        Page("GET", "/jobs", jobs_page, READ),
        Page("POST", "/jobs/{name}/run", run_job, WRITE, form=True),
        Page("POST", "/jobs/{name}/settings", configure_job, CONFIGURE, form=True),
    ],
)
