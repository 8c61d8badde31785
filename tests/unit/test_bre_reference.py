"""`evaluate` checked against a second implementation written here from the spec's and docs/bre.md's text
(hypothesis, derandomized): for generated rules, facts, policies and days, every rule's outcome and the decision
agree, and the FOIR figure shown is the integer-paise rounding of the exact ratio.

The reference works differently on purpose: ages through the birthday of this year (29 February → 1 March), money
in integer paise, FOIR by cross-multiplication, no shared helper with domain/loans/bre*.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.loans.bre import ApplicantFacts, BrandPolicy, Outcome, Rule, RuleSpec, evaluate, parse_rules

CASES = settings(
    database=None, deadline=None, derandomize=True, max_examples=400, suppress_health_check=[HealthCheck.too_slow]
)

PINCODES = ["110001", "110099", "560001", "400001", "600001"]


def paise(amount: Decimal) -> int:
    return int(amount * 100)


def reference_age(born: date, today: date) -> int:
    """Years since `born`: the birthday of `today`'s year (1 March for 29 February in a common year) counts."""
    try:
        birthday = born.replace(year=today.year)
    except ValueError:  # 29 February, common year
        birthday = date(today.year, 3, 1)
    return today.year - born.year - (1 if today < birthday else 0)


def reference(rules: list[dict[str, str]], facts: ApplicantFacts, policy: BrandPolicy, today: date) -> dict[Rule, str]:
    """Each rule's outcome ("pass", "fail", "bypassed"), from the rules as the API writes them."""
    out: dict[Rule, str] = {}
    bureau_skipped = "bureau" in facts.bypassed
    statement_skipped = "bank_statement" in facts.bypassed

    def verdict(ok: bool) -> str:
        return "pass" if ok else "fail"

    for rule in rules:
        name = Rule(rule["rule"])
        if name is Rule.CREDIT_SCORE:
            if bureau_skipped:
                out[name] = "bypassed"
            else:
                out[name] = verdict(facts.credit_score is not None and facts.credit_score >= int(rule["min"]))
        elif name is Rule.SALARY:
            floor = paise(policy.min_salary)
            if "min" in rule:
                floor = max(floor, paise(Decimal(rule["min"])))
            if facts.monthly_salary is None:
                out[name] = "bypassed" if statement_skipped else "fail"
            else:
                out[name] = verdict(paise(facts.monthly_salary) >= floor)
        elif name is Rule.AGE:
            lowest = max([policy.min_age] + ([int(rule["min"])] if "min" in rule else []))
            highest = min([policy.max_age] + ([int(rule["max"])] if "max" in rule else []))
            if facts.date_of_birth is None:
                out[name] = "fail"
            else:
                out[name] = verdict(lowest <= reference_age(facts.date_of_birth, today) <= highest)
        elif name is Rule.PINCODE:
            served = policy.serviceable_pincodes is None or facts.pincode in policy.serviceable_pincodes
            out[name] = verdict(facts.pincode is not None and served and facts.pincode not in policy.blocked_pincodes)
        elif name is Rule.FOIR:
            if facts.monthly_salary is None and statement_skipped:
                out[name] = "bypassed"
            elif facts.existing_emis is None and (bureau_skipped or statement_skipped):
                out[name] = "bypassed"
            elif None in (facts.monthly_salary, facts.existing_emis, facts.proposed_emi):
                out[name] = "fail"
            else:
                assert facts.monthly_salary is not None and facts.existing_emis is not None
                assert facts.proposed_emi is not None
                salary = paise(facts.monthly_salary)
                obligations = paise(facts.existing_emis) + paise(facts.proposed_emi)
                # obligations / salary * 100 <= max  <=>  obligations * 100 * 100 <= max_hundredths * salary
                limit = int(Decimal(rule["max"]) * 100)
                out[name] = verdict(salary > 0 and obligations * 100 * 100 <= limit * salary)
        elif name is Rule.EXISTING_LOANS:
            if bureau_skipped:
                out[name] = "bypassed"
            else:
                out[name] = verdict(facts.existing_loans is not None and facts.existing_loans <= int(rule["max"]))
        elif name is Rule.DPD:
            if bureau_skipped:
                out[name] = "bypassed"
            else:
                out[name] = verdict(facts.max_dpd is not None and facts.max_dpd <= int(rule["max"]))
    out[Rule.BLOCKLIST] = verdict(not facts.blocklist_hits)
    cooled = facts.last_rejected_on is None or (today - facts.last_rejected_on).days >= policy.rejection_cooldown_days
    out[Rule.COOLDOWN] = verdict(cooled)
    return out


def maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), strategy, strategy, strategy)


money = st.integers(0, 30_000_000).map(lambda p: Decimal(p).scaleb(-2))


