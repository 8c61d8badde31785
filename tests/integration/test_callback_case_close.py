"""A collection case closing hands its executive's open callback requests back (docs/callbacks.md, "Re-routed when
the holder changes"), on PostgreSQL with the real projections and the callback router: the close recorded as the
sweep records it (`Collections.record_moves`, a move with `closed`), queued by `callback_case_handovers`, applied by
`CallbackRouter` to the request of the loan's borrower still with the executive, which goes to whoever then holds the
borrower by the routing rule (the loan's CX; nobody when no one holds it) with cause `case_closed`, and the new holder
is told once. A follow-up promised by someone else, or a request held by anyone else, stays; a replayed hand-over
projection or a repeated pass moves nothing twice; another brand's requests are never touched.

The requests are recorded through the callbacks application with the holder the routing rule gives when asked
(`CallbackLookups.assignee`, what `Callbacks.request` asks): a borrower asking through the borrower API needs the
whole onboarding flow, which tests/e2e/test_callbacks.py drives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.callbacks.application import Callbacks
from domain.callbacks.request import CallbackRequest, CallbackSource, CallbackWindow, RerouteCause
from domain.collections.application import Collections
from domain.collections.case import Outcome, Stage
from domain.collections.moves import Move
from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.shared.aggregate import acting_as
from projections.callbacks import CallbackLookups, CallbackQueries
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_api_loans import PRODUCT
from tests.e2e.test_servicing_api import catalogue
from tests.support import mobile, settle
from workers.callback_jobs import CallbackJobPort, CallbackRouter

__all__ = ["catalogue"]  # the loans' product catalogue (autouse)

DAY = date(2026, 3, 2)


@dataclass
class Book:
    """A brand with a credit executive, a collection executive and a collection manager."""

    tenant: Tenant
    cx: UUID
    executive: UUID
    manager: UUID

    @property
    def brand(self) -> UUID:
        return self.tenant.brand_id


def _staff(platform: Any, brand: UUID, role: str, name: str) -> UUID:
    made = platform.get(Identity).create_staff(brand, f"{role}-{uuid.uuid4().hex[:8]}@lender.in", name, [role],
                                               "case-close-pass-2026", granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    return UUID(str(made.id))


@pytest.fixture
def book(platform: Any) -> Iterator[Book]:
    tenant = make_tenant(platform)
    brand = tenant.brand_id
    yield Book(
        tenant,
        cx=_staff(platform, brand, "credit_executive", "Kavya Credit"),
        executive=_staff(platform, brand, "collection_executive", "Ravi Collections"),
        manager=_staff(platform, brand, "collection_manager", "Meena Manager"),
    )


def _borrower_with_loan(platform: Any, book: Book, cx: UUID | None) -> tuple[UUID, UUID]:
    """A borrower (Customer 360 record) and their application, assigned to `cx` (None: to nobody)."""
    customer = platform.get(Customers).register(
        book.brand, name="Asha Verma", phone=mobile("98"), date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    loans: Loans = platform.get(Loans)
    loan_id = UUID(str(loans.create(book.brand, customer.id, PRODUCT, "100000", 12).id))
    result = loans.assign(book.brand, loan_id, cx) if cx is not None else None
    settle(platform, Loans.name, result.position if result else None)
    return UUID(str(customer.id)), loan_id


def _case(platform: Any, book: Book, loan_id: UUID, executive: UUID, closed: str | None = None) -> None:
    """The sweep opens the loan's collection case with `executive`, or closes it (`closed`: why)."""
    move = Move(loan_id=loan_id, stage=Stage.COLLECTIONS, staff_id=executive,
                previous=executive if closed else None, dpd=0 if closed else 3,
                amount=Decimal("0.00") if closed else Decimal("8037.57"), closed=closed)  # fmt: skip
    platform.get(Collections).record_moves(book.brand, DAY + timedelta(days=1 if closed else 0), [move])
    settle(platform, Collections.name)


