"""Fault switches every simulator has: errors, rate limits, latency and bad bodies on requests; faulty webhooks.

A switch set from a test (or over HTTP at /_sim/faults) applies to the next requests (or webhooks) until it is
used up or reset; `path` limits a request fault to paths starting with it. Faults are decided before the
simulator's own handler runs, as a gateway in front of a provider would answer.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, TypeVar

from domain.shared.clock import Clock

GATEWAY_PAGE = b"<html><body>502 Bad Gateway</body></html>"

V = TypeVar("V")


@dataclass(frozen=True)
class FaultDecision:
    """What a request meets: a delay, then either the handler (fault None) or a canned answer."""

    delay: float = 0.0
    fault: str | None = None  # "rate_limited", "failed", "bad_body"
    status: int = 200
    retry_after: int | None = None
    body: bytes = b""


@dataclass(frozen=True)
class WebhookFaults:
    """What the next webhook event meets: dropped, sent twice, signed in the past, or altered after signing."""

    drop: bool = False
    duplicate: bool = False
    stale_by: float = 0.0
    tamper: bool = False


@dataclass
class _Bucket:
    """A token bucket: `rate` requests a second on average, bursts up to `burst`."""

    rate: float
    burst: float
    tokens: float
    at: datetime

    def take(self, now: datetime) -> int | None:
        """None when a token was available, else the whole seconds until one is (for Retry-After)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, (now - self.at).total_seconds()) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return max(1, math.ceil((1 - self.tokens) / self.rate))


@dataclass
class _State:
    failing: dict[str | None, tuple[int, int]] = field(default_factory=dict)  # path -> (left, status)
    rate_limited: dict[str | None, tuple[int, int]] = field(default_factory=dict)  # path -> (left, retry_after)
    bad_bodies: dict[str | None, tuple[int, bytes, int]] = field(default_factory=dict)  # (left, body, status)
    latency: dict[str | None, tuple[float, int | None]] = field(default_factory=dict)  # (seconds, left or None)
    buckets: dict[str | None, _Bucket] = field(default_factory=dict)
    error_rates: dict[str | None, tuple[float, int, random.Random]] = field(default_factory=dict)
    webhook_drops: int = 0
    webhook_duplicates: int = 0
    webhook_stale: tuple[int, float] = (0, 0.0)
    webhook_tampers: int = 0


