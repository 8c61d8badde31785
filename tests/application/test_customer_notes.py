"""Notes on a borrower's record: the text rules, the loan a note is about, the callback asked for, the author, brand
scoping and concurrency - on the in-memory event store with a fixed clock (the notes list is tested end to end in
tests/e2e/test_customer_notes.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.customers.application import NOTE_ATTEMPTS, Customers
from domain.customers.customer import CustomerNotFound, CustomerRecord
from domain.shared.aggregate import acting_as
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000d2")


@dataclass
class LoanBook:
    """The loans context as notes see it: loan id -> (brand, borrower)."""

    loans: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = field(default_factory=dict)

    def borrower_of(self, brand_id: uuid.UUID, loan_id: uuid.UUID) -> uuid.UUID | None:
        brand, borrower = self.loans.get(loan_id, (None, None))
        return borrower if brand == brand_id else None


@pytest.fixture
def book() -> LoanBook:
    return LoanBook()


@pytest.fixture
def customers(clock: FixedClock, book: LoanBook) -> Customers:
    return in_memory(Customers, clock, loans=book)


def _borrower(app: Customers, phone: str = "98765 43210", brand: uuid.UUID = BRAND) -> uuid.UUID:
    return app.register(brand, name="Asha Kulkarni", phone=phone).id


def _notes(app: Customers, customer_id: uuid.UUID) -> list[CustomerRecord.NoteAdded]:
    return [e for e in app.events.get(customer_id) if isinstance(e, CustomerRecord.NoteAdded)]


def _refused_fields(call: Any) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return [e.field for e in refused.value.errors]


def test_a_note_records_its_text_author_loan_and_callback_in_utc(
    customers: Customers, book: LoanBook, clock: FixedClock
) -> None:
    asha = _borrower(customers)
    loan = uuid.uuid4()
    book.loans[loan] = (BRAND, asha)
    ist = timezone(timedelta(hours=5, minutes=30))
    callback = datetime(2026, 11, 30, 18, 0, tzinfo=ist)  # 12:30 UTC, after the clock's 10:00 UTC
    with acting_as("staff:7d0c"):
        result = customers.add_note(
            BRAND, asha, "  Called: salary credited late this month.\r\nAsked for a callback after 6 pm.  ",
            loan_id=loan, callback_at=callback,
        )  # fmt: skip
    [note] = _notes(customers, asha)
    assert (result.customer_id, result.note_id) == (asha, note.note_id)
    assert result.position == customers.recorder.max_notification_id()
    assert note.text == "Called: salary credited late this month.\nAsked for a callback after 6 pm."
    assert (note.brand_id, note.loan_id, note.actor) == (BRAND, loan, "staff:7d0c")
    assert note.callback_at == callback and note.callback_at is not None
    assert note.callback_at.utcoffset() == timedelta(0) and note.callback_at.hour == 12  # kept in UTC
    assert customers.get(BRAND, asha).version == 2  # the record moved on: an If-Match on version 1 is stale


def test_notes_are_append_only_each_its_own_fact(customers: Customers) -> None:
    asha = _borrower(customers)
    first = customers.add_note(BRAND, asha, "Promised to pay on Friday")
    second = customers.add_note(BRAND, asha, "Correction: promised to pay on Saturday")
    notes = _notes(customers, asha)
    assert [n.text for n in notes] == ["Promised to pay on Friday", "Correction: promised to pay on Saturday"]
    assert [n.note_id for n in notes] == [first.note_id, second.note_id] and first.note_id != second.note_id
    assert not hasattr(customers, "edit_note") and not hasattr(customers, "remove_note")


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "\u200b\u200b", "bell \x07 ringing", "nul \x00", "\u202eevil", "x" * 2001, " " * 5 + "y" * 2001],
)
def test_empty_invisible_control_or_too_long_text_is_refused_naming_text(customers: Customers, text: str) -> None:
    asha = _borrower(customers)
    assert _refused_fields(lambda: customers.add_note(BRAND, asha, text)) == ["text"]
    assert _notes(customers, asha) == []


def test_two_thousand_characters_with_surrounding_whitespace_are_a_note(customers: Customers) -> None:
    asha = _borrower(customers)
    customers.add_note(BRAND, asha, "  " + "é" * 2000 + "\n")
    assert len(_notes(customers, asha)[0].text) == 2000


def test_a_loan_that_is_not_the_borrowers_in_the_brand_is_refused_naming_loan_id(
    customers: Customers, book: LoanBook
) -> None:
    asha = _borrower(customers)
    usha = _borrower(customers, phone="91234 56789")
    ushas_loan, other_brands_loan = uuid.uuid4(), uuid.uuid4()
    book.loans[ushas_loan] = (BRAND, usha)
    book.loans[other_brands_loan] = (OTHER, asha)
    for loan in (ushas_loan, other_brands_loan, uuid.uuid4()):
        assert _refused_fields(lambda loan=loan: customers.add_note(BRAND, asha, "about a loan", loan_id=loan)) == [
            "loan_id"
        ]
    without_loans = in_memory(Customers, FixedClock(datetime(2026, 11, 30, tzinfo=UTC)))
    alone = _borrower(without_loans)
    assert _refused_fields(lambda: without_loans.add_note(BRAND, alone, "x", loan_id=ushas_loan)) == ["loan_id"]
    assert _notes(customers, asha) == []


def test_a_callback_in_the_past_without_an_offset_or_years_ahead_is_refused(
    customers: Customers, clock: FixedClock
) -> None:
    asha = _borrower(customers)
    for at in (
        clock.now() - timedelta(minutes=1),
        clock.now(),
        datetime(2026, 12, 1, 18, 0),  # no offset
        clock.now() + timedelta(days=400),
    ):
        assert _refused_fields(lambda at=at: customers.add_note(BRAND, asha, "call back", callback_at=at)) == [
            "callback_at"
        ]


def test_every_bad_field_is_named_at_once(customers: Customers) -> None:
    asha = _borrower(customers)
    fields = _refused_fields(
        lambda: customers.add_note(BRAND, asha, "", loan_id=uuid.uuid4(), callback_at=datetime(2020, 1, 1, tzinfo=UTC))
    )
    assert sorted(fields) == ["callback_at", "loan_id", "text"]


def test_another_brands_borrower_is_not_found_before_the_text_is_judged(customers: Customers) -> None:
    asha = _borrower(customers)
    for text in ("stolen note", ""):
        with pytest.raises(CustomerNotFound):
            customers.add_note(OTHER, asha, text)
    with pytest.raises(CustomerNotFound):
        customers.add_note(BRAND, uuid.uuid4(), "nobody")
    assert _notes(customers, asha) == []


def test_a_note_is_appended_after_a_change_made_meanwhile(customers: Customers, monkeypatch: Any) -> None:
    asha = _borrower(customers)
    real_get = customers.get
    raced = []

    def get_then_change(brand_id: uuid.UUID, customer_id: uuid.UUID) -> CustomerRecord:
        record = real_get(brand_id, customer_id)
        if not raced:  # another request renames the borrower after this one loaded the record
            raced.append(True)
            customers.update_details(brand_id, customer_id, name="Asha K")
        return record

    monkeypatch.setattr(customers, "get", get_then_change)
    result = customers.add_note(BRAND, asha, "Called twice, no answer")
    assert raced and result.position == customers.recorder.max_notification_id()
    assert [type(e).__name__ for e in customers.events.get(asha)] == ["Registered", "DetailsUpdated", "NoteAdded"]


def test_a_record_changing_on_every_attempt_is_a_conflict_after_the_last(
    customers: Customers, monkeypatch: Any
) -> None:
    asha = _borrower(customers)
    real_get = customers.get
    loads = []

    changing = []

    def always_stale(brand_id: uuid.UUID, customer_id: uuid.UUID) -> CustomerRecord:
        record = real_get(brand_id, customer_id)
        if changing:  # the other request's own load
            return record
        loads.append(record.version)
        changing.append(True)
        customers.update_details(brand_id, customer_id, name=f"Asha {'K' * len(loads)}")
        changing.clear()
        return record

    monkeypatch.setattr(customers, "get", always_stale)
    with pytest.raises(ConcurrentModification):
        customers.add_note(BRAND, asha, "never lands")
    assert len(loads) == NOTE_ATTEMPTS
    monkeypatch.undo()
    assert _notes(customers, asha) == []
