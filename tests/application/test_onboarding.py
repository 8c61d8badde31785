"""Onboarding use cases on the in-memory event store: sign-in by one-time code (throttle, lock after five wrong
codes), the funnel's order, resume and redo, send-backs, and one Customer 360 record per person (linked by phone
or PAN, created at the personal step) - with the real customers application beside it."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from domain.customers.application import Customers
from domain.customers.customer import DuplicateCustomer
from domain.onboarding.account import BorrowerNotFound, SessionNotFound
from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.steps import (
    BankAccountIn,
    BankStatementIn,
    FunnelRules,
    LoanRequestIn,
    PanIn,
    ReferenceIn,
    SelfieIn,
    Step,
)
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput, Throttled
from tests.application.onboarding_fakes import (
    AADHAAR,
    BRAND,
    EMPLOYMENT,
    OTHER,
    PERSONAL,
    PHONE,
    Brands,
    Outbox,
    app,
    brands,
    customers,
    desk,
    kyc,
    outbox,
    shelf,
    signed_in,
)

__all__ = ["app", "brands", "customers", "desk", "kyc", "outbox", "shelf"]  # fixtures, used by name


def test_a_code_goes_out_by_sms_and_signs_the_borrower_in(app: Onboarding, outbox: Outbox, clock: FixedClock) -> None:
    answer = app.request_code("demo", "98123 45670")
    assert answer.expires_in == 300 and len(outbox.sent) == 1 and outbox.sent[0][1] == PHONE
    signed = app.sign_in("demo", "+91 98123 45670", outbox.code())
    principal = app.authenticate(signed.token)
    assert (principal.brand_id, principal.borrower_id) == (BRAND, signed.borrower_id)
    state = app.state(BRAND, signed.borrower_id)
    assert state.steps[0].done and state.next_step is Step.PAN and state.status is FunnelStatus.IN_PROGRESS
    with pytest.raises(InvalidInput):  # the code is spent
        app.sign_in("demo", PHONE, outbox.code())


def test_resends_are_throttled_and_the_old_code_stops_working(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    app.request_code("demo", PHONE)
    first = outbox.code()
    again = app.request_code("demo", PHONE)
    assert again.resend_after == 30 and again.expires_in == 0 and len(outbox.sent) == 1
    clock.instant += timedelta(seconds=31)
    app.request_code("demo", PHONE)
    assert len(outbox.sent) == 2
    if outbox.code() != first:
        with pytest.raises(InvalidInput):
            app.sign_in("demo", PHONE, first)
    for _ in range(3):
        clock.instant += timedelta(seconds=31)
        app.request_code("demo", PHONE)
    clock.instant += timedelta(seconds=31)
    assert app.request_code("demo", PHONE).resend_after > 60  # five an hour
    assert len(outbox.sent) == 5


def test_five_wrong_codes_lock_the_phone_for_fifteen_minutes_even_for_the_right_code(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    app.request_code("demo", PHONE)
    right = outbox.code()
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(4):
        with pytest.raises(InvalidInput) as refused:
            app.sign_in("demo", PHONE, wrong)
        assert refused.value.errors[0].field == "otp"
    with pytest.raises(Throttled) as locked:
        app.sign_in("demo", PHONE, wrong)
    assert 890 <= locked.value.retry_after <= 900
    with pytest.raises(Throttled):
        app.sign_in("demo", PHONE, right)
    clock.instant += timedelta(minutes=14)
    assert app.request_code("demo", PHONE).expires_in == 0  # no code is sent while locked
    clock.instant += timedelta(minutes=2)
    app.request_code("demo", PHONE)
    assert app.sign_in("demo", PHONE, outbox.code()).token


def test_a_code_expires_after_five_minutes_and_unknown_phones_answer_alike(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    app.request_code("demo", PHONE)
    clock.instant += timedelta(minutes=5, seconds=1)
    with pytest.raises(InvalidInput):
        app.sign_in("demo", PHONE, outbox.code())
    with pytest.raises(InvalidInput):
        app.sign_in("demo", "+919000000001", "123456")
    with pytest.raises(InvalidInput) as unknown:
        app.request_code("nobody", PHONE)
    assert unknown.value.errors[0].field == "brand"


def test_sessions_end_and_belong_to_their_brand(app: Onboarding, outbox: Outbox, clock: FixedClock) -> None:
    app.request_code("demo", PHONE)
    signed = app.sign_in("demo", PHONE, outbox.code())
    app.sign_out(signed.token)
    with pytest.raises(SessionNotFound):
        app.authenticate(signed.token)
    with pytest.raises(SessionNotFound):
        app.authenticate("cdb_forged")
    with pytest.raises(BorrowerNotFound):
        app.state(OTHER, signed.borrower_id)


def test_steps_go_in_order_and_a_refusal_records_nothing(app: Onboarding, outbox: Outbox, clock: FixedClock) -> None:
    borrower = signed_in(app, outbox, clock)
    version = app.state(BRAND, borrower).version
    with pytest.raises(Conflict) as early:
        app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    assert early.value.details["next_step"] == "pan"
    with pytest.raises(InvalidInput) as bad:
        app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABC123"))
    assert [e.field for e in bad.value.errors] == ["pan"]
    bad_personal = PERSONAL.model_copy(update={"email": "nope", "addresses": PERSONAL.addresses[:1]})
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="abcpv1234k"))
    with pytest.raises(InvalidInput) as many:
        app.record_step(BRAND, borrower, Step.PERSONAL, bad_personal)
    assert {e.field for e in many.value.errors} == {"email", "addresses"}
    assert app.state(BRAND, borrower).version == version + 1  # only the PAN


def test_leaving_and_coming_back_resumes_at_the_next_step_and_a_step_can_be_redone(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    clock.instant += timedelta(days=2)
    assert signed_in(app, outbox, clock) == borrower  # a new sign-in, the same borrower and funnel
    state = app.state(BRAND, borrower)
    assert state.next_step is Step.EMPLOYMENT
    assert [s.step for s in state.steps if s.done] == [Step.MOBILE, Step.PAN, Step.PERSONAL]
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K", name_on_pan="Asha Verma"))
    assert app.details(BRAND, borrower, Step.PAN) == {"pan": "ABCPV1234K", "name_on_pan": "Asha Verma"}
    assert app.state(BRAND, borrower).next_step is Step.EMPLOYMENT


def test_the_whole_funnel_with_brand_rules_and_a_send_back(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands
) -> None:
    brands.rules_of[BRAND] = FunnelRules(require_employment=False, require_selfie=True)
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    assert app.state(BRAND, borrower).next_step is Step.AADHAAR  # employment is optional here
    app.record_step(BRAND, borrower, Step.AADHAAR, AADHAAR)
    assert app.state(BRAND, borrower).next_step is Step.SELFIE
    with pytest.raises(InvalidInput) as foreign:  # not an upload of this borrower
        app.record_step(BRAND, borrower, Step.SELFIE, SelfieIn(document_id=uuid.uuid4()))
    assert foreign.value.errors[0].field == "document_id"
    pan_card = app.upload_document(BRAND, borrower, "pan_card", "pan.jpg", b"\xff\xd8").id
    with pytest.raises(InvalidInput) as wrong_kind:  # their own upload, but not a selfie
        app.record_step(BRAND, borrower, Step.SELFIE, SelfieIn(document_id=pan_card))
    assert wrong_kind.value.errors[0].field == "document_id" and "pan card" in wrong_kind.value.errors[0].message
    assert app.state(BRAND, borrower).next_step is Step.SELFIE  # nothing recorded
    selfie = app.upload_document(BRAND, borrower, "selfie", "me.jpg", b"\xff\xd8").id
    app.record_step(BRAND, borrower, Step.SELFIE, SelfieIn(document_id=selfie))
    app.record_step(
        BRAND,
        borrower,
        Step.BANK_ACCOUNT,
        BankAccountIn(account_number="50100012345678", ifsc="hdfc0001234", holder_name="Asha Verma"),
    )
    app.record_step(
        BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="AA-1")
    )
    app.send_back(BRAND, borrower, Step.AADHAAR, "the DigiLocker copy is unreadable")
    state = app.state(BRAND, borrower)
    assert state.next_step is Step.AADHAAR and state.missing == [Step.AADHAAR, Step.LOAN_REQUEST, Step.SUBMITTED]
    assert state.steps[Step.AADHAAR.position].sent_back == "the DigiLocker copy is unreadable"
    with pytest.raises(Conflict):
        app.submit(BRAND, borrower, {})
    app.record_step(BRAND, borrower, Step.AADHAAR, AADHAAR)
    assert app.state(BRAND, borrower).steps[Step.AADHAAR.position].sent_back is None
    app.record_step(
        BRAND, borrower, Step.LOAN_REQUEST, LoanRequestIn(product_id=uuid.uuid4(), amount=Decimal("50000"), tenure=12)
    )
    app.submit(BRAND, borrower, {"application_id": str(uuid.uuid4())})
    state = app.state(BRAND, borrower)
    assert state.status is FunnelStatus.COMPLETED and state.next_step is None and state.missing == []
    with pytest.raises(Conflict):
        app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    # Submitted, its application is with credit: staff send a step back with the application (from the loan), not
    # on the funnel alone - the borrower, redoing the step, could not submit the application again.
    version = app.funnel(BRAND, borrower).version
    with pytest.raises(Conflict, match="send the application back"):
        app.send_back(BRAND, borrower, Step.BANK_ACCOUNT, "the account number is unreadable")
    assert app.funnel(BRAND, borrower).version == version
    app.send_back(BRAND, borrower, Step.BANK_ACCOUNT, "the account number is unreadable", application_sent_back=True)
    assert app.state(BRAND, borrower).next_step is Step.BANK_ACCOUNT


def test_employment_is_required_by_default_with_the_spec_fields(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    with pytest.raises(Conflict):
        app.record_step(BRAND, borrower, Step.AADHAAR, AADHAAR)
    bad = EMPLOYMENT.model_copy(update={"uan": "12", "office_pincode": "012345", "date_of_joining": date(2027, 1, 1)})
    with pytest.raises(InvalidInput) as refused:
        app.record_step(BRAND, borrower, Step.EMPLOYMENT, bad)
    assert {e.field for e in refused.value.errors} == {"uan", "office_pincode", "date_of_joining"}
    app.record_step(BRAND, borrower, Step.EMPLOYMENT, EMPLOYMENT)
    assert (app.details(BRAND, borrower, Step.EMPLOYMENT) or {})["monthly_salary"] == "48000.00"
    assert app.state(BRAND, borrower).next_step is Step.AADHAAR


def test_a_borrower_registered_by_staff_is_linked_by_phone_at_sign_in(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers
) -> None:
    staff_made = customers.register(BRAND, name="Asha V", phone="98123 45670").id
    borrower = signed_in(app, outbox, clock)
    assert app.state(BRAND, borrower).customer_id == staff_made
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    record = customers.get(BRAND, staff_made)
    assert (record.name, record.pan, record.email) == ("Asha Verma", "ABCPV1234K", "asha@example.in")
    assert customers.owner_of(BRAND, "phone", PHONE) == staff_made


def test_a_borrower_registered_by_staff_is_linked_by_pan_and_never_duplicated(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers
) -> None:
    staff_made = customers.register(BRAND, name="Asha Verma", phone="97000 11111", pan="ABCPV1234K").id
    borrower = signed_in(app, outbox, clock)
    assert app.state(BRAND, borrower).customer_id is None
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    assert app.state(BRAND, borrower).customer_id == staff_made
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    assert customers.get(BRAND, staff_made).email == "asha@example.in"
    assert customers.owner_of(BRAND, "phone", PHONE) is None  # no second record was made


def test_a_new_borrower_gets_a_customer_record_at_the_personal_step(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers
) -> None:
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    assert app.state(BRAND, borrower).customer_id is None
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    made = app.state(BRAND, borrower).customer_id
    assert made is not None and customers.owner_of(BRAND, "pan", "ABCPV1234K") == made
    record = customers.get(BRAND, made)
    assert {a.kind for a in record.addresses} == {"current", "permanent"}
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL.model_copy(update={"name": "Asha K Verma"}))
    assert customers.get(BRAND, made).name == "Asha K Verma" and app.state(BRAND, borrower).customer_id == made


def test_references_at_the_personal_step_become_the_records_labelled_alternate_phones(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers
) -> None:
    """Spec: "customers can add alternate phone numbers (family members or references)". Each reference is kept on
    the borrower's record as an alternate phone labelled with the relation and name, once however often the step is
    redone; the borrower's own phone, a phone given twice or a half-filled reference is a 422 naming it, nothing
    recorded."""
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    mother = {"name": "Sunita Verma", "relation": "parent", "phone": "98450 12345"}
    friend = {"name": "Kiran Rao", "relation": "friend", "phone": "+91 9845012346"}
    for bad, field in (
        ([{**mother, "phone": PHONE}], "references[0].phone"),
        ([mother, {**friend, "phone": mother["phone"]}], "references[1].phone"),
        ([{**mother, "name": "   "}], "references[0].name"),
        ([{**mother, "phone": "12345"}], "references[0].phone"),
    ):
        with pytest.raises(InvalidInput) as refused:
            app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL.model_copy(update={
                "references": [ReferenceIn.model_validate(r) for r in bad]}))  # fmt: skip
        assert [e.field for e in refused.value.errors] == [field], bad
        assert app.state(BRAND, borrower).customer_id is None  # nothing recorded
    with_references = PERSONAL.model_copy(
        update={"references": [ReferenceIn.model_validate(r) for r in (mother, friend)]}
    )
    app.record_step(BRAND, borrower, Step.PERSONAL, with_references)
    made = app.state(BRAND, borrower).customer_id
    assert made is not None
    expected = {"+919845012345": "parent: Sunita Verma", "+919845012346": "friend: Kiran Rao"}
    assert customers.get(BRAND, made).alternate_phones == expected
    app.record_step(BRAND, borrower, Step.PERSONAL, with_references)  # redone: nothing twice
    assert customers.get(BRAND, made).alternate_phones == expected
    assert app.details(BRAND, borrower, Step.PERSONAL)["references"][0] == {**mother, "phone": "+919845012345"}


def test_references_racing_a_staff_edit_of_the_record_are_all_added_to_the_record_as_it_now_is(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff save a change on the borrower's record just as the personal step adds its first reference: that add
    loses the race, is made again on the record as it now is, and the second reference follows. The lost race was
    taken for "at the most alternate phones" and every reference was dropped without a word."""
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    made = app.state(BRAND, borrower).customer_id
    assert made is not None
    real_get, real_add, adding, raced = customers.get, customers.add_alternate_phone, [], []

    def get_then_edited(brand_id: uuid.UUID, customer_id: uuid.UUID) -> Any:
        record = real_get(brand_id, customer_id)
        if adding and not raced:  # the add has loaded the record: staff save their edit before it saves
            raced.append(True)
            customers.update_details(brand_id, customer_id, email="asha.verma@example.in")
        return record

    def add(*args: Any, **kwargs: Any) -> Any:
        adding.append(True)
        try:
            return real_add(*args, **kwargs)
        finally:
            adding.pop()

    monkeypatch.setattr(customers, "get", get_then_edited)
    monkeypatch.setattr(customers, "add_alternate_phone", add)
    mother = {"name": "Sunita Verma", "relation": "parent", "phone": "98450 12345"}
    friend = {"name": "Kiran Rao", "relation": "friend", "phone": "+91 9845012346"}
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL.model_copy(
        update={"references": [ReferenceIn.model_validate(r) for r in (mother, friend)]}))  # fmt: skip
    record = real_get(BRAND, made)
    assert raced and record.email == "asha.verma@example.in"
    assert record.alternate_phones == {"+919845012345": "parent: Sunita Verma", "+919845012346": "friend: Kiran Rao"}


