"""Generated documents write money as borrowers read it - `Rs. 1,50,000.00`, Indian grouping with paise - where
they wrote the API's `150000.00`; documents whose hash is recorded (the agreement, the no-due certificate) keep their
earlier layouts, so one issued before renders to the same bytes again."""

from __future__ import annotations

import hashlib
import io
from datetime import date
from decimal import Decimal

import pypdf

from adapters.agreement_pdf import LAYOUT, PdfAgreementRenderer, document_money, render_agreement
from adapters.no_due_pdf import NoDueContent, render_no_due
from adapters.receipt_pdf import ReceiptContent, render_receipt
from domain.loans.servicing_events import AllocationRecord, NoDue, PaymentMode, PaymentRecord
from tests.unit.test_agreement_pdf import _agreement


def _raw(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_document_money_has_indian_grouping_and_paise() -> None:
    assert document_money(Decimal("150000")) == "Rs. 1,50,000.00"
    assert document_money(Decimal("12345678.5")) == "Rs. 1,23,45,678.50"
    assert document_money(Decimal("-5506.88")) == "-Rs. 5,506.88"
    assert document_money(Decimal("0")) == "Rs. 0.00"


def test_the_agreement_writes_amounts_grouped_and_keeps_layout_1_for_agreements_issued_in_it() -> None:
    agreement = _agreement()
    text = _raw(render_agreement(agreement))
    assert "Amount sanctioned (principal) Rs. 1,50,000.00" in text, text
    assert "Amount requested Rs. 1,60,000.00" in text and "150000.00" not in text
    old = render_agreement(agreement, layout=1)
    assert "Amount sanctioned (principal) 150000.00" in _raw(old)
    renderings = list(PdfAgreementRenderer().renderings(agreement))
    assert len(renderings) == LAYOUT and renderings[0] == render_agreement(agreement) and renderings[-1] == old
    assert hashlib.sha256(old).hexdigest() == hashlib.sha256(render_agreement(agreement, layout=1)).hexdigest()


def test_the_no_due_certificate_writes_amounts_grouped_in_layout_3_and_keeps_1_and_2() -> None:
    agreement = _agreement()
    figures = NoDue(sha256="", verification_code="NDC-1", closed_on=date(2027, 2, 1), disbursed=Decimal("150000.00"),
                    repaid=Decimal("152345.67"))  # fmt: skip
    content = NoDueContent("Demo Finance Ltd", "Meera Iyer", "DEMO-L-000042", Decimal("150000.00"),
                           agreement.pricing.net_disbursed, figures, agreement.pricing)  # fmt: skip
    text = _raw(render_no_due(content))
    assert "Amount repaid Rs. 1,52,345.67" in text and "Amount sanctioned (principal) Rs. 1,50,000.00" in text, text
    assert "Processing fee charged Rs. " in text and "152345.67" not in text
    two, one = _raw(render_no_due(content, layout=2)), _raw(render_no_due(content, layout=1))
    assert "Amount repaid 152345.67" in two and "Processing fee charged" in two
    assert "Amount repaid 152345.67" in one and "Processing fee charged" not in one
    assert render_no_due(content, layout=2) == render_no_due(content, layout=2)


def test_a_receipt_writes_amounts_grouped() -> None:
    payment = PaymentRecord(
        payment_id="b1f1c00b-8d94-4579-a78d-caf2ba940829", amount=Decimal("12500.00"), mode=PaymentMode.UPI,
        reference="UTR-1", paid_on=date(2027, 3, 1), recorded_on=date(2027, 3, 1),
        allocation=(AllocationRecord(no=1, penal=Decimal("0.00"), interest=Decimal("2218.75"),
                                     principal=Decimal("10281.25")),),
        payoff_after=Decimal("139718.75"),
    )  # fmt: skip
    text = _raw(render_receipt(ReceiptContent("Demo Finance Ltd", "Meera Iyer", "DEMO-L-000042", payment)))
    assert "Amount received Rs. 12,500.00" in text and "Rs. 10,281.25" in text and "Rs. 1,39,718.75" in text, text
    assert "12500.00" not in text
