"""DigiLocker (Aadhaar) client (docs/providers.md, "DigiLocker").

    POST /v1/authorizations                {"redirect_to", "name"?, "dob"?} -> DigilockerSession
    GET  /v1/authorizations/{id}/aadhaar                                     -> AadhaarRecord

The borrower allows sharing at the session's `redirect_url` and comes back to `redirect_to` with
`?consent_id=…&status=success|denied`. Fetching before that is `ProviderRejected` `consent_pending`.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from adapters.providers.http import ProviderCalls
from domain.providers.calls import Caller
from domain.providers.kyc import AadhaarRecord, DigilockerSession


class DigilockerClient:
    """Aadhaar through DigiLocker (a `DigiLocker`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def start(
        self, redirect_to: str, *, name: str | None = None, dob: date | None = None, caller: Caller
    ) -> DigilockerSession:
        """Open an authorisation; `name` and `dob` are hints a simulator uses (the real DigiLocker ignores them)."""
        body: dict[str, Any] = {"redirect_to": redirect_to}
        if name:
            body["name"] = name
        if dob:
            body["dob"] = dob.isoformat()
        return self.http.call("start_authorization", "POST", "/v1/authorizations", _session, caller=caller, json=body)

    def fetch(self, consent_id: str, *, caller: Caller) -> AadhaarRecord:
        """The e-Aadhaar shared under the authorisation."""
        return self.http.call(
            "fetch_aadhaar", "GET", f"/v1/authorizations/{quote(consent_id, safe='')}/aadhaar", _record, caller=caller
        )


def _session(body: Any) -> DigilockerSession:
    return DigilockerSession(
        consent_id=str(body["consent_id"]),
        redirect_url=str(body["redirect_url"]),
        expires_at=datetime.fromisoformat(str(body["expires_at"])),
    )


def _record(body: Any) -> AadhaarRecord:
    photo = base64.b64decode(str(body["photo_base64"]), validate=True)
    if not photo.startswith(b"\xff\xd8\xff"):
        raise ValueError("the photo is not a JPEG")
    return AadhaarRecord(
        consent_id=str(body["consent_id"]),
        name=str(body["name"]),
        dob=date.fromisoformat(str(body["dob"])),
        gender=str(body["gender"]),
        address=str(body["address"]),
        pincode=str(body["pincode"]),
        photo=photo,
        masked_aadhaar=str(body["masked_aadhaar"]),
    )
