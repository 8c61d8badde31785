"""The terms one version of a loan product records, and the input rules they are checked with.

`ProductTerms` holds plain values so that replaying a recorded version never fails; `checked()` runs every input
rule at once and raises one InvalidInput naming each bad field (`min_amount`, `processing_fee.value`,
`bre_rules[1].min`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.loans.money import parse_money, parse_rate
from domain.loans.pricing import DEFAULT_GST_PERCENT
from domain.loans.terms import HUNDRED, MAX_EMI_MONTHS, MAX_PAYDAY_DAYS, AmountKind, Fee, LoanKind, PenalTerms
from domain.products.rules import BreRule, parse_bre_rules
from domain.shared.errors import FieldChecks, FieldError, InvalidInput, InvalidValue, field_path
from domain.shared.values import clean_text, refuse_exponent, stripped_pattern

#: Product and coupon codes as typed: a letter or digit, then letters, digits, '-' or '_' (ASCII, any case; compared
#: and stored upper-case).
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,31}")
#: The rule as the API's schemas state it (JSON Schema, ECMA-262): a code with surrounding whitespace (trimmed).
CODE_PATTERN = stripped_pattern(CODE.pattern)
#: The most loans one borrower may hold on one product at once.
MAX_ACTIVE_LOANS = 100
#: No convenience fee.
NO_FEE = Fee(kind=AmountKind.FIXED, value=Decimal("0.00"))


def normalise_code(raw: object, field: str = "code") -> str:
    """A product or coupon code: 2 to 32 letters, digits, '-' or '_' (compared and stored upper-case). Checked as
    typed, before upper-casing: "ı" or "ß", which upper-case to "I" and "SS", were taken as codes they are not
    (and a pattern could not state which of them were)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not CODE.fullmatch(text):
        raise InvalidValue(field, "must be 2 to 32 letters, digits, '-' or '_', starting with a letter or digit")
    return text.upper()


def tenure_unit(kind: LoanKind) -> str:
    """What a tenure counts for a kind of loan."""
    return "months" if kind is LoanKind.EMI else "days"


def longest_tenure(kind: LoanKind) -> int:
    """The longest tenure a product of `kind` may offer."""
    return MAX_EMI_MONTHS if kind is LoanKind.EMI else MAX_PAYDAY_DAYS


