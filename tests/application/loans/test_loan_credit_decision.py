"""The credit decision to disbursal (issue #14): CAM, CX approval, send back, sanction, e-sign, payouts, cancel and
reactivate - on the in-memory event store with the fakes of tests/application/loans/fakes.py. Every refusal records
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.loan import SanctionRequired
from domain.loans.states import LoanStatus
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BORROWER, BRAND, OTHER, PRODUCT, TODAY, Parties, event_names, fields
from tests.unit import lending_reference as ref

S = LoanStatus
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def cam(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "salary_credits": [
            {"month": "2026-08", "amount": "52000"},
            {"month": "2026-09", "amount": "52000"},
            {"month": "2026-10", "amount": "53500"},
        ],
        "foir": "32.5",
        "existing_emis": "6000",
        "recommended_amount": "80000",
        "recommended_rate": "24",
        "notes": "stable employer, salary account",
    }
    return {**base, **changes}


def pending(loans: Loans, amount: str = "100000") -> UUID:
    created = loans.create(BRAND, BORROWER, PRODUCT, amount, 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).status is S.PENDING
    return created.id


def sanctioned(loans: Loans) -> UUID:
    loan_id = pending(loans)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.sanction(BRAND, loan_id, "85000", "FOIR at the limit")
    return loan_id


def issued(loans: Loans) -> UUID:
    loan_id = sanctioned(loans)
    loans.issue_agreement(
        BRAND, loan_id, "ab" * 32, "agreements/x.pdf", "es-1", "https://esign/1", NOW + timedelta(days=2)
    )
    return loan_id


def queued(loans: Loans) -> UUID:
    loan_id = issued(loans)
    loans.sign(BRAND, loan_id, "prov-1", NOW)
    loans.ready_for_disbursal(BRAND, loan_id, "acct-1")
    return loan_id


# CAM and CX approval --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credits", "existing", "recommended"),
    [
        (("52000", "52000", "53500"), "6000", "80000"),
        (("41000.50", "39999.99", "40000.01"), "0", "100000"),
        (("150000", "1", "2"), "12500.75", "10000"),
    ],
)
def test_the_cam_calculator_works_out_foir_from_the_three_salary_credits(
    loans: Loans, credits: tuple[str, str, str], existing: str, recommended: str
) -> None:
    """Left without a FOIR, the CAM records the calculated one: (existing EMIs + the loan's EMI at the recommended
    amount, the product's 24 % over the loan's 12 months) / the credits' average, checked against the integer
    reference of LENDING.md's EMI (tests/unit/lending_reference.py) in paise."""
    loan_id = pending(loans)
    salary = [{"month": f"2026-{m:02d}", "amount": a} for m, a in zip((8, 9, 10), credits, strict=True)]
    loans.record_cam(BRAND, loan_id, cam(salary_credits=salary, foir=None, existing_emis=existing,
                                         recommended_amount=recommended))  # fmt: skip
    memo = loans.get(BRAND, loan_id).cam
    assert memo is not None
    total = sum(ref.paise(a) for a in credits)
    average = ref.div_half_up(total, 3)
    obligation = ref.emi(ref.paise(recommended), Decimal("24"), 12)
    foir = ref.div_half_up((ref.paise(existing) + obligation) * 10000, average)  # hundredths of a percent
    assert (memo.average_salary, memo.proposed_emi) == (ref.rupees(average), ref.rupees(obligation))
    assert memo.foir == memo.calculated_foir == Decimal(foir).scaleb(-2)


