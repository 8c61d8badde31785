"""Each BRE rule as a function: (spec, facts, policy, today) -> RuleResult with its inputs, threshold and reason.

`evaluate` (domain/loans/bre.py) calls `CHECKS[rule]` for each configured rule and `always` for BLOCKLIST and
COOLDOWN. docs/bre.md is the prose of what each one decides; the reasons are written for a credit executive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from domain.loans.bre import ApplicantFacts, BrandPolicy, Outcome, Rule, RuleResult, RuleSpec
from domain.loans.money import round_money
from domain.shared.rupees import rupees

Check = Callable[[RuleSpec, ApplicantFacts, BrandPolicy, date], RuleResult]

_BUREAU = "bureau"
_BANK_STATEMENT = "bank_statement"


@lru_cache(maxsize=4096)
def number(value: Decimal | int) -> str:
    """A threshold as written: `700`, `50`, `12.5` (no exponent, no trailing zeros after the point)."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def age_on(born: date, today: date) -> int:
    """Whole years from `born` to `today`: a birthday counts from its day; 29 February's counts from 1 March in
    years without it (someone born 2004-02-29 is 22 on 2026-03-01, not on 2026-02-28)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _result(rule: Rule, ok: bool, inputs: dict[str, str], threshold: dict[str, str], reason: str) -> RuleResult:
    return RuleResult(rule, Outcome.PASS if ok else Outcome.FAIL, inputs, threshold, reason)


def _bypassed(rule: Rule, check: str, threshold: dict[str, str], what: str) -> RuleResult:
    return RuleResult(rule, Outcome.BYPASSED, {}, threshold, f"{what} not checked: the {check} check was bypassed")


def _missing(rule: Rule, threshold: dict[str, str], what: str) -> RuleResult:
    return RuleResult(rule, Outcome.FAIL, {}, threshold, f"{what} not known")


def credit_score(spec: RuleSpec, facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """The bureau score is at least `min`."""
    assert spec.min is not None
    threshold = {"min": number(spec.min)}
    if _BUREAU in facts.bypassed:
        return _bypassed(Rule.CREDIT_SCORE, "bureau", threshold, "credit score")
    score = facts.credit_score
    if score is None:
        return _missing(Rule.CREDIT_SCORE, threshold, "credit score")
    inputs = {"credit_score": str(score)}
    if score < spec.min:
        return _result(
            Rule.CREDIT_SCORE, False, inputs, threshold, f"credit score {score} is below the minimum {threshold['min']}"
        )
    return _result(Rule.CREDIT_SCORE, True, inputs, threshold, f"credit score {score} meets the minimum {threshold['min']}")  # fmt: skip


def salary(spec: RuleSpec, facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """The monthly salary is at least the brand's minimum, or the product's when higher. A salary known from the
    employment declaration is checked even when the bank-statement check was bypassed."""
    minimum = policy.min_salary if spec.min is None else max(policy.min_salary, spec.min)
    threshold = {"min": f"{minimum:.2f}"}
    whose = "the brand minimum" if minimum == policy.min_salary else "the product minimum"
    pay = facts.monthly_salary
    if pay is None:
        if _BANK_STATEMENT in facts.bypassed:
            return _bypassed(Rule.SALARY, "bank statement", threshold, "salary")
        return _missing(Rule.SALARY, threshold, "monthly salary")
    inputs = {"monthly_salary": f"{pay:.2f}"}
    if pay < minimum:
        return _result(
            Rule.SALARY, False, inputs, threshold, f"salary {rupees(pay)} is below {whose} {rupees(minimum)}"
        )
    return _result(Rule.SALARY, True, inputs, threshold, f"salary {rupees(pay)} meets {whose} {rupees(minimum)}")


def age(spec: RuleSpec, facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """The age on `today` is within the brand's range, narrowed by the product's min/max when given."""
    low = policy.min_age if spec.min is None else max(policy.min_age, int(spec.min))
    high = policy.max_age if spec.max is None else min(policy.max_age, int(spec.max))
    threshold = {"min": str(low), "max": str(high)}
    if facts.date_of_birth is None:
        return _missing(Rule.AGE, threshold, "date of birth")
    years = age_on(facts.date_of_birth, today)
    inputs = {"date_of_birth": facts.date_of_birth.isoformat(), "age": str(years), "on": today.isoformat()}
    if years < low:
        return _result(Rule.AGE, False, inputs, threshold, f"age {years} is below {low}")
    if years > high:
        return _result(Rule.AGE, False, inputs, threshold, f"age {years} is above {high}")
    return _result(Rule.AGE, True, inputs, threshold, f"age {years} is within {low}–{high}")


def pincode(spec: RuleSpec, facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """The current-address pincode is serviceable (the brand's list; no list: every pincode) and not blocked."""
    threshold = {"serviceable": "all" if policy.serviceable_pincodes is None else "listed"}
    code = facts.pincode
    if code is None:
        return _missing(Rule.PINCODE, threshold, "pincode")
    inputs = {"pincode": code}
    if code in policy.blocked_pincodes:
        return _result(Rule.PINCODE, False, inputs, threshold, f"pincode {code} is blocked")
    if policy.serviceable_pincodes is not None and code not in policy.serviceable_pincodes:
        return _result(Rule.PINCODE, False, inputs, threshold, f"pincode {code} is not serviceable")
    return _result(Rule.PINCODE, True, inputs, threshold, f"pincode {code} is serviceable")


def foir(spec: RuleSpec, facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """(existing EMIs + this loan's EMI) / monthly salary × 100 is at most `max`: compared exactly, shown to 2
    places (half up). Bypassed when the bypassed check was the source of a missing salary or existing EMIs."""
    assert spec.max is not None
    threshold = {"max": number(spec.max)}
    bypassed = facts.bypassed
    if facts.monthly_salary is None and _BANK_STATEMENT in bypassed:
        return _bypassed(Rule.FOIR, "bank statement", threshold, "FOIR")
    if facts.existing_emis is None and bypassed & {_BUREAU, _BANK_STATEMENT}:
        check = "bureau" if _BUREAU in bypassed else "bank statement"
        return _bypassed(Rule.FOIR, check, threshold, "FOIR")
    missing = [
        name
        for name, value in (
            ("monthly salary", facts.monthly_salary),
            ("existing EMIs", facts.existing_emis),
            ("this loan's EMI", facts.proposed_emi),
        )
        if value is None
    ]
    if missing:
        return _missing(Rule.FOIR, threshold, "FOIR: " + " and ".join(missing))
    assert facts.monthly_salary is not None and facts.existing_emis is not None and facts.proposed_emi is not None
    inputs = {
        "existing_emis": f"{facts.existing_emis:.2f}",
        "proposed_emi": f"{facts.proposed_emi:.2f}",
        "monthly_salary": f"{facts.monthly_salary:.2f}",
    }
    if facts.monthly_salary <= 0:
        return _result(Rule.FOIR, False, inputs, threshold, f"FOIR cannot be computed: monthly salary is {rupees(facts.monthly_salary)}")  # fmt: skip
    shown, above = _foir(facts.existing_emis + facts.proposed_emi, facts.monthly_salary, spec.max)
    inputs["foir"] = str(shown)
    limit = threshold["max"]
    if above:
        just = " (by less than 0.005%)" if shown <= spec.max else ""
        return _result(Rule.FOIR, False, inputs, threshold, f"FOIR {shown}% is above the maximum {limit}%{just}")
    return _result(Rule.FOIR, True, inputs, threshold, f"FOIR {shown}% is within the maximum {limit}%")


def _foir(obligations: Decimal, salary: Decimal, limit: Decimal) -> tuple[Decimal, bool]:
    """FOIR = obligations / salary × 100 rounded half up to 2 places, and whether the exact ratio is above `limit`.
    In integer paise when the amounts have at most 2 places (always, for recorded money), else exact rationals."""
    o_exp, s_exp, l_exp = obligations.as_tuple().exponent, salary.as_tuple().exponent, limit.as_tuple().exponent
    if isinstance(o_exp, int) and isinstance(s_exp, int) and isinstance(l_exp, int) and min(o_exp, s_exp, l_exp) >= -2:
        owed, earned = int(obligations.scaleb(2)), int(salary.scaleb(2))
        hundredths = owed * 10_000  # the percent in hundredths, times `earned`
        shown = Decimal((2 * hundredths + earned) // (2 * earned)).scaleb(-2)
        return shown, hundredths > int(limit.scaleb(2)) * earned
    exact = Fraction(obligations) * 100 / Fraction(salary)
    return round_money(exact), exact > Fraction(limit)


def existing_loans(spec: RuleSpec, facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """Active loans with other lenders (bureau tradelines) are at most `max`."""
    assert spec.max is not None
    threshold = {"max": number(spec.max)}
    if _BUREAU in facts.bypassed:
        return _bypassed(Rule.EXISTING_LOANS, "bureau", threshold, "existing loans")
    count = facts.existing_loans
    if count is None:
        return _missing(Rule.EXISTING_LOANS, threshold, "number of existing loans")
    inputs = {"existing_loans": str(count)}
    loans = "1 active loan" if count == 1 else f"{count} active loans"
    if count > spec.max:
        return _result(Rule.EXISTING_LOANS, False, inputs, threshold, f"{loans} with other lenders is above the maximum {threshold['max']}")  # fmt: skip
    return _result(Rule.EXISTING_LOANS, True, inputs, threshold, f"{loans} with other lenders is within the maximum {threshold['max']}")  # fmt: skip


def dpd(spec: RuleSpec, facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """The worst days past due on existing credit is at most `max` (the tolerance; 0: never late)."""
    assert spec.max is not None
    threshold = {"max": number(spec.max)}
    if _BUREAU in facts.bypassed:
        return _bypassed(Rule.DPD, "bureau", threshold, "days past due")
    worst = facts.max_dpd
    if worst is None:
        return _missing(Rule.DPD, threshold, "days past due on existing credit")
    inputs = {"max_dpd": str(worst)}
    if worst > spec.max:
        return _result(Rule.DPD, False, inputs, threshold, f"{worst} days past due on existing credit is above the tolerance {threshold['max']}")  # fmt: skip
    return _result(Rule.DPD, True, inputs, threshold, f"{worst} days past due on existing credit is within the tolerance {threshold['max']}")  # fmt: skip


def blocklist(facts: ApplicantFacts) -> RuleResult:
    """None of the applicant's PAN, phone, Aadhaar, bank account or pincode is on the brand's blocklist."""
    hits = facts.blocklist_hits
    inputs = {"blocklist_hits": ", ".join(hits) if hits else "none"}
    if hits:
        what = " and ".join(hits) if len(hits) <= 2 else ", ".join(hits[:-1]) + " and " + hits[-1]
        verb = "is" if len(hits) == 1 else "are"
        return _result(Rule.BLOCKLIST, False, inputs, {}, f"{what} {verb} on the brand's blocklist")
    return _result(Rule.BLOCKLIST, True, inputs, {}, "nothing is on the brand's blocklist")


def may_apply_again_on(rejected_on: date, cooldown_days: int) -> date:
    """The first day a borrower rejected on `rejected_on` may apply again: `cooldown_days` later (on that day, not
    before). The COOLDOWN rule and the borrower's funnel (domain/onboarding/reapply.py) both ask it."""
    return rejected_on + timedelta(days=cooldown_days)


def cooldown(facts: ApplicantFacts, policy: BrandPolicy, today: date) -> RuleResult:
    """A rejected borrower may apply again `rejection_cooldown_days` after the rejection (on that day, not before)."""
    days = policy.rejection_cooldown_days
    threshold = {"days": str(days)}
    last = facts.last_rejected_on
    if last is None:
        return _result(Rule.COOLDOWN, True, {"last_rejected_on": "none"}, threshold, "no earlier rejection")
    inputs = {"last_rejected_on": last.isoformat()}
    again = may_apply_again_on(last, days)
    if again > today:
        return _result(Rule.COOLDOWN, False, inputs, threshold, f"rejected on {last.isoformat()}, less than {days} days ago: may apply again from {again.isoformat()}")  # fmt: skip
    return _result(Rule.COOLDOWN, True, inputs, threshold, f"rejected on {last.isoformat()}, at least {days} days ago")


def always(facts: ApplicantFacts, policy: BrandPolicy, today: date) -> tuple[RuleResult, RuleResult]:
    """The rules every application runs: BLOCKLIST, COOLDOWN."""
    return blocklist(facts), cooldown(facts, policy, today)


def central_dedup(facts: ApplicantFacts) -> RuleResult | None:
    """Informational (the brand's central_dedup): is the applicant's PAN or phone a borrower of another brand, and
    rejected there? Only yes/no - never which brand or anything of its record. None when not checked."""
    if facts.other_brand_borrower is None:
        return None
    found, rejected = facts.other_brand_borrower, bool(facts.other_brand_rejected)
    inputs = {"other_brand_borrower": "yes" if found else "no", "rejected_there": "yes" if found and rejected else "no"}
    if not found:
        return RuleResult(Rule.CENTRAL_DEDUP, Outcome.PASS, inputs, {}, "not a borrower of another brand")
    there = "rejected there" if rejected else "not rejected there"
    return RuleResult(Rule.CENTRAL_DEDUP, Outcome.FLAGGED, inputs, {}, f"a borrower of another brand ({there})")


def informational(facts: ApplicantFacts) -> tuple[RuleResult, ...]:
    """The flags shown to the CX that never decide: CENTRAL_DEDUP when the brand checks it."""
    flag = central_dedup(facts)
    return () if flag is None else (flag,)


#: The configurable rules' checks.
CHECKS: dict[Rule, Check] = {
    Rule.CREDIT_SCORE: credit_score,
    Rule.SALARY: salary,
    Rule.AGE: age,
    Rule.PINCODE: pincode,
    Rule.FOIR: foir,
    Rule.EXISTING_LOANS: existing_loans,
    Rule.DPD: dpd,
}
