"""The borrower as the verification use cases see them, and the providers they call (the protocols of
`domain.providers.kyc`; the HTTP clients are fitted to them at wiring, tests pass fakes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from domain.providers.kyc import (
    AccountAggregator,
    BankAccountVerifier,
    CreditBureau,
    DigiLocker,
    PanVerifier,
    StatementAnalyser,
)


@dataclass(frozen=True)
class Applicant:
    """The borrower as our records have them: what checks are made against."""

    customer_id: UUID
    name: str
    phone: str
    pan: str | None
    date_of_birth: date | None


@dataclass(frozen=True)
class KycProviders:
    """The providers the verification use cases call."""

    pan: PanVerifier
    penny_drop: BankAccountVerifier
    bureau: CreditBureau
    bsa: StatementAnalyser
    aa: AccountAggregator
    digilocker: DigiLocker


@dataclass(frozen=True)
class SameProviders:
    """Every brand uses the same providers (tests, or a deployment without per-brand vendors)."""

    providers: KycProviders

    def for_brand(self, brand_id: UUID) -> KycProviders:
        """The providers, whatever the brand."""
        return self.providers
