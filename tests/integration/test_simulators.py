"""The simulator pattern (adapters/simulators/base.py) over real HTTP: outbox, fault switches and signed webhooks.

`ExampleSms` is the smallest simulator one can build on the base (the shape docs/architecture.md describes); its
webhooks go to `Receiver`, a real HTTP endpoint that checks them with the product's verifier
(adapters/webhooks.py) and deduplicates on the event id, as our webhook endpoints will.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.mail_sink import free_port
from adapters.simulators.base import LoopbackServer, Simulator
from adapters.simulators.outbox import REQUEST, WEBHOOK, Outbox
from adapters.simulators.webhook_sender import RetryPolicy
from adapters.webhooks import BAD_SIGNATURE, STALE_TIMESTAMP, WebhookEvent, WebhookRejected, WebhookVerifier
from domain.shared.clock import FixedClock

SECRET = "whsec_simulator_tests"
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


class RecordingSleep:
    """Stands in for time.sleep in the webhook retries: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class ExampleSms(Simulator):
    """An SMS gateway in miniature: accepts a message, records it as sent, reports delivery by webhook."""

    name: ClassVar[str] = "example-sms"

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/v1/messages", self._send, methods=["POST"]),
            Route("/v1/balance", self._balance, methods=["GET"]),
        ]

    async def _send(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("to") or not body.get("callback_url"):
            return JSONResponse({"error": "to and callback_url are required"}, status_code=422)
        message_id = f"msg_{uuid.uuid4().hex[:12]}"
        self.outbox.record("sms", id=message_id, to=body["to"], text=body.get("text", ""))
        receipt = {"message_id": message_id, "status": "delivered"}
        self.send_webhook_later(body["callback_url"], "message.delivered", receipt, event_id=f"{message_id}:delivered")
        return JSONResponse({"id": message_id, "status": "queued"}, status_code=202)

    async def _balance(self, request: Request) -> Response:
        return JSONResponse({"credits": 100})


class Receiver:
    """Our side: verifies each delivery, processes each event id once, and can be told to fail."""

    def __init__(self, clock: FixedClock) -> None:
        self.verifier = WebhookVerifier([SECRET], clock=clock)
        self.lock = threading.Lock()
        self.processed: list[WebhookEvent] = []
        self.duplicates: list[str] = []
        self.rejected: list[str] = []
        self.failures_left = 0
        self.not_yet_left = 0  # answers 409: the reference is one we are about to record
        self.server = LoopbackServer(Starlette(routes=[Route("/hooks/sms", self.hook, methods=["POST"])]))

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/hooks/sms"

    def reset(self) -> None:
        with self.lock:
            self.processed, self.duplicates, self.rejected, self.failures_left = [], [], [], 0
            self.not_yet_left = 0

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                return JSONResponse({"detail": "database unavailable"}, status_code=500)
            if self.not_yet_left > 0:
                self.not_yet_left -= 1
                return JSONResponse({"detail": "payout not yet recorded on its loan"}, status_code=409)
            try:
                self.verifier.verify(body, request.headers)
            except WebhookRejected as rejected:
                self.rejected.append(rejected.reason)
                return JSONResponse({"reason": rejected.reason}, status_code=401)
            event = WebhookEvent.model_validate_json(body)
            if any(seen.id == event.id for seen in self.processed):
                self.duplicates.append(event.id)
                return JSONResponse({"status": "duplicate"})
            self.processed.append(event)
            return JSONResponse({"status": "processed"})


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="module")
def receiver(clock: FixedClock) -> Iterator[Receiver]:
    receiver = Receiver(clock)
    with receiver.server:
        yield receiver


@pytest.fixture(scope="module")
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(scope="module")
def served(clock: FixedClock, sleep: RecordingSleep) -> Iterator[ExampleSms]:
    """One simulator for the module (starting one per test would double the module's time)."""
    policy = RetryPolicy(attempts=4, backoff=0.5, backoff_max=1.5, timeout=2.0)
    with ExampleSms(clock=clock, webhook_secret=SECRET, webhook_policy=policy, sleep=sleep) as simulator:
        yield simulator


