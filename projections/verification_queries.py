"""Typed reads of verifications: a borrower's bank accounts and checks, and the credit facts the BRE reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from projections.verification import decimal_or_none

_ACCOUNT_COLUMNS = (
    "id, customer_id, account_masked, ifsc, holder_name, status, method, credited, bank_holder_name, name_score, reason, "
    "attempts, added_by, added_at, checked_at"
)


@dataclass(frozen=True)
class BankAccountRow:
    """A bank account (its number masked) and its penny drop."""

    id: UUID
    customer_id: UUID
    account_masked: str
    ifsc: str
    holder_name: str
    status: str
    method: str  # penny_drop, or manual (staff reviewed a statement or passbook)
    credited: bool | None
    bank_holder_name: str | None
    name_score: int | None
    reason: str | None
    attempts: int
    added_by: str
    added_at: datetime
    checked_at: datetime | None

    @property
    def verified(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True)
class CheckRow:
    """One verification of a borrower: its status, why, how many attempts, and its latest result."""

    kind: str
    status: str
    source: str | None
    reason: str | None
    attempts: int
    result: Mapping[str, Any] | None
    updated_at: datetime
    updated_by: str

    @property
    def retryable(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class KycSummary:
    """A borrower's checks by kind and bank accounts, as Customer 360 shows them."""

    customer_id: UUID
    checks: dict[str, CheckRow] = field(default_factory=dict)
    bank_accounts: list[BankAccountRow] = field(default_factory=list)


@dataclass(frozen=True)
class CreditFacts:
    """What the BRE reads of a borrower's verifications (None: not known - the check was not run or failed)."""

    credit_score: int | None
    monthly_salary: Decimal | None  # from statement salary credits (BSA or AA); None without
    existing_emis: Decimal | None  # bureau tradelines' EMIs, else the EMIs the statement shows
    existing_loans: int | None  # active tradelines on the bureau report
    max_dpd: int | None  # worst DPD on the bureau report
    bank_verified: bool  # a bank account of the borrower passed its penny drop


class VerificationQueries:
    """Brand-scoped reads of bank accounts, KYC checks and credit facts."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def bank_account(self, brand_id: UUID, account_id: UUID) -> BankAccountRow | None:
        """One bank account of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM read.bank_accounts WHERE id = %s AND brand_id = %s",
                (account_id, brand_id),
            ).fetchone()
        return BankAccountRow(**row) if row else None

    def bank_accounts(self, brand_id: UUID, customer_id: UUID, limit: int = 50) -> list[BankAccountRow]:
        """The borrower's accounts, newest first (a borrower has a few)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM read.bank_accounts WHERE brand_id = %s AND customer_id = %s "
                "ORDER BY added_at DESC, id DESC LIMIT %s",
                (brand_id, customer_id, limit),
            ).fetchall()
        return [BankAccountRow(**r) for r in rows]

    def checks(self, brand_id: UUID, customer_id: UUID) -> dict[str, CheckRow]:
        """The borrower's checks by kind (pan, aadhaar, bureau, statement); a check never run is absent."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT kind, status, source, reason, attempts, result, updated_at, updated_by FROM read.kyc_checks "
                "WHERE customer_id = %s AND brand_id = %s",
                (customer_id, brand_id),
            ).fetchall()
        return {r["kind"]: CheckRow(**r) for r in rows}

    def summary(self, brand_id: UUID, customer_id: UUID) -> KycSummary:
        """The borrower's checks and bank accounts."""
        return KycSummary(customer_id, self.checks(brand_id, customer_id), self.bank_accounts(brand_id, customer_id))

    def credit_facts(self, brand_id: UUID, customer_id: UUID) -> CreditFacts:
        """The credit facts of the borrower's latest successful bureau pull and statement analysis."""
        checks = self.checks(brand_id, customer_id)
        bureau = checks["bureau"].result if "bureau" in checks else None
        statement = checks["statement"].result if "statement" in checks else None
        with self.pool.connection() as conn:
            verified = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM read.bank_accounts WHERE brand_id = %s AND customer_id = %s "
                "AND status = 'verified') AS verified",
                (brand_id, customer_id),
            ).fetchone()
        emis = decimal_or_none(bureau.get("existing_emis")) if bureau else None
        if emis is None and statement:
            emis = decimal_or_none(statement.get("existing_emis"))
        return CreditFacts(
            credit_score=bureau.get("score") if bureau else None,
            monthly_salary=decimal_or_none(statement.get("monthly_salary")) if statement else None,
            existing_emis=emis,
            existing_loans=bureau.get("existing_loans") if bureau else None,
            max_dpd=bureau.get("max_dpd") if bureau else None,
            bank_verified=bool(verified and verified["verified"]),
        )

    def satisfied_documents(self, brand_id: UUID, customer_id: UUID) -> tuple[str, ...]:
        """Document kinds a verification stands in for: the Aadhaar card when DigiLocker verified it, bank
        statements when statement data came from the Account Aggregator."""
        checks = self.checks(brand_id, customer_id)
        kinds: list[str] = []
        aadhaar = checks.get("aadhaar")
        if aadhaar and aadhaar.status == "verified":
            kinds += ["aadhaar_front", "aadhaar_back"]
        statement = checks.get("statement")
        if statement and statement.result and statement.source == "aa":
            kinds.append("bank_statement")
        return tuple(kinds)
