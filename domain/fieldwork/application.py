"""Use cases of the fieldwork context: the brand's dialer (settings, click-to-call, call events) and field visits.

Other contexts answer through protocols the declaration fills (`workers/contexts/fieldwork.py`): `LoanContacts`
(the loan's borrower and phones, from loans and customers), `ContactLog` (the collections context's contact log),
`StaffDirectory` (identity), the provider's `Dialer`, `DialerTokens` (where the API token is kept, out of the
events) and the `DocumentStore` holding the visits' photos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from domain.documents.content import ContentType, DocumentStore, checked_content, clean_filename, content_address
from domain.fieldwork.dialer import (
    CONTACT_OUTCOMES,
    CallStatus,
    DialerCall,
    DialerCallNotFound,
    DialerNotConfigured,
    DialerSetup,
    check_account,
    check_extension,
    check_token,
    token_hint,
)
from domain.fieldwork.visit import VISIT_CONTACTS, FieldVisit, FieldVisitNotFound, Photo, VisitOutcome, geotag
from domain.providers.calls import Caller
from domain.providers.dialer import Dialer, DialerCredentials
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock
from domain.shared.errors import FieldChecks, InvalidValue, NotFound
from domain.shared.values import MIN_REASON, clean_text, normalise_phone

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/fieldwork")
DEFAULT_MAX_PHOTO_BYTES = 10 * 1024 * 1024


def setup_id(brand_id: UUID) -> UUID:
    """The id of a brand's dialer settings."""
    return uuid5(_NAMESPACE, f"dialer:{brand_id}")


class LoanNotInBrand(NotFound):
    """Raised when the loan is not one of the brand's (or not one a field visit or call can be made about)."""


class StaffNotInBrand(NotFound):
    """Raised when the staff member named is not an active member of the brand."""


@dataclass(frozen=True)
class LoanContact:
    """What a call or a visit needs of a loan: its borrower, their phones and address."""

    loan_id: UUID
    loan_number: str
    customer_id: UUID
    phone: str
    alternate_phones: tuple[str, ...] = ()
    address: str = ""


class LoanContacts(Protocol):
    """The loans and customers contexts, as a call or a visit asks them."""

    def contact(self, brand_id: UUID, loan_id: UUID) -> LoanContact:
        """The loan's borrower and phones; LoanNotInBrand when it is not the brand's."""
        ...


#: Why a visit cannot go to someone: only staff who may work collections can list and record visits.
NO_FIELD_AGENT = "not an enabled staff member of the brand who may work collections loans"


class StaffDirectory(Protocol):
    """The identity context: is this an active staff member of the brand, and may they work collections?"""

    def is_active(self, brand_id: UUID, staff_id: UUID) -> bool: ...

    def may_visit(self, brand_id: UUID, staff_id: UUID) -> bool:
        """An enabled staff member of the brand holding COLLECTIONS WRITE (who can list and record a visit)."""
        ...


class ContactLog(Protocol):
    """The collections context's contact log, which each ended call and each recorded visit is written onto."""

    def log_call(self, call: DialerCall, outcome: str, remarks: str) -> None:
        """Log an ended call once (a call already logged is no error)."""
        ...

    def log_visit(self, visit: FieldVisit, outcome: str, remarks: str) -> None:
        """Log a recorded field visit."""
        ...


class DialerTokens(Protocol):
    """Where each brand's dialer API token is kept (a secret: out of the events, never shown back)."""

    def token(self, brand_id: UUID) -> str | None: ...

    def keeping(self, brand_id: UUID, token: str) -> Callable[[Any], None]:
        """The write keeping (or replacing) the brand's token, made in the transaction of the settings' events
        (`ContextApplication.commit(beside=...)`): on that transaction's cursor, or on its own given None."""
        ...


@dataclass
class TokensInMemory:
    """Dialer tokens in a dict (application tests)."""

    tokens: dict[UUID, str] = field(default_factory=dict)

    def token(self, brand_id: UUID) -> str | None:
        return self.tokens.get(brand_id)

    def keeping(self, brand_id: UUID, token: str) -> Callable[[Any], None]:
        def write(cursor: Any) -> None:
            self.tokens[brand_id] = token

        return write


@dataclass(frozen=True)
class CallEnded:
    """What the webhook service learns from recording a provider's call event."""

    call: DialerCall
    changed: bool
    position: int


