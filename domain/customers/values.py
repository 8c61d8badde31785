"""Value rules of borrower records: loan numbers, age, addresses (shared rules are in domain/shared/values.py)."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict

from domain.shared import formats
from domain.shared.errors import InvalidValue
from domain.shared.values import MIN_REASON, clean_text, text_problem, unix_line_breaks

LOAN_NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{2,39}$")
_LOAN_NUMBER_INPUT = re.compile(formats.LOAN_NUMBER)  # as given (the API states it)
_PINCODE_INPUT = re.compile(formats.PINCODE)

#: The longest note (characters, after surrounding whitespace is trimmed).
MAX_NOTE_CHARACTERS = 2000


def normalise_loan_number(raw: str, field: str = "loan_numbers") -> str:
    """Loan numbers are kept upper-case: letters, digits and / _ . - (3-40 characters)."""
    value = (raw or "").strip().upper()
    if not _LOAN_NUMBER_INPUT.fullmatch(raw or "") or not LOAN_NUMBER_PATTERN.match(value):
        raise InvalidValue(field, f"'{raw}' is not a valid loan number")
    return value


#: The longest reason for moving a borrower to another agent (characters, whitespace runs folded to one space).
MAX_AGENT_REASON = 500
#: What an agent move records when the manager gives no reason.
DEFAULT_AGENT_REASON = "moved by a manager"


def agent_reason(raw: str | None, field: str = "reason") -> str:
    """Why a borrower moves to another agent: the manager's words (3 to MAX_AGENT_REASON visible characters, one
    line: whitespace runs folded), or DEFAULT_AGENT_REASON when none is given."""
    if raw is None or not raw.strip():
        return DEFAULT_AGENT_REASON
    text = clean_text(
        raw, field, multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
    )
    text = " ".join(text.split())
    if len(text) > MAX_AGENT_REASON:
        raise InvalidValue(field, f"at most {MAX_AGENT_REASON} characters (this has {len(text)})")
    return text


#: The longest reason for unlinking a loan number (characters, whitespace runs folded to one space).
MAX_UNLINK_REASON = 500


def unlink_reason(raw: str | None, field: str = "reason") -> str:
    """Why a loan number is unlinked from a borrower (required): 3 to MAX_UNLINK_REASON visible characters, one line
    (whitespace runs folded); no control or bidi-override character."""
    text = clean_text(
        raw, field, multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
    )
    text = " ".join(text.split())
    if len(text) > MAX_UNLINK_REASON:
        raise InvalidValue(field, f"at most {MAX_UNLINK_REASON} characters (this has {len(text)})")
    return text


def note_text(raw: str | None, field: str = "text") -> str:
    """A note as kept: surrounding whitespace trimmed, line breaks kept (CR LF written as LF), at least one visible
    character and at most MAX_NOTE_CHARACTERS; no NUL, control or bidi-override character (`clean_text`)."""
    text = clean_text(raw, field, multiline=True, missing="write the note (it shows no text)")
    text = unix_line_breaks(text)
    if len(text) > MAX_NOTE_CHARACTERS:
        raise InvalidValue(field, f"at most {MAX_NOTE_CHARACTERS} characters (this has {len(text)})")
    return text


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
        """The address as kept: validated (the pincode six digits, not starting with 0; line1 and city showing
        something; no part holding control or bidi-override characters) and trimmed like every other text we keep
        (a blank line2 or state is none)."""
        pincode = self.pincode.strip()
        if not _PINCODE_INPUT.fullmatch(self.pincode):
            raise InvalidValue(field, f"'{self.pincode}' is not a valid pincode")
        kept: dict[str, str | None] = {"pincode": pincode}
        for part in ("line1", "city"):
            kept[part] = clean_text(getattr(self, part), f"{field}.{part}")
        for part in ("kind", "line2", "state"):
            value = getattr(self, part)
            if value and (problem := text_problem(value, multiline=False)) is not None:
                raise InvalidValue(f"{field}.{part}", problem)
            kept[part] = value.strip() if value else value
        if not kept["kind"]:
            kept["kind"] = self.kind  # an empty kind is no trimming's business (it was kept as given before)
        for part in ("line2", "state"):
            kept[part] = kept[part] or None
        return self.model_copy(update=kept)
