"""E-sign and payment gateway clients (docs/providers.md): each opens a request the person completes on the
provider's page; the outcome comes back as a webhook signed with the `adapters.webhooks` scheme.

    POST /v1/esign/requests  {"document_sha256", "signer_name", "signer_phone", "reference", "callback_url"}
    POST /v1/orders          {"amount", "reference", "customer_phone", "description", "callback_url"}
    POST /v1/payouts         {"amount", "mode", "reference", "beneficiary", "idempotency_key", "callback_url"}
    GET  /v1/payouts?idempotency_key=K  (the payout made under K and its status; 404 when none was)
    POST /v1/mandates        {"vpa", "max_amount", "frequency", "reference", "callback_url"}  (UPI Autopay)
    POST /v1/mandates/{id}/revoke;  POST /v1/mandates/{id}/debits {"amount", "reference"}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.providers.http import ProviderCalls
from domain.providers.calls import Caller
from domain.providers.errors import ProviderRejected
from domain.providers.messaging import Beneficiary, EsignRequest, PaymentOrder, Payout


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
    """Hosted payment orders (a `PaymentGateway`) and payouts to bank accounts (a `PayoutGateway`)."""

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

    def create_payout(
        self,
        amount: Decimal,
        *,
        mode: str,
        beneficiary: Beneficiary,
        reference: str,
        idempotency_key: str,
        callback_url: str,
        caller: Caller,
    ) -> Payout:
        """A payout of `amount` rupees by `mode` (IMPS, NEFT, UPI) to `beneficiary`; `payout.processed` /
        `payout.failed` arrive at `callback_url`. Retried requests carry the same `idempotency_key`, so a payout
        whose answer was lost is never made twice."""
        return self.http.call(
            "create_payout",
            "POST",
            "/v1/payouts",
            _payout,
            caller=caller,
            json={
                "amount": str(amount.quantize(Decimal("0.01"))),
                "mode": mode,
                "reference": reference,
                "beneficiary": {
                    "name": beneficiary.name,
                    "account_number": beneficiary.account_number,
                    "ifsc": beneficiary.ifsc,
                },
                "idempotency_key": idempotency_key,
                "callback_url": callback_url,
            },
        )

    def find_payout(self, idempotency_key: str, *, caller: Caller) -> Payout | None:
        """The payout made under `idempotency_key` and its status now (pending, processed, failed with its reason),
        or None when the gateway made none under it: for a request whose answer we never read."""
        try:
            return self.http.call(
                "find_payout", "GET", "/v1/payouts", _payout, caller=caller, params={"idempotency_key": idempotency_key}
            )
        except ProviderRejected as refused:
            if refused.status == 404:
                return None
            raise


@dataclass(frozen=True)
class GatewayMandate:
    """A UPI Autopay mandate at the gateway: `approval_url` is where the payer approves it."""

    mandate_id: str
    status: str
    approval_url: str | None


@dataclass(frozen=True)
class MandateDebitOrder:
    """A debit presented under a mandate: it settles later by a `payment.*` webhook."""

    order_id: str
    status: str


class MandateClient:
    """UPI Autopay mandates at the payment gateway (over the gateway client's connection)."""

    def __init__(self, gateway: GatewayClient) -> None:
        self.http = gateway.http

    def register(self, vpa: str, max_amount: Decimal, frequency: str, *, reference: str, callback_url: str,
                 caller: Caller) -> GatewayMandate:  # fmt: skip
        """Register a mandate; `mandate.activated` / `mandate.revoked` arrive at `callback_url`."""
        body = {"vpa": vpa, "max_amount": str(max_amount.quantize(Decimal("0.01"))), "frequency": frequency,
                "reference": reference, "callback_url": callback_url}  # fmt: skip
        return self.http.call("create_mandate", "POST", "/v1/mandates", _mandate, caller=caller, json=body)

    def revoke(self, mandate_id: str, *, caller: Caller) -> GatewayMandate:
        """Revoke a mandate at the gateway."""
        return self.http.call("revoke_mandate", "POST", f"/v1/mandates/{mandate_id}/revoke", _mandate, caller=caller)

    def debit(self, mandate_id: str, amount: Decimal, *, reference: str, caller: Caller) -> MandateDebitOrder:
        """Present a debit of `amount`; `payment.captured` / `payment.failed` arrive at the mandate's callback."""
        body = {"amount": str(amount.quantize(Decimal("0.01"))), "reference": reference}
        return self.http.call(
            "debit_mandate",
            "POST",
            f"/v1/mandates/{mandate_id}/debits",
            lambda b: MandateDebitOrder(str(b["order_id"]), str(b["status"])),
            caller=caller,
            json=body,
        )


def _mandate(body: Any) -> GatewayMandate:
    url = body.get("approval_url")
    return GatewayMandate(str(body["mandate_id"]), str(body["status"]), str(url) if url else None)


def _payout(body: Any) -> Payout:
    simulator_url = body.get("simulator_url")
    return Payout(
        payout_id=str(body["payout_id"]),
        reference=str(body["reference"]),
        amount=Decimal(str(body["amount"])),
        mode=str(body["mode"]),
        status=str(body["status"]),
        simulator_url=str(simulator_url) if simulator_url else None,
        reason=str(body["reason"])[:300] if body.get("reason") else None,
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
