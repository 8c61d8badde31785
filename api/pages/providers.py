"""The "Provider calls" page: the brand's outbound provider calls, filtered by provider and status (admins)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.providers import READ, ProvidersPort
from api.web import Page, keyset_page, pages, render
from domain.identity.principal import Principal
from domain.providers.calls import SERVICES
from projections.keyset import Page as ListPage
from projections.provider_calls import STATUSES

PAGE_SIZE = 50


async def provider_calls_page(request: Request, port: ProvidersPort, principal: Principal) -> Response:
    params = request.query_params
    provider = params.get("provider") if params.get("provider") in SERVICES else None
    status = params.get("status") if params.get("status") in STATUSES else None

    def load(cursor: str | None) -> ListPage:
        return port.calls.calls(principal.brand_id, provider, status, cursor, PAGE_SIZE)

    rows = await run_in_threadpool(keyset_page, request, load)
    query = {k: v for k, v in {"provider": provider or "", "status": status or ""}.items() if v}
    older_url = f"/provider-calls?{urlencode({**query, 'cursor': rows.next_cursor})}" if rows.next_cursor else None
    return render(
        request,
        "provider_calls.html",
        nav="provider-calls",
        rows=rows,
        services=SERVICES,
        statuses=STATUSES,
        provider=provider,
        chosen_status=status,
        older_url=older_url,
        newest_url=f"/provider-calls?{urlencode(query)}" if params.get("cursor") else None,
    )


PAGES = pages(ProvidersPort, [Page("GET", "/provider-calls", provider_calls_page, READ)])
