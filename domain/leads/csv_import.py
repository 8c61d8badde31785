"""Parsing a lead CSV: Facebook Ads Manager's lead export and a Google Ads lead-form export. Pure, no I/O.

Every record is parsed and validated; a bad record becomes a `Rejection` naming the line it starts on (records
may span lines: a quoted cell can hold line breaks). The file's encoding is UTF-8 (with or without a BOM) or
UTF-16 with a BOM (Ads Manager's "CSV for Excel" is UTF-16, tab-separated); the delimiter is sniffed from the
header line (comma, tab or semicolon). Cells are kept as given (after trimming): a cell such as
`=HYPERLINK(...)` is stored verbatim and only ever rendered escaped or exported neutralised.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.shared.errors import InvalidValue
from domain.shared.values import (
    check_date_range,
    check_offset,
    normalise_email,
    normalise_pan,
    normalise_phone,
    text_problem,
)

MAX_ROWS = 50_000
MAX_CELL = 500


class LeadSource(StrEnum):
    """Where a lead came from."""

    FACEBOOK = "facebook"
    GOOGLE = "google"


# Header aliases (lower-cased, spaces and dashes as underscores) -> our field.
_COLUMNS: dict[str, str] = {
    # Facebook Ads Manager
    "id": "external_id",
    "created_time": "created_time",
    "ad_id": "ad_id",
    "ad_name": "ad_name",
    "adset_id": "adset_id",
    "adset_name": "adset_name",
    "campaign_id": "campaign_id",
    "campaign_name": "campaign_name",
    "form_id": "form_id",
    "form_name": "form_name",
    "is_organic": "is_organic",
    "isorganic": "is_organic",
    "platform": "platform",
    "full_name": "full_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "phone_number": "phone",
    "phone": "phone",
    "email": "email",
    "pan": "pan",
    "pan_number": "pan",
    "city": "city",
    # Google Ads lead form export
    "lead_id": "external_id",
    "submission_time": "created_time",
    "user_phone": "phone",
    "user_email": "email",
    "campaign": "campaign_name",
    "campaign_id_": "campaign_id",
    "ad_group_name": "adset_name",
    "ad_group_id": "adset_id",
    "gcl_id": "click_id",
    "gclid": "click_id",
    "form_id_": "form_id",
    "is_test": "is_test",
}
_GOOGLE_MARKERS = frozenset({"lead_id", "user_phone", "user_email", "gcl_id", "gclid", "submission_time"})
_FACEBOOK_MARKERS = frozenset({"adset_id", "form_id", "is_organic", "phone_number", "created_time"})
_INDIAN_MOBILE = re.compile(r"^(?:\+91|0091|91|0)?([6-9][0-9]{9})$")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n", ""})


@dataclass(frozen=True)
class LeadRow:
    """One valid record of the file."""

    line: int
    source: LeadSource
    name: str
    phone: str | None  # E.164
    email: str | None
    pan: str | None
    is_organic: bool
    external_id: str | None
    campaign_id: str | None
    campaign_name: str | None
    adset_name: str | None
    ad_name: str | None
    form_name: str | None
    platform: str | None
    city: str | None
    created_time: datetime | None


@dataclass(frozen=True)
class Rejection:
    """A record that was not imported, and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ParsedFile:
    """What a file held: its source, the valid records and the rejected ones."""

    source: LeadSource
    rows: list[LeadRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def _decode(data: bytes) -> str:
    # A UTF-16 file (by its BOM) of an odd length or holding an unpaired surrogate is as undecodable as bad UTF-8.
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidValue("file", f"the file is not UTF-8 or UTF-16 text (byte {exc.start})") from None


def _key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def detect_source(headers: list[str]) -> LeadSource:
    """Google when the header has Google's columns (lead_id, user_phone ...), else Facebook."""
    keys = {_key(h) for h in headers}
    if keys & _GOOGLE_MARKERS and not keys & _FACEBOOK_MARKERS:
        return LeadSource.GOOGLE
    return LeadSource.FACEBOOK


def _cell(value: str, column: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_CELL:
        raise InvalidValue(column, f"longer than {MAX_CELL} characters")
    problem = text_problem(text, multiline=True)
    if problem:
        raise InvalidValue(column, problem)
    return text


def _phone(raw: str | None) -> str | None:
    if raw is None:
        return None
    # Ads Manager writes "p:+919876543210" for phone answers.
    text = re.sub(r"^p:", "", raw)
    mobile = _INDIAN_MOBILE.match(re.sub(r"[\s\-().]", "", text))
    if mobile:  # the common case, without the full parse (a tenth of the time per row)
        return "+91" + mobile.group(1)
    return normalise_phone(text, field="phone")


def _organic(raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidValue("is_organic", f"is_organic must be true or false, not '{raw}'")


def _when(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue("created_time", f"'{raw}' is not a date and time (ISO 8601)") from None
    # Within the dates and offsets any input may name: one past +15:59 was recorded, then broke the leads read model.
    check_date_range(when, "created_time")
    return check_offset(when, "created_time")


def _row(line: int, source: LeadSource, cells: dict[str, str | None]) -> LeadRow:
    name = cells.get("full_name") or " ".join(p for p in (cells.get("first_name"), cells.get("last_name")) if p)
    if not name or not re.search(r"\w", name):
        raise InvalidValue("full_name", "a lead needs a name")
    phone = _phone(cells.get("phone"))
    raw_email, raw_pan = cells.get("email"), cells.get("pan")
    email = normalise_email(raw_email, field="email") if raw_email else None
    pan = normalise_pan(raw_pan) if raw_pan else None
    if phone is None and email is None:
        raise InvalidValue("phone", "a lead needs a phone number or an email address")
    organic = _organic(cells.get("is_organic"))
    campaign = None if organic else cells  # organic leads carry no campaign data
    return LeadRow(
        line=line,
        source=source,
        name=" ".join(name.split()),
        phone=phone,
        email=email,
        pan=pan,
        is_organic=organic,
        external_id=cells.get("external_id"),
        campaign_id=campaign.get("campaign_id") if campaign else None,
        campaign_name=campaign.get("campaign_name") if campaign else None,
        adset_name=campaign.get("adset_name") if campaign else None,
        ad_name=campaign.get("ad_name") if campaign else None,
        form_name=cells.get("form_name"),
        platform=cells.get("platform"),
        city=cells.get("city"),
        created_time=_when(cells.get("created_time")),
    )


def parse_leads(data: bytes, source: LeadSource | None = None) -> ParsedFile:
    """Parse a whole file; a file that is not a lead CSV at all (no header, no name or contact column) is an
    `InvalidValue` naming `file`."""
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        headers = next(reader)
    except StopIteration:
        raise InvalidValue("file", "the file is empty") from None
    except csv.Error as exc:
        raise InvalidValue("file", f"the header line is not CSV: {exc}") from None
    columns = [_COLUMNS.get(_key(h)) for h in headers]
    if not {"full_name", "first_name"} & set(columns) or not {"phone", "email"} & set(columns):
        raise InvalidValue("file", "not a lead CSV: it needs a name column and a phone or email column")
    kind = source or detect_source(headers)
    parsed = ParsedFile(source=kind)
    line = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.rejected.append(Rejection(line, f"not valid CSV: {exc}"))
            break  # the rest of the file cannot be read reliably after a broken quote
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not records
        if len(parsed.rows) + len(parsed.rejected) >= MAX_ROWS:
            raise InvalidValue("file", f"a file holds at most {MAX_ROWS} leads")
        if len(record) != len(headers):
            parsed.rejected.append(Rejection(start, f"expected {len(headers)} cells, found {len(record)}"))
            continue
        try:
            cells: dict[str, str | None] = {}
            for column, value in zip(columns, record, strict=True):
                if column is not None and cells.get(column) is None:
                    cells[column] = _cell(value, column)
            parsed.rows.append(_row(start, kind, cells))
        except InvalidValue as exc:
            parsed.rejected.append(Rejection(start, str(exc)))
    return parsed
