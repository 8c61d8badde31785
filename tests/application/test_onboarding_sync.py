"""The funnel and its application are two aggregates in two contexts, saved one after the other (docs/onboarding.md,
"Keeping the funnel and its application together"): a race or a failure between the two saves must not leave them
disagreeing. Each race is reproduced deterministically - the other command commits in between, from inside the
loans context's call - and ends consistent; what a failure leaves is reconciled by the job's use cases
(`sync_submission`, `cancel_orphan`, `finish_close`), safely repeated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.parties import AppliedLoan
from domain.onboarding.steps import BankStatementIn, Step
from domain.shared.aggregate import acting_as
from domain.shared.application import CommandResult, ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict
from tests.application.onboarding_fakes import (
    BRAND,
    REQUEST,
    Brands,
    Desk,
    Outbox,
    app,
    brands,
    customers,
    desk,
    kyc,
    outbox,
    ready_to_apply,
    shelf,
)

__all__ = ["app", "brands", "customers", "desk", "kyc", "outbox", "shelf"]  # fixtures, used by name

CLOSE_REASON = "duplicate of another application"
STAFF = "staff:00000000-0000-4000-8000-00000000a11c"
JOB = "job:onboarding-inactive"
STATEMENT = BankStatementIn(method="account_aggregator", consent_id="A1")
STATEMENT_AGAIN = BankStatementIn(method="account_aggregator", consent_id="A2")


def _at_loan_request(app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands) -> UUID:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, STATEMENT)
    return borrower


def _requested(app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands) -> tuple[UUID, UUID]:
    borrower = _at_loan_request(app, outbox, clock, brands)
    return borrower, app.apply(BRAND, borrower, REQUEST).id


# 1. The borrower's submit: the application is submitted, then the funnel's save loses a race ----------------------


def test_a_submit_racing_a_step_redone_records_the_submission_on_the_funnel_s_latest_version(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    submit = desk.submit

    def step_redone_meanwhile(brand_id: UUID, loan_id: UUID, payout_account: UUID | None = None) -> AppliedLoan:
        # The application is submitted; the borrower's other tab redoes a step before the funnel is saved.
        desk.submit = submit  # type: ignore[method-assign]
        answer = submit(brand_id, loan_id, payout_account)
        app.record_step(BRAND, borrower, Step.BANK_STATEMENT, STATEMENT_AGAIN)
        return answer

    desk.submit = step_redone_meanwhile  # type: ignore[method-assign]
    app.submit_application(BRAND, borrower, application)  # was a ConcurrentModification (409) here

    assert desk.loans[application][1] == "pending"
    state = app.state(BRAND, borrower)
    assert state.status is FunnelStatus.COMPLETED and state.next_step is None and state.missing == []
    assert (app.details(BRAND, borrower, Step.SUBMITTED) or {})["application_id"] == str(application)
    assert (app.details(BRAND, borrower, Step.BANK_STATEMENT) or {})["consent_id"] == "A2"  # the other change stands
    with pytest.raises(Conflict):  # and the funnel is finished: a closed one would have been a 409 for the close
        app.close_funnel(BRAND, borrower, CLOSE_REASON)


def test_a_submit_racing_a_send_back_still_ends_with_the_funnel_submitted(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    submit = desk.submit

    def sent_back_meanwhile(brand_id: UUID, loan_id: UUID, payout_account: UUID | None = None) -> AppliedLoan:
        desk.submit = submit  # type: ignore[method-assign]
        answer = submit(brand_id, loan_id, payout_account)
        app.send_back(BRAND, borrower, Step.BANK_ACCOUNT, "the account number is unreadable")
        return answer

    desk.submit = sent_back_meanwhile  # type: ignore[method-assign]
    app.submit_application(BRAND, borrower, application)

    # The application is the credit team's (pending on their queue): the funnel says it was submitted, as the loans
    # context does; getting the step redone now is the application's own send-back to the borrower.
    assert desk.loans[application][1] == "pending"
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED


def _step_redone_after_the_next_load(app: Onboarding, borrower: UUID, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The borrower's other tab redoes the bank statement step right after the next command loads the funnel."""
    real_funnel, raced = app.funnel, []

    def funnel_then_step_redone(brand_id: UUID, borrower_id: UUID) -> Any:
        found = real_funnel(brand_id, borrower_id)
        if not raced:
            raced.append(True)
            app.record_step(BRAND, borrower, Step.BANK_STATEMENT, STATEMENT_AGAIN)
        return found

    monkeypatch.setattr(app, "funnel", funnel_then_step_redone)
    return raced


