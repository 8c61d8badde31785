"""The BRE (issue #13): evaluation throughput against a plain-Python baseline, and a backtest over past applications
in `read.bre_history` on PostgreSQL.

(a) `evaluate` over N generated applications with every configurable rule (and BLOCKLIST, COOLDOWN), each result
    with its inputs and reason: target >= 2,000 applications/s. The baseline, measured in the same run over the same
    applications, is a minimal evaluation of the same thresholds (comparisons only, stopping at the first failure: no
    results, no reasons); the ratio is printed for information.
(b) `run_product_backtest` over 100k past applications of one product (quick: 20k), streamed in keyset batches from
    PostgreSQL with a changed rule set: target <= 60 s.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg_pool import ConnectionPool

from domain.loans.bre import ApplicantFacts, BrandPolicy, evaluate, parse_rules
from projections.bre_history import BRE_HISTORY_DDL, BreHistoryQueries, run_product_backtest
from tests.benchmarks.harness import Rate, Verdict, fresh_database, say

TARGET_PER_SECOND = 2_000
TARGET_BACKTEST_SECONDS = 60.0
FULL_EVALUATIONS, QUICK_EVALUATIONS = 100_000, 20_000
FULL_PAST, QUICK_PAST = 100_000, 20_000

RULES = parse_rules(
    [
        {"rule": "CREDIT_SCORE", "min": "700"},
        {"rule": "SALARY"},
        {"rule": "AGE"},
        {"rule": "PINCODE"},
        {"rule": "FOIR", "max": "50"},
        {"rule": "EXISTING_LOANS", "max": "2"},
        {"rule": "DPD", "max": "0"},
    ]
)
#: The proposed rules of the backtest: a stricter score, a looser FOIR.
PROPOSED = parse_rules(
    [
        {"rule": "CREDIT_SCORE", "min": "720"},
        {"rule": "SALARY", "min": "18000"},
        {"rule": "AGE"},
        {"rule": "PINCODE"},
        {"rule": "FOIR", "max": "55"},
        {"rule": "EXISTING_LOANS", "max": "3"},
        {"rule": "DPD", "max": "0"},
    ]
)
PINCODES = [f"{p}" for p in range(560001, 560101)]
POLICY = BrandPolicy(
    min_salary=Decimal("15000.00"),
    min_age=22,
    max_age=54,
    rejection_cooldown_days=15,
    serviceable_pincodes=frozenset(PINCODES[:90]),
    blocked_pincodes=frozenset(PINCODES[95:]),
)
TODAY = date(2026, 11, 30)


def applicants(count: int, seed: int = 13) -> list[ApplicantFacts]:
    """Applicants spread around every threshold (some inputs missing, some bypassed, a few blocked)."""
    rng = random.Random(seed)

    def maybe(value: object, missing: float = 0.03) -> object:
        return None if rng.random() < missing else value

    out = []
    for _ in range(count):
        salary = Decimal(rng.randrange(1_000_000, 12_000_000)).scaleb(-2)
        out.append(
            ApplicantFacts(
                credit_score=maybe(rng.randrange(550, 860)),  # type: ignore[arg-type]
                monthly_salary=maybe(salary),  # type: ignore[arg-type]
                date_of_birth=maybe(date(1965, 1, 1) + timedelta(days=rng.randrange(0, 16_000))),  # type: ignore[arg-type]
                pincode=maybe(rng.choice(PINCODES)),  # type: ignore[arg-type]
                existing_emis=maybe(Decimal(rng.randrange(0, 4_000_000)).scaleb(-2)),  # type: ignore[arg-type]
                proposed_emi=Decimal(rng.randrange(100_000, 3_000_000)).scaleb(-2),
                existing_loans=maybe(rng.randrange(0, 5)),  # type: ignore[arg-type]
                max_dpd=maybe(rng.choice([0, 0, 0, 0, 5, 30, 90])),  # type: ignore[arg-type]
                blocklist_hits=("pan",) if rng.random() < 0.01 else (),
                last_rejected_on=TODAY - timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.05 else None,
                bypassed=frozenset({"bureau"}) if rng.random() < 0.02 else frozenset(),
            )
        )
    return out


def _baseline(facts: ApplicantFacts, today: date) -> bool:
    """The same thresholds as RULES, minimal: comparisons only, no results or reasons, stopping at the first failure."""
    p = POLICY
    bureau = "bureau" in facts.bypassed
    if not bureau and (facts.credit_score is None or facts.credit_score < 700):
        return False
    if facts.monthly_salary is None or facts.monthly_salary < p.min_salary:
        return False
    born = facts.date_of_birth
    if born is None:
        return False
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if not p.min_age <= years <= p.max_age:
        return False
    code = facts.pincode
    if code is None or code in p.blocked_pincodes or (p.serviceable_pincodes and code not in p.serviceable_pincodes):
        return False
    if facts.existing_emis is None and bureau:
        pass  # FOIR bypassed with the bureau that gives existing EMIs
    elif facts.existing_emis is None or facts.proposed_emi is None or facts.monthly_salary <= 0:
        return False
    elif (facts.existing_emis + facts.proposed_emi) * 100 > 50 * facts.monthly_salary:
        return False
    if not bureau and (facts.existing_loans is None or facts.existing_loans > 2):
        return False
    if not bureau and (facts.max_dpd is None or facts.max_dpd > 0):
        return False
    if facts.blocklist_hits:
        return False
    return not (facts.last_rejected_on and facts.last_rejected_on + timedelta(days=p.rejection_cooldown_days) > today)


def _evaluation(quick: bool) -> list[Verdict]:
    total = QUICK_EVALUATIONS if quick else FULL_EVALUATIONS
    say(f"== BRE evaluation ({total:,} applications, {len(RULES)} rules + blocklist and cooldown)")
    book = applicants(total)
    began = time.perf_counter()
    baseline_passed = sum(_baseline(f, TODAY) for f in book)
    baseline = Rate(total, time.perf_counter() - began)
    began = time.perf_counter()
    passed = sum(evaluate(RULES, f, POLICY, TODAY).passed for f in book)
    measured = Rate(total, time.perf_counter() - began)
    if passed != baseline_passed:  # the same thresholds must decide the same (a check of the benchmark itself)
        raise AssertionError(f"evaluate passed {passed:,} applications, the baseline {baseline_passed:,}")
    say(
        f"   evaluate: {measured.per_second:,.0f} applications/s ({passed:,} passed); baseline (comparisons only): "
        f"{baseline.per_second:,.0f}/s; ratio {measured.per_second / baseline.per_second:.2f}"
    )
    return [Verdict("bre", "evaluation applications/s", measured.per_second, TARGET_PER_SECOND, True, "/s")]


def _load_history(dsn: str, brand_id: uuid.UUID, product_id: uuid.UUID, count: int) -> float:
    """`count` past applications over a year, with a second product's rows around them; seconds taken."""
    began = time.perf_counter()
    book = applicants(count, seed=11)
    other = uuid.uuid4()
    start = datetime(2025, 12, 1, 4, 30, tzinfo=UTC)
    policy = json.dumps(POLICY.to_record())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS read")
        for statement in BRE_HISTORY_DDL:
            conn.execute(statement)
        with conn.cursor().copy(
            "COPY read.bre_history (loan_id, brand_id, product_id, product_version, submitted_at, submitted_on, "
            "facts, policy, passed) FROM STDIN"
        ) as copy:
            for i, facts in enumerate(book):
                at = start + timedelta(seconds=i * 300)
                day = at.date()
                passed = evaluate(RULES, facts, POLICY, day).passed
                record = json.dumps(facts.to_record())
                copy.write_row((uuid.uuid4(), brand_id, product_id, 1, at, day, record, policy, passed))
                if i % 10 == 0:
                    copy.write_row((uuid.uuid4(), brand_id, other, 1, at, day, record, policy, passed))
        conn.execute("ANALYZE read.bre_history")
    return time.perf_counter() - began


