"""The covenant job benchmarks' book, built as aggregates and written in big saves (borrowers, then covenants on
their loans, for the evaluation job; covenants with their records already open, for the notification job), and
what both jobs' runs share: read models caught up, a run requested and executed as the scheduler does it. See
tests/benchmarks/covenant_jobs.py."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.covenants.application import Covenants
from domain.covenants.covenant import Covenant
from domain.covenants.schedule import DEFAULT_LEAD_DAYS, Calendar, Frequency, add_months
from domain.covenants.terms import CovenantType, Operator, Terms
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.jobs.application import Jobs
from domain.jobs.job import JobRun, RunStatus
from domain.shared.aggregate import Aggregate
from projections.runner import ProjectionRunner
from tests.benchmarks.data import Borrower, BorrowerFactory
from tests.benchmarks.harness import Rate
from workers.platform import Platform
from workers.runtime import scheduler_for

AS_OF = date(2024, 6, 20)
SAVE_SIZE = 2_000  # aggregates per save() while loading
CATCH_UP_BATCH = 5_000  # notifications per projection transaction while catching up
COVENANTS_PER_BORROWER = 10

_FINANCIAL = (
    ("Debt service coverage", "DSCR", Operator.GE, Decimal("1.25")),
    ("Current ratio", "Current ratio", Operator.GE, Decimal("1.10")),
    ("Leverage", "Debt/EBITDA", Operator.LE, Decimal("3.50")),
    ("Tangible net worth", "TNW (INR crore)", Operator.GE, Decimal("25")),
    ("Interest coverage", "ICR", Operator.GT, Decimal("2.0")),
)
_DOCUMENTS = (
    "Monthly stock statement",
    "Audited financial statements",
    "Insurance renewal certificate",
    "Quarterly unaudited results",
    "Book debts statement",
)
_OTHER = ("No change in management control", "Maintain current account with lender", "Promoter holding >= 51%")
_FREQUENCIES = (
    (Frequency.MONTHLY, 0.35),
    (Frequency.QUARTERLY, 0.35),
    (Frequency.HALF_YEARLY, 0.1),
    (Frequency.ANNUAL, 0.15),
    (Frequency.ONE_TIME, 0.05),
)


@dataclass(frozen=True)
class Book:
    """What was loaded for a benchmark."""

    borrowers: int
    covenants: int
    records: int  # evaluation records already open
    groups: int  # (borrower, application, due date) groups of those records
    covenant_saves: Rate  # building and saving the covenants alone
    seconds: float


class CovenantMaker:
    """Builds realistic covenants (type, terms, frequency, grace days) on chosen calendars."""

    def __init__(self, brand_id: UUID, seed: int) -> None:
        self.brand_id = brand_id
        self.rng = random.Random(seed)

    def frequency(self) -> Frequency:
        """A frequency, in the mix lenders use."""
        roll, total = self.rng.random(), 0.0
        for frequency, weight in _FREQUENCIES:
            total += weight
            if roll < total:
                return frequency
        return Frequency.MONTHLY

    def terms(self) -> tuple[str, Terms]:
        """A title and its terms: a financial test, a document to deliver, or something else."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            title, metric, operator, threshold = rng.choice(_FINANCIAL)
            return title, Terms(type=CovenantType.FINANCIAL, metric=metric, operator=operator, threshold=threshold)
        if roll < 0.85:
            document = rng.choice(_DOCUMENTS)
            return document, Terms(type=CovenantType.DOCUMENT, document=document)
        description = rng.choice(_OTHER)
        return description, Terms(type=CovenantType.OTHER, description=description)

    def covenant(
        self, customer_id: UUID, application_ref: str, frequency: Frequency, first_due: date, lead_days: int
    ) -> Covenant:
        """A covenant on the loan whose first cycle falls due on `first_due`, started before AS_OF."""
        rng = self.rng
        title, terms = self.terms()
        months = 1 if frequency is Frequency.ONE_TIME else 12 * rng.randint(1, 5)
        calendar = Calendar(
            frequency=frequency,
            start_date=AS_OF - timedelta(days=rng.randint(lead_days + 1, 400)),
            first_due_date=first_due,
            expiry_date=add_months(first_due, months),
            grace_days=rng.choice((0, 3, 5, 7, 15)),
            lead_days=lead_days,
        )
        return Covenant(
            brand_id=self.brand_id,
            customer_id=customer_id,
            application_ref=application_ref,
            title=title,
            terms=terms,
            calendar=calendar,
            assignee_id=None,
            company=None,
        )


def _save_in_chunks(app: Any, aggregates: Iterator[Aggregate], size: int = SAVE_SIZE) -> int:
    """Save aggregates in big saves; returns how many were saved."""
    chunk: list[Aggregate] = []
    saved = 0
    for aggregate in aggregates:
        chunk.append(aggregate)
        if len(chunk) >= size:
            app.save(*chunk)
            saved += len(chunk)
            chunk = []
    if chunk:
        app.save(*chunk)
        saved += len(chunk)
    return saved


