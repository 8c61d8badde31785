"""The brand settings that are lists and maps (#13 item 7): pincode serviceability, the provider of each service,
repayment holidays, rejection reason codes, the re-loan hike and monthly targets.

Their value types live in `BrandSettings` (domain/identity/brand_config.py); the `parse_*` functions are the
rules a **new** value must meet (run by `BrandSettings.changed` only, never on replay), each raising InvalidInput
naming the bad element (`rejection_reasons[2].code`, `monthly_targets.2026-13`).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.shared.errors import FieldError, InvalidInput, InvalidValue
from domain.shared.values import MONEY, DecimalRule, clean_text, parse_date

#: The services a brand picks a provider for.
SERVICES = ("sms", "whatsapp", "pan", "aadhaar", "penny_drop", "bureau", "bsa", "aa", "esign", "gateway")
#: The provider every service starts with: our simulators.
DEFAULT_PROVIDER = "simulator"

_PINCODE = re.compile(r"[1-9][0-9]{5}")
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_REASON_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,39}")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_PERCENT = DecimalRule(integer_digits=3, places=2, minimum=Decimal(0))
_MAX_PINCODES = 20_000
_MAX_ITEMS = 500


class HikeKind(StrEnum):
    """How a re-loan's amount grows over the previous loan's."""

    FIXED = "fixed"  # rupees added
    PERCENT = "percent"  # percent of the previous amount added


class ReloanHike(BaseModel):
    """The increase of each re-loan over the previous loan's amount."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: HikeKind = HikeKind.PERCENT
    value: Decimal = Decimal("0")


class ReasonCode(BaseModel):
    """A rejection or status reason: a code for reports and integrations, a label the customer is shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    label: str


class MonthlyTarget(BaseModel):
    """A month's targets: disbursal amount and count, collections amount."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    disbursal_amount: Decimal = Decimal("0.00")
    disbursal_count: int = 0
    collections: Decimal = Decimal("0.00")


def default_providers() -> dict[str, str]:
    """Every service on the simulator."""
    return dict.fromkeys(SERVICES, DEFAULT_PROVIDER)


def default_reasons() -> list[ReasonCode]:
    """A starting set of rejection reasons (the BRE's rules and the usual credit grounds)."""
    return [
        ReasonCode(code=code, label=label)
        for code, label in (
            ("LOW_CREDIT_SCORE", "Credit score below our minimum"),
            ("LOW_SALARY", "Income below our minimum"),
            ("AGE", "Age outside our eligibility range"),
            ("PINCODE", "We do not serve your area yet"),
            ("HIGH_FOIR", "Existing obligations too high for this loan"),
            ("EXISTING_LOANS", "Too many active loans"),
            ("DPD", "Overdue payments on existing credit"),
            ("BLOCKLISTED", "Not eligible with us"),
            ("COOLDOWN", "Recently rejected: please apply again later"),
            ("DOCUMENTS", "Documents incomplete or could not be verified"),
            ("OTHER", "Other"),
        )
    ]


def _items(raw: object, field: str, kind: type) -> list[Any]:
    if not isinstance(raw, kind):
        raise InvalidValue(field, f"must be a JSON {'list' if kind is list else 'object'}")
    assert isinstance(raw, list | dict)
    if len(raw) > (_MAX_PINCODES if field == "serviceable_pincodes" else _MAX_ITEMS):
        raise InvalidValue(field, "too many entries")
    return list(raw.items()) if isinstance(raw, dict) else list(raw)


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInput(errors[:20])


def parse_pincodes(raw: object, field: str) -> list[str]:
    """Six-digit Indian pincodes (not starting with 0), sorted and each once; empty: every pincode serviceable."""
    errors: list[FieldError] = []
    codes: set[str] = set()
    for i, item in enumerate(_items(raw, field, list)):
        text = item.strip() if isinstance(item, str) else None
        if text is None or not _PINCODE.fullmatch(text):
            errors.append(FieldError(f"{field}[{i}]", "must be a 6-digit pincode"))
        else:
            codes.add(text)
    _raise(errors)
    return sorted(codes)


def parse_providers(raw: object, field: str) -> dict[str, str]:
    """The provider of each service named (others keep theirs): lower-case names such as `msg91`, `simulator`."""
    errors: list[FieldError] = []
    chosen: dict[str, str] = {}
    for service, name in _items(raw, field, dict):
        at = f"{field}.{str(service)[:40]}"
        if service not in SERVICES:
            errors.append(FieldError(at, f"not a service; use one of {', '.join(SERVICES)}"))
        elif not isinstance(name, str) or not _PROVIDER.fullmatch(name):
            errors.append(FieldError(at, "a provider name: lower-case letters, digits, '_', '-' or '.', up to 40"))
        else:
            chosen[service] = name
    _raise(errors)
    return chosen


