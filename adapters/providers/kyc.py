"""PAN verification, penny drop and credit bureau clients (docs/providers.md has each contract).

    POST /v1/pan/verify               {"pan", "name", "dob"}            -> PanVerification
    POST /v1/bank-accounts/verify     {"account_number", "ifsc", "name"} -> PennyDrop
    POST /v1/credit-reports           {"pan", "name", "dob", "phone"}   -> BureauReport

Name match scores are ours (`name_match_score`, rapidfuzz), computed from the name the provider returns.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from adapters.providers.http import ProviderCalls
from domain.providers.calls import Caller, name_match_score
from domain.providers.kyc import BureauReport, PanVerification, PennyDrop, Tradeline


class PanClient:
    """Verifies PANs (a `PanVerifier`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def verify(self, pan: str, name: str, dob: date, *, caller: Caller) -> PanVerification:
        """The PAN's record against the name and date of birth given; ProviderRejected for a malformed PAN."""

        def parse(body: Any) -> PanVerification:
            on_pan = body["name_on_pan"]
            valid = body["status"] == "valid"
            if body["status"] not in ("valid", "invalid"):
                raise ValueError(f"unknown status {body['status']!r}")
            return PanVerification(
                pan=str(body["pan"]),
                status=str(body["status"]),
                name_on_pan=str(on_pan) if on_pan else None,
                name_match_score=name_match_score(name, on_pan) if valid else 0,
                dob_match=bool(body["dob_match"]) if body["dob_match"] is not None else None,
                aadhaar_linked=bool(body["aadhaar_linked"]),
                fraud_flag=bool(body["fraud_flag"]),
                category=str(body["category"]),
            )

        return self.http.call(
            "verify_pan",
            "POST",
            "/v1/pan/verify",
            parse,
            caller=caller,
            json={"pan": pan, "name": name, "dob": dob.isoformat()},
        )


class PennyDropClient:
    """Verifies bank accounts by a ₹1 credit (a `BankAccountVerifier`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def verify(self, account_number: str, ifsc: str, expected_name: str, *, caller: Caller) -> PennyDrop:
        """Credit ₹1: verified with the bank's holder name and our match score, or a failure code; ProviderRejected
        for an account number or IFSC the provider cannot read."""

        def parse(body: Any) -> PennyDrop:
            verified = body["status"] == "verified"
            holder = body.get("account_holder")
            return PennyDrop(
                reference=str(body["reference"]),
                verified=verified,
                account_holder=str(holder) if holder else None,
                name_match_score=name_match_score(expected_name, holder) if verified else None,
                amount=Decimal(str(body["amount"])),
                failure=None if verified else str(body.get("failure") or "failed"),
                bank=body.get("bank"),
            )

        return self.http.call(
            "penny_drop",
            "POST",
            "/v1/bank-accounts/verify",
            parse,
            caller=caller,
            json={"account_number": account_number, "ifsc": ifsc, "name": expected_name},
            repeatable=False,  # no reference to know it by: sent again, ₹1 is credited again
        )


class BureauClient:
    """Pulls credit reports (a `CreditBureau`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def pull(self, pan: str, name: str, dob: date, phone: str, *, caller: Caller) -> BureauReport:
        """The person's score (-1: no history) and active tradelines."""
        return self.http.call(
            "pull_report",
            "POST",
            "/v1/credit-reports",
            _report,
            caller=caller,
            json={"pan": pan, "name": name, "dob": dob.isoformat(), "phone": phone},
            repeatable=False,  # sent again, another enquiry on the person's credit file (and another bill)
        )


def _report(body: Any) -> BureauReport:
    score = int(body["score"])
    if score != -1 and not 300 <= score <= 900:
        raise ValueError(f"score {score} is outside 300-900")
    return BureauReport(
        reference=str(body["reference"]),
        score=score,
        tradelines=tuple(
            Tradeline(
                lender=str(t["lender"]),
                kind=str(t["type"]),
                sanctioned_amount=Decimal(str(t["sanctioned_amount"])),
                outstanding=Decimal(str(t["outstanding"])),
                emi=Decimal(str(t["emi"])),
                max_dpd=int(t["max_dpd"]),
                opened_on=date.fromisoformat(str(t["opened_on"])),
            )
            for t in body["tradelines"]
        ),
        enquiries_last_6m=int(body["enquiries_last_6m"]),
    )