def _save_borrowers(
    platform: Platform, brand_id: UUID, count: int, seed: int, all_email: bool
) -> list[tuple[UUID, Borrower]]:
    """Save `count` CustomerRecords and return (id, borrower) pairs; no uniqueness index aggregates (unique by make)."""
    borrowers = list(BorrowerFactory(seed=seed).borrowers(count))
    records: list[tuple[UUID, Borrower]] = []

    def made() -> Iterator[CustomerRecord]:
        for serial, b in enumerate(borrowers):
            email = b.email or (f"{b.name.split()[0].lower()}.{serial}@example.in" if all_email else None)
            record = CustomerRecord(
                brand_id=brand_id,
                name=b.name,
                phone=b.phone,
                addresses=[Address(line1="12 MG Road", city=b.city, state=b.state, pincode=b.pincode)],
                loan_numbers=list(b.loan_numbers),
                email=email,
                pan=b.pan,
            )
            records.append((record.id, b))
            yield record

    _save_in_chunks(platform.get(Customers), made())
    return records


def catch_up_projections(platform: Platform, names: set[str]) -> int:
    """Bring the named projections up to their event stores' heads; returns notifications covered."""
    covered = 0
    with platform.db.pool.connection() as conn:
        for name in sorted(names):
            projection = platform.engine.projection(name)
            while done := platform.engine.process_batch(conn, projection, limit=CATCH_UP_BATCH):
                covered += done
    return covered


def projections(platform: Platform, sources: set[str]) -> set[str]:
    """Names of every projection of the source applications."""
    return {name for name, p in platform.engine.projections.items() if p.source in sources}


def analyze(platform: Platform) -> None:
    """Fresh statistics after a bulk load, as autovacuum would soon have them."""
    with platform.db.pool.connection() as conn:
        conn.execute("ANALYZE")


def stop(runners: list[ProjectionRunner]) -> None:
    for runner in runners:
        runner.stop()
    for runner in runners:
        runner.join(timeout=5)


def execute(platform: Platform, brand_id: UUID, job: str) -> tuple[JobRun, float]:
    """Request a manual run for AS_OF and execute it as the scheduler does; returns the finished run and seconds."""
    # The book is dated AS_OF: the brand operates as of that day, so its runs may be dated then.
    platform.get(Identity).change_configuration(brand_id, {"business_date": AS_OF})
    requested = platform.get(Jobs).request_run(brand_id, job, trigger="manual", requested_by="bench", as_of=AS_OF)
    began = time.perf_counter()
    scheduler_for(platform).execute(requested.id)
    seconds = time.perf_counter() - began
    run = platform.get(Jobs).run(brand_id, requested.id)
    if run.status is not RunStatus.SUCCEEDED:
        raise AssertionError(f"{job} run ended {run.status.value}: {getattr(run, 'error', None)}")
    return run, seconds


def load_evaluation_book(platform: Platform, brand_id: UUID, total: int) -> Book:
    """Borrowers, then `total` covenants on their loans, each due for exactly one cycle on AS_OF."""
    began = time.perf_counter()
    owners = _save_borrowers(platform, brand_id, max(total // COVENANTS_PER_BORROWER, 1), seed=4, all_email=False)
    maker = CovenantMaker(brand_id, seed=5)

    def covenants() -> Iterator[Covenant]:
        made = 0
        while True:  # Round the book again if the borrowers' loans run out before `total`.
            for customer_id, borrower in owners:
                for loan in borrower.loan_numbers:
                    for _ in range(maker.rng.randint(5, 11)):
                        frequency = maker.frequency()
                        lead = DEFAULT_LEAD_DAYS[frequency]
                        # Reminder date on or before AS_OF and the next cycle's well after: one record each.
                        first_due = AS_OF + timedelta(days=maker.rng.randint(0, lead))
                        yield maker.covenant(customer_id, loan, frequency, first_due, lead)
                        made += 1
                        if made >= total:
                            return

    started = time.perf_counter()
    saved = _save_in_chunks(platform.get(Covenants), covenants())
    saves = Rate(saved, time.perf_counter() - started)
    return Book(len(owners), saved, 0, 0, saves, time.perf_counter() - began)


def load_notification_book(platform: Platform, brand_id: UUID, total: int) -> Book:
    """Borrowers with emails and `total` open records reminded on AS_OF, one or two per application."""
    began = time.perf_counter()
    owners = _save_borrowers(platform, brand_id, max(total * 3 // 4, 1), seed=8, all_email=True)
    maker = CovenantMaker(brand_id, seed=9)
    counts = {"covenants": 0, "groups": 0}
    used: set[UUID] = set()

    def aggregates() -> Iterator[Aggregate]:
        for customer_id, borrower in owners:  # One group per loan; there are more loans than groups needed.
            for loan in borrower.loan_numbers:
                frequency = maker.frequency()
                lead = DEFAULT_LEAD_DAYS[frequency]
                size = 1 if maker.rng.random() < 0.8 else 2
                counts["groups"] += 1
                used.add(customer_id)
                for _ in range(size):
                    covenant = maker.covenant(customer_id, loan, frequency, AS_OF + timedelta(days=lead), lead)
                    (record,) = covenant.open_due_cycles(AS_OF)  # The evaluation job's work, done here.
                    yield covenant
                    yield record
                    counts["covenants"] += 1
                    if counts["covenants"] >= total:
                        return
        raise AssertionError("ran out of borrowers' loans")

    started = time.perf_counter()
    _save_in_chunks(platform.get(Covenants), aggregates())
    saves = Rate(counts["covenants"], time.perf_counter() - started)
    return Book(
        len(used), counts["covenants"], counts["covenants"], counts["groups"], saves, time.perf_counter() - began
    )