def _ask(platform: Any, book: Book, customer: UUID, loan_id: UUID | None) -> UUID:
    """The borrower's request, routed as `Callbacks.request` routes it (the routing rule over the read models)."""
    holder = CallbackLookups(platform.db.pool).assignee(book.brand, customer, loan_id)
    request = CallbackRequest(
        brand_id=book.brand, borrower_id=uuid.uuid4(), customer_id=customer, phone="+919800000001", loan_id=loan_id,
        loan_number=None, window=CallbackWindow.ANYTIME, note="EMI date?", assignee_id=holder,
        source=CallbackSource.API,
    )  # fmt: skip
    made = platform.get(Callbacks).commit(request)
    settle(platform, Callbacks.name, made.position)
    return request.id


def _route(platform: Any) -> None:
    """Runs of the router until its queues stay empty once its moves are projected (a move queues the new holder's
    notice through the callbacks projection, which the next pass pushes), then its writes read back."""
    router = CallbackRouter(platform.port(CallbackJobPort))
    while True:
        handled = 0
        while router.drain():  # the queues also hold other tests' hand-overs
            handled += 1
        settle(platform, Callbacks.name)
        if not handled:
            break
    settle(platform, "staff_notices")


def _holder(platform: Any, book: Book, request_id: UUID) -> UUID | None:
    row = CallbackQueries(platform.db.pool).request(book.brand, request_id)
    assert row is not None and row.status == "open"
    assert platform.get(Callbacks).get(book.brand, request_id).assignee_id == row.assignee_id  # the event store too
    return row.assignee_id


def _moves(platform: Any, book: Book, request_id: UUID) -> list[CallbackRequest.Reassigned]:
    events = platform.get(Callbacks).repository.event_store.get(request_id)
    return [e for e in events if isinstance(e, CallbackRequest.Reassigned)]


def _notices(platform: Any, book: Book, staff_id: UUID) -> list[str]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT title FROM read.staff_notices WHERE brand_id = %s AND %s = ANY(staff_ids) "
            "AND created_by = 'job:callback-router' ORDER BY created_at",
            (book.brand, staff_id),
        ).fetchall()
    return [r["title"] for r in rows]


def test_a_case_closing_hands_its_executives_request_to_the_cx_who_is_told_once(platform: Any, book: Book) -> None:
    customer, loan = _borrower_with_loan(platform, book, book.cx)
    _case(platform, book, loan, book.executive)
    request = _ask(platform, book, customer, loan)
    assert _holder(platform, book, request) == book.executive  # the open case's executive before the CX
    _route(platform)
    assert _notices(platform, book, book.executive) == ["New callback request: Asha Verma"]

    _case(platform, book, loan, book.executive, closed="cured")
    _route(platform)
    assert _holder(platform, book, request) == book.cx
    [moved] = _moves(platform, book, request)
    assert (moved.assignee_id, moved.previous_assignee_id, moved.cause, moved.loan_id, moved.reason, moved.actor) == (
        book.cx, book.executive, RerouteCause.CASE_CLOSED, loan, "case closed: cured", "job:callback-router")  # fmt: skip
    assert _notices(platform, book, book.cx) == ["New callback request: Asha Verma"]
    queue = CallbackQueries(platform.db.pool).queue(book.brand, "open", book.cx)
    assert [r.id for r in queue.items] == [request]
    assert CallbackQueries(platform.db.pool).queue(book.brand, "open", book.executive).items == []

    _route(platform)  # a repeat: nothing moves back or again, nobody is told twice
    assert _holder(platform, book, request) == book.cx and len(_moves(platform, book, request)) == 1
    assert _notices(platform, book, book.cx) == ["New callback request: Asha Verma"]
    assert _notices(platform, book, book.executive) == ["New callback request: Asha Verma"]


def test_a_request_goes_to_nobody_when_no_one_holds_the_borrower_after_the_case(platform: Any, book: Book) -> None:
    customer, loan = _borrower_with_loan(platform, book, None)  # an application no CX holds
    _case(platform, book, loan, book.executive)
    request = _ask(platform, book, customer, None)  # about none: routed by the borrower's open application
    assert _holder(platform, book, request) == book.executive
    _case(platform, book, loan, book.executive, closed="not_due")
    _route(platform)
    assert _holder(platform, book, request) is None
    [moved] = _moves(platform, book, request)
    assert (moved.assignee_id, moved.previous_assignee_id, moved.cause) == (
        None, book.executive, RerouteCause.CASE_CLOSED)  # fmt: skip
    unassigned = CallbackQueries(platform.db.pool).queue(book.brand, "open", "unassigned")
    assert [r.id for r in unassigned.items] == [request]


