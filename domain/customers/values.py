"""Value rules of borrower records: loan numbers, age, addresses (shared rules are in domain/shared/values.py)."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict

from domain.shared.errors import InvalidValue
from domain.shared.values import clean_text, text_problem

LOAN_NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{2,39}$")


def normalise_loan_number(raw: str, field: str = "loan_numbers") -> str:
    """Loan numbers are kept upper-case: letters, digits and / _ . - (3-40 characters)."""
    value = (raw or "").strip().upper()
    if not LOAN_NUMBER_PATTERN.match(value):
        raise InvalidValue(field, f"'{raw}' is not a valid loan number")
    return value


def check_date_of_birth(value: date, today: date, field: str = "date_of_birth") -> date:
    """A borrower is between 18 and 100 years old."""
    age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    if age < 18:
        raise InvalidValue(field, "borrower must be at least 18 years old")
    if age > 100:
        raise InvalidValue(field, "date of birth is more than 100 years ago")
    return value


class Address(BaseModel):
    """A postal address; `kind` says whose (current, permanent, office, parental, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = "current"
    line1: str
    line2: str | None = None
    city: str
    state: str | None = None
    pincode: str

    def checked(self, field: str = "addresses") -> Address:
        """Validate the pincode (six digits, not starting with 0) and the text: line1 and city must show something,
        and no part may hold control or bidi-override characters."""
        if not re.fullmatch(r"[1-9][0-9]{5}", self.pincode.strip()):
            raise InvalidValue(field, f"'{self.pincode}' is not a valid pincode")
        for part in ("line1", "city"):
            clean_text(getattr(self, part), f"{field}.{part}")
        for part in ("kind", "line2", "state"):
            value = getattr(self, part)
            if value and (problem := text_problem(value, multiline=False)) is not None:
                raise InvalidValue(f"{field}.{part}", problem)
        return self
