"""The dialer (Acefone) of a brand: its settings (enabled, account, an extension per staff member) and each
click-to-call placed through it, with how it ended."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound
from domain.shared.values import stripped_pattern

_EXTENSION = re.compile(r"[0-9]{2,8}")
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,59}")
#: The dialer's API token: 8-200 printable ASCII characters, no spaces (what a provider issues; `check_token`).
_TOKEN = re.compile(r"[!-~]{8,200}")
#: The rules above as the API's schemas state them (JSON Schema, ECMA-262): an extension and an account id are taken
#: with surrounding whitespace (trimmed), a token as given.
EXTENSION_PATTERN = stripped_pattern(_EXTENSION.pattern)
ACCOUNT_PATTERN = stripped_pattern(_ACCOUNT.pattern)
TOKEN_PATTERN = f"^{_TOKEN.pattern}$"
MAX_RECORDING_URL = 500


class DialerNotConfigured(Conflict):
    """Raised when a call is asked of a brand whose dialer is off, has no account, or the caller no extension."""


class DialerCallNotFound(NotFound):
    """Raised when no dialer call has the id (or reference) within the brand."""


class CallStatus(StrEnum):
    """Where a click-to-call stands: placed with the provider, then how it ended."""

    PLACED = "placed"
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


#: How an ended call reads on the loan's contact log (the collections context's contact outcomes).
CONTACT_OUTCOMES = {
    CallStatus.ANSWERED: "connected",
    CallStatus.NO_ANSWER: "not_reachable",
    CallStatus.BUSY: "not_reachable",
    CallStatus.FAILED: "switched_off",
}


def check_extension(raw: str, field: str = "extension") -> str:
    """A dialer extension: 2-8 digits."""
    value = (raw or "").strip()
    if not _EXTENSION.fullmatch(value):
        raise InvalidValue(field, "an extension is 2-8 digits")
    return value


def check_account(raw: str, field: str = "account_id") -> str:
    """The dialer account id: 2-60 letters, digits, '_', '.' or '-'."""
    value = (raw or "").strip()
    if not _ACCOUNT.fullmatch(value):
        raise InvalidValue(field, "an account id of 2-60 letters, digits, '_', '.' or '-'")
    return value


def check_token(raw: str, field: str = "api_token") -> str:
    """The dialer API token: 8-200 printable ASCII characters without spaces. (Printable characters of any script
    were taken before: which those are depends on the Unicode version, and a pattern cannot state them; a provider's
    token is ASCII, so one with another script's letter is a paste gone wrong.)"""
    value = raw or ""
    if not _TOKEN.fullmatch(value):
        raise InvalidValue(
            field, "the dialer's API token: 8-200 characters (ASCII letters, digits, symbols), no spaces"
        )
    return value


def token_hint(token: str) -> str:
    """What the settings keep of the token: its last four characters."""
    return "****" + token[-4:]


class DialerSetup(Aggregate):
    """One brand's dialer settings (uuid5 of the brand); the API token itself lives apart (a secret)."""

    id: UUID

    class Configured(Aggregate.Created):
        """The brand's dialer was first configured."""

        brand_id: UUID
        enabled: bool
        account_id: str | None
        token_hint: str | None

    class Changed(Aggregate.Event):
        """The enabled flag, the account or its token changed."""

        enabled: bool
        account_id: str | None
        token_hint: str | None

    class ExtensionSet(Aggregate.Event):
        """A staff member's extension was set (None: removed)."""

        staff_id: UUID
        extension: str | None

    @event(Configured)
    def __init__(self, brand_id: UUID, enabled: bool, account_id: str | None, token_hint: str | None) -> None:
        self.brand_id = brand_id
        self.enabled = enabled
        self.account_id = account_id
        self.token_hint = token_hint
        self.extensions: dict[str, str] = {}

    def change(self, enabled: bool, account_id: str | None, hint: str | None, *, token_replaced: bool = False) -> bool:
        """Record the new values; False when nothing changed. `token_replaced`: another API token was given with the
        same last four, a change too (recorded with the values unchanged, so the history shows when it was)."""
        if (enabled, account_id, hint) == (self.enabled, self.account_id, self.token_hint) and not token_replaced:
            return False
        self._changed(enabled=enabled, account_id=account_id, token_hint=hint)
        return True

    @event(Changed)
    def _changed(self, enabled: bool, account_id: str | None, token_hint: str | None) -> None:
        self.enabled, self.account_id, self.token_hint = enabled, account_id, token_hint

    def set_extension(self, staff_id: UUID, extension: str | None) -> bool:
        """Give a staff member an extension (one extension is one person's); False when it is already so."""
        if self.extensions.get(str(staff_id)) == extension:
            return False
        if extension is not None:
            holder = next((s for s, e in self.extensions.items() if e == extension and s != str(staff_id)), None)
            if holder is not None:
                raise Conflict(f"extension {extension} is already another staff member's", staff_id=holder)
        self._extension_set(staff_id=staff_id, extension=extension)
        return True

    @event(ExtensionSet)
    def _extension_set(self, staff_id: UUID, extension: str | None) -> None:
        if extension is None:
            self.extensions.pop(str(staff_id), None)
        else:
            self.extensions[str(staff_id)] = extension

    def extension_of(self, staff_id: UUID) -> str:
        """The staff member's extension for a call; DialerNotConfigured when calls cannot be made."""
        if not self.enabled:
            raise DialerNotConfigured("the dialer is switched off for this brand (Settings → Dialer)")
        if self.account_id is None or self.token_hint is None:
            raise DialerNotConfigured("the dialer has no account and API token yet (Settings → Dialer)")
        extension = self.extensions.get(str(staff_id))
        if extension is None:
            raise DialerNotConfigured("you have no dialer extension: ask an admin to assign one (Settings → Dialer)")
        return extension


class DialerCall(Aggregate):
    """One click-to-call: who called which number about which loan, and how the call ended. Its id is made before
    the call is placed: the provider carries it as the call's reference and echoes it in its events."""

    id: UUID

    class Placed(Aggregate.Created):
        """The dialer accepted the call (it rings the agent's extension, then the borrower)."""

        brand_id: UUID
        loan_id: UUID
        customer_id: UUID
        staff_id: UUID
        extension: str
        destination: str
        alternate: bool  # an alternate phone of the borrower, not the primary
        provider_call_id: str

    class Ended(Aggregate.Event):
        """The provider reported the call over."""

        status: CallStatus
        duration_seconds: int
        recording_url: str | None
        ended_at: datetime
        provider_event_id: str

    class ContactLogged(Aggregate.Event):
        """The call is on the loan's contact log (collections)."""

        outcome: str

    @event(Placed)
    def __init__(
        self,
        brand_id: UUID,
        loan_id: UUID,
        customer_id: UUID,
        staff_id: UUID,
        extension: str,
        destination: str,
        alternate: bool,
        provider_call_id: str,
    ) -> None:
        self.brand_id, self.loan_id, self.customer_id, self.staff_id = brand_id, loan_id, customer_id, staff_id
        self.extension, self.destination, self.alternate = extension, destination, alternate
        self.provider_call_id = provider_call_id
        self.status = CallStatus.PLACED
        self.duration_seconds = 0
        self.recording_url: str | None = None
        self.contact_logged = False

    def end(
        self, status: CallStatus, duration_seconds: int, recording_url: str | None, ended_at: datetime, event_id: str
    ) -> bool:
        """Record how the call ended; False when it was already recorded (a repeated webhook)."""
        if self.status is not CallStatus.PLACED:
            return False
        if status is CallStatus.PLACED:
            raise InvalidValue("status", "a call event must say how the call ended")
        if not 0 <= duration_seconds <= 86_400:
            raise InvalidValue("duration_seconds", "a duration of 0 to 86,400 seconds")
        if recording_url is not None and (
            not recording_url.startswith(("https://", "http://")) or len(recording_url) > MAX_RECORDING_URL
        ):
            raise InvalidValue("recording_url", "an http(s) URL of at most 500 characters")
        self._ended(
            status=status,
            duration_seconds=duration_seconds,
            recording_url=recording_url,
            ended_at=ended_at,
            provider_event_id=event_id,
        )
        return True

    @event(Ended)
    def _ended(
        self,
        status: CallStatus,
        duration_seconds: int,
        recording_url: str | None,
        ended_at: datetime,
        provider_event_id: str,
    ) -> None:
        self.status, self.duration_seconds, self.recording_url = status, duration_seconds, recording_url

    def mark_logged(self) -> None:
        """The call's contact log entry was written."""
        if self.status is CallStatus.PLACED:
            raise Conflict("the call has not ended yet")
        if not self.contact_logged:
            self._contact_logged(outcome=CONTACT_OUTCOMES[self.status])

    @event(ContactLogged)
    def _contact_logged(self, outcome: str) -> None:
        self.contact_logged = True
