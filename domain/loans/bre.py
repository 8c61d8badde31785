"""The business-rule engine (BRE): a product's rules over an applicant's facts, each result with the inputs it used.

INTERFACE SKELETON — the shapes below are the contract between the products, loans and BRE work; `evaluate` and
`backtest` are filled in by the BRE work. Pure: no I/O, no clock (today is passed in).

- `RuleSpec` is one entry of a product's `bre_rules` (`{"rule": "CREDIT_SCORE", "min": "700"}`).
- `ApplicantFacts` is everything the rules read, gathered by the loans context from the borrower's record, KYC and
  provider results, the blocklist and earlier applications; `None` means "not known" (a rule whose input is
  missing fails, with `missing` in its reason, unless bypassed).
- `BrandPolicy` is what the brand's settings say (salary minimum, age range, pincodes, cooldown).
- `evaluate(...)` returns a `BreOutcome`: one `RuleResult` per rule evaluated, and the decision.
- `RuleResult.to_record()` / `ApplicantFacts.to_record()` are the JSON-safe dicts recorded in the loan's events
  and stored in `read.bre_history` for backtests; `from_record` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID


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


#: The rules every application runs, configured or not.
ALWAYS = (Rule.BLOCKLIST, Rule.COOLDOWN)


class Outcome(StrEnum):
    """One rule's result."""

    PASS = "pass"
    FAIL = "fail"
    BYPASSED = "bypassed"  # LOAN_FORCE_BYPASS skipped the check it needs (bureau or bank statement)


@dataclass(frozen=True)
class RuleSpec:
    """One configured rule and its thresholds (strings in the API, Decimal here); which keys apply depends on the
    rule: CREDIT_SCORE min; SALARY min (optional, defaults to the brand's); AGE min/max (optional); FOIR max
    (percent); EXISTING_LOANS max; DPD max; PINCODE none."""

    rule: Rule
    min: Decimal | None = None
    max: Decimal | None = None


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

    def to_record(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ApplicantFacts:
        raise NotImplementedError


@dataclass(frozen=True)
class BrandPolicy:
    """The brand settings the rules read."""

    min_salary: Decimal
    min_age: int
    max_age: int
    rejection_cooldown_days: int
    serviceable_pincodes: frozenset[str] | None = None  # None: every pincode is serviceable
    blocked_pincodes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleResult:
    """One rule's result, the inputs it read and the threshold it compared with, in words for the CX."""

    rule: Rule
    outcome: Outcome
    inputs: Mapping[str, str]  # e.g. {"credit_score": "688"}
    threshold: Mapping[str, str]  # e.g. {"min": "700"}
    reason: str  # e.g. "credit score 688 is below the minimum 700"

    def to_record(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RuleResult:
        raise NotImplementedError


@dataclass(frozen=True)
class Override:
    """A CX's override of one rule's result, with the justification (recorded and audited)."""

    rule: Rule
    outcome: Outcome
    justification: str


@dataclass(frozen=True)
class BreOutcome:
    """Every rule's result and what they decide: `passed` (→ pending) or not (→ rejected)."""

    results: tuple[RuleResult, ...]
    overrides: tuple[Override, ...] = field(default=())

    @property
    def passed(self) -> bool:
        raise NotImplementedError

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        raise NotImplementedError


def evaluate(rules: Sequence[RuleSpec], facts: ApplicantFacts, policy: BrandPolicy, today: date) -> BreOutcome:
    """Run `rules` plus ALWAYS over `facts`."""
    raise NotImplementedError


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
    """How many past decisions `rules` would change, and which (loan ids, both ways)."""

    evaluated: int
    now_passing: tuple[UUID, ...]  # rejected then, would pass now
    now_failing: tuple[UUID, ...]  # passed then, would be rejected now


def backtest(rules: Sequence[RuleSpec], past: Iterable[PastApplication]) -> Backtest:
    """Re-run `rules` over past applications, each on its own submission day and policy."""
    raise NotImplementedError
