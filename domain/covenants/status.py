"""Where covenants and their evaluation records stand, and which notice an email is."""

from __future__ import annotations

from enum import StrEnum


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
