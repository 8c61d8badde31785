"""The product form of the portal: its fields to the terms the use cases take, and a product back to its fields.

One rate field serves both kinds (a year for EMI, a day for payday); the BRE rules are one row per configurable
rule (on/off, min, max); empty optional fields take the product defaults (no convenience fee, 18 % GST, no penal
charges, one active loan).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.loans.bre import ALWAYS, Rule
from projections.product_queries import ProductRecord

#: The rules a product may configure, in the order the form shows them, and which thresholds each takes.
RULE_ROWS: tuple[tuple[Rule, bool, bool, str], ...] = (
    (Rule.CREDIT_SCORE, True, False, "bureau score at least min"),
    (Rule.SALARY, True, False, "monthly salary at least min (brand minimum when empty)"),
    (Rule.AGE, True, True, "age within min-max (brand range when empty)"),
    (Rule.PINCODE, False, False, "pincode serviceable and not blocked"),
    (Rule.FOIR, False, True, "EMIs / salary at most max percent"),
    (Rule.EXISTING_LOANS, False, True, "loans with other lenders at most max"),
    (Rule.DPD, False, True, "worst days past due at most max"),
)
assert not {r for r, *_ in RULE_ROWS} & set(ALWAYS)

#: The form's plain fields.
FIELDS = (
    "code", "name", "type", "min_amount", "max_amount", "min_tenure", "max_tenure", "rate",
    "processing_fee_kind", "processing_fee_value", "convenience_fee_kind", "convenience_fee_value",
    "gst_percent", "penal_kind", "penal_daily_percent", "max_active_loans",
)  # fmt: skip
_CHECKS = ("processing_fee_gst_inclusive", "convenience_fee_gst_inclusive")


def form_values(get: Callable[[str], str]) -> dict[str, str]:
    """Every field of the product form, as text ('on' for ticked boxes), read with `get`."""
    values = {name: get(name).strip() for name in FIELDS}
    for name in _CHECKS:
        values[name] = "on" if get(name) else ""
    for rule, *_ in RULE_ROWS:
        for part in ("on", "min", "max"):
            key = f"bre_{rule.value}_{part}"
            values[key] = get(key).strip()
    return values


def terms_of(values: dict[str, str]) -> dict[str, Any]:
    """The terms the form's values say (the use case checks them and names each bad field)."""
    kind = values["type"] or "emi"
    terms: dict[str, Any] = {
        "name": values["name"],
        "kind": kind,
        "min_amount": values["min_amount"] or None,
        "max_amount": values["max_amount"] or None,
        "min_tenure": values["min_tenure"] or None,
        "max_tenure": values["max_tenure"] or None,
        "annual_percent": None,
        "daily_percent": None,
        "processing_fee": {
            "kind": values["processing_fee_kind"] or "percent",
            "value": values["processing_fee_value"] or "0",
            "gst_inclusive": bool(values["processing_fee_gst_inclusive"]),
        },
        "max_active_loans": values["max_active_loans"] or "1",
        "bre_rules": [],
    }
    terms["daily_percent" if kind == "payday" else "annual_percent"] = values["rate"] or None
    if values["convenience_fee_value"]:
        terms["convenience_fee"] = {
            "kind": values["convenience_fee_kind"] or "fixed",
            "value": values["convenience_fee_value"],
            "gst_inclusive": bool(values["convenience_fee_gst_inclusive"]),
        }
    if values["gst_percent"]:
        terms["gst_percent"] = values["gst_percent"]
    if values["penal_daily_percent"]:
        terms["penal"] = {"kind": values["penal_kind"] or "simple", "daily_percent": values["penal_daily_percent"]}
    for rule, *_ in RULE_ROWS:
        if values[f"bre_{rule.value}_on"]:
            row: dict[str, Any] = {"rule": rule.value}
            for part in ("min", "max"):
                if values[f"bre_{rule.value}_{part}"]:
                    row[part] = values[f"bre_{rule.value}_{part}"]
            terms["bre_rules"].append(row)
    return terms


def field_of(error_field: str, values: dict[str, str]) -> str:
    """The form field an error of the terms names (`annual_percent` is the form's `rate`; `bre_rules[2].min` the
    row of the third rule ticked)."""
    if error_field in ("annual_percent", "daily_percent", "kind"):
        return "rate" if error_field != "kind" else "type"
    if error_field.startswith("bre_rules["):
        ticked = [rule.value for rule, *_ in RULE_ROWS if values[f"bre_{rule.value}_on"]]
        index, _, part = error_field[len("bre_rules[") :].partition("]")
        if index.isdigit() and int(index) < len(ticked):
            return f"{ticked[int(index)]} {part.lstrip('.') or 'rule'}"
    return error_field.replace(".", " ")


def values_of(product: ProductRecord) -> dict[str, str]:
    """The form's values showing a product's terms (to edit them)."""
    rate = product.annual_percent if product.annual_percent is not None else product.daily_percent
    values = {
        "code": product.code,
        "name": product.name,
        "type": product.type.value,
        "min_amount": str(product.min_amount),
        "max_amount": str(product.max_amount),
        "min_tenure": str(product.min_tenure),
        "max_tenure": str(product.max_tenure),
        "rate": "" if rate is None else str(rate),
        "processing_fee_kind": product.processing_fee.kind.value,
        "processing_fee_value": str(product.processing_fee.value),
        "processing_fee_gst_inclusive": "on" if product.processing_fee.gst_inclusive else "",
        "convenience_fee_kind": product.convenience_fee.kind.value,
        "convenience_fee_value": str(product.convenience_fee.value) if product.convenience_fee.value else "",
        "convenience_fee_gst_inclusive": "on" if product.convenience_fee.gst_inclusive else "",
        "gst_percent": str(product.gst_percent),
        "penal_kind": product.penal.kind.value,
        "penal_daily_percent": str(product.penal.daily_percent) if product.penal.daily_percent else "",
        "max_active_loans": str(product.max_active_loans),
    }
    configured = {r.rule: r for r in product.bre_rules}
    for rule, *_ in RULE_ROWS:
        found = configured.get(rule)
        values[f"bre_{rule.value}_on"] = "on" if found else ""
        values[f"bre_{rule.value}_min"] = "" if found is None or found.min is None else str(found.min)
        values[f"bre_{rule.value}_max"] = "" if found is None or found.max is None else str(found.max)
    return values
