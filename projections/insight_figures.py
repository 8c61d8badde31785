"""The dashboards' counters (issue #18 item 3): a projection of the loans' events kept so that no dashboard figure
scans the book (docs/insight.md). Its tables:

- `read.insight_loans` — each loan's status, DPD, principal and when it entered each stage (what a later event
  needs to know to move a counter or time a stage);
- `read.insight_counts` — per brand, loans (and principal) by `status` and by DPD `bucket` of the serviced loans,
  moved by each event's delta (old row out, new row in, in one statement);
- `read.insight_daily` — per brand and business day, `disbursed` (count, principal) and `collected` (payments,
  amount by `paid_on`, a recovery on a written-off loan included; a reversal takes its payment back out of its day);
- `read.insight_payments` — each repayment's day and amount (for its reversal);
- `read.insight_stage_ends` — one row each time a loan finishes a stage, with how long it took (the raw rows the
  per-day tables below are checked against);
- `read.insight_overdue_spells` — one row each time a loan falls overdue (raw, as above);
- `read.insight_stage_days` — per brand, stage, day and duration in tenths of an hour (rounded half up): the
  stage ends and the sum of their seconds (TAT: count, average and median of a window from O(days) rows);
- `read.insight_loan_steps` — per loan and funnel step (`created`, each stage, `overdue`), the day it last reached
  it;
- `read.insight_flow_days` — per brand, step and day, the loans whose last reach of the step was that day (and, for
  `overdue`, how many of them are recovered now): the funnel and recovery of a window are a sum over its days,
  since a loan reached a step in a window that runs up to now exactly when its last reach is in it.

Days are the business days the events carry (projections/business_days.py), else the brand's local days of their
instants, in the timezone the brand had at each instant (`read.brand_local_day`; Asia/Kolkata when the brand is not
known yet).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from domain.loans import servicing_events as sv
from domain.loans.application import Loans
from domain.loans.loan import Loan, Transitioned
from domain.loans.states import SERVICING_CODES
from projections.business_days import LOCAL_DAY_FUNCTION, business_day
from projections.projection import Change, Insert, Projection, Write, handles, topics_of

L = Loan
#: The statuses of a serviced loan (the domain's SERVICING) as an SQL list.
_SERVICED_SQL = "(" + ", ".join(f"'{code}'" for code in SERVICING_CODES) + ")"


def _subclass_topics(cls: type) -> tuple[str, ...]:
    """The stored topics (module:qualname) of every subclass of `cls`, once each: the aggregate's metaclass makes
    more than one class object of some events, so they are named rather than registered (`get_topic`)."""
    found: set[str] = set()
    pending: list[type] = list(cls.__subclasses__())
    while pending:
        sub = pending.pop()
        found.add(f"{sub.__module__}:{sub.__qualname__}")
        pending += sub.__subclasses__()
    return tuple(sorted(found))


#: Each stage a loan finishes: the event that ends it -> (stage, the column of its start, the column it sets).
STAGE_ENDS: dict[type, tuple[str, str, str | None]] = {
    L.Submitted: ("application", "created_at", "submitted_at"),
    L.CxApproved: ("credit review", "submitted_at", "cx_approved_at"),
    L.Sanctioned: ("sanction", "cx_approved_at", "sanctioned_at"),
    L.Disbursed: ("disbursal", "sanctioned_at", None),
}

#: The brand's local day of an instant, in the timezone that was the brand's then (`read.brand_local_day`: a timezone
#: changed later leaves the day of an earlier instant where it was, so a rebuild files it on the same day).
_LOCAL_DAY = "read.brand_local_day({brand}, ({at}))"


def _business_day_sql(row: str = "") -> str:
    """The business day an event happened on, over a row of `read.insight_loans` (`row`: its alias and a dot): the
    day the event carries (`%(on)s`), else for a move by the close of business the COB's business date (`cob_on`,
    from the `DayClosed` recorded just before it: a `StatusMoved` stored before it carried `status_moved_on`), else the
    brand's local day of the instant it was recorded (events stored before their business date was recorded: the
    creation, CX approval and sanction before 2026-12-05, a bypass, a cancellation, a reactivation, a signature, ...
    before they carried theirs)."""
    local = _LOCAL_DAY.format(at="%(at)s", brand=f"{row}brand_id")
    return f"COALESCE(%(on)s::date, CASE WHEN %(cob)s THEN {row}cob_on END, {local})"


#: Move a loan's row and the brand's counters by the difference (the old row counted out, the new one in), and
#: open an overdue spell when the loan falls overdue. Every CTE reads the snapshot before the UPDATE. A key whose
#: count nets to zero still moves when its amount does (a product change of the amount keeping the status).
_MOVE = """
WITH old AS (SELECT brand_id, status, dpd, principal, cob_on FROM read.insight_loans WHERE loan_id = %(id)s),
new AS (
    UPDATE read.insight_loans SET status = COALESCE(%(status)s, status),
        dpd = CASE WHEN %(set_dpd)s THEN %(dpd)s ELSE dpd END, principal = COALESCE(%(principal)s, principal),
        cob_on = COALESCE(%(cob_on)s, cob_on)
    WHERE loan_id = %(id)s RETURNING brand_id, status, dpd, principal),
