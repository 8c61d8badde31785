"""The terms a loan is priced and scheduled with: kind, rate and tenure, fees, the coupon's discount, penal charges.

The models hold plain values so that replaying a recorded event never fails; the input rules (MONEY, RATE, tenure
bounds) run in `checked()` when terms are made, and raise InvalidInput naming each bad field.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.loans.money import parse_money, parse_rate
from domain.shared.errors import FieldChecks, FieldError, InvalidInput

#: The longest tenures accepted: 50 years of instalments, ten years for a bullet loan.
MAX_EMI_MONTHS = 600
MAX_PAYDAY_DAYS = 3650
HUNDRED = Decimal(100)


class LoanKind(StrEnum):
    """How a loan is repaid: monthly instalments on a reducing balance, or one bullet payment."""

    EMI = "emi"
    PAYDAY = "payday"


class AmountKind(StrEnum):
    """Whether a fee or discount is a percent of its base or a fixed amount of rupees."""

    PERCENT = "percent"
    FIXED = "fixed"


class PenalKind(StrEnum):
    """Whether penal charges accrue on unpaid principal and interest only, or on the penal charges too."""

    SIMPLE = "simple"
    COMPOUND = "compound"


class Fee(BaseModel):
    """A fee taken out of the payout: `percent` of the sanctioned amount or `fixed` rupees; GST inside or on top."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AmountKind
    value: Decimal
    gst_inclusive: bool = False

    def checked(self, field: str) -> Fee:
        """The fee when its value is within bounds (a percent at most 100; rupees within MONEY)."""
        if self.kind is AmountKind.PERCENT:
            parse_rate(self.value, f"{field}.value", at_most=HUNDRED)
        else:
            parse_money(self.value, f"{field}.value")
        return self


class Discount(BaseModel):
    """What a coupon takes off the processing fee: `percent` of the fee or `fixed` rupees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AmountKind
    value: Decimal

    def checked(self, field: str = "coupon") -> Discount:
        """The discount when its value is within bounds (a percent at most 100; rupees within MONEY)."""
        if self.kind is AmountKind.PERCENT:
            parse_rate(self.value, f"{field}.value", at_most=HUNDRED)
        else:
            parse_money(self.value, f"{field}.value")
        return self


class PenalTerms(BaseModel):
    """Penal charges on overdue instalments: `daily_percent` a day, simple (the default) or compound."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PenalKind = PenalKind.SIMPLE
    daily_percent: Decimal = Decimal(0)

    def checked(self, field: str = "penal") -> PenalTerms:
        """The terms when the daily rate is within RATE."""
        parse_rate(self.daily_percent, f"{field}.daily_percent", at_most=HUNDRED)
        return self


class LoanTerms(BaseModel):
    """What a schedule is built from: the principal (the sanctioned amount), the tenure and the rate.

    EMI loans carry `annual_percent` and a tenure in months; payday loans `daily_percent` and a tenure in days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: LoanKind
    principal: Decimal
    tenure: int
    annual_percent: Decimal | None = None
    daily_percent: Decimal | None = None

    def checked(self) -> LoanTerms:
        """The terms when every value is within bounds and the rate matches the kind; InvalidInput otherwise."""
        checks = FieldChecks()
        checks.check(lambda: parse_money(self.principal, "principal", positive=True))
        longest = MAX_EMI_MONTHS if self.kind is LoanKind.EMI else MAX_PAYDAY_DAYS
        unit = "months" if self.kind is LoanKind.EMI else "days"
        if not 1 <= self.tenure <= longest:
            checks.errors.append(FieldError("tenure", f"must be between 1 and {longest} {unit}"))
        rate, other = ("annual_percent", "daily_percent")[:: 1 if self.kind is LoanKind.EMI else -1]
        value = getattr(self, rate)
        if value is None:
            checks.errors.append(FieldError(rate, f"{self.kind} loans need {rate}"))
        else:
            checks.check(lambda: parse_rate(value, rate))
        if getattr(self, other) is not None:
            checks.errors.append(FieldError(other, f"{self.kind} loans have no {other}"))
        checks.raise_if_any()
        return self

    @property
    def rate(self) -> Decimal:
        """The loan's interest rate in percent: annual for EMI, daily for payday."""
        value = self.annual_percent if self.kind is LoanKind.EMI else self.daily_percent
        if value is None:
            raise InvalidInput([FieldError(f"{self.kind}_rate", "the loan terms carry no interest rate")])
        return value
