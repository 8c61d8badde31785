"""The BRE rules a product configures, as recorded on its versions, and their input rules.

`parse_bre_rules` checks a product's `bre_rules` (which rules, which thresholds each takes, no rule twice) and
raises InvalidInput naming `bre_rules[i].field`. It is the minimal check the products context needs until the BRE
work's `domain.loans.bre.parse_rules` is merged; then it defers to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import partial

from pydantic import BaseModel, ConfigDict

from domain.loans.bre import ALWAYS, Rule, RuleSpec
from domain.loans.money import parse_money, parse_rate
from domain.shared.errors import FieldChecks, FieldError, InvalidValue
from domain.shared.values import MEASURE

#: Credit bureau scores (CIBIL, Equifax) run from 300 to 900.
SCORE_RANGE = (Decimal(300), Decimal(900))
#: Ages a product may narrow its brand's range to.
AGE_RANGE = (Decimal(18), Decimal(100))
#: Counts of loans and days past due a threshold may name.
COUNT_RANGE = (Decimal(0), Decimal(100_000))


class BreRule(BaseModel):
    """One configured rule as a product version records it (thresholds as exact decimals)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Rule
    min: Decimal | None = None
    max: Decimal | None = None

    def spec(self) -> RuleSpec:
        """The rule as the BRE takes it."""
        return RuleSpec(rule=self.rule, min=self.min, max=self.max)

    @classmethod
    def of(cls, spec: RuleSpec) -> BreRule:
        """A rule from the BRE's shape."""
        return cls(rule=spec.rule, min=spec.min, max=spec.max)


# Which thresholds each configurable rule takes: (min: required / optional / absent, max: ...).
_REQUIRED, _OPTIONAL, _ABSENT = "required", "optional", "absent"
_KEYS: dict[Rule, tuple[str, str]] = {
    Rule.CREDIT_SCORE: (_REQUIRED, _ABSENT),
    Rule.SALARY: (_OPTIONAL, _ABSENT),
    Rule.AGE: (_OPTIONAL, _OPTIONAL),
    Rule.PINCODE: (_ABSENT, _ABSENT),
    Rule.FOIR: (_ABSENT, _REQUIRED),
    Rule.EXISTING_LOANS: (_ABSENT, _REQUIRED),
    Rule.DPD: (_ABSENT, _REQUIRED),
}


def _whole(value: Decimal, field: str, bounds: tuple[Decimal, Decimal]) -> Decimal:
    low, high = bounds
    if value != value.to_integral_value() or not low <= value <= high:
        raise InvalidValue(field, f"must be a whole number from {low} to {high}")
    return Decimal(int(value))


def _threshold(rule: Rule, raw: object, field: str) -> Decimal:
    value = MEASURE.parse(raw, field)
    if rule is Rule.CREDIT_SCORE:
        return _whole(value, field, SCORE_RANGE)
    if rule is Rule.SALARY:
        return parse_money(value, field, positive=True)
    if rule is Rule.AGE:
        return _whole(value, field, AGE_RANGE)
    if rule is Rule.FOIR:
        return parse_rate(value, field, at_most=Decimal(100))
    return _whole(value, field, COUNT_RANGE)  # EXISTING_LOANS, DPD


def _one(i: int, raw: object, checks: FieldChecks) -> BreRule | None:
    where = f"bre_rules[{i}]"
    if isinstance(raw, BreRule | RuleSpec):
        raw = {"rule": raw.rule, "min": raw.min, "max": raw.max}
    if not isinstance(raw, dict):
        checks.errors.append(FieldError(where, 'each rule is an object such as {"rule": "CREDIT_SCORE", "min": 700}'))
        return None
    unknown = sorted(set(raw) - {"rule", "min", "max"})
    if unknown:
        checks.errors.append(FieldError(f"{where}.{unknown[0]}", "a rule takes only rule, min and max"))
        return None
    try:
        rule = Rule(str(raw.get("rule", "")).strip().upper())
    except ValueError:
        choices = ", ".join(_KEYS)
        checks.errors.append(FieldError(f"{where}.rule", f"must be one of {choices}"))
        return None
    if rule in ALWAYS:
        checks.errors.append(FieldError(f"{where}.rule", f"{rule.value} is evaluated on every application already"))
        return None
    values: dict[str, Decimal | None] = {}
    for key, need in zip(("min", "max"), _KEYS[rule], strict=True):
        given = raw.get(key)
        field = f"{where}.{key}"
        if given is None:
            if need == _REQUIRED:
                checks.errors.append(FieldError(field, f"{rule.value} needs a {key}"))
            values[key] = None
        elif need == _ABSENT:
            checks.errors.append(FieldError(field, f"{rule.value} takes no {key}"))
            values[key] = None
        else:
            values[key] = checks.check(partial(_threshold, rule, given, field))
    low, high = values["min"], values["max"]
    if low is not None and high is not None and low > high:
        checks.errors.append(FieldError(f"{where}.min", f"must not be above max ({high})"))
    return BreRule(rule=rule, min=low, max=high)


def parse_bre_rules(raw: Sequence[object]) -> tuple[BreRule, ...]:
    """A product's rules, each checked; InvalidInput naming `bre_rules[i].field` for each bad one."""
    checks = FieldChecks()
    if len(raw) > len(_KEYS):
        raise InvalidValue("bre_rules", f"at most {len(_KEYS)} rules, each once")
    rules: list[BreRule] = []
    seen: dict[Rule, int] = {}
    for i, item in enumerate(raw):
        rule = _one(i, item, checks)
        if rule is None:
            continue
        if rule.rule in seen:
            checks.errors.append(FieldError(f"bre_rules[{i}].rule", f"{rule.rule.value} is configured twice"))
            continue
        seen[rule.rule] = i
        rules.append(rule)
    checks.raise_if_any()
    return tuple(rules)
