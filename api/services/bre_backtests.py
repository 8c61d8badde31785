"""BRE backtests of a brand's loan product: its current rules (or proposed ones) re-run over its past applications
(`read.bre_history`), compared with the decisions recorded then and with the current rules per rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import structlog

from domain.loans.bre import parse_rules
from domain.products.application import Products
from projections.bre_history import BreHistoryQueries, ProductBacktest, run_product_backtest

log = structlog.get_logger(__name__)

#: How many changed loan ids of each kind a backtest returns (the counts are whole).
KEEP_IDS = 100


@dataclass(frozen=True)
class BacktestRun:
    """A product backtest and the product version whose rules are the baseline."""

    version: int
    backtest: ProductBacktest


@dataclass(frozen=True)
class ProductBacktests:
    """Runs a product's backtest: the product from the catalogue (ProductNotFound: 404), the past from the history."""

    products: Products
    history: BreHistoryQueries

    def run(
        self, brand_id: UUID, product_id: UUID, rules: Sequence[Mapping[str, object]] | None, keep: int = KEEP_IDS
    ) -> BacktestRun:
        """Backtest `rules` (checked as a product's are, 422 naming `rules[i].field`; None: the product's current
        rules) over the product's past applications, in one streamed pass; progress is logged every 10,000."""
        current = self.products.current(brand_id, product_id)
        proposed = current.bre_rules if rules is None else parse_rules(rules, "rules")
        total = self.history.count(brand_id, product_id)

        def progress(evaluated: int) -> None:
            log.info("bre.backtest.progress", product_id=str(product_id), evaluated=evaluated, total=total)

        result = run_product_backtest(
            self.history, brand_id, product_id, proposed, current.bre_rules, keep=keep, progress=progress
        )
        return BacktestRun(current.version, result)
