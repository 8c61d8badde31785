"""The borrower web flow's step forms: the fields each step shows, the step's input built from a posted form, and
a form filled again from what the borrower last recorded."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from domain.onboarding.steps import Step
from domain.shared.errors import FieldError, field_path
from domain.shared.rupees import rupees

_ADDRESS_KINDS = ("current", "permanent", "office", "parental")
_ADDRESS_PARTS = ("line1", "line2", "city", "state", "pincode")


@dataclass(frozen=True)
class Field:
    """One input of a step's form."""

    name: str
    label: str
    kind: str = "text"  # text, tel, email, date, month, number, select, file
    required: bool = True
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    mode: str = ""  # inputmode for phone keyboards (numeric)
    accept: str = ""  # a file input's types
    document: str = ""  # a file input: the kind of document it uploads


@dataclass(frozen=True)
class Group:
    """A titled group of fields (an address)."""

    title: str
    fields: tuple[Field, ...]
    optional: bool = False


#: The web form's reference rows (the API takes up to `MAX_REFERENCES`).
_REFERENCE_ROWS = (1, 2)
_RELATIONS = (
    ("parent", "Parent"), ("spouse", "Spouse"), ("sibling", "Brother or sister"), ("child", "Son or daughter"),
    ("relative", "Other relative"), ("friend", "Friend"), ("colleague", "Colleague"), ("other", "Other"),
)  # fmt: skip


def _reference(n: int) -> Group:
    return Group(
        f"Reference {n} (someone we may call if we cannot reach you)",
        (
            Field(f"reference{n}_name", "Name", required=False),
            Field(f"reference{n}_relation", "Relation", "select", False, (("", "Choose"), *_RELATIONS)),
            Field(f"reference{n}_phone", "Mobile number", "tel", required=False, mode="numeric"),
        ),
        optional=True,
    )


def _address(kind: str, required: bool) -> Group:
    return Group(
        f"{kind.capitalize()} address",
        (
            Field(f"{kind}_line1", "House, street", required=required),
            Field(f"{kind}_line2", "Area, landmark", required=False),
            Field(f"{kind}_city", "City", required=required),
            Field(f"{kind}_state", "State", required=False),
            Field(f"{kind}_pincode", "Pincode", "text", required, mode="numeric"),
        ),
        optional=not required,
    )


#: The months a statement covers, asked beside its file (here and on the documents page): the upload's
#: `period_from`/`period_to`, as a phone's month picker sends them ("YYYY-MM").
STATEMENT_MONTHS = (
    Field("period_from", "First month on the statement", "month", False, hint="e.g. 2026-08"),
    Field("period_to", "Last month on the statement", "month", False, hint="e.g. 2026-10"),
)