def test_a_follow_up_promised_by_a_manager_stays_and_the_executives_own_promise_goes_to_the_cx(
    platform: Any, book: Book
) -> None:
    callbacks: Callbacks = platform.get(Callbacks)
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    follow_ups = []
    for promiser in (book.manager, book.executive):
        customer, loan = _borrower_with_loan(platform, book, book.cx)
        _case(platform, book, loan, book.executive)
        asked = _ask(platform, book, customer, loan)
        with acting_as(f"staff:{promiser}"):
            answered = callbacks.respond(book.brand, asked, Outcome.CALLBACK_REQUESTED, "call me tomorrow", None,
                                         tomorrow, staff_id=promiser)  # fmt: skip
        settle(platform, Callbacks.name, answered.position)
        follow_up = callbacks.get(book.brand, asked).follow_up_id
        assert follow_up is not None and _holder(platform, book, follow_up) == promiser
        follow_ups.append((follow_up, loan))
    for _, loan in follow_ups:
        _case(platform, book, loan, book.executive, closed="cured")
    _route(platform)

    (managers, _), (executives, _) = follow_ups
    assert _holder(platform, book, managers) == book.manager and _moves(platform, book, managers) == []
    assert _holder(platform, book, executives) == book.cx  # the promise was the case's: the CX keeps it, due then
    assert callbacks.get(book.brand, executives).due_at == tomorrow
    assert _notices(platform, book, book.cx) == ["Follow-up callback now yours: Asha Verma"]
    assert _notices(platform, book, book.manager) == []  # they promised it themselves: no news to them


def test_a_request_not_held_by_the_cases_executive_stays(platform: Any, book: Book) -> None:
    customer, loan = _borrower_with_loan(platform, book, book.cx)
    _case(platform, book, loan, book.executive)
    # A request another staff member holds (a colleague took it: it is theirs, not the case's).
    request = CallbackRequest(
        brand_id=book.brand, borrower_id=uuid.uuid4(), customer_id=customer, phone="+919800000002", loan_id=None,
        loan_number=None, window=CallbackWindow.MORNING, note="", assignee_id=book.manager, source=CallbackSource.WEB,
    )  # fmt: skip
    settle(platform, Callbacks.name, platform.get(Callbacks).commit(request).position)
    _case(platform, book, loan, book.executive, closed="cured")
    _route(platform)
    assert _holder(platform, book, request.id) == book.manager and _moves(platform, book, request.id) == []


def test_replaying_the_hand_over_projection_moves_nothing_twice(platform: Any, book: Book) -> None:
    customer, loan = _borrower_with_loan(platform, book, book.cx)
    _case(platform, book, loan, book.executive)
    request = _ask(platform, book, customer, None)
    _case(platform, book, loan, book.executive, closed="cured")
    _route(platform)
    assert _holder(platform, book, request) == book.cx
    # The application goes to another CX (after the close), then the hand-over projection is rebuilt: every
    # allocation and close of the collections' log is queued again, this close too.
    cx2 = _staff(platform, book.brand, "credit_executive", "Mohan Credit")
    settle(platform, Loans.name, platform.get(Loans).assign(book.brand, loan, cx2).position)
    _route(platform)
    assert _holder(platform, book, request) == cx2

    platform.engine.rebuild("callback_case_handovers")
    with platform.db.pool.connection() as conn:
        queued = conn.execute(
            "SELECT closed, previous FROM read.callback_case_handovers WHERE loan_id = %s AND closed IS NOT NULL",
            (loan,),
        ).fetchone()
    assert queued is not None and (queued["closed"], queued["previous"]) == ("cured", book.executive)
    _route(platform)
    assert _holder(platform, book, request) == cx2
    assert [m.cause for m in _moves(platform, book, request)] == [
        RerouteCause.CASE_CLOSED, RerouteCause.APPLICATION_ASSIGNED]  # fmt: skip
    assert _notices(platform, book, book.cx) == ["New callback request: Asha Verma"]
    assert _notices(platform, book, cx2) == ["New callback request: Asha Verma"]


