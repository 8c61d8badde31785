"""The dashboard's per-day rows (projections/insight_figures.py) give the same TAT, funnel and recovery as the raw
rows of the same projection (every stage end, every fall into overdue) computed over a window's instants: a book
of loans with random stage times, loans sent back and submitted again, falls into overdue, cures and second falls,
projected by `InsightFigures` on PostgreSQL in two brands of different timezones, checked for many window starts."""

from __future__ import annotations

import random
import statistics
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.postgres import Database
from domain.loans.loan import Loan
from domain.loans.states import LoanStatus
from projections.batch_writes import _PipelinedWrites
from projections.brands import BrandDirectory
from projections.dashboard import FUNNEL, RECOVERED, STAGES, DashboardQueries, lower_median, percent
from projections.insight_figures import InsightFigures
from tests.support import drop_database, fresh_database_dsn

L = Loan
S = LoanStatus
T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
BRANDS = {uuid.uuid4(): "Asia/Kolkata", uuid.uuid4(): "America/New_York"}


def _event(cls: type, loan_id: uuid.UUID, at: datetime, **fields: Any) -> Any:
    """An event of `cls` with only what the projection reads (no aggregate needed to make one)."""
    event = object.__new__(cls)
    for name, value in {"originator_id": loan_id, "timestamp": at, **fields}.items():
        object.__setattr__(event, name, value)
    return event


def _timeline(rng: random.Random, brand: uuid.UUID, loan_id: uuid.UUID) -> list[Any]:
    """One loan's events at random instants: creation, stages (maybe sent back), then servicing moves. The brand's
    business date may run apart from the wall clock (`shift`): submissions, disbursals and the close of business
    carry it, and a COB's move into overdue happened on the COB's date."""
    at = T0 + timedelta(minutes=rng.randrange(60 * 24 * 50))
    shift = timedelta(days=rng.choice([0, 0, 45, -20]))

    def on() -> date:
        return (at + shift).date()

    def later(hours: float) -> datetime:
        nonlocal at
        at += timedelta(seconds=int(rng.uniform(0, hours) * 3600) + 1)
        return at

    events = [_event(L.Created, loan_id, at, brand_id=brand, amount=Decimal("50000.00"))]
    reach = rng.randrange(5)
    if reach >= 1:
        events.append(_event(L.Submitted, loan_id, later(30), status=S.PENDING, submitted_on=on()))
        if rng.random() < 0.3:  # sent back to the borrower and submitted again
            events.append(_event(L.SentBack, loan_id, later(10), status=S.ONBOARDING))
            events.append(_event(L.Submitted, loan_id, later(20), status=S.PENDING, submitted_on=on()))
    if reach >= 2:
        events.append(_event(L.CxApproved, loan_id, later(48), status=S.CX_APPROVED))
    if reach >= 3:
        events.append(_event(L.Sanctioned, loan_id, later(24), status=S.SM_APPROVED, sanctioned_amount=None))
    if reach >= 4:
        events.append(_event(L.Disbursed, loan_id, later(72), status=S.ACTIVE, disbursed_on=on()))
        for _ in range(rng.randrange(4)):  # falls overdue, maybe cured, maybe again
            events.append(_event(L.DayClosed, loan_id, later(24 * 20), dpd=1, business_date=on()))
            events.append(_event(L.StatusMoved, loan_id, at, status=S.OVERDUE))
            if rng.random() < 0.6:
                events.append(
                    _event(L.StatusMoved, loan_id, later(24 * 10), status=rng.choice([S.ACTIVE, S.COMPLETED]))
                )
    return events


@pytest.fixture(scope="module")
def book() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_insight_days")
    db = Database(dsn, min_size=1, max_size=2)
    try:
        db.ensure_schemas()
        projection = InsightFigures()
        with db.pool.connection() as conn:
            BrandDirectory().create(conn)
            projection.create(conn)
            for i, (brand, tz) in enumerate(BRANDS.items()):
                conn.execute(
                    "INSERT INTO read.brands (id, slug, name, timezone, created_at) VALUES (%s, %s, %s, %s, now())",
                    (brand, f"b{i}-{brand.hex[:6]}", "Bank", tz),
                )
        rng = random.Random(18)
        events = [e for i in range(300) for e in _timeline(rng, list(BRANDS)[i % 2], uuid.uuid4())]
        events.sort(key=lambda e: e.timestamp)
        with db.pool.connection() as conn, conn.transaction(), _PipelinedWrites(conn) as out:
            for position, event in enumerate(events, 1):
                for change in projection.project(position, event):
                    out.send(change)
        yield db
    finally:
        db.close()
        drop_database(dsn)