class ProductTerms(BaseModel):
    """Everything one version of a product says: ranges, interest, fees and GST, penal terms, limits, BRE rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: LoanKind
    min_amount: Decimal
    max_amount: Decimal
    min_tenure: int
    max_tenure: int
    annual_percent: Decimal | None = None
    daily_percent: Decimal | None = None
    processing_fee: Fee
    convenience_fee: Fee = NO_FEE
    gst_percent: Decimal = DEFAULT_GST_PERCENT
    penal: PenalTerms = PenalTerms()
    max_active_loans: int = 1
    bre_rules: tuple[BreRule, ...] = ()

    @property
    def rate(self) -> Decimal:
        """The interest rate in percent: annual for EMI products, daily for payday ones."""
        value = self.annual_percent if self.kind is LoanKind.EMI else self.daily_percent
        return value if value is not None else Decimal(0)

    def checked(self) -> ProductTerms:
        """The terms with every value normalised, when every input rule holds; InvalidInput naming each bad field."""
        checks = FieldChecks()
        name = checks.check(lambda: " ".join(clean_text(self.name, "name", min_visible=2).split()))
        if name is not None and len(name) > 100:
            checks.errors.append(FieldError("name", "at most 100 characters"))
        low = checks.check(lambda: parse_money(self.min_amount, "min_amount", positive=True))
        high = checks.check(lambda: parse_money(self.max_amount, "max_amount", positive=True))
        if low is not None and high is not None and low > high:
            checks.errors.append(FieldError("min_amount", f"must not be above max_amount ({high})"))
        longest, unit = longest_tenure(self.kind), tenure_unit(self.kind)
        for field in ("min_tenure", "max_tenure"):
            if not 1 <= getattr(self, field) <= longest:
                checks.errors.append(FieldError(field, f"must be between 1 and {longest} {unit} for {self.kind} loans"))
        if self.min_tenure > self.max_tenure:
            checks.errors.append(FieldError("min_tenure", f"must not be above max_tenure ({self.max_tenure})"))
        rates: dict[str, Decimal | None] = {"annual_percent": None, "daily_percent": None}
        rate, other = ("annual_percent", "daily_percent")[:: 1 if self.kind is LoanKind.EMI else -1]
        given = getattr(self, rate)
        if given is None:
            checks.errors.append(FieldError(rate, f"{self.kind} products need {rate}"))
        else:
            rates[rate] = checks.check(lambda: parse_rate(given, rate))
        if getattr(self, other) is not None:
            checks.errors.append(FieldError(other, f"{self.kind} products have no {other}"))
        processing = checks.check(lambda: _fee(self.processing_fee, "processing_fee"))
        convenience = checks.check(lambda: _fee(self.convenience_fee, "convenience_fee"))
        gst = checks.check(lambda: parse_rate(self.gst_percent, "gst_percent", at_most=HUNDRED))
        penal = checks.check(lambda: _penal(self.penal))
        if not 1 <= self.max_active_loans <= MAX_ACTIVE_LOANS:
            checks.errors.append(FieldError("max_active_loans", f"must be between 1 and {MAX_ACTIVE_LOANS}"))
        rules = checks.check(lambda: parse_bre_rules(self.bre_rules))
        checks.raise_if_any()
        assert name and low and high and processing and convenience and gst is not None and penal and rules is not None
        return self.model_copy(
            update={
                "name": name,
                "min_amount": low,
                "max_amount": high,
                **rates,
                "processing_fee": processing,
                "convenience_fee": convenience,
                "gst_percent": gst,
                "penal": penal,
                "bre_rules": rules,
            }
        )


def _fee(fee: Fee, field: str) -> Fee:
    fee.checked(field)
    value = fee.value
    if fee.kind is AmountKind.PERCENT:
        value = parse_rate(value, f"{field}.value", at_most=HUNDRED)
    else:
        value = parse_money(value, f"{field}.value")
    return Fee(kind=fee.kind, value=value, gst_inclusive=fee.gst_inclusive)


def _penal(penal: PenalTerms) -> PenalTerms:
    penal.checked("penal")
    return PenalTerms(kind=penal.kind, daily_percent=parse_rate(penal.daily_percent, "penal.daily_percent"))


def terms_from(values: Mapping[str, Any]) -> ProductTerms:
    """Terms from raw values (a form, a merged patch), checked; InvalidInput naming each bad field."""
    errors = _exponents(ProductTerms, values)
    try:
        terms = ProductTerms.model_validate(dict(values))
    except ValidationError as exc:
        raise InvalidInput(
            errors + [FieldError(field_path(e["loc"]) or "body", str(e["msg"])) for e in exc.errors()]
        ) from None
    try:
        checked = terms.checked()
    except InvalidInput as exc:
        named = {e.field for e in errors}
        raise InvalidInput(errors + [e for e in exc.errors if e.field not in named]) from None
    if errors:
        raise InvalidInput(errors)
    return checked


def _exponents(model: type[BaseModel], raw: object, at: str = "") -> list[FieldError]:
    """The decimal fields of `raw` (read as `model`, nested models and their lists too) given as text written with an
    exponent (`refuse_exponent`): the model reads "1e1" as Decimal("1E+1"), which the input rules (MONEY, RATE) then
    take as a number computed here rather than text typed, so a form's "1e1" would be 10."""
    errors: list[FieldError] = []
    if not isinstance(raw, Mapping):
        return errors
    for name, info in model.model_fields.items():
        value, field = raw.get(name), f"{at}.{name}" if at else name
        members = get_args(info.annotation) or (info.annotation,)
        nested = next((m for m in members if isinstance(m, type) and issubclass(m, BaseModel)), None)
        if isinstance(value, str) and Decimal in members:
            try:
                refuse_exponent(value, field)
            except InvalidInput as exc:
                errors += exc.errors
        elif nested is not None and isinstance(value, list | tuple):
            for i, item in enumerate(value):
                errors += _exponents(nested, item, f"{field}[{i}]")
        elif nested is not None:
            errors += _exponents(nested, value, field)
    return errors
