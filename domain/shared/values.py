"""Value rules shared by every context: Indian phone numbers, PAN, email addresses, personal names."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from domain.shared.errors import InvalidValue

PAN_PATTERN = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
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