@pytest.fixture
def sim(served: ExampleSms, clock: FixedClock, receiver: Receiver, sleep: RecordingSleep) -> ExampleSms:
    """The simulator as new: no faults, an empty outbox, the clock at START, the receiver and sleeps forgotten."""
    clock.instant = START
    served.reset_faults()
    served.outbox.clear()
    receiver.reset()
    sleep.waits.clear()
    return served


@pytest.fixture
def http(sim: ExampleSms) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=2.0, trust_env=False) as client:
        yield client


def payload(records: list[Any]) -> list[dict[str, Any]]:
    return [record.payload for record in records]


# The outbox -------------------------------------------------------------------------------------------------------


def test_every_request_is_recorded_in_the_outbox_with_its_body_and_the_status_it_got(
    sim: ExampleSms, http: httpx.Client
) -> None:
    before = sim.requests
    http.get("/v1/balance", params={"currency": "INR"})
    http.post("/v1/messages", json={"to": "+919876543210"})  # no callback_url: refused by the simulator itself
    http.post("/v1/messages", content=b"\xff\xfe", headers={"Content-Type": "application/octet-stream"})
    balance, refused, binary = sim.outbox.requests()
    assert (balance.payload["method"], balance.payload["path"], balance.payload["query"]) == (
        "GET",
        "/v1/balance",
        {"currency": "INR"},
    )
    assert balance.payload["status"] == 200 and balance.payload["fault"] is None and balance.at == START
    assert refused.payload["json"] == {"to": "+919876543210"} and refused.payload["status"] == 422
    assert refused.payload["headers"]["content-type"] == "application/json"
    assert binary.payload["body"] is None and binary.payload["size"] == 2 and binary.payload["status"] == 422
    assert balance.seq < refused.seq < binary.seq and sim.requests - before == 3
    assert sim.outbox.requests("/v1/balance") == [balance]


def test_what_a_simulator_records_itself_sits_in_order_with_the_requests(
    sim: ExampleSms, http: httpx.Client, receiver: Receiver
) -> None:
    accepted = http.post("/v1/messages", json={"to": "+919876543210", "text": "Hi", "callback_url": receiver.url})
    assert accepted.status_code == 202
    kinds = [record.kind for record in sim.outbox.records()]
    assert kinds[:2] == [REQUEST, "sms"]  # the request as it arrived, then what its handler recorded
    assert sim.outbox.requests()[0].payload["status"] == 202
    (sms,) = sim.outbox.records("sms")
    assert sms.payload == {"id": accepted.json()["id"], "to": "+919876543210", "text": "Hi"}
    sim.outbox.wait_for(WEBHOOK, status=200)  # the receipt, sent from the delivery thread, is in before the next test


def test_the_outbox_keeps_the_latest_records_up_to_its_limit_and_waits_for_new_ones() -> None:
    outbox = Outbox(FixedClock(START), limit=3)
    for n in range(5):
        outbox.record("sms", n=n)
    assert [r.payload["n"] for r in outbox.records()] == [2, 3, 4] and outbox.last_seq == 5
    assert outbox.records("sms", since=4, n=4)[0].seq == 5
    threading.Timer(0.05, outbox.record, args=("sms",), kwargs={"n": 5}).start()
    assert outbox.wait_for("sms", since=5, timeout=5)[0].payload == {"n": 5}
    with pytest.raises(TimeoutError, match="0 of 1 webhook"):
        outbox.wait_for(WEBHOOK, timeout=0.05)


# Fault switches ---------------------------------------------------------------------------------------------------