def test_a_case_closed_in_one_brand_never_touches_another_brands_requests(platform: Any, book: Book) -> None:
    customer, loan = _borrower_with_loan(platform, book, book.cx)
    _case(platform, book, loan, book.executive)
    other = make_tenant(platform)
    # Another brand's request naming this borrower's record and held by this executive (a probe: ids never cross).
    probe = CallbackRequest(
        brand_id=other.brand_id, borrower_id=uuid.uuid4(), customer_id=customer, phone="+919800000003",
        loan_id=None, loan_number=None, window=CallbackWindow.ANYTIME, note="", assignee_id=book.executive,
        source=CallbackSource.API,
    )  # fmt: skip
    settle(platform, Callbacks.name, platform.get(Callbacks).commit(probe).position)
    _case(platform, book, loan, book.executive, closed="completed")
    _route(platform)
    theirs = platform.get(Callbacks).get(other.brand_id, probe.id)
    assert theirs.assignee_id == book.executive and _moves(platform, book, probe.id) == []


def test_a_close_the_case_read_model_does_not_show_yet_waits(platform: Any, book: Book) -> None:
    customer, loan = _borrower_with_loan(platform, book, book.cx)
    _case(platform, book, loan, book.executive)
    request = _ask(platform, book, customer, loan)
    # A close queued beyond what `read.collection_cases` has applied (the collections projection behind the hand-over
    # one): read now, the rule would find the case open and keep the request with its executive, so it waits.
    ahead = platform.engine.head(Collections.name) + 1_000_000
    with platform.db.pool.connection() as conn:
        conn.execute(
            "INSERT INTO read.callback_case_handovers (position, loan_id, staff_id, previous, reason, at, closed) "
            "VALUES (%s, %s, NULL, %s, 'case closed: cured', now(), 'cured')",
            (ahead, loan, book.executive),
        )
    try:
        _route(platform)
        with platform.db.pool.connection() as conn:
            waiting = conn.execute(
                "SELECT count(*) AS n FROM read.callback_case_handovers WHERE position = %s", (ahead,)
            ).fetchone()
        assert waiting["n"] == 1  # still queued, not dropped
        assert _holder(platform, book, request) == book.executive and _moves(platform, book, request) == []
    finally:
        with platform.db.pool.connection() as conn:
            conn.execute("DELETE FROM read.callback_case_handovers WHERE position = %s", (ahead,))


