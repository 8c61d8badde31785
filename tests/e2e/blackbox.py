"""Helpers the black-box walks share (`test_*_blackbox.py`): they speak HTTP only, so this module imports nothing of
the product (a walk also runs standalone against a live server: `python -m tests.e2e.test_..._blackbox URL keys`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

API = "/api/v1"
Headers = dict[str, str]

#: Local hours of the day (brand time) outside and inside the quiet hours (21:00-08:00) of SMS and WhatsApp.
DAY, NIGHT = set(range(10, 19)), {22, 23, 0, 1, 2, 3, 4, 5}


def ok(answer: httpx.Response, status: int = 200) -> Any:
    """The answer's JSON, once its status is `status` (else an assertion naming the request and the answer)."""
    assert answer.status_code == status, (answer.request.method, str(answer.request.url), answer.status_code, answer.text[:600])  # fmt: skip
    return answer.json()


def written(http: httpx.Client, answer: httpx.Response, headers: Headers, status: int = 201) -> Any:
    """A command's resource: its JSON when answered with `status`, or - when the API answered 202 because the read
    model was still behind after its bound (a busy machine) - the resource read at its Location once it is there."""
    if answer.status_code != 202:
        return ok(answer, status)
    location = answer.headers["Location"]
    found = eventually(lambda: (got := http.get(location, headers=headers)).status_code == 200 and got, location)
    return found.json()


def eventually(probe: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    """`probe()`'s first truthy value within `seconds`; an assertion naming `what` when there is none."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.05)  # a probe is one GET; 0.2 s lost ~0.1 s a wait (22 waits in the walks)
    raise AssertionError(f"timed out waiting for {what}")


#: How long a walk waits for a signed loan to reach `awaiting_disbursal`. The e-sign webhook queues it at once when
#: the verification read model already shows the borrower's account verified; when that model is still behind (a
#: busy machine), the agreement worker looks again after 5 s, 10 s, ... up to a minute (docs/loans.md, "Agreement
#: and e-sign"), so the product's bound is about a minute, not the 30 s of `poll` (a clean-clone run timed out so).
QUEUED_SECONDS = 90.0


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30) -> Any:
    """`fetch()` until `done` holds of its value or `timeout` seconds pass; the last value (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _plain(prefix: str, length: int, last: str = "") -> str:
    """A random number of `length` digits from `prefix` to `last` whose last four digits are not one digit four times:
    the simulators treat such endings specially (the penny drop fails 0000-3333 and names another holder at 4444 and
    5555, payouts fail 0000, the dialer and the aggregator refuse 1111-3333, receipts miss 9999)."""
    free = length - len(prefix) - len(last)
    while True:
        number = f"{prefix}{uuid.uuid4().int % 10**free:0{free}d}{last}"
        if len(set(number[-4:])) > 1:
            return number


def phone(last: str = "7") -> str:
    """A random ten-digit Indian mobile number ending in `last` (each walk its own digit)."""
    return _plain("9", 10, last)


def bank_account_number(prefix: str = "6020") -> str:
    """A random fourteen-digit bank account number starting with `prefix` (a CI run drew one ending 0000-4444, and the
    penny drop did not verify it: its loan never reached the disbursal queue)."""
    return _plain(prefix, 14)


def zone_at(hours: set[int]) -> str:
    """A fixed-offset timezone whose local hour now is one of `hours`."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        if (now.hour + offset) % 24 in hours:
            return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    raise AssertionError(f"no zone has an hour in {hours}")


def staff_session(base: str, email: str, password: str) -> httpx.Client:
    """A staff member signed in through the portal's login: the cookie and the CSRF header on every request."""
    browser = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    assert browser.post("/login", data={"email": email, "password": password}).status_code == 303
    token = browser.get("/dashboard").text.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    browser.headers["X-CSRF-Token"] = token
    return browser
