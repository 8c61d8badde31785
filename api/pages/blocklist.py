"""Blocklist pages: the brand's blocked values, blocking a value and unblocking one."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.blocklist import BlocklistPort
from api.web import Page, act, after_write, error_text, form_text, not_found, pages, path_id, render
from domain.blocklist.application import Blocklists
from domain.blocklist.entry import BlockKind
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, NotFound

READ = (Permission.BLOCKLIST, Level.READ)
WRITE = (Permission.BLOCKLIST, Level.WRITE)


async def _blocklist(request: Request, port: BlocklistPort, principal: Principal, error: str | None = None) -> Response:
    active = request.query_params.get("show") != "removed"
    entries = await run_in_threadpool(port.queries.entries, principal.brand_id, None, active, None, 200)
    return render(
        request,
        "blocklist.html",
        422 if error else 200,
        nav="blocklist",
        entries=entries,
        kinds=[k.value for k in BlockKind],
        active=active,
        can_edit=principal.holds(*WRITE),
        error=error,
    )


async def blocklist_page(request: Request, port: BlocklistPort, principal: Principal) -> Response:
    return await _blocklist(request, port, principal)


async def blocklist_add(request: Request, port: BlocklistPort, principal: Principal) -> Response:
    try:
        kind = BlockKind(form_text(request, "kind"))
    except ValueError:
        return await _blocklist(request, port, principal, error="choose what kind of value to block")
    value, reason = form_text(request, "value"), form_text(request, "reason")
    try:
        result = await act(principal, lambda: port.blocklists.add(principal.brand_id, kind, value, reason))
    except DomainError as exc:
        return await _blocklist(request, port, principal, error=error_text(exc))
    return await after_write(request, Blocklists.name, result.position, "/blocklist")


async def blocklist_remove(request: Request, port: BlocklistPort, principal: Principal) -> Response:
    entry_id = path_id(request, "entry_id")
    if entry_id is None:
        return await not_found(request)
    reason = form_text(request, "reason") or "removed by staff"
    try:
        result = await act(principal, lambda: port.blocklists.remove(principal.brand_id, entry_id, reason))
    except NotFound:  # none, or another brand's: as if there were none
        return await not_found(request)
    except DomainError as exc:
        return await _blocklist(request, port, principal, error=error_text(exc))
    return await after_write(request, Blocklists.name, result.position, "/blocklist")


PAGES = pages(
    BlocklistPort,
    [
        Page("GET", "/blocklist", blocklist_page, READ),
        Page("POST", "/blocklist", blocklist_add, WRITE, form=True),
        Page("POST", "/blocklist/{entry_id}/remove", blocklist_remove, WRITE, form=True),
    ],
)
