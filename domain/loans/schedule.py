"""Repayment schedules (LENDING.md, "Schedules"): EMI on a reducing balance, payday as one bullet instalment.

Amounts never depend on due dates: interest is per month (EMI) or per tenure day (payday), so moving a due date
off a Sunday or a holiday changes no amount.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from pydantic import BaseModel, ConfigDict

from domain.loans.due_dates import RepaymentCalendar, emi_due_date, payday_due_date
from domain.loans.money import percent_of, round_money
from domain.loans.terms import LoanKind, LoanTerms
from domain.shared.errors import InvalidValue


class Instalment(BaseModel):
    """One instalment: when it falls due, the balance it starts from, and its principal and interest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no: int
    due_date: date
    opening: Decimal
    principal: Decimal
    interest: Decimal

    @property
    def amount(self) -> Decimal:
        """What falls due: principal + interest (the EMI, except possibly on the last instalment)."""
        return self.principal + self.interest


class Schedule(BaseModel):
    """A loan's instalments from its terms and disbursal date; `emi` is the level instalment (None for payday)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    terms: LoanTerms
    disbursed_on: date
    emi: Decimal | None
    instalments: tuple[Instalment, ...]

    @property
    def kind(self) -> LoanKind:
        """EMI or payday."""
        return self.terms.kind

    @property
    def principal(self) -> Decimal:
        """The principal: the sanctioned amount."""
        return self.terms.principal

    @property
    def total_interest(self) -> Decimal:
        """Interest over the whole schedule."""
        return sum((i.interest for i in self.instalments), Decimal("0.00"))

    def period_start(self, no: int) -> date:
        """The start of instalment `no`'s period: the previous due date, or the disbursal date for the first."""
        return self.disbursed_on if no == 1 else self.instalments[no - 2].due_date


def monthly_rate(annual_percent: Decimal) -> Fraction:
    """`r = annual_percent / 1200`, exact (never rounded)."""
    return Fraction(annual_percent) / 1200


def emi_amount(principal: Decimal, annual_percent: Decimal, months: int) -> Decimal:
    """`round(P * r * (1 + r)**n / ((1 + r)**n - 1))`, or `round(P / n)` when `r == 0`."""
    r = monthly_rate(annual_percent)
    p = Fraction(principal)
    if r == 0:
        return round_money(p / months)
    growth = (1 + r) ** months
    return round_money(p * r * growth / (growth - 1))


def emi_schedule(terms: LoanTerms, disbursed_on: date, repayment_calendar: RepaymentCalendar) -> Schedule:
    """The EMI schedule: `interest_k = round(opening_k * r)`, `principal_k = EMI - interest_k`; the last instalment
    takes whatever principal is left (`principal_n = opening_n`) with `interest_n = round(opening_n * r)`."""
    assert terms.annual_percent is not None
    r = monthly_rate(terms.annual_percent)
    emi = emi_amount(terms.principal, terms.annual_percent, terms.tenure)
    opening = terms.principal
    instalments: list[Instalment] = []
    for k in range(1, terms.tenure + 1):
        interest = round_money(Fraction(opening) * r)
        principal = opening if k == terms.tenure else emi - interest
        if principal < 0 or principal > opening:
            # Only for an amount of a few rupees over a long tenure, where rounding the EMI up to the paisa repays
            # the principal before the last month: no product should lend that, and no schedule can be built.
            raise InvalidValue("principal", f"{terms.principal} is too small to repay over {terms.tenure} months")
        due = emi_due_date(disbursed_on, k, repayment_calendar)
        if instalments and due <= instalments[-1].due_date:
            raise InvalidValue("holidays", f"repayment holidays move instalment {k} onto or before instalment {k - 1}")
        instalments.append(Instalment(no=k, due_date=due, opening=opening, principal=principal, interest=interest))
        opening -= principal
    return Schedule(terms=terms, disbursed_on=disbursed_on, emi=emi, instalments=tuple(instalments))


def payday_schedule(terms: LoanTerms, disbursed_on: date, repayment_calendar: RepaymentCalendar) -> Schedule:
    """The bullet instalment of a payday loan: `interest = round(P * daily_percent / 100 * d)` after `d` days."""
    assert terms.daily_percent is not None
    interest = percent_of(terms.principal, terms.daily_percent, terms.tenure)
    instalment = Instalment(
        no=1,
        due_date=payday_due_date(disbursed_on, terms.tenure, repayment_calendar),
        opening=terms.principal,
        principal=terms.principal,
        interest=interest,
    )
    return Schedule(terms=terms, disbursed_on=disbursed_on, emi=None, instalments=(instalment,))


def build_schedule(terms: LoanTerms, disbursed_on: date, repayment_calendar: RepaymentCalendar) -> Schedule:
    """The schedule of a loan disbursed on `disbursed_on`, after checking its terms (InvalidInput names bad fields)."""
    terms.checked()
    if terms.kind is LoanKind.EMI:
        return emi_schedule(terms, disbursed_on, repayment_calendar)
    return payday_schedule(terms, disbursed_on, repayment_calendar)
