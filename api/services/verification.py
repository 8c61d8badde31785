"""A borrower's verifications as staff see them, within the caller's brand (another brand's borrower is a 404)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.customers.application import Customers
from projections.verification_queries import BankAccountRow, CreditFacts, KycSummary, VerificationQueries


@dataclass(frozen=True)
class VerificationDesk:
    """Reads of a borrower's verifications that first check the borrower is the brand's."""

    customers: Customers
    queries: VerificationQueries

    def summary(self, brand_id: UUID, customer_id: UUID) -> KycSummary:
        """The borrower's checks and bank accounts; CustomerNotFound for another brand's borrower."""
        self.customers.get(brand_id, customer_id)
        return self.queries.summary(brand_id, customer_id)

    def bank_accounts(self, brand_id: UUID, customer_id: UUID) -> list[BankAccountRow]:
        """The borrower's bank accounts."""
        self.customers.get(brand_id, customer_id)
        return self.queries.bank_accounts(brand_id, customer_id)

    def credit_facts(self, brand_id: UUID, customer_id: UUID) -> CreditFacts:
        """The borrower's credit facts, as the BRE reads them."""
        self.customers.get(brand_id, customer_id)
        return self.queries.credit_facts(brand_id, customer_id)
