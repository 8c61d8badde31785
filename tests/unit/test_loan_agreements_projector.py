"""The agreements projector, pure: a sanction opens the row (to issue), each e-sign event moves the link's state and
the worker's to-do, and the events before sanction write nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from domain.loans.bre import ApplicantFacts, BrandPolicy, evaluate
from domain.loans.loan import Channel, Loan
from domain.loans.pricing import price
from domain.loans.terms import AmountKind, Fee, LoanKind, LoanTerms
from projections.loan_agreements import BRANDS, ISSUE, QUEUE, LoanAgreementsView
from projections.projection import Insert, Write

POLICY = BrandPolicy(min_salary=Decimal(15000), min_age=22, max_age=54, rejection_cooldown_days=15)
FEE = Fee(kind=AmountKind.PERCENT, value=Decimal(2))
EXPIRES = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _signed_and_queued() -> Loan:
    loan = Loan(
        id=uuid.uuid4(), brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), product_id=uuid.uuid4(), product_version=1,
        amount=Decimal("50000.00"), tenure=12, loan_number="DEMO-L-000001", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=FEE), instalment=Decimal("4727.98"),
    )  # fmt: skip
    facts = ApplicantFacts(credit_score=720)
    loan.submit(facts, POLICY, evaluate((), facts, POLICY, date(2026, 11, 30)), date(2026, 11, 30))
    loan.cx_approve(Decimal("50000.00"), "fine")
    terms = LoanTerms(kind=LoanKind.EMI, principal=Decimal("45000.00"), tenure=12, annual_percent=Decimal(24))
    loan.sanction(Decimal("45000.00"), price(Decimal("45000.00"), processing_fee=FEE), terms, Decimal("4255.18"), "ok")
    loan.issue_agreement("ab" * 32, "sha256:" + "ab" * 32, "es-1", "https://esign/sign/es-1", EXPIRES)
    loan.expire_esign(EXPIRES + timedelta(seconds=1))
    loan.issue_agreement("ab" * 32, "sha256:" + "ab" * 32, "es-2", "https://esign/sign/es-2", EXPIRES + timedelta(2))
    loan.sign("es-2", EXPIRES)
    loan.ready_for_disbursal("acct-1")
    return loan


def test_each_event_moves_the_link_and_the_workers_to_do() -> None:
    view = LoanAgreementsView()
    events = _signed_and_queued().collect_events()
    changes = {type(e).__name__: list(view.project(i, e)) for i, e in enumerate(events, 1)}
    [brand] = changes["Created"]  # the loan's brand, kept in the projection's own table
    assert brand == Insert(BRANDS, {"loan_id": events[0].originator_id, "brand_id": events[0].brand_id})
    for before in ("Submitted", "CxApproved"):
        assert changes[before] == []
    [opened] = changes["Sanctioned"]
    assert isinstance(opened, Write) and opened.sql.startswith("INSERT INTO read.loan_agreements")
    assert ISSUE in opened.params and f"FROM {BRANDS}" in opened.sql  # the brand from its own table, never read.loans
    assert "read.loans" not in opened.sql
    [issued] = changes["AgreementIssued"]  # the last one (the resend) overwrites the first in this dict
    assert isinstance(issued, Write) and "esign_state = 'sent'" in issued.sql and "links_sent + 1" in issued.sql
    assert "https://esign/sign/es-2" in issued.params and "es-2" in issued.params
    [expired] = changes["EsignExpired"]
    assert isinstance(expired, Write) and "esign_state = 'expired'" in expired.sql
    [signed] = changes["Signed"]
    assert isinstance(signed, Write) and "esign_state = 'signed'" in signed.sql and QUEUE in signed.params
    [queued] = changes["DisbursalQueued"]
    assert isinstance(queued, Write) and "work = NULL" in queued.sql


def test_a_cancelled_loan_closes_its_row() -> None:
    loan = Loan(
        id=uuid.uuid4(), brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), product_id=uuid.uuid4(), product_version=1,
        amount=Decimal("50000.00"), tenure=12, loan_number="DEMO-L-000002", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=FEE), instalment=Decimal("4727.98"),
    )  # fmt: skip
    loan.cancel("withdrawn")
    [_, cancelled] = [list(LoanAgreementsView().project(i, e)) for i, e in enumerate(loan.collect_events(), 1)]
    [closed] = cancelled
    assert isinstance(closed, Write) and "open = false" in closed.sql
