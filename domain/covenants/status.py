"""Where covenants and their evaluation records stand, and which notice an email is."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class CovenantStatus(StrEnum):
    """Whether the covenant still produces cycles."""

    ACTIVE = "active"
    EXPIRED = "expired"
    CLOSED = "closed"


class EvaluationStatus(StrEnum):
    """Where one cycle's evaluation record stands."""

    OPEN = "open"
    COMPLIED = "complied"
    WAIVED = "waived"
    OVERDUE = "overdue"

    @property
    def closed(self) -> bool:
        return self in (EvaluationStatus.COMPLIED, EvaluationStatus.WAIVED)


class NoticeKind(StrEnum):
    """Which email a notice is."""

    REMINDER = "reminder"
    OVERDUE = "overdue"


class UnsentReason(StrEnum):
    """Why a notice owed to a borrower could not be sent (a `CovenantNotice` recorded `not_sent`)."""

    #: The borrower has no email address on record (email is optional on a borrower); staff add one on Customer 360.
    NO_EMAIL = "no_email"


#: Why a notice was not sent, as staff read it (the portal's `| words("unsent")`).
UNSENT_WORDS: Mapping[UnsentReason, str] = MappingProxyType(
    {UnsentReason.NO_EMAIL: "the borrower has no email address"}
)
