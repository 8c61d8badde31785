"""E-sign and payment gateway clients against their simulators, and their signed webhooks back to a receiver of
ours that verifies them with the product's verifier (adapters.webhooks)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.providers.call_log import ProviderCallLog
from adapters.providers.directory import ProviderDirectory
from adapters.simulators.base import LoopbackServer
from adapters.simulators.esign import EsignSimulator
from adapters.simulators.gateway import GatewaySimulator
from adapters.webhooks import WebhookEvent, WebhookRejected, WebhookVerifier
from domain.providers.errors import ProviderRejected
from tests.integration.providers_support import RecordingSleep, call_log, caller, directory_for, logged

__all__ = ["call_log"]

SECRET = "whsec_payments_tests"
DOCUMENT = hashlib.sha256(b"loan agreement DEMO-L-000456").hexdigest()


class Hooks:
    """Our webhook endpoint: verifies each delivery and keeps the events."""

    def __init__(self) -> None:
        self.verifier = WebhookVerifier([SECRET])
        self.events: list[WebhookEvent] = []
        self.rejected: list[str] = []
        self.lock = threading.Lock()
        self.server = LoopbackServer(Starlette(routes=[Route("/hooks/{provider}", self.hook, methods=["POST"])]))

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        try:
            self.verifier.verify(body, request.headers)
        except WebhookRejected as rejected:
            with self.lock:
                self.rejected.append(rejected.reason)
            return JSONResponse({"reason": rejected.reason}, status_code=401)
        with self.lock:
            self.events.append(WebhookEvent.model_validate_json(body))
        return JSONResponse({"status": "processed"})

    def wait_for(self, kind: str, reference: str) -> WebhookEvent:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                found = [e for e in self.events if e.type == kind and e.data.get("reference") == reference]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {kind} webhook for {reference}")


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    receiver = Hooks()
    receiver.server.start()
    yield receiver
    receiver.server.stop()


@pytest.fixture(scope="module")
def esign() -> Iterator[EsignSimulator]:
    with EsignSimulator(webhook_secret=SECRET) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewaySimulator]:
    with GatewaySimulator(webhook_secret=SECRET) as simulator:
        yield simulator


@pytest.fixture
def directory(esign: EsignSimulator, gateway: GatewaySimulator, call_log: ProviderCallLog) -> ProviderDirectory:
    return directory_for(call_log, RecordingSleep(), esign=esign.base_url, gateway=gateway.base_url)


def test_a_document_is_signed_and_the_signed_webhook_verifies(
    directory: ProviderDirectory, esign: EsignSimulator, hooks: Hooks, call_log: ProviderCallLog
) -> None:
    who = caller()
    request = directory.esign().create(
        DOCUMENT,
        "Karthik Raman",
        "9876543210",
        reference="DEMO-L-000456",
        callback_url=f"{hooks.server.base_url}/hooks/esign",
        caller=who,
    )
    assert request.status == "pending" and request.signing_url.endswith(request.request_id)
    (link,) = httpx.get(f"{esign.base_url}/outbox", params={"to": "9876543210"}).json()["items"][:1]
    assert request.signing_url in link["text"]
    assert "Karthik Raman" in httpx.get(request.signing_url).text

    assert httpx.get(request.signing_url, params={"decision": "sign"}).status_code == 200
    event = hooks.wait_for("esign.signed", "DEMO-L-000456")
    assert event.data["document_sha256"] == DOCUMENT and event.data["status"] == "signed" and event.data["signed_at"]
    assert httpx.get(request.signing_url, params={"decision": "sign"}).status_code == 409
    assert [r["kind"] for r in logged(call_log, who)] == ["create_esign"]


def test_a_declined_signature(directory: ProviderDirectory, esign: EsignSimulator, hooks: Hooks) -> None:
    request = directory.esign().create(
        DOCUMENT,
        "Karthik Raman",
        "9876543210",
        reference="DEMO-L-000457",
        callback_url=f"{hooks.server.base_url}/hooks/esign",
        caller=caller(),
    )
    esign.decline(request.request_id).result(timeout=10)
    assert hooks.wait_for("esign.declined", "DEMO-L-000457").data["signed_at"] is None


def test_esign_refuses_a_bad_hash(directory: ProviderDirectory, hooks: Hooks) -> None:
    with pytest.raises(ProviderRejected) as refused:
        directory.esign().create(
            "abc",
            "Karthik Raman",
            "9876543210",
            reference="X",
            callback_url=f"{hooks.server.base_url}/h",
            caller=caller(),
        )
    assert refused.value.code == "invalid_document_hash"


def test_a_payment_is_captured_and_notified(
    directory: ProviderDirectory, gateway: GatewaySimulator, hooks: Hooks
) -> None:
    order = directory.gateway().create_order(
        Decimal("2450.5"),
        "DEMO-L-000456-EMI-3",
        customer_phone="+919876543210",
        description="EMI 3 of DEMO-L-000456",
        callback_url=f"{hooks.server.base_url}/hooks/gateway",
        caller=caller(),
    )
    assert order.amount == Decimal("2450.50") and order.status == "created"
    assert order.payment_url in gateway.sent_to("9876543210")[0]["text"]
    assert httpx.get(order.payment_url, params={"outcome": "success"}).status_code == 200
    event = hooks.wait_for("payment.captured", "DEMO-L-000456-EMI-3")
    assert event.data["amount"] == "2450.50" and event.data["method"] == "upi" and len(event.data["utr"]) == 12


def test_an_amount_ending_13_paise_is_declined(
    directory: ProviderDirectory, gateway: GatewaySimulator, hooks: Hooks
) -> None:
    order = directory.gateway().create_order(
        Decimal("999.13"),
        "FEE-13",
        customer_phone="9876543210",
        description="fee",
        callback_url=f"{hooks.server.base_url}/hooks/gateway",
        caller=caller(),
    )
    gateway.pay(order.order_id).result(timeout=10)
    assert hooks.wait_for("payment.failed", "FEE-13").data["reason"] == "bank_declined"


@pytest.mark.parametrize(
    ("amount", "reference", "code"),
    [(Decimal(0), "ZERO", "invalid_amount"), (Decimal("1.00"), "DUP", "duplicate_reference")],
)
def test_orders_it_refuses(
    directory: ProviderDirectory, hooks: Hooks, amount: Decimal, reference: str, code: str
) -> None:
    def create() -> object:
        return directory.gateway().create_order(
            amount,
            reference,
            customer_phone="9876543210",
            description="x",
            callback_url=f"{hooks.server.base_url}/h",
            caller=caller(),
        )

    if code == "duplicate_reference":
        create()
    with pytest.raises(ProviderRejected) as refused:
        create()
    assert refused.value.code == code


def test_a_tampered_webhook_is_refused_by_our_verifier(
    directory: ProviderDirectory, gateway: GatewaySimulator, hooks: Hooks
) -> None:
    order = directory.gateway().create_order(
        Decimal("10.00"),
        "TAMPER-1",
        customer_phone="9876543210",
        description="x",
        callback_url=f"{hooks.server.base_url}/hooks/gateway",
        caller=caller(),
    )
    gateway.tamper_next_webhooks(1)
    gateway.pay(order.order_id).result(timeout=10)
    assert "bad_signature" in hooks.rejected