FORMS: dict[Step, tuple[Group, ...]] = {
    Step.PAN: (
        Group(
            "",
            (
                Field("pan", "PAN", hint="As on the card, e.g. ABCDE1234F"),
                Field("name_on_pan", "Name on the PAN card", required=False),
            ),
        ),
    ),
    Step.PERSONAL: (
        Group(
            "",
            (
                Field("name", "Full name"),
                Field("date_of_birth", "Date of birth", "date"),
                Field(
                    "gender",
                    "Gender",
                    "select",
                    False,
                    (("", "Prefer not to say"), ("female", "Female"), ("male", "Male"), ("other", "Other")),
                ),
                Field("email", "Email", "email"),
            ),
        ),
        _address("current", True),
        _address("permanent", True),
        _address("office", False),
        _address("parental", False),
        *(_reference(n) for n in _REFERENCE_ROWS),
    ),
    Step.EMPLOYMENT: (
        Group(
            "",
            (
                Field("company_name", "Company name"),
                Field("designation", "Designation"),
                Field("date_of_joining", "Date of joining", "date"),
                Field("monthly_salary", "Monthly salary (₹)", "text", mode="decimal"),
                Field(
                    "salary_mode",
                    "Salary paid by",
                    "select",
                    options=(("bank", "Bank transfer"), ("cash", "Cash"), ("cheque", "Cheque"), ("other", "Other")),
                ),
                Field("salary_date", "Salary credited on day", "number", hint="Day of the month, 1-31", mode="numeric"),
                Field("office_address", "Office address"),
                Field("office_pincode", "Office pincode", mode="numeric"),
                Field("uan", "UAN", required=False, mode="numeric", hint="EPFO Universal Account Number"),
                Field(
                    "employment_type",
                    "Employment type",
                    "select",
                    options=(
                        ("full_time", "Full-time"),
                        ("part_time", "Part-time"),
                        ("contract", "Contract"),
                        ("freelance", "Freelance"),
                        ("gig", "Gig"),
                        ("self_employed", "Self-employed"),
                        ("other", "Other"),
                    ),
                ),
            ),
        ),
    ),
    Step.AADHAAR: (
        Group("", (Field("aadhaar_number", "Aadhaar number", mode="numeric"),)),
        Group(
            "Upload your Aadhaar card",
            (
                Field(
                    "aadhaar_front",
                    "Front of the card (photo or PDF)",
                    "file",
                    False,
                    accept="image/jpeg,image/png,application/pdf",
                    document="aadhaar_front",
                ),
            ),
        ),
    ),
    Step.SELFIE: (
        Group(
            "",
            (Field("selfie", "Take a selfie", "file", accept="image/jpeg,image/png", document="selfie"),),
        ),
    ),
    Step.BANK_ACCOUNT: (
        Group(
            "",
            (
                Field("account_number", "Account number", mode="numeric"),
                Field("ifsc", "IFSC"),
                Field("holder_name", "Account holder's name"),
            ),
        ),
    ),
    Step.BANK_STATEMENT: (
        Group(
            "Upload your statement",
            (
                Field(
                    "statement",
                    "Bank statement (PDF)",
                    "file",
                    False,
                    accept="application/pdf",
                    document="bank_statement",
                ),
                *STATEMENT_MONTHS,
            ),
        ),
    ),
    Step.LOAN_REQUEST: (
        Group(
            "",
            (
                Field("product_id", "Product"),
                Field("amount", "Amount (₹)", mode="decimal"),
                Field("tenure", "Tenure", "number", mode="numeric"),
                Field("coupon_code", "Coupon code", required=False),
            ),
        ),
    ),
}

#: How the status page names each step.
LABELS: dict[Step, str] = {
    Step.MOBILE: "Mobile number",
    Step.PAN: "PAN",
    Step.PERSONAL: "About you",
    Step.EMPLOYMENT: "Work",
    Step.AADHAAR: "Aadhaar",
    Step.SELFIE: "Selfie",
    Step.BANK_ACCOUNT: "Bank account",
    Step.BANK_STATEMENT: "Bank statement",
    Step.LOAN_REQUEST: "Loan request",
    Step.SUBMITTED: "Submitted",
}

TITLES: dict[Step, str] = {
    Step.PAN: "Your PAN",
    Step.PERSONAL: "About you",
    Step.EMPLOYMENT: "Your work",
    Step.AADHAAR: "Aadhaar",
    Step.SELFIE: "Selfie",
    Step.BANK_ACCOUNT: "Bank account",
    Step.BANK_STATEMENT: "Bank statement",
    Step.LOAN_REQUEST: "Your loan",
}


def loan_request_form(products: list[Any]) -> tuple[Group, ...]:
    """The loan request form with the brand's active products to choose from."""
    options = tuple(
        (
            str(p.id),
            f"{p.name}: {rupees(p.min_amount, paise=False)}–{rupees(p.max_amount, paise=False)}, "
            f"{p.min_tenure}–{p.max_tenure} {p.tenure_unit}",
        )
        for p in products
    )
    fields = FORMS[Step.LOAN_REQUEST][0].fields
    return (Group("", (Field("product_id", "Product", "select", options=options), *fields[1:])),)


def _blank_none(value: str) -> str | None:
    return value.strip() or None


