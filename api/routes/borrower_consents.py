"""Borrower endpoints of the consent round trips: DigiLocker for the Aadhaar step and the Account Aggregator for
the statement step. Start answers the provider's consent page (the borrower opens it and comes back to
`/apply/consents/{provider}`); complete fetches what was shared and records the funnel step. A denied consent
records nothing: the borrower starts again or uploads instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import Step
from domain.shared.errors import Conflict, InvalidValue
from domain.verification.application import Verifications
from domain.verification.values import CheckKind, CheckStatus

Provider = Literal["digilocker", "account-aggregator"]
_CHECK: dict[str, tuple[CheckKind, Step]] = {
    "digilocker": (CheckKind.AADHAAR, Step.AADHAAR),
    "account-aggregator": (CheckKind.STATEMENT, Step.BANK_STATEMENT),
}


@dataclass(frozen=True)
class BorrowerConsentPort:
    """What the consent endpoints use: the funnel, and the verification context that talks to the providers."""

    onboarding: Onboarding
    verifications: Verifications


class ConsentOut(BaseModel):
    """Where a consent round trip stands. `pending`: open `redirect_url`; `verified`: the step is recorded;
    `not_verified` (the shared data does not match the borrower), `denied` or `failed` (`retryable`): nothing is
    recorded on the funnel, start again or upload instead."""

    provider: Provider
    status: Literal["pending", "verified", "not_verified", "denied", "failed"]
    consent_id: str | None = None
    redirect_url: str | None = None
    reason: str | None = None
    retryable: bool = False
    details: dict[str, Any] | None = None


def _customer(ctx: Context[BorrowerConsentPort]) -> UUID:
    assert ctx.borrower is not None
    state = ctx.port.onboarding.state(ctx.brand_id, ctx.borrower.borrower_id)
    if state.customer_id is None:
        raise Conflict("finish the personal details step first: the consent is given for the borrower's record")
    return state.customer_id


def _provider(ctx: Context[BorrowerConsentPort]) -> Provider:
    return (
        "digilocker"
        if ctx.request.url.path.rstrip("/").split("/")[-1] == "digilocker" or ("/digilocker" in ctx.request.url.path)
        else "account-aggregator"
    )


def start_consent(ctx: Context[BorrowerConsentPort]) -> Reply:
    provider = _provider(ctx)
    customer_id = _customer(ctx)
    check, _ = _CHECK[provider]
    return_to = f"{str(ctx.request.base_url).rstrip('/')}/apply/consents/{provider}"
    verifications = ctx.port.verifications
    if check is CheckKind.AADHAAR:
        verifications.start_aadhaar(ctx.brand_id, customer_id, return_to)
    else:
        verifications.start_account_aggregator(ctx.brand_id, customer_id, return_to)
    profile = verifications.profile(ctx.brand_id, customer_id)
    state = profile.state(check)
    assert state is not None
    if state.status is CheckStatus.FAILED:
        out = ConsentOut(provider=provider, status="failed", reason=state.reason, retryable=True)
        return json_response(out, 201)
    redirect = getattr(profile, "redirect_urls", {}).get(check)
    out = ConsentOut(provider=provider, status="pending", consent_id=state.reference, redirect_url=redirect)
    return json_response(out, 201)


def complete_consent(ctx: Context[BorrowerConsentPort]) -> Reply:
    provider = _provider(ctx)
    assert ctx.borrower is not None
    customer_id = _customer(ctx)
    check, step = _CHECK[provider]
    verifications = ctx.port.verifications
    try:
        if check is CheckKind.AADHAAR:
            verifications.complete_aadhaar(ctx.brand_id, customer_id)
        else:
            verifications.complete_account_aggregator(ctx.brand_id, customer_id)
    except InvalidValue as exc:  # the provider refused: not yet allowed, denied or expired
        waiting = "pending" in exc.message
        return json_response(
            ConsentOut(provider=provider, status="pending" if waiting else "denied", reason=exc.message)
        )
    profile = verifications.profile(ctx.brand_id, customer_id)
    state = profile.state(check)
    assert state is not None
    if state.status is CheckStatus.FAILED:
        out = ConsentOut(provider=provider, status="failed", reason=state.reason, retryable=True)
        return json_response(out)
    if state.status is not CheckStatus.VERIFIED:
        return json_response(ConsentOut(provider=provider, status="not_verified", reason=state.reason))
    if check is CheckKind.AADHAAR:
        fetched = dict(profile.aadhaar or {})
        masked = str(fetched.get("masked_aadhaar") or "")
        details: dict[str, Any] = {
            "method": "digilocker",
            "aadhaar_number": "XXXXXXXX" + masked.replace(" ", "")[-4:],
            "aadhaar_digest": None,  # DigiLocker shares the masked number only
            "digilocker_reference": state.reference,
            "document_id": fetched.get("photo_document_id"),
            "name": fetched.get("name"),
            "date_of_birth": fetched.get("date_of_birth"),
            "address": fetched.get("address"),
        }
    else:
        fetched = dict(profile.statement or {})
        details = {"method": "account_aggregator", "document_ids": [], "consent_id": state.reference, **fetched}
    ctx.port.onboarding.record_from_provider(ctx.brand_id, ctx.borrower.borrower_id, step, details)
    out = ConsentOut(provider=provider, status="verified", consent_id=state.reference, details=details)
    return json_response(out)


def _endpoints() -> list[Endpoint[BorrowerConsentPort]]:
    found: list[Endpoint[BorrowerConsentPort]] = []
    for provider, label in (("digilocker", "DigiLocker (Aadhaar)"), ("account-aggregator", "the Account Aggregator")):
        found += [
            Endpoint(
                "POST",
                f"/api/v1/borrower/consents/{provider}",
                start_consent,
                f"Start a consent at {label}: 201 with the consent page to open (`redirect_url`); 409 before the "
                "personal step"
                + (" or when the brand's account_aggregation is off" if provider != "digilocker" else ""),
                None,
                response=ConsentOut,
                status=201,
                borrower=True,
            ),
            Endpoint(
                "POST",
                f"/api/v1/borrower/consents/{provider}/complete",
                complete_consent,
                f"After {label}'s consent page: fetch what was shared and record the funnel step (`verified`), or "
                "say why not (`pending`, `denied`, `not_verified`, `failed`); nothing is recorded unless verified",
                None,
                response=ConsentOut,
                borrower=True,
            ),
        ]
    return found


ENDPOINTS = serve(BorrowerConsentPort, "borrower", _endpoints())
