"""The BRE's rules, inputs, thresholds and facts as a credit executive reads them on the loan and review pages:
readable rule names and every value in words with its unit (`45.00%`, `₹25,000.00 a month`, `12 days`, `yes`),
never the recorded keys and values (`max_dpd: 12`, `other_brand_borrower: True`). The records themselves (events,
`read.loans`, the API) keep their keys and strings (docs/bre.md, "Records")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from api.web import day, templates
from domain.shared.rupees import rupees

#: Each rule's name on a page.
RULE_NAMES = {
    "CREDIT_SCORE": "Credit score",
    "SALARY": "Monthly salary",
    "AGE": "Age",
    "PINCODE": "Pincode",
    "FOIR": "FOIR (obligations to income)",
    "EXISTING_LOANS": "Loans with other lenders",
    "DPD": "Days past due on existing credit",
    "BLOCKLIST": "Blocklist",
    "COOLDOWN": "Rejection cooldown",
    "CENTRAL_DEDUP": "Borrower of another brand",
}

#: The checks LOAN_FORCE_BYPASS skips (`facts.bypassed`).
CHECK_NAMES = {"bureau": "bureau", "bank_statement": "bank statement"}


def rule_name(rule: object) -> str:
    """`FOIR` -> `FOIR (obligations to income)`; an unknown rule with its underscores as spaces."""
    code = str(getattr(rule, "value", rule))
    return RULE_NAMES.get(code, code.replace("_", " ").capitalize())


def _count(one: str, many: str) -> Callable[[Any], str]:
    def said(value: Any) -> str:
        return f"{value} {one if str(value) == '1' else many}"

    return said


def _yes_no(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return {"yes": "yes", "no": "no", "true": "yes", "false": "no"}.get(str(value).lower(), str(value))


def _list(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v).replace("_", " ") for v in value) if value else "none"
    return str(value).replace("_", " ") if value else "none"


def _percent(value: Any) -> str:
    return f"{value}%"


def _a_month(value: Any) -> str:
    return f"{rupees(value)} a month"


def _date_or_never(value: Any) -> str:
    return "never" if value in (None, "none", "") else day(value)


#: What each input or fact key is called on a page, and how its value reads.
_INPUTS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "credit_score": ("Credit score", str),
    "monthly_salary": ("Monthly salary", _a_month),
    "date_of_birth": ("Date of birth", day),
    "age": ("Age", _count("year", "years")),
    "on": ("Age on", day),
    "pincode": ("Pincode", str),
    "existing_emis": ("Existing EMIs", _a_month),
    "proposed_emi": ("This loan's EMI", _a_month),
    "foir": ("FOIR", _percent),
    "existing_loans": ("Active loans with other lenders", _count("loan", "loans")),
    "max_dpd": ("Worst days past due", _count("day", "days")),
    "blocklist_hits": ("On the blocklist", _list),
    "last_rejected_on": ("Last rejected on", _date_or_never),
    "bypassed": ("Checks bypassed", lambda v: _list([CHECK_NAMES.get(c, c) for c in v] if isinstance(v, list) else v)),
    "other_brand_borrower": ("Borrower of another brand", _yes_no),
    "other_brand_rejected": ("Rejected by another brand", _yes_no),
    "rejected_there": ("Rejected there", _yes_no),
}

#: What a fact recorded as null means, where it is not "not known".
_NONE_SAYS = {
    "last_rejected_on": "never",  # no rejection in the brand
    "other_brand_borrower": "not checked",  # the brand's central_dedup is off
    "other_brand_rejected": "not checked",
}

#: Each rule's thresholds: the key's words and how its value reads.
_THRESHOLDS: dict[tuple[str, str], tuple[str, Callable[[Any], str]]] = {
    ("CREDIT_SCORE", "min"): ("Minimum score", str),
    ("SALARY", "min"): ("Minimum", _a_month),
    ("AGE", "min"): ("Minimum age", _count("year", "years")),
    ("AGE", "max"): ("Maximum age", _count("year", "years")),
    ("PINCODE", "serviceable"): (
        "Serviceable",
        lambda v: {"all": "every pincode", "listed": "the brand's list"}.get(v, v),
    ),
    ("FOIR", "max"): ("Maximum", _percent),
    ("EXISTING_LOANS", "max"): ("At most", _count("loan", "loans")),
    ("DPD", "max"): ("At most", _count("day", "days")),
    ("COOLDOWN", "days"): ("Wait after a rejection", _count("day", "days")),
}


def _said(label_and_value: tuple[str, Callable[[Any], str]] | None, key: str, value: Any) -> tuple[str, str]:
    if value is None:
        label = label_and_value[0] if label_and_value else key.replace("_", " ").capitalize()
        return label, _NONE_SAYS.get(key, "not known")
    if label_and_value is None:  # a key added later: readable, never raw
        shown = _yes_no(value) if isinstance(value, bool) else _list(value) if isinstance(value, list) else str(value)
        return key.replace("_", " ").capitalize(), shown
    label, how = label_and_value
    return label, how(value)


def bre_inputs(values: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """A rule's inputs, or the facts the BRE read, as (label, value in words) in their order."""
    return [_said(_INPUTS.get(k), k, v) for k, v in (values or {}).items()]


def bre_threshold(rule: object, values: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """A rule's thresholds as (label, value in words)."""
    code = str(getattr(rule, "value", rule))
    return [_said(_THRESHOLDS.get((code, k)), k, v) for k, v in (values or {}).items()]


def rule_setting(rule: object, minimum: object, maximum: object) -> str:
    """A product's configured rule in words: `Credit score: minimum score 700`, `FOIR (...): maximum 45%`."""
    code = str(getattr(rule, "value", rule))
    parts = [
        f"{label.lower()} {value}"
        for label, value in bre_threshold(
            code, {k: _plain(v) for k, v in (("min", minimum), ("max", maximum)) if v is not None}
        )
    ]
    return rule_name(code) + (": " + ", ".join(parts) if parts else "")


def _plain(value: object) -> str:
    text = f"{value:f}" if hasattr(value, "as_tuple") else str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


templates.filters["rule_name"] = rule_name
templates.filters["bre_inputs"] = bre_inputs
templates.globals["bre_threshold"] = bre_threshold
templates.globals["rule_setting"] = rule_setting
