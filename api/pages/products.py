"""Product pages: the brand's loan products, creating one, a product with its versions, coupons and a pricing
preview, editing it (a new version), deactivating and reactivating it, and issuing or withdrawing coupons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages import bre_words  # noqa: F401 - registers the filters its templates use for the BRE
from api.pages.actors import actor_names
from api.pages.product_forms import RULE_ROWS, field_of, form_values, terms_of, values_of
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
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.products.application import Products
from domain.products.quote import Quote
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, InvalidInput, InvalidValue
from domain.shared.values import parse_date, whole_number
from projections.product_queries import ProductQueries

READ = (Permission.BRAND_SETTINGS, Level.READ)
WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)
_COUPON_FIELDS = ("code", "kind", "value", "valid_from", "valid_to", "max_uses")


@dataclass(frozen=True)
class ProductPagesPort:
    """What the product pages use: the use cases, the read models, and the names of the staff who recorded."""

    products: Products
    queries: ProductQueries
    identity: Identity


async def products_page(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    show = request.query_params.get("show", "")
    active = {"active": True, "inactive": False}.get(show)
    result = await run_in_threadpool(
        keyset_page, request, lambda cursor: port.queries.products(principal.brand_id, active, None, cursor, 50)
    )
    return render(request, "products.html", nav="products", page=result, show=show, can_edit=principal.holds(*WRITE))


def _form(
    request: Request, name: str, values: dict[str, str], errors: dict[str, str], status: int = 200, **context: Any
) -> Response:
    return render(
        request,
        "product_form.html",
        status,
        nav="products",
        values=values,
        errors=errors,
        rules=RULE_ROWS,
        title=name,
        **context,
    )


def _errors(exc: DomainError, values: dict[str, str]) -> dict[str, str]:
    if isinstance(exc, InvalidInput):
        found: dict[str, str] = {}
        for e in exc.errors:
            found.setdefault(field_of(e.field, values), e.message)
        return found
    return {str(exc.details.get("field", "form")): exc.message}


async def new_product_form(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    defaults = form_values(lambda name: "")
    defaults.update(type="emi", processing_fee_kind="percent", convenience_fee_kind="fixed", gst_percent="18")
    defaults.update(max_active_loans="1", penal_kind="simple")
    return _form(request, "New loan product", defaults, {}, action="/products/new")


async def new_product(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    values = form_values(lambda name: form_text(request, name))
    try:
        result = await act(
            principal, lambda: port.products.create(principal.brand_id, values["code"], terms_of(values))
        )
    except DomainError as exc:
        status = 422 if isinstance(exc, InvalidInput) else 409
        return _form(request, "New loan product", values, _errors(exc, values), status, action="/products/new")
    return await after_write(request, Products.name, result.position, f"/products/{result.id}")


def _quote(
    port: ProductPagesPort, brand_id: UUID, product_id: UUID, request: Request
) -> tuple[Quote | None, str | None]:
    params = request.query_params
    amount, tenure = params.get("amount", "").strip(), params.get("tenure", "").strip()
    if not amount and not tenure:
        return None, None
    try:
        months_or_days = whole_number(tenure, max_digits=5)
        if months_or_days is None:
            raise InvalidValue("tenure", "a whole number of months (EMI) or days (payday)")
        coupon = params.get("coupon", "").strip() or None
        return port.products.quote(brand_id, product_id, amount, months_or_days, coupon), None
    except DomainError as exc:
        return None, error_text(exc)


async def product_page(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    product_id = path_id(request, "product_id")
    if product_id is None:
        return await not_found(request)
    brand = principal.brand_id
    asked = whole_number(request.query_params.get("version", ""), max_digits=7)
    product = await run_in_threadpool(port.queries.product, brand, product_id)
    if product is None:
        return await not_found(request)
    shown = product
    if asked is not None and asked != product.version:
        past = await run_in_threadpool(port.queries.version, brand, product_id, asked)
        if past is None:
            return await not_found(request)
        shown = past
    coupons = await run_in_threadpool(lambda: port.queries.coupons(brand, product_id, None, None, 200).items)
    quote, quote_error = await run_in_threadpool(_quote, port, brand, product_id, request)
    recorders = {v.recorded_by for v in product.versions} | {shown.changed_by}
    actors = await run_in_threadpool(actor_names, port.identity, brand, recorders)
    status = 422 if quote_error else 200
    return _product(
        request, principal, product, shown, coupons, status, quote=quote, quote_error=quote_error, actors=actors
    )


def _product(
    request: Request, principal: Principal, product: Any, shown: Any, coupons: Any, status: int = 200, **context: Any
) -> Response:
    context.setdefault("quote", None)
    context.setdefault("actors", {})
    return render(
        request,
        "product.html",
        status,
        nav="products",
        p=product,
        shown=shown,
        coupons=coupons,
        can_edit=principal.holds(*WRITE),
        **context,
    )


async def edit_product_form(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    product_id = path_id(request, "product_id")
    product = (
        None if product_id is None else await run_in_threadpool(port.queries.product, principal.brand_id, product_id)
    )
    if product is None:
        return await not_found(request)
    return _form(
        request, f"Edit {product.code}", values_of(product), {}, action=f"/products/{product.id}/edit", product=product
    )


async def edit_product(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    product_id = path_id(request, "product_id")
    product = (
        None if product_id is None else await run_in_threadpool(port.queries.product, principal.brand_id, product_id)
    )
    if product is None or product_id is None:
        return await not_found(request)
    values = form_values(lambda name: form_text(request, name))
    values["code"] = product.code
    expected = form_text(request, "expected_version")
    try:
        changes = terms_of(values)
        result = await act(
            principal,
            lambda: port.products.revise(principal.brand_id, product_id, changes, whole_number(expected)),
        )
    except DomainError as exc:
        return _form(
            request, f"Edit {product.code}", values, _errors(exc, values), 409 if not isinstance(exc, InvalidInput) else 422,
            action=f"/products/{product.id}/edit", product=product,
        )  # fmt: skip
    return await after_write(request, Products.name, result.position, f"/products/{product_id}")


async def _on_product(
    request: Request, port: ProductPagesPort, principal: Principal, work: Callable[[UUID], CommandResult]
) -> Response:
    product_id = path_id(request, "product_id")
    if product_id is None:
        return await not_found(request)
    try:
        result = await act(principal, lambda: work(product_id))
    except DomainError as exc:
        product = await run_in_threadpool(port.queries.product, principal.brand_id, product_id)
        if product is None:
            return await not_found(request)
        coupons = await run_in_threadpool(
            lambda: port.queries.coupons(principal.brand_id, product_id, None, None, 200).items
        )
        status = 422 if isinstance(exc, InvalidInput) else 409
        # the form posted comes back as typed (kept): the coupon's fields, or an activation's reason
        return _product(request, principal, product, product, coupons, status, error=error_text(exc))
    return await after_write(request, Products.name, result.position, f"/products/{product_id}")


async def deactivate_product(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    reason = form_text(request, "reason") or None
    return await _on_product(
        request, port, principal, lambda pid: port.products.deactivate(principal.brand_id, pid, reason)
    )


async def reactivate_product(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    reason = form_text(request, "reason") or None
    return await _on_product(
        request, port, principal, lambda pid: port.products.reactivate(principal.brand_id, pid, reason)
    )


def _day(raw: str, field: str) -> date:
    return parse_date(raw.strip(), field)


async def issue_coupon(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    values = {name: form_text(request, name).strip() for name in _COUPON_FIELDS}

    def issue(product_id: UUID) -> CommandResult:
        uses = values["max_uses"]
        if uses and whole_number(uses, max_digits=9) is None:
            raise InvalidValue("max_uses", "a whole number, or empty for no limit")
        return port.products.issue_coupon(
            principal.brand_id,
            product_id,
            values["code"],
            values["kind"],
            values["value"],
            _day(values["valid_from"], "valid_from"),
            _day(values["valid_to"], "valid_to"),
            int(uses) if uses else None,
        )

    return await _on_product(request, port, principal, issue)


async def withdraw_coupon(request: Request, port: ProductPagesPort, principal: Principal) -> Response:
    coupon_id = path_id(request, "coupon_id")
    if coupon_id is None:
        return await not_found(request)
    reason = form_text(request, "reason") or None
    return await _on_product(
        request, port, principal, lambda pid: port.products.withdraw_coupon(principal.brand_id, coupon_id, reason)
    )


PAGES = pages(
    ProductPagesPort,
    [
        Page("GET", "/products", products_page, READ),
        Page("GET", "/products/new", new_product_form, WRITE),
        Page("POST", "/products/new", new_product, WRITE, form=True),
        Page("GET", "/products/{product_id}", product_page, READ),
        Page("GET", "/products/{product_id}/edit", edit_product_form, WRITE),
        Page("POST", "/products/{product_id}/edit", edit_product, WRITE, form=True),
        Page("POST", "/products/{product_id}/deactivate", deactivate_product, WRITE, form=True),
        Page("POST", "/products/{product_id}/reactivate", reactivate_product, WRITE, form=True),
        Page("POST", "/products/{product_id}/coupons", issue_coupon, WRITE, form=True),
        Page("POST", "/products/{product_id}/coupons/{coupon_id}/withdraw", withdraw_coupon, WRITE, form=True),
    ],
)
