"""The business-rule engine (BRE): a product's rules over an applicant's facts, each result with the inputs it used.

Pure: no I/O, no clock (today is passed in). docs/bre.md says what each rule reads and decides.

- `RuleSpec` is one entry of a product's `bre_rules` (`{"rule": "CREDIT_SCORE", "min": "700"}`); `parse_rules`
  checks a product's list (422 naming `bre_rules[i].rule` / `.min` / `.max`).
- `ApplicantFacts` is everything the rules read, gathered by the loans context from the borrower's record, KYC and
  provider results, the blocklist and earlier applications; `None` means "not known" (a rule whose input is
  missing fails, with "not known" in its reason, unless bypassed).
- `BrandPolicy` is what the brand's settings say (salary minimum, age range, pincodes, cooldown).
- `evaluate(...)` returns a `BreOutcome`: one `RuleResult` per rule evaluated, and the decision; `overridden`
  applies a CX's override of one rule.
- `to_record()` / `from_record()` are the JSON-safe dicts recorded in the loan's events and stored in
  `read.bre_history` for backtests.
- `backtest(...)` re-runs rules over past applications (domain/loans/bre_backtest.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.shared.errors import FieldError, InvalidInput, InvalidValue
from domain.shared.values import MONEY, DecimalRule, clean_text


class Rule(StrEnum):
    """The rules a product may configure (the spec's "Common BRE Rule Parameters"), and those always evaluated."""

    CREDIT_SCORE = "CREDIT_SCORE"  # bureau score >= min
    SALARY = "SALARY"  # monthly net salary >= brand's min_salary (below it: auto-reject); a product may raise it
    AGE = "AGE"  # age on the day within [min_age, max_age] (brand's, a product may narrow it)
    PINCODE = "PINCODE"  # current-address pincode serviceable and not blocked
    FOIR = "FOIR"  # (existing EMIs + this loan's EMI) / salary <= max (a percent)
    EXISTING_LOANS = "EXISTING_LOANS"  # active loans with other lenders <= max
    DPD = "DPD"  # worst days past due on existing credit <= max (tolerance)
    # Always evaluated, whatever the product configures:
    BLOCKLIST = "BLOCKLIST"  # PAN, phone, Aadhaar, bank account or pincode on the brand's blocklist
    COOLDOWN = "COOLDOWN"  # rejected less than rejection_cooldown_days ago
    # Informational, when the brand's central_dedup is on: never decides, cannot be configured or overridden.
    CENTRAL_DEDUP = "CENTRAL_DEDUP"  # the applicant is a borrower of another brand (and rejected there)


#: The rules every application runs, configured or not.
ALWAYS = (Rule.BLOCKLIST, Rule.COOLDOWN)
#: Flags shown to the CX that never decide (not configurable, not overridable).
INFORMATIONAL = (Rule.CENTRAL_DEDUP,)


class Outcome(StrEnum):
    """One rule's result."""

    PASS = "pass"
    FAIL = "fail"
    BYPASSED = "bypassed"  # LOAN_FORCE_BYPASS skipped the check it needs (bureau or bank statement)
    FLAGGED = "flagged"  # an informational rule found something for the CX to see (never fails the application)


# Thresholds -----------------------------------------------------------------------------------------------------

#: Whole-number thresholds: scores, counts, days, years.
_COUNT = DecimalRule(integer_digits=5, places=0, minimum=Decimal(0))
#: FOIR, a percent with at most 2 places.
_PERCENT = DecimalRule(integer_digits=3, places=2, minimum=Decimal(0))


@dataclass(frozen=True)
class _Thresholds:
    """Which threshold keys a rule takes, which are required, and the rule for their values."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    value: DecimalRule
    bounds: tuple[int, int] | None = None  # inclusive bounds for whole numbers


_THRESHOLDS: dict[Rule, _Thresholds] = {
    Rule.CREDIT_SCORE: _Thresholds(("min",), (), _COUNT, (300, 900)),  # CIBIL and Equifax scores
    Rule.SALARY: _Thresholds((), ("min",), MONEY),
    Rule.AGE: _Thresholds((), ("min", "max"), _COUNT, (18, 100)),
    Rule.PINCODE: _Thresholds((), (), _COUNT),
    Rule.FOIR: _Thresholds(("max",), (), _PERCENT),
    Rule.EXISTING_LOANS: _Thresholds(("max",), (), _COUNT, (0, 999)),
    Rule.DPD: _Thresholds(("max",), (), _COUNT, (0, 9999)),
}
#: The rules a product's `bre_rules` (or a backtest) may configure.
CONFIGURABLE: tuple[Rule, ...] = tuple(_THRESHOLDS)


@dataclass(frozen=True)
class RuleSpec:
    """One configured rule and its thresholds (strings in the API, Decimal here); which keys apply depends on the
    rule: CREDIT_SCORE min; SALARY min (optional, defaults to the brand's); AGE min/max (optional); FOIR max
    (percent); EXISTING_LOANS max; DPD max; PINCODE none."""

    rule: Rule
    min: Decimal | None = None
    max: Decimal | None = None

    def to_record(self) -> dict[str, str]:
        """`{"rule": "CREDIT_SCORE", "min": "700"}`: the API's and the events' spelling (absent keys left out)."""
        record = {"rule": self.rule.value}
        if self.min is not None:
            record["min"] = str(self.min)
        if self.max is not None:
            record["max"] = str(self.max)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RuleSpec:
        """A recorded rule (trusted: it was checked by `parse_rules` when it was configured)."""
        low, high = record.get("min"), record.get("max")
        return cls(Rule(record["rule"]), None if low is None else Decimal(low), None if high is None else Decimal(high))


def parse_rules(raw: Sequence[Mapping[str, object]], field_name: str = "bre_rules") -> tuple[RuleSpec, ...]:
    """A product's `bre_rules` as RuleSpecs; InvalidInput naming each bad entry (`bre_rules[1].min`): an unknown or
    always-evaluated rule, a rule configured twice, a missing required threshold, a threshold the rule does not
    take, a value that is not a number in range, AGE min above max."""
    errors: list[FieldError] = []
    specs: list[RuleSpec] = []
    seen: dict[Rule, int] = {}
    for i, entry in enumerate(raw):
        at = f"{field_name}[{i}]"
        if not isinstance(entry, Mapping):
            errors.append(FieldError(at, 'must be an object such as {"rule": "CREDIT_SCORE", "min": "700"}'))
            continue
        spec = _parse_rule(entry, at, errors)
        if spec is None:
            continue
        if spec.rule in seen:
            errors.append(
                FieldError(f"{at}.rule", f"{spec.rule} is already configured at {field_name}[{seen[spec.rule]}]")
            )
            continue
        seen[spec.rule] = i
        specs.append(spec)
    if errors:
        raise InvalidInput(errors)
    return tuple(specs)


def _parse_rule(entry: Mapping[str, object], at: str, errors: list[FieldError]) -> RuleSpec | None:
    name = entry.get("rule")
    configurable = ", ".join(CONFIGURABLE)
    if not isinstance(name, str) or name not in Rule.__members__:
        shown = name if isinstance(name, str) and len(name) <= 40 else "this"
        errors.append(FieldError(f"{at}.rule", f"'{shown}' is not a rule; use one of {configurable}"))
        return None
    rule = Rule(name)
    if rule in ALWAYS:
        errors.append(FieldError(f"{at}.rule", f"{rule} is always evaluated and takes no configuration"))
        return None
    if rule in INFORMATIONAL:
        errors.append(FieldError(f"{at}.rule", f"{rule} follows the brand's settings and takes no configuration"))
        return None
    takes = _THRESHOLDS[rule]
    before = len(errors)
    for key in entry:
        if key != "rule" and key not in (*takes.required, *takes.optional):
            errors.append(FieldError(f"{at}.{key}", f"{rule} takes no '{str(key)[:40]}'"))
    values: dict[str, Decimal | None] = {"min": None, "max": None}
    for key in (*takes.required, *takes.optional):
        raw = entry.get(key)
        if raw is None:
            if key in takes.required:
                errors.append(FieldError(f"{at}.{key}", f"{rule} needs a {key}imum"))
            continue
        try:
            value = takes.value.parse(raw, f"{at}.{key}")
        except InvalidValue as exc:
            errors.extend(exc.errors)
            continue
        if takes.bounds is not None and not takes.bounds[0] <= value <= takes.bounds[1]:
            errors.append(FieldError(f"{at}.{key}", f"must be between {takes.bounds[0]} and {takes.bounds[1]}"))
            continue
        values[key] = value
    low, high = values["min"], values["max"]
    if low is not None and high is not None and low > high:
        errors.append(FieldError(f"{at}.max", f"must not be below the min {low}"))
    if len(errors) > before:
        return None
    return RuleSpec(rule, low, high)


# Facts and policy -------------------------------------------------------------------------------------------------


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _date_or_none(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


@dataclass(frozen=True)
class ApplicantFacts:
    """What the rules read about one application; None = not known."""

    credit_score: int | None = None
    monthly_salary: Decimal | None = None
    date_of_birth: date | None = None
    pincode: str | None = None
    existing_emis: Decimal | None = None  # monthly EMIs of existing credit (bureau or bank statement)
    proposed_emi: Decimal | None = None  # this loan's instalment (the payday bullet spread per month for FOIR)
    existing_loans: int | None = None  # active tradelines with other lenders
    max_dpd: int | None = None  # worst DPD on existing credit
    blocklist_hits: tuple[str, ...] = ()  # e.g. ("pan", "phone") — kinds of the brand's blocklist that matched
    last_rejected_on: date | None = None  # the borrower's latest rejection in this brand
    bypassed: frozenset[str] = frozenset()  # "bureau" and/or "bank_statement" skipped by LOAN_FORCE_BYPASS
    # Central dedup (only when the brand's central_dedup is on; None: not checked): whether the PAN or phone is a
    # borrower of another brand, and whether that borrower was rejected there - nothing else of the other brand.
    other_brand_borrower: bool | None = None
    other_brand_rejected: bool | None = None

    def to_record(self) -> dict[str, Any]:
        """JSON-safe: amounts as decimal strings, dates ISO, sets as sorted lists; every key present."""
        return {
            "credit_score": self.credit_score,
            "monthly_salary": None if self.monthly_salary is None else str(self.monthly_salary),
            "date_of_birth": None if self.date_of_birth is None else self.date_of_birth.isoformat(),
            "pincode": self.pincode,
            "existing_emis": None if self.existing_emis is None else str(self.existing_emis),
            "proposed_emi": None if self.proposed_emi is None else str(self.proposed_emi),
            "existing_loans": self.existing_loans,
            "max_dpd": self.max_dpd,
            "blocklist_hits": list(self.blocklist_hits),
            "last_rejected_on": None if self.last_rejected_on is None else self.last_rejected_on.isoformat(),
            "bypassed": sorted(self.bypassed),
            "other_brand_borrower": self.other_brand_borrower,
            "other_brand_rejected": self.other_brand_rejected,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ApplicantFacts:
        """The facts `to_record` wrote (a missing key reads as not known)."""
        return cls(
            credit_score=record.get("credit_score"),
            monthly_salary=_decimal_or_none(record.get("monthly_salary")),
            date_of_birth=_date_or_none(record.get("date_of_birth")),
            pincode=record.get("pincode"),
            existing_emis=_decimal_or_none(record.get("existing_emis")),
            proposed_emi=_decimal_or_none(record.get("proposed_emi")),
            existing_loans=record.get("existing_loans"),
            max_dpd=record.get("max_dpd"),
            blocklist_hits=tuple(record.get("blocklist_hits") or ()),
            last_rejected_on=_date_or_none(record.get("last_rejected_on")),
            bypassed=frozenset(record.get("bypassed") or ()),
            other_brand_borrower=record.get("other_brand_borrower"),
            other_brand_rejected=record.get("other_brand_rejected"),
        )


@dataclass(frozen=True)
class BrandPolicy:
    """The brand settings the rules read."""

    min_salary: Decimal
    min_age: int
    max_age: int
    rejection_cooldown_days: int
    serviceable_pincodes: frozenset[str] | None = None  # None: every pincode is serviceable
    blocked_pincodes: frozenset[str] = frozenset()

    def to_record(self) -> dict[str, Any]:
        """JSON-safe, pincode sets as sorted lists (None: every pincode serviceable)."""
        return {
            "min_salary": str(self.min_salary),
            "min_age": self.min_age,
            "max_age": self.max_age,
            "rejection_cooldown_days": self.rejection_cooldown_days,
            "serviceable_pincodes": None if self.serviceable_pincodes is None else sorted(self.serviceable_pincodes),
            "blocked_pincodes": sorted(self.blocked_pincodes),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BrandPolicy:
        """The policy `to_record` wrote."""
        serviceable = record.get("serviceable_pincodes")
        return cls(
            min_salary=Decimal(record["min_salary"]),
            min_age=int(record["min_age"]),
            max_age=int(record["max_age"]),
            rejection_cooldown_days=int(record["rejection_cooldown_days"]),
            serviceable_pincodes=None if serviceable is None else frozenset(serviceable),
            blocked_pincodes=frozenset(record.get("blocked_pincodes") or ()),
        )


# Results ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """One rule's result, the inputs it read and the threshold it compared with, in words for the CX."""

    rule: Rule
    outcome: Outcome
    inputs: Mapping[str, str]  # e.g. {"credit_score": "688"}
    threshold: Mapping[str, str]  # e.g. {"min": "700"}
    reason: str  # e.g. "credit score 688 is below the minimum 700"

    def to_record(self) -> dict[str, Any]:
        """`{"rule", "outcome", "inputs", "threshold", "reason"}`, all strings."""
        return {
            "rule": self.rule.value,
            "outcome": self.outcome.value,
            "inputs": dict(self.inputs),
            "threshold": dict(self.threshold),
            "reason": self.reason,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RuleResult:
        """The result `to_record` wrote."""
        return cls(
            Rule(record["rule"]),
            Outcome(record["outcome"]),
            dict(record.get("inputs") or {}),
            dict(record.get("threshold") or {}),
            str(record["reason"]),
        )


@dataclass(frozen=True)
class Override:
    """A CX's override of one rule's result, with the justification (recorded and audited)."""

    rule: Rule
    outcome: Outcome
    justification: str

    def to_record(self) -> dict[str, str]:
        """`{"rule", "outcome", "justification"}`."""
        return {"rule": self.rule.value, "outcome": self.outcome.value, "justification": self.justification}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Override:
        """The override `to_record` wrote."""
        return cls(Rule(record["rule"]), Outcome(record["outcome"]), str(record["justification"]))


#: The rules a CX may override (every rule that decides: not the informational ones).
OVERRIDABLE: tuple[Rule, ...] = tuple(r for r in Rule if r not in INFORMATIONAL)

#: The fewest visible characters of a BRE override's justification (the API states it as `minLength`).
MIN_OVERRIDE_JUSTIFICATION = 10


def make_override(rule: object, outcome: object, justification: object) -> Override:
    """A CX's override from input: InvalidValue naming `rule`, `result` or `justification` (pass or fail only; a
    justification of at least 10 visible characters, at most 2,000)."""
    if not isinstance(rule, str) or rule not in Rule.__members__:
        raise InvalidValue("rule", f"not a rule; use one of {', '.join(OVERRIDABLE)}")
    if Rule(rule) in INFORMATIONAL:
        raise InvalidValue("rule", f"{rule} is informational: it does not decide, so it cannot be overridden")
    if outcome not in (Outcome.PASS.value, Outcome.FAIL.value):
        raise InvalidValue("result", "must be 'pass' or 'fail'")
    text = clean_text(
        justification if isinstance(justification, str) else None,
        "justification",
        multiline=True,
        min_visible=MIN_OVERRIDE_JUSTIFICATION,
        missing=f"say why the rule's result is overridden (at least {MIN_OVERRIDE_JUSTIFICATION} characters)",
    )
    if len(text) > 2000:
        raise InvalidValue("justification", "at most 2000 characters")
    return Override(Rule(rule), Outcome(outcome), text)


@dataclass(frozen=True)
class BreOutcome:
    """Every rule's result and what they decide: `passed` (→ pending) or not (→ rejected).

    `results` are what the rules found; `overrides` (at most one per rule, the latest) replace the outcome of the
    rules they name in `decided`, which `passed` and `failed` read."""

    results: tuple[RuleResult, ...]
    overrides: tuple[Override, ...] = field(default=())

    @property
    def decided(self) -> tuple[RuleResult, ...]:
        """The results with the overrides applied (an overridden result's reason says so and why)."""
        if not self.overrides:
            return self.results
        by_rule = {o.rule: o for o in self.overrides}
        return tuple(
            r
            if r.rule not in by_rule
            else replace(
                r,
                outcome=by_rule[r.rule].outcome,
                reason=f"{r.reason}; overridden to {by_rule[r.rule].outcome}: {by_rule[r.rule].justification}",
            )
            for r in self.results
        )

    @property
    def passed(self) -> bool:
        """No rule fails (after overrides); a bypassed rule does not fail."""
        return not self.failed

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        """The results that fail, after overrides."""
        return tuple(r for r in self.decided if r.outcome is Outcome.FAIL)

    def overridden(self, override: Override) -> BreOutcome:
        """This outcome with `override` applied (replacing an earlier override of the same rule); InvalidValue
        naming `rule` when that rule was not evaluated, `result` when it already has that outcome."""
        current = next((r for r in self.decided if r.rule is override.rule), None)
        if current is None:
            raise InvalidValue("rule", f"{override.rule} was not evaluated for this application")
        if current.outcome is override.outcome:
            raise InvalidValue("result", f"{override.rule} is already '{override.outcome}'")
        kept = tuple(o for o in self.overrides if o.rule is not override.rule)
        return replace(self, overrides=(*kept, override))


def evaluate(rules: Sequence[RuleSpec], facts: ApplicantFacts, policy: BrandPolicy, today: date) -> BreOutcome:
    """Run `rules` (in their order) plus ALWAYS over `facts`, on `today`."""
    from domain.loans.bre_checks import CHECKS, always, informational

    results = [CHECKS[spec.rule](spec, facts, policy, today) for spec in rules]
    results.extend(always(facts, policy, today))
    results.extend(informational(facts))
    return BreOutcome(tuple(results))


@dataclass(frozen=True)
class PastApplication:
    """One past application as `read.bre_history` keeps it."""

    loan_id: UUID
    facts: ApplicantFacts
    policy: BrandPolicy
    submitted_on: date
    passed: bool  # the decision recorded then


@dataclass(frozen=True)
class Backtest:
    """How many past decisions `rules` would change, and which (loan ids, both ways: the first `keep` of each and
    the counts), and how often each rule fails under the baseline rules (`failures_before`) and under `rules`."""

    evaluated: int
    now_passing: tuple[UUID, ...]  # rejected then, would pass now (the first `keep`)
    now_failing: tuple[UUID, ...]  # passed then, would be rejected now (the first `keep`)
    now_passing_count: int = 0
    now_failing_count: int = 0
    failures_before: Mapping[Rule, int] = field(default_factory=dict)
    failures_after: Mapping[Rule, int] = field(default_factory=dict)


def backtest(
    rules: Sequence[RuleSpec],
    past: Iterable[PastApplication],
    *,
    baseline: Sequence[RuleSpec] | None = None,
    keep: int = 100,
) -> Backtest:
    """Re-run `rules` over past applications, each on its own submission day and recorded policy, and compare with
    the decision recorded then; `baseline` (default: `rules`) gives `failures_before`. Constant memory: `past` is
    read once, only the first `keep` changed ids of each kind are kept."""
    from domain.loans.bre_backtest import run_backtest

    return run_backtest(rules, past, baseline=baseline, keep=keep)
