"""The loan agreement PDF read back with an independent reader (pypdf): the parties, the amounts, fees and GST and
every instalment as `tests/unit/lending_reference.py` (a second implementation of LENDING.md) computes them; the
same agreement gives the same bytes."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pypdf
import pytest

from adapters.agreement_pdf import PdfAgreementRenderer, latin1, render_agreement
from domain.loans.agreement import AgreementBorrower, LoanAgreement, sha256_hex
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.pricing import price
from domain.loans.schedule import build_schedule
from domain.loans.terms import AmountKind, Discount, Fee, LoanKind, LoanTerms, PenalKind, PenalTerms
from tests.support import document_amounts_as_digits
from tests.unit import lending_reference as ref

ISSUED = datetime(2026, 11, 30, 6, 15, tzinfo=UTC)
DISBURSAL = date(2027, 1, 31)  # month ends clamp (28 Feb), Sundays move


def _agreement(
    kind: LoanKind = LoanKind.EMI,
    sanctioned: str = "150000.00",
    tenure: int = 12,
    rate: str = "24.00",
    name: str = "Meera Iyer",
    inclusive: bool = True,
    coupon: Discount | None = None,
    issued_at: datetime = ISSUED,
) -> LoanAgreement:
    principal = Decimal(sanctioned)
    calendar = RepaymentCalendar(sunday_off=True, holidays=frozenset({date(2027, 4, 30)}))
    terms = LoanTerms(
        kind=kind,
        principal=principal,
        tenure=tenure,
        annual_percent=Decimal(rate) if kind is LoanKind.EMI else None,
        daily_percent=Decimal(rate) if kind is LoanKind.PAYDAY else None,
    )
    pricing = price(
        principal,
        processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("2.5")),
        convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("499"), gst_inclusive=inclusive),
        gst_percent=Decimal("18"),
        coupon=coupon,
    )
    return LoanAgreement(
        lender="Demo Finance Ltd",
        loan_number="DEMO-L-000042",
        loan_id="6f1c2d34-0000-4000-8000-000000000042",
        borrower=AgreementBorrower(
            name=name,
            number="DEMO-C-000007",
            pan_masked="ABCPK****L",
            phone="+919876501234",
            address="4 Lake Road, Mylapore, Chennai, Tamil Nadu 600004",
        ),
        product_code="PL",
        product_name="Personal loan",
        product_version=3,
        kind=kind,
        requested=principal + 10000,
        cx_approved=principal + 5000,
        sanctioned=principal,
        pricing=pricing,
        rate=Decimal(rate),
        tenure=tenure,
        penal=PenalTerms(kind=PenalKind.SIMPLE, daily_percent=Decimal("0.10")),
        schedule=build_schedule(terms, DISBURSAL, calendar),
        disbursal_on=DISBURSAL,
        issued_at=issued_at,
    )


def _text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return document_amounts_as_digits("\n".join(page.extract_text() for page in reader.pages))


def _amount(paise: int) -> str:
    return f"{ref.rupees(paise):.2f}"


def test_every_instalment_matches_an_independent_schedule() -> None:
    agreement = _agreement(tenure=24, rate="17.75")
    text = _text(render_agreement(agreement))
    rows = ref.emi_rows(ref.paise("150000.00"), Decimal("17.75"), 24, DISBURSAL, True, frozenset({date(2027, 4, 30)}))
    assert len(rows) == 24
    for k, row in enumerate(rows, start=1):
        line = " ".join(
            [
                str(k),
                row.due.isoformat(),
                _amount(row.opening),
                _amount(row.principal),
                _amount(row.interest),
                _amount(row.principal + row.interest),
            ]
        )
        assert line in text, f"instalment {k}: {line!r} not in the agreement"
    total_interest = sum(r.interest for r in rows)
    assert f"Total 150000.00 {_amount(total_interest)} {_amount(ref.paise('150000.00') + total_interest)}" in text
    assert f"Monthly instalment (EMI) {_amount(ref.emi(ref.paise('150000.00'), Decimal('17.75'), 24))}" in text
    # 31 Jan: the first instalment falls on 28 Feb, the holiday of 30 Apr moves to 1 May (not a Sunday in 2027).
    assert "1 2027-02-27" not in text and f"1 {rows[0].due.isoformat()}" in text


@pytest.mark.parametrize("inclusive", [True, False])
def test_fees_gst_and_net_disbursed_match_an_independent_pricing(inclusive: bool) -> None:
    coupon = Discount(kind=AmountKind.PERCENT, value=Decimal("50"))
    agreement = _agreement(sanctioned="87654.32", inclusive=inclusive, coupon=coupon)
    text = _text(render_agreement(agreement))
    priced = ref.price(
        ref.paise("87654.32"),
        ("percent", Decimal("2.5"), False),
        ("fixed", Decimal("499"), inclusive),
        Decimal("18"),
        ("percent", Decimal("50")),
    )
    where = "included in the fee" if inclusive else "on top of the fee"
    assert f"Processing fee before discount {_amount(priced.before)}" in text
    assert f"Coupon discount {_amount(priced.discount)}" in text
    assert f"Processing fee after discount {_amount(priced.processing)}" in text
    assert f"GST 18% on processing fee {_amount(priced.processing_gst)} (on top of the fee)" in text
    assert f"Convenience fee {_amount(priced.convenience)}" in text
    assert f"GST 18% on convenience fee {_amount(priced.convenience_gst)} ({where})" in text
    assert f"Total GST {_amount(priced.processing_gst + priced.convenience_gst)}" in text
    assert f"Net amount disbursed {_amount(priced.net)}" in text
    assert f"Total deductions {_amount(ref.paise('87654.32') - priced.net)}" in text


def test_parties_amounts_rate_and_penal_terms() -> None:
    text = _text(render_agreement(_agreement()))
    for expected in (
        "LOAN AGREEMENT",
        "Loan number DEMO-L-000042",
        "Lender Demo Finance Ltd",
        "Borrower Meera Iyer",
        "Borrower id DEMO-C-000007",
        "PAN ABCPK****L",
        "Address 4 Lake Road, Mylapore, Chennai, Tamil Nadu 600004",
        "Product Personal loan (PL), version 3",
        "Amount requested 160000.00",
        "Amount recommended 155000.00",
        "Amount sanctioned (principal) 150000.00",
        "Interest rate 24.00% per annum, reducing balance",
        "Tenure 12 months",
        "Expected disbursal date 2027-01-31",
        "Penal rate 0.10% per day overdue",
        "Borrower: Meera Iyer",
        "For the lender: Demo Finance Ltd",
    ):
        assert expected in text, expected
    assert "ABCPK1234L" not in text  # never the whole PAN


def test_a_payday_agreement_has_one_bullet_instalment() -> None:
    agreement = _agreement(kind=LoanKind.PAYDAY, sanctioned="20000.00", tenure=30, rate="0.75")
    text = _text(render_agreement(agreement))
    [row] = ref.payday_rows(ref.paise("20000.00"), Decimal("0.75"), 30, DISBURSAL, True, frozenset({date(2027, 4, 30)}))
    amounts = [_amount(v) for v in (row.opening, row.principal, row.interest, row.principal + row.interest)]
    assert f"1 {row.due.isoformat()} {' '.join(amounts)}" in text
    assert "Interest rate 0.75% per day, on the principal" in text
    assert "Tenure 30 days" in text
    assert "Monthly instalment" not in text


def test_the_same_agreement_renders_the_same_bytes() -> None:
    first = render_agreement(_agreement())
    again = render_agreement(_agreement())
    assert first == again and sha256_hex(first) == sha256_hex(again)
    assert first.startswith(b"%PDF-")
    later = render_agreement(_agreement(issued_at=datetime(2026, 12, 1, tzinfo=UTC)))
    assert later != first
    info = pypdf.PdfReader(io.BytesIO(first)).metadata
    assert info is not None and info.creation_date is not None
    assert info.creation_date.replace(tzinfo=UTC) == ISSUED.replace(tzinfo=None).replace(tzinfo=UTC)


def test_names_outside_latin1_are_written_readably() -> None:
    assert latin1("Zoë Ağaoğlu") == "Zoë Agaoglu"
    assert latin1("राम") == "???"
    text = _text(render_agreement(_agreement(name="Şükrü Öztürk")))
    assert "Borrower Sükrü Öztürk" in text  # Ş is outside Latin-1: S; ü and Ö are inside it


def test_the_issue_date_is_the_brands_day_and_older_layouts_keep_theirs() -> None:
    """A sanction at 02:00 IST on 5 March is issued on 5 March (the UTC day is 4 March); an agreement issued in an
    earlier layout still renders to its recorded bytes, with the UTC day it printed then."""
    night = datetime(2026, 3, 4, 20, 30, tzinfo=UTC)  # 02:00 IST on 5 March
    agreement = _agreement(issued_at=night)
    assert agreement.issued_on.isoformat() == "2026-03-05"
    assert "Issued on 2026-03-05" in _text(render_agreement(agreement))
    assert "Issued on 2026-03-04" in _text(render_agreement(agreement, layout=2))
    renderings = list(PdfAgreementRenderer().renderings(agreement))
    assert len(renderings) == 3 and renderings[1] == render_agreement(agreement, layout=2)