def _raw(conn: Any, brand: uuid.UUID, start: date, since: datetime) -> dict[str, Any]:
    """TAT, funnel and recovery straight from the raw rows of the window: the stage ends and falls into overdue of
    its business days (`day >= start`: the day an event carries, else its instant's local day), the loans created
    from its first instant (`>= since`: creation carries no business date)."""
    tat = {}
    for stage, _, _ in STAGES:
        seconds = [
            r["seconds"]
            for r in conn.execute(
                "SELECT seconds FROM read.insight_stage_ends WHERE brand_id = %s AND stage = %s AND day >= %s",
                (brand, stage, start),
            )
        ]
        hours = [(Decimal(str(s)) / 3600).quantize(Decimal("0.1"), ROUND_HALF_UP) for s in seconds]
        average = (sum(Decimal(str(s)) for s in seconds) / len(seconds) / 3600) if seconds else None
        tat[stage] = (
            len(seconds),
            average.quantize(Decimal("0.1"), ROUND_HALF_UP) if average is not None else None,
            statistics.median_low(hours) if hours else None,  # rounding first keeps the same middle value
        )
    reached = {
        r["stage"]: r["n"]
        for r in conn.execute(
            "SELECT stage, count(DISTINCT loan_id) AS n FROM read.insight_stage_ends WHERE brand_id = %s "
            "AND day >= %s GROUP BY stage",
            (brand, start),
        )
    }
    reached["created"] = conn.execute(
        "SELECT count(*) AS n FROM read.insight_loans WHERE brand_id = %s AND created_at >= %s", (brand, since)
    ).fetchone()["n"]
    fell = conn.execute(
        "WITH fell AS (SELECT DISTINCT loan_id FROM read.insight_overdue_spells WHERE brand_id = %s AND day >= %s) "
        "SELECT count(*) AS fell, count(*) FILTER (WHERE l.status = ANY(%s)) AS recovered "
        "FROM fell JOIN read.insight_loans l USING (loan_id)",
        (brand, start, [s.value for s in RECOVERED]),
    ).fetchone()
    return {"tat": tat, "funnel": reached, "recovery": (fell["fell"], fell["recovered"])}


def test_per_day_figures_equal_the_raw_rows_for_every_window(book: Database) -> None:
    queries = DashboardQueries(book.pool)
    checked = 0
    with book.pool.connection() as conn:
        for brand, tz in BRANDS.items():
            for offset in range(0, 80, 3):
                start = date(2026, 9, 28) + timedelta(days=offset)
                raw = _raw(conn, brand, start, datetime.combine(start, time(), ZoneInfo(tz)))
                tat = {t.stage: (t.loans, t.average_hours, t.median_hours) for t in queries.tat(brand, start)}
                assert tat == raw["tat"], (tz, start)
                funnel = {f.stage: f.loans for f in queries.funnel(brand, start)}
                assert funnel == {step: raw["funnel"].get(stage, 0) for step, stage in FUNNEL}, (tz, start)
                recovery = queries.recovery(brand, start)
                fell, recovered = raw["recovery"]
                assert (recovery.fell_overdue, recovery.recovered) == (fell, recovered), (tz, start)
                assert recovery.rate == percent(recovered, fell)
                checked += bool(fell) + bool(funnel["submitted"]) + bool(tat["credit review"][0])
    assert checked > 100  # the windows were not empty


def test_lower_median_of_counted_values_is_the_middle_one_or_the_lower_of_two() -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = sorted(rng.randrange(30) for _ in range(rng.randrange(1, 40)))
        counted = [(v, values.count(v)) for v in sorted(set(values))]
        assert lower_median(counted) == statistics.median_low(values)
    with pytest.raises(ValueError):
        lower_median([])
