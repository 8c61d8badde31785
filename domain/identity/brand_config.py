"""Brand configuration: every setting of the spec's Brand Configuration table, with history of each change."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from domain.identity.brand_lists import (
    MonthlyTarget,
    ReasonCode,
    ReloanHike,
    default_providers,
    default_reasons,
    merge_providers,
    parse_hike,
    parse_holidays,
    parse_pincodes,
    parse_reasons,
    parse_targets,
)
from domain.shared.aggregate import Aggregate, current_actor
from domain.shared.clock import DEFAULT_TIMEZONE, is_place_timezone
from domain.shared.errors import FieldChecks, FieldError, InvalidInput, InvalidValue, field_path
from domain.shared.values import MONEY, clean_text, parse_date, text_problem

#: A From address: `local@domain`, or `Display Name <local@domain>` (printable, no line breaks: no header injection).
_EMAIL_SENDER = re.compile(
    r"(?:[A-Za-z0-9 .,'&()-]{1,60} <ADDR>|ADDR)".replace(
        "ADDR", r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,200}\.[A-Za-z]{2,24}"
    )
)

#: What an email sender that is not one is told.
_EMAIL_SENDER_RULE = "the email sender is an address, optionally with a name: Name <notify@brand.in>"

#: The actor the close of business moves a brand's business date on as (`job:` + the `loan-cob` job's name, as the
#: scheduler's executor has recorded it on every change the job made): such a change follows the calendar, any other
#: change of `business_date` is an admin's (`BrandConfiguration.business_date_held`).
CLOSE_OF_BUSINESS_ACTOR = "job:loan-cob"


class DashboardVersion(StrEnum):
    """Which portal dashboard the brand's staff see."""

    V1 = "V1"
    V2 = "V2"


