"""The BRE backtest endpoint: `POST /api/v1/loan-products/{product_id}/backtest` runs the product's current rules, or
proposed ones, over its past applications and answers how many decisions would change, which, and per rule."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.services.bre_backtests import KEEP_IDS, ProductBacktests
from domain.identity.permissions import Level, Permission
from domain.loans.bre import ALWAYS, CONFIGURABLE, Rule, RuleSpec
from domain.shared.values import Measure, stated_choices

#: Reading a product's rules and past decisions: what the products' readers may (the settings permission).
READ = (Permission.BRAND_SETTINGS, Level.READ)


@dataclass(frozen=True)
class BrePort:
    """What the BRE endpoints use: the backtest service."""

    backtests: ProductBacktests


class BacktestRuleIn(BaseModel):
    """A proposed rule, written as a product's `bre_rules` entry (`{"rule": "CREDIT_SCORE", "min": "700"}`)."""

    model_config = ConfigDict(extra="forbid")

    rule: Annotated[str, Field(max_length=40), stated_choices(CONFIGURABLE)]
    min: Measure | None = None
    max: Measure | None = None


class BacktestIn(BaseModel):
    """The rules to backtest; left out (or null): the product's current rules."""

    model_config = ConfigDict(extra="forbid")

    rules: list[BacktestRuleIn] | None = Field(None, max_length=20)


class RuleSpecOut(BaseModel):
    """A rule and its thresholds."""

    rule: str
    min: Decimal | None
    max: Decimal | None


class ChangedOut(BaseModel):
    """Decisions that would change one way: how many, and the first loan ids (oldest application first)."""

    count: int
    loan_ids: list[UUID]


class RuleFailuresOut(BaseModel):
    """How many past applications a rule fails under the product's current rules and under the backtested ones."""

    rule: str
    current: int
    backtested: int


class BacktestOut(BaseModel):
    """A backtest: applications re-evaluated, the decisions that would change both ways, failures per rule."""

    product_id: UUID
    version: int = Field(description="the product version whose rules are the baseline (current)")
    rules: list[RuleSpecOut]
    current_rules: list[RuleSpecOut]
    evaluated: int
    now_passing: ChangedOut = Field(description="rejected then, would pass now")
    now_failing: ChangedOut = Field(description="passed then, would be rejected now")
    failures: list[RuleFailuresOut]


def _specs(rules: tuple[RuleSpec, ...]) -> list[RuleSpecOut]:
    return [RuleSpecOut(rule=r.rule.value, min=r.min, max=r.max) for r in rules]


def backtest_product(ctx: Context[BrePort]) -> Reply:
    body: BacktestIn = ctx.body
    product_id: UUID = ctx.path["product_id"]
    proposed = None if body.rules is None else [r.model_dump(exclude_none=True) for r in body.rules]
    run = ctx.port.backtests.run(ctx.brand_id, product_id, proposed, KEEP_IDS)
    found, outcome = run.backtest, run.backtest.result
    named = {
        *outcome.failures_before,
        *outcome.failures_after,
        *ALWAYS,
        *(r.rule for r in found.rules + found.baseline),
    }
    rules = [r for r in Rule if r in named]  # in the rules' order
    return json_response(
        BacktestOut(
            product_id=product_id,
            version=run.version,
            rules=_specs(found.rules),
            current_rules=_specs(found.baseline),
            evaluated=outcome.evaluated,
            now_passing=ChangedOut(count=outcome.now_passing_count, loan_ids=list(outcome.now_passing)),
            now_failing=ChangedOut(count=outcome.now_failing_count, loan_ids=list(outcome.now_failing)),
            failures=[
                RuleFailuresOut(
                    rule=r.value, current=outcome.failures_before.get(r, 0), backtested=outcome.failures_after.get(r, 0)
                )
                for r in rules
            ],
        )
    )


ENDPOINTS = serve(
    BrePort,
    "bre",
    [
        Endpoint(
            "POST",
            "/api/v1/loan-products/{product_id}/backtest",
            backtest_product,
            "Backtest BRE rules (proposed, or the product's current ones) over the product's past applications: "
            "decisions that would change both ways, failures per rule",
            READ,
            body=BacktestIn,
            response=BacktestOut,
        ),
    ],
)