delta AS (
    SELECT brand_id, 'status' AS dimension, status AS key, -1 AS n, -principal AS amount FROM old
    UNION ALL SELECT brand_id, 'status', status, 1, principal FROM new
    UNION ALL SELECT brand_id, 'bucket', read.insight_bucket(status, dpd), -1, -principal FROM old
        WHERE read.insight_bucket(status, dpd) IS NOT NULL
    UNION ALL SELECT brand_id, 'bucket', read.insight_bucket(status, dpd), 1, principal FROM new
        WHERE read.insight_bucket(status, dpd) IS NOT NULL),
spell AS (
    INSERT INTO read.insight_overdue_spells (brand_id, loan_id, fell_at, day)
    SELECT new.brand_id, %(id)s, %(at)s, {day} FROM new, old WHERE new.status = 'overdue' AND old.status <> 'overdue'
    ON CONFLICT DO NOTHING)
INSERT INTO read.insight_counts AS c (brand_id, dimension, key, loans, amount)
SELECT brand_id, dimension, key, sum(n), sum(amount) FROM delta GROUP BY 1, 2, 3 HAVING sum(n) <> 0 OR sum(amount) <> 0
ON CONFLICT (brand_id, dimension, key) DO UPDATE SET loans = c.loans + excluded.loans, amount = c.amount + excluded.amount
""".replace("{day}", _business_day_sql("old."))

#: States a loan that fell overdue is back in when it recovered (projections/dashboard.py's RECOVERED).
RECOVERED_STATES = ("active", "partially_paid", "completed")

#: A loan reaches a funnel step on a day: its last reach moves from its previous day (if any) to this one.
_REACH = """
WITH loan AS (SELECT brand_id, {day} AS day FROM read.insight_loans WHERE loan_id = %(id)s{condition}),
prev AS (SELECT day FROM read.insight_loan_steps WHERE loan_id = %(id)s AND step = %(step)s),
mark AS (
    INSERT INTO read.insight_loan_steps (loan_id, step, day) SELECT %(id)s, %(step)s, day FROM loan
    ON CONFLICT (loan_id, step) DO UPDATE SET day = excluded.day),
delta AS (SELECT brand_id, day, 1 AS n FROM loan UNION ALL SELECT loan.brand_id, prev.day, -1 FROM loan, prev)
INSERT INTO read.insight_flow_days AS f (brand_id, step, day, loans, recovered)
SELECT brand_id, %(step)s, day, sum(n), 0 FROM delta GROUP BY brand_id, day HAVING sum(n) <> 0
ON CONFLICT (brand_id, step, day) DO UPDATE SET loans = f.loans + excluded.loans
""".format(day=_business_day_sql(), condition="{condition}")

#: Before a status change: a fall into overdue moves the loan's last fall to today (out of its old day with its
#: recovered mark); any other change in or out of the recovered states moves the mark on its last fall's day.
_OVERDUE_FLOW = f"""
WITH cur AS (
    SELECT brand_id, cob_on, status AS old, %(status)s AS new FROM read.insight_loans WHERE loan_id = %(id)s),