def test_a_reference_added_meanwhile_by_the_same_step_sent_twice_does_not_stop_the_next_one(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers, monkeypatch: pytest.MonkeyPatch
) -> None:
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    made = app.state(BRAND, borrower).customer_id
    assert made is not None
    real_add, other_tap = customers.add_alternate_phone, []

    def added_first_by_the_other_tap(brand_id: uuid.UUID, customer_id: uuid.UUID, phone: str, label: Any) -> Any:
        if not other_tap:
            other_tap.append(phone)
            real_add(brand_id, customer_id, phone, label)
        return real_add(brand_id, customer_id, phone, label)  # "already an alternate phone" (409)

    monkeypatch.setattr(customers, "add_alternate_phone", added_first_by_the_other_tap)
    mother = {"name": "Sunita Verma", "relation": "parent", "phone": "98450 12345"}
    friend = {"name": "Kiran Rao", "relation": "friend", "phone": "+91 9845012346"}
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL.model_copy(
        update={"references": [ReferenceIn.model_validate(r) for r in (mother, friend)]}))  # fmt: skip
    assert other_tap == ["+919845012345"]  # was the end of the references: the friend's phone was dropped
    assert customers.get(BRAND, made).alternate_phones == {
        "+919845012345": "parent: Sunita Verma", "+919845012346": "friend: Kiran Rao"}  # fmt: skip