class BrandSettings(BaseModel):
    """A brand's settings; defaults are the spec's (Configurable ones get a sensible starting value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_salary: Decimal = Field(
        Decimal("15000.00"), ge=0, description="Customers below this monthly salary are auto-rejected (INR)"
    )
    min_age: int = Field(22, ge=18, le=100, description="Minimum age for loan eligibility")
    max_age: int = Field(54, ge=18, le=100, description="Maximum age for loan eligibility")
    rejection_cooldown_days: int = Field(15, ge=0, le=3650, description="Days before a rejected customer can re-apply")
    bank_statement_months: int = Field(3, ge=1, le=24, description="Months of statements the customer must upload")
    esign_link_expiry_days: int = Field(2, ge=1, le=90, description="Days before an unsigned agreement link expires")
    # Enforced only once the brand sets it (BrandConfiguration.loan_minimum); the description is the event schema's.
    min_loan_amount: Decimal = Field(Decimal("15000.00"), ge=0, description="Smallest loan amount allowed (INR)")
    auto_allocate_loans: bool = Field(False, description="Assign new loans to Credit Executives automatically")
    auto_allocate_collections: bool = Field(
        False, description="Assign overdue loans to Collection Agents automatically"
    )
    auto_allocate_borrowers: bool = Field(
        False, description="Assign newly registered borrowers nobody owns to Sales agents automatically"
    )
    pre_collection_window_days: int = Field(
        3, ge=0, le=60, description="Days before a due date a loan enters pre-collections"
    )
    account_aggregation: bool = Field(False, description="Enable AA-based bank statement retrieval")
    require_employment_data: bool = Field(True, description="Employment section is mandatory")
    require_selfie_video: bool = Field(False, description="Liveness checks during KYC")
    cam_calculation_required: bool = Field(False, description="CX must fill the Credit Appraisal Memo")
    automated_reloan: bool = Field(False, description="Auto-trigger re-loan offers on closure")
    auto_reject_inactive_users: bool = Field(False, description="Auto-reject users inactive for N days")
    inactive_user_days: int = Field(30, ge=1, le=3650, description="N for auto-reject of inactive users")
    sunday_off: bool = Field(True, description="Exclude Sundays from repayment schedule calculation")
    central_dedup: bool = Field(False, description="Check whether the same customer exists on another brand")
    dashboard_version: DashboardVersion = Field(DashboardVersion.V1, description="Portal dashboard V1 (classic) or V2")
    covenant_lead_days: dict[str, int] = Field(
        default_factory=dict, description="Reminder lead days per covenant frequency (overrides the product defaults)"
    )
    covenant_grace_days: dict[str, int] = Field(
        default_factory=dict, description="Grace days per covenant frequency before a record turns overdue"
    )
    serviceable_pincodes: list[str] = Field(
        default_factory=list, description="Serviceable pincodes (empty: every pincode; blocklisted ones never)"
    )
    providers: dict[str, str] = Field(
        default_factory=default_providers, description="Provider of each service (sms, pan, bureau, esign, ...)"
    )
    repayment_holidays: list[date] = Field(
        default_factory=list, description="Holidays on which no instalment falls due (YYYY-MM-DD)"
    )
    rejection_reasons: list[ReasonCode] = Field(
        default_factory=default_reasons, description="Rejection and status reason codes with their labels"
    )
    reloan_hike: ReloanHike = Field(
        default_factory=ReloanHike, description='Re-loan amount increase: {"kind": "fixed"|"percent", "value"}'
    )
    reloan_offer_days: int | None = Field(
        None,
        ge=1,
        le=365,
        description="Days a re-loan offer stays open before it is cancelled as expired; empty: never",
    )
    reloan_refresh_days: int | None = Field(
        None,
        ge=0,
        le=3650,
        description="A borrower accepting a re-loan offer gives their income and bank statement again when the "
        "statement on file is more than this many days old (0: always); empty: never, the offer's application is "
        "submitted at once on the data on file",
    )
    monthly_targets: dict[str, MonthlyTarget] = Field(
        default_factory=dict, description="Monthly targets: month -> disbursal amount, count, collections"
    )
    message_senders: dict[str, str] = Field(
        default_factory=lambda: {"sms": "CVDESK", "whatsapp": "CVDESK"},
        description="Sender per borrower messaging channel: SMS sender id, WhatsApp business sender, email From "
        "address (`Name <notify@brand.in>`; unset: the mailer's MAIL_FROM) (issue #17)",
    )
    notification_channels: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Channels of each automatic notification kind (due_7, due_3, due_1, due_0, overdue, disbursed, "
        "paid, reloan_offer); a kind not named uses the spec's channels",
    )
    overdue_reminder_days: int = Field(3, ge=1, le=90, description="Days between overdue reminders until paid")
    message_retry_minutes: int = Field(10, ge=0, le=1440, description="Wait before retrying a failed delivery")
    message_max_attempts: int = Field(3, ge=1, le=10, description="Delivery attempts of a message (first + retries)")
    timezone: str = Field(DEFAULT_TIMEZONE, description="IANA timezone of the brand's business day")
    business_date: date | None = Field(
        None,
        description="Business date for 'as of' operation. A date set here is held: each close of business moves it "
        "on one day. Empty: today in the timezone, and the close of business keeps it on the calendar, catching up "
        "the days it missed",
    )

    @field_validator("min_salary", "min_loan_amount")
    @classmethod
    def _rupees(cls, value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))

    @field_validator("covenant_lead_days", "covenant_grace_days")
    @classmethod
    def _per_frequency(cls, value: dict[str, int]) -> dict[str, int]:
        frequencies = {"one_time", "monthly", "quarterly", "half_yearly", "annual"}
        unknown = sorted(set(value) - frequencies)
        if unknown:
            raise ValueError(f"unknown frequency {unknown}; use {sorted(frequencies)}")
        if any(not 0 <= days <= 365 for days in value.values()):
            raise ValueError("days must be between 0 and 365")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str, info: ValidationInfo) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a known timezone") from None
        # A new timezone (`changed`) must be a place's: ZoneInfo also opens `localtime` (the server's zone) and
        # tzdata build files that PostgreSQL's `AT TIME ZONE` may not know. Replay (no context) keeps any it opens.
        if "timezone" in (info.context or {}).get("changed", ()) and not is_place_timezone(value):
            raise ValueError(f"'{value}' is not a known timezone")
        return value

    @field_validator("message_senders")
    @classmethod
    def _senders(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - {"sms", "whatsapp", "email"})
        if unknown:
            raise ValueError(f"unknown channel {unknown}; use sms, whatsapp, email")
        if any(not isinstance(v, str) or len(v) > 100 for v in value.values()):
            raise ValueError("a sender is text of at most 100 characters")
        if "email" in value and not _EMAIL_SENDER.fullmatch(value["email"]):
            raise ValueError(_EMAIL_SENDER_RULE)
        return value

    @field_validator("notification_channels")
    @classmethod
    def _notification_channels(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        kinds = {"due_7", "due_3", "due_1", "due_0", "overdue", "disbursed", "paid", "reloan_offer"}
        unknown = sorted(set(value) - kinds)
        if unknown:
            raise ValueError(f"unknown notification kind {unknown}; use {sorted(kinds)}")
        if any(not set(channels) <= {"sms", "whatsapp", "email"} for channels in value.values()):
            raise ValueError("channels are sms, whatsapp, email")
        return value

    @field_validator("max_age")
    @classmethod
    def _ages(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("min_age", 0):
            raise ValueError("max_age must not be below min_age")
        return value

    def changed(self, updates: dict[str, Any]) -> BrandSettings:
        """These settings with `updates` applied; InvalidInput naming each bad setting."""
        unknown = [FieldError(k, "unknown setting") for k in updates if k not in type(self).model_fields]
        if unknown:
            raise InvalidInput(unknown)
        # The rules for a new value (precision and range, dates within bounds, plain text) apply here, when a
        # change is made, and not in the model itself: replaying a recorded change must never fail.
        checks = FieldChecks()
        updates = dict(updates)
        for name, value in updates.items():
            rule = _INPUT_RULES.get(name)
            if name == "providers":
                updates[name] = checks.check(partial(merge_providers, self.providers, value, name))
            elif name == "message_senders":
                updates[name] = checks.check(partial(parse_senders, value, name, self.message_senders))
            elif rule is not None and value is not None:
                updates[name] = checks.check(partial(rule, value, name))
            elif isinstance(value, str) and (problem := text_problem(value, multiline=False)) is not None:
                checks.errors.append(FieldError(name, problem))
        checks.raise_if_any()
        try:
            return type(self).model_validate({**self.model_dump(), **updates}, context={"changed": set(updates)})
        except ValidationError as exc:
            raise InvalidInput(
                [
                    FieldError(field_path(e["loc"]) or "settings", e["msg"].removeprefix("Value error, "))
                    for e in exc.errors()
                ]
            ) from None


def _business_date(raw: object, field: str) -> date | None:
    return None if raw == "" else parse_date(raw, field)


#: The channels `message_senders` names a sender for.
SENDER_CHANNELS = ("sms", "whatsapp", "email")


def parse_senders(raw: object, field: str, current: Mapping[str, str]) -> dict[str, str]:
    """A new `message_senders`: each channel named has a sender of visible text (surrounding spaces dropped); a
    channel left out uses its default. An empty sender was kept and silently sent as the default (`CVDESK`), so
    `{"sms": ""}` said one thing and did another: now it is a 422 naming `message_senders.sms`. A channel's sender
    as it is now (`current`) is kept as it is, so a sender recorded before the rule (an empty one) does not refuse
    a save of other settings (the settings page sends them all); the model's validator still reads it on replay."""
    if not isinstance(raw, dict):
        raise InvalidValue(field, "must be a JSON object of channel -> sender")
    errors: list[FieldError] = []
    senders: dict[str, str] = {}
    for channel, sender in raw.items():
        at = f"{field}.{str(channel)[:40]}"
        if channel in current and sender == current[channel]:
            senders[channel] = sender
        elif channel not in SENDER_CHANNELS:
            errors.append(FieldError(at, f"not a channel; use {', '.join(SENDER_CHANNELS)}"))
        elif not isinstance(sender, str):
            errors.append(FieldError(at, "a sender is text of at most 100 characters"))
        else:
            try:
                text = clean_text(
                    sender, at, missing="must contain visible text; leave the channel out for its default"
                )
            except InvalidInput as exc:
                errors.extend(exc.errors)
                continue
            if len(text) > 100:
                errors.append(FieldError(at, "a sender is text of at most 100 characters"))
            elif channel == "email" and not _EMAIL_SENDER.fullmatch(text):
                errors.append(FieldError(at, _EMAIL_SENDER_RULE))
            else:
                senders[channel] = text
    if errors:
        raise InvalidInput(errors)
    return senders