def test_a_send_back_racing_a_step_redone_reopens_the_step_on_the_funnel_s_latest_version(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loan sent back to onboarding reopens its named step from the loans context, with no version: losing a race
    to the borrower's own change was a 409 there, and the step fell back to `submitted` or was not reopened."""
    borrower = _at_loan_request(app, outbox, clock, brands)
    raced = _step_redone_after_the_next_load(app, borrower, monkeypatch)
    app.send_back(BRAND, borrower, Step.BANK_ACCOUNT, "the account number is unreadable")
    assert raced and app.state(BRAND, borrower).next_step is Step.BANK_ACCOUNT
    assert (app.details(BRAND, borrower, Step.BANK_STATEMENT) or {})["consent_id"] == "A2"  # the other change stands


def test_a_send_back_naming_the_version_it_read_is_still_a_409_when_the_funnel_moved(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, monkeypatch: pytest.MonkeyPatch
) -> None:
    borrower = _at_loan_request(app, outbox, clock, brands)
    read = app.funnel(BRAND, borrower).version
    _step_redone_after_the_next_load(app, borrower, monkeypatch)
    with pytest.raises(ConcurrentModification):  # staff's If-Match: they decide again on what they now see
        app.send_back(BRAND, borrower, Step.BANK_ACCOUNT, "the account number is unreadable", expected_version=read)
    assert app.state(BRAND, borrower).next_step is not Step.BANK_ACCOUNT


# 2. The borrower's loan request: the application is started, then the funnel's save loses a race -----------------


def test_a_loan_request_racing_a_close_cancels_the_application_it_started(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = _at_loan_request(app, outbox, clock, brands)
    apply = desk.apply

    def closed_meanwhile(*args: Any, **kwargs: Any) -> AppliedLoan:
        # Staff close the funnel (which has no application yet, so the close cancels nothing) before the loan
        # request's funnel save.
        desk.apply = apply  # type: ignore[method-assign]
        answer = apply(*args, **kwargs)
        app.close_funnel(BRAND, borrower, CLOSE_REASON)
        return answer

    desk.apply = closed_meanwhile  # type: ignore[method-assign]
    with pytest.raises(Conflict) as refused:
        app.apply(BRAND, borrower, REQUEST)
    assert refused.value.message == f"this onboarding was closed: {CLOSE_REASON}"

    [application] = desk.loans
    assert desk.loans[application][1] == "cancelled"  # was left in onboarding, under a closed funnel
    assert desk.cancelled == {application: f"the onboarding was closed: {CLOSE_REASON}"}
    assert app.funnel(BRAND, borrower).status is FunnelStatus.REJECTED
    # Nothing open holds the borrower: once the cooldown is over they start again (the orphan counted as open).
    clock.instant += timedelta(days=15)
    app.reapply(BRAND, borrower)
    again = app.apply(BRAND, borrower, REQUEST)
    assert again.id != application and desk.loans[again.id][1] == "onboarding"


def test_a_loan_request_racing_an_unrelated_change_records_the_step_on_the_funnel_s_latest_version(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = _at_loan_request(app, outbox, clock, brands)
    apply = desk.apply

    def step_redone_meanwhile(*args: Any, **kwargs: Any) -> AppliedLoan:
        desk.apply = apply  # type: ignore[method-assign]
        answer = apply(*args, **kwargs)
        app.record_step(BRAND, borrower, Step.BANK_STATEMENT, STATEMENT_AGAIN)
        return answer

    desk.apply = step_redone_meanwhile  # type: ignore[method-assign]
    applied = app.apply(BRAND, borrower, REQUEST)  # was a ConcurrentModification, its application pointed at by nothing

    assert list(desk.loans) == [applied.id] and desk.loans[applied.id][1] == "onboarding" and not desk.cancelled
    assert app.application_id(BRAND, borrower) == applied.id
    assert app.state(BRAND, borrower).next_step is Step.SUBMITTED
    app.submit_application(BRAND, borrower, applied.id)
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED


# 3. The close: the application is cancelled, then the funnel's save loses a race ---------------------------------


def _acting_between_the_close_s_saves(desk: Desk, act: Any) -> None:
    """`act` commits (as the borrower, or other staff) right after the close's cancel, before its funnel save."""
    cancel = desk.cancel_unsubmitted

    def cancelled_then_acted(brand_id: UUID, loan_id: UUID, reason: str) -> bool:
        desk.cancel_unsubmitted = cancel  # type: ignore[method-assign]
        answer = cancel(brand_id, loan_id, reason)
        with acting_as("borrower:meanwhile"):
            act()
        return answer

    desk.cancel_unsubmitted = cancelled_then_acted  # type: ignore[method-assign]


def test_a_close_racing_a_step_redone_closes_the_funnel_on_its_latest_version(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    version = app.funnel(BRAND, borrower).version
    _acting_between_the_close_s_saves(
        desk, lambda: app.record_step(BRAND, borrower, Step.BANK_STATEMENT, STATEMENT_AGAIN)
    )

    with acting_as(STAFF):  # was a ConcurrentModification (409), the funnel left open over the cancelled application
        app.close_funnel(BRAND, borrower, CLOSE_REASON, expected_version=version)

    funnel = app.funnel(BRAND, borrower)
    assert (funnel.status, funnel.reason, funnel.closed_by) == (FunnelStatus.REJECTED, CLOSE_REASON, STAFF)
    assert funnel.version == version + 2  # the borrower's step, then the close: one each
    assert (app.details(BRAND, borrower, Step.BANK_STATEMENT) or {})["consent_id"] == "A2"  # the other change stands
    assert desk.cancelled == {application: f"the onboarding was closed: {CLOSE_REASON}"}
    assert desk.cancelled_by == {application: STAFF}


def test_a_close_racing_a_new_loan_request_cancels_that_application_too(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    # The borrower's loan request lands between the cancel and the funnel's save: their application is cancelled, so
    # it starts another, which the funnel then points at.
    _acting_between_the_close_s_saves(desk, lambda: app.apply(BRAND, borrower, REQUEST))

    with acting_as(STAFF):
        app.close_funnel(BRAND, borrower, CLOSE_REASON)

    [first, second] = desk.loans
    assert first == application and app.funnel(BRAND, borrower).status is FunnelStatus.REJECTED
    assert desk.cancelled == {loan: f"the onboarding was closed: {CLOSE_REASON}" for loan in (first, second)}
    assert desk.history(BRAND, app.funnel(BRAND, borrower).customer_id or UUID(int=0)).open == ()  # nothing left open


def test_a_close_racing_another_close_answers_closed_already_over_a_closed_funnel(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    _acting_between_the_close_s_saves(desk, lambda: app.close_funnel(BRAND, borrower, "the borrower asked to stop"))

    with pytest.raises(Conflict) as refused, acting_as(STAFF):
        app.close_funnel(BRAND, borrower, CLOSE_REASON)

    assert "closed already" in refused.value.message and refused.value.details["funnel_status"] == "rejected"
    funnel = app.funnel(BRAND, borrower)
    assert (funnel.status, funnel.reason) == (FunnelStatus.REJECTED, "the borrower asked to stop")
    assert list(desk.cancelled) == [application]


def test_a_close_with_no_application_racing_a_change_is_a_409_that_writes_nothing(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    borrower = _at_loan_request(app, outbox, clock, brands)
    commit = app.commit

    def changed_first(*aggregates: Any) -> CommandResult:
        monkeypatch.undo()
        app.record_step(BRAND, borrower, Step.BANK_STATEMENT, STATEMENT_AGAIN)
        return commit(*aggregates)

    monkeypatch.setattr(app, "commit", changed_first)
    with pytest.raises(ConcurrentModification):  # nothing was written before the save: nothing to finish
        app.close_funnel(BRAND, borrower, CLOSE_REASON)
    assert app.funnel(BRAND, borrower).status is FunnelStatus.IN_PROGRESS and not desk.loans


# The job's reconciliation (use cases) ---------------------------------------------------------------------------


def test_an_application_submitted_on_the_loan_records_the_funnel_s_submission_once(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    assert app.sync_submission(BRAND, borrower).changed is False  # still in onboarding: nothing to record
    desk.set_status(application, "pending")  # submitted on the loan (staff), or a submit that died between its saves
    version = app.funnel(BRAND, borrower).version

    assert app.sync_submission(BRAND, borrower).changed is True
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED
    assert (app.details(BRAND, borrower, Step.SUBMITTED) or {})["application_id"] == str(application)
    assert app.sync_submission(BRAND, borrower).changed is False  # idempotent
    assert app.funnel(BRAND, borrower).version == version + 1


def test_a_cancelled_application_is_not_recorded_as_submitted(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    desk.set_status(application, "cancelled")  # cancelled in onboarding: the borrower makes another request
    assert app.sync_submission(BRAND, borrower).changed is False
    assert app.state(BRAND, borrower).status is FunnelStatus.IN_PROGRESS


def test_an_orphan_left_by_a_failed_restart_is_cancelled_once_and_the_next_request_starts_another(
    app: Onboarding,
    outbox: Outbox,
    clock: FixedClock,
    brands: Brands,
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    borrower = _at_loan_request(app, outbox, clock, brands)
    app.close_funnel(BRAND, borrower, CLOSE_REASON)
    clock.instant += timedelta(days=15)

    def crash(*aggregates: object) -> None:
        raise RuntimeError("the process died before the funnel was saved")

    monkeypatch.setattr(app, "commit", crash)
    with pytest.raises(RuntimeError):  # the restart and its loan request: the application started, the funnel not
        app.apply(BRAND, borrower, REQUEST)
    monkeypatch.undo()
    [orphan] = desk.loans
    assert desk.loans[orphan][1] == "onboarding" and app.funnel(BRAND, borrower).status is FunnelStatus.REJECTED

    assert app.cancel_orphan(BRAND, borrower, orphan).changed is True
    assert desk.cancelled == {orphan: f"the onboarding was closed: {CLOSE_REASON}"}
    assert app.cancel_orphan(BRAND, borrower, orphan).changed is False  # idempotent

    # The borrower's next request (the funnel at the same version) names past the cancelled one: a new application.
    applied = app.apply(BRAND, borrower, REQUEST)
    assert applied.id != orphan and desk.loans[applied.id][1] == "onboarding"
    assert app.application_id(BRAND, borrower) == applied.id
    app.submit_application(BRAND, borrower, applied.id)
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED


def test_no_orphan_is_cancelled_under_a_funnel_in_progress_or_for_another_borrower(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    assert app.cancel_orphan(BRAND, borrower, application).changed is False  # the funnel is in progress
    app.close_funnel(BRAND, borrower, CLOSE_REASON)  # cancels its own
    stranger = desk.apply(BRAND, UUID(int=7), REQUEST.product_id, REQUEST.amount, REQUEST.tenure, None)
    assert app.cancel_orphan(BRAND, borrower, stranger.id).changed is False  # not this borrower's
    assert desk.loans[stranger.id][1] == "onboarding" and list(desk.cancelled) == [application]


def test_a_close_whose_funnel_save_never_landed_is_finished_with_its_reason_and_actor_once(
    app: Onboarding,
    outbox: Outbox,
    clock: FixedClock,
    brands: Brands,
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)

    def crash(*aggregates: object) -> None:
        raise RuntimeError("the process died before the funnel was saved")

    monkeypatch.setattr(app, "commit", crash)
    with pytest.raises(RuntimeError), acting_as(STAFF):
        app.close_funnel(BRAND, borrower, CLOSE_REASON)
    monkeypatch.undo()
    assert desk.loans[application][1] == "cancelled" and app.funnel(BRAND, borrower).status is FunnelStatus.IN_PROGRESS
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, STATEMENT_AGAIN)  # the borrower came back: not idle
    version = app.funnel(BRAND, borrower).version

    with acting_as(JOB):
        assert app.finish_close(BRAND, borrower, application).changed is True
        assert app.finish_close(BRAND, borrower, application).changed is False  # idempotent

    funnel = app.funnel(BRAND, borrower)
    assert (funnel.status, funnel.reason, funnel.closed_by) == (FunnelStatus.REJECTED, CLOSE_REASON, JOB)
    assert desk.cancelled_by == {application: STAFF}  # who asked for the close
    assert funnel.version == version + 1 and list(desk.cancelled) == [application]


def test_no_close_is_finished_over_an_application_in_onboarding_cancelled_by_staff_or_not_the_funnel_s(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, application = _requested(app, outbox, clock, brands)
    version = app.funnel(BRAND, borrower).version
    assert app.finish_close(BRAND, borrower, application).changed is False  # in onboarding: the borrower goes on
    stranger = desk.apply(BRAND, UUID(int=7), REQUEST.product_id, REQUEST.amount, REQUEST.tenure, None).id
    desk.cancel_unsubmitted(BRAND, stranger, f"the onboarding was closed: {CLOSE_REASON}")
    assert app.finish_close(BRAND, borrower, stranger).changed is False  # not the application the funnel points at
    desk.set_status(application, "cancelled")  # staff cancelled it on the loan: the borrower makes another request
    assert app.finish_close(BRAND, borrower, application).changed is False
    assert app.funnel(BRAND, borrower).version == version
    assert app.funnel(BRAND, borrower).status is FunnelStatus.IN_PROGRESS