def _personal(form: Mapping[str, str]) -> dict[str, Any]:
    addresses = []
    for kind in _ADDRESS_KINDS:
        parts = {part: form.get(f"{kind}_{part}", "").strip() for part in _ADDRESS_PARTS}
        if kind in ("office", "parental") and not any(parts.values()):
            continue
        addresses.append({"kind": kind, **{k: (v or None) if k in ("line2", "state") else v for k, v in parts.items()}})
    references = []
    for n in _REFERENCE_ROWS:
        parts = {part: form.get(f"reference{n}_{part}", "").strip() for part in ("name", "relation", "phone")}
        if any(parts.values()):  # a row left blank is no reference; a half-filled one is named by the model
            references.append(parts)
    return {
        "name": form.get("name", ""),
        "date_of_birth": form.get("date_of_birth", ""),
        "gender": _blank_none(form.get("gender", "")),
        "email": form.get("email", ""),
        "addresses": addresses,
        "references": references,
    }


def _aadhaar(form: Mapping[str, str]) -> dict[str, Any]:
    number = form.get("aadhaar_number", "")
    if form.get("aadhaar_front_document_id"):
        return {"method": "upload", "aadhaar_number": number, "document_id": form["aadhaar_front_document_id"]}
    # DigiLocker is the page's own button (a consent round trip), not a typed reference.
    return {"method": "upload", "aadhaar_number": number, "document_id": None}


def _statement(form: Mapping[str, str]) -> dict[str, Any]:
    if form.get("statement_document_id"):
        return {"method": "upload", "document_ids": [form["statement_document_id"]]}
    # The Account Aggregator is the page's own button (a consent round trip), not a typed consent id.
    return {"method": "upload", "document_ids": []}


_BUILDERS: dict[Step, Callable[[Mapping[str, str]], dict[str, Any]]] = {
    Step.PERSONAL: _personal,
    Step.AADHAAR: _aadhaar,
    Step.SELFIE: lambda f: {"document_id": f.get("selfie_document_id") or None},
    Step.BANK_STATEMENT: _statement,
}

#: Where a step's input field shows its error on the form, when the form names it otherwise.
_ERROR_FIELDS: dict[Step, dict[str, str]] = {
    Step.AADHAAR: {"document_id": "aadhaar_front", "file": "aadhaar_front"},
    Step.SELFIE: {"document_id": "selfie", "file": "selfie"},
    Step.BANK_STATEMENT: {"document_ids": "statement", "file": "statement"},
}


def step_months(step: Step) -> bool:
    """Whether the step's form asks the months its statement covers."""
    return any(f.kind == "month" for group in FORMS[step] for f in group.fields)


def file_fields(step: Step) -> list[Field]:
    """The step's file inputs."""
    return [f for group in FORMS[step] for f in group.fields if f.kind == "file"]


def step_input(step: Step, form: Mapping[str, str]) -> dict[str, Any]:
    """The step's input (to validate with its model) from a posted form; optional blanks become None."""
    build = _BUILDERS.get(step)
    if build is not None:
        return build(form)
    data: dict[str, Any] = {}
    for group in FORMS[step]:
        for field in group.fields:
            value = form.get(field.name, "")
            given = value if field.required else _blank_none(value)
            read: int | str | None = given
            if given is not None and field.kind == "number":
                read = _whole_number(given)
            elif given is not None and field.mode == "decimal":
                read = _plain_amount(given)
            data[field.name] = read
    return data


#: An amount as people write it: "45,000", "1,00,000.50" (Indian grouping: twos after the thousands), "1,000,000",
#: "₹ 45000".
_WRITTEN_AMOUNT = re.compile(r"(?:₹\s*)?(\d{1,3}(?:,\d{2})*,\d{3}|\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")


def _plain_amount(value: str) -> str:
    """An amount field's text without its grouping commas and rupee sign when it is a well-grouped amount (a phone's
    borrower types "45,000"; the step's model takes plain decimals), else the text as given, which the model refuses
    naming the field. The JSON API stays strict: only the web form reads written amounts."""
    found = _WRITTEN_AMOUNT.fullmatch(value.strip())
    return found.group(1).replace(",", "") + (found.group(2) or "") if found else value


