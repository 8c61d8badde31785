"""The onboarding funnel's steps, in order, and the checked details each step records.

Each step's input is a pydantic model (the API's request body too); `checked()` applies the domain rules and
returns the details as recorded on the event (JSON values: dates as ISO text, money as text), raising one
InvalidInput naming every failing field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import partial
from types import MappingProxyType
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from domain.blocklist.entry import BlockKind, aadhaar_digest, normalise_blocked_value
from domain.customers.values import Address, check_date_of_birth
from domain.shared import formats
from domain.shared.clock import DEFAULT_TIMEZONE, brand_business_date
from domain.shared.errors import FieldChecks, InvalidInput, InvalidValue
from domain.shared.values import (
    BusinessDate,
    PositiveMoney,
    WholeNumber,
    clean_text,
    normalise_email,
    normalise_name,
    normalise_pan,
    normalise_phone,
    stated_pattern,
    visible_pattern,
)


class Step(StrEnum):
    """A funnel step; the order of the members is the funnel's order."""

    MOBILE = "mobile"
    PAN = "pan"
    PERSONAL = "personal"
    EMPLOYMENT = "employment"
    AADHAAR = "aadhaar"
    SELFIE = "selfie"
    BANK_ACCOUNT = "bank_account"
    BANK_STATEMENT = "bank_statement"
    LOAN_REQUEST = "loan_request"
    SUBMITTED = "submitted"

    @property
    def position(self) -> int:
        """Position in the funnel (mobile is 0)."""
        return STEPS.index(self)


STEPS: tuple[Step, ...] = tuple(Step)
#: How staff pages name each step (`bank account`, `PAN`): the borrower's own pages have theirs (api/pages/
#: borrower_forms.LABELS, written to the borrower).
STEP_WORDS: Mapping[Step, str] = MappingProxyType(
    {
        Step.MOBILE: "mobile number",
        Step.PAN: "PAN",
        Step.PERSONAL: "personal details",
        Step.EMPLOYMENT: "employment",
        Step.AADHAAR: "Aadhaar",
        Step.SELFIE: "selfie",
        Step.BANK_ACCOUNT: "bank account",
        Step.BANK_STATEMENT: "bank statement",
        Step.LOAN_REQUEST: "loan request",
        Step.SUBMITTED: "submitted",
    }
)
#: Steps a borrower records with `PUT /api/v1/borrower/steps/{step}` (mobile is signing in; loan_request and
#: submitted come from the application endpoints, or are recorded directly when no loans desk is wired).
FORM_STEPS: tuple[Step, ...] = (
    Step.PAN,
    Step.PERSONAL,
    Step.EMPLOYMENT,
    Step.AADHAAR,
    Step.SELFIE,
    Step.BANK_ACCOUNT,
    Step.BANK_STATEMENT,
    Step.LOAN_REQUEST,
)


class FunnelRules(BaseModel):
    """What a brand's settings decide about its funnel."""

    model_config = ConfigDict(frozen=True)

    require_employment: bool = True
    require_selfie: bool = False
    auto_reject_inactive: bool = False
    inactive_days: int = 30
    account_aggregation: bool = True  # the brand takes statements through Account Aggregator consent
    bank_statement_months: int = 3  # uploaded statements must cover this many complete months before `today`
    timezone: str = DEFAULT_TIMEZONE  # the brand's business day: whose "today" the statement months count back from
    rejection_cooldown_days: int = 15  # a rejected borrower may apply again this many days after (brand setting)
    business_date: date | None = None  # the brand's configured business date, when it runs as of one (as the BRE)
    reloan_refresh_days: int | None = None  # a re-loan offer asks again for income and bank data older than this

    def today(self, now: datetime) -> date:
        """The brand's business date at `now`, as the BRE and the statement months read it: the configured one,
        else today in its timezone."""
        return brand_business_date(now, self.timezone, self.business_date)

    def inactive_before(self, as_of: date) -> datetime:
        """The funnels the inactivity close takes on the business day `as_of`: those last touched before the start of
        the day `inactive_days` earlier, in the brand's timezone (at UTC midnight, a funnel touched between 00:00 and
        05:30 IST was closed a day early, and its rejection's cooldown began with it)."""
        return datetime.combine(as_of, time.min, tzinfo=ZoneInfo(self.timezone)) - timedelta(days=self.inactive_days)

    def required(self) -> tuple[Step, ...]:
        """The steps a borrower must finish, in order."""
        skipped = set()
        if not self.require_employment:
            skipped.add(Step.EMPLOYMENT)
        if not self.require_selfie:
            skipped.add(Step.SELFIE)
        return tuple(s for s in STEPS if s not in skipped)