prev AS (SELECT day FROM read.insight_loan_steps WHERE loan_id = %(id)s AND step = 'overdue'),
falls AS (SELECT brand_id, {_business_day_sql()} AS day FROM cur WHERE new = 'overdue' AND old <> 'overdue'),
mark AS (
    INSERT INTO read.insight_loan_steps (loan_id, step, day) SELECT %(id)s, 'overdue', day FROM falls
    ON CONFLICT (loan_id, step) DO UPDATE SET day = excluded.day),
delta AS (
    SELECT brand_id, day, 1 AS n, 0 AS r FROM falls
    UNION ALL SELECT cur.brand_id, prev.day, -1, -(cur.old = ANY(%(recovered)s))::int FROM cur, prev, falls
    UNION ALL SELECT cur.brand_id, prev.day, 0, (cur.new = ANY(%(recovered)s))::int - (cur.old = ANY(%(recovered)s))::int
        FROM cur, prev WHERE NOT EXISTS (SELECT FROM falls))
INSERT INTO read.insight_flow_days AS f (brand_id, step, day, loans, recovered)
SELECT brand_id, 'overdue', day, sum(n), sum(r) FROM delta GROUP BY brand_id, day HAVING sum(n) <> 0 OR sum(r) <> 0
ON CONFLICT (brand_id, step, day) DO UPDATE SET loans = f.loans + excluded.loans, recovered = f.recovered + excluded.recovered
"""

_DAY = (
    "INSERT INTO read.insight_daily AS d (brand_id, metric, day, n, amount) {select} "
    "ON CONFLICT (brand_id, metric, day) DO UPDATE SET n = d.n + excluded.n, amount = d.amount + excluded.amount"
)


class InsightFigures(Projection):
    """Counters and stage times of the loans, for the dashboards (see the module's docstring)."""

    name = "insight_figures"
    source = Loans.name
    topics = topics_of(L.Created, L.DayClosed, L.ServicingOpened, L.RecoveryRecorded) + _subclass_topics(Transitioned)
    tables = (
        "read.insight_loans",
        "read.insight_counts",
        "read.insight_daily",
        "read.insight_payments",
        "read.insight_stage_ends",
        "read.insight_overdue_spells",
        "read.insight_stage_days",
        "read.insight_loan_steps",
        "read.insight_flow_days",
    )
    ddl = (
        LOCAL_DAY_FUNCTION,  # (also the loans read model's: whichever is set up first makes it)
        """CREATE TABLE IF NOT EXISTS read.insight_loans (
            loan_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            status text NOT NULL,
            dpd int,
            principal numeric(16, 2) NOT NULL,
            created_at timestamptz NOT NULL,
            submitted_at timestamptz,
            cx_approved_at timestamptz,
            sanctioned_at timestamptz,
            cob_on date
        )""",
        """CREATE TABLE IF NOT EXISTS read.insight_counts (
            brand_id uuid NOT NULL,
            dimension text NOT NULL,
            key text NOT NULL,
            loans bigint NOT NULL,
            amount numeric(18, 2) NOT NULL,
            PRIMARY KEY (brand_id, dimension, key)
        )""",
        """CREATE TABLE IF NOT EXISTS read.insight_daily (
            brand_id uuid NOT NULL,
            metric text NOT NULL,
            day date NOT NULL,
            n bigint NOT NULL,
            amount numeric(18, 2) NOT NULL,
            PRIMARY KEY (brand_id, metric, day)
        )""",
        """CREATE TABLE IF NOT EXISTS read.insight_payments (
            loan_id uuid NOT NULL,
            payment_id text NOT NULL,
            paid_on date NOT NULL,
            amount numeric(16, 2) NOT NULL,
            PRIMARY KEY (loan_id, payment_id)
        )""",
        """CREATE TABLE IF NOT EXISTS read.insight_stage_ends (
            brand_id uuid NOT NULL,
            stage text NOT NULL,
            ended_at timestamptz NOT NULL,
            loan_id uuid NOT NULL,
            seconds double precision NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS read.insight_overdue_spells (
            brand_id uuid NOT NULL,
            loan_id uuid NOT NULL,
            fell_at timestamptz NOT NULL,
            PRIMARY KEY (loan_id, fell_at)
        )""",
        f"""CREATE OR REPLACE FUNCTION read.insight_bucket(status text, dpd int) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT CASE WHEN status NOT IN {_SERVICED_SQL} THEN NULL
                WHEN COALESCE(dpd, 0) = 0 THEN 'current' WHEN dpd <= 30 THEN '1-30' WHEN dpd <= 60 THEN '31-60'
                WHEN dpd <= 90 THEN '61-90' ELSE '91+' END
            $$""",
        """CREATE TABLE IF NOT EXISTS read.insight_stage_days (
            brand_id uuid NOT NULL,
            stage text NOT NULL,
            day date NOT NULL,
            tenths int NOT NULL,
            loans bigint NOT NULL,
            seconds numeric NOT NULL,
            PRIMARY KEY (brand_id, stage, day, tenths)
        )""",
        """CREATE TABLE IF NOT EXISTS read.insight_loan_steps (
            loan_id uuid NOT NULL,
            step text NOT NULL,
            day date NOT NULL,
            PRIMARY KEY (loan_id, step)
        )""",
        """CREATE TABLE IF NOT EXISTS read.insight_flow_days (
            brand_id uuid NOT NULL,
            step text NOT NULL,
            day date NOT NULL,
            loans bigint NOT NULL,
            recovered bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (brand_id, step, day)
        )""",
        # (a database made before the business days: the columns, NULL on the rows already there until
        # `projections rebuild insight_figures` re-dates them, docs/insight.md)
        "ALTER TABLE read.insight_loans ADD COLUMN IF NOT EXISTS cob_on date",
        "ALTER TABLE read.insight_stage_ends ADD COLUMN IF NOT EXISTS day date",
        "ALTER TABLE read.insight_overdue_spells ADD COLUMN IF NOT EXISTS day date",
        "CREATE INDEX IF NOT EXISTS insight_stage_ends_idx ON read.insight_stage_ends (brand_id, stage, ended_at)",
        "CREATE INDEX IF NOT EXISTS insight_overdue_spells_idx ON read.insight_overdue_spells (brand_id, fell_at)",
    )

    @handles(L.Created)
    def _created(self, position: int, event: Any) -> Iterator[Change]:
        yield Insert(
            "read.insight_loans",
            {"loan_id": event.originator_id, "brand_id": event.brand_id, "status": "onboarding", "dpd": None,
             "principal": event.amount, "created_at": event.timestamp},
        )  # fmt: skip
        yield Write(
            "INSERT INTO read.insight_counts AS c (brand_id, dimension, key, loans, amount) "
            "VALUES (%s, 'status', 'onboarding', 1, %s) ON CONFLICT (brand_id, dimension, key) "
            "DO UPDATE SET loans = c.loans + 1, amount = c.amount + excluded.amount",
            (event.brand_id, event.amount),
        )
        yield Write(
            _REACH.format(condition=""),
            {
                "id": event.originator_id,
                "step": "created",
                "at": event.timestamp,
                "on": business_day(event),
                "cob": False,
            },
        )

    @handles(Transitioned)
    def _moved(self, position: int, event: Any) -> Iterator[Change]:
        on = business_day(event)
        # a move by the close of business happened on the COB's business date (the DayClosed just before it)
        cob = isinstance(event, sv.StatusMoved)
        stage = STAGE_ENDS.get(type(event))
        if stage is not None:
            name, began, sets = stage
            # The stage ends on the business day its event carries (submitted_on, disbursed_on), else on the local day
            # of its instant; how long it took is the time between the instants.
            dated = {"id": event.originator_id, "step": name, "at": event.timestamp, "on": on, "cob": False}
            took = f"extract(epoch FROM %(at)s - {began})"
            yield Write(
                "INSERT INTO read.insight_stage_ends (brand_id, stage, ended_at, loan_id, seconds, day) "
                f"SELECT brand_id, %(step)s, %(at)s, loan_id, {took}, {_business_day_sql()} FROM read.insight_loans "
                f"WHERE loan_id = %(id)s AND {began} IS NOT NULL",
                dated,
            )
            yield Write(
                "INSERT INTO read.insight_stage_days AS s (brand_id, stage, day, tenths, loans, seconds) "
                f"SELECT brand_id, %(step)s, {_business_day_sql()}, "
                f"round({took} / 360)::int, 1, {took} FROM read.insight_loans "
                f"WHERE loan_id = %(id)s AND {began} IS NOT NULL "
                "ON CONFLICT (brand_id, stage, day, tenths) DO UPDATE SET loans = s.loans + 1, "
                "seconds = s.seconds + excluded.seconds",
                dated,
            )
            yield Write(_REACH.format(condition=f" AND {began} IS NOT NULL"), dated)
            if sets is not None:
                yield Write(
                    f"UPDATE read.insight_loans SET {sets} = %s WHERE loan_id = %s",
                    (event.timestamp, event.originator_id),
                )
        principal = (
            event.sanctioned_amount
            if isinstance(event, L.Sanctioned)
            else event.amount  # LOAN_RULE_TYPE moved the application to another product and amount
            if isinstance(event, L.ProductChanged)
            else None
        )
        yield Write(
            _OVERDUE_FLOW,
            {"id": event.originator_id, "status": event.status.value, "at": event.timestamp, "on": on, "cob": cob,
             "recovered": list(RECOVERED_STATES)},
        )  # fmt: skip
        yield self._move(event, status=event.status.value, principal=principal, on=on, cob=cob)
        if isinstance(event, L.Disbursed):
            yield Write(
                _DAY.format(select="SELECT brand_id, 'disbursed', %s, 1, principal FROM read.insight_loans "
                            "WHERE loan_id = %s"),
                (event.disbursed_on, event.originator_id),
            )  # fmt: skip
        elif isinstance(event, sv.RepaymentRecorded):
            p = event.payment
            yield Write(
                "INSERT INTO read.insight_payments (loan_id, payment_id, paid_on, amount) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (event.originator_id, p.payment_id, p.paid_on, p.amount),
            )
            yield Write(
                _DAY.format(
                    select="SELECT brand_id, 'collected', %s, 1, %s FROM read.insight_loans WHERE loan_id = %s"
                ),
                (p.paid_on, p.amount, event.originator_id),
            )
        elif isinstance(event, sv.RepaymentReversed):
            yield Write(
                _DAY.format(select="SELECT l.brand_id, 'collected', p.paid_on, -1, -p.amount FROM read.insight_payments p "
                            "JOIN read.insight_loans l USING (loan_id) WHERE p.loan_id = %s AND p.payment_id = %s"),
                (event.originator_id, event.payment_id),
            )  # fmt: skip

    @handles(L.RecoveryRecorded)
    def _recovered(self, position: int, event: Any) -> Iterator[Change]:
        # Money received on a written-off loan is collected on its day like a repayment (never reversed).
        p = event.payment
        yield Write(
            _DAY.format(select="SELECT brand_id, 'collected', %s, 1, %s FROM read.insight_loans WHERE loan_id = %s"),
            (p.paid_on, p.amount, event.originator_id),
        )

    @handles(sv.DayClosed)
    def _day_closed(self, position: int, event: sv.DayClosed) -> Iterator[Change]:
        yield self._move(event, dpd=event.dpd, cob_on=event.business_date)

    @handles(sv.ServicingOpened)
    def _opened(self, position: int, event: sv.ServicingOpened) -> Iterator[Change]:
        yield self._move(event, dpd=0)

    def _move(
        self,
        event: Any,
        status: str | None = None,
        dpd: int | None = None,
        principal: Any = None,
        on: date | None = None,
        cob: bool = False,
        cob_on: date | None = None,
    ) -> Write:
        return Write(
            _MOVE,
            {"id": event.originator_id, "status": status, "set_dpd": dpd is not None, "dpd": dpd,
             "principal": principal, "at": event.timestamp, "on": on, "cob": cob, "cob_on": cob_on},
        )  # fmt: skip
