"""The managers' team view of a stage: DPD buckets (count and amount) of the open cases, and per executive the
open cases, recovery rate (cases that left the stage paid up - any closure in `RESOLVED`: cured, completed, not due,
settled, recovered - of all they held), amount collected (payments from each case's opening to its close), promise
kept rate and calls made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from domain.collections.case import Stage
from domain.collections.stages import RESOLVED

#: DPD buckets: (label, lowest DPD, highest DPD or None).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0), ("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None),
)  # fmt: skip
#: Calls are counted over this many days up to now.
CALL_DAYS = 30


@dataclass(frozen=True)
class Bucket:
    """Open cases of a DPD bucket."""

    bucket: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class ExecutiveFigures:
    """One executive's figures in the stage."""

    staff_id: UUID | None
    name: str | None
    open_cases: int
    open_amount: Decimal
    resolved: int
    recovery_rate: Decimal | None  # resolved / (resolved + open), 4 places
    collected: Decimal
    ptp_kept: int
    ptp_broken: int
    ptp_kept_rate: Decimal | None  # kept / judged, 4 places
    calls: int


@dataclass(frozen=True)
class TeamView:
    """A stage's buckets and its executives."""

    stage: str
    buckets: list[Bucket]
    executives: list[ExecutiveFigures]
    recovery_rate: Decimal | None
    ptp_kept_rate: Decimal | None
    calls_since: datetime


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole to 4 places (half up), None when nothing was counted."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Collector:
    """A staff member of a collections team (for the reallocation form)."""

    id: UUID
    name: str
    available: bool


#: The roles of the collections teams.
COLLECTION_ROLES = ["collection_executive", "collection_manager", "collection_head"]


class TeamQueries:
    """The team view."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def collectors(self, brand_id: UUID) -> list[Collector]:
        """Enabled staff of the brand in a collections role, by name."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, name, available FROM read.staff WHERE brand_id = %s AND enabled AND roles && %s::text[] "
                "ORDER BY name, id LIMIT 500",
                (brand_id, COLLECTION_ROLES),
            ).fetchall()
        return [Collector(**r) for r in rows]

    def team(self, brand_id: UUID, stage: Stage, now: datetime, members: Sequence[UUID] | None = None) -> TeamView:
        """DPD buckets and per-executive figures of the stage; with `members` (a manager's team), of the cases held
        by them only (no unassigned row)."""
        since = now - timedelta(days=CALL_DAYS)
        held = " AND c.assignee = ANY(%s)" if members is not None else ""
        scope: tuple[Any, ...] = (list(members),) if members is not None else ()
        cases_sql = (
            "SELECT CASE " + " ".join(
                f"WHEN c.dpd BETWEEN {lo} AND {hi} THEN '{label}'" if hi is not None else f"WHEN c.dpd >= {lo} "
                f"THEN '{label}'" for label, lo, hi in BUCKETS
            ) + " END AS bucket, count(*) AS n, coalesce(sum(c.amount), 0) AS amount FROM read.collection_cases c "
            f"WHERE c.brand_id = %s AND c.stage = %s AND c.open{held} GROUP BY 1"
        )  # fmt: skip
        with self.pool.connection() as conn:
            by_bucket = {r["bucket"]: r for r in conn.execute(cases_sql, (brand_id, stage.value, *scope)).fetchall()}
            execs = conn.execute(
                "SELECT c.assignee AS staff_id, count(*) FILTER (WHERE c.open) AS open_cases, "
                "coalesce(sum(c.amount) FILTER (WHERE c.open), 0.00) AS open_amount, "
                "count(*) FILTER (WHERE NOT c.open AND c.closed_reason = ANY(%s)) AS resolved, "
                "coalesce(sum((SELECT sum(p.amount) FROM read.collection_payments p WHERE p.loan_id = c.loan_id "
                "AND NOT p.reversed AND p.paid_on >= c.opened_on "
                "AND (c.closed_on IS NULL OR p.paid_on <= c.closed_on))), 0.00) AS collected "
                f"FROM read.collection_cases c WHERE c.brand_id = %s AND c.stage = %s AND c.opened_on IS NOT NULL{held} "
                "GROUP BY c.assignee",
                ([r.value for r in RESOLVED], brand_id, stage.value, *scope),
            ).fetchall()
            ptps = {r["staff_id"]: r for r in conn.execute(
                "SELECT staff_id, count(*) FILTER (WHERE status = 'kept') AS kept, "
                "count(*) FILTER (WHERE status = 'broken') AS broken FROM read.collection_ptps WHERE brand_id = %s "
                "GROUP BY staff_id", (brand_id,),
            ).fetchall()}  # fmt: skip
            calls = {r["staff_id"]: r["n"] for r in conn.execute(
                "SELECT staff_id, count(*) AS n FROM read.collection_contacts WHERE brand_id = %s AND at >= %s "
                "GROUP BY staff_id", (brand_id, since),
            ).fetchall()}  # fmt: skip
            ids = [r["staff_id"] for r in execs if r["staff_id"] is not None]
            names = {r["id"]: r["name"] for r in conn.execute(
                "SELECT id, name FROM read.staff WHERE brand_id = %s AND id = ANY(%s)", (brand_id, ids)
            ).fetchall()}  # fmt: skip
        figures = []
        for r in execs:
            staff = r["staff_id"]
            p = ptps.get(staff) if staff is not None else None
            kept, broken = (int(p["kept"]), int(p["broken"])) if p else (0, 0)
            figures.append(ExecutiveFigures(
                staff_id=staff, name=names.get(staff) if staff else None, open_cases=int(r["open_cases"]),
                open_amount=Decimal(r["open_amount"]), resolved=int(r["resolved"]),
                recovery_rate=rate(int(r["resolved"]), int(r["resolved"]) + int(r["open_cases"])),
                collected=Decimal(r["collected"]), ptp_kept=kept, ptp_broken=broken,
                ptp_kept_rate=rate(kept, kept + broken), calls=int(calls.get(staff, 0)) if staff else 0,
            ))  # fmt: skip
        figures.sort(key=lambda f: (f.staff_id is None, f.name or "", str(f.staff_id)))
        buckets = [
            Bucket(label, int(by_bucket[label]["n"]) if label in by_bucket else 0,
                   Decimal(by_bucket[label]["amount"]) if label in by_bucket else Decimal("0.00"))
            for label, _, _ in BUCKETS
        ]  # fmt: skip
        resolved = sum(f.resolved for f in figures)
        kept = sum(f.ptp_kept for f in figures)
        return TeamView(
            stage=stage.value, buckets=buckets, executives=figures,
            recovery_rate=rate(resolved, resolved + sum(f.open_cases for f in figures)),
            ptp_kept_rate=rate(kept, kept + sum(f.ptp_broken for f in figures)), calls_since=since,
        )  # fmt: skip