def _whole_number(value: str) -> int | str:
    """A number field's text as the integer its plain digits spell (a form sends text; the step's model takes JSON
    integers only), else the text itself, which the model refuses naming the field."""
    text = value.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else value


def prefill(step: Step, details: Mapping[str, Any] | None) -> dict[str, str]:
    """The form's values from what was recorded (or posted)."""
    if not details:
        return {}
    values = {k: "" if v is None else str(v) for k, v in details.items() if not isinstance(v, list | dict)}
    for address in details.get("addresses", []) if isinstance(details.get("addresses"), list) else []:
        if isinstance(address, dict):
            for part in _ADDRESS_PARTS:
                values[f"{address.get('kind')}_{part}"] = str(address.get(part) or "")
    references = details.get("references")
    for n, reference in zip(_REFERENCE_ROWS, references if isinstance(references, list) else [], strict=False):
        if isinstance(reference, dict):
            for part in ("name", "relation", "phone"):
                values[f"reference{n}_{part}"] = str(reference.get(part) or "")
    return values


#: What a field says when the step's model refuses its shape, in the borrower's words (pydantic's - "Input should be
#: less than or equal to 31", "Input should be a valid integer" - are the JSON API's): whatever was wrong with it.
_PLAIN_FIELDS: dict[str, str] = {
    "salary_date": "enter the day of the month your salary comes, a number from 1 to 31",
    "tenure": "enter how long you want the loan for, as a whole number of months or days",
    "product_id": "choose a product",
    "aadhaar_front": "upload the front of your Aadhaar card again",
    "selfie": "take the selfie again",
    "statement": "upload the statement again",
}
#: An amount the web form could not read (`_plain_amount` reads "45,000", "1,00,000", "₹ 45000").
_PLAIN_AMOUNT = "enter the amount in rupees, e.g. 45,000"


def _plain_message(step: Step, field: str, error: Mapping[str, Any], form: Mapping[str, str]) -> str:
    """One pydantic error of the step's model in the borrower's words (the field as the form names it)."""
    kind = str(error["type"])
    context = error.get("ctx") or {}
    if field in _PLAIN_FIELDS:
        return _PLAIN_FIELDS[field]
    typed = form.get(field, "").strip()
    shown = next((f for group in FORMS[step] for f in group.fields if f.name == field), None)
    if kind == "missing" or (kind != "string_too_long" and not typed and shown is not None and shown.kind != "select"):
        return "fill this in"
    if kind == "string_too_long":
        return f"at most {context.get('max_length')} characters"
    if kind in ("literal_error", "enum"):
        return "choose one of the options"
    if kind == "too_long":
        return f"at most {context.get('max_length')} of them"
    if shown is not None and shown.mode == "decimal":
        return _PLAIN_AMOUNT
    if shown is not None and shown.kind == "date" and "YYYY-MM-DD" in str(error["msg"]):
        return "enter the date as year-month-day, e.g. 1990-05-31"
    if kind in ("int_type", "int_parsing", "greater_than_equal", "less_than_equal"):
        return "enter a whole number"
    return str(error["msg"]).removeprefix(
        "Value error, "
    )  # the domain's own words ("'2026-02-30' is not a calendar date")


def plain_errors(
    step: Step, exc: ValidationError, form: Mapping[str, str], tenure: str | None = None
) -> list[FieldError]:
    """The step model's refusal of a posted form as the flow shows it: each error named as the API names it (so it
    shows at its input, `field_of`) and said in the borrower's words, like the domain's own checks ("a UAN has 12
    digits"); `tenure`: what the chosen product's tenure is ("from 3 to 12 months"), when known."""
    errors = []
    for error in exc.errors():
        name = field_path(error["loc"]) or "step"
        if error["type"] == "extra_forbidden":
            errors.append(FieldError(name, "this form has a field we did not ask for; reload the page"))
            continue
        shown = _ERROR_FIELDS.get(step, {}).get(name.split(".")[0].split("[")[0], field_of(step, name, form))
        message = _plain_message(step, shown, error, form)
        if shown == "tenure" and tenure:
            message = f"enter how long you want the loan for, {tenure}"
        errors.append(FieldError(name, message))
    return errors


