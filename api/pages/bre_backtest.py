"""The BRE backtest in the portal: on a product, re-run its current rules or edited ones over its past applications
and show how many were evaluated, which decisions would change both ways (with links to the loans) and how often
each rule fails under the current rules and the backtested ones. The API is `POST /loan-products/{id}/backtest`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.product_forms import RULE_ROWS, values_of
from api.services.bre_backtests import KEEP_IDS, BacktestRun, ProductBacktests
from api.web import Page, error_text, form_text, not_found, pages, path_id, render
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.bre import ALWAYS, Rule
from domain.shared.errors import DomainError, InvalidInput
from projections.product_queries import ProductQueries

#: Backtesting reads a product and its past decisions: the products' readers may.
READ = (Permission.BRAND_SETTINGS, Level.READ)


@dataclass(frozen=True)
class BacktestPagesPort:
    """The backtest service and the products read model."""

    backtests: ProductBacktests
    queries: ProductQueries


def _rule_values(request: Request) -> dict[str, str]:
    values: dict[str, str] = {}
    for rule, *_ in RULE_ROWS:
        for part in ("on", "min", "max"):
            key = f"bre_{rule.value}_{part}"
            values[key] = form_text(request, key).strip()
    return values


def _rules_of(values: dict[str, str]) -> list[dict[str, str]]:
    rules = []
    for rule, *_ in RULE_ROWS:
        if values[f"bre_{rule.value}_on"]:
            row = {"rule": rule.value}
            for part in ("min", "max"):
                if values[f"bre_{rule.value}_{part}"]:
                    row[part] = values[f"bre_{rule.value}_{part}"]
            rules.append(row)
    return rules


def _row_of(field: str, rules: list[dict[str, str]]) -> str:
    """The form row an error of the rules names (`rules[1].max` -> `DPD max`)."""
    index, _, part = field.removeprefix("rules[").partition("]")
    if index.isdigit() and int(index) < len(rules):
        return f"{rules[int(index)]['rule']} {part.lstrip('.') or 'rule'}"
    return field


def _page(request: Request, product: Any, values: dict[str, str], status: int = 200, **context: Any) -> Response:
    context.setdefault("run", None)
    context.setdefault("failures", [])
    context.setdefault("use", "current")
    context.setdefault("error", None)
    return render(
        request, "product_backtest.html", status, nav="products", p=product, values=values, rules=RULE_ROWS, **context
    )


async def backtest_form(request: Request, port: BacktestPagesPort, principal: Principal) -> Response:
    product_id = path_id(request, "product_id")
    product = None if product_id is None else await run_in_threadpool(port.queries.product, principal.brand_id, product_id)  # fmt: skip
    if product is None:
        return await not_found(request)
    return _page(request, product, values_of(product))


def _failures(run: BacktestRun) -> list[tuple[str, int, int]]:
    found, outcome = run.backtest, run.backtest.result
    named = {
        *outcome.failures_before,
        *outcome.failures_after,
        *ALWAYS,
        *(r.rule for r in found.rules + found.baseline),
    }
    return [(r.value, outcome.failures_before.get(r, 0), outcome.failures_after.get(r, 0)) for r in Rule if r in named]


async def run_backtest(request: Request, port: BacktestPagesPort, principal: Principal) -> Response:
    product_id: UUID | None = path_id(request, "product_id")
    product = None if product_id is None else await run_in_threadpool(port.queries.product, principal.brand_id, product_id)  # fmt: skip
    if product is None or product_id is None:
        return await not_found(request)
    use = "edited" if form_text(request, "use") == "edited" else "current"
    values = _rule_values(request) if use == "edited" else values_of(product)
    rules = _rules_of(values) if use == "edited" else None
    pid = product_id
    try:
        run = await run_in_threadpool(port.backtests.run, principal.brand_id, pid, rules, KEEP_IDS)
    except InvalidInput as exc:  # `rules[1].max` is the row of the second rule ticked: "DPD max"
        message = "; ".join(f"{_row_of(e.field, rules or [])}: {e.message}" for e in exc.errors)
        return _page(request, product, values, 422, use=use, error=message)
    except DomainError as exc:
        return _page(request, product, values, 409, use=use, error=error_text(exc))
    return _page(request, product, values, use=use, run=run, failures=_failures(run))


PAGES = pages(
    BacktestPagesPort,
    [
        Page("GET", "/products/{product_id}/backtest", backtest_form, READ),
        Page("POST", "/products/{product_id}/backtest", run_backtest, READ, form=True),
    ],
)
