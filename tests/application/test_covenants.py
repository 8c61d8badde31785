"""Covenant use cases: set-up (the borrower and assignee checked, the brand's defaults resolved), reviews of a
cycle's record (submit a value, comply, waive), reassigning and closing - on the in-memory event store."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.covenants.application import NO_BORROWER, NO_STAFF, CovenantDefaults, Covenants
from domain.covenants.covenant import Covenant, CovenantEvaluation, EvaluationNotFound, ProofNotFound, evaluation_id
from domain.covenants.proofs import MAX_PROOFS, Proof
from domain.covenants.schedule import DEFAULT_LEAD_DAYS, Frequency
from domain.covenants.status import CovenantStatus, EvaluationStatus, NoticeKind
from domain.covenants.terms import CovenantType, Operator, Terms
from domain.documents.content import ContentType, Uploader
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory, raced_after

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")
BORROWER = uuid.UUID("00000000-0000-4000-8000-00000000b001")
ELSEWHERE = uuid.UUID("00000000-0000-4000-8000-00000000b002")  # a borrower of the other brand
OFFICER = uuid.UUID("00000000-0000-4000-8000-00000000a001")

DSCR = Terms(type=CovenantType.FINANCIAL, metric="DSCR", operator=Operator.GE, threshold=Decimal("1.25"))
STOCK = Terms(type=CovenantType.DOCUMENT, document="Monthly stock statement")


@dataclass
class Parties:
    """The other contexts as the covenants context sees them: who exists in which brand, and brand defaults."""

    borrowers: set[tuple[UUID, UUID]] = field(default_factory=lambda: {(BRAND, BORROWER), (OTHER, ELSEWHERE)})
    staff: set[tuple[UUID, UUID]] = field(default_factory=lambda: {(BRAND, OFFICER)})
    grace: dict[UUID, Mapping[str, int]] = field(default_factory=dict)
    lead: dict[UUID, Mapping[str, int]] = field(default_factory=dict)
    asked: list[UUID] = field(default_factory=list)

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        return (brand_id, customer_id) in self.borrowers

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool:
        return (brand_id, staff_id) in self.staff

    def defaults(self, brand_id: UUID) -> CovenantDefaults:
        self.asked.append(brand_id)
        return CovenantDefaults(grace_days=self.grace.get(brand_id, {}), lead_days=self.lead.get(brand_id, {}))


@pytest.fixture
def parties() -> Parties:
    return Parties()


@pytest.fixture
def covenants(clock: FixedClock, parties: Parties) -> Covenants:
    return in_memory(Covenants, clock, parties=parties)


def _create(covenants: Covenants, **overrides: Any) -> UUID:
    fields: dict[str, Any] = {
        "customer_id": BORROWER,
        "application_ref": "APP-2026-0001",
        "title": "Debt service coverage",
        "terms": DSCR,
        "frequency": Frequency.QUARTERLY,
        "start_date": date(2026, 10, 1),
        "first_due_date": date(2026, 12, 31),
        "expiry_date": date(2028, 12, 31),
    }
    return covenants.create(BRAND, **(fields | overrides)).id


def _nothing_recorded(covenants: Covenants) -> bool:
    return covenants.recorder.max_notification_id() in (None, 0)


def _first_record(covenants: Covenants, covenant_id: UUID) -> UUID:
    """Open the covenant's first cycle (its evaluation date has come) and return its record's id."""
    covenants.open_due_cycles([covenant_id], date(2026, 12, 31))
    return evaluation_id(covenant_id, 1)


def _events(covenants: Covenants, aggregate_id: UUID) -> list[str]:
    return [type(e).__name__ for e in covenants.events.get(aggregate_id)]


# Set-up ------------------------------------------------------------------------------------------------------


def test_a_covenant_on_an_unknown_borrower_is_refused_and_nothing_is_recorded(covenants: Covenants) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(covenants, customer_id=uuid.uuid4())
    assert [(e.field, e.message) for e in refused.value.errors] == [("customer_id", NO_BORROWER)]
    assert _nothing_recorded(covenants)


def test_a_covenant_named_by_its_caller_has_that_id_and_the_name_cannot_be_taken_twice(covenants: Covenants) -> None:
    named = uuid.uuid5(uuid.NAMESPACE_URL, "demo:covenant:0")
    assert _create(covenants, covenant_id=named) == named
    assert covenants.covenant(BRAND, named).title == "Debt service coverage"
    before = covenants.recorder.max_notification_id()
    with pytest.raises(ConcurrentModification):
        _create(covenants, covenant_id=named, title="Stock statement")
    assert covenants.recorder.max_notification_id() == before
    assert covenants.covenant(BRAND, named).title == "Debt service coverage"


def test_another_brands_borrower_is_unknown_here(covenants: Covenants) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(covenants, customer_id=ELSEWHERE)
    assert refused.value.errors[0].field == "customer_id"
    assert _nothing_recorded(covenants)


def test_an_unknown_borrower_and_assignee_are_both_named(covenants: Covenants) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(covenants, customer_id=uuid.uuid4(), assignee_id=uuid.uuid4())
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("customer_id", NO_BORROWER),
        ("assignee_id", NO_STAFF),
    ]
    assert _nothing_recorded(covenants)


def test_a_known_borrower_gets_the_covenant_with_its_assignee(covenants: Covenants) -> None:
    covenant = covenants.covenant(BRAND, _create(covenants, assignee_id=OFFICER, company=" sml "))
    assert (covenant.customer_id, covenant.assignee_id, covenant.company) == (BORROWER, OFFICER, "sml")
    assert covenant.status is CovenantStatus.ACTIVE and covenant.next_due_date == date(2026, 12, 31)


def test_grace_and_lead_days_default_to_the_brands_settings_per_frequency(
    covenants: Covenants, parties: Parties
) -> None:
    parties.grace[BRAND] = {"quarterly": 10, "monthly": 3}
    parties.lead[BRAND] = {"quarterly": 21}
    calendar = covenants.covenant(BRAND, _create(covenants)).calendar
    assert (calendar.grace_days, calendar.lead_days) == (10, 21)
    assert parties.asked == [BRAND]


def test_without_brand_settings_there_is_no_grace_and_the_products_lead_days(covenants: Covenants) -> None:
    calendar = covenants.covenant(BRAND, _create(covenants, frequency=Frequency.MONTHLY)).calendar
    assert (calendar.grace_days, calendar.lead_days) == (0, DEFAULT_LEAD_DAYS[Frequency.MONTHLY])


def test_days_given_win_over_the_brands_defaults(covenants: Covenants, parties: Parties) -> None:
    parties.grace[BRAND] = {"quarterly": 10}
    parties.lead[BRAND] = {"quarterly": 21}
    calendar = covenants.covenant(BRAND, _create(covenants, grace_days=0, lead_days=5)).calendar
    assert (calendar.grace_days, calendar.lead_days) == (0, 5)
    assert parties.asked == []  # nothing left to resolve


def test_an_invalid_covenant_on_a_known_borrower_names_its_fields(covenants: Covenants) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(covenants, title=" x ", terms=Terms(type=CovenantType.FINANCIAL, metric="DSCR"))
    assert {e.field for e in refused.value.errors} >= {"title", "operator", "threshold"}
    assert _nothing_recorded(covenants)


# Reviews of a cycle's record -----------------------------------------------------------------------------------


def test_complying_with_a_document_covenant_records_the_evidence(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, title="Stock statement", terms=STOCK))
    result = covenants.comply(BRAND, record_id, "  stock statement for December, DMS ref 4411 ")
    assert result.id == record_id
    record = covenants.evaluation(BRAND, record_id)
    assert record.status is EvaluationStatus.COMPLIED
    assert _events(covenants, record_id) == ["Opened", "Complied"]
    (complied,) = covenants.events.get(record_id, gt=1)
    assert getattr(complied, "evidence", None) == "stock statement for December, DMS ref 4411"


def test_a_financial_covenant_is_complied_only_after_a_passing_value(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants))
    with pytest.raises(Conflict, match="submit the measured value first"):
        covenants.comply(BRAND, record_id, "audited accounts")
    covenants.submit_value(BRAND, record_id, "1.40")
    covenants.comply(BRAND, record_id, "audited accounts")
    record = covenants.evaluation(BRAND, record_id)
    assert (record.value, record.passed, record.status) == (Decimal("1.40"), True, EvaluationStatus.COMPLIED)
    assert _events(covenants, record_id) == ["Opened", "ValueSubmitted", "Complied"]


def test_a_failing_value_cannot_be_complied_but_can_be_waived(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants))
    covenants.submit_value(BRAND, record_id, Decimal("1.1"))
    with pytest.raises(Conflict, match=r"fails DSCR >= 1\.25"):
        covenants.comply(BRAND, record_id, "audited accounts")
    covenants.waive(BRAND, record_id, "seasonal dip approved by credit committee")
    record = covenants.evaluation(BRAND, record_id)
    assert (record.passed, record.status) == (False, EvaluationStatus.WAIVED)
    assert _events(covenants, record_id) == ["Opened", "ValueSubmitted", "Waived"]


def test_a_value_of_a_document_covenant_is_refused(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    with pytest.raises(Conflict, match="not a financial one"):
        covenants.submit_value(BRAND, record_id, "1.5")
    assert _events(covenants, record_id) == ["Opened"]


def test_a_closed_record_takes_no_further_review(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    covenants.waive(BRAND, record_id, "borrower restructured")
    with pytest.raises(Conflict, match="already waived"):
        covenants.comply(BRAND, record_id, "late statement")
    assert _events(covenants, record_id) == ["Opened", "Waived"]


def test_another_brands_record_cannot_be_reviewed(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    with pytest.raises(EvaluationNotFound):
        covenants.comply(OTHER, record_id, "stock statement")
    assert covenants.evaluation(BRAND, record_id).status is EvaluationStatus.OPEN


# Reassigning and closing -----------------------------------------------------------------------------------------


def test_reassigning_checks_the_staff_member_is_in_the_brand(covenants: Covenants) -> None:
    covenant_id = _create(covenants)
    with pytest.raises(InvalidInput) as refused:
        covenants.reassign(BRAND, covenant_id, uuid.uuid4())
    assert [(e.field, e.message) for e in refused.value.errors] == [("assignee_id", NO_STAFF)]
    covenants.reassign(BRAND, covenant_id, OFFICER)
    covenants.reassign(BRAND, covenant_id, None)
    assert _events(covenants, covenant_id) == ["Created", "Reassigned", "Reassigned"]
    assert covenants.covenant(BRAND, covenant_id).assignee_id is None


def test_a_closed_covenant_opens_no_more_cycles(covenants: Covenants) -> None:
    covenant_id = _create(covenants, terms=STOCK)
    covenants.close_covenant(BRAND, covenant_id, "loan repaid early")
    assert covenants.open_due_cycles([covenant_id], date(2027, 12, 31)) == (0, 0)
    covenant = covenants.load(Covenant, covenant_id, BRAND, EvaluationNotFound)
    assert covenant.status is CovenantStatus.CLOSED and covenant.cycles == 0


# Proof of compliance (documents attached to a record) ------------------------------------------------------------

ACCOUNTS, STATEMENT = uuid.UUID(int=0xA1), uuid.UUID(int=0xA2)


def _attach(covenants: Covenants, record_id: UUID, document_id: UUID, filename: str = "stock-dec.pdf") -> None:
    covenants.attach_proof(BRAND, record_id, document_id, filename=filename, sha256="ab" * 32, size=2048,
                           content_type=ContentType.PDF, uploaded_by=Uploader.STAFF)  # fmt: skip


def test_proof_attached_to_an_open_record_is_kept_and_it_stays_open(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    _attach(covenants, record_id, ACCOUNTS)
    record = covenants.evaluation(BRAND, record_id)
    assert record.status is EvaluationStatus.OPEN and record.proof_received
    assert record.proof(ACCOUNTS) == Proof(ACCOUNTS, "stock-dec.pdf", "ab" * 32, 2048, ContentType.PDF, Uploader.STAFF)
    (attached,) = covenants.events.get(record_id, gt=1)
    assert isinstance(attached, CovenantEvaluation.ProofAttached)
    assert (attached.document_id, attached.sha256, attached.size) == (ACCOUNTS, "ab" * 32, 2048)
    with pytest.raises(ProofNotFound):
        record.proof(STATEMENT)


def test_the_same_document_is_attached_once(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    _attach(covenants, record_id, ACCOUNTS)
    with pytest.raises(Conflict, match="already attached"):
        _attach(covenants, record_id, ACCOUNTS)
    assert _events(covenants, record_id) == ["Opened", "ProofAttached"]


def test_a_record_holds_a_bounded_number_of_proofs(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    for n in range(MAX_PROOFS):
        _attach(covenants, record_id, uuid.UUID(int=n + 1))
    with pytest.raises(Conflict, match=f"at most {MAX_PROOFS}"):
        covenants.proof_target(BRAND, record_id)
    with pytest.raises(Conflict, match=f"at most {MAX_PROOFS}"):
        _attach(covenants, record_id, uuid.UUID(int=999))


def test_proof_cannot_be_attached_to_a_complied_or_waived_record(covenants: Covenants) -> None:
    complied = _first_record(covenants, _create(covenants, terms=STOCK))
    covenants.comply(BRAND, complied, "stock statement, DMS ref 4411")
    waived = _first_record(covenants, _create(covenants, terms=STOCK))
    covenants.waive(BRAND, waived, "borrower restructured")
    for record_id, status in ((complied, "complied"), (waived, "waived")):
        with pytest.raises(Conflict, match=f"cannot attach proof: the record is already {status}"):
            covenants.proof_target(BRAND, record_id)
        with pytest.raises(Conflict, match="already"):
            _attach(covenants, record_id, ACCOUNTS)
        assert "ProofAttached" not in _events(covenants, record_id)


def test_proof_can_be_attached_to_an_overdue_record(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    assert covenants.mark_overdue([record_id], date(2027, 1, 15)) == 1
    covenants.proof_target(BRAND, record_id)
    _attach(covenants, record_id, ACCOUNTS)
    assert covenants.evaluation(BRAND, record_id).status is EvaluationStatus.OVERDUE


def test_another_brands_record_takes_no_proof(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    with pytest.raises(EvaluationNotFound):
        covenants.proof_target(OTHER, record_id)
    with pytest.raises(EvaluationNotFound):
        covenants.attach_proof(OTHER, record_id, ACCOUNTS, filename="x.pdf", sha256="ab" * 32, size=1,
                               content_type=ContentType.PDF, uploaded_by=Uploader.STAFF)  # fmt: skip
    assert _events(covenants, record_id) == ["Opened"]


def test_complying_cites_attached_proofs_as_approved(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    _attach(covenants, record_id, ACCOUNTS)
    _attach(covenants, record_id, STATEMENT, "stock-dec-annex.png")
    covenants.comply(BRAND, record_id, "December stock statement", [ACCOUNTS, ACCOUNTS])
    record = covenants.evaluation(BRAND, record_id)
    assert record.status is EvaluationStatus.COMPLIED
    assert (record.proof(ACCOUNTS).approved, record.proof(STATEMENT).approved) == (True, False)
    assert _events(covenants, record_id) == ["Opened", "ProofAttached", "ProofAttached", "ProofsApproved", "Complied"]
    approved, _ = covenants.events.get(record_id, gt=3)
    assert isinstance(approved, CovenantEvaluation.ProofsApproved) and approved.document_ids == [ACCOUNTS]


def test_complying_citing_a_document_not_attached_names_the_field_and_records_nothing(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    _attach(covenants, record_id, ACCOUNTS)
    with pytest.raises(InvalidInput) as refused:
        covenants.comply(BRAND, record_id, "x", [ACCOUNTS, STATEMENT])
    assert {e.field for e in refused.value.errors} == {"evidence", "proof_document_ids"}
    assert str(STATEMENT) in next(e.message for e in refused.value.errors if e.field == "proof_document_ids")
    assert _events(covenants, record_id) == ["Opened", "ProofAttached"]
    assert covenants.evaluation(BRAND, record_id).status is EvaluationStatus.OPEN


def test_complying_without_proofs_records_no_approval(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    _attach(covenants, record_id, ACCOUNTS)
    covenants.comply(BRAND, record_id, "seen the original at the branch")
    assert _events(covenants, record_id) == ["Opened", "ProofAttached", "Complied"]
    assert not covenants.evaluation(BRAND, record_id).proof(ACCOUNTS).approved


def test_a_financial_covenant_with_proof_still_needs_a_passing_value(covenants: Covenants) -> None:
    record_id = _first_record(covenants, _create(covenants))
    _attach(covenants, record_id, ACCOUNTS, "audited-fy26.pdf")
    with pytest.raises(Conflict, match="submit the measured value first"):
        covenants.comply(BRAND, record_id, "audited accounts", [ACCOUNTS])
    assert _events(covenants, record_id) == ["Opened", "ProofAttached"]


def test_staff_decisions_racing_a_borrowers_proof_are_made_on_the_record_as_it_now_is(
    covenants: Covenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clean-clone run saw "comply" refused with 409 while the borrower's proof landed in the same moment: neither
    # request names a version, and a proof commutes with staff's decision, so the decision is made again on the record
    # with the proof (as if it had come a moment later); the proof is attached before it, not lost.
    for decide, ending in (
        (lambda record_id: covenants.comply(BRAND, record_id, "stock statement seen, DMS ref 4411"), "Complied"),
        (lambda record_id: covenants.waive(BRAND, record_id, "borrower restructured"), "Waived"),
    ):
        record_id = _first_record(covenants, _create(covenants, terms=STOCK))
        raced_after(
            monkeypatch, covenants, "evaluation", lambda record_id=record_id: _attach(covenants, record_id, ACCOUNTS)
        )
        assert decide(record_id).id == record_id
        assert _events(covenants, record_id) == ["Opened", "ProofAttached", ending]
        monkeypatch.undo()


def test_a_second_decision_racing_the_first_is_still_refused(
    covenants: Covenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_id = _first_record(covenants, _create(covenants, terms=STOCK))
    raced_after(
        monkeypatch, covenants, "evaluation", lambda: covenants.waive(BRAND, record_id, "borrower restructured")
    )
    with pytest.raises(Conflict):
        covenants.comply(BRAND, record_id, "stock statement seen, DMS ref 4411")
    assert _events(covenants, record_id) == ["Opened", "Waived"]


def test_the_jobs_batches_racing_staff_are_saved_on_the_records_as_they_now_are(
    covenants: Covenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The overdue job's batch (one atomic save) raced by staff complying one of its records: the batch is marked again
    # without that record, not the whole attempt failed until the scheduler's retry.
    complied, later = (
        _first_record(covenants, _create(covenants, terms=STOCK, title=t)) for t in ("Stock A", "Stock B")
    )
    raced_after(monkeypatch, covenants, "load_many", lambda: covenants.comply(BRAND, complied, "stock statement seen"))
    assert covenants.mark_overdue([complied, later], date(2027, 1, 15)) == 1
    monkeypatch.undo()
    assert _events(covenants, complied) == ["Opened", "Complied"]
    assert _events(covenants, later) == ["Opened", "MarkedOverdue"]

    # The notices job's page raced by staff waiving a record it covers: queued again, for the record still owed.
    waived = _first_record(covenants, _create(covenants, terms=STOCK, title="Stock C"))
    assert covenants.mark_overdue([waived], date(2027, 1, 15)) == 1
    raced_after(monkeypatch, covenants, "load_many", lambda: covenants.waive(BRAND, waived, "borrower restructured"))
    notices = covenants.queue_notices(
        BRAND, NoticeKind.OVERDUE, [([waived], "a@b.in"), ([later], "a@b.in")], subject_for=lambda _: "Overdue",
        as_of=date(2027, 1, 15),
    )  # fmt: skip
    assert notices[0] is None and notices[1] is not None and notices[1].evaluation_ids == [later]
    assert _events(covenants, waived) == ["Opened", "MarkedOverdue", "Waived"]