def parse_holidays(raw: object, field: str) -> list[date]:
    """Dates (YYYY-MM-DD) on which no instalment falls due, sorted and each once."""
    errors: list[FieldError] = []
    days: set[date] = set()
    for i, item in enumerate(_items(raw, field, list)):
        try:
            days.add(parse_date(item, f"{field}[{i}]"))
        except InvalidInput as exc:
            errors.extend(exc.errors)
    _raise(errors)
    return sorted(days)


def parse_reasons(raw: object, field: str) -> list[ReasonCode]:
    """Reason codes (`LOW_SALARY`: capitals, digits, '_') with a label each, every code once."""
    errors: list[FieldError] = []
    reasons: list[ReasonCode] = []
    seen: set[str] = set()
    for i, item in enumerate(_items(raw, field, list)):
        at = f"{field}[{i}]"
        if not isinstance(item, dict):
            errors.append(FieldError(at, 'must be an object {"code", "label"}'))
            continue
        unknown = sorted(set(item) - {"code", "label"})
        if unknown:
            errors.append(FieldError(f"{at}.{str(unknown[0])[:40]}", "unknown key; use code and label"))
            continue
        code = item.get("code")
        if not isinstance(code, str) or not _REASON_CODE.fullmatch(code):
            errors.append(FieldError(f"{at}.code", "2-40 capitals, digits or '_', starting with a letter"))
            continue
        if code in seen:
            errors.append(FieldError(f"{at}.code", f"{code} is listed twice"))
            continue
        try:
            label = clean_text(item.get("label") if isinstance(item.get("label"), str) else None, f"{at}.label")
        except InvalidInput as exc:
            errors.extend(exc.errors)
            continue
        if len(label) > 200:
            errors.append(FieldError(f"{at}.label", "at most 200 characters"))
            continue
        seen.add(code)
        reasons.append(ReasonCode(code=code, label=label))
    _raise(errors)
    return reasons


def parse_hike(raw: object, field: str) -> ReloanHike:
    """`{"kind": "fixed", "value": "5000"}` (rupees) or `{"kind": "percent", "value": "10"}` (0-100 %)."""
    if not isinstance(raw, dict):
        raise InvalidValue(field, 'must be an object {"kind": "fixed"|"percent", "value"}')
    unknown = sorted(set(raw) - {"kind", "value"})
    if unknown:
        raise InvalidValue(f"{field}.{str(unknown[0])[:40]}", "unknown key; use kind and value")
    kind = raw.get("kind")
    if kind not in (HikeKind.FIXED.value, HikeKind.PERCENT.value):
        raise InvalidValue(f"{field}.kind", "must be 'fixed' or 'percent'")
    if kind == HikeKind.FIXED.value:
        value = MONEY.parse(raw.get("value"), f"{field}.value")
    else:
        value = _PERCENT.parse(raw.get("value"), f"{field}.value")
        if value > 100:
            raise InvalidValue(f"{field}.value", "a percent hike must be at most 100")
    return ReloanHike(kind=HikeKind(kind), value=value)


def parse_targets(raw: object, field: str) -> dict[str, MonthlyTarget]:
    """Month (`2026-04`) → `{"disbursal_amount", "disbursal_count", "collections"}` (absent keys: 0)."""
    errors: list[FieldError] = []
    targets: dict[str, MonthlyTarget] = {}
    for month, target in _items(raw, field, dict):
        at = f"{field}.{str(month)[:40]}"
        if not isinstance(month, str) or not _MONTH.fullmatch(month) or not 1900 <= int(month[:4]) <= 2200:
            errors.append(FieldError(at, "a month written YYYY-MM"))
            continue
        if not isinstance(target, dict):
            errors.append(FieldError(at, 'must be an object {"disbursal_amount", "disbursal_count", "collections"}'))
            continue
        unknown = sorted(set(target) - set(MonthlyTarget.model_fields))
        if unknown:
            errors.append(FieldError(f"{at}.{str(unknown[0])[:40]}", "unknown key"))
            continue
        try:
            count = target.get("disbursal_count", 0)
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10_000_000:
                raise InvalidValue(f"{at}.disbursal_count", "a whole number from 0 to 10,000,000")
            targets[month] = MonthlyTarget(
                disbursal_amount=MONEY.parse(target.get("disbursal_amount", "0"), f"{at}.disbursal_amount"),
                disbursal_count=count,
                collections=MONEY.parse(target.get("collections", "0"), f"{at}.collections"),
            )
        except InvalidInput as exc:
            errors.extend(exc.errors)
    _raise(errors)
    return dict(sorted(targets.items()))


def merge_providers(current: dict[str, str], raw: object, field: str) -> dict[str, str]:
    """The providers after naming some services' (the others keep theirs)."""
    return {**current, **parse_providers(raw, field)}
