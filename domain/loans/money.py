"""Rupee amounts and percent rates of loans: exact arithmetic, one rounding rule (half up to the paisa).

Every figure of LENDING.md is `round(expression)` of exact inputs. The expression is evaluated here as an exact
rational (`fractions.Fraction`), and `round_money` is the only place it becomes a 2-place Decimal. This matters:
`r = annual_percent / 1200` is not a finite decimal for most rates (7 % gives 0.0058333…), and a 28-digit Decimal
`r` can put an exact half-paisa tie on the wrong side: opening 15,54,222.00 at 7 % owes 9066.295 exactly, so
9066.30, where `opening * (Decimal(7) / 1200)` rounds to 9066.29.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

from domain.shared.errors import InvalidValue
from domain.shared.values import MONEY, DecimalRule

#: One paisa.
PAISA = Decimal("0.01")
#: Zero rupees, written with its paise.
ZERO = Decimal("0.00")
#: The largest amount the books hold: MONEY's 14 digits and paise, as the read models' numeric(16, 2) columns and a
#: payment's amount. No figure of a loan passes it (penal charges stop there: `domain.loans.overdue`).
MONEY_CEILING = Decimal(10**MONEY.integer_digits) - PAISA

#: Percent rates (interest, penal, fee and coupon percentages, GST, FOIR): 0 to 999.9999, at most 4 places; like
#: MONEY, written in plain digits in every input ("1e1" typed for 1.1 % would be 10 %: a 422 naming the field).
RATE = DecimalRule(integer_digits=3, places=4, minimum=Decimal(0))
#: A percent rate as an API input (a string or number within RATE), like `Money` for rupees.
Percent = Annotated[Decimal, BeforeValidator(RATE.validate), WithJsonSchema(RATE.json_schema())]

Exact = Fraction | Decimal | int

# Wide enough that a product of amounts (16 digits), rates (7) and day counts is exact: Decimal arithmetic under
# this context rounds nothing before `quantize`.
_EXACT = Context(prec=60, rounding=ROUND_HALF_UP)


def round_money(value: Exact) -> Decimal:
    """`value` rounded half up (ties away from zero) to the paisa, as a Decimal with 2 places."""
    exact = Fraction(value)
    magnitude = abs(exact) * 100
    paise = int(magnitude + Fraction(1, 2))  # floor(x + 1/2): half up for x >= 0
    if exact < 0:
        paise = -paise
    return Decimal(paise).scaleb(-2)


def percent_of(amount: Decimal, percent: Decimal, times: int = 1) -> Decimal:
    """`round(amount * percent / 100 * times)`: a percent fee, a day's penal charge, payday interest for `times` days.

    The same figure as `round_money` of the exact fraction, computed in Decimal because every factor is a finite
    decimal (this runs for every overdue instalment at every close of business)."""
    exact = _EXACT.multiply(_EXACT.multiply(amount, percent), Decimal(times)).scaleb(-2, _EXACT)
    return exact.quantize(PAISA, rounding=ROUND_HALF_UP, context=_EXACT)


def parse_money(raw: object, field: str, *, positive: bool = False) -> Decimal:
    """An amount of rupees within MONEY (14 digits, paise, not negative); `positive` refuses zero too."""
    value = MONEY.parse(raw, field)
    if positive and value <= 0:
        raise InvalidValue(field, "must be more than 0")
    return value


def _positive_money_schema() -> dict[str, object]:
    """What `parse_money(..., positive=True)` accepts, for OpenAPI: MONEY's schema without zero (a number above 0; a
    decimal string with a digit other than 0, counted within MONEY's 14 digits and 2 places)."""
    digits, places = MONEY.integer_digits, MONEY.places
    decimals = rf"(\.[0-9]{{1,{places}}})?"
    # The first digit that is not 0: in the whole part (after `zeros` zeros), or else in the decimals.
    whole = "|".join(rf"0{{{zeros}}}[1-9][0-9]{{0,{digits - 1 - zeros}}}{decimals}" for zeros in range(digits))
    fraction = "|".join(rf"0{{{zeros}}}[1-9][0-9]{{0,{places - 1 - zeros}}}" for zeros in range(places))
    number = dict(next(s for s in MONEY.json_schema()["anyOf"] if s["type"] == "number"))  # type: ignore[attr-defined]
    del number["minimum"]
    number["exclusiveMinimum"] = 0.0
    string = {"type": "string", "pattern": rf"^(?:{whole}|0{{1,{digits}}}\.(?:{fraction}))$"}
    return {"anyOf": [number, string]}


#: An amount of rupees above 0 as an API input: MONEY's input (`Money`), stated without zero, where the command
#: refuses it (`parse_money(..., positive=True)`, "must be more than 0").
PositiveMoney = Annotated[Decimal, BeforeValidator(MONEY.validate), WithJsonSchema(_positive_money_schema())]


def parse_rate(raw: object, field: str, *, at_most: Decimal | None = None) -> Decimal:
    """A percent rate within RATE (0 to 999.9999, at most 4 places), and at most `at_most` when given."""
    value = RATE.parse(raw, field)
    if at_most is not None and value > at_most:
        raise InvalidValue(field, f"must be at most {at_most}")
    return value
