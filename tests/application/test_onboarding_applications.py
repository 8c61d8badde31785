"""Onboarding use cases after the funnel's own steps, on the in-memory event store: closing inactive funnels, the
loan application and its submission (the last two steps), the borrower's documents and the KYC checks the steps
start."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.parties import AppliedLoan
from domain.onboarding.steps import (
    BankAccountIn,
    BankStatementIn,
    PanIn,
    Step,
)
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, FieldError, InvalidInput, NotFound
from tests.application.onboarding_fakes import (
    BRAND,
    PERSONAL,
    REQUEST,
    Brands,
    Desk,
    Kyc,
    Outbox,
    Shelf,
    app,
    brands,
    customers,
    desk,
    kyc,
    outbox,
    ready_to_apply,
    shelf,
    signed_in,
)

__all__ = ["app", "brands", "customers", "desk", "kyc", "outbox", "shelf"]  # fixtures, used by name


def test_closing_rejects_the_funnel_with_its_reason(app: Onboarding, outbox: Outbox, clock: FixedClock) -> None:
    borrower = signed_in(app, outbox, clock)
    app.close_funnel(BRAND, borrower, "inactive for 30 days")
    state = app.state(BRAND, borrower)
    assert state.status is FunnelStatus.REJECTED and state.reason == "inactive for 30 days"
    with pytest.raises(Conflict):
        app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))


def test_only_funnels_untouched_since_the_cutoff_are_closed_as_inactive(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    idle = signed_in(app, outbox, clock)
    clock.instant += timedelta(days=10)
    busy = signed_in(app, outbox, clock, phone="+919812345671")
    cutoff = clock.instant - timedelta(days=5)
    assert app.close_inactive(BRAND, busy, cutoff, "inactive for 5 days").changed is False
    assert app.close_inactive(BRAND, idle, cutoff, "inactive for 5 days").changed is True
    assert app.state(BRAND, idle).status is FunnelStatus.REJECTED
    assert app.close_inactive(BRAND, idle, cutoff, "inactive for 5 days").changed is False  # a rerun changes nothing


def test_applying_and_submitting_record_the_last_two_steps_with_the_application(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    with pytest.raises(Conflict) as early:
        app.apply(BRAND, borrower, REQUEST)
    assert early.value.details["next_step"] == "bank_statement" and desk.loans == {}
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    assert app.apply(BRAND, borrower, REQUEST).id == applied.id and len(desk.loans) == 1  # a second tap
    details = app.details(BRAND, borrower, Step.LOAN_REQUEST) or {}
    assert details["application_id"] == str(applied.id) and details["coupon_code"] == "NEW10"
    assert desk.loans[applied.id][0] == app.state(BRAND, borrower).customer_id
    app.submit_application(BRAND, borrower, applied.id)
    assert desk.loans[applied.id][1] == "pending"
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED


def test_each_submission_names_the_bank_account_the_borrower_last_gave_for_the_payout(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk, kyc: Kyc
) -> None:
    """The application is paid out to the account the borrower last gave at the bank account step - redone before
    submitting, and again after a send-back back to one they gave before (on file already, so its penny drop is not
    run again): each submission names it, by the id the verification context gives it. The payout took the record's
    newest verified account, which was the one they had replaced."""
    borrower = ready_to_apply(app, outbox, clock, brands)  # gave 50100012345678
    customer = app.state(BRAND, borrower).customer_id
    assert customer is not None
    first, second = ("50100012345678", "HDFC0001234"), ("50200098765432", "ICIC0000104")

    def give(account: tuple[str, str]) -> None:
        given = BankAccountIn(account_number=account[0], ifsc=account[1], holder_name="Asha Verma")
        app.record_step(BRAND, borrower, Step.BANK_ACCOUNT, given)

    give(second)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, applied.id)
    assert desk.payout_accounts[applied.id] == kyc.bank_account_id(BRAND, customer, *second)

    desk.loans[applied.id] = (customer, "onboarding")  # the credit team sent it back, reopening the step
    app.send_back(BRAND, borrower, Step.BANK_ACCOUNT, "not your salary account", application_sent_back=True)
    give(first)
    app.submit_application(BRAND, borrower, applied.id)
    assert desk.payout_accounts[applied.id] == kyc.bank_account_id(BRAND, customer, *first)


def test_two_taps_of_the_loan_request_at_once_start_one_application_and_both_answer_it(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    answers: list[AppliedLoan] = []
    apply = desk.apply

    def the_other_tap_first(*args: Any, **kwargs: Any) -> AppliedLoan:
        # The first tap read the funnel before the loan request was recorded; the second runs through meanwhile.
        desk.apply = apply  # type: ignore[method-assign]
        answers.append(app.apply(BRAND, borrower, REQUEST))
        return apply(*args, **kwargs)

    desk.apply = the_other_tap_first  # type: ignore[method-assign]
    answers.append(app.apply(BRAND, borrower, REQUEST))
    assert len(desk.loans) == 1  # not a second application nobody points at, holding one of max_active_loans
    [loan_id] = desk.loans
    assert [a.id for a in answers] == [loan_id, loan_id]
    details = app.details(BRAND, borrower, Step.LOAN_REQUEST) or {}
    assert details["application_id"] == str(loan_id)
    app.submit_application(BRAND, borrower, loan_id)
    assert desk.loans[loan_id][1] == "pending"


def test_an_application_started_by_a_request_that_failed_before_recording_the_step_is_taken_up(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    commit = app.commit

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away after the loans context committed")

    app.commit = lost  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        app.apply(BRAND, borrower, REQUEST)
    app.commit = commit  # type: ignore[method-assign]
    assert len(desk.loans) == 1
    applied = app.apply(BRAND, borrower, REQUEST)  # the borrower taps again
    assert list(desk.loans) == [applied.id]


def test_a_refused_application_records_nothing_and_another_borrowers_is_not_found(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    version = app.state(BRAND, borrower).version
    desk.refuse = InvalidInput([FieldError("amount", "must be between 10000 and 40000")])
    with pytest.raises(InvalidInput):
        app.apply(BRAND, borrower, REQUEST)
    assert app.state(BRAND, borrower).version == version
    desk.refuse = None
    someone_elses = uuid.uuid4()
    desk.loans[someone_elses] = (uuid.uuid4(), "onboarding")
    version = app.funnel(BRAND, borrower).version
    with pytest.raises(NotFound):  # not theirs: a 404 before the funnel's own 409 (the loan request is not done yet)
        app.submit_application(BRAND, borrower, someone_elses)
    assert app.funnel(BRAND, borrower).version == version and desk.loans[someone_elses][1] == "onboarding"
    app.apply(BRAND, borrower, REQUEST)
    with pytest.raises(NotFound):
        app.submit_application(BRAND, borrower, someone_elses)
    assert desk.loans[someone_elses][1] == "onboarding"


def test_documents_wait_for_the_customer_record_of_the_personal_step(
    app: Onboarding, outbox: Outbox, clock: FixedClock, shelf: Shelf
) -> None:
    borrower = signed_in(app, outbox, clock)
    with pytest.raises(Conflict):
        app.upload_document(BRAND, borrower, "pan_card", "pan.pdf", b"%PDF-1.7")
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    uploaded = app.upload_document(BRAND, borrower, "pan_card", "pan.pdf", b"%PDF-1.7").id
    assert shelf.owners[uploaded] == app.state(BRAND, borrower).customer_id


def test_steps_start_the_kyc_checks_they_make_possible_and_keep_aadhaar_masked(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, kyc: Kyc
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    customer = app.state(BRAND, borrower).customer_id
    assert customer is not None
    assert kyc.started == [("pan", customer), ("penny_drop 50100012345678 HDFC0001234", customer)]
    assert (app.details(BRAND, borrower, Step.AADHAAR) or {})["aadhaar_number"] == "XXXXXXXX0124"
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, applied.id)
    assert kyc.started[-1] == ("bureau", customer)
