"""The owning agent of a borrower record: who may own borrowers, registration by a staff member, a manager's move
(idempotent, If-Match, brand scoping, the reason) - on the in-memory event store with a fixed clock (the API, the
directory's agent filter and the portal are tested end to end in tests/e2e/test_customer_agents.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound, CustomerRecord
from domain.customers.values import DEFAULT_AGENT_REASON
from domain.shared.aggregate import acting_as
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000a2")
PRIYA, RAVI = uuid.UUID(int=0xA1), uuid.UUID(int=0xA2)


@dataclass
class Staff:
    """The identity context as owning agents see it: staff id -> brand of those who may own borrowers."""

    agents: dict[uuid.UUID, uuid.UUID] = field(default_factory=lambda: {PRIYA: BRAND, RAVI: BRAND})

    def can_own_customers(self, brand_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
        return self.agents.get(staff_id) == brand_id


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def customers(clock: FixedClock, staff: Staff) -> Customers:
    return in_memory(Customers, clock, agents=staff)


def _borrower(app: Customers, brand: uuid.UUID = BRAND, agent: uuid.UUID | None = None) -> uuid.UUID:
    return app.register(brand, name="Asha Kulkarni", phone="98765 43210", agent_id=agent).id


def _borrower_two(app: Customers) -> uuid.UUID:
    return app.register(BRAND, name="Meena Reddy", phone="98765 43212").id


def _moves(app: Customers, customer_id: uuid.UUID) -> list[CustomerRecord.AgentAssigned]:
    return [e for e in app.events.get(customer_id) if isinstance(e, CustomerRecord.AgentAssigned)]


def _refused_fields(call: object) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        call()  # type: ignore[operator]
    return [e.field for e in refused.value.errors]


def test_a_borrower_registered_by_a_staff_member_is_theirs_from_the_first_event(customers: Customers) -> None:
    asha = _borrower(customers, agent=PRIYA)
    [registered] = customers.events.get(asha)
    assert isinstance(registered, CustomerRecord.Registered) and registered.agent_id == PRIYA
    assert customers.get(BRAND, asha).agent_id == PRIYA and customers.get(BRAND, asha).version == 1
    unowned = customers.register(BRAND, name="Ravi Iyer", phone="98765 43211").id  # a key, a job, a sign-up
    assert customers.get(BRAND, unowned).agent_id is None


def test_registering_with_someone_who_may_not_own_borrowers_is_refused_with_the_other_bad_fields(
    customers: Customers,
) -> None:
    outsider = uuid.uuid4()
    fields = _refused_fields(lambda: customers.register(BRAND, name="Asha Kulkarni", phone="12", agent_id=outsider))
    assert sorted(fields) == ["agent_id", "phone"]
    assert customers.recorder.max_notification_id() in (0, None)  # nothing written


def test_a_move_records_the_agent_the_previous_one_the_reason_and_who_moved(customers: Customers) -> None:
    asha = _borrower(customers, agent=PRIYA)
    with acting_as("staff:5a1e5"):
        result = customers.assign_agent(BRAND, asha, RAVI, "  Priya moved\n to the  north team ")
    [move] = _moves(customers, asha)
    assert result.changed and result.position == customers.recorder.max_notification_id()
    assert (move.agent_id, move.previous_agent_id, move.reason, move.actor) == (
        RAVI, PRIYA, "Priya moved to the north team", "staff:5a1e5",
    )  # fmt: skip
    assert customers.get(BRAND, asha).agent_id == RAVI and customers.get(BRAND, asha).version == 2
    first = customers.assign_agent(BRAND, _borrower_two(customers), PRIYA)  # nobody owned them; no reason given
    [unowned_move] = _moves(customers, first.id)
    assert unowned_move.previous_agent_id is None and unowned_move.reason == DEFAULT_AGENT_REASON


def test_moving_a_borrower_to_their_own_agent_changes_nothing(customers: Customers) -> None:
    asha = _borrower(customers, agent=PRIYA)
    before = customers.recorder.max_notification_id()
    again = customers.assign_agent(BRAND, asha, PRIYA, "same again", expected_version=1)
    assert (again.changed, again.position) == (False, 0)
    assert customers.recorder.max_notification_id() == before and _moves(customers, asha) == []


def test_a_move_to_another_brands_staff_a_disabled_or_unknown_one_is_refused_naming_agent_id(
    customers: Customers, staff: Staff
) -> None:
    asha = _borrower(customers, agent=PRIYA)
    elsewhere = uuid.uuid4()
    staff.agents[elsewhere] = OTHER  # a staff member of another brand
    disabled = uuid.uuid4()  # (the wiring answers False for a disabled one, as for one without CUSTOMER)
    for agent in (elsewhere, disabled, uuid.uuid4()):
        assert _refused_fields(lambda a=agent: customers.assign_agent(BRAND, asha, a)) == ["agent_id"]
    assert _refused_fields(lambda: customers.assign_agent(BRAND, asha, RAVI, "no")) == ["reason"]
    assert _refused_fields(lambda: customers.assign_agent(BRAND, asha, RAVI, "x" * 501)) == ["reason"]
    assert _moves(customers, asha) == [] and customers.get(BRAND, asha).agent_id == PRIYA


def test_another_brands_borrower_is_not_found_before_the_agent_is_judged(customers: Customers) -> None:
    theirs = _borrower(customers, brand=OTHER)
    with pytest.raises(CustomerNotFound):
        customers.assign_agent(BRAND, theirs, RAVI)
    with pytest.raises(CustomerNotFound):
        customers.assign_agent(BRAND, theirs, uuid.uuid4())  # not a 422 that would tell the record exists


def test_a_move_made_on_an_older_version_is_refused_and_a_note_moves_the_version(customers: Customers) -> None:
    asha = _borrower(customers, agent=PRIYA)
    customers.add_note(BRAND, asha, "Called; salary credited late")
    with pytest.raises(ConcurrentModification):
        customers.assign_agent(BRAND, asha, RAVI, expected_version=1)  # read before the note
    assert customers.assign_agent(BRAND, asha, RAVI, expected_version=2).changed
    with pytest.raises(ConcurrentModification):
        customers.assign_agent(BRAND, asha, PRIYA, expected_version=2)  # read before the move
    assert customers.get(BRAND, asha).agent_id == RAVI


def test_without_the_identity_context_nobody_can_be_made_an_agent(clock: FixedClock) -> None:
    bare = in_memory(Customers, clock)
    asha = bare.register(BRAND, name="Asha Kulkarni", phone="98765 43210").id
    assert _refused_fields(lambda: bare.assign_agent(BRAND, asha, PRIYA)) == ["agent_id"]
