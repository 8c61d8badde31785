"""Bank-statement analysis (BSA) and Account Aggregator (AA) clients: both end in a `StatementAnalysis`.

    POST /v1/statements/analyse        (the PDF's bytes)                    -> StatementAnalysis (source "bsa")
    POST /v1/consents                  {"phone", "months", "redirect_to"}   -> AaConsent (pending)
    GET  /v1/consents/{handle}                                              -> AaConsent
    POST /v1/consents/{handle}/fetch                                        -> StatementAnalysis (source "aa")

Fetching before the borrower approved is `ProviderRejected` with code `consent_pending` (`consent_rejected`,
`consent_expired` likewise): the caller asks again later.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from adapters.providers.http import ProviderCalls
from domain.providers.calls import Caller
from domain.providers.kyc import AaConsent, EmiDebit, SalaryCredit, StatementAnalysis


class BsaClient:
    """Analyses uploaded bank statements (a `StatementAnalyser`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def analyse(self, document: bytes, *, caller: Caller) -> StatementAnalysis:
        """Income and obligations in a statement PDF; ProviderRejected for a document it cannot read."""
        return self.http.call(
            "analyse_statement",
            "POST",
            "/v1/statements/analyse",
            lambda body: analysis(body, "bsa"),
            caller=caller,
            content=document,
            content_type="application/pdf",
        )


class AaClient:
    """Consent and data through an Account Aggregator (an `AccountAggregator`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def request_consent(self, phone: str, *, months: int, redirect_to: str, caller: Caller) -> AaConsent:
        """Ask for `months` of bank data; the borrower approves at the consent's redirect URL."""
        return self.http.call(
            "request_consent",
            "POST",
            "/v1/consents",
            _consent,
            caller=caller,
            json={"phone": phone, "months": months, "redirect_to": redirect_to},
        )

    def consent(self, handle: str, *, caller: Caller) -> AaConsent:
        """The consent's status now."""
        return self.http.call(
            "consent_status", "GET", f"/v1/consents/{quote(handle, safe='')}", _consent, caller=caller
        )

    def fetch(self, handle: str, *, caller: Caller) -> StatementAnalysis:
        """The approved consent's data, analysed; ProviderRejected `consent_pending` before approval."""
        return self.http.call(
            "fetch_data",
            "POST",
            f"/v1/consents/{quote(handle, safe='')}/fetch",
            lambda body: analysis(body, "aa"),
            caller=caller,
        )


def analysis(body: Any, source: str) -> StatementAnalysis:
    """A StatementAnalysis from the providers' JSON shape."""
    return StatementAnalysis(
        reference=str(body["reference"]),
        source=source,
        account_holder=str(body["account_holder"]),
        bank=str(body["bank"]),
        period_from=date.fromisoformat(str(body["period_from"])),
        period_to=date.fromisoformat(str(body["period_to"])),
        salary_credits=tuple(
            SalaryCredit(
                month=str(c["month"]),
                amount=Decimal(str(c["amount"])),
                employer=str(c["employer"]),
                credited_on=date.fromisoformat(str(c["credited_on"])),
            )
            for c in body["salary_credits"]
        ),
        emis=tuple(
            EmiDebit(lender=str(e["lender"]), amount=Decimal(str(e["amount"])), day_of_month=int(e["day_of_month"]))
            for e in body["emis"]
        ),
        average_balance=Decimal(str(body["average_balance"])),
        bounces=int(body["bounces"]),
    )


def _consent(body: Any) -> AaConsent:
    return AaConsent(
        handle=str(body["handle"]),
        redirect_url=str(body["redirect_url"]),
        status=str(body["status"]),
        expires_at=datetime.fromisoformat(str(body["expires_at"])),
    )