class FaultSwitches:
    """The fault controls of a simulator (mixed into `Simulator`); safe to flip while it serves."""

    # The switches /_sim/faults may call by name; a simulator adds its own (Softmedia: fail_at_page, ...).
    fault_switches: ClassVar[tuple[str, ...]] = (
        "fail_next",
        "rate_limit_next",
        "bad_body_next",
        "add_latency",
        "limit_rate",
        "error_rate",
        "drop_next_webhooks",
        "duplicate_next_webhooks",
        "stale_next_webhooks",
        "tamper_next_webhooks",
    )

    def __init__(self, clock: Clock) -> None:
        self._fault_lock = threading.Lock()
        self._fault_clock = clock
        self._faults = _State()

    # Requests -------------------------------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 503, *, path: str | None = None) -> None:
        """Answer the next `n` requests with `status` (before the simulator's own checks, as a gateway does)."""
        with self._fault_lock:
            self._faults.failing[path] = (n, status)

    def rate_limit_next(self, n: int, retry_after: int = 1, *, path: str | None = None) -> None:
        """Answer the next `n` requests with 429 and `Retry-After: retry_after`."""
        with self._fault_lock:
            self._faults.rate_limited[path] = (n, retry_after)

    def bad_body_next(
        self, n: int, body: bytes | str = GATEWAY_PAGE, *, status: int = 200, path: str | None = None
    ) -> None:
        """Answer the next `n` requests with `status` and `body` (not JSON by default), as a misbehaving proxy does."""
        with self._fault_lock:
            self._faults.bad_bodies[path] = (n, body.encode() if isinstance(body, str) else body, status)

    def add_latency(self, seconds: float, times: int | None = None, *, path: str | None = None) -> None:
        """Delay each request by `seconds` (only the next `times` when given; 0 switches it off)."""
        with self._fault_lock:
            if seconds > 0 and (times is None or times > 0):
                self._faults.latency[path] = (seconds, times)
            else:
                self._faults.latency.pop(path, None)

    def limit_rate(self, per_second: float, burst: int | None = None, *, path: str | None = None) -> None:
        """Allow `per_second` requests a second (bursts of `burst`), answering 429 with Retry-After beyond; 0 = off."""
        with self._fault_lock:
            if per_second <= 0:
                self._faults.buckets.pop(path, None)
                return
            size = float(burst if burst is not None else max(1, math.ceil(per_second)))
            self._faults.buckets[path] = _Bucket(per_second, size, size, self._fault_clock.now())

    def error_rate(self, share: float, status: int = 503, *, seed: int = 0, path: str | None = None) -> None:
        """Answer a random `share` (0..1) of requests with `status`, the same ones for the same `seed`; 0 = off."""
        if not 0 <= share <= 1:
            raise ValueError("share must be between 0 and 1")
        with self._fault_lock:
            if share == 0:
                self._faults.error_rates.pop(path, None)
            else:
                self._faults.error_rates[path] = (share, status, random.Random(seed))

    # Webhooks -------------------------------------------------------------------------------------------------

    def drop_next_webhooks(self, n: int = 1) -> None:
        """Never send the next `n` webhook events (recorded in the outbox as dropped): a lost notification."""
        with self._fault_lock:
            self._faults.webhook_drops = n

    def duplicate_next_webhooks(self, n: int = 1) -> None:
        """Deliver each of the next `n` webhook events twice (the copy freshly signed, as a provider's redelivery)."""
        with self._fault_lock:
            self._faults.webhook_duplicates = n

    def stale_next_webhooks(self, n: int = 1, seconds: float = 3600.0) -> None:
        """Sign the next `n` webhook events with a timestamp `seconds` in the past (a delayed or replayed delivery)."""
        with self._fault_lock:
            self._faults.webhook_stale = (n, seconds)

    def tamper_next_webhooks(self, n: int = 1) -> None:
        """Alter the body of the next `n` webhook events after signing them (what a forger or a broken proxy sends)."""
        with self._fault_lock:
            self._faults.webhook_tampers = n

    def reset_faults(self) -> None:
        """Switch every fault off."""
        with self._fault_lock:
            self._faults = _State()

    # Used by the simulator ------------------------------------------------------------------------------------

    def decide_fault(self, path: str) -> FaultDecision:
        """Use up the switches that apply to a request for `path` and say what it meets."""
        with self._fault_lock:
            state = self._faults
            delay = 0.0
            for key, (seconds, left) in list(state.latency.items()):
                if _applies(key, path):
                    delay = max(delay, seconds)
                    if left is not None:
                        _count_down(state.latency, key, (seconds, left - 1), left - 1)
            for key, (left, retry_after) in list(state.rate_limited.items()):
                if left > 0 and _applies(key, path):
                    _count_down(state.rate_limited, key, (left - 1, retry_after), left - 1)
                    return FaultDecision(delay, "rate_limited", 429, retry_after)
            now = self._fault_clock.now()
            for key, bucket in state.buckets.items():
                if _applies(key, path) and (wait := bucket.take(now)) is not None:
                    return FaultDecision(delay, "rate_limited", 429, wait)
            for key, (left, status) in list(state.failing.items()):
                if left > 0 and _applies(key, path):
                    _count_down(state.failing, key, (left - 1, status), left - 1)
                    return FaultDecision(delay, "failed", status)
            for key, (share, status, rng) in state.error_rates.items():
                if _applies(key, path) and rng.random() < share:
                    return FaultDecision(delay, "failed", status)
            for key, (left, body, status) in list(state.bad_bodies.items()):
                if left > 0 and _applies(key, path):
                    _count_down(state.bad_bodies, key, (left - 1, body, status), left - 1)
                    return FaultDecision(delay, "bad_body", status, body=body)
            return FaultDecision(delay)

    def decide_webhook_faults(self) -> WebhookFaults:
        """Use up the webhook switches for one event."""
        with self._fault_lock:
            state = self._faults
            if state.webhook_drops > 0:
                state.webhook_drops -= 1
                return WebhookFaults(drop=True)
            duplicate = state.webhook_duplicates > 0
            state.webhook_duplicates -= duplicate
            stale_left, stale_by = state.webhook_stale
            if stale_left > 0:
                state.webhook_stale = (stale_left - 1, stale_by)
            tamper = state.webhook_tampers > 0
            state.webhook_tampers -= tamper
            return WebhookFaults(duplicate=duplicate, stale_by=stale_by if stale_left > 0 else 0.0, tamper=tamper)


def _applies(key: str | None, path: str) -> bool:
    return key is None or path.startswith(key)


def _count_down(table: dict[str | None, V], key: str | None, value: V, left: int) -> None:
    if left > 0:
        table[key] = value
    else:
        del table[key]