def test_an_entered_foir_is_kept_beside_the_calculated_one_and_no_salary_needs_one(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.record_cam(BRAND, loan_id, cam(foir="30"))
    memo = loans.get(BRAND, loan_id).cam
    assert memo is not None and memo.foir == Decimal("30") and memo.calculated_foir not in (None, Decimal("30"))
    nothing = [{"month": f"2026-{m:02d}", "amount": "0"} for m in (8, 9, 10)]
    with pytest.raises(InvalidInput) as refused:
        loans.record_cam(BRAND, loan_id, cam(salary_credits=nothing, foir=None))
    assert [e.field for e in refused.value.errors] == ["foir"]
    assert loans.get(BRAND, loan_id).cam == memo  # nothing recorded
    loans.record_cam(BRAND, loan_id, cam(salary_credits=nothing, foir="45"))
    after = loans.get(BRAND, loan_id).cam
    assert after is not None and after.foir == Decimal("45") and after.calculated_foir is None


def test_a_cam_is_recorded_with_its_figures(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.record_cam(BRAND, loan_id, cam())
    memo = loans.get(BRAND, loan_id).cam
    assert memo is not None and memo.foir == Decimal("32.5") and memo.recommended_amount == Decimal("80000.00")
    assert [c.month for c in memo.salary_credits] == ["2026-08", "2026-09", "2026-10"]


def test_a_bad_cam_names_each_field_and_records_nothing(loans: Loans) -> None:
    loan_id = pending(loans)
    before = event_names(loans, loan_id)
    bad = cam(
        salary_credits=[{"month": "2026-13", "amount": "1"}, {"month": "2026-09", "amount": "-5"}, {"month": "x"}],
        foir="140",
        recommended_amount="0",
        notes="",
    )
    with pytest.raises(InvalidInput) as refused:
        loans.record_cam(BRAND, loan_id, bad)
    assert fields(refused) >= {
        "salary_credits[0].month",
        "salary_credits[1].amount",
        "salary_credits[2].month",
        "foir",
        "recommended_amount",
        "notes",
    }
    with pytest.raises(InvalidInput) as refused:
        loans.record_cam(BRAND, loan_id, cam(salary_credits=[]))
    assert fields(refused) == {"salary_credits"}
    assert event_names(loans, loan_id) == before


def test_cx_approval_keeps_the_requested_amount_and_records_the_approved_one(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.CX_APPROVED
    assert loan.amounts == {"requested": Decimal("100000.00"), "cx_approved": Decimal("90000.00"), "sanctioned": None}
    assert event_names(loans, loan_id)[-1] == "CxApproved"


def test_cx_approval_outside_the_product_range_is_a_422_recording_nothing(loans: Loans) -> None:
    loan_id = pending(loans)
    before = event_names(loans, loan_id)
    for amount in ("5000", "250000", "abc"):
        with pytest.raises(InvalidInput) as refused:
            loans.cx_approve(BRAND, loan_id, amount, "fine")
        assert fields(refused) == {"approved_amount"}
    with pytest.raises(InvalidInput) as refused:
        loans.cx_approve(BRAND, loan_id, "50000", "")
    assert fields(refused) == {"remarks"}
    assert event_names(loans, loan_id) == before


def test_the_brand_requiring_a_cam_refuses_approval_without_one(loans: Loans, parties: Parties) -> None:
    parties.cam = True
    loan_id = pending(loans)
    with pytest.raises(Conflict):
        loans.cx_approve(BRAND, loan_id, "90000", "looks fine")
    assert loans.get(BRAND, loan_id).status is S.PENDING
    loans.record_cam(BRAND, loan_id, cam())
    loans.cx_approve(BRAND, loan_id, "90000", "looks fine")
    assert loans.get(BRAND, loan_id).status is S.CX_APPROVED


def test_cx_approval_of_an_unsubmitted_application_is_a_409(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    with pytest.raises(Conflict):
        loans.cx_approve(BRAND, created.id, "90000", "looks fine")
    assert event_names(loans, created.id) == ["Created"]


def test_another_brand_s_loan_is_not_found(loans: Loans) -> None:
    from domain.loans.loan import LoanNotFound

    loan_id = pending(loans)
    with pytest.raises(LoanNotFound):
        loans.cx_approve(OTHER, loan_id, "90000", "looks fine")
    with pytest.raises(LoanNotFound):
        loans.sanction(OTHER, loan_id, "90000", "looks fine")


# Send back, reject -----------------------------------------------------------------------------------------------


def test_send_back_to_the_borrower_reopens_onboarding_and_a_resubmission_goes_through_the_bre(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.send_back(BRAND, loan_id, "borrower", "upload the last three payslips")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.ONBOARDING and loan.sent_back == "upload the last three payslips"
    loans.submit(BRAND, loan_id)
    assert loans.get(BRAND, loan_id).status is S.PENDING


def test_the_sm_sends_back_to_the_cx(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.send_back(BRAND, loan_id, "cx", "verify the second employer")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.PENDING and loan.cx_approved_amount is None


def test_send_back_refusals_record_nothing(loans: Loans) -> None:
    loan_id = pending(loans)
    before = event_names(loans, loan_id)
    with pytest.raises(InvalidInput) as refused:
        loans.send_back(BRAND, loan_id, "manager", "x")
    assert fields(refused) == {"to", "reason"}
    with pytest.raises(Conflict):
        loans.send_back(BRAND, loan_id, "cx", "not yet approved by the CX")
    assert event_names(loans, loan_id) == before


def test_the_sm_rejects_a_cx_approved_loan_with_a_reason_code(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.reject(BRAND, loan_id, "LOW_INCOME", "bonus is not regular income")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.REJECTED
    assert loan.rejection == {
        "code": "LOW_INCOME",
        "label": "Income below our minimum",
        "remarks": "bonus is not regular income",
        "by": S.CX_APPROVED,
    }


def test_a_reject_without_the_sanction_managers_right_refuses_a_cx_approved_loan_and_records_nothing(
    loans: Loans,
) -> None:
    loan_id = pending(loans)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")  # landed before the CX's reject
    before = event_names(loans, loan_id)
    with pytest.raises(SanctionRequired):
        loans.reject(BRAND, loan_id, "LOW_INCOME", "meant for the pending application", sanctioning=False)
    assert event_names(loans, loan_id) == before
    loans.cancel(BRAND, loan_id, "borrower withdrew")  # the product allows one open loan
    other = pending(loans)  # a pending one is the CX's to reject
    loans.reject(BRAND, other, "LOW_INCOME", "salary below the policy", sanctioning=False)
    assert loans.get(BRAND, other).status is S.REJECTED


def test_a_sanctioned_loan_cannot_be_rejected(loans: Loans) -> None:
    loan_id = sanctioned(loans)
    with pytest.raises(Conflict):
        loans.reject(BRAND, loan_id, "LOW_INCOME", "changed my mind")
    assert loans.get(BRAND, loan_id).status is S.SM_APPROVED


# Sanction --------------------------------------------------------------------------------------------------------


def test_sanction_prices_the_sanctioned_amount_and_keeps_all_three_amounts(loans: Loans) -> None:
    loan_id = sanctioned(loans)
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.SM_APPROVED
    assert loan.amounts == {
        "requested": Decimal("100000.00"),
        "cx_approved": Decimal("90000.00"),
        "sanctioned": Decimal("85000.00"),
    }
    pricing = loan.sanction_pricing
    assert pricing is not None
    # 2 % processing fee = 1700.00 + 18 % GST on top = 306.00; convenience 500 GST-inclusive (76.27 inside).
    assert pricing.processing_fee.amount == Decimal("1700.00") and pricing.processing_fee.gst == Decimal("306.00")
    assert pricing.convenience_fee.gst == Decimal("76.27")
    assert pricing.net_disbursed == Decimal("85000.00") - Decimal("1700.00") - Decimal("306.00") - Decimal("500.00")
    assert loan.net_disbursed == Decimal("82494.00")


def test_only_a_cx_approved_loan_is_sanctioned_and_within_range(loans: Loans) -> None:
    loan_id = pending(loans)
    with pytest.raises(Conflict):
        loans.sanction(BRAND, loan_id, "85000", "too early")
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    before = event_names(loans, loan_id)
    with pytest.raises(InvalidInput) as refused:
        loans.sanction(BRAND, loan_id, "9000", "too small")
    assert fields(refused) == {"sanctioned_amount"}
    assert event_names(loans, loan_id) == before


# Cancel and reactivate -------------------------------------------------------------------------------------------


def test_cancel_before_disbursal_and_not_after(loans: Loans) -> None:
    loan_id = sanctioned(loans)
    loans.cancel(BRAND, loan_id, "borrower withdrew")
    assert loans.get(BRAND, loan_id).status is S.CANCELLED
    active = queued(loans)
    loans.initiate_disbursal(BRAND, active, "UPI", "gw-9")
    with pytest.raises(Conflict):
        loans.cancel(BRAND, active, "borrower withdrew")  # a payout is in flight
    loans.confirm_disbursal(BRAND, active, "gw-9", TODAY)
    with pytest.raises(Conflict):
        loans.cancel(BRAND, active, "borrower withdrew")
    assert loans.get(BRAND, active).status is S.ACTIVE


def test_reactivation_reopens_a_cancelled_sanctioned_loan_to_pending_without_its_old_decision(loans: Loans) -> None:
    loan_id = sanctioned(loans)
    loans.cancel(BRAND, loan_id, "borrower withdrew")
    loans.reactivate(BRAND, loan_id, "borrower called back, approved by the head of credit")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.PENDING
    assert loan.amounts["cx_approved"] is None and loan.sanction_pricing is None
    assert event_names(loans, loan_id)[-1] == "Reactivated"


def test_reactivation_of_a_person_s_rejection_and_refusals(loans: Loans) -> None:
    loan_id = pending(loans)
    with pytest.raises(Conflict):
        loans.reactivate(BRAND, loan_id, "nothing to reactivate")
    loans.reject(BRAND, loan_id, "LOW_INCOME", "income below the minimum")
    with pytest.raises(InvalidInput) as refused:
        loans.reactivate(BRAND, loan_id, "")
    assert fields(refused) == {"reason"}
    loans.reactivate(BRAND, loan_id, "payslip shows a raise, approved by the head of credit")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.PENDING and loan.rejection is None


def test_a_never_submitted_cancelled_application_is_not_reactivated(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    loans.cancel(BRAND, created.id, "duplicate application")
    with pytest.raises(Conflict):
        loans.reactivate(BRAND, created.id, "approved by the head of credit")
    assert loans.get(BRAND, created.id).status is S.CANCELLED


# Telling the borrower ---------------------------------------------------------------------------------------------


class Told:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []
        self.steps: list[str | None] = []

    def sent_back(
        self,
        brand_id: UUID,
        customer_id: UUID,
        loan_number: str,
        reason: str,
        step: str | None = None,
        loan_id: UUID | None = None,
    ) -> None:
        self.messages.append(("sent_back", loan_number, reason))
        self.steps.append(step)

    def rejected(self, brand_id: UUID, customer_id: UUID, loan_number: str, reason: str) -> None:
        self.messages.append(("rejected", loan_number, reason))


def test_the_borrower_is_told_of_a_send_back_and_of_the_sm_s_rejection_only(loans: Loans) -> None:
    told = Told()
    loans.contact = told
    by_cx = pending(loans)
    loans.reject(BRAND, by_cx, "LOW_INCOME", "the CX's decision")
    loan_id = pending(loans)
    loans.send_back(BRAND, loan_id, "borrower", "upload the last three payslips")
    loans.submit(BRAND, loan_id)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.send_back(BRAND, loan_id, "cx", "verify the employer")  # the CX is not the borrower
    loans.cx_approve(BRAND, loan_id, "90000", "employer verified")
    loans.reject(BRAND, loan_id, "LOW_INCOME", "bonus is not salary")
    number = loans.get(BRAND, loan_id).loan_number
    assert told.messages == [
        ("sent_back", number, "upload the last three payslips"),
        ("rejected", number, "Income below our minimum"),
    ]


def test_nobody_is_told_of_a_refused_command(loans: Loans) -> None:
    told = Told()
    loans.contact = told
    loan_id = pending(loans)
    with pytest.raises(InvalidInput):
        loans.send_back(BRAND, loan_id, "borrower", "")
    with pytest.raises(InvalidInput):
        loans.reject(BRAND, loan_id, "NOPE", "no such code")
    assert told.messages == []


def test_a_send_back_names_the_funnel_step_to_do_again(loans: Loans) -> None:
    told = Told()
    loans.contact = told
    loan_id = pending(loans)
    loans.send_back(BRAND, loan_id, "borrower", "the statement is for the wrong account", step="bank_statement")
    loans.submit(BRAND, loan_id)
    loans.send_back(BRAND, loan_id, "borrower", "upload the payslips again", step="submitted")
    loans.submit(BRAND, loan_id)
    loans.send_back(BRAND, loan_id, "borrower", "payslips again")
    assert told.steps == ["bank_statement", None, None]
    assert loans.get(BRAND, loan_id).status.value == "onboarding"


def test_a_send_back_step_outside_the_funnel_or_to_the_cx_is_refused(loans: Loans) -> None:
    told = Told()
    loans.contact = told
    loan_id = pending(loans)
    for step in ("mobile", "payslips", ""):
        with pytest.raises(InvalidInput) as refused:
            loans.send_back(BRAND, loan_id, "borrower", "redo it please", step=step)
        assert [e.field for e in refused.value.errors] == ["step"]
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    with pytest.raises(InvalidInput):
        loans.send_back(BRAND, loan_id, "cx", "verify the employer", step="employment")
    assert told.steps == []
    assert loans.get(BRAND, loan_id).status.value == "cx_approved"
