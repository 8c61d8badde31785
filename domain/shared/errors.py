"""Error families every context's errors belong to; the API maps each family to one status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class DomainError(Exception):
    """Raised when a command breaks a rule of the domain."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """Raised when a referenced record does not exist (or belongs to another brand)."""


class Conflict(DomainError):
    """Raised when a command conflicts with current state (duplicate, wrong status, stale version)."""


class Gone(DomainError):
    """Raised when a record that existed was withdrawn and is not served any more (HTTP 410): a no-due certificate
    whose loan a reversed payment re-opened, say. The details say what it was and when it went."""


class NotPermitted(DomainError):
    """Raised when the caller does not hold a permission the command needs (HTTP 403); `permission` and `level`
    name it."""

    def __init__(self, message: str, permission: str, level: str) -> None:
        super().__init__(message, permission=permission, level=level)


class Throttled(DomainError):
    """Raised when a request must wait its turn; `retry_after` says how many seconds (HTTP 429 + Retry-After)."""

    def __init__(self, message: str, retry_after: int, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


def field_path(loc: Sequence[int | str], root: str = "") -> str:
    """The name an error gives a nested input: object members dotted, list items by index in brackets
    (`addresses[0].line1`, `bre_rules[2].min`, `covenant_lead_days.monthly`), under `root` when given. Pydantic's
    `loc` says `addresses.0.line1`; the domain's own rules, the docs and the portal name list items `[i]`."""
    text = root
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "__root__":
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class FieldError:
    """One invalid input field and why."""

    field: str
    message: str


class InvalidInput(DomainError):
    """Raised when one or more input values fail a domain rule; `errors` names each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class InvalidValue(InvalidInput):
    """Raised when a single value fails a domain rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([FieldError(field, message)])
        self.field = field


class FieldChecks:
    """Runs several value checks and raises one InvalidInput naming every failing field."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def check(self, check: Callable[[], T]) -> T | None:
        """Run `check`; remember its field errors and return None when it fails."""
        try:
            return check()
        except InvalidInput as exc:
            self.errors.extend(exc.errors)
            return None

    def raise_if_any(self) -> None:
        """Raise InvalidInput when any check failed."""
        if self.errors:
            raise InvalidInput(self.errors)
