"""The BRE rules a product configures, as its versions record them.

The input rules are the BRE's own (`domain.loans.bre.parse_rules`: which rules, which thresholds each takes and
their ranges, no rule twice), so a product never records a rule the BRE cannot evaluate; InvalidInput names
`bre_rules[i].field`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.loans.bre import Rule, RuleSpec, parse_rules


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


def parse_bre_rules(raw: Sequence[BreRule]) -> tuple[BreRule, ...]:
    """A product's rules, checked by the BRE's `parse_rules`; InvalidInput naming `bre_rules[i].field`."""
    return tuple(BreRule.of(spec) for spec in parse_rules([rule.model_dump(exclude_none=True) for rule in raw]))
