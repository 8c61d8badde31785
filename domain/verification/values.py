"""Value rules of verification: account, IFSC and Aadhaar formats, masking, and the name match threshold."""

from __future__ import annotations

import re
from enum import StrEnum

from domain.shared import formats
from domain.shared.errors import InvalidValue

#: A provider's name and ours match at this rapidfuzz score (0-100) or above.
NAME_MATCH_MIN = 80
_IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
_ACCOUNT = re.compile(r"[0-9]{9,18}")
#: The forms given that the parsers read (domain.shared.formats: the API states the same patterns).
_IFSC_INPUT = re.compile(formats.IFSC)
_ACCOUNT_INPUT = re.compile(formats.ACCOUNT_NUMBER)


class CheckKind(StrEnum):
    """The verifications kept on a borrower's KYC profile (penny drops are on each bank account)."""

    PAN = "pan"
    AADHAAR = "aadhaar"
    BUREAU = "bureau"
    STATEMENT = "statement"


class CheckStatus(StrEnum):
    """Where a verification stands."""

    PENDING = "pending"  # waiting for the borrower (a consent at DigiLocker or the Account Aggregator)
    VERIFIED = "verified"
    NOT_VERIFIED = "not_verified"  # the provider answered, and the answer does not verify (mismatch, invalid)
    FAILED = "failed"  # the provider could not answer: nothing is known yet, retry


def normalise_ifsc(raw: str, field: str = "ifsc") -> str:
    """An IFSC: four letters, a zero, six letters or digits."""
    value = raw.strip().upper()
    if not _IFSC_INPUT.fullmatch(raw) or not _IFSC.fullmatch(value):
        raise InvalidValue(field, f"'{raw.strip()[:20]}' is not an IFSC (four letters, 0, six letters or digits)")
    return value


def normalise_account_number(raw: str, field: str = "account_number") -> str:
    """A bank account number: 9 to 18 digits (spaces and dashes ignored)."""
    value = re.sub(r"[\s-]", "", raw)
    if not _ACCOUNT_INPUT.fullmatch(raw) or not _ACCOUNT.fullmatch(value):
        raise InvalidValue(field, "a bank account number has 9 to 18 digits")
    return value


def mask_account(number: str) -> str:
    """An account number with only its last four digits shown."""
    return "X" * (len(number) - 4) + number[-4:]


def mask_aadhaar(raw: str | None) -> str | None:
    """An Aadhaar number shown as XXXX XXXX 1234 (whatever spelling or masking the provider gave)."""
    if not raw:
        return None
    digits = re.sub(r"[^0-9]", "", raw)
    return f"XXXX XXXX {digits[-4:]}" if len(digits) >= 4 else "XXXX XXXX XXXX"