def test_a_pan_of_another_customer_is_a_conflict_and_records_nothing(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers
) -> None:
    customers.register(BRAND, name="Asha V", phone="98123 45670")
    customers.register(BRAND, name="Somebody Else", phone="97000 22222", pan="ZZZPV1234K")
    borrower = signed_in(app, outbox, clock)
    version = app.state(BRAND, borrower).version
    with pytest.raises(DuplicateCustomer):
        app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ZZZPV1234K"))
    assert app.state(BRAND, borrower).version == version


def test_a_personal_step_saved_while_staff_add_an_address_keeps_it(
    app: Onboarding, outbox: Outbox, clock: FixedClock, customers: Customers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step read the record, then saved its addresses and the ones it kept - without the office address staff
    added in between, dropped without a word."""
    from domain.customers.values import Address

    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    record_id = app.state(BRAND, borrower).customer_id
    assert record_id is not None
    read, added = customers.get, list[bool]()

    def staff_add_an_address_meanwhile(brand_id: Any, customer_id: Any) -> Any:
        found = read(brand_id, customer_id)
        if not added:
            added.append(True)
            office = Address(kind="office", line1="7 Tech Park", city="Bengaluru", pincode="560103")
            customers.update_details(BRAND, record_id, addresses=[*found.addresses, office])
        return found

    monkeypatch.setattr(customers, "get", staff_add_an_address_meanwhile)
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)  # the borrower sends the step again
    monkeypatch.undo()
    kinds = sorted(a.kind for a in customers.get(BRAND, record_id).addresses)
    assert added and kinds == ["current", "office", "permanent"], kinds


def test_the_personal_steps_age_is_judged_on_the_brands_business_date(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, customers: Customers
) -> None:
    """A brand running as of a business date judges the borrower's age on it, as its BRE age rule does: the step
    (and the borrower record it writes) judged it on the India calendar date and refused a borrower the BRE would
    take (or took one it would not)."""
    ahead = clock.now().date() + timedelta(days=10)
    brands.rules_of[BRAND] = FunnelRules(business_date=ahead)
    customers.days = SimpleNamespace(business_date=lambda brand_id: ahead)  # the identity context's answer
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    turns_18 = date(ahead.year - 18, ahead.month, ahead.day) - timedelta(days=5)  # 18 on the business date only
    assert clock.now().date() < date(turns_18.year + 18, turns_18.month, turns_18.day)
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL.model_copy(update={"date_of_birth": turns_18}))
    assert Step.PERSONAL in {s.step for s in app.state(BRAND, borrower).steps if s.done}