_STRICT = ConfigDict(extra="forbid", frozen=True)


#: `_text`'s rule as a field's `json_schema_extra`: a visible character at least, one line once stripped.
_ONE_LINE: JsonDict = {"pattern": visible_pattern(1, multiline=False, stripped=True)}


def _text(value: str, field: str, max_len: int = 200) -> str:
    clean = " ".join(clean_text(value, field, multiline=False).split())
    if len(clean) > max_len:
        raise InvalidValue(field, f"at most {max_len} characters")
    return clean


#: The forms given that the steps read (domain.shared.formats: the API states the same patterns).
_PINCODE = re.compile(formats.PINCODE)
_UAN = re.compile(formats.UAN)
_ACCOUNT_NUMBER = re.compile(formats.ACCOUNT_NUMBER)
_IFSC = re.compile(formats.IFSC)


def _pincode(value: str, field: str) -> str:
    clean = value.strip()
    if not _PINCODE.fullmatch(value):
        raise InvalidValue(field, f"'{value}' is not a valid pincode")
    return clean


class PanIn(BaseModel):
    """The borrower's PAN (and, optionally, the name printed on it)."""

    model_config = _STRICT

    pan: Annotated[str, Field(max_length=20), stated_pattern(formats.PAN, max_length=20)]
    name_on_pan: str | None = Field(None, max_length=200)

    def checked(self, today: date) -> dict[str, Any]:
        checks = FieldChecks()
        pan = checks.check(lambda: normalise_pan(self.pan))
        given = self.name_on_pan
        name = checks.check(lambda: normalise_name(given, "name_on_pan")) if given else None
        checks.raise_if_any()
        return {"pan": pan, "name_on_pan": name}


AddressKind = Literal["current", "permanent", "office", "parental"]


class AddressIn(BaseModel):
    """One address of the borrower."""

    model_config = _STRICT

    kind: AddressKind
    line1: str = Field(max_length=200, json_schema_extra=_ONE_LINE)
    line2: str | None = Field(None, max_length=200)
    city: str = Field(max_length=100, json_schema_extra=_ONE_LINE)
    state: str | None = Field(None, max_length=100)
    pincode: Annotated[str, Field(max_length=10), stated_pattern(formats.PINCODE, max_length=10)]


Relation = Literal["parent", "spouse", "sibling", "child", "relative", "friend", "colleague", "other"]
#: How many references (family members or others to reach the borrower through) the personal step takes.
MAX_REFERENCES = 3


class ReferenceIn(BaseModel):
    """A family member or reference the lender may call (spec: "alternate phone numbers (family members or
    references)"): kept on the borrower's record as an alternate phone labelled with the relation and name."""

    model_config = _STRICT

    name: str = Field(max_length=200)
    relation: Relation
    phone: str = Field(max_length=20)


