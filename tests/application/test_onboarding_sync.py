"""The funnel and its application are two aggregates in two contexts, saved one after the other (docs/onboarding.md,
"Keeping the funnel and its application together"): a race or a failure between the two saves must not leave them
disagreeing. Each race is reproduced deterministically - the other command commits in between, from inside the
loans context's call - and ends consistent; what a failure leaves is reconciled by the job's use cases
(`sync_submission`, `cancel_orphan`), safely repeated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.parties import AppliedLoan
from domain.onboarding.steps import BankStatementIn, Step
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

    def step_redone_meanwhile(brand_id: UUID, loan_id: UUID) -> AppliedLoan:
        # The application is submitted; the borrower's other tab redoes a step before the funnel is saved.
        desk.submit = submit  # type: ignore[method-assign]
        answer = submit(brand_id, loan_id)
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

    def sent_back_meanwhile(brand_id: UUID, loan_id: UUID) -> AppliedLoan:
        desk.submit = submit  # type: ignore[method-assign]
        answer = submit(brand_id, loan_id)
        app.send_back(BRAND, borrower, Step.BANK_ACCOUNT, "the account number is unreadable")
        return answer

    desk.submit = sent_back_meanwhile  # type: ignore[method-assign]
    app.submit_application(BRAND, borrower, application)

    # The application is the credit team's (pending on their queue): the funnel says it was submitted, as the loans
    # context does; getting the step redone now is the application's own send-back to the borrower.
    assert desk.loans[application][1] == "pending"
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED


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
