"""The loans projector, pure: what each Loan event writes, and that a later transition it has no handler for still
moves the status and lands in the timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from domain.loans.bre import ApplicantFacts, BrandPolicy, RuleSpec, evaluate
from domain.loans.loan import AssignedBy, Channel, Loan, Transitioned
from domain.loans.pricing import price
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Fee
from projections.loans import LoanViews
from projections.projection import Insert, Write

POLICY = BrandPolicy(min_salary=Decimal(15000), min_age=22, max_age=54, rejection_cooldown_days=15)


def _loan() -> Loan:
    return Loan(
        id=uuid.uuid4(), brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), product_id=uuid.uuid4(), product_version=2,
        amount=Decimal("50000.00"), tenure=12, loan_number="DEMO-L-000001", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal(2))),
        instalment=Decimal("4727.98"), created_on=date(2026, 11, 30),
    )  # fmt: skip


def test_each_event_writes_the_row_the_timeline_and_the_bre_history() -> None:
    loan = _loan()
    facts = ApplicantFacts(credit_score=720)
    loan.submit(facts, POLICY, evaluate((RuleSpec.from_record({"rule": "CREDIT_SCORE", "min": "700"}),), facts,
                                        POLICY, date(2026, 11, 30)), date(2026, 11, 30))  # fmt: skip
    loan.assign(uuid.uuid4(), AssignedBy.AUTO, "auto")
    view = LoanViews()
    changes = [list(view.project(i, e)) for i, e in enumerate(loan.collect_events(), 1)]
    created, submitted, assigned = changes
    assert [type(c) for c in created] == [Insert, Insert]
    assert {c.table for c in created if isinstance(c, Insert)} == {"read.loans", "read.loan_events"}
    assert created[0].row["status"] == "onboarding" and created[0].row["product_version"] == 2  # type: ignore[union-attr]
    assert created[0].row["pricing"]["net_disbursed"] == "48820.00"  # type: ignore[union-attr]
    assert created[0].row["created_on"] == created[1].row["day"] == date(2026, 11, 30)  # type: ignore[union-attr]
    statements = [c.sql for c in submitted if isinstance(c, Write)]
    assert statements[0].startswith("UPDATE read.loans SET status")
    assert any("INSERT INTO read.loan_events" in s for s in statements)
    assert any("INSERT INTO read.bre_history" in s for s in statements)
    assert assigned[0].sql.startswith("UPDATE read.loans SET assignee")  # type: ignore[union-attr]


class CxApproved(Transitioned):
    """A transition of a later issue, not handled by the projection yet."""


def test_a_transition_without_its_own_handler_still_moves_the_status() -> None:
    event = CxApproved(
        originator_id=uuid.uuid4(), originator_version=5, timestamp=datetime(2026, 11, 30, tzinfo=UTC),
        status=LoanStatus.CX_APPROVED, reason="income verified",
    )  # fmt: skip
    writes = list(LoanViews().project(9, event))
    status, timeline = writes
    assert isinstance(status, Write) and isinstance(status.params, tuple) and status.params[0] == "cx_approved"
    assert isinstance(timeline, Write) and isinstance(timeline.params, tuple)
    assert "read.loan_events" in timeline.sql and timeline.params[2] == "cx_approved"


def test_every_event_of_the_credit_decision_is_read_by_the_projection() -> None:
    from projections.projection import topics_of

    names = ("CamRecorded", "CxApproved", "SentBack", "Sanctioned", "AgreementIssued", "EsignExpired", "Signed",
             "DisbursalQueued", "DisbursalInitiated", "DisbursalFailed", "PayoutExported", "PayoutReturned",
             "Disbursed", "Reactivated", "Escalated", "SanctionAssigned", "ProductChanged")  # fmt: skip
    # A projection reads only the topics it handles: a Transitioned subclass without its own handler never reaches it.
    assert set(topics_of(*(getattr(Loan, n) for n in names))) <= set(LoanViews.topics)


def test_every_loan_event_is_read_by_the_projection_and_its_batch_ends_at_each_loans_latest_version() -> None:
    """`read.loans.version` is the aggregate's (GET /loans/{id}, If-Match): the projection reads every Loan event,
    and each batch ends with one UPDATE taking each loan it saw to the latest version it saw, whether the event's own
    handler wrote the row (a repayment) or only the timeline (a settlement proposal, a recovery)."""
    from projections.projection import topics_of

    classes = [getattr(Loan, name) for name in dir(Loan)]
    events = {c for c in classes if isinstance(c, type) and "originator_version" in getattr(c, "model_fields", {})}
    events.discard(Loan.Event)  # the base class, never stored
    assert len(events) > 40 and set(topics_of(*events)) <= set(LoanViews.topics)

    loan, other = _loan(), _loan()
    facts = ApplicantFacts(credit_score=720)
    loan.submit(facts, POLICY, evaluate((), facts, POLICY, date(2026, 11, 30)), date(2026, 11, 30))
    loan.assign(uuid.uuid4(), AssignedBy.AUTO, "auto")
    view = LoanViews()
    view.begin_batch()
    for i, event in enumerate([*loan.collect_events(), *other.collect_events()], 1):
        list(view.project(i, event))
    (versions,) = view.end_batch()
    assert isinstance(versions, Write) and versions.sql.startswith("UPDATE read.loans l SET version = v.version")
    assert "l.version < v.version" in versions.sql  # never backwards; a row already at it is not rewritten
    assert dict(zip(*versions.params, strict=True)) == {loan.id: 3, other.id: 1}  # type: ignore[call-overload]
    view.begin_batch()
    assert list(view.end_batch()) == []  # a batch that saw no event writes nothing


def test_the_decision_writes_its_amounts_and_the_timeline_carries_them() -> None:
    from domain.loans.loan_events import Cam, SalaryCredit
    from domain.loans.terms import LoanKind, LoanTerms

    loan = _loan()
    facts = ApplicantFacts(credit_score=720)
    loan.submit(facts, POLICY, evaluate((), facts, POLICY, date(2026, 11, 30)), date(2026, 11, 30))
    credits = [SalaryCredit(month=f"2026-0{m}", amount=Decimal(50000)) for m in (7, 8, 9)]
    loan.record_cam(Cam(salary_credits=credits, foir=Decimal(30), existing_emis=Decimal(0),
                        recommended_amount=Decimal(45000), recommended_rate=Decimal(24), notes="fine"))  # fmt: skip
    loan.cx_approve(Decimal("45000.00"), "salary supports it")
    pricing = price(Decimal("40000.00"), processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal(2)))
    terms = LoanTerms(kind=LoanKind.EMI, principal=Decimal("40000.00"), tenure=12, annual_percent=Decimal(24))
    loan.sanction(Decimal("40000.00"), pricing, terms, Decimal("3782.38"), "a little less")
    view = LoanViews()
    *_, cam, approved, sanctioned = [list(view.project(i, e)) for i, e in enumerate(loan.collect_events(), 1)]
    assert cam[0].sql.startswith("UPDATE read.loans SET cam")  # type: ignore[union-attr]
    assert Decimal("45000.00") in approved[0].params  # type: ignore[union-attr]
    row, counted, timeline = sanctioned
    assert "sanctioned_amount = %s" in row.sql and Decimal("40000.00") in row.params  # type: ignore[union-attr]
    # The SM's figures count the sanction (read.sm_figures, the team figures).
    assert "read.sm_figures" in counted.sql and "sanctioned = read.sm_figures.sanctioned + 1" in counted.sql  # type: ignore[union-attr]
    assert isinstance(timeline, Write) and isinstance(timeline.params, tuple)
    details = timeline.params[6].obj
    assert details["requested"] == "50000.00" and details["cx_approved"] == "45000.00"
    assert details["sanctioned"] == "40000.00" and details["net_disbursed"] == str(pricing.net_disbursed)


def test_a_creation_stored_before_its_business_date_is_filed_on_the_brands_local_day() -> None:
    loan = Loan(
        id=uuid.uuid4(), brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), product_id=uuid.uuid4(), product_version=2,
        amount=Decimal("50000.00"), tenure=12, loan_number="DEMO-L-000002", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal(2))),
        instalment=Decimal("4727.98"),
    )  # fmt: skip
    (created,) = [list(LoanViews().project(1, e)) for e in loan.collect_events()]
    assert [type(c) for c in created] == [Insert, Insert, Write, Write]
    assert all("read.brand_local_day(brand_id" in c.sql for c in created if isinstance(c, Write))
