"""`read.bre_history` on PostgreSQL: the history rows the loans projection writes, streamed back in keyset batches
(ties on `submitted_at` included), scoped to one brand's product, and a backtest over them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.loans.bre import ApplicantFacts, BrandPolicy, Rule, parse_rules
from projections.bre_history import BRE_HISTORY_DDL, BreHistoryQueries, history_row, run_product_backtest

POLICY = BrandPolicy(min_salary=Decimal("15000.00"), min_age=22, max_age=54, rejection_cooldown_days=15)


def _insert(conn: psycopg.Connection[Any], row: dict[str, Any]) -> None:
    values = {k: Jsonb(v) if isinstance(v, dict) else v for k, v in row.items()}
    columns = ", ".join(values)
    conn.execute(
        f"INSERT INTO read.bre_history ({columns}) VALUES ({', '.join(['%s'] * len(values))})",
        tuple(values.values()),
    )


def test_past_applications_stream_in_batches_once_each_in_order(platform: Any) -> None:
    brand, product, other_product = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    start = datetime(2026, 3, 1, 18, 45, tzinfo=UTC)  # 00:15 on 2 March in India
    rows = []
    with psycopg.connect(platform.dsn, autocommit=True) as conn:
        for statement in BRE_HISTORY_DDL:
            conn.execute(statement)
        for i in range(23):
            at = start + timedelta(minutes=i // 3)  # three applications a minute: ties on submitted_at
            facts = ApplicantFacts(credit_score=650 + 10 * i, date_of_birth=date(1990, 1, 1))
            row = history_row(uuid.uuid4(), brand, product, 1, at, facts, POLICY, facts.credit_score >= 700)  # type: ignore[operator]
            rows.append(row.row)
            _insert(conn, row.row)
            _insert(conn, history_row(uuid.uuid4(), brand, other_product, 1, at, facts, POLICY, True).row)
            _insert(conn, history_row(uuid.uuid4(), uuid.uuid4(), product, 1, at, facts, POLICY, True).row)
    assert rows[0]["submitted_on"] == date(2026, 3, 2)  # the business day in the default timezone

    queries = BreHistoryQueries(platform.db.pool)
    assert queries.count(brand, product) == 23
    streamed = list(queries.past_applications(brand, product, batch=4))
    expected = sorted(rows, key=lambda r: (r["submitted_at"], r["loan_id"]))
    assert [p.loan_id for p in streamed] == [r["loan_id"] for r in expected]
    first = next(p for p in streamed if p.loan_id == rows[0]["loan_id"])
    assert first.facts == ApplicantFacts(credit_score=650, date_of_birth=date(1990, 1, 1))
    assert first.policy == POLICY and first.submitted_on == date(2026, 3, 2) and first.passed is False

    ticks: list[int] = []
    proposed = parse_rules([{"rule": "CREDIT_SCORE", "min": "800"}])
    current = parse_rules([{"rule": "CREDIT_SCORE", "min": "700"}])
    result = run_product_backtest(queries, brand, product, proposed, current, keep=3, progress=ticks.append, batch=5)
    # Scores 650..870: 700..790 passed then and fail at 800 now (10 applications).
    assert result.result.evaluated == 23 and ticks == [23]
    assert result.result.now_failing_count == 10 and len(result.result.now_failing) == 3
    assert result.result.now_passing_count == 0
    assert result.result.failures_before == {Rule.CREDIT_SCORE: 5}
    assert result.result.failures_after == {Rule.CREDIT_SCORE: 15}