class PersonalIn(BaseModel):
    """Name, date of birth, gender, email, addresses (current and permanent required; office, parental) and up to
    three references (optional)."""

    model_config = _STRICT

    name: str = Field(max_length=200)
    date_of_birth: BusinessDate
    gender: Literal["female", "male", "other"] | None = None
    email: str = Field(max_length=254)
    addresses: list[AddressIn] = Field(max_length=4)
    references: list[ReferenceIn] = Field(default_factory=list, max_length=MAX_REFERENCES)

    def checked(self, today: date) -> dict[str, Any]:
        checks = FieldChecks()
        name = checks.check(lambda: normalise_name(self.name))
        checks.check(lambda: check_date_of_birth(self.date_of_birth, today))
        email = checks.check(lambda: normalise_email(self.email))
        kinds = [a.kind for a in self.addresses]
        for needed in ("current", "permanent"):
            if needed not in kinds:
                checks.errors.append(InvalidValue("addresses", f"give the {needed} address").errors[0])
        if len(set(kinds)) != len(kinds):
            checks.errors.append(InvalidValue("addresses", "give each kind of address once").errors[0])
        addresses = []
        for i, a in enumerate(self.addresses):
            address = Address(kind=a.kind, line1=a.line1, line2=a.line2, city=a.city, state=a.state, pincode=a.pincode)
            if (kept := checks.check(partial(address.checked, f"addresses[{i}]"))) is not None:
                addresses.append(kept.model_dump(mode="json"))
        references: list[dict[str, str]] = []
        for i, r in enumerate(self.references):
            who = checks.check(partial(normalise_name, r.name, f"references[{i}].name"))
            phone = checks.check(partial(normalise_phone, r.phone, f"references[{i}].phone"))
            if phone is not None and phone in {x["phone"] for x in references}:
                checks.errors.append(
                    InvalidValue(f"references[{i}].phone", "give each reference's phone once").errors[0]
                )
            elif who is not None and phone is not None:
                references.append({"name": who, "relation": r.relation, "phone": phone})
        checks.raise_if_any()
        details: dict[str, Any] = {
            "name": name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "gender": self.gender,
            "email": email,
            "addresses": addresses,
        }
        if references:
            details["references"] = references
        return details


SalaryMode = Literal["bank", "cash", "cheque", "other"]
EmploymentType = Literal["full_time", "part_time", "contract", "freelance", "gig", "self_employed", "other"]
_MAX_SALARY = Decimal("100000000")


class EmploymentIn(BaseModel):
    """Employment as the spec lists it: company and designation, date of joining, monthly salary, mode of salary,
    expected salary date (day of month), office address and pincode, UAN (optional), employment type."""

    model_config = _STRICT

    company_name: str = Field(max_length=200, json_schema_extra=_ONE_LINE)
    designation: str = Field(max_length=200, json_schema_extra=_ONE_LINE)
    date_of_joining: BusinessDate
    monthly_salary: PositiveMoney = Field(description="Above 0 and below 10 crore")
    salary_mode: SalaryMode
    salary_date: WholeNumber = Field(ge=1, le=31, description="Day of the month the salary is credited")
    office_address: str = Field(max_length=300, json_schema_extra=_ONE_LINE)
    office_pincode: Annotated[str, Field(max_length=10), stated_pattern(formats.PINCODE, max_length=10)]
    uan: Annotated[str, Field(max_length=20), stated_pattern(formats.UAN, max_length=20)] | None = Field(
        None, description="EPFO Universal Account Number (12 digits; blank is none)"
    )
    employment_type: EmploymentType

    def checked(self, today: date) -> dict[str, Any]:
        checks = FieldChecks()
        company = checks.check(lambda: _text(self.company_name, "company_name"))
        designation = checks.check(lambda: _text(self.designation, "designation"))
        office = checks.check(lambda: _text(self.office_address, "office_address", 300))
        pincode = checks.check(lambda: _pincode(self.office_pincode, "office_pincode"))
        if self.date_of_joining > today:
            checks.errors.append(InvalidValue("date_of_joining", "is in the future").errors[0])
        elif self.date_of_joining.year < today.year - 70:
            checks.errors.append(InvalidValue("date_of_joining", "is more than 70 years ago").errors[0])
        if not Decimal(0) < self.monthly_salary < _MAX_SALARY:
            checks.errors.append(InvalidValue("monthly_salary", "must be above 0 and below 10 crore").errors[0])
        uan = None
        if self.uan is not None and self.uan.strip():
            uan = self.uan.strip()
            if not _UAN.fullmatch(self.uan):
                checks.errors.append(InvalidValue("uan", "a UAN has 12 digits").errors[0])
        checks.raise_if_any()
        return {
            "company_name": company,
            "designation": designation,
            "date_of_joining": self.date_of_joining.isoformat(),
            "monthly_salary": str(self.monthly_salary.quantize(Decimal("0.01"))),
            "salary_mode": self.salary_mode,
            "salary_date": self.salary_date,
            "office_address": office,
            "office_pincode": pincode,
            "uan": uan,
            "employment_type": self.employment_type,
        }


