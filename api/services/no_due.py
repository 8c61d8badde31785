"""No-due certificates (issue #15): rendered from the completed loan's events and its borrower's name, generated
once per closure (its SHA-256 recorded on the loan by `Loan.issue_no_due_certificate`), the same bytes on every
download. A reversal that re-opens the loan withdraws its certificate: until the loan is completed again nothing is
served (410, `NoDueCertificateWithdrawn`), and its next closure is issued a new one (new date, amount and code)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

from adapters.no_due_pdf import LAYOUT, NoDueContent, render_no_due
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.loans.states import LoanStatus
from domain.shared.errors import Conflict


@dataclass(frozen=True)
class NoDueCertificates:
    """Render, issue once, and serve the certificates."""

    loans: Loans
    customers: Customers
    identity: Identity

    def _content(self, loan: Loan) -> NoDueContent:
        # The issued certificate of a completed loan; else the closure's figures, which refuse any loan not completed
        # (409; 410 when a reversal withdrew its certificate) - never a certificate of a loan that owes.
        completed = loan.status is LoanStatus.COMPLETED
        figures = loan.no_due if completed and loan.no_due is not None else loan.closure()
        borrower = self.customers.get(loan.brand_id, loan.customer_id).name
        lender = self.identity.brand(loan.brand_id).name
        pricing = loan.sanction_pricing
        net = pricing.net_disbursed if pricing is not None else figures.disbursed
        return NoDueContent(lender, borrower, loan.loan_number, figures.disbursed, net, figures, pricing)

    def issued_on_closing(self, brand_id: UUID, loan_id: UUID) -> tuple[Loan, int]:
        """After a payment: the loan as it left it and, when that payment completed it, the log position of its
        no-due certificate, issued now (once: 0 when none was issued). Whoever records the closing payment - Ops'
        repayment, a collection executive's full repayment, in the API or the portal - issues the certificate so."""
        loan = self.loans.get(brand_id, loan_id)
        if loan.status is not LoanStatus.COMPLETED or loan.no_due is not None:
            return loan, 0
        position = self.ensure(brand_id, loan_id)[1]
        return self.loans.get(brand_id, loan_id), position

    def ensure(self, brand_id: UUID, loan_id: UUID) -> tuple[bytes, int]:
        """The certificate of a completed loan, issued the first time for its closure; and the log position. 409 for
        a loan not completed, 410 for one re-opened by a reversal that withdrew its certificate. One issued in an
        earlier layout is served in that layout: the bytes its recorded hash is of."""
        loan = self.loans.get(brand_id, loan_id)
        content = self._content(loan)
        pdf = render_no_due(content)
        digest = hashlib.sha256(pdf).hexdigest()
        if loan.no_due is not None:
            for layout in range(LAYOUT - 1, 0, -1):
                if loan.no_due.sha256 == digest:
                    break
                pdf = render_no_due(content, layout)
                digest = hashlib.sha256(pdf).hexdigest()
            if loan.no_due.sha256 != digest:
                raise Conflict("the certificate no longer renders to its recorded hash", sha256=loan.no_due.sha256)
            return pdf, 0
        loan.issue_no_due_certificate(digest)
        return pdf, self.loans.commit(loan).position
