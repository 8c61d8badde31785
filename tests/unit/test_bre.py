"""The BRE (domain/loans/bre.py): each rule failing alone with its reason, the boundaries, missing inputs, bypass,
overrides, parsing a product's rules, and the records."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.loans.bre import (
    ALWAYS,
    ApplicantFacts,
    BrandPolicy,
    BreOutcome,
    Outcome,
    Override,
    PastApplication,
    Rule,
    RuleResult,
    RuleSpec,
    backtest,
    evaluate,
    make_override,
    parse_rules,
)
from domain.loans.bre_checks import age_on, rupees
from domain.shared.errors import InvalidInput

D = Decimal
TODAY = date(2026, 11, 30)
POLICY = BrandPolicy(min_salary=D("15000.00"), min_age=22, max_age=54, rejection_cooldown_days=15)
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
#: An applicant who passes every rule.
GOOD = ApplicantFacts(
    credit_score=750,
    monthly_salary=D("40000.00"),
    date_of_birth=date(1990, 6, 15),
    pincode="560001",
    existing_emis=D("5000.00"),
    proposed_emi=D("6000.00"),
    existing_loans=1,
    max_dpd=0,
)


def result(rule: Rule, facts: ApplicantFacts, policy: BrandPolicy = POLICY, today: date = TODAY) -> RuleResult:
    outcome = evaluate(RULES, facts, policy, today)
    return next(r for r in outcome.results if r.rule is rule)


def only_failure(facts: ApplicantFacts, policy: BrandPolicy = POLICY, today: date = TODAY) -> RuleResult:
    outcome = evaluate(RULES, facts, policy, today)
    assert not outcome.passed
    (failed,) = outcome.failed
    return failed


def test_a_good_applicant_passes_every_rule_and_the_always_rules_run_last() -> None:
    outcome = evaluate(RULES, GOOD, POLICY, TODAY)
    assert outcome.passed and outcome.failed == ()
    assert [r.rule for r in outcome.results] == [s.rule for s in RULES] + list(ALWAYS)
    assert all(r.outcome is Outcome.PASS for r in outcome.results)


def test_no_configured_rules_evaluates_only_blocklist_and_cooldown() -> None:
    outcome = evaluate((), ApplicantFacts(), POLICY, TODAY)
    assert [r.rule for r in outcome.results] == [Rule.BLOCKLIST, Rule.COOLDOWN]
    assert outcome.passed


@pytest.mark.parametrize(
    ("change", "rule", "reason", "inputs"),
    [
        (
            {"credit_score": 688},
            Rule.CREDIT_SCORE,
            "credit score 688 is below the minimum 700",
            {"credit_score": "688"},
        ),
        (
            {"monthly_salary": D("14000.00"), "existing_emis": D("0.00")},
            Rule.SALARY,
            "salary ₹14,000.00 is below the brand minimum ₹15,000.00",
            {"monthly_salary": "14000.00"},
        ),
        ({"date_of_birth": date(1970, 1, 1)}, Rule.AGE, "age 56 is above 54", {"age": "56"}),
        ({"date_of_birth": date(2005, 1, 1)}, Rule.AGE, "age 21 is below 22", {"age": "21"}),
        (
            {"existing_emis": D("19000.00"), "proposed_emi": D("6000.00")},
            Rule.FOIR,
            "FOIR 62.50% is above the maximum 50%",
            {"foir": "62.50", "existing_emis": "19000.00", "proposed_emi": "6000.00", "monthly_salary": "40000.00"},
        ),
        ({"existing_loans": 3}, Rule.EXISTING_LOANS, "3 active loans with other lenders is above the maximum 2", {}),
        ({"max_dpd": 30}, Rule.DPD, "30 days past due on existing credit is above the tolerance 0", {"max_dpd": "30"}),
        ({"blocklist_hits": ("pan",)}, Rule.BLOCKLIST, "pan is on the brand's blocklist", {"blocklist_hits": "pan"}),
        (
            {"last_rejected_on": date(2026, 11, 20)},
            Rule.COOLDOWN,
            "rejected on 2026-11-20, less than 15 days ago: may apply again from 2026-12-05",
            {"last_rejected_on": "2026-11-20"},
        ),
    ],
)
def test_each_rule_fails_alone_with_its_reason_and_inputs(
    change: dict[str, object], rule: Rule, reason: str, inputs: dict[str, str]
) -> None:
    failed = only_failure(replace(GOOD, **change))  # type: ignore[arg-type]
    assert failed.rule is rule
    assert failed.reason == reason
    assert inputs.items() <= dict(failed.inputs).items()


def test_pincode_not_serviceable_and_blocked() -> None:
    policy = replace(POLICY, serviceable_pincodes=frozenset({"560001"}), blocked_pincodes=frozenset({"110001"}))
    assert only_failure(replace(GOOD, pincode="110099"), policy).reason == "pincode 110099 is not serviceable"
    listed_but_blocked = replace(policy, serviceable_pincodes=frozenset({"560001", "110001"}))
    assert only_failure(replace(GOOD, pincode="110001"), listed_but_blocked).reason == "pincode 110001 is blocked"
    assert result(Rule.PINCODE, GOOD, policy).outcome is Outcome.PASS


def test_thresholds_are_inclusive_exactly_at_the_boundary() -> None:
    at = replace(
        GOOD,
        credit_score=700,
        monthly_salary=D("15000.00"),
        existing_emis=D("1500.00"),
        proposed_emi=D("6000.00"),  # 7500 / 15000 = 50.00 %
        existing_loans=2,
        max_dpd=0,
        date_of_birth=date(1971, 12, 1),  # 54 today, 55 tomorrow
    )
    outcome = evaluate(RULES, at, POLICY, TODAY)
    assert outcome.passed, [r.reason for r in outcome.failed]
    assert result(Rule.FOIR, at).reason == "FOIR 50.00% is within the maximum 50%"
    # One step beyond each threshold fails.
    assert only_failure(replace(at, credit_score=699)).rule is Rule.CREDIT_SCORE
    assert only_failure(replace(at, monthly_salary=D("14999.99"), existing_emis=D("0"))).rule is Rule.SALARY
    assert only_failure(replace(at, existing_loans=3)).rule is Rule.EXISTING_LOANS
    assert only_failure(replace(at, max_dpd=1)).rule is Rule.DPD
    assert only_failure(at, today=date(2026, 12, 1)).reason == "age 55 is above 54"
    youngest = replace(at, date_of_birth=date(2004, 11, 30))
    assert evaluate(RULES, youngest, POLICY, TODAY).passed
    assert only_failure(youngest, today=date(2026, 11, 29)).reason == "age 21 is below 22"


def test_foir_is_compared_exactly_not_on_the_rounded_figure() -> None:
    # 7500.01 / 15000 = 50.0000666...% shows as 50.00 but is above 50.
    facts = replace(GOOD, monthly_salary=D("15000.00"), existing_emis=D("1500.01"), proposed_emi=D("6000.00"))
    failed = only_failure(facts)
    assert failed.reason == "FOIR 50.00% is above the maximum 50% (by less than 0.005%)"
    # Shown half up: 1/3 of salary is 33.33%, 2/3 is 66.67%.
    third = replace(GOOD, monthly_salary=D("30000.00"), existing_emis=D("4000.00"), proposed_emi=D("6000.00"))
    assert result(Rule.FOIR, third).inputs["foir"] == "33.33"
    assert result(Rule.FOIR, replace(third, existing_emis=D("14000.00"))).inputs["foir"] == "66.67"
    zero = only_failure(replace(GOOD, monthly_salary=D("0.00")), replace(POLICY, min_salary=D("0.00")))
    assert zero.reason == "FOIR cannot be computed: monthly salary is ₹0.00"


def test_birthdays_count_exactly_and_29_february_from_1_march() -> None:
    born = date(2004, 2, 29)
    assert age_on(born, date(2026, 2, 28)) == 21
    assert age_on(born, date(2026, 3, 1)) == 22
    assert age_on(born, date(2028, 2, 29)) == 24
    assert age_on(born, date(2028, 2, 28)) == 23
    assert age_on(date(2000, 12, 31), date(2026, 12, 30)) == 25
    assert age_on(date(2000, 12, 31), date(2026, 12, 31)) == 26
    leapling = replace(GOOD, date_of_birth=born)
    assert only_failure(leapling, today=date(2026, 2, 28)).reason == "age 21 is below 22"
    assert evaluate(RULES, leapling, POLICY, date(2026, 3, 1)).passed


def test_the_salary_threshold_is_the_higher_of_brand_and_product() -> None:
    higher = parse_rules([{"rule": "SALARY", "min": "25000"}])
    lower = parse_rules([{"rule": "SALARY", "min": "10000"}])
    pay = replace(GOOD, monthly_salary=D("20000.00"))
    failed = evaluate(higher, pay, POLICY, TODAY).failed[0]
    assert failed.reason == "salary ₹20,000.00 is below the product minimum ₹25,000.00"
    assert failed.threshold == {"min": "25000.00"}
    assert evaluate(lower, pay, POLICY, TODAY).passed
    poor = evaluate(lower, replace(pay, monthly_salary=D("12000.00")), POLICY, TODAY).failed[0]
    assert poor.reason == "salary ₹12,000.00 is below the brand minimum ₹15,000.00"
    assert rupees(D("150000")) == "₹1,50,000.00"


def test_a_product_narrows_the_brand_age_range_and_cannot_widen_it() -> None:
    narrow = parse_rules([{"rule": "AGE", "min": "25", "max": "40"}])
    wide = parse_rules([{"rule": "AGE", "min": "18", "max": "70"}])
    assert evaluate(narrow, replace(GOOD, date_of_birth=date(2002, 1, 1)), POLICY, TODAY).failed[0].reason == (
        "age 24 is below 25"
    )
    assert evaluate(narrow, GOOD, POLICY, TODAY).results[0].threshold == {"min": "25", "max": "40"}
    assert evaluate(wide, GOOD, POLICY, TODAY).results[0].threshold == {"min": "22", "max": "54"}


@pytest.mark.parametrize(
    ("missing", "rule", "reason"),
    [
        ("credit_score", Rule.CREDIT_SCORE, "credit score not known"),
        ("date_of_birth", Rule.AGE, "date of birth not known"),
        ("pincode", Rule.PINCODE, "pincode not known"),
        ("existing_loans", Rule.EXISTING_LOANS, "number of existing loans not known"),
        ("max_dpd", Rule.DPD, "days past due on existing credit not known"),
        ("proposed_emi", Rule.FOIR, "FOIR: this loan's EMI not known"),
    ],
)
def test_a_missing_input_fails_its_rule_saying_not_known(missing: str, rule: Rule, reason: str) -> None:
    failed = only_failure(replace(GOOD, **{missing: None}))  # type: ignore[arg-type]
    assert (failed.rule, failed.reason, failed.outcome) == (rule, reason, Outcome.FAIL)


def test_a_missing_salary_fails_salary_and_foir() -> None:
    outcome = evaluate(RULES, replace(GOOD, monthly_salary=None), POLICY, TODAY)
    assert {r.rule: r.reason for r in outcome.failed} == {
        Rule.SALARY: "monthly salary not known",
        Rule.FOIR: "FOIR: monthly salary not known",
    }


def test_bureau_bypass_skips_the_bureau_rules_only() -> None:
    facts = replace(GOOD, credit_score=None, existing_loans=None, max_dpd=None, bypassed=frozenset({"bureau"}))
    outcome = evaluate(RULES, facts, POLICY, TODAY)
    assert outcome.passed
    bypassed = {r.rule for r in outcome.results if r.outcome is Outcome.BYPASSED}
    assert bypassed == {Rule.CREDIT_SCORE, Rule.EXISTING_LOANS, Rule.DPD}
    assert result(Rule.CREDIT_SCORE, facts).reason == "credit score not checked: the bureau check was bypassed"
    # A bureau score that is known anyway is still not used: the bypass is what Ops decided.
    assert result(Rule.CREDIT_SCORE, replace(facts, credit_score=500)).outcome is Outcome.BYPASSED
    # A bypassed bureau does not excuse a bad salary or age.
    poor = replace(facts, monthly_salary=D("1000.00"), existing_emis=D("0"), proposed_emi=D("100.00"))
    assert only_failure(poor).rule is Rule.SALARY


def test_bank_statement_bypass_uses_a_declared_salary_and_excuses_only_what_is_missing() -> None:
    skipped = frozenset({"bank_statement"})
    unknown = replace(GOOD, monthly_salary=None, existing_emis=None, bypassed=skipped)
    outcome = evaluate(RULES, unknown, POLICY, TODAY)
    assert outcome.passed
    assert {r.rule for r in outcome.results if r.outcome is Outcome.BYPASSED} == {Rule.SALARY, Rule.FOIR}
    declared = replace(GOOD, monthly_salary=D("12000.00"), existing_emis=None, bypassed=skipped)
    outcome = evaluate(RULES, declared, POLICY, TODAY)
    assert [r.rule for r in outcome.failed] == [Rule.SALARY]
    assert result(Rule.FOIR, declared).outcome is Outcome.BYPASSED


def test_cooldown_ends_on_the_day_it_says() -> None:
    rejected = replace(GOOD, last_rejected_on=date(2026, 11, 15))
    assert result(Rule.COOLDOWN, rejected).outcome is Outcome.PASS  # 15 + 15 days = 30 Nov: today
    assert only_failure(rejected, today=date(2026, 11, 29)).rule is Rule.COOLDOWN
    assert result(Rule.COOLDOWN, rejected, replace(POLICY, rejection_cooldown_days=0), date(2026, 11, 15)).outcome is (
        Outcome.PASS
    )


def test_several_blocklist_hits_are_listed() -> None:
    failed = only_failure(replace(GOOD, blocklist_hits=("pan", "phone", "bank_account")))
    assert failed.reason == "pan, phone and bank_account are on the brand's blocklist"


def test_an_override_replaces_one_rules_outcome_and_the_decision_follows() -> None:
    outcome = evaluate(RULES, replace(GOOD, credit_score=690), POLICY, TODAY)
    assert not outcome.passed
    override = make_override("CREDIT_SCORE", "pass", "Bureau file is thin; salary history is strong")
    forced = outcome.overridden(override)
    assert forced.passed and forced.failed == ()
    assert forced.results == outcome.results  # what the rule found is kept
    decided = next(r for r in forced.decided if r.rule is Rule.CREDIT_SCORE)
    assert decided.outcome is Outcome.PASS
    assert decided.reason.startswith("credit score 690 is below the minimum 700; overridden to pass: Bureau")
    # The latest override of a rule wins; an override to the outcome it has is refused.
    back = forced.overridden(make_override("CREDIT_SCORE", "fail", "On review the thin file is a real concern"))
    assert not back.passed and len(back.overrides) == 1
    with pytest.raises(InvalidInput) as same:
        back.overridden(make_override("CREDIT_SCORE", "fail", "On review the thin file is a real concern"))
    assert same.value.errors[0].field == "result"
    # Failing a passing rule rejects.
    assert not evaluate(RULES, GOOD, POLICY, TODAY).overridden(Override(Rule.DPD, Outcome.FAIL, "x" * 10)).passed


def test_overrides_of_unevaluated_rules_and_bad_input_are_refused() -> None:
    outcome = evaluate((), GOOD, POLICY, TODAY)
    with pytest.raises(InvalidInput) as not_run:
        outcome.overridden(Override(Rule.CREDIT_SCORE, Outcome.PASS, "a good enough reason"))
    assert not_run.value.errors[0].field == "rule"
    for args, field in [
        (("NOPE", "pass", "a good enough reason"), "rule"),
        (("DPD", "bypassed", "a good enough reason"), "result"),
        (("DPD", "pass", "   short  "), "justification"),
        (("DPD", "pass", None), "justification"),
        (("DPD", "pass", "bad\x00 justification text"), "justification"),
    ]:
        with pytest.raises(InvalidInput) as bad:
            make_override(*args)
        assert bad.value.errors[0].field == field


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ([{"rule": "SCORE", "min": "700"}], "bre_rules[0].rule", "'SCORE' is not a rule"),
        ([{"min": "700"}], "bre_rules[0].rule", "is not a rule"),
        ([{"rule": "CREDIT_SCORE"}], "bre_rules[0].min", "CREDIT_SCORE needs a minimum"),
        ([{"rule": "FOIR"}], "bre_rules[0].max", "FOIR needs a maximum"),
        ([{"rule": "EXISTING_LOANS", "min": "1", "max": "2"}], "bre_rules[0].min", "EXISTING_LOANS takes no 'min'"),
        ([{"rule": "DPD", "max": "ten"}], "bre_rules[0].max", "'ten' is not a decimal number"),
        ([{"rule": "DPD", "max": "1.5"}], "bre_rules[0].max", "at most 0 decimal places"),
        ([{"rule": "FOIR", "max": "-1"}], "bre_rules[0].max", "must be at least 0"),
        ([{"rule": "FOIR", "max": "50.123"}], "bre_rules[0].max", "at most 2 decimal places"),
        ([{"rule": "SALARY", "min": True}], "bre_rules[0].min", "must be a number"),
        ([{"rule": "AGE", "min": "17"}], "bre_rules[0].min", "between 18 and 100"),
        ([{"rule": "CREDIT_SCORE", "min": "950"}], "bre_rules[0].min", "between 300 and 900"),
        ([{"rule": "AGE", "min": "40", "max": "30"}], "bre_rules[0].max", "must not be below the min 40"),
        ([{"rule": "PINCODE", "max": "1"}], "bre_rules[0].max", "PINCODE takes no 'max'"),
        ([{"rule": "BLOCKLIST"}], "bre_rules[0].rule", "always evaluated"),
        ([{"rule": "COOLDOWN"}], "bre_rules[0].rule", "always evaluated"),
        ([{"rule": "DPD", "max": 0}, {"rule": "DPD", "max": 1}], "bre_rules[1].rule", "already configured"),
        (["CREDIT_SCORE"], "bre_rules[0]", "must be an object"),
    ],
)
def test_parse_rules_names_the_bad_field(raw: list[object], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules(raw)  # type: ignore[arg-type]
    assert [e.field for e in caught.value.errors] == [field]
    assert message in caught.value.errors[0].message


def test_parse_rules_reports_every_bad_entry_at_once_and_reads_numbers() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules([{"rule": "X"}, {"rule": "CREDIT_SCORE", "min": "700"}, {"rule": "FOIR"}])
    assert [e.field for e in caught.value.errors] == ["bre_rules[0].rule", "bre_rules[2].max"]
    (foir, score) = parse_rules([{"rule": "FOIR", "max": 45.5}, {"rule": "CREDIT_SCORE", "min": 650}])
    assert foir == RuleSpec(Rule.FOIR, max=D("45.5")) and score == RuleSpec(Rule.CREDIT_SCORE, min=D("650"))
    assert parse_rules([]) == ()


def test_records_round_trip() -> None:
    facts = replace(
        GOOD,
        blocklist_hits=("pan",),
        last_rejected_on=date(2026, 1, 2),
        bypassed=frozenset({"bureau", "bank_statement"}),
    )
    assert ApplicantFacts.from_record(facts.to_record()) == facts
    assert ApplicantFacts.from_record(ApplicantFacts().to_record()) == ApplicantFacts()
    policy = replace(POLICY, serviceable_pincodes=frozenset({"1", "2"}), blocked_pincodes=frozenset({"3"}))
    assert BrandPolicy.from_record(policy.to_record()) == policy
    assert BrandPolicy.from_record(POLICY.to_record()) == POLICY
    for spec in RULES:
        assert RuleSpec.from_record(spec.to_record()) == spec
    assert RULES[0].to_record() == {"rule": "CREDIT_SCORE", "min": "700"}
    outcome = evaluate(RULES, facts, POLICY, TODAY)
    assert tuple(RuleResult.from_record(r.to_record()) for r in outcome.results) == outcome.results
    override = Override(Rule.DPD, Outcome.PASS, "why not")
    assert Override.from_record(override.to_record()) == override
    assert BreOutcome(outcome.results).passed == outcome.passed


def test_backtest_counts_changed_decisions_both_ways_and_failures_per_rule() -> None:
    strict = parse_rules([{"rule": "CREDIT_SCORE", "min": "760"}])
    loose = parse_rules([{"rule": "CREDIT_SCORE", "min": "600"}])
    scores = [590, 650, 700, 755, 800]
    past = [PastApplication(uuid4(), replace(GOOD, credit_score=s), POLICY, TODAY, passed=s >= 700) for s in scores]
    tightened = backtest(strict, past, baseline=loose)
    assert tightened.evaluated == 5
    assert tightened.now_failing == (past[2].loan_id, past[3].loan_id) and tightened.now_failing_count == 2
    assert tightened.now_passing == () and tightened.now_passing_count == 0
    assert tightened.failures_before == {Rule.CREDIT_SCORE: 1}
    assert tightened.failures_after == {Rule.CREDIT_SCORE: 4}
    loosened = backtest(loose, past, keep=0)
    assert loosened.now_passing == () and loosened.now_passing_count == 1  # 650 passes now; no ids kept
    assert loosened.failures_before == loosened.failures_after == {Rule.CREDIT_SCORE: 1}


def test_a_backtest_uses_each_applications_own_day_and_policy() -> None:
    cooldown_then = replace(GOOD, last_rejected_on=date(2026, 1, 1))
    past = [
        PastApplication(uuid4(), cooldown_then, POLICY, date(2026, 1, 10), passed=False),
        PastApplication(uuid4(), GOOD, replace(POLICY, max_age=30), TODAY, passed=False),
    ]
    result = backtest((RuleSpec(Rule.AGE),), past)
    assert result.now_passing_count == 0
    assert result.failures_after == {Rule.COOLDOWN: 1, Rule.AGE: 1}


def test_brand_policy_reads_the_brand_settings_and_the_blocklists_pincodes() -> None:
    from domain.identity.brand_config import BrandSettings
    from domain.loans.bre_policy import brand_policy

    settings = BrandSettings().changed({"min_salary": "20000", "min_age": 25, "serviceable_pincodes": ["560001"]})
    policy = brand_policy(settings, blocked=["110001"])
    assert policy == BrandPolicy(
        min_salary=D("20000.00"),
        min_age=25,
        max_age=54,
        rejection_cooldown_days=15,
        serviceable_pincodes=frozenset({"560001"}),
        blocked_pincodes=frozenset({"110001"}),
    )
    assert brand_policy(BrandSettings()).serviceable_pincodes is None  # no list: every pincode
    assert brand_policy(settings, serviceable=["400001"]).serviceable_pincodes == frozenset({"400001"})


def test_foir_in_paise_and_in_exact_rationals_agree() -> None:
    from fractions import Fraction

    from domain.loans.bre_checks import _foir
    from domain.loans.money import round_money

    for owed, earned, limit in [
        ("7500.00", "15000.00", "50"),
        ("7500.01", "15000.00", "50"),
        ("1.00", "3.00", "33.33"),
        ("2.00", "3.00", "66.67"),
        ("0.00", "1.00", "0"),
        ("12345.675", "33333.333", "37.04"),  # 3 places: the exact path
    ]:
        exact = Fraction(D(owed)) * 100 / Fraction(D(earned))
        assert _foir(D(owed), D(earned), D(limit)) == (round_money(exact), exact > Fraction(D(limit)))
