"""Auditor replay of a loan (issue #15 item 9): a loan's state as of an instant at 1,000 events, target <= 20 ms.

One loan is driven through about 1,000 events the way a long-overdue loan gets them: a small payment every business
day and the close of business of every day (a `DayClosed` each overdue day, a `StatusMoved` now and then). Then the
auditor replay (`AuditReplay.state_as_of("loan", ...)`, what `GET /api/v1/audit/loan/{id}/state` runs) is timed as
of the latest instant (every event replayed, the servicing view computed on the business date of then) and as of
instants spread over the history. The verdict is the p95 of the latest-instant replays (the worst case). The
servicing commands keep a checkpoint of the loan's replayed position every 100 events (domain/loans/checkpoint.py),
as they do in production, each with the Loan's snapshot (domain/shared/snapshot.py): the as-of replay decodes the
snapshot taken by the instant and only the events after it. "cold" here clears the view cache, not the stored
checkpoints. Printed alongside, measured in the same run: the view without checkpoints (every fact replayed), and
the state as of the latest instant without snapshots (every event decoded and applied, as before them) - the
baseline of the ratio."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.checkpoint import position_of
from domain.loans.servicing_views import servicing_view
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say
from tests.benchmarks.servicing import D0, _Catalogue, _disburse
from workers.loan_audit import VIEWS
from workers.platform import Platform

TARGET_MS = 20.0
EVENTS = 1_000


def run(quick: bool) -> list[Verdict]:
    """Build a loan of ~1,000 events, then time its state as of instants."""
    repeats = 30 if quick else 100
    say(f"== Loan audit replay (one loan of ~{EVENTS:,} events: daily payments and COB days)")
    with fresh_database("cd_bench_loan_audit") as dsn:
        platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
        try:
            loans = platform.get(Loans)
            loans._catalogue = _Catalogue()
            identity = platform.get(Identity)
            brand = identity.create_brand("bench-audit", "Bench Audit Finance").id
            identity.change_configuration(brand, {"business_date": D0})
            customer = platform.get(Customers).register(
                brand, name="Meera Iyer", phone="9876500002", date_of_birth=date(1990, 1, 15),
                addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
            ).id  # fmt: skip
            loan_id = _disburse(loans, brand, customer, 0)
            identity.change_configuration(brand, {"business_date": D0 + timedelta(days=900)})  # payments back-dated
            began = time.perf_counter()
            version, day, n = loans.get(brand, loan_id).version, D0, 0
            instants: list[datetime] = []
            while version < EVENTS:
                day += timedelta(days=1)
                loans.record_repayment(brand, loan_id, "100.00", "upi", f"UTR-{n}", day)
                loans.close_business_day(brand, loan_id, day)
                version, n = loans.get(brand, loan_id).version, n + 1
                if n % 50 == 0:
                    instants.append(datetime.now(UTC))
            identity.change_configuration(brand, {"business_date": day + timedelta(days=1)})  # as COB leaves it
            say(f"   {version:,} events ({n} payments, COB through {day}) in {time.perf_counter() - began:.1f} s")
            audit = platform.audit
            latest = datetime.now(UTC)
            audit.state_as_of("loan", loan_id, brand, latest)  # warm: imports, connections
            worst: list[float] = []
            for _ in range(repeats):
                VIEWS.clear()  # cold: every figure computed again
                began = time.perf_counter()
                state = audit.state_as_of("loan", loan_id, brand, latest)
                worst.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            audit.state_as_of("loan", loan_id, brand, latest)
            warm = (time.perf_counter() - began) * 1000
            assert state["version"] == version and state["state"] is not None
            spread: list[float] = []
            for instant in instants * max(1, repeats // max(1, len(instants))):
                VIEWS.clear()
                began = time.perf_counter()
                audit.state_as_of("loan", loan_id, brand, instant)
                spread.append((time.perf_counter() - began) * 1000)
            p95 = percentile(worst, 0.95)
            snapshots, audit.snapshots = audit.snapshots, {}
            unsnapped: list[float] = []
            for _ in range(repeats):  # the baseline: every event decoded and applied
                VIEWS.clear()
                began = time.perf_counter()
                assert audit.state_as_of("loan", loan_id, brand, latest) == state
                unsnapped.append((time.perf_counter() - began) * 1000)
            audit.snapshots = snapshots
            # The parts: the events decoded and the Loan replayed (the generic replay), and the servicing arithmetic
            # (the same `servicing_view` GET /loans/{id} runs on the business date).
            loan = audit.aggregate_as_of("loan", loan_id, brand, latest)[1]
            generic: list[float] = []
            arithmetic: list[float] = []
            whole: list[float] = []
            for _ in range(repeats):
                began = time.perf_counter()
                audit.aggregate_as_of("loan", loan_id, brand, latest)
                generic.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                servicing_view(loan, day + timedelta(days=1), position_of(loan, loans.checkpoints))
                arithmetic.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                servicing_view(loan, day + timedelta(days=1))  # every fact replayed from the disbursal
                whole.append((time.perf_counter() - began) * 1000)
            with platform.db.pool.connection() as conn:
                kept = conn.execute("SELECT count(*) AS n, max(version) AS v FROM ops.loan_checkpoints "
                                    "WHERE loan_id = %s", (loan_id,)).fetchone()  # fmt: skip
            say(f"   of which: events decoded + Loan replayed p50 {percentile(generic, 0.5):.1f} ms; servicing view "
                f"from the newest of {kept['n'] if kept else 0} checkpoints (version {kept['v'] if kept else None}) "
                f"p50 {percentile(arithmetic, 0.5):.1f} ms, without checkpoints (as before) "
                f"{percentile(whole, 0.5):.1f} ms")  # fmt: skip
            say(f"   baseline, the same state without snapshots (every event decoded): p50 "
                f"{percentile(unsnapped, 0.5):.1f} ms, p95 {percentile(unsnapped, 0.95):.1f} ms; with them "
                f"{percentile(worst, 0.5) / percentile(unsnapped, 0.5):.2f} of it (p50)")  # fmt: skip
            say(f"   state as of the latest instant ({version:,} events): p50 {percentile(worst, 0.5):.1f} ms, "
                f"p95 {p95:.1f} ms; as of instants over the history: p50 {percentile(spread, 0.5):.1f} ms, "
                f"p95 {percentile(spread, 0.95):.1f} ms; again at the same instant (the view cached): {warm:.1f} ms")  # fmt: skip
        finally:
            platform.close()
    return [Verdict("loan_audit", f"a loan's state as of an instant at {version:,} events, p95", p95, TARGET_MS,
                    False, " ms")]  # fmt: skip
