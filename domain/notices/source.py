"""A connected notice source: one Softmedia endpoint per company (lender) of a brand."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.jobs.job import check_cron
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, FieldChecks, FieldError, InvalidInput, NotFound
from domain.shared.values import SPACE_RANGES, company_code, refused_ranges, stripped_pattern

_SOURCE_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/notice-source")
#: A company code as typed (trimmed): 1-30 ASCII letters, digits, '-' or '_', of any case (kept upper case).
_COMPANY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,29}")


def _url(refused: str = "") -> str:
    """An http(s) URL (trimmed): a host (and port) and an optional path, without whitespace, a query or a fragment
    (nor the characters `refused`)."""
    return rf"https?://[^{SPACE_RANGES}{refused}/?#]+(?:/[^{SPACE_RANGES}{refused}?#]*)?"


_URL = re.compile(_url())
#: The rules above as the API's schemas state them (JSON Schema, ECMA-262): with surrounding whitespace (trimmed), and
#: a URL without the characters the edge refuses in any text (`refused_ranges`). Whether the server may call the URL's
#: host is the deployment's rule (`SourceUrlCheck`), not the pattern's.
COMPANY_PATTERN = stripped_pattern(_COMPANY.pattern)
#: The fewest characters of a source's API token (`check_settings`: 8 to 500).
MIN_TOKEN = 8
#: A source's API token as given: 8-500 printable ASCII characters without spaces, as an HTTP header carries it (the
#: dialer's token has the same rule). A token of another script's letters made every sync of the source fail as it
#: built its request (httpx encodes a header as ASCII), and one of spaces alone was kept.
_TOKEN = re.compile(rf"[!-~]{{{MIN_TOKEN},500}}")
TOKEN_PATTERN = f"^{_TOKEN.pattern}$"
URL_PATTERN = stripped_pattern(_url(refused_ranges()))


class SourceNotFound(NotFound):
    """Raised when no notice source has the id within the brand."""


class SyncAlreadyRunning(Conflict):
    """Raised when a sync is asked for while another sync of the same source is running."""


def source_id_for(brand_id: UUID, company: str) -> UUID:
    """One source per company within a brand: its id derives from both."""
    return uuid5(_SOURCE_NAMESPACE, f"{brand_id}:{company}")


def clean_company(company: str) -> str:
    """A company code as stored: trimmed and upper case (`company_code`, as every company code is kept); `check_settings`
    checks it as typed."""
    return company_code(company)


def token_hint(token: str) -> str:
    """What the record keeps of a token: its length and last four characters (the token lives apart)."""
    return f"{'*' * 4}{token[-4:]}" if len(token) > 4 else "****"


class SourceUrlCheck(Protocol):
    """Whether the server may call a source's URL (resolving its host is I/O, so the check is injected)."""

    def refusal(self, url: str) -> str | None:
        """Why the URL may not be called (a private or metadata address, say), or None."""
        ...


#: A row kept beside the events: run with the cursor of the transaction that records them (None: a store without
#: transactions of its own, which writes it on its own once the events are recorded).
BesideWrite = Callable[[Any], None]


class SourceTokens(Protocol):
    """Where source API tokens are kept: out of the event history (a secret), yet written in the same transaction as
    the source's events, so a source never exists without its token nor a token without its source."""

    def token(self, source_id: UUID) -> str | None:
        """The source's API token, if one is kept."""
        ...

    def keeping(self, brand_id: UUID, source_id: UUID, token: str) -> BesideWrite:
        """The write that keeps `token` for the source (run inside the events' transaction)."""
        ...


class TokensInMemory:
    """Source tokens in a dict: for the in-memory event store (tests), where nothing is a transaction."""

    def __init__(self) -> None:
        self.tokens: dict[UUID, str] = {}

    def token(self, source_id: UUID) -> str | None:
        return self.tokens.get(source_id)

    def keeping(self, brand_id: UUID, source_id: UUID, token: str) -> BesideWrite:
        def write(_cursor: Any) -> None:
            self.tokens[source_id] = token

        return write


