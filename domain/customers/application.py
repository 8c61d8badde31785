"""Use cases of the customers context (borrower records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, Protocol
from uuid import UUID, uuid4

from domain.customers.customer import CustomerNotFound, CustomerRecord, DuplicateCustomer
from domain.customers.values import (
    Address,
    agent_reason,
    check_date_of_birth,
    normalise_loan_number,
    note_text,
    unlink_reason,
)
from domain.shared.aggregate import acting_as
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock, business_date
from domain.shared.errors import DomainError, FieldChecks, FieldError, InvalidValue
from domain.shared.index import UniqueValue, index_id
from domain.shared.numbering import NumberSeries, SeriesKind
from domain.shared.values import (
    check_callback,
    clean_text,
    normalise_email,
    normalise_name,
    normalise_pan,
    normalise_phone,
)

_LABELS = {"pan": "PAN", "phone": "primary phone", "loan_number": "loan number"}

#: How many times adding a note tries again when another command changed the record first (a note reads nothing
#: of the record, so it is simply appended after the other change).
NOTE_ATTEMPTS = 3


class BorrowerLoans(Protocol):
    """The loans context, as borrower notes need it (answered at wiring: workers/contexts/customers.py)."""

    def borrower_of(self, brand_id: UUID, loan_id: UUID) -> UUID | None:
        """The borrower (customer id) of the brand's loan `loan_id`, or None when the brand has no such loan."""
        ...


class CustomerAgents(Protocol):
    """The identity context, as owning agents need it (answered at wiring: workers/contexts/customers.py)."""

    def can_own_customers(self, brand_id: UUID, staff_id: UUID) -> bool:
        """Whether `staff_id` is a staff member of the brand, enabled, who holds CUSTOMER (reads borrowers)."""
        ...


class BrandDays(Protocol):
    """The identity context, as a borrower's age is judged (answered at wiring: workers/contexts/customers.py)."""

    def business_date(self, brand_id: UUID) -> date:
        """The brand's business date (its configured one, else today in its timezone)."""
        ...


class BorrowerAllocation(Protocol):
    """The identity context and the directory, as auto-allocation of new borrowers needs them (answered at wiring:
    workers/contexts/customers.py)."""

    def auto_allocate(self, brand_id: UUID) -> bool:
        """Whether the brand assigns newly registered borrowers to agents automatically (`auto_allocate_borrowers`)."""
        ...

    def pick_agent(self, brand_id: UUID) -> UUID | None:
        """The eligible agent owning the fewest borrowers (a Sales staff member of the brand, enabled, available, not
        on leave on its business date, who may own borrowers); None when nobody can take one."""
        ...


#: The actor of an auto-allocation's `AgentAssigned` (the registration itself keeps the registrant as its actor).
ALLOCATOR = "auto-allocation"
#: The reason an auto-allocation records.
AUTO_AGENT_REASON = "auto-allocated: fewest borrowers"

#: Why a staff member cannot own borrowers (the 422 on `agent_id`).
NOT_AN_AGENT = "no enabled staff member of the brand who works with customers has this id"


@dataclass(frozen=True)
class NoteResult:
    """What adding a note returns: the borrower, the note's id and the log position a reader can wait for."""

    customer_id: UUID
    note_id: UUID
    position: int


