"""A repayment's receipt and a settled loan's settlement letter as PDFs (fpdf2, as the agreement and the no-due
certificate): lender, borrower, loan number and the money, written with Indian grouping and paise (`Rs. 8,037.57`,
`document_money`; until then as the API writes amounts, `8037.57`: neither is recorded by hash, each is rendered
on download).

Deterministic: each document's creation date is a date of the loan's events (the receipt: the day the payment was
recorded, or reversed; the letter: the settlement date) and nothing else varies, so the same document always renders
to the same bytes (in this layout)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from uuid import UUID

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from adapters.agreement_pdf import document_money, latin1
from domain.loans.recovery_events import Ending, SettlementRecord
from domain.loans.servicing_events import PaymentMode, PaymentRecord

_WIDTH = 170.0  # A4 (210 mm) less 20 mm margins
_MODES = {
    PaymentMode.CASH: "Cash", PaymentMode.CHEQUE: "Cheque", PaymentMode.NEFT: "NEFT", PaymentMode.IMPS: "IMPS",
    PaymentMode.RTGS: "RTGS", PaymentMode.UPI: "UPI", PaymentMode.NACH: "NACH", PaymentMode.OTHER: "Other",
    PaymentMode.PAYMENT_LINK: "Payment link (online)", PaymentMode.UPI_AUTOPAY: "UPI Autopay",
}  # fmt: skip


def receipt_number(payment_id: str) -> str:
    """The receipt's number, stable for the payment: `RCPT-` and the first 12 hex digits of its id (upper case)."""
    try:
        digits = UUID(payment_id).hex
    except ValueError:
        digits = "".join(c for c in payment_id if c.isalnum()) or "0"
    return f"RCPT-{digits[:12].upper()}"


def mode_text(mode: str) -> str:
    """How a payment mode is written on a receipt."""
    try:
        return _MODES[PaymentMode(mode)]
    except ValueError:
        return mode


@dataclass(frozen=True)
class ReceiptContent:
    """What a repayment's receipt says; `left_to_recover` only for a recovery after a write-off."""

    lender: str
    borrower: str
    loan_number: str
    payment: PaymentRecord
    recovery: bool = False
    left_to_recover: Decimal | None = None


@dataclass(frozen=True)
class SettlementLetterContent:
    """What a settled loan's letter says: the settlement agreed and paid, and what it waived (`ending`)."""

    lender: str
    borrower: str
    loan_number: str
    sanctioned: Decimal
    settlement: SettlementRecord
    ending: Ending
    repaid: Decimal  # every standing payment on the loan, the settlement's included


