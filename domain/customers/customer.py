"""CustomerRecord: the borrower record that notices, covenants and loans link to."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.customers.values import Address
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound

MAX_ALTERNATE_PHONES = 10


class CustomerNotFound(NotFound):
    """Raised when no borrower record has the id within the caller's brand."""


class DuplicateCustomer(Conflict):
    """Raised when a PAN, primary phone or loan number already belongs to another borrower of the brand."""


class CustomerRecord(Aggregate):
    """A borrower of one brand, with contact details, identity, linked loans and the staff member who owns them."""

    #: The owning agent (a staff member of the brand), None while nobody owns the borrower. Also a class default: an
    #: audit snapshot taken before agents existed decodes without the member.
    agent_id: UUID | None = None

    class Registered(Aggregate.Created):
        """A borrower record was created."""

        brand_id: UUID
        name: str
        phone: str
        email: str | None = None
        pan: str | None = None
        date_of_birth: date | None = None
        addresses: list[Address]
        loan_numbers: list[str]
        number: str | None = None  # the brand's formatted id (DEMO-C-000123); absent on records made before it
        #: The staff member who owns the borrower from the start (the staff member who registered them); absent
        #: when a borrower signed up themselves, a key or a job registered them, or the record predates agents.
        agent_id: UUID | None = None

    class NumberAssigned(Aggregate.Event):
        """A record registered before formatted ids existed was given one."""

        number: str

    class DetailsUpdated(Aggregate.Event):
        """Contact or identity details changed; only the changed fields are set."""

        name: str | None = None
        phone: str | None = None
        email: str | None = None
        pan: str | None = None
        date_of_birth: date | None = None
        addresses: list[Address] | None = None

    class AlternatePhoneAdded(Aggregate.Event):
        """A family member's or reference's phone was added for follow-up."""

        phone: str
        label: str | None = None

    class AlternatePhoneRemoved(Aggregate.Event):
        """An alternate phone was removed."""

        phone: str

    class LoanNumberLinked(Aggregate.Event):
        """A loan (in this or an external loan system) was linked to the borrower."""

        loan_number: str

    class LoanNumberUnlinked(Aggregate.Event):
        """Staff unlinked a loan number linked to the borrower by mistake, with their reason (who: the event's
        actor); notices are no longer matched to the borrower by it, and the number is free for another borrower."""

        loan_number: str
        reason: str

    class AgentAssigned(Aggregate.Event):
        """A manager (RELOCATE_USER) moved the borrower to another owning agent, a staff member of the brand, or the
        brand's auto-allocation gave a new borrower to one (actor `auto-allocation`); who moved them is the event's
        actor."""

        agent_id: UUID
        previous_agent_id: UUID | None = None
        reason: str

    class NoteAdded(Aggregate.Event):
        """Staff wrote a note on the borrower's record (its author is the event's actor); notes are never edited or
        removed: a correction is another note. It carries the brand, so the notes read model needs no lookup."""

        brand_id: UUID
        note_id: UUID
        text: str
        loan_id: UUID | None = None  # the borrower's loan the note is about
        callback_at: datetime | None = None  # when the borrower asked to be called back (UTC)

    @event(Registered)
    def __init__(
        self,
        brand_id: UUID,
        name: str,
        phone: str,
        addresses: list[Address],
        loan_numbers: list[str],
        email: str | None = None,
        pan: str | None = None,
        date_of_birth: date | None = None,
        number: str | None = None,
        agent_id: UUID | None = None,
    ) -> None:
        self.brand_id = brand_id
        self.number = number
        self.agent_id = agent_id
        self.name = name
        self.phone = phone
        self.email = email
        self.pan = pan
        self.date_of_birth = date_of_birth
        self.addresses: list[Address] = list(addresses)
        self.loan_numbers: list[str] = list(loan_numbers)
        self.alternate_phones: dict[str, str | None] = {}

    def assign_number(self, number: str) -> bool:
        """Give the record its formatted id; False (nothing recorded) when it has one already."""
        if self.number is not None:
            return False
        self._number_assigned(number=number)
        return True

    @event(NumberAssigned)
    def _number_assigned(self, number: str) -> None:
        self.number = number

    def update_details(
        self,
        *,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        pan: str | None = None,
        date_of_birth: date | None = None,
        addresses: list[Address] | None = None,
    ) -> bool:
        """Apply the fields that differ from current values; return False when nothing changed."""
        changes: dict[str, Any] = {
            key: value
            for key, value in {
                "name": name,
                "phone": phone,
                "email": email,
                "pan": pan,
                "date_of_birth": date_of_birth,
                "addresses": addresses,
            }.items()
            if value is not None and value != getattr(self, key)
        }
        if "phone" in changes and changes["phone"] in self.alternate_phones:
            raise InvalidValue("phone", "this number is already an alternate phone; remove it first")
        if not changes:
            return False
        self._details_updated(**changes)
        return True

    @event(DetailsUpdated)
    def _details_updated(
        self,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        pan: str | None = None,
        date_of_birth: date | None = None,
        addresses: list[Address] | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        if phone is not None:
            self.phone = phone
        if email is not None:
            self.email = email
        if pan is not None:
            self.pan = pan
        if date_of_birth is not None:
            self.date_of_birth = date_of_birth
        if addresses is not None:
            self.addresses = list(addresses)

    def add_alternate_phone(self, phone: str, label: str | None = None) -> None:
        """Add a normalised alternate phone (not the primary, not twice, at most ten)."""
        if phone == self.phone:
            raise InvalidValue("phone", "this is the borrower's primary phone")
        if phone in self.alternate_phones:
            raise Conflict(f"{phone} is already an alternate phone of this borrower", phone=phone)
        if len(self.alternate_phones) >= MAX_ALTERNATE_PHONES:
            raise Conflict(f"a borrower can have at most {MAX_ALTERNATE_PHONES} alternate phones")
        self._alternate_phone_added(phone=phone, label=label)

    @event(AlternatePhoneAdded)
    def _alternate_phone_added(self, phone: str, label: str | None) -> None:
        self.alternate_phones[phone] = label

    def remove_alternate_phone(self, phone: str) -> None:
        """Remove an alternate phone the record has."""
        if phone not in self.alternate_phones:
            raise NotFound(f"{phone} is not an alternate phone of this borrower", phone=phone)
        self._alternate_phone_removed(phone=phone)

    @event(AlternatePhoneRemoved)
    def _alternate_phone_removed(self, phone: str) -> None:
        del self.alternate_phones[phone]

    def link_loan_number(self, loan_number: str) -> bool:
        """Link a loan number; linking one already linked changes nothing."""
        if loan_number in self.loan_numbers:
            return False
        self._loan_number_linked(loan_number=loan_number)
        return True

    @event(LoanNumberLinked)
    def _loan_number_linked(self, loan_number: str) -> None:
        self.loan_numbers.append(loan_number)

    def unlink_loan_number(self, loan_number: str, reason: str) -> None:
        """Unlink a linked loan number (`reason` checked by the use case); InvalidValue naming `loan_number` when the
        record has no such number."""
        if loan_number not in self.loan_numbers:
            raise InvalidValue("loan_number", f"{loan_number} is not a loan number linked to this borrower")
        self._loan_number_unlinked(loan_number=loan_number, reason=reason)

    @event(LoanNumberUnlinked)
    def _loan_number_unlinked(self, loan_number: str, reason: str) -> None:
        self.loan_numbers.remove(loan_number)

    def assign_agent(self, agent_id: UUID, reason: str) -> bool:
        """Make `agent_id` (checked by the use case: an enabled staff member of the brand) the owning agent; False
        (nothing recorded) when they own the borrower already."""
        if agent_id == self.agent_id:
            return False
        self._agent_assigned(agent_id=agent_id, previous_agent_id=self.agent_id, reason=reason)
        return True

    @event(AgentAssigned)
    def _agent_assigned(self, agent_id: UUID, previous_agent_id: UUID | None, reason: str) -> None:
        self.agent_id = agent_id

    def add_note(
        self, note_id: UUID, text: str, loan_id: UUID | None = None, callback_at: datetime | None = None
    ) -> None:
        """Record a note already checked by the use case (text rules, the loan is the borrower's, the callback)."""
        self._note_added(brand_id=self.brand_id, note_id=note_id, text=text, loan_id=loan_id, callback_at=callback_at)

    @event(NoteAdded)
    def _note_added(
        self, brand_id: UUID, note_id: UUID, text: str, loan_id: UUID | None, callback_at: datetime | None
    ) -> None:
        """Nothing to keep: no rule of the record reads its notes (the notes read model lists them), and a snapshot
        taken before notes existed stays valid."""
