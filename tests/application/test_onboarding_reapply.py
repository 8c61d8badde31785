"""Starting again after a rejection (docs/onboarding.md, "Starting again"): a rejected borrower - or one whose
onboarding was closed as rejected - may start a new application from the day the brand's rejection cooldown is over
(on that day, not before; the brand's business date), the KYC steps staying done; never while an application is open.
A borrower who repaid their loan may apply for the next one at once (a re-loan); one whose loan was settled or
written off may not online.
And redoing the loan request before submission changes the same application instead of starting another."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.onboarding.account import ApplicationNotFound, BorrowerNotFound
from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import Funnel, FunnelStatus
from domain.onboarding.steps import BankStatementIn, LoanRequestIn, PanIn, Step
from domain.shared.aggregate import acting_as
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.onboarding_fakes import (
    BRAND,
    PERSONAL,
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
    signed_in,
)

__all__ = ["app", "brands", "customers", "desk", "kyc", "outbox", "shelf"]  # fixtures, used by name

TODAY = date(2026, 11, 30)  # the clock's day in Asia/Kolkata
AGAIN = LoanRequestIn(product_id=uuid.uuid4(), amount=Decimal("30000"), tenure=6)
KYC_STEPS = (Step.MOBILE, Step.PAN, Step.PERSONAL, Step.AADHAAR, Step.BANK_ACCOUNT, Step.BANK_STATEMENT)


def _rejected(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> tuple[uuid.UUID, uuid.UUID]:
    """A borrower whose submitted application was rejected today: the borrower and the application."""
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, applied.id)
    desk.reject(applied.id, TODAY)
    return borrower, applied.id


def test_an_application_rejected_while_sent_back_to_the_borrower_starts_again_only_after_the_cooldown(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    """Rejected while it was with the borrower (sent back: onboarding -> rejected), the funnel stays in progress. The
    loan request redone started a new application at once, which the BRE's cooldown then rejected at submission,
    starting the cooldown again. Now it is the 409 any rejection gives, naming the day."""
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    first = app.apply(BRAND, borrower, REQUEST).id
    desk.reject(first, TODAY)  # the credit executive rejects it while it is back with the borrower
    clock.instant += timedelta(days=14)
    with pytest.raises(Conflict) as refused:
        app.apply(BRAND, borrower, AGAIN)
    assert refused.value.details["may_apply_from"] == "2026-12-15"
    assert list(desk.loans) == [first]
    clock.instant += timedelta(days=1)
    applied = app.apply(BRAND, borrower, AGAIN)
    assert applied.id != first and desk.loans[applied.id][1] == "onboarding"


def test_a_rejected_borrower_is_refused_before_the_cooldown_day_and_starts_again_on_it(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, first = _rejected(app, outbox, clock, brands, desk)
    state = app.state(BRAND, borrower)
    assert state.status is FunnelStatus.COMPLETED
    assert (state.may_apply_from, state.can_apply_again) == (TODAY + timedelta(days=15), False)
    kyc_done = {s: app.funnel(BRAND, borrower).done[s] for s in KYC_STEPS}

    clock.instant += timedelta(days=14)  # the day before
    for attempt in (
        lambda: app.apply(BRAND, borrower, AGAIN),
        lambda: app.reapply(BRAND, borrower),
        lambda: app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K")),
    ):
        with pytest.raises(Conflict) as refused:
            attempt()
        assert refused.value.details["may_apply_from"] == "2026-12-15"
        assert "from 2026-12-15" in refused.value.message
    assert list(desk.loans) == [first] and app.state(BRAND, borrower).status is FunnelStatus.COMPLETED

    clock.instant += timedelta(days=1)  # the cooldown's last day is over: on that day, not before
    assert app.state(BRAND, borrower).can_apply_again is True
    applied = app.apply(BRAND, borrower, AGAIN)
    assert applied.id != first and desk.loans[applied.id][1] == "onboarding" and len(desk.loans) == 2
    funnel = app.funnel(BRAND, borrower)
    assert funnel.status is FunnelStatus.IN_PROGRESS and funnel.restarts == 1
    assert {s: funnel.done[s] for s in KYC_STEPS} == kyc_done  # the record is on file: the KYC steps stay done
    assert app.state(BRAND, borrower).next_step is Step.SUBMITTED
    assert app.application_id(BRAND, borrower) == applied.id
    app.submit_application(BRAND, borrower, applied.id)
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED and desk.loans[applied.id][1] == "pending"


def test_restarting_puts_the_loan_request_and_submission_to_do_again(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, first = _rejected(app, outbox, clock, brands, desk)
    clock.instant += timedelta(days=20)
    app.reapply(BRAND, borrower)
    state = app.state(BRAND, borrower)
    assert state.status is FunnelStatus.IN_PROGRESS and state.next_step is Step.LOAN_REQUEST
    assert state.missing == [Step.LOAN_REQUEST, Step.SUBMITTED] and state.may_apply_from is None
    assert app.application_id(BRAND, borrower) is None  # the new application is not started yet
    with pytest.raises(Conflict):  # in progress: nothing to start again
        app.reapply(BRAND, borrower)
    with pytest.raises(Conflict):  # the rejected application is not submitted again
        app.submit_application(BRAND, borrower, first)


def test_the_brand_s_cooldown_and_business_date_decide_the_day(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, _ = _rejected(app, outbox, clock, brands, desk)
    rules = brands.rules_of[BRAND]
    brands.rules_of[BRAND] = rules.model_copy(update={"rejection_cooldown_days": 3})
    assert app.state(BRAND, borrower).may_apply_from == date(2026, 12, 3)
    brands.rules_of[BRAND] = rules.model_copy(update={"rejection_cooldown_days": 3, "business_date": date(2026, 12, 2)})
    with pytest.raises(Conflict):
        app.reapply(BRAND, borrower)
    brands.rules_of[BRAND] = rules.model_copy(update={"rejection_cooldown_days": 3, "business_date": date(2026, 12, 3)})
    app.reapply(BRAND, borrower)  # the brand runs as of 3 Dec: the clock did not move
    assert app.state(BRAND, borrower).status is FunnelStatus.IN_PROGRESS


def test_a_cancelled_application_may_be_followed_at_once_unless_a_rejection_is_recent(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, applied.id)
    desk.set_status(applied.id, "cancelled")
    assert app.state(BRAND, borrower).may_apply_from == TODAY and app.state(BRAND, borrower).can_apply_again
    desk.rejected_on[applied.id] = TODAY - timedelta(days=2)  # an earlier rejection, as the BRE's COOLDOWN reads it
    with pytest.raises(Conflict) as refused:
        app.apply(BRAND, borrower, AGAIN)
    assert refused.value.details["may_apply_from"] == "2026-12-13"


def test_no_new_application_while_one_is_open(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, applied.id)  # pending
    clock.instant += timedelta(days=60)
    for status, says in (("pending", "being reviewed"), ("sm_approved", "sanctioned"), ("active", "being repaid")):
        desk.set_status(applied.id, status)
        state = app.state(BRAND, borrower)
        assert (state.may_apply_from, state.can_apply_again) == (None, False)
        with pytest.raises(Conflict) as refused:
            app.apply(BRAND, borrower, AGAIN)
        assert refused.value.message.startswith(f"your application {applied.loan_number} is {says}")
        assert "may_apply_from" not in refused.value.details
    for status, says in (("settled", "closed as settled"), ("written_off", "written off")):  # closed, not repaid
        desk.set_status(applied.id, status)
        assert (app.state(BRAND, borrower).may_apply_from, app.state(BRAND, borrower).can_apply_again) == (None, False)
        with pytest.raises(Conflict, match=f"your last loan was {says}.*please contact us"):
            app.reapply(BRAND, borrower)

    desk.reject(applied.id, TODAY)  # rejected - but another application of theirs is open (staff started it)
    customer = app.state(BRAND, borrower).customer_id
    assert customer is not None
    other = desk.apply(BRAND, customer, uuid.uuid4(), Decimal("20000"), 6, None)
    with pytest.raises(Conflict, match=f"your application {other.loan_number} is not submitted yet"):
        app.reapply(BRAND, borrower)
    assert len(desk.loans) == 2 and app.state(BRAND, borrower).status is FunnelStatus.COMPLETED


def test_a_closed_funnel_reopens_at_its_next_step_from_its_close_date_plus_the_cooldown(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands
) -> None:
    borrower = signed_in(app, outbox, clock)
    app.record_step(BRAND, borrower, Step.PAN, PanIn(pan="ABCPV1234K"))
    clock.instant += timedelta(days=2)
    app.close_funnel(BRAND, borrower, "closed: duplicate of another application")
    assert app.funnel(BRAND, borrower).closed_on == date(2026, 12, 2)
    state = app.state(BRAND, borrower)
    assert state.status is FunnelStatus.REJECTED and state.may_apply_from == date(2026, 12, 17)
    clock.instant += timedelta(days=14)
    with pytest.raises(Conflict) as refused:
        app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)
    assert refused.value.details["may_apply_from"] == "2026-12-17"
    clock.instant += timedelta(days=1)
    app.reapply(BRAND, borrower)
    state = app.state(BRAND, borrower)
    assert state.status is FunnelStatus.IN_PROGRESS and state.reason is None and state.next_step is Step.PERSONAL
    assert state.steps[Step.PAN.position].done  # what was done stays done
    app.record_step(BRAND, borrower, Step.PERSONAL, PERSONAL)


def test_closing_a_funnel_cancels_its_application_in_onboarding_and_the_restart_makes_a_new_request(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.close_inactive(BRAND, borrower, clock.instant + timedelta(seconds=1), "inactive for 30 days")
    assert app.funnel(BRAND, borrower).status is FunnelStatus.REJECTED
    assert desk.loans[applied.id][1] == "cancelled"  # off the staff queues with the onboarding
    assert desk.cancelled == {applied.id: "the onboarding was closed: inactive for 30 days"}
    assert app.state(BRAND, borrower).may_apply_from == TODAY + timedelta(days=15)

    clock.instant += timedelta(days=15)
    app.reapply(BRAND, borrower)
    state = app.state(BRAND, borrower)
    assert state.next_step is Step.LOAN_REQUEST and state.missing == [Step.LOAN_REQUEST, Step.SUBMITTED]
    assert app.application_id(BRAND, borrower) is None
    with pytest.raises(Conflict):  # the cancelled application is not submitted again
        app.submit_application(BRAND, borrower, applied.id)
    again = app.apply(BRAND, borrower, REQUEST)
    assert again.id != applied.id and len(desk.loans) == 2 and desk.loans[again.id][1] == "onboarding"
    app.submit_application(BRAND, borrower, again.id)
    assert desk.loans[again.id][1] == "pending" and desk.loans[applied.id][1] == "cancelled"


def test_staff_closing_a_funnel_cancels_its_application_once(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.close_funnel(BRAND, borrower, "duplicate of another application")
    assert desk.cancelled == {applied.id: "the onboarding was closed: duplicate of another application"}
    with pytest.raises(Conflict):  # closed already: nothing more happens
        app.close_funnel(BRAND, borrower, "duplicate of another application")
    assert len(desk.cancelled) == 1


def test_a_submitted_funnel_is_not_closed_and_its_application_not_cancelled(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, applied = _rejected(app, outbox, clock, brands, desk)
    desk.set_status(applied, "pending")  # submitted and being reviewed
    version = app.funnel(BRAND, borrower).version
    with pytest.raises(Conflict) as refused:
        app.close_funnel(BRAND, borrower, "duplicate of another application")
    assert refused.value.details["funnel_status"] == "completed"
    assert "submitted" in refused.value.message and "cancel or reject its application" in refused.value.message
    assert desk.loans[applied][1] == "pending" and not desk.cancelled
    assert app.funnel(BRAND, borrower).version == version


def test_staff_closing_records_who_closed_it_and_a_refusal_writes_nothing(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    version = app.funnel(BRAND, borrower).version
    staff = f"staff:{uuid.uuid4()}"

    for blank in ("ab", "  \u200b  ", ""):  # under three visible characters: 422 naming the reason
        with pytest.raises(InvalidInput) as short, acting_as(staff):
            app.close_funnel(BRAND, borrower, blank)
        assert [e.field for e in short.value.errors] == ["reason"]
    with pytest.raises(ConcurrentModification), acting_as(staff):  # the funnel changed since the page showed it
        app.close_funnel(BRAND, borrower, "duplicate of another application", expected_version=version - 1)
    with pytest.raises(BorrowerNotFound), acting_as(staff):  # another brand's borrower
        app.close_funnel(uuid.uuid4(), borrower, "duplicate of another application")
    assert not desk.cancelled and desk.loans[applied.id][1] == "onboarding"  # nothing written by any refusal
    assert app.funnel(BRAND, borrower).version == version and app.state(BRAND, borrower).closed_by is None

    clock.instant += timedelta(hours=2)
    with acting_as(staff):
        app.close_funnel(BRAND, borrower, "  duplicate of\n another   application ", expected_version=version)
    state = app.state(BRAND, borrower)
    assert (state.status, state.reason) == (FunnelStatus.REJECTED, "duplicate of another application")
    assert (state.closed_by, state.closed_at) == (staff, clock.instant)
    assert desk.cancelled == {applied.id: "the onboarding was closed: duplicate of another application"}
    with pytest.raises(Conflict) as again, acting_as(staff):
        app.close_funnel(BRAND, borrower, "closing it twice")
    assert again.value.details == {
        "funnel_status": "rejected",
        "status": "rejected",
        "reason": "duplicate of another application",
    }
    assert "closed already" in again.value.message and app.funnel(BRAND, borrower).version == version + 1

    clock.instant += timedelta(days=15)
    app.reapply(BRAND, borrower)  # started again: no longer closed, by anyone
    assert (app.state(BRAND, borrower).closed_by, app.state(BRAND, borrower).closed_at) == (None, None)


def test_the_inactivity_job_s_close_records_the_job_as_who_closed_it(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    borrower = signed_in(app, outbox, clock)
    with acting_as("job:onboarding-inactive"):
        app.close_inactive(BRAND, borrower, clock.instant + timedelta(seconds=1), "inactive for 30 days")
    assert app.state(BRAND, borrower).closed_by == "job:onboarding-inactive"


def test_a_close_that_failed_after_the_cancel_is_finished_by_the_next_run(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    cutoff = clock.instant + timedelta(seconds=1)

    desk.fail_cancels = True  # the loans context is down: nothing is closed
    with pytest.raises(RuntimeError):
        app.close_inactive(BRAND, borrower, cutoff, "inactive for 30 days")
    assert app.funnel(BRAND, borrower).status is FunnelStatus.IN_PROGRESS and desk.loans[applied.id][1] == "onboarding"
    desk.fail_cancels = False

    def crash(*aggregates: object) -> None:
        raise RuntimeError("the process died before the funnel was saved")

    monkeypatch.setattr(app, "commit", crash)
    with pytest.raises(RuntimeError):
        app.close_inactive(BRAND, borrower, cutoff, "inactive for 30 days")
    monkeypatch.undo()
    assert desk.loans[applied.id][1] == "cancelled"  # half done: the funnel is still open, and still idle
    assert app.funnel(BRAND, borrower).status is FunnelStatus.IN_PROGRESS

    rerun = app.close_inactive(BRAND, borrower, cutoff, "inactive for 30 days")  # the job's next run
    assert rerun.changed and app.funnel(BRAND, borrower).status is FunnelStatus.REJECTED
    assert list(desk.cancelled) == [applied.id]  # cancelled once
    clock.instant += timedelta(days=15)
    app.reapply(BRAND, borrower)
    assert app.state(BRAND, borrower).next_step is Step.LOAN_REQUEST


def test_a_funnel_closed_before_closing_cancelled_its_application_submits_that_one(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    app.close_inactive(BRAND, borrower, clock.instant + timedelta(seconds=1), "inactive for 30 days")
    desk.set_status(applied.id, "onboarding")  # as a close made before closing cancelled the application left it
    clock.instant += timedelta(days=15)
    app.reapply(BRAND, borrower)  # its own application in onboarding does not count as another open one
    assert app.state(BRAND, borrower).next_step is Step.SUBMITTED
    app.submit_application(BRAND, borrower, applied.id)
    assert list(desk.loans) == [applied.id] and desk.loans[applied.id][1] == "pending"


def test_redoing_the_loan_request_changes_the_same_application(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    applied = app.apply(BRAND, borrower, REQUEST)
    redone = app.apply(BRAND, borrower, AGAIN)
    assert (redone.id, redone.loan_number) == (applied.id, applied.loan_number) and len(desk.loans) == 1
    assert desk.requests[applied.id] == (AGAIN.product_id, Decimal("30000"), 6, None)
    details = app.details(BRAND, borrower, Step.LOAN_REQUEST) or {}
    assert details["application_id"] == str(applied.id) and details["amount"] == "30000.00"

    desk.set_status(applied.id, "cancelled")  # staff cancelled it: the next request starts another
    again = app.apply(BRAND, borrower, REQUEST)
    assert again.id != applied.id and len(desk.loans) == 2
    assert app.application_id(BRAND, borrower) == again.id


def test_funnels_stored_before_the_close_date_was_recorded_still_load_and_restart(
    app: Onboarding, outbox: Outbox, clock: FixedClock
) -> None:
    borrower = signed_in(app, outbox, clock)
    app.close_funnel(BRAND, borrower, "inactive for 30 days")
    recorder = app.recorder
    stored = recorder._stored_events  # type: ignore[attr-defined]
    for i, event in enumerate(stored):
        if event.originator_id == borrower and event.topic.endswith("Funnel.Closed"):
            state = json.loads(event.state)
            del state["on"]  # as stored before the field existed
            stored[i] = dataclasses.replace(event, state=json.dumps(state).encode())
    funnel = app.repository.get(borrower)
    assert isinstance(funnel, Funnel) and funnel.status is FunnelStatus.REJECTED
    assert funnel.closed_on is None and funnel.closed_at == clock.instant
    assert app.state(BRAND, borrower).may_apply_from == TODAY + timedelta(days=15)  # the close's own date stands in
    clock.instant += timedelta(days=15)
    app.reapply(BRAND, borrower)
    reloaded = app.repository.get(borrower)
    assert reloaded.status is FunnelStatus.IN_PROGRESS and reloaded.restarts == 1 and reloaded.reason is None


def test_a_rejection_the_loans_read_model_does_not_show_yet_counts_as_today_s(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    borrower, first = _rejected(app, outbox, clock, brands, desk)
    del desk.rejected_on[first]  # the application is rejected; read.loans has not caught up with its date
    assert app.state(BRAND, borrower).may_apply_from == TODAY + timedelta(days=15)
    with pytest.raises(Conflict):
        app.reapply(BRAND, borrower)


def test_a_borrower_who_repaid_their_loan_applies_for_the_next_at_once_with_their_kyc_on_file(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    """Spec "Step 7 Re-Loan": after repaying, an eligible borrower can apply for another loan - on a brand without
    automated re-loan offers (the default) too, where the old rule (wait for an offer) left them no way to apply."""
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    first = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, first.id)
    desk.set_status(first.id, "completed")
    state = app.state(BRAND, borrower)
    assert (state.may_apply_from, state.can_apply_again) == (TODAY, True)
    app.reapply(BRAND, borrower)
    restarted = app.state(BRAND, borrower)
    # The KYC stays on file; the income and bank data the last loan was decided on are given again (spec "Faster
    # Processing": "only updated income and bank data may be needed").
    assert restarted.status is FunnelStatus.IN_PROGRESS and restarted.next_step is Step.BANK_STATEMENT
    done = app.funnel(BRAND, borrower).done
    assert {Step.MOBILE, Step.PAN, Step.PERSONAL, Step.AADHAAR, Step.BANK_ACCOUNT} <= set(done)
    assert not {Step.EMPLOYMENT, Step.BANK_STATEMENT, Step.LOAN_REQUEST, Step.SUBMITTED} & set(done)
    with pytest.raises(Conflict):  # the bank statement first
        app.apply(BRAND, borrower, AGAIN)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A2"))
    assert app.state(BRAND, borrower).next_step is Step.LOAN_REQUEST
    second = app.apply(BRAND, borrower, AGAIN)
    assert second.id != first.id and desk.loans[first.id][1] == "completed"
    app.submit_application(BRAND, borrower, second.id)
    assert app.state(BRAND, borrower).status is FunnelStatus.COMPLETED
    with pytest.raises(Conflict, match=f"your application {second.loan_number} is"):  # one open at a time
        app.reapply(BRAND, borrower)


def test_an_accepted_offer_asks_again_only_for_income_and_bank_data_older_than_the_brand_s_days(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    """Issue #15 ("asks only for updated income and bank data"), with the brand's `reloan_refresh_days`: unset, or a
    statement within the days, the offer's application is not held (the caller submits it at once); older, the funnel
    asks for the income and bank statement, its loan request is the offer's application, and the funnel's submit
    sends that one. A funnel in progress (a new application of the borrower's own) is left as it is."""
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    first = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, first.id)
    desk.set_status(first.id, "completed")
    customer = app.funnel(BRAND, borrower).customer_id
    assert customer is not None
    offered = uuid.uuid4()
    desk.loans[offered], desk.numbers[offered] = (customer, "onboarding"), "DEMO-L-000009"
    terms = desk.requests[offered] = (AGAIN.product_id, Decimal("33000"), 6, None)
    offer = uuid.uuid4()
    stranger = uuid.uuid4()
    desk.loans[stranger], desk.numbers[stranger] = (uuid.uuid4(), "onboarding"), "DEMO-L-000010"
    desk.requests[stranger] = terms
    with pytest.raises(ApplicationNotFound):  # another borrower's application: 404, nothing recorded
        app.ask_again_for_reloan(BRAND, borrower, stranger, offer)

    assert app.ask_again_for_reloan(BRAND, borrower, offered, offer) is None  # the brand does not ask (unset)
    brands.rules_of[BRAND] = brands.rules(BRAND).model_copy(update={"reloan_refresh_days": 30})
    clock.instant += timedelta(days=30)
    assert app.ask_again_for_reloan(BRAND, borrower, offered, offer) is None  # 30 days old: within the days
    assert app.funnel(BRAND, borrower).status is FunnelStatus.COMPLETED
    clock.instant += timedelta(days=1)
    assert app.ask_again_for_reloan(BRAND, borrower, offered, offer) is Step.BANK_STATEMENT  # 31: asked
    funnel = app.funnel(BRAND, borrower)
    assert funnel.status is FunnelStatus.IN_PROGRESS
    assert {Step.MOBILE, Step.PAN, Step.PERSONAL, Step.AADHAAR, Step.BANK_ACCOUNT, Step.LOAN_REQUEST} <= set(
        funnel.done
    )
    assert not {Step.BANK_STATEMENT, Step.SUBMITTED} & set(funnel.done)
    assert app.application_id(BRAND, borrower) == offered
    assert funnel.details[Step.LOAN_REQUEST] == {
        "product_id": str(AGAIN.product_id), "amount": "33000.00", "tenure": 6, "coupon_code": None,
        "loan_number": "DEMO-L-000009", "reloan_offer_id": str(offer), "application_id": str(offered),
    }  # fmt: skip
    assert app.ask_again_for_reloan(BRAND, borrower, offered, offer) is None  # in progress: left as it is
    with pytest.raises(Conflict):  # the statement first
        app.submit_application(BRAND, borrower, offered)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A2"))
    with pytest.raises(Conflict, match="is the re-loan offer you accepted"):  # its terms are the offer's
        app.apply(BRAND, borrower, AGAIN)
    assert desk.requests[offered] == terms and app.application_id(BRAND, borrower) == offered
    assert app.state(BRAND, borrower).next_step is Step.SUBMITTED
    app.submit_application(BRAND, borrower, offered)
    assert desk.loans[offered][1] == "pending" and app.state(BRAND, borrower).status is FunnelStatus.COMPLETED