_INPUT_RULES: dict[str, Callable[[Any, str], Any]] = {
    "min_salary": MONEY.parse,
    "min_loan_amount": MONEY.parse,
    "business_date": _business_date,
    "serviceable_pincodes": parse_pincodes,
    "repayment_holidays": parse_holidays,
    "rejection_reasons": parse_reasons,
    "reloan_hike": parse_hike,
    "monthly_targets": parse_targets,
}
#: The settings whose new values a rule of their own reads (any JSON it accepts: amounts as text, dates, lists).
SETTING_RULES = frozenset({*_INPUT_RULES, "providers", "message_senders"})


class SettingChange(BaseModel):
    """One setting's old and new value (as JSON values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    setting: str
    old: Any
    new: Any


class BrandConfiguration(Aggregate):
    """The configuration of one brand (uuid5 id); every change records who changed what, old -> new."""

    id: UUID

    class Initialised(Aggregate.Created):
        """The brand's configuration started from the defaults (and any initial values)."""

        brand_id: UUID
        settings: BrandSettings

    class Changed(Aggregate.Event):
        """Some settings changed."""

        changes: list[SettingChange]

    @event(Initialised)
    def __init__(self, brand_id: UUID, settings: BrandSettings) -> None:
        self.brand_id = brand_id
        self.settings = settings
        #: The earliest fixed business date the brand has ever had (None: never one): derived, so replay rebuilds it.
        self.earliest_business_date: date | None = settings.business_date
        #: Whether the business date is held (see `business_date_held_by`): derived, so replay rebuilds it.
        self.business_date_held: bool = settings.business_date is not None
        #: Whether the brand has set `min_loan_amount` (a change of it recorded): derived, so replay rebuilds it.
        self.min_loan_amount_set: bool = False

    @property
    def loan_minimum(self) -> Decimal | None:
        """The smallest loan amount the brand allows, once it has set one (`min_loan_amount` changed, or set to its
        starting value, by an admin); None while it never has: the starting value (15,000) was never enforced, and
        loans below it were made on brands that never chose a minimum, so it stays unenforced for them."""
        return self.settings.min_loan_amount if getattr(self, "min_loan_amount_set", False) else None

    def change(self, updates: dict[str, Any]) -> list[SettingChange]:
        """Apply validated updates; returns the changes (none when values are the same)."""
        new = self.settings.changed(updates)
        old_json, new_json = self.settings.model_dump(mode="json"), new.model_dump(mode="json")
        changes = [
            SettingChange(setting=k, old=old_json[k], new=new_json[k]) for k in updates if old_json[k] != new_json[k]
        ]
        if (
            "min_loan_amount" in updates
            and self.loan_minimum is None
            and old_json["min_loan_amount"] == new_json["min_loan_amount"]
        ):
            # Set to the starting value it shows: recorded (old -> same), so the brand's minimum is enforced from now.
            changes.append(SettingChange(setting="min_loan_amount", old=old_json["min_loan_amount"],
                                         new=new_json["min_loan_amount"]))  # fmt: skip
        if changes:
            self._changed(changes=changes, actor=current_actor())
        return changes

    @event(Changed)
    def _changed(self, changes: list[SettingChange], actor: str) -> None:
        self.settings = self.settings.model_validate(
            {**self.settings.model_dump(mode="json"), **{c.setting: c.new for c in changes}}
        )
        fixed = self.settings.business_date
        earliest: date | None = getattr(self, "earliest_business_date", None)  # absent from older snapshots
        self.earliest_business_date = (
            fixed if earliest is None or (fixed is not None and fixed < earliest) else earliest
        )
        if any(c.setting == "business_date" for c in changes):
            self.business_date_held = business_date_held_by(actor, fixed, self.business_date_held)
        if any(c.setting == "min_loan_amount" for c in changes):
            self.min_loan_amount_set = True


def business_date_held_by(actor: str, business_date: date | None, held: bool) -> bool:
    """Whether a brand's business date is held after `actor` set it to `business_date` (None: cleared) while it was
    `held` or not. The close of business moving the date on (`CLOSE_OF_BUSINESS_ACTOR`) leaves that as it was: a
    held brand stays held one day further on (its scheduled COB runs as of its business date), one following the
    calendar keeps following it (its scheduled COB runs as of the slot's day, closing every date it missed). Anyone
    else - an admin's settings save, an API key, the CLI - holds the brand at the date they set, or releases it to
    the calendar by clearing the date."""
    if actor == CLOSE_OF_BUSINESS_ACTOR:
        return held
    return business_date is not None
