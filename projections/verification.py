"""Read model of verifications: one row per bank account (its penny drop) and one per borrower and check."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from domain.shared.values import mask_pan
from domain.verification.account import BankAccount
from domain.verification.application import Verifications
from domain.verification.profile import KycProfile
from domain.verification.values import CheckKind, CheckStatus, mask_account
from projections.projection import Change, Insert, Projection, Write, handles

A = BankAccount
K = KycProfile


def _json(value: dict[str, Any]) -> Jsonb:
    """A result as JSON (Decimals as strings, so amounts keep their paise)."""
    return Jsonb(json.loads(json.dumps(value, default=str)))


_UPSERT_CHECK = (
    "INSERT INTO read.kyc_checks (brand_id, customer_id, kind, status, source, reason, attempts, result, "
    "updated_at, updated_by) SELECT p.brand_id, p.customer_id, %(kind)s, %(status)s, %(source)s, %(reason)s, "
    "%(attempts)s, %(result)s, %(at)s, %(actor)s FROM read.kyc_profiles p WHERE p.id = %(profile)s "
    "ON CONFLICT (customer_id, kind) DO UPDATE SET status = EXCLUDED.status, source = EXCLUDED.source, "
    "reason = EXCLUDED.reason, attempts = read.kyc_checks.attempts + EXCLUDED.attempts, "
    "result = COALESCE(EXCLUDED.result, read.kyc_checks.result), updated_at = EXCLUDED.updated_at, "
    "updated_by = EXCLUDED.updated_by"
)


class VerificationView(Projection):
    """Bank accounts with their penny drop, and each borrower's checks with their latest result."""

    name = "verification"
    source = Verifications.name
    tables = ("read.bank_accounts", "read.kyc_profiles", "read.kyc_checks")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.bank_accounts (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            account_masked text NOT NULL,
            ifsc text NOT NULL,
            holder_name text NOT NULL,
            status text NOT NULL,
            method text NOT NULL DEFAULT 'penny_drop',
            credited boolean,
            bank_holder_name text,
            name_score integer,
            reason text,
            attempts integer NOT NULL,
            added_by text NOT NULL,
            added_at timestamptz NOT NULL,
            checked_at timestamptz
        )""",
        "CREATE INDEX IF NOT EXISTS bank_accounts_customer_idx ON read.bank_accounts (brand_id, customer_id, added_at DESC, id)",
        """CREATE TABLE IF NOT EXISTS read.kyc_profiles (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS read.kyc_checks (
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            kind text NOT NULL,
            status text NOT NULL,
            source text,
            reason text,
            attempts integer NOT NULL,
            result jsonb,
            updated_at timestamptz NOT NULL,
            updated_by text NOT NULL,
            PRIMARY KEY (customer_id, kind)
        )""",
    )

    @handles(A.Added)
    def _account_added(self, position: int, event: A.Added) -> Iterable[Change]:
        yield Insert(
            "read.bank_accounts",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "customer_id": event.customer_id,
                "account_masked": mask_account(event.account_number),
                "ifsc": event.ifsc,
                "holder_name": event.holder_name,
                "status": CheckStatus.PENDING.value,
                "attempts": 0,
                "added_by": event.actor,
                "added_at": event.timestamp,
            },
        )

    @handles(A.PennyDropped)
    def _penny_dropped(self, position: int, event: A.PennyDropped) -> Iterable[Change]:
        yield Write(
            "UPDATE read.bank_accounts SET status = %s, credited = %s, bank_holder_name = %s, name_score = %s, "
            "reason = %s, attempts = attempts + 1, checked_at = %s WHERE id = %s",
            (event.status.value, event.credited, event.bank_holder_name, event.name_score, event.reason,
             event.timestamp, event.originator_id),
        )  # fmt: skip

    @handles(A.PennyDropFailed)
    def _penny_drop_failed(self, position: int, event: A.PennyDropFailed) -> Iterable[Change]:
        yield Write(
            "UPDATE read.bank_accounts SET status = %s, reason = %s, attempts = attempts + 1, checked_at = %s "
            "WHERE id = %s",
            (CheckStatus.FAILED.value, event.reason, event.timestamp, event.originator_id),
        )

    @handles(A.ManuallyVerified)
    def _manually_verified(self, position: int, event: A.ManuallyVerified) -> Iterable[Change]:
        yield Write(
            "UPDATE read.bank_accounts SET status = %s, method = 'manual', reason = %s, checked_at = %s WHERE id = %s",
            (CheckStatus.VERIFIED.value, f"verified by staff: {event.note}", event.timestamp, event.originator_id),
        )

    @handles(K.Opened)
    def _opened(self, position: int, event: K.Opened) -> Iterable[Change]:
        yield Insert(
            "read.kyc_profiles",
            {"id": event.originator_id, "brand_id": event.brand_id, "customer_id": event.customer_id},
        )

    def _check(
        self,
        event: Any,
        kind: CheckKind,
        status: CheckStatus,
        source: str | None,
        reason: str | None,
        result: dict[str, Any] | None,
        attempts: int = 1,
    ) -> Write:
        return Write(
            _UPSERT_CHECK,
            {
                "profile": event.originator_id,
                "kind": kind.value,
                "status": status.value,
                "source": source,
                "reason": reason,
                "attempts": attempts,
                "result": _json(result) if result is not None else None,
                "at": event.timestamp,
                "actor": event.actor,
            },
        )

    @handles(K.PanChecked)
    def _pan(self, position: int, event: K.PanChecked) -> Iterable[Change]:
        result = {
            "pan_masked": mask_pan(event.pan), "valid": event.valid, "name_on_pan": event.name_on_pan,
            "name_score": event.name_score, "dob_match": event.dob_match, "aadhaar_linked": event.aadhaar_linked,
            "fraud_flag": event.fraud_flag,
        }  # fmt: skip
        yield self._check(event, CheckKind.PAN, event.status, "pan", event.reason, result)

    @handles(K.ConsentStarted)
    def _consent(self, position: int, event: K.ConsentStarted) -> Iterable[Change]:
        result = {"consent_id": event.consent_id, "redirect_url": event.redirect_url}
        yield self._check(event, event.check, CheckStatus.PENDING, event.source, None, result, attempts=0)

    @handles(K.AadhaarChecked)
    def _aadhaar(self, position: int, event: K.AadhaarChecked) -> Iterable[Change]:
        result = {
            "name": event.name, "name_score": event.name_score, "date_of_birth": event.date_of_birth,
            "dob_match": event.dob_match, "address": event.address, "masked_aadhaar": event.masked_aadhaar,
            "photo_document_id": event.photo_document_id,
        }  # fmt: skip
        yield self._check(event, CheckKind.AADHAAR, event.status, event.source, event.reason, result)

    @handles(K.BureauPulled)
    def _bureau(self, position: int, event: K.BureauPulled) -> Iterable[Change]:
        result = {
            "score": event.score,
            "tradelines": [t.model_dump() for t in event.tradelines],
            "existing_emis": event.existing_emis,
            "existing_loans": len(event.tradelines),
            "max_dpd": event.max_dpd,
        }
        yield self._check(event, CheckKind.BUREAU, CheckStatus.VERIFIED, "bureau", None, result)

    @handles(K.StatementAnalysed)
    def _statement(self, position: int, event: K.StatementAnalysed) -> Iterable[Change]:
        result = {
            "document_id": event.document_id,
            "salary_credits": [c.model_dump() for c in event.salary_credits],
            "monthly_salary": event.monthly_salary,
            "existing_emis": event.existing_emis,
            "average_balance": event.average_balance,
            "bounces": event.bounces,
        }
        yield self._check(event, CheckKind.STATEMENT, CheckStatus.VERIFIED, event.source, None, result)

    @handles(K.CheckFailed)
    def _failed(self, position: int, event: K.CheckFailed) -> Iterable[Change]:
        yield self._check(event, event.check, CheckStatus.FAILED, event.source, event.reason, None)


def decimal_or_none(value: Any) -> Decimal | None:
    """A JSON amount (written as a string) as a Decimal."""
    return None if value is None else Decimal(str(value))
