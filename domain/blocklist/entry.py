"""Blocklists: PANs, mobiles, Aadhaar numbers, bank accounts and pincodes a brand refuses to deal with."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.shared import formats
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound
from domain.shared.values import normalise_pan, normalise_phone

_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]  # fmt: skip
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]  # fmt: skip


class BlockKind(StrEnum):
    """What kind of value is blocked."""

    PAN = "pan"
    MOBILE = "mobile"
    AADHAAR = "aadhaar"
    BANK_ACCOUNT = "bank_account"
    PINCODE = "pincode"


class BlocklistEntryNotFound(NotFound):
    """Raised when no blocklist entry has the id within the brand."""


_AADHAAR_INPUT = re.compile(formats.AADHAAR_SHAPE)  # as given (the API states it; the checksum is checked here)
_PINCODE_INPUT = re.compile(formats.PINCODE)


def _aadhaar(raw: str) -> str:
    digits = re.sub(r"[\s-]", "", raw)
    if not _AADHAAR_INPUT.fullmatch(raw):
        raise InvalidValue("value", "an Aadhaar number has 12 digits and does not start with 0 or 1")
    check = 0
    for i, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(digit)]]
    if check != 0:
        raise InvalidValue("value", "this Aadhaar number fails its checksum")
    return digits


def _bank_account(raw: str) -> str:
    value = re.sub(r"[\s-]", "", raw).upper()
    # Account number, optionally with the branch IFSC: "50100012345678@HDFC0001234".
    account, _, ifsc = value.partition("@")
    if not re.fullmatch(r"[0-9]{9,18}", account):
        raise InvalidValue("value", "a bank account number has 9 to 18 digits")
    if ifsc and not re.fullmatch(r"[A-Z]{4}0[A-Z0-9]{6}", ifsc):
        raise InvalidValue("value", f"'{ifsc}' is not a valid IFSC")
    return value


def _pincode(raw: str) -> str:
    value = raw.strip()
    if not _PINCODE_INPUT.fullmatch(raw):
        raise InvalidValue("value", "a pincode has 6 digits and does not start with 0")
    return value


def normalise_blocked_value(kind: BlockKind, raw: str) -> str:
    """The canonical form a value of `kind` is stored and looked up in."""
    if kind is BlockKind.PAN:
        return normalise_pan(raw, field="value")
    if kind is BlockKind.MOBILE:
        return normalise_phone(raw, field="value")
    if kind is BlockKind.AADHAAR:
        return _aadhaar(raw)
    if kind is BlockKind.BANK_ACCOUNT:
        return _bank_account(raw)
    return _pincode(raw)


def aadhaar_digest(number: str) -> str:
    """What we keep of a borrower's Aadhaar besides its masked form: `"<last four>:<sha256 hex>"` of the 12 digits
    (salted with a fixed label). The BRE matches the blocklist's Aadhaar entries by it (docs/bre.md)."""
    digits = re.sub(r"[^0-9]", "", number)
    return digits[-4:] + ":" + hashlib.sha256(f"covenant-desk/aadhaar:{digits}".encode()).hexdigest()


def mask_blocked_value(kind: BlockKind, value: str) -> str:
    """Aadhaar and account numbers are shown with only their last four digits."""
    if kind in (BlockKind.AADHAAR, BlockKind.BANK_ACCOUNT):
        number = value.split("@")[0]
        return "•" * (len(number) - 4) + number[-4:]
    return value


class BlocklistEntry(Aggregate):
    """One blocked value of a brand (uuid5 of brand, kind and value); removed entries can be re-added."""

    id: UUID

    class Added(Aggregate.Created):
        """A value was blocked."""

        brand_id: UUID
        kind: BlockKind
        value: str
        reason: str

    class Removed(Aggregate.Event):
        """The value is no longer blocked."""

        reason: str

    class Readded(Aggregate.Event):
        """A removed value was blocked again."""

        reason: str

    @event(Added)
    def __init__(self, brand_id: UUID, kind: BlockKind, value: str, reason: str) -> None:
        self.brand_id = brand_id
        self.kind = kind
        self.value = value
        self.reason = reason
        self.active = True

    def readd(self, reason: str) -> None:
        """Block a removed value again."""
        if self.active:
            raise Conflict(
                f"{self.kind.value} {mask_blocked_value(self.kind, self.value)} is already blocked",
                existing_id=str(self.id),
            )
        self._readded(reason=reason)

    @event(Readded)
    def _readded(self, reason: str) -> None:
        self.active = True
        self.reason = reason

    def remove(self, reason: str) -> None:
        """Unblock the value."""
        if not self.active:
            raise BlocklistEntryNotFound(f"blocklist entry {self.id} is not active", id=str(self.id))
        self._removed(reason=reason)

    @event(Removed)
    def _removed(self, reason: str) -> None:
        self.active = False
        self.reason = reason
