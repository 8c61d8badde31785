"""The borrower's consent round trips (DigiLocker for the Aadhaar step, the Account Aggregator for the statement
step), shared by the borrower API and the web flow: start one for the borrower's Customer 360 record, then
complete it - fetch what was shared and, when verified, record the funnel step from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from domain.onboarding.application import Onboarding
from domain.onboarding.parties import FunnelState
from domain.onboarding.steps import Step, kept_aadhaar
from domain.shared.errors import Conflict, InvalidValue
from domain.verification.application import Verifications
from domain.verification.profile import CONSENT_SOURCES
from domain.verification.values import CheckKind, CheckStatus

Provider = Literal["digilocker", "account-aggregator"]
PROVIDERS: tuple[Provider, ...] = ("digilocker", "account-aggregator")
_CHECK: dict[str, tuple[CheckKind, Step]] = {
    "digilocker": (CheckKind.AADHAAR, Step.AADHAAR),
    "account-aggregator": (CheckKind.STATEMENT, Step.BANK_STATEMENT),
}


class ConsentOut(BaseModel):
    """Where a consent round trip stands. `pending`: open `redirect_url` (or it is not answered yet);
    `verified`: the step is recorded with `details`; `not_verified` (the shared data does not match the borrower),
    `denied` or `failed` (`retryable`: the provider could not answer): nothing is recorded on the funnel, start
    again or upload instead."""

    provider: Provider
    status: Literal["pending", "verified", "not_verified", "denied", "failed"]
    consent_id: str | None = None
    redirect_url: str | None = None
    reason: str | None = None
    retryable: bool = False
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class BorrowerConsents:
    """Start and complete a borrower's consent round trip."""

    onboarding: Onboarding
    verifications: Verifications

    def _customer(self, brand_id: UUID, borrower_id: UUID) -> tuple[UUID, FunnelState]:
        """The borrower's record and funnel (409 before the personal step)."""
        state = self.onboarding.state(brand_id, borrower_id)
        if state.customer_id is None:
            raise Conflict("finish the personal details step first: the consent is given for the borrower's record")
        return state.customer_id, state

    def start(self, brand_id: UUID, borrower_id: UUID, provider: Provider, return_to: str) -> ConsentOut:
        """Ask the provider for a consent page that sends the borrower back to `return_to`; 409 (nothing asked of
        the provider) before the personal step, before the steps the funnel takes first or on a funnel not open
        (`Onboarding.consent_subject`), or for the Account Aggregator when the brand's `account_aggregation` is
        off."""
        check, step = _CHECK[provider]
        customer_id = self.onboarding.consent_subject(brand_id, borrower_id, step)
        if check is CheckKind.AADHAAR:
            self.verifications.start_aadhaar(brand_id, customer_id, return_to)
        else:
            self.verifications.start_account_aggregator(brand_id, customer_id, return_to)
        profile = self.verifications.profile(brand_id, customer_id)
        state = profile.state(check)
        assert state is not None
        if state.status is CheckStatus.FAILED:
            return ConsentOut(provider=provider, status="failed", reason=state.reason, retryable=True)
        redirect = getattr(profile, "redirect_urls", {}).get(check)
        return ConsentOut(provider=provider, status="pending", consent_id=state.reference, redirect_url=redirect)

    def complete(self, brand_id: UUID, borrower_id: UUID, provider: Provider) -> ConsentOut:
        """Fetch what the borrower shared; when it verifies, record the funnel step from it. A consent verified
        by an earlier call whose step the funnel refused then (an earlier step not done yet: 409) is recorded now
        without fetching again: it was a 409 "no consent is waiting" for good, and a new paid round trip."""
        customer_id, funnel = self._customer(brand_id, borrower_id)
        check, step = _CHECK[provider]
        profile = self.verifications.profile(brand_id, customer_id)
        # Not on a record found by the PAN alone: its verified check may be its own borrower's consent, not theirs.
        reuse = _verified_unrecorded(profile, funnel, check, step)
        if not (reuse and self.onboarding.own_record(brand_id, borrower_id) == customer_id):
            try:
                if check is CheckKind.AADHAAR:
                    self.verifications.complete_aadhaar(brand_id, customer_id)
                else:
                    self.verifications.complete_account_aggregator(brand_id, customer_id)
            except InvalidValue as exc:  # the provider refused: not answered yet, denied or expired
                status: Literal["pending", "denied"] = "pending" if "pending" in exc.message else "denied"
                return ConsentOut(provider=provider, status=status, reason=exc.message)
        profile = self.verifications.profile(brand_id, customer_id)
        state = profile.state(check)
        assert state is not None
        if state.status is CheckStatus.FAILED:
            return ConsentOut(provider=provider, status="failed", reason=state.reason, retryable=True)
        if state.status is not CheckStatus.VERIFIED:
            return ConsentOut(provider=provider, status="not_verified", reason=state.reason)
        details = _aadhaar(getattr(profile, "aadhaar", None), state.reference) if check is CheckKind.AADHAAR else {
            "method": "account_aggregator", "document_ids": [], "consent_id": state.reference,
            **dict(getattr(profile, "statement", None) or {}),
        }  # fmt: skip
        self.onboarding.record_from_provider(brand_id, borrower_id, step, details)
        return ConsentOut(provider=provider, status="verified", consent_id=state.reference, details=details)


def _verified_unrecorded(profile: Any, funnel: FunnelState, check: CheckKind, step: Step) -> bool:
    """Whether a consent round trip of `check` verified the borrower and the funnel has not recorded `step` (not one
    staff sent back: that one takes a new consent)."""
    state = profile.state(check)
    if state is None or state.status is not CheckStatus.VERIFIED or state.source not in CONSENT_SOURCES:
        return False
    return any(s.step is step and not s.done and s.sent_back is None for s in funnel.steps)


def _aadhaar(fetched: dict[str, object] | None, consent_id: str | None) -> dict[str, Any]:
    """The Aadhaar step's details from DigiLocker's answer: the number masked as the step keeps it (DigiLocker
    shares only its last four digits, so there is no digest for the blocklist to match)."""
    found = dict(fetched or {})
    masked = str(found.get("masked_aadhaar") or "").replace(" ", "")
    return {
        "method": "digilocker",
        "aadhaar_number": kept_aadhaar(masked),
        "aadhaar_digest": None,
        "digilocker_reference": consent_id,
        "document_id": found.get("photo_document_id"),
        "name": found.get("name"),
        "date_of_birth": found.get("date_of_birth"),
        "address": found.get("address"),
    }
