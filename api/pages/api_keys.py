"""The API keys page: the brand's keys (masked) with their last use, generating one (shown once), revoking."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.api_keys import READ, WRITE, ApiKeysPort
from api.web import PENDING, Page, act, after_write, error_text, form_text, not_found, pages, path_id, render
from domain.identity.application import Identity, IssuedKey
from domain.identity.permissions import CROSS_BRAND_ROLES, ROLES
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, NotFound


async def _keys(
    request: Request,
    port: ApiKeysPort,
    principal: Principal,
    new_key: IssuedKey | None = None,
    error: str | None = None,
) -> Response:
    keys = await run_in_threadpool(port.queries.api_keys, principal.brand_id)
    roles = {k: v for k, v in ROLES.items() if k not in CROSS_BRAND_ROLES or principal.cross_brand}
    status = 422 if error else 201 if new_key else 200
    return render(
        request,
        "api_keys.html",
        status,
        nav="keys",
        keys=keys,
        roles=roles,
        can_edit=principal.holds(*WRITE),
        new_key=new_key,
        error=error,
    )


async def keys_page(request: Request, port: ApiKeysPort, principal: Principal) -> Response:
    return await _keys(request, port, principal)


async def keys_create(request: Request, port: ApiKeysPort, principal: Principal) -> Response:
    role, label = form_text(request, "role"), form_text(request, "label")
    try:
        issued = await act(
            principal,
            lambda: port.identity.issue_api_key(principal.brand_id, role, label, granter=principal),
        )
    except DomainError as exc:
        return await _keys(request, port, principal, error=error_text(exc))
    # The key is shown only now, on the list of keys the read model shows: say so when it is still behind.
    if not await run_in_threadpool(port.engine.wait_for, Identity.name, issued.position):
        request.state.info = PENDING
    response = await _keys(request, port, principal, new_key=issued)
    response.headers["Cache-Control"] = "no-store"
    return response


async def keys_revoke(request: Request, port: ApiKeysPort, principal: Principal) -> Response:
    key_id = path_id(request, "key_id")
    if key_id is None:
        return await not_found(request)
    try:
        result = await act(principal, lambda: port.identity.revoke_api_key(principal.brand_id, key_id))
    except NotFound:  # none, or another brand's: as if there were none
        return await not_found(request)
    except DomainError as exc:
        return await _keys(request, port, principal, error=error_text(exc))
    return await after_write(request, Identity.name, result.position, "/api-keys")


PAGES = pages(
    ApiKeysPort,
    [
        Page("GET", "/api-keys", keys_page, READ),
        Page("POST", "/api-keys", keys_create, WRITE, form=True),
        Page("POST", "/api-keys/{key_id}/revoke", keys_revoke, WRITE, form=True),
    ],
)
