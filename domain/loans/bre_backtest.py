"""The BRE backtest: re-run a product's current or proposed rules over past applications, in one pass.

Each past application is evaluated on its own submission day with the brand policy recorded then, and compared with
the decision recorded then. Memory stays constant whatever the number of applications: counts per rule, two
counters, and the first `keep` changed loan ids of each kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from uuid import UUID

from domain.loans.bre import Backtest, Outcome, PastApplication, Rule, RuleSpec, evaluate

#: Called with the number of applications evaluated so far, every `every` applications.
Progress = Callable[[int], None]


def run_backtest(
    rules: Sequence[RuleSpec],
    past: Iterable[PastApplication],
    *,
    baseline: Sequence[RuleSpec] | None = None,
    keep: int = 100,
    progress: Progress | None = None,
    every: int = 10_000,
) -> Backtest:
    """`backtest` with progress: see domain/loans/bre.py."""
    before_rules = rules if baseline is None else baseline
    same = baseline is None or tuple(baseline) == tuple(rules)
    failures_before: dict[Rule, int] = {}
    failures_after: dict[Rule, int] = {}
    now_passing: list[UUID] = []
    now_failing: list[UUID] = []
    passing_count = failing_count = evaluated = 0
    for application in past:
        after = evaluate(rules, application.facts, application.policy, application.submitted_on)
        failed_after = [r.rule for r in after.results if r.outcome is Outcome.FAIL]
        for rule in failed_after:
            failures_after[rule] = failures_after.get(rule, 0) + 1
        if same:
            failed_before = failed_after
        else:
            before = evaluate(before_rules, application.facts, application.policy, application.submitted_on)
            failed_before = [r.rule for r in before.results if r.outcome is Outcome.FAIL]
        for rule in failed_before:
            failures_before[rule] = failures_before.get(rule, 0) + 1
        passes = not failed_after
        if passes and not application.passed:
            passing_count += 1
            if len(now_passing) < keep:
                now_passing.append(application.loan_id)
        elif application.passed and not passes:
            failing_count += 1
            if len(now_failing) < keep:
                now_failing.append(application.loan_id)
        evaluated += 1
        if progress is not None and evaluated % every == 0:
            progress(evaluated)
    if progress is not None and evaluated % every:
        progress(evaluated)
    return Backtest(
        evaluated=evaluated,
        now_passing=tuple(now_passing),
        now_failing=tuple(now_failing),
        now_passing_count=passing_count,
        now_failing_count=failing_count,
        failures_before=failures_before,
        failures_after=failures_after,
    )
