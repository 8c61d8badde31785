"""Payouts through the gateway client against its simulator: accepted, settled later by a signed webhook that our
verifier checks; the idempotency key makes a repeated request the same payout; refused requests."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from adapters.providers.call_log import ProviderCallLog
from adapters.providers.directory import ProviderDirectory
from adapters.simulators.gateway import GatewaySimulator
from domain.providers.errors import ProviderRejected
from domain.providers.messaging import Beneficiary, Payout
from tests.integration.providers_support import RecordingSleep, call_log, caller, directory_for, logged
from tests.integration.test_provider_payments import SECRET, Hooks, hooks

__all__ = ["call_log", "hooks"]

ACCOUNT = Beneficiary("Karthik Raman", "50100123456789", "HDFC0001234")


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewaySimulator]:
    with GatewaySimulator(webhook_secret=SECRET) as simulator:
        yield simulator


@pytest.fixture
def directory(gateway: GatewaySimulator, call_log: ProviderCallLog) -> ProviderDirectory:
    return directory_for(call_log, RecordingSleep(), gateway=gateway.base_url)


def _payout(directory: ProviderDirectory, hooks: Hooks, reference: str, key: str, **kw: object) -> Payout:
    args: dict[str, object] = {"mode": "IMPS", "beneficiary": ACCOUNT, **kw}
    return directory.gateway().create_payout(
        Decimal(str(args.pop("amount", "9270.5"))),
        reference=reference,
        idempotency_key=key,
        callback_url=f"{hooks.server.base_url}/hooks/gateway",
        caller=caller(),
        **args,  # type: ignore[arg-type]
    )


def test_a_payout_is_pending_until_the_bank_confirms_it(
    directory: ProviderDirectory, gateway: GatewaySimulator, hooks: Hooks, call_log: ProviderCallLog
) -> None:
    payout = _payout(directory, hooks, "DEMO-L-000456", "loan-1:1")
    assert payout.status == "pending" and payout.amount == Decimal("9270.50") and payout.mode == "IMPS"
    assert payout.simulator_url == f"{gateway.base_url}/payouts/{payout.payout_id}/settle"
    assert not any(e.data.get("payout_id") == payout.payout_id for e in hooks.events)  # nothing settles by itself
    settled = httpx.post(payout.simulator_url, json={"action": "confirm"})
    assert settled.status_code == 200 and settled.json()["status"] == "processed"
    event = hooks.wait_for("payout.processed", "DEMO-L-000456")
    assert event.data["payout_id"] == payout.payout_id and event.data["amount"] == "9270.50"
    assert len(event.data["utr"]) == 12 and event.data["processed_at"]
    again = httpx.post(payout.simulator_url, json={"action": "fail", "reason": "late"})
    assert again.status_code == 409 and again.json()["error"] == "already_settled"


def test_a_failed_payout_carries_the_gateways_reason(
    directory: ProviderDirectory, gateway: GatewaySimulator, hooks: Hooks
) -> None:
    payout = _payout(directory, hooks, "DEMO-L-000457", "loan-2:1", mode="NEFT")
    assert payout.simulator_url is not None
    failed = httpx.post(payout.simulator_url, json={"action": "fail", "reason": "Beneficiary bank offline"})
    assert failed.status_code == 200
    assert hooks.wait_for("payout.failed", "DEMO-L-000457").data["reason"] == "Beneficiary bank offline"


def test_a_closed_account_fails_even_when_confirmed(
    directory: ProviderDirectory, gateway: GatewaySimulator, hooks: Hooks
) -> None:
    closed = Beneficiary("Asha Verma", "123450000", "SBIN0000001")
    payout = _payout(directory, hooks, "DEMO-L-000458", "loan-3:1", beneficiary=closed, mode="UPI")
    gateway.settle(payout.payout_id).result(timeout=10)
    assert hooks.wait_for("payout.failed", "DEMO-L-000458").data["reason"] == "account_closed"


def test_the_same_idempotency_key_is_the_same_payout(
    directory: ProviderDirectory, gateway: GatewaySimulator, hooks: Hooks
) -> None:
    first = _payout(directory, hooks, "DEMO-L-000459", "loan-4:1")
    again = _payout(directory, hooks, "DEMO-L-000459", "loan-4:1")
    assert again.payout_id == first.payout_id
    assert sum(1 for p in gateway.payouts() if p["reference"] == "DEMO-L-000459") == 1
    with pytest.raises(ProviderRejected) as conflict:
        _payout(directory, hooks, "DEMO-L-000459", "loan-4:1", amount="1.00")
    assert conflict.value.code == "idempotency_conflict"
    second = _payout(directory, hooks, "DEMO-L-000459", "loan-4:2")  # a new attempt is a new payout
    assert second.payout_id != first.payout_id


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"amount": "0"}, "invalid_amount"),
        ({"amount": "2000000"}, "invalid_amount"),
        ({"mode": "RTGS"}, "invalid_mode"),
        ({"beneficiary": Beneficiary("X", "12ab", "HDFC0001234")}, "invalid_beneficiary"),
        ({"beneficiary": Beneficiary("X", "50100123456789", "HDFC1234")}, "invalid_beneficiary"),
    ],
)
def test_payouts_it_refuses(
    directory: ProviderDirectory, hooks: Hooks, overrides: dict[str, object], code: str, call_log: ProviderCallLog
) -> None:
    with pytest.raises(ProviderRejected) as refused:
        _payout(directory, hooks, "BAD", f"bad-{code}-{len(str(overrides))}", **overrides)
    assert refused.value.code == code


def test_the_call_is_logged_without_the_account(
    directory: ProviderDirectory, hooks: Hooks, call_log: ProviderCallLog
) -> None:
    who = caller()
    directory.gateway().create_payout(
        Decimal("100"),
        mode="IMPS",
        beneficiary=ACCOUNT,
        reference="LOG-1",
        idempotency_key="log-1",
        callback_url=f"{hooks.server.base_url}/h",
        caller=who,
    )
    (row,) = logged(call_log, who)
    assert row["kind"] == "create_payout" and row["outcome"] == "ok"
    assert ACCOUNT.account_number not in str(row)