def _backtest(quick: bool) -> list[Verdict]:
    total = QUICK_PAST if quick else FULL_PAST
    say(f"== BRE backtest ({total:,} past applications of one product in read.bre_history)")
    brand_id, product_id = uuid.uuid4(), uuid.uuid4()
    with fresh_database("cd_bench_bre") as dsn:
        loaded = _load_history(dsn, brand_id, product_id, total)
        say(f"   loaded {total:,} rows (and {total // 10:,} of another product) in {loaded:.1f} s")
        with ConnectionPool(dsn, min_size=1, max_size=2, open=True) as pool:
            queries = BreHistoryQueries(pool)
            ticks: list[int] = []
            began = time.perf_counter()
            result = run_product_backtest(queries, brand_id, product_id, PROPOSED, RULES, progress=ticks.append)
            seconds = time.perf_counter() - began
    outcome = result.result
    say(
        f"   {outcome.evaluated:,} re-evaluated in {seconds:.1f} s ({outcome.evaluated / seconds:,.0f}/s): "
        f"{outcome.now_passing_count:,} would pass now, {outcome.now_failing_count:,} would fail now; "
        f"progress reported {len(ticks)} times"
    )
    changes = {
        r.value: (outcome.failures_before.get(r, 0), outcome.failures_after.get(r, 0))
        for r in {*outcome.failures_before, *outcome.failures_after}
    }
    say(f"   failures per rule (current -> proposed): {dict(sorted(changes.items()))}")
    if outcome.evaluated != total:
        raise AssertionError(f"the backtest evaluated {outcome.evaluated:,} of {total:,} applications")
    return [Verdict("bre", f"backtest of {total:,} past applications", seconds, TARGET_BACKTEST_SECONDS, False, " s")]


def run(quick: bool) -> list[Verdict]:
    """Both BRE benchmarks."""
    return _evaluation(quick) + _backtest(quick)