class AadhaarIn(BaseModel):
    """Aadhaar through DigiLocker (its reference) or an uploaded copy (its document id)."""

    model_config = _STRICT

    method: Literal["digilocker", "upload"]
    aadhaar_number: Annotated[str, Field(max_length=20), stated_pattern(formats.AADHAAR_SHAPE, max_length=20)]
    digilocker_reference: str | None = Field(None, max_length=100)
    document_id: UUID | None = None

    def checked(self, today: date) -> dict[str, Any]:
        checks = FieldChecks()
        number = checks.check(lambda: _aadhaar(self.aadhaar_number))
        reference = None
        if self.method == "digilocker":
            if not (self.digilocker_reference or "").strip():
                checks.errors.append(InvalidValue("digilocker_reference", "give the DigiLocker reference").errors[0])
            else:
                reference = checks.check(lambda: _text(self.digilocker_reference or "", "digilocker_reference"))
        elif self.document_id is None:
            checks.errors.append(InvalidValue("document_id", "upload the Aadhaar copy first").errors[0])
        checks.raise_if_any()
        return {
            "method": self.method,
            # Kept masked, as UIDAI asks: the last four digits (checking the number is the verification's work).
            "aadhaar_number": kept_aadhaar(number or ""),
            # Its digest (last four and a SHA-256), so the BRE can match the blocklist's Aadhaar (docs/bre.md).
            "aadhaar_digest": aadhaar_digest(number or ""),
            "digilocker_reference": reference,
            "document_id": str(self.document_id) if self.document_id else None,
        }


def _aadhaar(raw: str) -> str:
    try:
        return normalise_blocked_value(BlockKind.AADHAAR, raw)
    except InvalidInput as exc:
        raise InvalidValue("aadhaar_number", exc.errors[0].message) from None


class SelfieIn(BaseModel):
    """The selfie (or liveness video) document."""

    model_config = _STRICT

    document_id: UUID

    def checked(self, today: date) -> dict[str, Any]:
        return {"document_id": str(self.document_id)}


class BankAccountIn(BaseModel):
    """The account the loan is paid into."""

    model_config = _STRICT

    account_number: Annotated[str, Field(max_length=30), stated_pattern(formats.ACCOUNT_NUMBER, max_length=30)]
    ifsc: Annotated[str, Field(max_length=20), stated_pattern(formats.IFSC, max_length=20)]
    holder_name: str = Field(max_length=200)

    def checked(self, today: date) -> dict[str, Any]:
        checks = FieldChecks()
        number = re.sub(r"[\s-]", "", self.account_number)
        if not _ACCOUNT_NUMBER.fullmatch(self.account_number):
            checks.errors.append(InvalidValue("account_number", "a bank account number has 9 to 18 digits").errors[0])
        ifsc = self.ifsc.strip().upper()
        if not _IFSC.fullmatch(self.ifsc):
            checks.errors.append(InvalidValue("ifsc", f"'{self.ifsc}' is not a valid IFSC").errors[0])
        holder = checks.check(lambda: normalise_name(self.holder_name, "holder_name"))
        checks.raise_if_any()
        return {"account_number": number, "ifsc": ifsc, "holder_name": holder}


