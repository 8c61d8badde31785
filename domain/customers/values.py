"""Value rules for borrower records: Indian phone numbers, PAN, email, names."""

from __future__ import annotations

import re
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict

from domain.shared.errors import InvalidValue

PAN_PATTERN = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
LOAN_NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{2,39}$")
DEFAULT_REGION = "IN"


def normalise_phone(raw: str, field: str = "phone") -> str:
    """Return `raw` in E.164; Indian numbers may be written as `98765 43210`, `098765-43210`, `+91 9876543210`."""
    text = (raw or "").strip()
    if not text:
        raise InvalidValue(field, "phone number is required")
    if re.search(r"[A-Za-z]", text):
        raise InvalidValue(field, f"'{raw}' is not a phone number")
    digits = re.sub(r"[^\d+]", "", text)
    # "0091 98765 43210" and "91 98765 43210" written without the plus sign.
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif len(digits) == 12 and digits.startswith("91"):
        digits = "+" + digits
    try:
        parsed = phonenumbers.parse(digits, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue(field, f"'{raw}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValue(field, f"'{raw}' is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(text: str) -> bool:
    """True when a search term is plausibly a phone number (digits with separators)."""
    digits = re.sub(r"[\s\-().+]", "", text)
    return digits.isdigit() and 10 <= len(digits) <= 14


def normalise_pan(raw: str, field: str = "pan") -> str:
    """Return an upper-case PAN after checking its format (five letters, four digits, a letter)."""
    pan = (raw or "").strip().upper()
    if not PAN_PATTERN.match(pan):
        raise InvalidValue(field, f"'{raw}' is not a valid PAN (expected e.g. ABCDE1234F)")
    return pan


def mask_pan(pan: str | None) -> str | None:
    """Mask a PAN for lists: ``ABCDE1234F`` -> ``ABCDE****F``."""
    if not pan:
        return None
    return pan[:5] + "****" + pan[-1]


def normalise_email(raw: str, field: str = "email") -> str:
    """Return a syntactically valid, normalised email address (no DNS lookups)."""
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidValue(field, f"'{raw}' is not a valid email address: {exc}") from exc


def normalise_name(raw: str, field: str = "name") -> str:
    """Collapse whitespace; a name needs at least two letters."""
    name = " ".join((raw or "").split())
    if len(name) < 2 or not re.search(r"[^\W\d_]", name):
        raise InvalidValue(field, "name must have at least two characters including a letter")
    if len(name) > 200:
        raise InvalidValue(field, "name must be at most 200 characters")
    return name


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
        """Validate the pincode (six digits, not starting with 0)."""
        if not re.fullmatch(r"[1-9][0-9]{5}", self.pincode.strip()):
            raise InvalidValue(field, f"'{self.pincode}' is not a valid pincode")
        return self