#: How the error summary names a step's field the borrower never typed (the API's name is not theirs): the list as a
#: whole, and one item of it (`document_ids[1]`: "Statement 2 you uploaded").
_SUMMARY_LABELS: dict[Step, dict[str, tuple[str, str]]] = {
    Step.BANK_STATEMENT: {"document_ids": ("The statements you uploaded", "Statement {n} you uploaded")},
}


def summary_line(step: Step, error: FieldError, form: Mapping[str, str] | None = None) -> str:
    """One line of a refused step's summary, in the borrower's words: a field they never typed is named as what
    they did ("The statements you uploaded cover …", "Statement 2 you uploaded: …"), an address's by its title and
    label ("Current address, Pincode: …", not "addresses[0]: …"); others by the field's name."""
    address = _address_field(error.field, form) if error.field.startswith("addresses") else None
    if address is not None:
        kind, part = address
        label = next((f.label for f in _address(kind, True).fields if f.name == f"{kind}_{part}"), None)
        return f"{kind.capitalize()} address{f', {label}' if label else ''}: {error.message}"
    found = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", error.field)
    labels = _SUMMARY_LABELS.get(step, {}).get(found.group(1)) if found else None
    if labels is None or found is None:
        return f"{error.field.replace('_', ' ')}: {error.message}"
    whole, item = labels
    if found.group(2) is not None:
        return f"{item.format(n=int(found.group(2)) + 1)}: {error.message}"
    if error.message.startswith("statements "):  # the coverage: "statements cover 2026-10..2026-11; …"
        return f"{whole} {error.message.removeprefix('statements ')}"
    return f"{whole}: {error.message}"


def address_kinds(form: Mapping[str, str]) -> list[str]:
    """The kinds of the addresses a posted personal form gives, in the order the step's input lists them (an
    optional address left blank is not in it), so `addresses[1]` of an error is found on the form."""
    kinds = []
    for kind in _ADDRESS_KINDS:
        given = any(form.get(f"{kind}_{part}", "").strip() for part in _ADDRESS_PARTS)
        if kind not in ("office", "parental") or given:
            kinds.append(kind)
    return kinds


def _address_field(error_field: str, form: Mapping[str, str] | None) -> tuple[str, str] | None:
    """The address kind and part an error of `addresses[i]` or `addresses[i].part` is about (an error of the whole
    address is its pincode's, the one check of the whole), when the posted form tells which address `i` is."""
    found = re.fullmatch(r"addresses\[(\d+)\](?:\.(\w+))?", error_field)
    kinds = address_kinds(form) if form is not None else []
    if found is None or int(found.group(1)) >= len(kinds):
        return None
    part = found.group(2) or "pincode"
    return (kinds[int(found.group(1))], part) if part in _ADDRESS_PARTS or part == "kind" else None


def field_of(step: Step, error_field: str, form: Mapping[str, str] | None = None) -> str:
    """The form field that shows a validation error: an address's error at its input (`current_pincode`) when the
    posted `form` tells which address it is, else under the addresses."""
    if error_field.startswith("addresses"):
        address = _address_field(error_field, form)
        if address is None or address[1] == "kind":
            return "addresses"
        return f"{address[0]}_{address[1]}"
    found = re.match(r"references\[(\d+)\]\.(name|relation|phone)", error_field)
    if found and int(found.group(1)) < len(_REFERENCE_ROWS):
        return f"reference{int(found.group(1)) + 1}_{found.group(2)}"
    name = error_field.split(".")[0].split("[")[0]
    return _ERROR_FIELDS.get(step, {}).get(name, name)