class BankStatementIn(BaseModel):
    """Statements: uploaded documents, or an Account Aggregator consent."""

    model_config = _STRICT

    method: Literal["upload", "account_aggregator"]
    # One file a month for the most months a brand may ask (`bank_statement_months` goes up to 24).
    document_ids: list[UUID] = Field(default_factory=list, max_length=24)
    consent_id: str | None = Field(None, max_length=100)

    def checked(self, today: date) -> dict[str, Any]:
        if self.method == "upload" and not self.document_ids:
            raise InvalidValue("document_ids", "upload at least one statement")
        consent = None
        if self.method == "account_aggregator":
            if not (self.consent_id or "").strip():
                raise InvalidValue("consent_id", "give the Account Aggregator consent id")
            consent = _text(self.consent_id or "", "consent_id", 100)
        return {
            "method": self.method,
            "document_ids": [str(d) for d in dict.fromkeys(self.document_ids)],
            "consent_id": consent,
        }


#: The spaces `str.strip()` drops that a JSON string may hold (the edge refuses other control characters).
_STRIPPED = r"[\t\n\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"
#: A loan request's coupon code as the document states it (`LoanRequestIn.checked` is the rule): letters, digits, -
#: and _ (read in upper case), 2-40 of them, with spaces around, or only spaces (no coupon).
_COUPON_TEXT = f"^{_STRIPPED}(?:[A-Za-z0-9_-]{{2,40}}{_STRIPPED})?$"


class LoanRequestIn(BaseModel):
    """What the borrower asks for: the product, amount, tenure and an optional coupon."""

    model_config = _STRICT

    product_id: UUID
    amount: PositiveMoney
    tenure: WholeNumber = Field(ge=1, le=3650)
    coupon_code: (
        Annotated[
            str, Field(max_length=40), WithJsonSchema({"type": "string", "maxLength": 40, "pattern": _COUPON_TEXT})
        ]
        | None
    ) = None

    def checked(self, today: date) -> dict[str, Any]:
        if self.amount <= 0:
            raise InvalidValue("amount", "must be above 0")
        coupon = None
        if self.coupon_code is not None and self.coupon_code.strip():
            coupon = self.coupon_code.strip().upper()
            if not re.fullmatch(r"[A-Z0-9_-]{2,40}", coupon):
                raise InvalidValue("coupon_code", "a coupon code is letters, digits, - and _")
        return {
            "product_id": str(self.product_id),
            "amount": str(self.amount.quantize(Decimal("0.01"))),
            "tenure": self.tenure,
            "coupon_code": coupon,
        }


StepInput = PanIn | PersonalIn | EmploymentIn | AadhaarIn | SelfieIn | BankAccountIn | BankStatementIn | LoanRequestIn

#: The input model of each form step.
STEP_INPUTS: dict[Step, type[BaseModel]] = {
    Step.PAN: PanIn,
    Step.PERSONAL: PersonalIn,
    Step.EMPLOYMENT: EmploymentIn,
    Step.AADHAAR: AadhaarIn,
    Step.SELFIE: SelfieIn,
    Step.BANK_ACCOUNT: BankAccountIn,
    Step.BANK_STATEMENT: BankStatementIn,
    Step.LOAN_REQUEST: LoanRequestIn,
}


def checked_details(step: Step, given: BaseModel, today: date) -> dict[str, Any]:
    """The details `given` records for `step`, checked (InvalidInput naming each field)."""
    expected = STEP_INPUTS.get(step)
    if expected is None or not isinstance(given, expected):
        raise InvalidValue("step", f"'{step.value}' is not recorded with this form")
    check: Callable[[date], dict[str, Any]] = given.checked  # type: ignore[attr-defined]
    return check(today)


def kept_aadhaar(number: str) -> str:
    """An Aadhaar number as the funnel keeps it: masked, as UIDAI asks, to its last four digits."""
    return "XXXXXXXX" + number[-4:]
