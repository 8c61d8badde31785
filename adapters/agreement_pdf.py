"""The loan agreement as a PDF (fpdf2): parties, amounts, fees and GST, net disbursed, rate, penal terms, the full
repayment schedule and the signature block.

Deterministic: the PDF's creation date is the agreement's `issued_at` and its file id is derived from the content,
so one agreement always renders to the same bytes and its SHA-256 can be checked again. Text uses the PDF core
fonts (Latin-1); a character outside it is written as its closest ASCII form (accents dropped) or `?`.
Amounts are written with Indian grouping and paise (`Rs. 12,500.00`, `document_money`) since layout 2; layout 1
wrote them as the API carries them (`12500.00`) and is kept for the agreements issued in it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from domain.loans.agreement import LoanAgreement
from domain.loans.terms import LoanKind, PenalKind
from domain.shared.rupees import rupees

#: The layout new agreements are issued in (3: issued on the brand's local day; 2: amounts as `document_money`, the
#: issue date the UTC day; 1: amounts in plain digits). The older ones are kept so that an agreement issued in one
#: renders to the bytes its recorded SHA-256 is of (`renderings`).
LAYOUT = 3

_WIDTH = 180.0  # A4 (210 mm) less 15 mm margins
_SCHEDULE = (("No", 12.0), ("Due date", 30.0), ("Opening", 36.0), ("Principal", 34.0), ("Interest", 32.0))
_AMOUNT_WIDTH = _WIDTH - sum(w for _, w in _SCHEDULE)


def latin1(text: str) -> str:
    """`text` in what the core fonts can show: Latin-1 kept, other letters decomposed to ASCII, the rest `?`."""
    out: list[str] = []
    for char in text:
        if ord(char) < 256 and (char.isprintable() or char == " "):
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(plain if plain and plain.isprintable() else "?")
    return "".join(out)


def money(value: Decimal) -> str:
    """Rupees with paise, as the API writes them (`150000.00`): documents issued before their layout wrote money
    as `document_money` (the agreement's layout 1, the no-due certificate's 1 and 2)."""
    return f"{value:.2f}"


def document_money(value: Decimal) -> str:
    """An amount as a document shows it to the borrower: Indian grouping with paise, `Rs. 1,50,000.00` (`rupees`
    with the sign written `Rs.`: the PDF core fonts have no ₹)."""
    return rupees(value).replace("₹", "Rs. ")


class _Document(FPDF):
    def __init__(self, agreement: LoanAgreement) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.agreement = agreement
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_creation_date(agreement.issued_at.astimezone(UTC))
        self.set_producer("Covenant Desk")
        self.set_creator("Covenant Desk")
        self.set_title(latin1(f"Loan agreement {agreement.loan_number}"))
        self.set_author(latin1(agreement.lender))
        self.set_subject(latin1(f"Loan {agreement.loan_number} for {agreement.borrower.name}"))

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, latin1(f"Loan agreement {self.agreement.loan_number} - page {self.page_no()}"), align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 11)
        self.cell(0, 7, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("Helvetica", size=9)

    def row(self, label: str, value: str) -> None:
        self.set_font("Helvetica", size=9)
        self.cell(70, 5.5, latin1(label))
        self.multi_cell(_WIDTH - 70, 5.5, latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", size=9)
        self.multi_cell(_WIDTH, 5, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_agreement(agreement: LoanAgreement, layout: int = LAYOUT) -> bytes:
    """The agreement's PDF bytes in `layout` (1: amounts as plain digits, as issued before layout 2; before layout 3
    the issue date was the UTC day of `issued_at`)."""
    m = document_money if layout >= 2 else money
    pdf = _Document(agreement)
    pdf.add_page()
    a = agreement
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "LOAN AGREEMENT", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    pdf.cell(0, 5, latin1(f"Loan number {a.loan_number}"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    issued = a.issued_on if layout >= 3 else a.issued_at.date()
    pdf.cell(0, 5, f"Issued on {issued.isoformat()}", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.heading("1. Parties")
    pdf.row("Lender", a.lender)
    b = a.borrower
    pdf.row("Borrower", b.name)
    pdf.row("Borrower id", b.number or "-")
    pdf.row("PAN", b.pan_masked or "-")
    pdf.row("Mobile", b.phone)
    pdf.row("Address", b.address or "-")

    pdf.heading("2. The loan")
    pdf.row("Loan number", a.loan_number)
    pdf.row("Product", f"{a.product_name} ({a.product_code}), version {a.product_version}")
    pdf.row("Amount requested", m(a.requested))
    if a.cx_approved is not None:
        pdf.row("Amount recommended", m(a.cx_approved))
    pdf.row("Amount sanctioned (principal)", m(a.sanctioned))
    pdf.row("Interest rate", a.rate_text)
    pdf.row("Tenure", a.tenure_text)
    if a.schedule.emi is not None:
        pdf.row("Monthly instalment (EMI)", m(a.schedule.emi))
    pdf.row("Expected disbursal date", a.disbursal_on.isoformat())
    pdf.row("Total interest", m(a.schedule.total_interest))
    pdf.row("Total repayable", m(a.total_repayable))

    pdf.heading("3. Fees, GST and the amount disbursed")
    p = a.pricing
    gst = f"{p.gst_percent}%"
    pdf.row("Processing fee before discount", m(p.processing_fee_before_discount))
    pdf.row("Coupon discount", m(p.coupon_discount))
    pdf.row("Processing fee after discount", m(p.processing_fee.amount))
    pdf.row(f"GST {gst} on processing fee", _gst_text(m, p.processing_fee.gst, p.processing_fee.gst_inclusive))
    pdf.row("Convenience fee", m(p.convenience_fee.amount))
    pdf.row(f"GST {gst} on convenience fee", _gst_text(m, p.convenience_fee.gst, p.convenience_fee.gst_inclusive))
    pdf.row("Total GST", m(p.gst))
    pdf.row("Total deductions", m(p.deductions))
    pdf.row("Net amount disbursed", m(p.net_disbursed))
    pdf.paragraph(
        "Fees and GST are deducted from the amount sanctioned; the borrower repays the amount sanctioned with "
        "interest as scheduled below."
    )

    pdf.heading("4. Penal charges")
    kind = (
        "compound (on unpaid principal, interest and penal charges)"
        if a.penal.kind is PenalKind.COMPOUND
        else ("simple (on the unpaid principal and interest of the instalment)")
    )
    pdf.row("Penal rate", f"{a.penal.daily_percent}% per day overdue")
    pdf.row("Basis", kind)
    pdf.paragraph(
        "An instalment not fully paid by its due date is overdue from the next day; penal charges accrue for each "
        "day it stays overdue. Payments are applied oldest instalment first: penal charges, then interest, then "
        "principal."
    )

    pdf.heading("5. Repayment schedule")
    _schedule(pdf, a, m)

    pdf.heading("6. Terms")
    pdf.paragraph(
        "The borrower agrees to repay each instalment on its due date. A due date falling on a non-working day of "
        "the lender moves to the next working day; amounts do not change. The borrower may prepay the loan at any "
        "time: the payoff amount is everything overdue, the principal not yet due and the interest of the current "
        "period accrued by days. The schedule is computed from the expected disbursal date and is restated from "
        "the actual disbursal date in the same way."
    )

    pdf.heading("7. Signatures")
    pdf.paragraph(
        f"Signed by the borrower, {b.name}, by Aadhaar e-sign of this document (its SHA-256 is recorded on loan "
        f"{a.loan_number})."
    )
    pdf.ln(10)
    pdf.cell(_WIDTH / 2, 5, latin1("Borrower: " + b.name))
    pdf.cell(_WIDTH / 2, 5, latin1("For the lender: " + a.lender), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.cell(_WIDTH / 2, 5, "(Aadhaar e-sign)")
    pdf.cell(_WIDTH / 2, 5, "Authorised signatory", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _gst_text(m: Callable[[Decimal], str], gst: Decimal, inclusive: bool) -> str:
    return f"{m(gst)} ({'included in the fee' if inclusive else 'on top of the fee'})"


def _schedule(pdf: _Document, a: LoanAgreement, m: Callable[[Decimal], str]) -> None:
    def header() -> None:
        pdf.set_font("Helvetica", "B", 9)
        for title, width in _SCHEDULE:
            pdf.cell(width, 6, title, border=1, align="C")
        pdf.cell(_AMOUNT_WIDTH, 6, "Amount", border=1, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", size=9)

    header()
    for i in a.schedule.instalments:
        if pdf.will_page_break(5.5):
            pdf.add_page()
            header()
        values = (str(i.no), i.due_date.isoformat(), m(i.opening), m(i.principal), m(i.interest))
        for (_, width), value in zip(_SCHEDULE, values, strict=True):
            pdf.cell(width, 5.5, value, border=1, align="R")
        pdf.cell(_AMOUNT_WIDTH, 5.5, m(i.amount), border=1, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 9)
    principal = sum((i.principal for i in a.schedule.instalments), Decimal("0.00"))
    pdf.cell(_SCHEDULE[0][1] + _SCHEDULE[1][1] + _SCHEDULE[2][1], 6, "Total", border=1)
    pdf.cell(_SCHEDULE[3][1], 6, m(principal), border=1, align="R")
    pdf.cell(_SCHEDULE[4][1], 6, m(a.schedule.total_interest), border=1, align="R")
    pdf.cell(_AMOUNT_WIDTH, 6, m(a.total_repayable), border=1, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    if a.kind is LoanKind.PAYDAY:
        pdf.paragraph(f"One bullet repayment {a.tenure} days after disbursal.")


class PdfAgreementRenderer:
    """The `AgreementRenderer` of the product: fpdf2."""

    def render(self, agreement: LoanAgreement) -> bytes:
        """The agreement's PDF bytes in the current layout (the same agreement, the same bytes)."""
        return render_agreement(agreement)

    def renderings(self, agreement: LoanAgreement) -> Iterator[bytes]:
        """The agreement in every layout, newest first: an issued one's recorded SHA-256 is of one of them."""
        for layout in range(LAYOUT, 0, -1):
            yield render_agreement(agreement, layout)