class Customers(ContextApplication):
    """Borrower records: register, update contact details, alternate phones, linked loans."""

    name = "customers"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        numbers: NumberSeries | None = None,
        loans: BorrowerLoans | None = None,
        agents: CustomerAgents | None = None,
        allocation: BorrowerAllocation | None = None,
        days: BrandDays | None = None,
    ) -> None:
        super().__init__(env, clock)
        self.days = days  # without one (tests), a borrower's age is judged on today in India
        self.numbers = numbers  # without one (tests), new records get no formatted id
        self.loans = loans  # without one, a note cannot name a loan (none can be confirmed the borrower's)
        self.agents = agents  # without one, nobody can be confirmed an agent: a record gets none
        self.allocation = allocation  # without one, no borrower is auto-allocated

    def _today(self, brand_id: UUID) -> date:
        """The day a borrower's age is judged on: the brand's business date, as the BRE's age rule and the onboarding
        steps judge it (the India calendar date refused a borrower 18 on the brand's date, or took one not yet)."""
        return self.days.business_date(brand_id) if self.days is not None else business_date(self.clock.now())

    def _check_agent(self, brand_id: UUID, agent_id: UUID, checks: FieldChecks | None = None) -> None:
        """InvalidValue naming `agent_id` (or an error added to `checks`) unless the staff member may own borrowers."""
        if self.agents is not None and self.agents.can_own_customers(brand_id, agent_id):
            return
        if checks is None:
            raise InvalidValue("agent_id", NOT_AN_AGENT)
        checks.errors.append(FieldError("agent_id", NOT_AN_AGENT))

    def register(
        self,
        brand_id: UUID,
        *,
        name: str,
        phone: str,
        pan: str | None = None,
        email: str | None = None,
        date_of_birth: date | None = None,
        addresses: list[Address] | None = None,
        loan_numbers: list[str] | None = None,
        agent_id: UUID | None = None,
    ) -> CommandResult:
        """Register a borrower; PAN, primary phone and loan numbers must be free within the brand. `agent_id`: the
        owning agent from the start (the staff member registering them), an enabled staff member of the brand.
        Without one, a brand with `auto_allocate_borrowers` on gives the borrower to the least-loaded agent in the
        same save (`_auto_allocate`)."""
        checks = FieldChecks()
        clean_name = checks.check(lambda: normalise_name(name))
        clean_phone = checks.check(lambda: normalise_phone(phone))
        clean_pan = checks.check(lambda: normalise_pan(pan)) if pan else None
        clean_email = checks.check(lambda: normalise_email(email)) if email else None
        if date_of_birth is not None:
            checks.check(lambda: check_date_of_birth(date_of_birth, self._today(brand_id)))
        clean_addresses = [a for a in (checks.check(a.checked) for a in addresses or []) if a]
        clean_loans = sorted(
            {n for n in (checks.check(partial(normalise_loan_number, raw)) for raw in loan_numbers or []) if n}
        )
        if agent_id is not None:
            self._check_agent(brand_id, agent_id, checks)
        checks.raise_if_any()
        assert clean_name is not None and clean_phone is not None

        customer = CustomerRecord(
            brand_id=brand_id,
            name=clean_name,
            phone=clean_phone,
            addresses=clean_addresses,
            loan_numbers=clean_loans,
            email=clean_email,
            pan=clean_pan,
            date_of_birth=date_of_birth,
            number=self.numbers.next(brand_id, SeriesKind.CUSTOMER) if self.numbers is not None else None,
            agent_id=agent_id,
        )
        claims = [self._claim(brand_id, "phone", clean_phone, customer.id)]
        if clean_pan:
            claims.append(self._claim(brand_id, "pan", clean_pan, customer.id))
        claims += [self._claim(brand_id, "loan_number", n, customer.id) for n in clean_loans]
        self._auto_allocate(customer)
        return self._commit_claims(customer, claims)

    def _auto_allocate(self, customer: CustomerRecord) -> None:
        """Give a new borrower nobody owns to the least-loaded agent when the brand auto-allocates borrowers: an
        `AgentAssigned` (the event of a manager's move) by ALLOCATOR, saved atomically with the registration, so it
        happens once per borrower (a replay re-reads it; a registration refused or conflicting saves neither)."""
        if self.allocation is None or customer.agent_id is not None:
            return
        try:
            if not self.allocation.auto_allocate(customer.brand_id):
                return
            agent_id = self.allocation.pick_agent(customer.brand_id)
        except DomainError:
            return  # allocation never blocks a registration; a manager moves the borrower
        if agent_id is not None:
            with acting_as(ALLOCATOR):
                customer.assign_agent(agent_id, AUTO_AGENT_REASON)

    def update_details(
        self,
        brand_id: UUID,
        customer_id: UUID,
        *,
        expected_version: int | None = None,
        **fields: Any,
    ) -> CommandResult:
        """Change any of name, phone, pan, email, date_of_birth, addresses (and link loan_numbers)."""
        customer = self.get(brand_id, customer_id)
        self.check_version(customer, expected_version)
        checks = FieldChecks()
        clean: dict[str, Any] = {}
        if fields.get("name") is not None:
            clean["name"] = checks.check(lambda: normalise_name(fields["name"]))
        if fields.get("phone") is not None:
            clean["phone"] = checks.check(lambda: normalise_phone(fields["phone"]))
        if fields.get("pan") is not None:
            clean["pan"] = checks.check(lambda: normalise_pan(fields["pan"]))
        if fields.get("email") is not None:
            clean["email"] = checks.check(lambda: normalise_email(fields["email"]))
        if fields.get("date_of_birth") is not None:
            clean["date_of_birth"] = checks.check(
                lambda: check_date_of_birth(fields["date_of_birth"], self._today(brand_id))
            )
        if fields.get("addresses") is not None:
            clean["addresses"] = [a for a in (checks.check(a.checked) for a in fields["addresses"]) if a]
        loans = [
            n
            for n in (checks.check(partial(normalise_loan_number, raw)) for raw in fields.get("loan_numbers") or [])
            if n
        ]
        checks.raise_if_any()

        old_phone, old_pan = customer.phone, customer.pan
        claims: list[UniqueValue | None] = []
        if clean.get("phone") and clean["phone"] != old_phone:
            claims.append(self._claim(brand_id, "phone", clean["phone"], customer.id))
            claims.append(self._release(brand_id, "phone", old_phone, customer.id))
        if clean.get("pan") and clean["pan"] != old_pan:
            claims.append(self._claim(brand_id, "pan", clean["pan"], customer.id))
            if old_pan:
                claims.append(self._release(brand_id, "pan", old_pan, customer.id))
        customer.update_details(**clean)
        for loan in loans:
            if customer.link_loan_number(loan):
                claims.append(self._claim(brand_id, "loan_number", loan, customer.id))
        return self._commit_claims(customer, claims)

    def add_alternate_phone(
        self, brand_id: UUID, customer_id: UUID, phone: str, label: str | None = None
    ) -> CommandResult:
        """Add a family member's or reference's phone for follow-up."""
        customer = self.get(brand_id, customer_id)
        clean_label = clean_text(label, "label") if label and label.strip() else None
        customer.add_alternate_phone(normalise_phone(phone), clean_label)
        return self.commit(customer)

    def remove_alternate_phone(self, brand_id: UUID, customer_id: UUID, phone: str) -> CommandResult:
        """Remove an alternate phone."""
        customer = self.get(brand_id, customer_id)
        customer.remove_alternate_phone(normalise_phone(phone))
        return self.commit(customer)

    def link_loan_number(self, brand_id: UUID, customer_id: UUID, loan_number: str) -> CommandResult:
        """Link a loan number (unique within the brand)."""
        customer = self.get(brand_id, customer_id)
        loan = normalise_loan_number(loan_number, field="loan_number")
        if not customer.link_loan_number(loan):
            return CommandResult(id=customer.id, position=0, changed=False)
        return self._commit_claims(customer, [self._claim(brand_id, "loan_number", loan, customer.id)])

    def unlink_loan_number(
        self,
        brand_id: UUID,
        customer_id: UUID,
        loan_number: str,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Unlink a loan number linked to the borrower by mistake, with a reason (required, 3-500 characters); the
        number's claim in the brand is released in the same save, so another borrower may link it. InvalidInput
        naming `loan_number` (not a loan number, or not linked to this borrower) and `reason`; CustomerNotFound
        outside the brand (before any field is judged); ConcurrentModification when `expected_version` (If-Match)
        is not the record's."""
        customer = self.get(brand_id, customer_id)
        self.check_version(customer, expected_version)
        checks = FieldChecks()
        loan = checks.check(lambda: normalise_loan_number(loan_number, field="loan_number"))
        why = checks.check(lambda: unlink_reason(reason))
        checks.raise_if_any()
        assert loan is not None and why is not None
        customer.unlink_loan_number(loan, why)
        return self.commit(customer, self._release(brand_id, "loan_number", loan, customer.id))

    def assign_agent(
        self,
        brand_id: UUID,
        customer_id: UUID,
        agent_id: UUID,
        reason: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> CommandResult:
        """A manager (RELOCATE_USER) moves the borrower to another owning agent: an enabled staff member of the brand
        who works with customers (else InvalidValue naming `agent_id`). `expected_version` (If-Match) refuses a move
        made on an older version of the record (ConcurrentModification, as a concurrent move is); moving a borrower
        to the agent who owns them changes nothing (`changed` False)."""
        why = agent_reason(reason)
        customer = self.get(brand_id, customer_id)  # another brand's borrower: 404 before the agent is judged
        self.check_version(customer, expected_version)
        self._check_agent(brand_id, agent_id)
        if not customer.assign_agent(agent_id, why):
            return CommandResult(id=customer.id, position=0, changed=False)
        return self.commit(customer)

    def add_note(
        self,
        brand_id: UUID,
        customer_id: UUID,
        text: str,
        *,
        loan_id: UUID | None = None,
        callback_at: datetime | None = None,
    ) -> NoteResult:
        """Write a note on the borrower's record (its author is the acting staff member or key): 1..2000 characters
        of text, optionally about one of the borrower's loans in the brand and a callback the borrower asked for.
        InvalidInput naming `text`, `loan_id`, `callback_at`; CustomerNotFound outside the brand."""
        customer = self.get(brand_id, customer_id)  # another brand's borrower: 404 before any field is judged
        checks = FieldChecks()
        clean = checks.check(lambda: note_text(text))
        callback = checks.check(lambda: check_callback(callback_at, self.clock.now())) if callback_at else None
        if loan_id is not None:
            owner = self.loans.borrower_of(brand_id, loan_id) if self.loans is not None else None
            if owner != customer_id:
                checks.errors.append(FieldError("loan_id", "not a loan of this borrower"))
        checks.raise_if_any()
        assert clean is not None
        note_id = uuid4()
        attempt = 1
        while True:
            customer.add_note(note_id, clean, loan_id, callback)
            try:
                result = self.commit(customer)
            except ConcurrentModification:
                if attempt == NOTE_ATTEMPTS:
                    raise
                attempt += 1
                customer = self.get(brand_id, customer_id)
                continue
            return NoteResult(customer_id=customer.id, note_id=note_id, position=result.position)

    def assign_number(self, brand_id: UUID, customer_id: UUID) -> CommandResult:
        """Give a record registered before formatted ids existed its number (nothing changes when it has one)."""
        customer = self.get(brand_id, customer_id)
        if customer.number is not None or self.numbers is None:
            return CommandResult(id=customer.id, position=0, changed=False)
        customer.assign_number(self.numbers.next(brand_id, SeriesKind.CUSTOMER))
        return self.commit(customer)

    def get(self, brand_id: UUID, customer_id: UUID) -> CustomerRecord:
        """The borrower record, if it belongs to the brand."""
        return self.load(CustomerRecord, customer_id, brand_id, CustomerNotFound)

    def owner_of(self, brand_id: UUID, kind: str, value: str) -> UUID | None:
        """The borrower currently holding a unique value (kind: pan, phone, loan_number)."""
        index = self.find(index_id(kind, brand_id, value))
        return index.owner_id if isinstance(index, UniqueValue) else None

    def _claim(self, brand_id: UUID, kind: str, value: str, owner_id: UUID) -> UniqueValue | None:
        index: UniqueValue | None = self.find(index_id(kind, brand_id, value))
        if index is None:
            return UniqueValue.claim(brand_id, kind, value, owner_id)
        if index.owner_id is None:
            index.reclaim(owner_id)
            return index
        if index.owner_id == owner_id:
            return None
        raise DuplicateCustomer(
            f"{_LABELS[kind]} {value} already belongs to borrower {index.owner_id}",
            field=kind,
            existing_id=str(index.owner_id),
        )

    def _release(self, brand_id: UUID, kind: str, value: str, owner_id: UUID) -> UniqueValue | None:
        index = self.find(index_id(kind, brand_id, value))
        if isinstance(index, UniqueValue) and index.owner_id == owner_id:
            index.release()
            return index
        return None

    def _commit_claims(self, customer: CustomerRecord, claims: list[UniqueValue | None]) -> CommandResult:
        try:
            return self.commit(customer, *claims)
        except ConcurrentModification:
            # Another request claimed one of the values in the same instant: name the winner.
            for claim in claims:
                if claim is not None:
                    owner = self.owner_of(customer.brand_id, claim.kind, claim.value)
                    if owner is not None and owner != customer.id:
                        raise DuplicateCustomer(
                            f"{_LABELS[claim.kind]} {claim.value} already belongs to borrower {owner}",
                            field=claim.kind,
                            existing_id=str(owner),
                        ) from None
            raise
