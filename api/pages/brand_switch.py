"""The Super Admin's brand switch on the portal (spec: "The Super Admin has access across all brands ... view and
manage any brand's data"): `/brands` lists every brand with a button to act within it; the choice is the cookie
`cd_acting_brand`, which the portal's gate reads on every page (`api.web.acting_within`: only a cross-brand principal
may act elsewhere, as the API's `X-Brand-Id`). Every page then shows and changes that brand's data, with a banner
saying which brand; "Back to my brand" clears the choice."""

from __future__ import annotations

from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.routes.brands import BrandsPort
from api.web import ACTING_BRAND_COOKIE, Page, error_page, form_text, pages, render
from domain.identity.principal import Principal

#: How long a choice of brand lasts without another (a working day and then some).
ACTING_SECONDS = 12 * 3600


async def brands_page(request: Request, port: BrandsPort, principal: Principal) -> Response:
    brands = await run_in_threadpool(port.brands.visible, principal.brand_id, True)
    home = principal.home_brand_id or principal.brand_id
    return render(request, "brands.html", brands=brands, acting=principal.brand_id, home=home)


async def act_within(request: Request, port: BrandsPort, principal: Principal) -> Response:
    try:
        brand_id = UUID(form_text(request, "brand_id").strip())
    except ValueError:
        return error_page(request, 422, "No such brand", "Choose a brand from the list.")
    if await run_in_threadpool(port.brands.brand, brand_id) is None:
        return error_page(request, 422, "No such brand", "Choose a brand from the list.")
    response = RedirectResponse("/", status_code=303)
    if brand_id == (principal.home_brand_id or principal.brand_id):
        response.delete_cookie(ACTING_BRAND_COOKIE, path="/")
    else:
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        response.set_cookie(ACTING_BRAND_COOKIE, str(brand_id), max_age=ACTING_SECONDS, path="/", httponly=True,
                            samesite="strict", secure=secure)  # fmt: skip
    return response


PAGES = pages(
    BrandsPort,
    [
        Page("GET", "/brands", brands_page, None, cross_brand=True),
        Page("POST", "/brands/act", act_within, None, form=True, cross_brand=True),
    ],
)
