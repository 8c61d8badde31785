"""E-sign and payment gateway clients (docs/providers.md): each opens a request the person completes on the
provider's page; the outcome comes back as a webhook signed with the `adapters.webhooks` scheme.

    POST /v1/esign/requests  {"document_sha256", "signer_name", "signer_phone", "reference", "callback_url"}
    POST /v1/orders          {"amount", "reference", "customer_phone", "description", "callback_url"}
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.providers.http import ProviderCalls
from domain.providers.calls import Caller
from domain.providers.messaging import EsignRequest, PaymentOrder


class EsignClient:
    """Aadhaar e-sign (an `EsignProvider`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def create(
        self,
        document_sha256: str,
        signer_name: str,
        signer_phone: str,
        *,
        reference: str,
        callback_url: str,
        caller: Caller,
        expires_in_days: int | None = None,
    ) -> EsignRequest:
        """Open a signing request (valid `expires_in_days`, else the provider's default); `esign.signed` /
        `esign.declined` arrive at `callback_url`."""
        extra = {} if expires_in_days is None else {"expires_in_days": expires_in_days}
        return self.http.call(
            "create_esign",
            "POST",
            "/v1/esign/requests",
            _esign,
            caller=caller,
            json={
                "document_sha256": document_sha256,
                "signer_name": signer_name,
                "signer_phone": signer_phone,
                "reference": reference,
                "callback_url": callback_url,
                **extra,
            },
        )


class GatewayClient:
    """Hosted payment orders (a `PaymentGateway`)."""

    def __init__(self, http: ProviderCalls) -> None:
        self.http = http

    def create_order(
        self,
        amount: Decimal,
        reference: str,
        *,
        customer_phone: str,
        description: str,
        callback_url: str,
        caller: Caller,
    ) -> PaymentOrder:
        """An order of `amount` rupees; `payment.captured` / `payment.failed` arrive at `callback_url`.
        ProviderRejected `duplicate_reference` when an order for `reference` exists already."""
        return self.http.call(
            "create_order",
            "POST",
            "/v1/orders",
            _order,
            caller=caller,
            json={
                "amount": str(amount.quantize(Decimal("0.01"))),
                "reference": reference,
                "customer_phone": customer_phone,
                "description": description,
                "callback_url": callback_url,
            },
        )


def _esign(body: Any) -> EsignRequest:
    return EsignRequest(
        request_id=str(body["request_id"]),
        signing_url=str(body["signing_url"]),
        expires_at=datetime.fromisoformat(str(body["expires_at"])),
        status=str(body["status"]),
    )


def _order(body: Any) -> PaymentOrder:
    return PaymentOrder(
        order_id=str(body["order_id"]),
        payment_url=str(body["payment_url"]),
        amount=Decimal(str(body["amount"])),
        reference=str(body["reference"]),
        status=str(body["status"]),
        expires_at=datetime.fromisoformat(str(body["expires_at"])),
    )
