"""The `borrower-notifications` job (issue #17 item 8): due-date reminders for N loans (100,000; `--quick` 10,000)
by SMS into the SMS simulator over HTTP (in a child process, so its server does not share our GIL), against raw
SMS client calls to the same simulator from as many threads (the baseline, measured in the same run); then a rerun,
which must send nothing and take at most 5 s.

The loans are loaded straight into the read models the job reads (`read.customers`, `read.engagement_loans`,
`read.engagement_dues`): one unpaid instalment each, due on the run's business date."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, date, datetime
from typing import Any

from adapters.providers.channels import ChannelClients
from adapters.providers.directory import ProviderDirectory
from api.services.engagement_delivery import PARALLEL
from domain.identity.application import Identity
from domain.jobs.application import Jobs
from domain.jobs.job import RunStatus
from domain.providers.calls import Caller
from tests.benchmarks.harness import Rate, Verdict, fresh_database, say
from tests.support import ROOT
from workers.platform import Platform
from workers.runtime import scheduler_for

FULL, QUICK = 100_000, 10_000
#: Raw calls of the baseline, half before and half after the job: enough for each half to span tens of seconds, so
#: a burst of the machine's load (which drifts minute to minute) weighs on it as little as on the job's minutes.
RAW_FULL, RAW_QUICK = 30_000, 6_000
AS_OF = date(2026, 3, 5)
TARGET_RATIO = 0.9
TARGET_RERUN_SECONDS = 5.0
_OFF = {"due_7": [], "due_3": [], "due_1": [], "overdue": [], "disbursed": [], "paid": []}


def serve_sms() -> None:
    """Child process: an SMS simulator (no receipts); prints its URL, answers each stdin line with its request count."""
    from adapters.simulators.sms import SmsSimulator

    simulator = SmsSimulator()
    print(simulator.start(), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "stop":
                return
            print(simulator.requests, flush=True)
    finally:
        simulator.stop()


class SmsProcess:
    """The SMS simulator in a child process."""

    def __init__(self) -> None:
        code = "from tests.benchmarks.engagement import serve_sms; serve_sms()"
        self.process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)  # fmt: skip
        self.url = self._answer(lambda line: line.startswith("http"))

    def _answer(self, wanted: Any = str.isdigit) -> str:
        """The next line of the child's output that is an answer (its log lines go to the same stream)."""
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the SMS simulator process ended (exit status {self.process.wait()})")
            if wanted(line.strip()):
                return line.strip()

    def requests(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self._answer())

    def stop(self) -> None:
        assert self.process.stdin is not None
        with suppress(OSError):
            self.process.stdin.write("stop\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def daytime_zone() -> str:
    """A fixed-offset timezone where it is now between 10:00 and 18:59 (outside quiet hours)."""
    hour = datetime.now(UTC).hour
    for offset in range(-12, 15):
        if 10 <= (hour + offset) % 24 <= 18:
            return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    return "UTC"


def load(platform: Platform, brand_id: uuid.UUID, total: int) -> None:
    """`total` borrowers, each with a serviced loan whose instalment 1 falls due on AS_OF, unpaid."""
    now = datetime.now(UTC)
    with platform.db.pool.connection() as conn:
        conn.execute(
            "INSERT INTO read.customers (id, brand_id, name, name_key, phone, version, created_at, updated_at) "
            "SELECT md5('c' || i)::uuid, %s, 'Borrower ' || i, 'borrower ' || i, '+91' || (7000000001 + i * 10), 1, "
            "%s, %s FROM generate_series(1, %s) AS i",
            (brand_id, now, now, total),
        )
        conn.execute(
            "INSERT INTO read.engagement_loans (loan_id, brand_id, customer_id, loan_number, amount, status, "
            "disbursed_on) SELECT md5('l' || i)::uuid, %s, md5('c' || i)::uuid, 'BENCH-L-' || lpad(i::text, 7, '0'), "
            "50000, 'active', %s FROM generate_series(1, %s) AS i",
            (brand_id, date(2026, 2, 5), total),
        )
        conn.execute(
            "INSERT INTO read.engagement_dues (loan_id, no, brand_id, due_date, amount, through) "
            "SELECT md5('l' || i)::uuid, 1, %s, %s, 4716.25, 4716.25 FROM generate_series(1, %s) AS i",
            (brand_id, AS_OF, total),
        )
        conn.execute("ANALYZE read.customers")
        conn.execute("ANALYZE read.engagement_loans")
        conn.execute("ANALYZE read.engagement_dues")


def raw_calls(platform: Platform, brand_id: uuid.UUID, count: int, first: int = 0) -> Rate:
    """`count` SMS client calls to the simulator from PARALLEL threads (what the job's sending is measured against)."""
    clients = ChannelClients(platform.get(ProviderDirectory))
    text = "Dear Borrower 1, your instalment of ₹4,716.25 on loan BENCH-L-0000001 is due today. Pay: x - Bench"

    def one(i: int) -> None:
        clients.send("sms", None, to=f"+91{8000000001 + i * 10}", text=text, sender="BENCH", reference=f"raw-{i}",
                     callback_url=None, caller=Caller(brand_id))  # fmt: skip

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(one, range(first, first + count)))
    return Rate(count, time.perf_counter() - began)


