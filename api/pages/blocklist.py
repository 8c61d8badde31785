"""Blocklist pages: the brand's blocked values (active or removed, by kind, found by value; keyset pages of
PAGE_SIZE), blocking a value and unblocking one."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import actor_names
from api.routes.blocklist import BlocklistPort
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
    render,
)
from domain.blocklist.application import Blocklists
from domain.blocklist.entry import BlockKind
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, NotFound

READ = (Permission.BLOCKLIST, Level.READ)
WRITE = (Permission.BLOCKLIST, Level.WRITE)


#: Entries a page of the list shows; "Older →" reads the next page (keyset, the read model's cursor).
PAGE_SIZE = 50


def _filters(request: Request) -> dict[str, str]:
    """The list's filters from the address (`show=removed`, `kind`, `q`), only those set, as the links repeat them."""
    params = request.query_params
    kind = params.get("kind", "")
    shown = {
        "show": "removed" if params.get("show") == "removed" else "",
        "kind": kind if kind in {k.value for k in BlockKind} else "",
        "q": params.get("q", "").strip()[:60],
    }
    return {name: value for name, value in shown.items() if value}


async def _blocklist(request: Request, port: BlocklistPort, principal: Principal, error: str | None = None) -> Response:
    filters = _filters(request)
    active = filters.get("show") != "removed"
    kind = BlockKind(filters["kind"]) if "kind" in filters else None
    entries = await run_in_threadpool(
        keyset_page,
        request,
        lambda cursor: port.queries.entries(
            principal.brand_id, kind, active, cursor, PAGE_SIZE, search=filters.get("q")
        ),
    )
    query = urlencode(filters)
    actors = await run_in_threadpool(
        actor_names, port.identity, principal.brand_id, {e.changed_by for e in entries.items}
    )
    return render(
        request,
        "blocklist.html",
        422 if error else 200,
        nav="blocklist",
        entries=entries,
        actors=actors,
        kinds=[k.value for k in BlockKind],
        active=active,
        filters=filters,
        query=query,
        older=f"/blocklist?{urlencode({**filters, 'cursor': entries.next_cursor})}" if entries.next_cursor else None,
        newest=f"/blocklist?{query}" if request.query_params.get("cursor") else None,
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
    # Back to the list as it was filtered (the remove form's action carries its filters).
    query = urlencode(_filters(request))
    return await after_write(
        request, Blocklists.name, result.position, f"/blocklist?{query}" if query else "/blocklist"
    )


PAGES = pages(
    BlocklistPort,
    [
        Page("GET", "/blocklist", blocklist_page, READ),
        Page("POST", "/blocklist", blocklist_add, WRITE, form=True),
        Page("POST", "/blocklist/{entry_id}/remove", blocklist_remove, WRITE, form=True),
    ],
)
