"""`read.bre_history`: one row per submitted application (the facts the BRE read, the brand policy then, the decision),
the past that a BRE backtest re-runs rules over.

The loans context's projection owns the table: it lists `BRE_HISTORY_DDL` in its `ddl` and `BRE_HISTORY_TABLE` in
its `tables`, and yields `history_row(...)` when an application is submitted. `BreHistoryQueries` streams a
product's past applications in keyset batches (constant memory), and `run_product_backtest` runs a backtest over
them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg.rows import tuple_row

from domain.loans.bre import ApplicantFacts, Backtest, BrandPolicy, PastApplication, RuleSpec
from domain.loans.bre_backtest import Progress, run_backtest
from domain.shared.clock import DEFAULT_TIMEZONE, business_date
from projections.projection import Insert

#: The table's qualified name (for the owning projection's `tables`).
BRE_HISTORY_TABLE = "read.bre_history"

#: Idempotent DDL of `read.bre_history` (for the owning projection's `ddl`).
BRE_HISTORY_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS read.bre_history (
        loan_id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        product_id uuid NOT NULL,
        product_version integer NOT NULL,
        submitted_at timestamptz NOT NULL,
        submitted_on date NOT NULL,
        facts jsonb NOT NULL,
        policy jsonb NOT NULL,
        passed boolean NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS bre_history_product_idx "
    "ON read.bre_history (brand_id, product_id, submitted_at, loan_id)",
)


def history_row(
    loan_id: UUID,
    brand_id: UUID,
    product_id: UUID,
    product_version: int,
    submitted_at: datetime,
    facts: ApplicantFacts,
    policy: BrandPolicy,
    passed: bool,
    *,
    submitted_on: date | None = None,
) -> Insert:
    """The row of an application submitted at `submitted_at` (its BRE day `submitted_on`: by default the date in
    the default timezone), with the facts and policy the BRE read and its decision (before any override)."""
    day = submitted_on if submitted_on is not None else business_date(submitted_at, DEFAULT_TIMEZONE)
    return Insert(
        BRE_HISTORY_TABLE,
        {
            "loan_id": loan_id,
            "brand_id": brand_id,
            "product_id": product_id,
            "product_version": product_version,
            "submitted_at": submitted_at,
            "submitted_on": day,
            "facts": facts.to_record(),
            "policy": policy.to_record(),
            "passed": passed,
        },
    )


class BreHistoryQueries:
    """Past applications of a brand's product, streamed in keyset batches (oldest first)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def count(self, brand_id: UUID, product_id: UUID) -> int:
        """How many past applications the product has."""
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            row = cursor.execute(
                "SELECT count(*) FROM read.bre_history WHERE brand_id = %s AND product_id = %s", (brand_id, product_id)
            ).fetchone()
        return int(row[0]) if row else 0

    def past_applications(self, brand_id: UUID, product_id: UUID, batch: int = 5000) -> Iterator[PastApplication]:
        """Every past application of the product, oldest first; one query per `batch` rows (the index's keyset),
        no connection held between batches, a brand's policy parsed once per distinct value."""
        policies: dict[str, BrandPolicy] = {}
        after: tuple[datetime, UUID] | None = None
        while True:
            with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
                rows = cursor.execute(
                    "SELECT loan_id, submitted_at, submitted_on, facts::text, policy::text, passed "
                    "FROM read.bre_history WHERE brand_id = %s AND product_id = %s "
                    + ("AND (submitted_at, loan_id) > (%s, %s) " if after else "")
                    + "ORDER BY submitted_at, loan_id LIMIT %s",
                    (brand_id, product_id, *(after or ()), batch),
                ).fetchall()
            for loan_id, _at, submitted_on, facts, policy_text, passed in rows:
                policy = policies.get(policy_text)
                if policy is None:
                    if len(policies) > 1000:
                        policies.clear()
                    policy = policies[policy_text] = BrandPolicy.from_record(json.loads(policy_text))
                yield PastApplication(
                    loan_id, ApplicantFacts.from_record(json.loads(facts)), policy, submitted_on, passed
                )
            if len(rows) < batch:
                return
            after = (rows[-1][1], rows[-1][0])


@dataclass(frozen=True)
class ProductBacktest:
    """A backtest of a product's rules and what it compared: the rules run, and the baseline (the product's current
    rules)."""

    product_id: UUID
    rules: tuple[RuleSpec, ...]
    baseline: tuple[RuleSpec, ...]
    result: Backtest


def run_product_backtest(
    queries: BreHistoryQueries,
    brand_id: UUID,
    product_id: UUID,
    rules: Sequence[RuleSpec],
    baseline: Sequence[RuleSpec],
    *,
    keep: int = 100,
    progress: Progress | None = None,
    batch: int = 5000,
) -> ProductBacktest:
    """Run `rules` over the product's past applications (constant memory), `baseline` giving the per-rule failures
    before; `progress` hears the count evaluated so far."""
    result = run_backtest(
        rules,
        queries.past_applications(brand_id, product_id, batch),
        baseline=baseline,
        keep=keep,
        progress=progress,
    )
    return ProductBacktest(product_id, tuple(rules), tuple(baseline), result)