def test_the_statement_s_age_for_an_offer_counts_from_the_business_date_it_was_given_on(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    """The brand's business date is not the wall clock's day when the brand is held at a configured date, or when the
    close of business moved it on at 23:30. A statement given on business date D (at 19:00 UTC: already D+1 in IST)
    is 31 days old on D+31, past the brand's 30: the offer asks for it again. Dated by the IST wall clock it was 30
    days old and the offer went to the BRE on it (the CI run at 18:31 UTC that failed)."""
    clock.instant = clock.instant.replace(hour=19)  # 00:30 IST on the day after TODAY
    borrower = ready_to_apply(app, outbox, clock, brands)
    brands.rules_of[BRAND] = brands.rules(BRAND).model_copy(update={"business_date": TODAY})
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    first = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, first.id)
    desk.set_status(first.id, "completed")
    funnel = app.funnel(BRAND, borrower)
    assert funnel.given_on(Step.BANK_STATEMENT, "Asia/Kolkata") == TODAY
    assert funnel.customer_id is not None
    offered, offer = uuid.uuid4(), uuid.uuid4()
    desk.loans[offered], desk.numbers[offered] = (funnel.customer_id, "onboarding"), "DEMO-L-000011"
    desk.requests[offered] = (AGAIN.product_id, Decimal("33000"), 6, None)
    held = {"reloan_refresh_days": 30, "business_date": TODAY + timedelta(days=30)}
    brands.rules_of[BRAND] = brands.rules(BRAND).model_copy(update=held)
    clock.instant += timedelta(days=40)  # the wall clock is far on: the brand's dates decide
    assert app.ask_again_for_reloan(BRAND, borrower, offered, offer) is None  # 30 days: within the brand's days
    held["business_date"] = TODAY + timedelta(days=31)
    brands.rules_of[BRAND] = brands.rules(BRAND).model_copy(update=held)
    assert app.ask_again_for_reloan(BRAND, borrower, offered, offer) is Step.BANK_STATEMENT  # 31 days: asked again