def test_a_request_released_to_the_pool_goes_to_the_executive_the_case_is_then_allocated_to(
    platform: Any, book: Book
) -> None:
    callbacks: Callbacks = platform.get(Callbacks)
    executive2 = _staff(platform, book.brand, "collection_executive", "Divya Collections")
    customer, loan = _borrower_with_loan(platform, book, None)  # no CX: the case's executive alone holds them
    _case(platform, book, loan, book.executive)
    request = _ask(platform, book, customer, loan)
    other_customer, other_loan = _borrower_with_loan(platform, book, None)
    _case(platform, book, other_loan, book.executive)
    other = _ask(platform, book, other_customer, None)
    assert _holder(platform, book, request) == book.executive == _holder(platform, book, other)

    settle(platform, "identity", platform.get(Identity).set_enabled(book.brand, book.executive, False,
                                                                     granter=OPERATOR).position)  # fmt: skip
    _route(platform)
    assert _holder(platform, book, request) is None and _holder(platform, book, other) is None  # the pool
    # The manager takes the other borrower's request from the pool: they answer it and promise the call.
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    with acting_as(f"staff:{book.manager}"):
        answered = callbacks.respond(book.brand, other, Outcome.CALLBACK_REQUESTED, "call me tomorrow", None,
                                     tomorrow, staff_id=book.manager)  # fmt: skip
    settle(platform, Callbacks.name, answered.position)
    promised = callbacks.get(book.brand, other).follow_up_id
    assert promised is not None and _holder(platform, book, promised) == book.manager

    # A manager reallocates both cases to another executive: the request in the pool goes with its case.
    moved = platform.get(Collections).reallocate(book.brand, [loan, other_loan], executive2, DAY)
    settle(platform, Collections.name, moved.position)
    _route(platform)
    assert _holder(platform, book, request) == executive2
    released, allocated = _moves(platform, book, request)
    assert (released.cause, released.assignee_id) == (RerouteCause.HOLDER_DEPARTED, None)
    assert (allocated.assignee_id, allocated.previous_assignee_id, allocated.cause, allocated.loan_id,
            allocated.reason) == (executive2, None, RerouteCause.CASE_ALLOCATED, loan,
                                  "reallocated by a manager")  # fmt: skip
    assert _notices(platform, book, executive2) == ["New callback request: Asha Verma"]
    assert _holder(platform, book, promised) == book.manager and _moves(platform, book, promised) == []

    # Read again - a repeated pass, the hand-over projection rebuilt (every allocation, the first one to the
    # executive who left included, queued again) - nothing moves twice and nobody is told twice.
    platform.engine.rebuild("callback_case_handovers")
    _route(platform)
    assert _holder(platform, book, request) == executive2 and len(_moves(platform, book, request)) == 2
    assert _notices(platform, book, executive2) == ["New callback request: Asha Verma"]
    assert _holder(platform, book, promised) == book.manager and _moves(platform, book, promised) == []


def test_a_request_released_after_its_case_was_reallocated_goes_to_the_cases_executive_now(
    platform: Any, book: Book
) -> None:
    """The executive leaves as a manager reallocates their case, and the router's release read the routing rule while
    `read.collection_cases` still showed the one who left (so, to nobody), after the reallocation: the hand-over is
    older than the release, and the request still goes to the case's executive now - not to one it named before."""
    callbacks: Callbacks = platform.get(Callbacks)
    executive2 = _staff(platform, book.brand, "collection_executive", "Divya Collections")
    customer, loan = _borrower_with_loan(platform, book, None)  # no CX: the case's executive alone holds them
    _case(platform, book, loan, book.executive)
    request = _ask(platform, book, customer, loan)
    assert _holder(platform, book, request) == book.executive

    settle(platform, Collections.name, platform.get(Collections).reallocate(book.brand, [loan], executive2,
                                                                            DAY).position)  # fmt: skip
    settle(platform, "identity", platform.get(Identity).set_enabled(book.brand, book.executive, False,
                                                                     granter=OPERATOR).position)  # fmt: skip
    with acting_as("job:callback-router"):
        released = callbacks.release(book.brand, request, to=None, previous=book.executive,
                                     reason="staff member disabled")  # fmt: skip
    settle(platform, Callbacks.name, released.position)
    assert _holder(platform, book, request) is None
    _route(platform)
    assert _holder(platform, book, request) == executive2
    dropped, allocated = _moves(platform, book, request)
    assert (dropped.cause, dropped.assignee_id) == (RerouteCause.HOLDER_DEPARTED, None)
    assert (allocated.cause, allocated.assignee_id, allocated.previous_assignee_id, allocated.reason) == (
        RerouteCause.CASE_ALLOCATED, executive2, None, "reallocated by a manager")  # fmt: skip
    assert allocated.changed_at < dropped.changed_at  # the reallocation's own instant
    assert _notices(platform, book, executive2) == ["New callback request: Asha Verma"]

    # The case moves on to a third executive; replaying every allocation (the rebuilt queue) leaves it with them.
    executive3 = _staff(platform, book.brand, "collection_executive", "Farah Collections")
    settle(platform, Collections.name, platform.get(Collections).reallocate(book.brand, [loan], executive3,
                                                                            DAY).position)  # fmt: skip
    _route(platform)
    platform.engine.rebuild("callback_case_handovers")
    _route(platform)
    assert _holder(platform, book, request) == executive3 and len(_moves(platform, book, request)) == 3