def check_settings(
    *,
    company: str | None = None,
    base_url: str | None = None,
    token: str | None = None,
    schedule: str | None = None,
    url_check: SourceUrlCheck | None = None,
) -> None:
    """Validate whichever settings are given, naming every bad field at once. A company code is checked as typed (but
    trimmed), before it is upper-cased: "ı" or "ß", which upper-case to "I" and "SS", were taken for codes they are
    not (and a pattern could not state which of them were)."""
    errors: list[FieldError] = []
    if company is not None and not _COMPANY.fullmatch(company.strip()):
        errors.append(FieldError("company", "a company code of 1-30 letters, digits, '-' or '_'"))
    if base_url is not None and not _URL.fullmatch(base_url.strip()):
        errors.append(FieldError("base_url", "an http(s) URL such as https://softmedia.example.in/api"))
    elif base_url is not None and url_check is not None and (refusal := url_check.refusal(base_url)):
        errors.append(FieldError("base_url", refusal))
    if token is not None and not _TOKEN.fullmatch(token):
        errors.append(
            FieldError("token", "the source's API token: 8-500 characters (ASCII letters, digits, symbols), no spaces")
        )
    if schedule is not None:
        # The jobs' rule (five fields, at most once a minute, one that fires): croniter alone took `0 0 30 2 *`, which
        # never fires and then stopped every brand's scheduled syncs, and a sixth field of seconds.
        try:
            check_cron("schedule", " ".join(schedule.split()))
        except InvalidInput as refused:
            errors.extend(refused.errors)
    checks = FieldChecks()
    checks.errors.extend(errors)
    checks.raise_if_any()


class NoticeSource(Aggregate):
    """Where a company's notices come from, how often they are pulled, and which sync (if any) is running."""

    id: UUID  # Passed in (uuid5 of brand and company).

    class Connected(Aggregate.Created):
        """A source was connected for a company."""

        brand_id: UUID
        company: str
        base_url: str
        schedule: str
        enabled: bool
        token_hint: str

    class Reconfigured(Aggregate.Event):
        """Its URL, token, schedule or enabled flag changed."""

        base_url: str
        schedule: str
        enabled: bool
        token_hint: str
        fields: list[str]

    class SyncStarted(Aggregate.Event):
        """A sync run began."""

        run_id: UUID

    class SyncEnded(Aggregate.Event):
        """The running sync ended (or was found abandoned by a dead worker)."""

        run_id: UUID
        status: str

    @event(Connected)
    def __init__(
        self, brand_id: UUID, company: str, base_url: str, schedule: str, enabled: bool, token_hint: str
    ) -> None:
        self.brand_id = brand_id
        self.company = company
        self.base_url = base_url
        self.schedule = schedule
        self.enabled = enabled
        self.token_hint = token_hint
        self.running_run_id: UUID | None = None
        # The version of the source's settings (its last Connected or Reconfigured event; the ETag an If-Match sends
        # back): a sync's start and end move the aggregate's version but change nothing an admin edits.
        self.settings_version = 1

    def reconfigure(
        self,
        *,
        base_url: str | None = None,
        schedule: str | None = None,
        enabled: bool | None = None,
        token_hint: str | None = None,
    ) -> bool:
        """Change some settings; False when nothing changed."""
        url = self.base_url if base_url is None else base_url
        cron = self.schedule if schedule is None else schedule
        on = self.enabled if enabled is None else enabled
        hint = self.token_hint if token_hint is None else token_hint
        fields = [
            name
            for name, old, value in (
                ("base_url", self.base_url, url),
                ("schedule", self.schedule, cron),
                ("enabled", self.enabled, on),
            )
            if old != value
        ]
        if token_hint is not None:
            fields.append("token")  # A new token with the same last four characters is still a change.
        if not fields:
            return False
        self._reconfigured(base_url=url, schedule=cron, enabled=on, token_hint=hint, fields=fields)
        return True

    @event(Reconfigured)
    def _reconfigured(self, base_url: str, schedule: str, enabled: bool, token_hint: str, fields: list[str]) -> None:
        self.base_url = base_url
        self.schedule = schedule
        self.enabled = enabled
        self.token_hint = token_hint
        self.settings_version = self.version + 1  # applied before the aggregate's version moves to the event's

    def start_sync(self, run_id: UUID) -> None:
        """Mark a sync as running; a second one while one runs is refused, naming the running run."""
        if self.running_run_id is not None:
            raise SyncAlreadyRunning(
                f"sync run {self.running_run_id} of {self.company} is still running",
                running_run_id=str(self.running_run_id),
            )
        self._sync_started(run_id=run_id)

    @event(SyncStarted)
    def _sync_started(self, run_id: UUID) -> None:
        self.running_run_id = run_id

    def end_sync(self, run_id: UUID, status: str) -> None:
        """The running sync ended."""
        if self.running_run_id != run_id:
            raise Conflict(f"sync run {run_id} is not the running sync of {self.company}")
        self._sync_ended(run_id=run_id, status=status)

    @event(SyncEnded)
    def _sync_ended(self, run_id: UUID, status: str) -> None:
        self.running_run_id = None
