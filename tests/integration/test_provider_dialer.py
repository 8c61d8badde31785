"""Click-to-call through the dialer client against its simulator: the call rings, ends by the destination's rule and
comes back as a signed `call.completed` our verifier accepts; a retried request is the same call; refusals; the call
log row carries no body (the brand's token never lands there or in the simulator's outbox)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from adapters.providers.call_log import ProviderCallLog
from adapters.providers.directory import ProviderDirectory
from adapters.simulators.dialer import DialerSimulator
from domain.providers.dialer import DialerCredentials, PlacedCall
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from tests.integration.providers_support import RecordingSleep, call_log, caller, directory_for, logged
from tests.integration.test_provider_payments import SECRET, Hooks, hooks

__all__ = ["call_log", "hooks"]

ACCOUNT = DialerCredentials("covenant-demo", "acefone-secret-5e6f")


@pytest.fixture(scope="module")
def dialer() -> Iterator[DialerSimulator]:
    with DialerSimulator(webhook_secret=SECRET) as simulator:
        simulator.complete_delay = 0.05
        yield simulator


@pytest.fixture
def directory(dialer: DialerSimulator, call_log: ProviderCallLog) -> ProviderDirectory:
    return directory_for(call_log, RecordingSleep(), dialer=dialer.base_url)


def _call(directory: ProviderDirectory, hooks: Hooks, to: str, reference: str, **kw: object) -> PlacedCall:
    args: dict[str, object] = {"extension": "1021", "credentials": ACCOUNT, "caller": caller(), **kw}
    credentials = args.pop("credentials")
    return directory.dialer().click_to_call(
        credentials,  # type: ignore[arg-type]
        destination=to,
        reference=reference,
        callback_url=f"{hooks.server.base_url}/hooks/dialer",
        **args,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("to", "status"),
    [("9876543210", "answered"), ("9876541111", "no_answer"), ("9876542222", "busy"), ("9876543333", "failed")],
)
def test_a_call_ends_by_its_destination_and_comes_back_signed(
    directory: ProviderDirectory, hooks: Hooks, to: str, status: str
) -> None:
    reference = str(uuid.uuid4())
    placed = _call(directory, hooks, to, reference)
    assert placed.status == "queued" and placed.reference == reference and placed.call_id.startswith("call_")
    event = hooks.wait_for("call.completed", reference)
    assert (event.data["call_id"], event.data["status"], event.data["destination"]) == (
        placed.call_id, status, "+91" + to)  # fmt: skip
    answered = status == "answered"
    assert (event.data["duration_seconds"] > 0) is answered
    assert (event.data["recording_url"] is not None) is answered


def test_a_retried_request_is_the_same_call(
    directory: ProviderDirectory, dialer: DialerSimulator, hooks: Hooks
) -> None:
    reference = str(uuid.uuid4())
    first = _call(directory, hooks, "9876500001", reference)
    again = _call(directory, hooks, "9876500001", reference)
    assert first.call_id == again.call_id
    assert [c["call_id"] for c in dialer.calls() if c["reference"] == reference] == [first.call_id]


def test_refusals_and_the_call_log(
    directory: ProviderDirectory, dialer: DialerSimulator, hooks: Hooks, call_log: ProviderCallLog
) -> None:
    who = caller()
    with pytest.raises(ProviderRejected) as bad_number:
        _call(directory, hooks, "12345", str(uuid.uuid4()), caller=who)
    assert bad_number.value.code == "invalid_number"
    with pytest.raises(ProviderRejected) as bad_extension:
        _call(directory, hooks, "9876500002", str(uuid.uuid4()), extension="1", caller=who)
    assert bad_extension.value.code == "invalid_extension"
    with pytest.raises(ProviderUnavailable):  # our credentials refused: a configuration fault, not retried
        _call(directory, hooks, "9876500003", str(uuid.uuid4()), credentials=DialerCredentials("x1", "bad-token-1"),
              caller=who)  # fmt: skip
    placed = _call(directory, hooks, "9876500004", str(uuid.uuid4()), caller=who)
    rows = logged(call_log, who)
    assert [(r["kind"], r["outcome"], r["http_status"]) for r in rows] == [
        ("click_to_call", "rejected", 400), ("click_to_call", "rejected", 400), ("click_to_call", "unavailable", 403),
        ("click_to_call", "ok", 202),
    ]  # fmt: skip
    assert all(r["provider"] == "dialer" for r in rows)
    assert ACCOUNT.api_token not in json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
    assert ACCOUNT.api_token not in json.dumps(dialer.sent_to(), default=str)
    assert any(item.get("call_id") == placed.call_id for item in dialer.sent_to("+919876500004"))
