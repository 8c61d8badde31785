"""`covenant-desk serve` stopped by a signal ends its embedded PostgreSQL when it is the server's last user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from croniter import croniter

from domain.shared.clock import DEFAULT_TIMEZONE
from tests.e2e.blackbox import ok, staff_session
from tests.e2e.conftest import _free_port
from tests.support import ROOT
from workers.contexts import CONTEXTS
from workers.demo_softmedia import DEMO_SCHEDULE
from workers.seed import DEMO_EMAIL, DEMO_PASSWORD


class Serve:
    """A real `covenant-desk serve` process on a data directory of the test's own."""

    def __init__(self, var: Path, *args: str) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        env.update(COVENANT_DESK_VAR=str(var), LOG_LEVEL="WARNING")
        self.log = (var.parent / f"serve-{self.port}.log").open("w")
        #: An instant before the app (and so its scheduler) started: the last look at the log before serve said so.
        self.before_start = datetime.now(UTC)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "serve", "--port", str(self.port), *args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def caught_up(self) -> bool:
        """Every read model at its source's head (the seed's writes all applied)."""
        health = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).json()
        return all(p["lag"] == 0 for p in health["projections"])

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            looked = datetime.now(UTC)
            if "is starting on" not in Path(self.log.name).read_text():
                self.before_start = looked
            assert self.process.poll() is None, Path(self.log.name).read_text()
            assert time.monotonic() < deadline, "serve did not become healthy"
            time.sleep(0.2)

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.log.close()