def test_fail_next_answers_its_status_before_the_handler_then_the_simulator_recovers(
    sim: ExampleSms, http: httpx.Client
) -> None:
    sim.fail_next(2, status=502)
    statuses = [http.get("/v1/balance").status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert [r.payload["fault"] for r in sim.outbox.requests()] == ["failed", "failed", None]


def test_rate_limit_next_answers_429_with_retry_after(sim: ExampleSms, http: httpx.Client) -> None:
    sim.rate_limit_next(1, retry_after=7)
    limited = http.get("/v1/balance")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert http.get("/v1/balance").status_code == 200


def test_limit_rate_lets_a_burst_through_then_answers_429_until_the_clock_refills_it(
    sim: ExampleSms, http: httpx.Client, clock: FixedClock
) -> None:
    sim.limit_rate(2, burst=3)
    assert [http.get("/v1/balance").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert http.get("/v1/balance").headers["retry-after"] == "1"
    clock.instant = START + timedelta(seconds=1)  # two requests' worth of tokens
    assert [http.get("/v1/balance").status_code for _ in range(3)] == [200, 200, 429]
    sim.limit_rate(0)
    assert http.get("/v1/balance").status_code == 200


def test_error_rate_fails_a_seeded_share_of_requests_the_same_way_each_time(
    sim: ExampleSms, http: httpx.Client
) -> None:
    def run() -> list[int]:
        sim.error_rate(0.3, status=503, seed=42)
        return [http.get("/v1/balance").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second and set(first) == {200, 503}
    assert 4 <= first.count(503) <= 20


def test_bad_body_next_answers_a_body_that_is_not_json(sim: ExampleSms, http: httpx.Client) -> None:
    sim.bad_body_next(1)
    garbled = http.get("/v1/balance")
    assert garbled.status_code == 200 and garbled.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        garbled.json()
    sim.bad_body_next(1, b'{"credits":', status=200)
    assert http.get("/v1/balance").text == '{"credits":'
    assert http.get("/v1/balance").json() == {"credits": 100}


def test_latency_holds_the_next_requests_past_a_clients_timeout(sim: ExampleSms) -> None:
    sim.add_latency(0.6, times=1)
    with httpx.Client(base_url=sim.base_url, timeout=0.2, trust_env=False) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get("/v1/balance")
        assert impatient.get("/v1/balance").status_code == 200


def test_a_fault_scoped_to_a_path_leaves_other_paths_alone(sim: ExampleSms, http: httpx.Client) -> None:
    sim.fail_next(5, status=503, path="/v1/messages")
    assert http.get("/v1/balance").status_code == 200
    assert http.post("/v1/messages", json={}).status_code == 503


def test_reset_faults_switches_every_fault_off(sim: ExampleSms, http: httpx.Client) -> None:
    sim.fail_next(5)
    sim.rate_limit_next(5)
    sim.limit_rate(0.001, burst=1)
    sim.add_latency(5)
    sim.bad_body_next(5)
    sim.reset_faults()
    assert [http.get("/v1/balance").status_code for _ in range(3)] == [200, 200, 200]


def test_faults_and_the_outbox_are_driven_over_http_without_being_recorded(sim: ExampleSms, http: httpx.Client) -> None:
    before = sim.requests
    assert http.post("/_sim/faults", json={"switch": "fail_next", "args": {"n": 1, "status": 504}}).status_code == 204
    assert http.get("/v1/balance").status_code == 504
    bad_commands: list[dict[str, Any]] = [
        {"switch": "stop"},
        {"switch": "fail_next", "args": {"count": 1}},
        {"switch": "fail_next", "args": {"n": "two"}},
        {"nothing": 1},
    ]
    for bad in bad_commands:
        refused = http.post("/_sim/faults", json=bad)
        assert refused.status_code == 422 and "fail_next" in refused.json()["detail"]
    outbox = http.get("/_sim/outbox", params={"kind": REQUEST}).json()
    assert [(r["payload"]["path"], r["payload"]["status"]) for r in outbox["records"]] == [("/v1/balance", 504)]
    assert http.get("/_sim/outbox", params={"since": outbox["last_seq"]}).json()["records"] == []
    assert http.get("/_sim/outbox", params={"since": "x"}).status_code == 400
    assert http.delete("/_sim/outbox").status_code == 204 and len(sim.outbox) == 0
    http.post("/_sim/faults", json={"switch": "fail_next", "args": {"n": 9}})
    assert http.delete("/_sim/faults").status_code == 204
    assert http.get("/v1/balance").status_code == 200 and sim.requests - before == 2


# Signed webhooks --------------------------------------------------------------------------------------------------


def test_a_signed_webhook_is_verified_by_the_product_verifier_at_a_real_endpoint(
    sim: ExampleSms, receiver: Receiver
) -> None:
    delivery = sim.send_webhook(receiver.url, "message.delivered", {"message_id": "msg_1"}, event_id="evt_1")
    assert delivery.delivered and len(delivery.attempts) == 1
    (event,) = receiver.processed
    assert (event.id, event.type, event.data, event.created_at) == (
        "evt_1",
        "message.delivered",
        {"message_id": "msg_1"},
        START,
    )
    (attempt,) = payload(sim.outbox.webhooks())
    assert attempt["status"] == 200 and attempt["headers"]["X-Timestamp"] == str(int(START.timestamp()))
    assert attempt["body"]["id"] == "evt_1" and attempt["url"] == receiver.url


def test_a_tampered_webhook_is_refused_as_a_bad_signature_and_not_retried(sim: ExampleSms, receiver: Receiver) -> None:
    sim.tamper_next_webhooks(1)
    forged = sim.send_webhook(receiver.url, "message.delivered", {"message_id": "msg_1"})
    assert not forged.delivered and [a.status for a in forged.attempts] == [401]
    assert receiver.rejected == [BAD_SIGNATURE] and receiver.processed == []
    assert sim.send_webhook(receiver.url, "message.delivered", {"message_id": "msg_1"}).delivered  # switch used up


def test_a_webhook_signed_outside_the_window_is_refused_as_stale(sim: ExampleSms, receiver: Receiver) -> None:
    sim.stale_next_webhooks(1, seconds=600)
    stale = sim.send_webhook(receiver.url, "message.delivered", {"message_id": "msg_1"})
    assert stale.status == 401 and receiver.rejected == [STALE_TIMESTAMP]
    assert stale.attempts[0].headers["X-Timestamp"] == str(int(START.timestamp()) - 600)


def test_a_duplicate_delivery_carries_the_same_event_and_is_processed_once(sim: ExampleSms, receiver: Receiver) -> None:
    sim.duplicate_next_webhooks(1)
    delivery = sim.send_webhook(receiver.url, "payment.captured", {"amount": "1250.00"})
    (copy,) = delivery.copies
    assert copy.event_id == delivery.event_id and copy.body == delivery.body and copy.delivered
    assert [e.id for e in receiver.processed] == [delivery.event_id]
    assert receiver.duplicates == [delivery.event_id]
    assert [r["duplicate"] for r in payload(sim.outbox.webhooks())] == [False, True]


def test_a_replayed_capture_verifies_until_the_window_passes_and_is_never_processed_twice(
    sim: ExampleSms, receiver: Receiver, clock: FixedClock
) -> None:
    original = sim.send_webhook(receiver.url, "payment.captured", {"amount": "1250.00"})
    clock.instant = START + timedelta(minutes=4)
    replayed = sim.redeliver(original, replay=True)
    assert replayed.attempts[0].headers == original.attempts[0].headers  # the very same signed request
    assert replayed.status == 200 and receiver.duplicates == [original.event_id]
    clock.instant = START + timedelta(minutes=6)
    assert sim.redeliver(original, replay=True).status == 401
    assert receiver.rejected == [STALE_TIMESTAMP] and len(receiver.processed) == 1


def test_a_receiver_answering_500_is_retried_with_exponential_backoff_until_it_accepts(
    sim: ExampleSms, receiver: Receiver, sleep: RecordingSleep
) -> None:
    receiver.failures_left = 2
    delivery = sim.send_webhook(receiver.url, "message.delivered", {"message_id": "msg_1"})
    assert [a.status for a in delivery.attempts] == [500, 500, 200] and delivery.delivered
    assert sleep.waits == [0.5, 1.0]
    assert [e.id for e in receiver.processed] == [delivery.event_id]
    assert [r["attempt"] for r in payload(sim.outbox.webhooks(event_id=delivery.event_id))] == [1, 2, 3]


def test_a_receiver_answering_409_not_yet_recorded_is_retried_until_it_accepts(
    sim: ExampleSms, receiver: Receiver, sleep: RecordingSleep
) -> None:
    """Our webhooks' one 409 is "a reference we are about to record" (a payout event that overtook its recording):
    the provider delivers it again, as gateways retry every non-2xx; other 4xx (a bad signature) stay final."""
    receiver.not_yet_left = 1
    delivery = sim.send_webhook(receiver.url, "payout.processed", {"payout_id": "pout_1"})
    assert [a.status for a in delivery.attempts] == [409, 200] and delivery.delivered
    assert sleep.waits == [0.5] and [e.id for e in receiver.processed] == [delivery.event_id]


def test_a_receiver_that_never_accepts_is_given_up_on_after_the_last_attempt(
    sim: ExampleSms, receiver: Receiver, sleep: RecordingSleep
) -> None:
    receiver.failures_left = 10
    delivery = sim.send_webhook(receiver.url, "message.delivered", {"message_id": "msg_1"})
    assert [a.status for a in delivery.attempts] == [500, 500, 500, 500] and not delivery.delivered
    assert sleep.waits == [0.5, 1.0, 1.5]  # doubling, capped at backoff_max


def test_an_unreachable_receiver_is_retried_and_each_transport_error_recorded(sim: ExampleSms) -> None:
    delivery = sim.send_webhook(f"http://127.0.0.1:{free_port()}/hooks", "message.delivered", {})
    assert len(delivery.attempts) == 4 and all(a.status is None for a in delivery.attempts)
    assert all("ConnectError" in (r["error"] or "") for r in payload(sim.outbox.webhooks()))


def test_a_dropped_webhook_is_recorded_but_never_sent(sim: ExampleSms, receiver: Receiver) -> None:
    sim.drop_next_webhooks(1)
    dropped = sim.send_webhook(receiver.url, "message.delivered", {"message_id": "msg_1"})
    assert dropped.dropped and dropped.attempts == [] and receiver.processed == []
    assert payload(sim.outbox.webhooks()) == [
        {"url": receiver.url, "event_id": dropped.event_id, "type": "message.delivered", "dropped": True, "attempt": 0}
    ]


def test_a_message_sent_to_the_simulator_comes_back_as_a_signed_delivery_receipt(
    sim: ExampleSms, http: httpx.Client, receiver: Receiver
) -> None:
    sent = http.post("/v1/messages", json={"to": "+919876543210", "text": "EMI due", "callback_url": receiver.url})
    assert sent.status_code == 202
    message_id = sent.json()["id"]
    (receipt,) = sim.outbox.wait_for(WEBHOOK, event_id=f"{message_id}:delivered", status=200)
    assert receipt.payload["body"]["data"] == {"message_id": message_id, "status": "delivered"}
    assert [e.data["message_id"] for e in receiver.processed] == [message_id]


def test_stopping_a_simulator_cuts_short_a_delivery_waiting_to_retry(clock: FixedClock, receiver: Receiver) -> None:
    receiver.reset()
    receiver.failures_left = 10
    patient = RetryPolicy(attempts=5, backoff=30.0, backoff_max=30.0)  # the real sleep: 30 s before attempt 2
    simulator = ExampleSms(clock=clock, webhook_secret=SECRET, webhook_policy=patient)
    simulator.start()
    pending = simulator.send_webhook_later(receiver.url, "message.delivered", {"message_id": "msg_1"})
    simulator.outbox.wait_for(WEBHOOK, status=500)
    began = time.monotonic()
    simulator.stop()
    assert time.monotonic() - began < 10
    delivery = pending.result(timeout=1)
    assert [a.status for a in delivery.attempts] == [500] and not delivery.delivered


def test_a_simulator_made_without_a_secret_refuses_to_send_webhooks(clock: FixedClock) -> None:
    with pytest.raises(RuntimeError, match="webhook_secret"):
        ExampleSms(clock=clock).send_webhook("http://127.0.0.1:9/hooks", "message.delivered", {})