class _Document(FPDF):
    def __init__(self, title: str, author: str, created: date) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_creation_date(datetime.combine(created, time(0, 0), tzinfo=UTC))
        self.set_producer("Covenant Desk")
        self.set_creator("Covenant Desk")
        self.set_title(latin1(title))
        self.set_author(latin1(author))
        self.add_page()

    def title_line(self, text: str) -> None:
        self.set_font("Helvetica", "B", 15)
        self.cell(0, 10, latin1(text), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def row(self, label: str, value: str) -> None:
        self.set_font("Helvetica", size=10)
        self.cell(75, 6.5, latin1(label))
        self.multi_cell(_WIDTH - 75, 6.5, latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(self, text: str, size: int = 10, style: str = "") -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(_WIDTH, 5.5, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 11)
        self.cell(0, 7, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def grid(self, header: tuple[str, ...], rows: Sequence[tuple[str, ...]], widths: tuple[float, ...]) -> None:
        self.set_font("Helvetica", "B", 9)
        for text, width in zip(header, widths, strict=True):
            self.cell(width, 6, latin1(text), border=1, align="C")
        self.ln()
        for i, row in enumerate(rows):
            self.set_font("Helvetica", "B" if i == len(rows) - 1 else "", 9)
            for j, (text, width) in enumerate(zip(row, widths, strict=True)):
                self.cell(width, 6, latin1(text), border=1, align="L" if j == 0 else "R")
            self.ln()


def render_receipt(content: ReceiptContent) -> bytes:
    """The receipt's PDF bytes."""
    p = content.payment
    number = receipt_number(p.payment_id)
    pdf = _Document(f"Payment receipt {number}", content.lender, p.reversed_on or p.recorded_on)
    pdf.title_line("Payment receipt" + (" - REVERSED" if p.reversed_on is not None else ""))
    if p.reversed_on is not None:
        pdf.paragraph(f"REVERSED on {p.reversed_on.isoformat()}: {p.reversal_reason or 'no reason given'}. This "
                      "payment no longer counts towards the loan: what it paid is due again.", 11, "B")  # fmt: skip
        pdf.ln(3)
    pdf.row("Receipt number", number)
    pdf.row("Lender", content.lender)
    pdf.row("Borrower", content.borrower)
    pdf.row("Loan number", content.loan_number)
    pdf.row("Amount received", document_money(p.amount))
    pdf.row("Mode", mode_text(p.mode))
    pdf.row("Reference", p.reference)
    pdf.row("Paid on", p.paid_on.isoformat())
    pdf.row("Recorded on", p.recorded_on.isoformat())
    if content.recovery:
        pdf.heading("Applied to")
        pdf.paragraph("A recovery on a loan written off: it is not allocated to instalments, and the write-off stands.")
        if content.left_to_recover is not None:
            pdf.row("Left to recover after it", document_money(content.left_to_recover))
    else:
        pdf.heading("Applied to (oldest instalment first: penal charges, interest, principal)")
        rows = [(str(a.no), document_money(a.penal), document_money(a.interest), document_money(a.principal),
                 document_money(a.penal + a.interest + a.principal)) for a in p.allocation]  # fmt: skip
        total = sum((a.penal + a.interest + a.principal for a in p.allocation), Decimal(0))
        rows.append(("Total", document_money(sum((a.penal for a in p.allocation), Decimal(0))),
                     document_money(sum((a.interest for a in p.allocation), Decimal(0))),
                     document_money(sum((a.principal for a in p.allocation), Decimal(0))), document_money(total)))  # fmt: skip
        pdf.grid(("Instalment", "Penal charges", "Interest", "Principal", "Total"), rows, (30, 35, 35, 35, 35))
        pdf.ln(3)
        after = "not recorded" if p.payoff_after is None else document_money(p.payoff_after)
        pdf.row("Outstanding after it (payoff)", after)
        if p.closes_loan:
            pdf.row("Loan", "closed by this payment")
    pdf.ln(6)
    pdf.paragraph(
        "The allocation is as it was when the payment was recorded; a payment recorded later with an earlier date, "
        f"or the reversal of an earlier one, may apply it again differently (ask {content.lender} for the loan's "
        "statement). Generated by Covenant Desk.",
        8,
    )
    return bytes(pdf.output())


def render_settlement_letter(content: SettlementLetterContent) -> bytes:
    """The settlement letter's PDF bytes."""
    s, e = content.settlement, content.ending
    pdf = _Document(f"Settlement letter {content.loan_number}", content.lender, e.on)
    pdf.title_line("Settlement letter")
    pdf.paragraph(
        f"This is to confirm that loan {content.loan_number} granted by {content.lender} to {content.borrower} is "
        f"closed as settled on {e.on.isoformat()}. {content.lender} accepted {document_money(s.amount)} in full and final "
        "settlement of the loan; it has been paid, the balance below was waived, and nothing more is due on it."
    )
    pdf.ln(2)
    pdf.paragraph(
        "The loan is closed as SETTLED, not as fully repaid: it is reported to credit bureaus as settled.", 10, "B"
    )
    pdf.ln(3)
    pdf.row("Borrower", content.borrower)
    pdf.row("Loan number", content.loan_number)
    pdf.row("Amount sanctioned (principal)", document_money(content.sanctioned))
    pdf.row("Payoff when proposed", f"{document_money(s.payoff_at_proposal)} on {s.proposed_on.isoformat()}")
    approved = f" (approved on {s.decided_on.isoformat()})" if s.decided_on is not None else ""
    pdf.row("Settlement amount", document_money(s.amount) + approved)
    pdf.row("Total repaid on the loan", document_money(content.repaid))
    pdf.row("Settlement date", e.on.isoformat())
    pdf.heading("Waived under the settlement")
    pdf.row("Principal", document_money(e.principal))
    pdf.row("Interest", document_money(e.interest))
    pdf.row("Penal charges", document_money(e.penal))
    pdf.row("Total waived", document_money(e.total))
    if e.interest < 0 or e.principal < 0 or e.penal < 0:
        pdf.paragraph("A negative figure was paid ahead of instalments not yet due when the loan was settled: it is "
                      "set against the rest of the balance waived.", 8)  # fmt: skip
    pdf.ln(6)
    pdf.paragraph(f"Interest of the current period accrued by days was not charged. Verify this letter with "
                  f"{content.lender}. Generated by Covenant Desk.", 8)  # fmt: skip
    return bytes(pdf.output())
