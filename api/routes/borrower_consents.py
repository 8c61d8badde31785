"""Borrower endpoints of the consent round trips: DigiLocker for the Aadhaar step and the Account Aggregator for
the statement step (`api.services.borrower_consents`). Start answers the provider's consent page (the borrower
opens it and comes back to the web flow's `/apply/{brand}/consents/{provider}`, or the app handles the redirect);
complete fetches what was shared and records the funnel step. A denied consent records nothing: the borrower
starts again or uploads instead."""

from __future__ import annotations

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.services.borrower_consents import PROVIDERS, BorrowerConsents, ConsentOut, Provider


def _start(ctx: Context[BorrowerConsents], provider: Provider) -> Reply:
    assert ctx.borrower is not None
    return_to = f"{str(ctx.request.base_url).rstrip('/')}/apply/consents/{provider}"
    return json_response(ctx.port.start(ctx.brand_id, ctx.borrower.borrower_id, provider, return_to), 201)


def _complete(ctx: Context[BorrowerConsents], provider: Provider) -> Reply:
    assert ctx.borrower is not None
    return json_response(ctx.port.complete(ctx.brand_id, ctx.borrower.borrower_id, provider))


def start_digilocker_consent(ctx: Context[BorrowerConsents]) -> Reply:
    return _start(ctx, "digilocker")


def complete_digilocker_consent(ctx: Context[BorrowerConsents]) -> Reply:
    return _complete(ctx, "digilocker")


def start_account_aggregator_consent(ctx: Context[BorrowerConsents]) -> Reply:
    return _start(ctx, "account-aggregator")


def complete_account_aggregator_consent(ctx: Context[BorrowerConsents]) -> Reply:
    return _complete(ctx, "account-aggregator")


_HANDLERS = {
    "digilocker": (start_digilocker_consent, complete_digilocker_consent),
    "account-aggregator": (start_account_aggregator_consent, complete_account_aggregator_consent),
}


def _endpoints() -> list[Endpoint[BorrowerConsents]]:
    found: list[Endpoint[BorrowerConsents]] = []
    for provider in PROVIDERS:
        start, complete = _HANDLERS[provider]
        label = "DigiLocker (Aadhaar)" if provider == "digilocker" else "the Account Aggregator (statements)"
        off = "" if provider == "digilocker" else " or when the brand's account_aggregation is off"
        found += [
            Endpoint(
                "POST",
                f"/api/v1/borrower/consents/{provider}",
                start,
                f"Start a consent at {label}: 201 with the consent page to open (`redirect_url`), or `failed` "
                f"(retryable) when the provider cannot answer; 409 before the personal step{off}",
                None,
                response=ConsentOut,
                status=201,
                borrower=True,
            ),
            Endpoint(
                "POST",
                f"/api/v1/borrower/consents/{provider}/complete",
                complete,
                f"After {label}'s consent page: fetch what was shared and record the funnel step (`verified`), or "
                "say why not (`pending`, `denied`, `not_verified`, `failed`); nothing is recorded unless verified",
                None,
                response=ConsentOut,
                borrower=True,
            ),
        ]
    return found


ENDPOINTS = serve(BorrowerConsents, "borrower", _endpoints())
