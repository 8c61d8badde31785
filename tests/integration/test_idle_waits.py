"""Idle waits that sleep in the kernel: the LISTEN waiter of the projection runners and the relay, the runners' idle
re-checks, and the HTTP servers' main loop. Wake-ups are counted from /proc (a thread's context switches), the
measure that does not depend on how busy the machine is."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapters.http_server import QuietServer
from adapters.simulators.base import LoopbackServer
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from projections.idle_watch import IdleWatch
from projections.listening import NotifyWaiter
from projections.runner import ProjectionRunner
from workers.polling import QueueDrainer


def _switches(native_id: int) -> int:
    """A thread's voluntary context switches so far (each sleep that ends is one; a preemption by a busy machine, a
    nonvoluntary switch, is not the thread waking)."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text().splitlines()
    return sum(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches:"))


def _in_thread(wait: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run `wait` in a thread of its own: what it returned, the seconds it took and the thread's context switches."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        me = threading.get_native_id()
        before, began = _switches(me), time.monotonic()
        outcome["value"] = wait()
        outcome["seconds"], outcome["switches"] = time.monotonic() - began, _switches(me) - before

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return outcome["value"], outcome["seconds"], outcome["switches"]


@pytest.fixture
def listening(dsn: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("LISTEN idle_waits_test")
        yield conn


def test_psycopg_wakes_its_waiting_thread_ten_times_a_second_so_the_count_can_tell(listening: Any) -> None:
    """The instrument: psycopg's own notifies(timeout=...) wakes every 0.1 s, and the switch count shows it."""
    _, seconds, switches = _in_thread(lambda: list(listening.notifies(timeout=1.5)))
    assert seconds >= 1.4
    assert switches >= 10, f"psycopg's wait made only {switches} context switches in {seconds:.1f} s"


def test_the_waiter_sleeps_until_the_timeout_without_waking(listening: Any) -> None:
    waiter = NotifyWaiter()
    try:
        got, seconds, switches = _in_thread(lambda: waiter.wait(listening, 1.5))
    finally:
        waiter.close()
    assert got == []
    assert 1.4 <= seconds < 3
    # A poll at 0.1 s makes 15 (the test above), even at 0.3 s 5: a wait in the kernel wakes once, plus the thread's
    # start and end taking the GIL.
    assert switches <= 4, f"{switches} context switches in an idle wait of {seconds:.1f} s"


def test_a_notification_ends_the_wait_at_once_with_its_channel_and_payload(dsn: str, listening: Any) -> None:
    waiter = NotifyWaiter()

    def notify_soon() -> None:
        time.sleep(0.3)
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("NOTIFY idle_waits_test, 'hello'")

    sender = threading.Thread(target=notify_soon)
    sender.start()
    try:
        got, seconds, _ = _in_thread(lambda: waiter.wait(listening, 10.0))
    finally:
        sender.join()
        waiter.close()
    assert [(n.channel, n.payload) for n in got] == [("idle_waits_test", "hello")]
    assert seconds < 3


def test_a_notification_read_along_with_an_earlier_answer_is_returned_without_waiting(dsn: str, listening: Any) -> None:
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("NOTIFY idle_waits_test, 'early'")
    listening.execute("SELECT 1")  # its answer carries the notification: read now, kept by psycopg
    waiter = NotifyWaiter()
    try:
        got, seconds, _ = _in_thread(lambda: waiter.wait(listening, 10.0))
    finally:
        waiter.close()
    assert [n.payload for n in got] == ["early"]
    assert seconds < 1


def test_wake_ends_a_long_wait_from_another_thread(listening: Any) -> None:
    waiter = NotifyWaiter()
    timer = threading.Timer(0.3, waiter.wake)
    timer.start()
    try:
        got, seconds, _ = _in_thread(lambda: waiter.wait(listening, 30.0))
        # A wake-up consumed by that wait does not end the next one.
        again, again_seconds, _ = _in_thread(lambda: waiter.wait(listening, 0.5))
    finally:
        timer.cancel()
        waiter.close()
    assert got == [] and seconds < 3
    assert again == [] and again_seconds >= 0.45


def _record_without_notify(platform: Any, brand_id: uuid.UUID) -> int:
    """A borrower's registration stored with no NOTIFY (as a notification job's hand-overs are); its position."""
    app = platform.get(Customers)
    record = CustomerRecord(
        brand_id=brand_id, name="Quiet Borrower", phone="97400 31001", addresses=[], loan_numbers=[]
    )
    stored = [app.mapper.to_stored_event(e) for e in record.collect_events()]
    app.recorder.insert_events_before_commit(stored, lambda: None, notify=False)
    return int(app.recorder.max_notification_id() or 0)


def _counting(monkeypatch: pytest.MonkeyPatch, engine: Any, name: str, calls: list[tuple[str, Any]]) -> None:
    """Record each call of the engine's method `name` (with its first argument) in `calls`."""
    original = getattr(engine, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append((name, args[0] if args else None))
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, name, counted)


def test_an_event_recorded_without_a_notify_is_applied_within_the_watch_bound(
    platform: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented worst case (IdleWatch.MAX_SECONDS, scaled down here): runners idle long enough for the watch to
    have backed off all the way still apply a quiet event within MAX_SECONDS (plus the batch), and the look wakes
    only the runner whose source moved."""
    monkeypatch.setattr(IdleWatch, "FIRST_SECONDS", 0.2)
    monkeypatch.setattr(IdleWatch, "MAX_SECONDS", 1.0)
    first = platform.get(Customers).register(tenant.brand_id, name="Loud Borrower", phone="97400 31000")
    assert platform.engine.wait_for("customers", first.position, timeout=10)
    time.sleep(3.0)  # every runner idle; the watch's looks 0.2, 0.4, 0.8, then 1 s apart
    calls: list[tuple[str, Any]] = []
    _counting(monkeypatch, platform.engine, "head", calls)
    began = time.monotonic()
    position = _record_without_notify(platform, tenant.brand_id)
    assert platform.engine.wait_for("customers", position, timeout=10), "the re-check never saw the quiet event"
    waited = time.monotonic() - began
    assert waited < 1.0 + 1.0, f"the quiet event took {waited:.1f} s, the bound is 1 s and its batch"
    time.sleep(0.5)
    assert {source for _, source in calls} == {"customers"}, f"runners woken for nothing: {calls}"


def test_idle_runners_share_one_read_a_look_and_make_none_of_their_own(
    platform: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While idle, a process's runners cost one statement every look (the heads of their sources and the positions
    of their projections together); each runner used to read its source's head and its positions itself."""
    monkeypatch.setattr(IdleWatch, "FIRST_SECONDS", 0.2)
    monkeypatch.setattr(IdleWatch, "MAX_SECONDS", 0.5)
    done = platform.get(Customers).register(tenant.brand_id, name="Idle Borrower", phone="97400 31003")
    assert platform.engine.wait_for("customers", done.position, timeout=10)
    time.sleep(1.5)
    calls: list[tuple[str, Any]] = []
    for name in ("head", "positions", "heads_and_positions"):
        if hasattr(platform.engine, name):
            _counting(monkeypatch, platform.engine, name, calls)
    time.sleep(3.0)
    own = [call for call in calls if call[0] != "heads_and_positions"]
    assert own == [], f"idle runners read on their own: {len(own)} reads in 3 s"
    looks = len(calls)
    assert 3 <= looks <= 8, f"{looks} looks in 3 s at one every 0.5 s"


def test_an_idle_runner_replays_a_projection_another_process_moved_back(
    platform: Any, tenant: Any, dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(IdleWatch, "MAX_SECONDS", 0.5)
    done = platform.get(Customers).register(tenant.brand_id, name="Moved Back", phone="97400 31002")
    assert platform.engine.wait_for("customers", done.position, timeout=10)
    time.sleep(1.5)
    # Moved back behind this test's event, as a retry from the CLI does: no event, no NOTIFY. Not to 0: the runner
    # would replay the session's whole customers log within the deadline below, every earlier test's borrowers.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE ops.projection_tracking SET position = %s WHERE projection = 'customer_timeline'",
            (done.position - 1,),
        )
    deadline = time.monotonic() + 10
    while platform.engine.positions(["customer_timeline"])["customer_timeline"] < done.position:
        assert time.monotonic() < deadline, "the moved-back projection was not replayed"
        time.sleep(0.1)


def test_stop_ends_an_idle_runner_at_once(platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IdleWatch, "MAX_SECONDS", 60.0)
    runner = ProjectionRunner(platform.engine, ["customer_directory"], platform.dsn)
    runner.start()
    time.sleep(4)  # caught up, then asleep until a NOTIFY or the idle watch wakes it
    began = time.monotonic()
    runner.stop()
    runner.join(timeout=5)
    assert not runner.is_alive()
    assert time.monotonic() - began < 1.0


def _hello(_: Any) -> PlainTextResponse:
    return PlainTextResponse("hello")


def test_an_idle_http_server_wakes_once_a_second_and_serves_a_current_date() -> None:
    server = LoopbackServer(Starlette(routes=[Route("/", _hello)]), name="idle-test")
    server.start()
    try:
        thread = next(t for t in threading.enumerate() if t.name == "idle-test")
        assert thread.native_id is not None
        time.sleep(1.5)
        before = _switches(thread.native_id)
        time.sleep(3)
        switches = _switches(thread.native_id) - before
        # uvicorn's own loop: ~30 in 3 s (a tick every 0.1 s).
        assert switches <= 8, f"an idle server's thread switched {switches} times in 3 s"
        answer = httpx.get(server.base_url, timeout=5)
        assert answer.text == "hello"
        served_at = parsedate_to_datetime(answer.headers["date"]).timestamp()
        assert abs(served_at - time.time()) <= 2.5, "the Date header was not kept current"
    finally:
        server.stop()


def test_an_http_server_stops_at_once_between_its_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QuietServer, "TICK_SECONDS", 30.0)
    server = LoopbackServer(Starlette(routes=[Route("/", _hello)]), name="idle-stop-test")
    server.start()
    assert httpx.get(server.base_url, timeout=5).text == "hello"
    time.sleep(0.5)
    began = time.monotonic()
    server.stop()
    stopped = time.monotonic() - began
    assert stopped < 1.0, f"stopping took {stopped:.2f} s"


class _CountingDrainer(QueueDrainer):
    """A drainer whose queue is always empty: it counts its passes and notes when each began."""

    def __init__(self, engine: Any, interval: float) -> None:
        super().__init__("counting-drainer", interval, engine)
        self.passes: list[float] = []

    def drain(self) -> int:
        self.passes.append(time.monotonic())
        return 0


def test_an_idle_queue_drainer_reads_its_queue_less_and_less_often(platform: Any) -> None:
    """An empty queue read every `interval` (what the agreement worker, the callback router, the sign-up linker and the
    rematcher did: five reads a second for nothing in an idle `make run`) is read again after 1, 2, 4 ... intervals."""
    drainer = _CountingDrainer(platform.engine, interval=0.05)
    drainer.IDLE_MAX_SECONDS = 0.4
    drainer.start()
    try:
        time.sleep(2.0)
    finally:
        drainer.stop()
        drainer.join(timeout=5)
    # Every 0.05 s would be ~40 passes; 0.05, 0.1, 0.2, 0.4, 0.4, ... is about 7 (a projection moving elsewhere in
    # the session may add one or two).
    assert len(drainer.passes) <= 14, f"an idle drainer passed {len(drainer.passes)} times in 2 s"
    assert not drainer.is_alive()


def test_a_projection_moving_wakes_an_idle_queue_drainer_at_once(platform: Any, tenant: Any) -> None:
    """Its queue is a read model: a projection of the process moving ends its idle wait (here one of 30 s)."""
    drainer = _CountingDrainer(platform.engine, interval=30.0)
    drainer.start()
    try:
        deadline = time.monotonic() + 5
        while not drainer.passes:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(QueueDrainer.MIN_GAP_SECONDS + 0.3)
        before = len(drainer.passes)
        recorded_at = time.monotonic()
        platform.get(Customers).register(tenant.brand_id, name="Waking Borrower", phone="97400 31003")
        while len(drainer.passes) == before:
            assert time.monotonic() - recorded_at < 5, "the projection's move did not wake the drainer"
            time.sleep(0.02)
        began = time.monotonic()
        drainer.stop()
        drainer.join(timeout=5)
        assert time.monotonic() - began < 1.0, "stop() did not end the drainer's idle wait"
    finally:
        drainer.stop()
    assert not drainer.is_alive()
