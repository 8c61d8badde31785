"""The collection dashboard's figures that the fieldwork read models and the loans' read model answer: loans by DPD
bucket (count and amount) and dialer calls per executive. Recovery and promise-kept rates come from the
collections context's team view when it is there (the dashboard page asks both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

#: (label, lowest DPD, highest DPD or None); a loan falls in the first bucket that holds its DPD.
DPD_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("Current", 0, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


@dataclass(frozen=True)
class DpdBucket:
    """Serviced loans of a DPD range: how many, and their amount (principal sanctioned, INR)."""

    label: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class ExecutiveCalls:
    """One executive's dialer calls in the window: placed, answered, and talk time."""

    staff_id: UUID
    name: str
    calls: int
    answered: int
    talk_seconds: int


class CollectionDashboardQueries:
    """The dashboard's own figures, per brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def dpd_buckets(self, brand_id: UUID) -> list[DpdBucket]:
        """Every bucket (empty ones too), over the brand's serviced loans (active, partially paid, overdue): the
        brand's rows of `read.loan_dpd_buckets`, which triggers on `read.loans` keep as the sums over its rows
        (projections/loan_dpd_buckets.py), not a scan of the brand's loans."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT bucket, loans AS n, amount FROM read.loan_dpd_buckets WHERE brand_id = %s", (brand_id,)
            ).fetchall()
        found = {r["bucket"]: r for r in rows}
        return [
            DpdBucket(
                label,
                int(found[i]["n"]) if i in found else 0,
                Decimal(found[i]["amount"]).quantize(Decimal("0.01")) if i in found else Decimal("0.00"),
            )
            for i, (label, _, _) in enumerate(DPD_BUCKETS)
        ]

    def calls_per_executive(self, brand_id: UUID, since: datetime) -> list[ExecutiveCalls]:
        """Dialer calls placed from the brand's local day of `since` (the days of `read.brand_local_day`), per executive, most calls first: a sum over the
        executives' days (`read.dialer_call_days`), not over the calls."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                # Summed first (an index-only range of dialer_call_days_window_idx), then the few hundred
                # executives' names joined: joining every day row before grouping took half the time.
                "SELECT t.staff_id, coalesce(s.name, '(unknown)') AS name, t.calls, t.answered, t.talk_seconds "
                "FROM (SELECT staff_id, sum(calls)::int AS calls, sum(answered)::int AS answered, "
                "sum(talk_seconds)::bigint AS talk_seconds FROM read.dialer_call_days WHERE brand_id = %s "
                "AND day >= read.brand_local_day(%s, %s) GROUP BY staff_id) t LEFT JOIN read.staff s ON s.id = t.staff_id "
                "ORDER BY t.calls DESC, name LIMIT 50",
                (brand_id, brand_id, since),
            ).fetchall()
        return [ExecutiveCalls(**{**r, "talk_seconds": int(r["talk_seconds"])}) for r in rows]
