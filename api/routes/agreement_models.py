"""What a loan shows of its agreement and e-sign link (`GET /api/v1/loans/{id}`: `esign`, `agreement`), and the
e-sign webhook's answer. Shared by the loan endpoints and the agreement endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from api.endpoint import InstantOut
from projections.loan_agreements import EsignRow


class EsignOut(BaseModel):
    """The latest e-sign link: `POST {link}` with `{"action": "sign"}` signs at the provider's simulator."""

    state: str = Field(description="sent, signed or expired")
    link: str
    expires_at: InstantOut
    signed_at: InstantOut | None = None
    links_sent: int = Field(description="how many links were sent (the first and every resend)")


class AgreementOut(BaseModel):
    """The loan agreement (PDF) as issued: its SHA-256 and where to download it."""

    sha256: str
    download: str
    issued_at: InstantOut


class WebhookAckOut(BaseModel):
    """What a verified webhook delivery came to: recorded, duplicate (this event or signature was handled before)
    or ignored (not applicable: another request, a declined or late signature, an unknown loan)."""

    event_id: str
    outcome: str
    loan_id: UUID | None
    detail: str


@dataclass(frozen=True)
class EsignView:
    """A loan's e-sign link, as `EsignOut` renders it."""

    state: str
    link: str
    expires_at: Any
    signed_at: Any
    links_sent: int


@dataclass(frozen=True)
class AgreementView:
    """A loan's agreement, as `AgreementOut` renders it."""

    sha256: str
    download: str
    issued_at: Any


class WithAgreement:
    """A loan's detail row with its `esign` and `agreement` (every other attribute is the row's)."""

    def __init__(self, detail: Any, row: EsignRow | None) -> None:
        self._detail = detail
        live = row is not None and row.state is not None and row.link is not None and row.expires_at is not None
        self.esign = (
            EsignView(row.state, row.link, row.expires_at, row.signed_at, row.links_sent)
            if live and row is not None and row.state and row.link
            else None
        )
        self.agreement = (
            AgreementView(row.document_sha256, f"/api/v1/loans/{row.loan_id}/agreement", row.issued_at)
            if row is not None and row.document_sha256 and row.issued_at
            else None
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._detail, name)


def with_agreement(detail: Any, row: EsignRow | None) -> WithAgreement | None:
    """The loan detail `detail` (None stays None) with its agreement and e-sign link."""
    return None if detail is None else WithAgreement(detail, row)