def test_a_statement_recorded_before_its_business_date_was_kept_is_dated_by_its_instant_in_the_brand_s_timezone(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands
) -> None:
    """Events stored before `StepRecorded.on` carry none: the step's instant in the brand's timezone stands in."""
    clock.instant = clock.instant.replace(hour=19)  # 00:30 IST on the day after TODAY
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    funnel = app.funnel(BRAND, borrower)
    assert funnel.done_on[Step.BANK_STATEMENT] == TODAY + timedelta(days=1)  # no business date held: the IST day
    funnel.done_on = {}  # as a funnel loaded from events without `on`
    assert funnel.given_on(Step.BANK_STATEMENT, "Asia/Kolkata") == TODAY + timedelta(days=1)
    assert funnel.given_on(Step.BANK_STATEMENT, "UTC") == TODAY
    assert funnel.given_on(Step.SUBMITTED, "Asia/Kolkata") is None


def _submitted_reloan(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    """A borrower whose first loan was repaid and whose accepted re-loan offer's application went to the BRE at once
    (the brand does not ask again for bank data), now pending: the borrower, their record, the application and the
    offer."""
    borrower = ready_to_apply(app, outbox, clock, brands)
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A1"))
    first = app.apply(BRAND, borrower, REQUEST)
    app.submit_application(BRAND, borrower, first.id)
    desk.set_status(first.id, "completed")
    customer = app.funnel(BRAND, borrower).customer_id
    assert customer is not None
    offered, offer = uuid.uuid4(), uuid.uuid4()
    desk.loans[offered], desk.numbers[offered] = (customer, "onboarding"), "DEMO-L-000009"
    desk.requests[offered] = (AGAIN.product_id, Decimal("33000"), 6, None)
    assert app.ask_again_for_reloan(BRAND, borrower, offered, offer) is None  # submitted at once
    app.submit_reloan(BRAND, borrower, offered)
    assert desk.loans[offered][1] == "pending" and app.application_id(BRAND, borrower) == first.id
    desk.set_status(offered, "onboarding")  # the CX sent it back to the borrower
    return borrower, customer, offered, offer


def test_a_re_loan_sent_back_opens_the_borrower_s_funnel_for_it_and_they_submit_it_again(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    """No funnel step made the offer's application (it went to the BRE at once), so a send back found nothing to
    reopen and the borrower nothing to act on: the funnel of the record's phone is opened for it, the offer's
    application its loan request, the submitted step sent back with the reason; they submit that application."""
    borrower, customer, offered, offer = _submitted_reloan(app, outbox, clock, brands, desk)
    app.send_back_reloan(BRAND, customer, offered, offer, Step.SUBMITTED, "  upload your\nlast payslips ")

    state = app.state(BRAND, borrower)
    assert (state.status, state.next_step) == (FunnelStatus.IN_PROGRESS, Step.SUBMITTED)
    assert next(s for s in state.steps if s.step is Step.SUBMITTED).sent_back == "upload your last payslips"
    funnel = app.funnel(BRAND, borrower)
    assert set(KYC_STEPS) | {Step.LOAN_REQUEST} <= set(funnel.done)
    assert app.application_id(BRAND, borrower) == offered
    assert funnel.details[Step.LOAN_REQUEST] == {
        "product_id": str(AGAIN.product_id), "amount": "33000.00", "tenure": 6, "coupon_code": None,
        "loan_number": "DEMO-L-000009", "reloan_offer_id": str(offer), "application_id": str(offered),
    }  # fmt: skip
    assert app.funnel_loan_number(BRAND, borrower) == "DEMO-L-000009"  # a later send back finds it as any other
    with pytest.raises(Conflict, match="is the re-loan offer you accepted"):  # its terms are the offer's
        app.apply(BRAND, borrower, AGAIN)
    app.submit_application(BRAND, borrower, offered)
    assert desk.loans[offered][1] == "pending" and app.state(BRAND, borrower).status is FunnelStatus.COMPLETED

    desk.set_status(offered, "onboarding")  # sent back again: now the funnel's own application, reopened as such
    app.send_back_reloan(BRAND, customer, offered, offer, Step.BANK_STATEMENT, "the statement is unreadable")
    state = app.state(BRAND, borrower)
    assert state.next_step is Step.BANK_STATEMENT and app.application_id(BRAND, borrower) == offered
    assert next(s for s in state.steps if s.step is Step.BANK_STATEMENT).sent_back == "the statement is unreadable"


def test_a_re_loan_sent_back_at_a_step_the_borrower_cannot_redo_is_refused_and_records_nothing(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, desk: Desk
) -> None:
    """The offer's loan request (its terms are the offer's), the mobile step and a step never done are refused (409,
    the caller falls back to the submitted step); another borrower's application is a 404; a funnel in progress with
    another application of theirs is left as it is (409)."""
    borrower, customer, offered, offer = _submitted_reloan(app, outbox, clock, brands, desk)
    version = app.funnel(BRAND, borrower).version
    for step in (Step.LOAN_REQUEST, Step.MOBILE, Step.EMPLOYMENT, Step.SELFIE):
        with pytest.raises(Conflict):
            app.send_back_reloan(BRAND, customer, offered, offer, step, "please do this again")
    with pytest.raises(InvalidInput):  # no reason
        app.send_back_reloan(BRAND, customer, offered, offer, Step.SUBMITTED, " ")
    stranger = uuid.uuid4()
    desk.loans[stranger], desk.numbers[stranger] = (uuid.uuid4(), "onboarding"), "DEMO-L-000010"
    desk.requests[stranger] = desk.requests[offered]
    with pytest.raises(ApplicationNotFound):
        app.send_back_reloan(BRAND, customer, stranger, offer, Step.SUBMITTED, "please do this again")
    assert app.funnel(BRAND, borrower).version == version

    # The ask-again path's funnel points at the offer's application: its loan request is not sent back either.
    app.send_back_reloan(BRAND, customer, offered, offer, Step.BANK_STATEMENT, "the statement is unreadable")
    with pytest.raises(Conflict, match="re-loan offer"):
        app.send_back(BRAND, borrower, Step.LOAN_REQUEST, "change the amount")

    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="account_aggregator", consent_id="A3"))
    app.submit_application(BRAND, borrower, offered)
    desk.set_status(offered, "completed")
    app.reapply(BRAND, borrower)  # a new application of their own, in progress
    third = uuid.uuid4()
    desk.loans[third], desk.numbers[third] = (customer, "onboarding"), "DEMO-L-000011"
    desk.requests[third] = desk.requests[offered]
    version = app.funnel(BRAND, borrower).version
    with pytest.raises(Conflict, match="in progress"):
        app.send_back_reloan(BRAND, customer, third, uuid.uuid4(), Step.SUBMITTED, "please do this again")
    assert app.funnel(BRAND, borrower).version == version