def execute(platform: Platform, brand_id: uuid.UUID) -> float:
    """Request and execute one run as the scheduler does; its seconds."""
    requested = platform.get(Jobs).request_run(brand_id, "borrower-notifications", trigger="manual",
                                               requested_by="bench", as_of=AS_OF)  # fmt: skip
    began = time.perf_counter()
    scheduler_for(platform).execute(requested.id)
    seconds = time.perf_counter() - began
    run: Any = platform.get(Jobs).run(brand_id, requested.id)
    if run.status is not RunStatus.SUCCEEDED:
        raise AssertionError(f"borrower-notifications ended {run.status.value}: {getattr(run, 'error', None)}")
    return seconds


def run(quick: bool) -> list[Verdict]:
    total, raw = (QUICK, RAW_QUICK) if quick else (FULL, RAW_FULL)
    say(f"== Borrower notifications: {total:,} due-date SMS into the SMS simulator (child process), vs raw calls")
    sms = SmsProcess()
    try:
        with fresh_database("cd_bench_engage") as dsn:
            platform = Platform.open(dsn)
            try:
                platform.get(ProviderDirectory).configure_url("sms", sms.url)
                identity = platform.get(Identity)
                brand_id = identity.create_brand("bench-engage", "Bench Engagement Finance").id
                identity.change_configuration(brand_id, {"business_date": AS_OF, "timezone": daytime_zone(),
                                                         "notification_channels": {**_OFF, "due_0": ["sms"]}})  # fmt: skip
                began = time.perf_counter()
                load(platform, brand_id, total)
                say(f"  loaded {total:,} loans in {time.perf_counter() - began:.1f} s")
                # As the worker runs jobs: its projections follow the store (the run history the scheduler waits
                # for after a run, up to 2 s, is kept current by them).
                platform.start_projection_runners()
                # The baseline is measured half before and half after the job (the machine's load drifts).
                before_half = raw_calls(platform, brand_id, raw // 2)
                before = sms.requests()
                seconds = execute(platform, brand_id)
                sent = sms.requests() - before
                with platform.db.pool.connection() as conn:
                    row = conn.execute("SELECT count(*) AS n FROM ops.messages WHERE status = 'sent'").fetchone()
                # A request the client retried (a timeout, a dropped connection) reaches the simulator twice; the
                # provider deduplicates its reference, so the borrower still gets one message.
                if row["n"] != total or sent < total:
                    raise AssertionError(
                        f"expected {total} messages sent, the table has {row['n']}, the provider {sent} requests"
                    )
                if sent > total:
                    say(f"  {sent - total} provider requests retried by the client (same reference: one message)")
                job = Rate(total, seconds)
                after_half = raw_calls(platform, brand_id, raw - raw // 2, first=raw // 2)
                baseline = before_half + after_half
                say(
                    f"  raw SMS client calls: {baseline.per_second:,.0f}/s ({raw:,} calls, {PARALLEL} threads; "
                    f"{before_half.per_second:,.0f}/s before the job, {after_half.per_second:,.0f}/s after)"
                )
                say(f"  job: {job.per_second:,.0f} messages/s ({seconds:.1f} s)")
                before = sms.requests()
                rerun = execute(platform, brand_id)
                resent = sms.requests() - before
                say(f"  rerun: {rerun:.2f} s, {resent} provider calls")
                if resent:
                    raise AssertionError(f"the rerun sent {resent} messages")
            finally:
                platform.close()
    finally:
        sms.stop()
    return [
        Verdict(
            "engagement", "due-date job over raw SMS calls", job.per_second / baseline.per_second, TARGET_RATIO, True
        ),
        Verdict("engagement", "rerun that sends nothing", rerun, TARGET_RERUN_SECONDS, False, " s"),
    ]