@st.composite
def rule_lists(draw: st.DrawFn) -> list[dict[str, str]]:
    rules: list[dict[str, str]] = []
    if draw(st.booleans()):
        rules.append({"rule": "CREDIT_SCORE", "min": str(draw(st.integers(300, 900)))})
    if draw(st.booleans()):
        rules.append({"rule": "SALARY"} | ({"min": str(draw(money))} if draw(st.booleans()) else {}))
    if draw(st.booleans()):
        low = draw(st.integers(18, 60))
        entry = {"rule": "AGE"}
        if draw(st.booleans()):
            entry["min"] = str(low)
        if draw(st.booleans()):
            entry["max"] = str(draw(st.integers(low, 70)))
        rules.append(entry)
    if draw(st.booleans()):
        rules.append({"rule": "PINCODE"})
    if draw(st.booleans()):
        rules.append({"rule": "FOIR", "max": str(Decimal(draw(st.integers(0, 10_000))).scaleb(-2))})
    if draw(st.booleans()):
        rules.append({"rule": "EXISTING_LOANS", "max": str(draw(st.integers(0, 5)))})
    if draw(st.booleans()):
        rules.append({"rule": "DPD", "max": str(draw(st.integers(0, 90)))})
    return draw(st.permutations(rules))


days = st.dates(date(2020, 1, 1), date(2030, 12, 31))


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[dict[str, str]], ApplicantFacts, BrandPolicy, date]:
    today = draw(days)
    born = draw(
        st.one_of(
            st.dates(date(1950, 1, 1), date(2010, 12, 31)),
            st.sampled_from([date(2000, 2, 29), date(1996, 2, 29), date(1972, 3, 1)]),
            st.integers(17, 60).map(lambda y: date(today.year - y, today.month, min(today.day, 28))),
        )
    )
    min_age = draw(st.integers(18, 30))
    policy = BrandPolicy(
        min_salary=draw(money),
        min_age=min_age,
        max_age=draw(st.integers(min_age, 70)),
        rejection_cooldown_days=draw(st.integers(0, 60)),
        serviceable_pincodes=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(PINCODES)))),
        blocked_pincodes=draw(st.frozensets(st.sampled_from(PINCODES), max_size=2)),
    )
    salary = draw(maybe(st.one_of(money, st.just(Decimal("0.00")))))
    facts = ApplicantFacts(
        credit_score=draw(maybe(st.integers(300, 900))),  # type: ignore[arg-type]
        monthly_salary=salary,  # type: ignore[arg-type]
        date_of_birth=draw(maybe(st.just(born))),  # type: ignore[arg-type]
        pincode=draw(maybe(st.sampled_from(PINCODES))),  # type: ignore[arg-type]
        existing_emis=draw(maybe(money)),  # type: ignore[arg-type]
        proposed_emi=draw(maybe(money)),  # type: ignore[arg-type]
        existing_loans=draw(maybe(st.integers(0, 8))),  # type: ignore[arg-type]
        max_dpd=draw(maybe(st.integers(0, 120))),  # type: ignore[arg-type]
        blocklist_hits=tuple(draw(st.lists(st.sampled_from(["pan", "phone", "aadhaar"]), max_size=2, unique=True))),
        last_rejected_on=draw(maybe(st.integers(0, 90).map(lambda n: today - timedelta(days=n)))),  # type: ignore[arg-type]
        bypassed=draw(st.frozensets(st.sampled_from(["bureau", "bank_statement"]))),
    )
    return draw(rule_lists()), facts, policy, today


@CASES
@given(cases())
def test_evaluate_agrees_with_the_reference(
    case: tuple[list[dict[str, str]], ApplicantFacts, BrandPolicy, date],
) -> None:
    raw, facts, policy, today = case
    specs: tuple[RuleSpec, ...] = parse_rules(raw)  # type: ignore[arg-type]
    outcome = evaluate(specs, facts, policy, today)
    expected = reference(raw, facts, policy, today)
    assert {r.rule: r.outcome.value for r in outcome.results} == expected
    assert outcome.passed == ("fail" not in expected.values())
    for result in outcome.results:
        assert result.reason  # every result says why
        if result.outcome is Outcome.FAIL and not result.inputs:
            assert "not known" in result.reason
    foir = next((r for r in outcome.results if r.rule is Rule.FOIR and "foir" in r.inputs), None)
    if foir is not None:
        assert facts.monthly_salary is not None and facts.existing_emis is not None and facts.proposed_emi is not None
        num = (paise(facts.existing_emis) + paise(facts.proposed_emi)) * 100 * 100  # hundredths of a percent
        den = paise(facts.monthly_salary)
        shown = (2 * num + den) // (2 * den)  # half up, integers
        assert Decimal(foir.inputs["foir"]) == Decimal(shown).scaleb(-2)


@CASES
@given(st.dates(date(1960, 1, 1), date(2012, 12, 31)), days)
def test_age_agrees_with_the_reference(born: date, today: date) -> None:
    from domain.loans.bre_checks import age_on

    assert age_on(born, today) == reference_age(born, today)