def _postmaster(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose but its exit status; psutil-free check through /proc.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


def _wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for both tests: the second starts on what the first stopped (it must be reusable)."""
    return tmp_path_factory.mktemp("serve") / "var"


def test_sigterm_ends_the_embedded_postgres_when_its_last_user_goes(var: Path) -> None:
    pgdata = var / "pgdata"
    first, second = Serve(var), Serve(var)  # Both start on the directory: one server, two users.
    first.wait_healthy()
    second.wait_healthy()
    postmaster = _postmaster(pgdata)
    # A user that died without cleaning up (SIGKILL) must not keep the server alive for ever.
    dead = subprocess.Popen(["true"])
    dead.wait()
    users = pgdata / ".handle_pids.json"
    users.write_text(json.dumps([*json.loads(users.read_text()), dead.pid]))

    assert first.stop(signal.SIGTERM) == 0
    assert _running(postmaster) and second.healthy(), "the server stopped while another process still used it"

    assert second.stop(signal.SIGTERM) == 0
    assert _wait_gone(postmaster), "the embedded PostgreSQL outlived its last user"
    assert not (pgdata / "postmaster.pid").exists()


def test_sigint_ends_the_embedded_postgres_on_a_reused_data_directory(var: Path) -> None:
    pgdata = var / "pgdata"
    serve = Serve(var)  # After the SIGTERM test, on the directory it left: it must be free to start on.
    serve.wait_healthy()
    postmaster = _postmaster(pgdata)
    assert serve.stop(signal.SIGINT) == 0
    assert _wait_gone(postmaster), "the embedded PostgreSQL outlived Ctrl-C"
    assert not (pgdata / "postmaster.pid").exists()


def _wake_ups_and_cpu(pid: int) -> tuple[int, float]:
    """Context switches of every thread of a process so far, and its CPU seconds."""
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(FileNotFoundError):  # a thread that ended meanwhile
            lines = (task / "status").read_text().splitlines()
            switches += sum(int(line.split()[1]) for line in lines if "ctxt_switches:" in line)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return switches, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Seconds the idle serve is measured over.
WINDOW = 10
#: Seconds a scheduled job of the demo may take (its brand's few records) after its cron slot.
SLOT_WORK = 90
#: The demo's schedules that fire at least every minute: part of what an idle serve does.
EVERY_MINUTE = "* * * * *"


def _demo_crons() -> set[str]:
    """The demo's schedules as `serve --seed` starts with them (its jobs' defaults and its notice sources'), but the
    every-minute ones."""
    crons = {job.definition.defaults.cron for context in CONTEXTS for job in context.jobs} | {DEMO_SCHEDULE}
    return {cron for cron in crons if cron and cron != EVERY_MINUTE}


def _reschedule_the_demo_away(base: str) -> str:
    """Move every schedule of the demo brand but the every-minute ones to one daily slot twelve hours on (its
    business day's timezone), through the API as an admin would: no scheduled work of theirs comes in the minutes
    this test measures, so it need not wait, as it did, for a gap between the demo's slots (every five or ten
    minutes, each followed by `SLOT_WORK` seconds: a wait of up to 100 s). The every-minute ones keep firing in
    the window. Returns the new schedule."""
    later = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)) + timedelta(hours=12)
    daily = f"{later.minute} {later.hour} * * *"
    admin = staff_session(base, DEMO_EMAIL, DEMO_PASSWORD)
    try:
        for job in ok(admin.get("/api/v1/jobs"))["items"]:
            if job["settings"]["cron"] not in (None, EVERY_MINUTE):
                ok(admin.patch(f"/api/v1/jobs/{job['name']}", json={"cron": daily}))
        sources = ok(admin.get("/api/v1/notice-sources"))["items"]
        assert sources, "the demo has notice sources"
        for source in sources:
            ok(admin.patch(f"/api/v1/notice-sources/{source['id']}", json={"schedule": daily}))
        left = {job["settings"]["cron"] for job in ok(admin.get("/api/v1/jobs"))["items"]} - {None, EVERY_MINUTE}
        left |= {source["schedule"] for source in ok(admin.get("/api/v1/notice-sources"))["items"]}
    finally:
        admin.close()
    assert left == {daily}, left
    return daily


def _sleep_past_work_of_slots_between(started: datetime, rescheduled: datetime) -> None:
    """A slot of the demo's own schedules between the scheduler's start (it starts them then, firing no earlier
    slot) and their move away may have fired: wait `SLOT_WORK` seconds after the last one. Seldom any (the second
    or two from the app's start to the move)."""
    zone = ZoneInfo(DEFAULT_TIMEZONE)
    slots = [croniter(cron, rescheduled.astimezone(zone)).get_prev(datetime) for cron in _demo_crons()]
    fired = [slot for slot in slots if slot > started]
    if fired:
        time.sleep(max(0.0, (max(fired) + timedelta(seconds=SLOT_WORK) - datetime.now(UTC)).total_seconds()))


def test_an_idle_serve_with_the_demo_sleeps(tmp_path: Path) -> None:
    """`make run` (serve --seed: the API, 50 read models' runners, the scheduler and workers, the demo's fourteen
    simulators and mail sink) left alone wakes a few dozen times a second and uses well under a percent of a CPU.
    Before: ~650 wake-ups a second and 4 % (psycopg polling each runner's LISTEN ten times a second, uvicorn's
    tick every 0.1 s in each of fourteen servers, every projection locked and read every ten seconds)."""
    serve = Serve(tmp_path / "var", "--seed")
    try:
        serve.wait_healthy(timeout=180)
        daily = _reschedule_the_demo_away(f"http://127.0.0.1:{serve.port}")
        _sleep_past_work_of_slots_between(serve.before_start, datetime.now(UTC))
        deadline = time.monotonic() + 120
        while not serve.caught_up():
            assert time.monotonic() < deadline, "the seed's events were not all applied"
            time.sleep(0.5)
        time.sleep(12)  # past the runners' first idle re-checks and the scheduler's first passes
        # No slot but the every-minute ones from the last pass before the window to its end.
        now = datetime.now(ZoneInfo(DEFAULT_TIMEZONE))
        assert croniter(daily, now).get_next(datetime) > now + timedelta(hours=1)
        switches, cpu = _wake_ups_and_cpu(serve.process.pid)
        began = time.monotonic()
        time.sleep(WINDOW)
        seconds = time.monotonic() - began
        after_switches, after_cpu = _wake_ups_and_cpu(serve.process.pid)
        wake_ups, share = (after_switches - switches) / seconds, (after_cpu - cpu) / seconds
        assert wake_ups < 150, f"an idle serve woke {wake_ups:.0f} times a second ({share:.1%} of a CPU)"
        assert share < 0.03, f"an idle serve used {share:.1%} of a CPU ({wake_ups:.0f} wake-ups a second)"
    finally:
        assert serve.stop(signal.SIGTERM) == 0
