"""The applicant facts the loans context reads from other contexts beyond the customer record: the borrower's bank
accounts and Aadhaar (for the blocklist) and central dedup across brands (when the brand's `central_dedup` is on).

Looked up late through the kit (onboarding and verification may be built after loans, or not registered)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.blocklist.application import Blocklists
from domain.blocklist.entry import BlockKind
from domain.identity.application import Identity
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import Step
from domain.shared.errors import NotFound
from domain.verification.application import Verifications
from projections.applicant_checks import ApplicantChecks
from projections.verification_queries import VerificationQueries


@dataclass(frozen=True)
class ApplicantExtras:
    """Blocklist hits on the Aadhaar and bank accounts, and central dedup; each lookup answers "nothing" when the
    context holding the data is not registered."""

    kit: Any
    checks: ApplicantChecks
    accounts: VerificationQueries

    def _get(self, kind: type[Any]) -> Any:
        try:
            return self.kit.get(kind)
        except LookupError:
            return None

    def blocklist_hits(self, brand_id: UUID, customer_id: UUID, blocklists: Blocklists) -> tuple[str, ...]:
        """ "phone" when a phone the borrower signed in with on a funnel linked to the record is blocked,
        "aadhaar" when the Aadhaar the borrower gave in the funnel is blocked (by digest: we keep it masked),
        "bank account" when any of the borrower's bank accounts is (its number, or number@IFSC)."""
        hits: list[str] = []
        # The phone an applicant signed in with is theirs even when the funnel linked a record by PAN (staff
        # registered it with another phone): checked, or a blocklisted phone got through by typing a known PAN.
        phones = self.checks.funnel_phones(brand_id, customer_id)
        if any(blocklists.check(brand_id, BlockKind.MOBILE, phone) is not None for phone in phones):
            hits.append("phone")
        if self.checks.aadhaar_blocked(brand_id, self._aadhaar_digest(brand_id, customer_id)):
            hits.append("aadhaar")
        verifications = self._get(Verifications)
        if verifications is not None:
            for row in self.accounts.bank_accounts(brand_id, customer_id):
                try:
                    account = verifications.bank_account(brand_id, row.id)
                except NotFound:
                    continue
                numbers = (account.account_number, f"{account.account_number}@{account.ifsc}")
                if any(blocklists.check(brand_id, BlockKind.BANK_ACCOUNT, n) is not None for n in numbers):
                    hits.append("bank account")
                    break
        return tuple(hits)

    def _aadhaar_digest(self, brand_id: UUID, customer_id: UUID) -> str | None:
        onboarding = self._get(Onboarding)
        funnel = self.checks.funnel_of(brand_id, customer_id)
        if onboarding is None or funnel is None:
            return None
        try:
            details = onboarding.details(brand_id, funnel, Step.AADHAAR)
        except NotFound:
            return None
        digest = (details or {}).get("aadhaar_digest")
        return digest if isinstance(digest, str) else None

    def central_dedup(
        self, brand_id: UUID, pan: str | None, phone: str | None, identity: Identity
    ) -> tuple[bool | None, bool | None]:
        """(a borrower of another brand, rejected there) when the brand's `central_dedup` is on, else (None, None):
        booleans only, never which brand or anything of its record."""
        if not identity.settings(brand_id).central_dedup:
            return None, None
        return self.checks.other_brands(brand_id, pan, phone)
