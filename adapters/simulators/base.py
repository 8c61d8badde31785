"""The pattern every simulator of an external system follows (docs/architecture.md, "Simulators").

A simulator is a real HTTP server on loopback (uvicorn on a background thread) speaking the provider's contract,
built by subclassing `Simulator` and returning its Starlette routes. The base gives every simulator:

- `start()`/`stop()` or `with`, a free port (or a given one) and `base_url`;
- an **outbox** (`simulator.outbox`): every request received and every webhook attempt made, plus what the
  simulator records itself (an SMS "delivered to the handset", a debit made), readable by tests, by the demo
  and over HTTP at `GET /_sim/outbox`;
- **fault switches** (`fail_next`, `rate_limit_next`, `limit_rate`, `error_rate`, `add_latency`,
  `bad_body_next`, and the webhook ones), also settable at `POST /_sim/faults`;
- **signed webhooks back to us** (`send_webhook`, `send_webhook_later`, `redeliver`) with the scheme of
  `adapters.webhooks`, retried with backoff while our endpoint fails.

Product code never imports this package (an import-linter contract); only tests and `workers.demo_*` do.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import structlog
import uvicorn
from pydantic import validate_call
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.http_server import QuietServer
from adapters.simulators.faults import FaultDecision, FaultSwitches
from adapters.simulators.outbox import REQUEST, Outbox
from adapters.simulators.webhook_sender import RetryPolicy, WebhookDelivery, WebhookSender
from domain.shared.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

CONTROL_PREFIX = "/_sim"  # the simulator's own control endpoints: never faulted, never in the outbox

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LoopbackServer:
    """An ASGI app served by uvicorn on a background thread, on a free port unless one is given."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, name: str = "loopback") -> None:
        self.app, self.host, self.port, self.name = app, host, port, name
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """Where it serves (after start)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Serve in the background; returns the base URL once it accepts connections (OSError when the port is taken)."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already serving")
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it Nagle holds
        # each body behind its headers for the client's delayed ACK (40 ms a response).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", http="h11", timeout_graceful_shutdown=2
        )
        server = QuietServer(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.exit()
        if thread is not None:
            thread.join(timeout=10)
        if sock is not None:
            sock.close()

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Simulator(FaultSwitches, ABC):
    """Base of every simulator: subclasses give `name` and `routes()`; the rest is here (see the module doc)."""

    name: ClassVar[str] = "simulator"
    #: Path prefixes of control endpoints: never faulted, never counted or recorded in the outbox.
    control_paths: ClassVar[tuple[str, ...]] = (CONTROL_PREFIX,)

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        webhook_secret: str | bytes | None = None,
        webhook_policy: RetryPolicy | None = None,
        sleep: Callable[[float], object] | None = None,
        outbox_limit: int = 10_000,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        super().__init__(self.clock)
        self.outbox = Outbox(self.clock, outbox_limit)
        self._webhooks = (
            WebhookSender(
                self.name, webhook_secret, self.outbox, self.clock, self, webhook_policy or RetryPolicy(), sleep
            )
            if webhook_secret
            else None
        )
        self._received = 0
        self._count_lock = threading.Lock()
        control = [
            Route(f"{CONTROL_PREFIX}/outbox", self._read_outbox, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/outbox", self._clear_outbox, methods=["DELETE"]),
            Route(f"{CONTROL_PREFIX}/faults", self._set_fault, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", self._reset_faults, methods=["DELETE"]),
        ]
        self.app: ASGIApp = _Recorder(Starlette(routes=[*control, *self.routes()]), self)
        self._server = LoopbackServer(self.app, host=host, port=port, name=f"{self.name}-simulator")

    @abstractmethod
    def routes(self) -> Sequence[BaseRoute]:
        """The provider's endpoints (Starlette routes); every simulator defines its own."""

    def fault_response(self, decision: FaultDecision) -> Response:
        """The answer to a faulted request; override to speak the provider's own error format."""
        if decision.fault == "bad_body":
            media = "application/json" if decision.body[:1] in (b"{", b"[") else "text/html"
            return Response(decision.body, status_code=decision.status, media_type=media)
        if decision.fault == "rate_limited":
            return JSONResponse(
                {"error": "rate_limited", "detail": "too many requests"},
                status_code=429,
                headers={"Retry-After": str(decision.retry_after)},
            )
        return JSONResponse({"error": "unavailable", "detail": "simulated fault"}, status_code=decision.status)

    # Serving --------------------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address it listens on."""
        return self._server.host

    @property
    def port(self) -> int:
        """Its port (the one picked, after start)."""
        return self._server.port

    @property
    def base_url(self) -> str:
        """Where it serves (after start)."""
        return self._server.base_url

    @property
    def requests(self) -> int:
        """Requests received so far, faulted ones included (not the /_sim control requests)."""
        with self._count_lock:
            return self._received

    def start(self) -> str:
        """Serve in a background thread (port 0 picks a free port); returns the base URL once it accepts."""
        url = self._server.start()
        log.info("simulator.started", simulator=self.name, url=url)
        return url

    def stop(self) -> None:
        """Finish webhook deliveries under way, stop serving."""
        if self._webhooks is not None:
            self._webhooks.close()
        self._server.stop()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # Webhooks -------------------------------------------------------------------------------------------------

    def send_webhook(
        self, url: str, event_type: str, data: dict[str, Any], *, event_id: str | None = None
    ) -> WebhookDelivery:
        """Sign and POST one event to `url` now, retrying while it fails; the webhook fault switches apply."""
        return self._sender().send(url, event_type, data, event_id=event_id)

    def send_webhook_later(
        self,
        url: str,
        event_type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        delay: float = 0.0,
        created_at: datetime | None = None,
    ) -> Future[WebhookDelivery]:
        """As `send_webhook`, from a delivery thread after `delay` seconds: use it from a request handler.
        `created_at`: the event's instant (the moment of sending when None)."""
        return self._sender().send_later(url, event_type, data, event_id=event_id, delay=delay, created_at=created_at)

    def redeliver(self, delivery: WebhookDelivery, *, replay: bool = False) -> WebhookDelivery:
        """Send a delivered event again, freshly signed, or (`replay`) byte for byte as last sent."""
        return self._sender().redeliver(delivery, replay=replay)

    def _sender(self) -> WebhookSender:
        if self._webhooks is None:
            raise RuntimeError(f"the {self.name} simulator was made without a webhook_secret")
        return self._webhooks

    # Control endpoints ----------------------------------------------------------------------------------------

    def _count_request(self) -> None:
        with self._count_lock:
            self._received += 1

    async def _read_outbox(self, request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            return JSONResponse({"error": "bad_request", "detail": "since must be a sequence number"}, 400)
        records = [entry.as_json() for entry in self.outbox.records(kind, since=int(since))]
        body = json.dumps({"records": records, "last_seq": self.outbox.last_seq}, default=str)
        return Response(body, media_type="application/json")

    async def _clear_outbox(self, request: Request) -> Response:
        self.outbox.clear()
        return Response(status_code=204)

    async def _set_fault(self, request: Request) -> Response:
        """`{"switch": "fail_next", "args": {"n": 2, "status": 503}}` flips one of `fault_switches`."""
        try:
            command = json.loads(await request.body())
            switch, args = command["switch"], command.get("args", {})
            if switch not in self.fault_switches or not isinstance(args, dict):
                raise KeyError(switch)
            # Checked against the switch's annotations: a string where a count belongs is a 422 now, not a
            # TypeError in every later request.
            validate_call(getattr(self, switch))(**args)
        except (ValueError, KeyError, TypeError) as exc:
            detail = f"expected {{'switch': one of {list(self.fault_switches)}, 'args': {{...}}}}: {exc}"
            return JSONResponse({"error": "bad_request", "detail": detail}, status_code=422)
        return Response(status_code=204)

    async def _reset_faults(self, request: Request) -> Response:
        self.reset_faults()
        return Response(status_code=204)


class _Recorder:
    """ASGI middleware: counts and records each request in the outbox (with the status it got) and applies faults."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app, self.simulator = app, simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.simulator.control_paths):
            await self.app(scope, receive, send)
            return
        simulator = self.simulator
        simulator._count_request()
        decision = simulator.decide_fault(scope["path"])
        body = await _read_body(receive)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        # Recorded on arrival, so that what the handler records or sends comes after it; the status is filled in
        # before the answer leaves, so a client that got the answer finds it there.
        entry = simulator.outbox.record(
            REQUEST, **_request_facts(scope, body), status=None, fault=decision.fault, delay=decision.delay
        )

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                simulator.outbox.update(entry, status=message["status"])
            await send(message)

        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.fault is not None:
            await simulator.fault_response(decision)(scope, replay, recording_send)
        else:
            await self.app(scope, replay, recording_send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _request_facts(scope: Scope, body: bytes) -> dict[str, Any]:
    text: str | None
    try:
        text = body.decode()
    except UnicodeDecodeError:
        text = None  # a binary upload: its size is recorded, not its bytes
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return {
        "method": scope["method"],
        "path": scope["path"],
        "query": dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
        "headers": {k.decode("latin-1"): _shown(k, v.decode("latin-1")) for k, v in scope.get("headers", [])},
        "body": text,
        "json": parsed,
        "size": len(body),
    }


def _shown(name: bytes, value: str) -> str:
    """A header as the outbox keeps it: credentials cut to their scheme and last four characters."""
    if name.lower() not in (b"authorization", b"x-api-key", b"api-key"):
        return value
    scheme, _, secret = value.rpartition(" ")
    return f"{scheme} …{secret[-4:]}".strip() if len(secret) > 4 else f"{scheme} …".strip()


def serve_until_interrupted(simulator: Simulator, banner: Sequence[str] = ()) -> None:
    """Run a started simulator in the foreground until Ctrl-C or SIGTERM (the `python -m` entry points)."""
    for line in banner:
        print(line)
    signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's TERM stops it as cleanly as Ctrl-C
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        simulator.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