def _text(raw: str | None, name: str, *, required: bool, limit: int = 1000) -> str:
    if not required and not (raw or "").strip():
        return ""
    text = clean_text(
        raw, name, multiline=True, min_visible=MIN_REASON, missing=f"give the {name} (at least 3 characters)"
    )
    if len(text) > limit:
        raise InvalidValue(name, f"at most {limit} characters")
    return text


class FieldWork(ContextApplication):
    """Dialer settings and click-to-call; field visits with geo-tagged photo evidence."""

    name = "fieldwork"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        *,
        loans: LoanContacts,
        staff: StaffDirectory,
        dialer: Dialer | Callable[[UUID], Dialer],
        tokens: DialerTokens | None = None,
        photos: DocumentStore,
        contact_log: ContactLog | None = None,
        max_photo_bytes: int = DEFAULT_MAX_PHOTO_BYTES,
    ) -> None:
        super().__init__(env, clock)
        self.loans, self.staff, self.photos = loans, staff, photos
        self._dialer = dialer
        self.tokens: DialerTokens = tokens if tokens is not None else TokensInMemory()
        self.contact_log = contact_log
        self.max_photo_bytes = max_photo_bytes

    # The dialer's settings --------------------------------------------------------------------------------------

    def dialer_setup(self, brand_id: UUID) -> DialerSetup | None:
        """The brand's dialer settings, None before the first configuration."""
        found = self.find(setup_id(brand_id))
        return found if isinstance(found, DialerSetup) else None

    def _check_setup_version(self, setup: DialerSetup | None, expected_version: int | None) -> None:
        """Refuse a change made against dialer settings at another version (never configured: version 0)."""
        if setup is not None:
            self.check_version(setup, expected_version)
        elif expected_version not in (None, 0):
            raise ConcurrentModification(
                f"the dialer settings are at version 0, not {expected_version}; reload and retry", current_version=0
            )

    def configure_dialer(
        self,
        brand_id: UUID,
        *,
        enabled: bool | None,
        account_id: str | None,
        api_token: str | None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Change the enabled flag, the account or its API token (kept apart, shown only as its last four).
        `expected_version` (If-Match, the portal form's version) refuses a change made against settings that moved
        since with 409 (settings never configured are version 0)."""
        checks = FieldChecks()
        account = checks.check(lambda: check_account(account_id)) if account_id is not None else None
        token = checks.check(lambda: check_token(api_token)) if api_token is not None else None
        checks.raise_if_any()
        setup = self.dialer_setup(brand_id)
        self._check_setup_version(setup, expected_version)
        new_account = account if account is not None else (setup.account_id if setup else None)
        new_hint = token_hint(token) if token is not None else (setup.token_hint if setup else None)
        new_enabled = enabled if enabled is not None else (setup.enabled if setup else False)
        if new_enabled and (new_account is None or new_hint is None):
            raise InvalidValue("enabled", "give the account id and API token before switching the dialer on")
        if setup is None:
            setup = with_id(
                DialerSetup,
                setup_id(brand_id),
                brand_id=brand_id,
                enabled=new_enabled,
                account_id=new_account,
                token_hint=new_hint,
            )
        else:
            replaced = token is not None and token != self.tokens.token(brand_id)  # maybe the same last four
            if not setup.change(new_enabled, new_account, new_hint, token_replaced=replaced):
                return CommandResult(id=setup.id, position=0, changed=False)
        if token is None:
            return self.commit(setup)
        # In the events' transaction: a change refused (409, another admin's saved first) keeps no token.
        return self.commit(setup, beside=(self.tokens.keeping(brand_id, token),))

    def set_extension(
        self, brand_id: UUID, staff_id: UUID, extension: str | None, expected_version: int | None = None
    ) -> CommandResult:
        """Give a staff member their dialer extension (None removes it). `expected_version` (If-Match, the portal
        form's version: the dialer settings', which extensions are part of) refuses a change made against settings
        that moved since with 409."""
        value = check_extension(extension) if extension is not None else None
        if not self.staff.is_active(brand_id, staff_id):
            raise StaffNotInBrand(f"staff member {staff_id} not found", id=str(staff_id))
        setup = self.dialer_setup(brand_id)
        self._check_setup_version(setup, expected_version)
        if setup is None:
            setup = with_id(
                DialerSetup, setup_id(brand_id), brand_id=brand_id, enabled=False, account_id=None, token_hint=None
            )
        if not setup.set_extension(staff_id, value) and setup.version > 1:
            return CommandResult(id=setup.id, position=0, changed=False)
        return self.commit(setup)

    # Click-to-call ----------------------------------------------------------------------------------------------

    def place_call(
        self, brand_id: UUID, loan_id: UUID, staff_id: UUID, phone: str | None, callback_url: str
    ) -> CommandResult:
        """Ring the staff member's extension and bridge to the borrower's phone (or one of their alternate phones);
        recorded once the dialer accepted it. Nothing is recorded when the provider refuses or cannot be reached."""
        contact = self.loans.contact(brand_id, loan_id)
        destination = contact.phone
        if phone is not None and phone.strip():
            chosen = normalise_phone(phone, "phone")
            if chosen != contact.phone and chosen not in contact.alternate_phones:
                raise InvalidValue("phone", "not one of the borrower's phones (Customer 360 lists them)")
            destination = chosen
        setup = self.dialer_setup(brand_id)
        if setup is None:
            raise DialerNotConfigured("the dialer is not configured for this brand (Settings → Dialer)")
        extension = setup.extension_of(staff_id)
        token = self.tokens.token(brand_id)
        if token is None or setup.account_id is None:
            raise DialerNotConfigured("the dialer's API token is missing (Settings → Dialer)")
        call_id = uuid4()
        placed = self.dialer_for(brand_id).click_to_call(
            DialerCredentials(setup.account_id, token),
            extension=extension,
            destination=destination,
            reference=str(call_id),
            callback_url=callback_url,
            caller=Caller(brand_id, contact.customer_id),
        )
        call = with_id(
            DialerCall,
            call_id,
            brand_id=brand_id,
            loan_id=loan_id,
            customer_id=contact.customer_id,
            staff_id=staff_id,
            extension=extension,
            destination=destination,
            alternate=destination != contact.phone,
            provider_call_id=placed.call_id,
        )
        return self.commit(call)

    def dialer_for(self, brand_id: UUID) -> Dialer:
        """The dialer client the brand uses."""
        return self._dialer if not callable(self._dialer) else self._dialer(brand_id)

    def call(self, brand_id: UUID | None, call_id: UUID) -> DialerCall:
        """A call of the brand (None: any brand, for the provider's webhook)."""
        return self.load(DialerCall, call_id, brand_id, DialerCallNotFound)

    def end_call(
        self,
        call_id: UUID,
        provider_call_id: str,
        status: CallStatus,
        duration_seconds: int,
        recording_url: str | None,
        ended_at: datetime,
        event_id: str,
    ) -> CallEnded:
        """Record the provider's `call.completed` (a repeat changes nothing)."""
        call = self.call(None, call_id)
        if call.provider_call_id != provider_call_id:
            raise DialerCallNotFound("no call of ours has this provider id", call_id=provider_call_id)
        changed = call.end(status, duration_seconds, recording_url, ended_at, event_id)
        result = self.commit(call) if changed else CommandResult(id=call.id, position=0, changed=False)
        return CallEnded(call, changed, result.position)

    def log_contact(self, call_id: UUID) -> CommandResult:
        """Write an ended call onto the loan's contact log (once; a no-op without a contact log)."""
        call = self.call(None, call_id)
        if call.contact_logged or self.contact_log is None or call.status is CallStatus.PLACED:
            return CommandResult(id=call.id, position=0, changed=False)
        minutes, seconds = divmod(call.duration_seconds, 60)
        remarks = f"Dialer call ({call.status.value.replace('_', ' ')}, {minutes}m {seconds:02d}s)"
        if call.recording_url:
            remarks += f"; recording: {call.recording_url}"
        self.contact_log.log_call(call, CONTACT_OUTCOMES[call.status], remarks)
        call.mark_logged()
        return self.commit(call)

    # Field visits -----------------------------------------------------------------------------------------------

    def flag_visit(
        self, brand_id: UUID, loan_id: UUID, assignee_id: UUID, reason: str, due_on: date | None = None
    ) -> CommandResult:
        """Flag a loan for a field visit and assign it to a field agent."""
        why = _text(reason, "reason", required=True, limit=500)
        contact = self.loans.contact(brand_id, loan_id)
        if not self.staff.may_visit(brand_id, assignee_id):
            raise InvalidValue("assignee_id", NO_FIELD_AGENT)
        visit = FieldVisit(
            brand_id=brand_id,
            loan_id=loan_id,
            customer_id=contact.customer_id,
            loan_number=contact.loan_number,
            assignee_id=assignee_id,
            reason=why,
            due_on=due_on,
            address=contact.address,
        )
        return self.commit(visit)

    def visit(self, brand_id: UUID, visit_id: UUID, agent_id: UUID | None = None) -> FieldVisit:
        """A visit of the brand; with `agent_id`, only when it is assigned to that agent (else not found)."""
        visit = self.load(FieldVisit, visit_id, brand_id, FieldVisitNotFound)
        if agent_id is not None and visit.assignee_id != agent_id:
            raise FieldVisitNotFound(f"FieldVisit {visit_id} not found", id=str(visit_id))
        return visit

    def reassign_visit(self, brand_id: UUID, visit_id: UUID, assignee_id: UUID) -> CommandResult:
        """Give a visit to another field agent."""
        visit = self.visit(brand_id, visit_id)
        if not self.staff.may_visit(brand_id, assignee_id):
            raise InvalidValue("assignee_id", NO_FIELD_AGENT)
        visit.reassign(assignee_id)
        return self.commit(visit)

    def record_visit(
        self,
        brand_id: UUID,
        visit_id: UUID,
        agent_id: UUID | None,
        *,
        outcome: VisitOutcome,
        latitude: object,
        longitude: object,
        remarks: str | None,
        filename: str,
        data: bytes,
    ) -> CommandResult:
        """Record the visit made by its agent (`agent_id`; None: a manager for them): outcome, geo-tag, a photo."""
        visit = self.visit(brand_id, visit_id, agent_id)
        checks = FieldChecks()
        where = checks.check(lambda: geotag(latitude, longitude))
        note = checks.check(lambda: _text(remarks, "remarks", required=False))
        photo = checks.check(lambda: self._photo(filename, data))
        checks.raise_if_any()
        assert where is not None and note is not None and photo is not None
        lat, lon = where
        visit.record(outcome, note, lat, lon, self.clock.now(), photo)
        self._store(photo, data)
        result = self.commit(visit)
        if self.contact_log is not None:  # after the visit is recorded: the contact log never shows an unrecorded one
            text = f"Field visit: {outcome.value.replace('_', ' ')} at {lat}, {lon}" + (f"; {note}" if note else "")
            self.contact_log.log_visit(visit, VISIT_CONTACTS[outcome], text[:1000])
        return result

    def add_visit_photo(
        self, brand_id: UUID, visit_id: UUID, agent_id: UUID | None, filename: str, data: bytes
    ) -> CommandResult:
        """Another photo of a recorded visit."""
        visit = self.visit(brand_id, visit_id, agent_id)
        photo = self._photo(filename, data)
        visit.add_photo(photo)
        self._store(photo, data)
        return self.commit(visit)

    def cancel_visit(self, brand_id: UUID, visit_id: UUID, reason: str) -> CommandResult:
        """The visit is no longer needed."""
        why = _text(reason, "reason", required=True, limit=500)
        visit = self.visit(brand_id, visit_id)
        visit.cancel(why)
        return self.commit(visit)

    def visit_photo(
        self, brand_id: UUID, visit_id: UUID, sha256: str, agent_id: UUID | None = None
    ) -> tuple[Photo, bytes]:
        """A photo of a visit and its bytes."""
        visit = self.visit(brand_id, visit_id, agent_id)
        photo = next((p for p in visit.photos if p.sha256 == sha256), None)
        if photo is None:
            raise FieldVisitNotFound("no such photo on this visit", sha256=sha256)
        return photo, self.photos.get(sha256)

    def _photo(self, filename: str, data: bytes) -> Photo:
        name = clean_filename(filename)
        kind = checked_content(name, data, self.max_photo_bytes)
        if kind not in (ContentType.JPEG, ContentType.PNG):
            raise InvalidValue("file", "a photo is a JPEG or PNG image")
        return Photo(sha256=content_address(data), content_type=kind.value, size=len(data), filename=name)

    def _store(self, photo: Photo, data: bytes) -> None:
        # Bytes first (the command has passed its checks): an event never points at bytes that are not stored.
        self.photos.put(photo.sha256, data, photo.content_type)
