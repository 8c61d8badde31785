"""Fieldwork use cases: the dialer's settings (the token kept apart), click-to-call (what is recorded, and that a
refusal records nothing), call events applied once and logged once, field visits with geo-tag and photo."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.fieldwork.application import (
    FieldWork,
    LoanContact,
    LoanNotInBrand,
    StaffNotInBrand,
    TokensInMemory,
)
from domain.fieldwork.dialer import CallStatus, DialerCall, DialerNotConfigured
from domain.fieldwork.visit import FieldVisit, FieldVisitNotFound, VisitOutcome, VisitStatus
from domain.providers.calls import Caller
from domain.providers.dialer import DialerCredentials, PlacedCall
from domain.providers.errors import ProviderRejected
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory
from tests.application.test_documents import MemoryStore

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000f1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000f2")
LOAN = uuid.UUID("00000000-0000-4000-8000-00000000a001")
BORROWER = uuid.UUID("00000000-0000-4000-8000-00000000c001")
AGENT = uuid.UUID("00000000-0000-4000-8000-00000000e001")
OTHER_AGENT = uuid.UUID("00000000-0000-4000-8000-00000000e002")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
CALLBACK = "http://127.0.0.1:8000/api/v1/webhooks/dialer"
TOKEN = "acefone-token-9f3a"


class Loans:
    def contact(self, brand_id: uuid.UUID, loan_id: uuid.UUID) -> LoanContact:
        if brand_id != BRAND or loan_id != LOAN:
            raise LoanNotInBrand("not found")
        return LoanContact(LOAN, "LN-0001", BORROWER, "+919876543210", ("+919812345678",), "12 MG Road, Pune 411001")


class Staff:
    def is_active(self, brand_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
        return brand_id == BRAND and staff_id in (AGENT, OTHER_AGENT)

    def may_visit(self, brand_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
        return self.is_active(brand_id, staff_id)


@dataclass
class Dialer:
    placed: list[dict[str, object]] = field(default_factory=list)
    refuse: bool = False

    def click_to_call(
        self,
        credentials: DialerCredentials,
        *,
        extension: str,
        destination: str,
        reference: str,
        callback_url: str,
        caller: Caller,
    ) -> PlacedCall:
        if self.refuse:
            raise ProviderRejected("invalid number", provider="dialer", kind="click_to_call", code="invalid_number")
        self.placed.append(
            {"token": credentials.api_token, "extension": extension, "to": destination, "ref": reference}
        )
        return PlacedCall(f"call_{len(self.placed)}", reference, "queued")


@dataclass
class ContactLog:
    entries: list[tuple[uuid.UUID, uuid.UUID, str, str]] = field(default_factory=list)

    def log_call(self, call: DialerCall, outcome: str, remarks: str) -> None:
        self.entries.append((call.loan_id, call.staff_id, outcome, remarks))

    def log_visit(self, visit: FieldVisit, outcome: str, remarks: str) -> None:
        self.entries.append((visit.loan_id, visit.assignee_id, outcome, remarks))


@pytest.fixture
def parts() -> tuple[Dialer, ContactLog, MemoryStore, TokensInMemory]:
    return Dialer(), ContactLog(), MemoryStore(), TokensInMemory()


@pytest.fixture
def work(clock: FixedClock, parts: tuple[Dialer, ContactLog, MemoryStore, TokensInMemory]) -> FieldWork:
    dialer, log, store, tokens = parts
    return in_memory(
        FieldWork, clock, loans=Loans(), staff=Staff(), dialer=dialer, tokens=tokens, photos=store, contact_log=log
    )


def _ready(work: FieldWork) -> None:
    work.configure_dialer(BRAND, enabled=True, account_id="acct-covenant", api_token=TOKEN)
    work.set_extension(BRAND, AGENT, "1021")


def _event_names(work: FieldWork, aggregate_id: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in work.events.get(aggregate_id)]


# The dialer's settings ----------------------------------------------------------------------------------------------


def test_the_token_is_kept_apart_and_the_settings_keep_its_last_four(work: FieldWork) -> None:
    _ready(work)
    setup = work.dialer_setup(BRAND)
    assert setup is not None and setup.enabled and setup.token_hint == "****9f3a"
    assert work.tokens.token(BRAND) == TOKEN
    recorded = " ".join(e.model_dump_json() for e in work.events.get(setup.id))
    assert TOKEN not in recorded and "9f3a" in recorded


def test_the_dialer_cannot_be_switched_on_without_account_and_token(work: FieldWork) -> None:
    with pytest.raises(InvalidInput) as refused:
        work.configure_dialer(BRAND, enabled=True, account_id=None, api_token=None)
    assert refused.value.errors[0].field == "enabled"
    assert work.dialer_setup(BRAND) is None


def test_an_extension_is_one_persons(work: FieldWork) -> None:
    _ready(work)
    with pytest.raises(Conflict):
        work.set_extension(BRAND, OTHER_AGENT, "1021")
    with pytest.raises(InvalidInput):
        work.set_extension(BRAND, OTHER_AGENT, "12a")
    with pytest.raises(StaffNotInBrand):
        work.set_extension(OTHER, AGENT, "1022")


# Click-to-call --------------------------------------------------------------------------------------------------------


def test_a_call_rings_the_callers_extension_and_the_borrowers_phone(work: FieldWork, parts: tuple) -> None:
    _ready(work)
    result = work.place_call(BRAND, LOAN, AGENT, None, CALLBACK)
    call = work.call(BRAND, result.id)
    assert parts[0].placed == [{"token": TOKEN, "extension": "1021", "to": "+919876543210", "ref": str(result.id)}]
    assert (call.destination, call.alternate, call.status) == ("+919876543210", False, CallStatus.PLACED)


def test_an_alternate_phone_may_be_chosen_but_no_stranger(work: FieldWork, parts: tuple) -> None:
    _ready(work)
    result = work.place_call(BRAND, LOAN, AGENT, "98123 45678", CALLBACK)
    assert work.call(BRAND, result.id).alternate is True
    with pytest.raises(InvalidInput) as refused:
        work.place_call(BRAND, LOAN, AGENT, "9000000001", CALLBACK)
    assert refused.value.errors[0].field == "phone"
    assert len(parts[0].placed) == 1


def test_no_call_without_an_extension_or_when_switched_off(work: FieldWork, parts: tuple) -> None:
    _ready(work)
    with pytest.raises(DialerNotConfigured):
        work.place_call(BRAND, LOAN, OTHER_AGENT, None, CALLBACK)
    work.configure_dialer(BRAND, enabled=False, account_id=None, api_token=None)
    with pytest.raises(DialerNotConfigured):
        work.place_call(BRAND, LOAN, AGENT, None, CALLBACK)
    assert parts[0].placed == []


def test_a_call_the_provider_refuses_records_nothing(work: FieldWork, parts: tuple) -> None:
    _ready(work)
    parts[0].refuse = True
    before = work.recorder.max_notification_id()
    with pytest.raises(ProviderRejected):
        work.place_call(BRAND, LOAN, AGENT, None, CALLBACK)
    assert work.recorder.max_notification_id() == before


def test_another_brands_loan_is_not_found(work: FieldWork) -> None:
    _ready(work)
    with pytest.raises(LoanNotInBrand):
        work.place_call(OTHER, LOAN, AGENT, None, CALLBACK)


def test_a_call_event_is_applied_once_and_logged_once(work: FieldWork, parts: tuple) -> None:
    _ready(work)
    call_id = work.place_call(BRAND, LOAN, AGENT, None, CALLBACK).id
    ended_at = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)
    first = work.end_call(call_id, "call_1", CallStatus.ANSWERED, 135, "https://rec.example/1.mp3", ended_at, "evt_1")
    work.log_contact(call_id)
    again = work.end_call(call_id, "call_1", CallStatus.ANSWERED, 135, "https://rec.example/1.mp3", ended_at, "evt_1")
    assert work.log_contact(call_id).changed is False
    assert first.changed and not again.changed
    assert parts[1].entries == [
        (LOAN, AGENT, "connected", "Dialer call (answered, 2m 15s); recording: https://rec.example/1.mp3")
    ]
    assert _event_names(work, call_id) == ["Placed", "Ended", "ContactLogged"]


def test_a_call_event_with_another_provider_id_is_not_ours(work: FieldWork) -> None:
    _ready(work)
    call_id = work.place_call(BRAND, LOAN, AGENT, None, CALLBACK).id
    with pytest.raises(Exception, match="provider id"):
        work.end_call(call_id, "call_999", CallStatus.BUSY, 0, None, datetime.now(UTC), "evt_2")


# Field visits ---------------------------------------------------------------------------------------------------------


def test_a_visit_is_flagged_assigned_and_recorded_with_geo_tag_and_photo(work: FieldWork, parts: tuple) -> None:
    visit_id = work.flag_visit(BRAND, LOAN, AGENT, "not reachable for 20 days", date(2026, 12, 3)).id
    work.record_visit(
        BRAND, visit_id, AGENT, outcome=VisitOutcome.PROMISED_TO_PAY, latitude="18.520430",
        longitude=" 73.856744", remarks="met the borrower's wife", filename="door.jpg", data=JPEG,
    )  # fmt: skip
    visit = work.visit(BRAND, visit_id)
    assert visit.status is VisitStatus.VISITED and visit.outcome is VisitOutcome.PROMISED_TO_PAY
    assert visit.address == "12 MG Road, Pune 411001" and visit.loan_number == "LN-0001"
    visited = work.events.get(visit_id)
    last = list(visited)[-1]
    assert (last.latitude, last.longitude) == (Decimal("18.520430"), Decimal("73.856744"))
    assert parts[2].blobs[visit.photos[0].sha256] == JPEG
    assert parts[1].entries == [
        (
            LOAN,
            AGENT,
            "promised_to_pay",
            "Field visit: promised to pay at 18.520430, 73.856744; met the borrower's wife",
        )
    ]
    assert work.visit_photo(BRAND, visit_id, visit.photos[0].sha256, AGENT)[1] == JPEG


@pytest.mark.parametrize(
    ("latitude", "longitude", "field"),
    [("91", "73.85", "latitude"), ("18.5", "-180.5", "longitude"), ("north", "73.8", "latitude"),
     ("18.1234567", "73.8", "latitude"), ("0", "0", "latitude"), ("NaN", "73.8", "latitude")],
)  # fmt: skip
def test_a_bad_geo_tag_is_refused_and_nothing_is_recorded_or_stored(
    work: FieldWork, parts: tuple, latitude: str, longitude: str, field: str
) -> None:
    visit_id = work.flag_visit(BRAND, LOAN, AGENT, "skip tracing").id
    with pytest.raises(InvalidInput) as refused:
        work.record_visit(BRAND, visit_id, AGENT, outcome=VisitOutcome.DOOR_LOCKED, latitude=latitude,
                          longitude=longitude, remarks=None, filename="a.jpg", data=JPEG)  # fmt: skip
    assert field in {e.field for e in refused.value.errors}
    assert _event_names(work, visit_id) == ["Flagged"] and parts[2].blobs == {}


def test_a_visit_needs_a_photo_that_is_an_image(work: FieldWork) -> None:
    visit_id = work.flag_visit(BRAND, LOAN, AGENT, "skip tracing").id
    with pytest.raises(InvalidInput) as refused:
        work.record_visit(BRAND, visit_id, AGENT, outcome=VisitOutcome.SHIFTED, latitude="18.5", longitude="73.8",
                          remarks=None, filename="a.pdf", data=b"%PDF-1.4 not a photo")  # fmt: skip
    assert refused.value.errors[0].field == "file"


def test_another_agents_visit_is_not_found_for_an_agent(work: FieldWork) -> None:
    visit_id = work.flag_visit(BRAND, LOAN, AGENT, "skip tracing").id
    with pytest.raises(FieldVisitNotFound):
        work.record_visit(BRAND, visit_id, OTHER_AGENT, outcome=VisitOutcome.SHIFTED, latitude="18.5",
                          longitude="73.8", remarks=None, filename="a.jpg", data=JPEG)  # fmt: skip
    with pytest.raises(FieldVisitNotFound):
        work.visit(OTHER, visit_id)


def test_photos_are_added_once_each_and_a_recorded_visit_is_not_recorded_again(work: FieldWork) -> None:
    visit_id = work.flag_visit(BRAND, LOAN, AGENT, "skip tracing").id
    work.record_visit(BRAND, visit_id, None, outcome=VisitOutcome.MET_BORROWER, latitude="18.5", longitude="73.8",
                      remarks=None, filename="a.jpg", data=JPEG)  # fmt: skip
    work.add_visit_photo(BRAND, visit_id, AGENT, "b.png", PNG)
    with pytest.raises(Conflict):
        work.add_visit_photo(BRAND, visit_id, AGENT, "b-again.png", PNG)
    with pytest.raises(Conflict):
        work.record_visit(BRAND, visit_id, AGENT, outcome=VisitOutcome.MET_BORROWER, latitude="18.5",
                          longitude="73.8", remarks=None, filename="c.jpg", data=JPEG + b"1")  # fmt: skip
    assert len(work.visit(BRAND, visit_id).photos) == 2


def test_a_visit_is_assigned_only_to_active_staff_and_reassigned_or_cancelled_while_open(work: FieldWork) -> None:
    with pytest.raises(InvalidInput):
        work.flag_visit(BRAND, LOAN, uuid.uuid4(), "skip tracing")
    visit_id = work.flag_visit(BRAND, LOAN, AGENT, "skip tracing").id
    work.reassign_visit(BRAND, visit_id, OTHER_AGENT)
    work.cancel_visit(BRAND, visit_id, "paid in full")
    with pytest.raises(Conflict):
        work.reassign_visit(BRAND, visit_id, AGENT)
    assert _event_names(work, visit_id) == ["Flagged", "Reassigned", "Cancelled"]
