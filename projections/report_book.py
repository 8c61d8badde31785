"""The reports' own read model of the loan book (issue #18 item 1): each disbursed loan's instalments with what was
paid against each (principal, interest, penal, as the loan's replay applies each payment), every repayment, and the
borrowers' sign-in sessions. The reports (projections/report_sql_*.py) read these beside `read.loans`,
`read.customers` and the other contexts' read models; docs/reports.md says what each figure counts."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.loans import servicing_events as sv
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.loans.loan_events import Transitioned
from domain.loans.states import LoanStatus
from domain.onboarding.account import BorrowerSession
from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import Funnel
from domain.onboarding.steps import Step
from projections.projection import Change, Insert, Projection, Write, handles
from projections.report_sql_parts import INSTALMENT_COMPLETED, owed, paid
from projections.reports import CELL_FUNCTION, NUMBER_FUNCTION

L = Loan
S = BorrowerSession
F = Funnel
_ZERO = Decimal("0.00")

#: Each loan's totals (`read.report_loan_totals`) recomputed from its rows of `read.report_instalments` and
#: `read.report_payments`, for the loans of `report_loan_brands b` meeting `{where}`: the very figures the grouped
#: passes computed (docs/reports.md, "How the per-loan figures are computed"), so the reports read one row per loan.
#: One loan's refresh is two index probes (its instalments, its repayments) and an upsert of its row.
_EPOCH = "DATE '2000-01-01'"
_LEFT = "i.principal + i.interest - i.paid_principal - i.paid_interest"
_UNPAID = "i.principal + i.interest > i.paid_principal + i.paid_interest"
_TOTALS = ("principal", "interest", "next_no", "next_due", "next_left", "unpaid_since", "unpaid_due", "unpaid_left",
           "payments", "repaid", "last_paid_on")  # fmt: skip
REFRESH_TOTALS = (
    "INSERT INTO read.report_loan_totals (loan_id, brand_id, " + ", ".join(_TOTALS) + ") "
    "SELECT b.loan_id, b.brand_id, i.principal, i.interest, (i.next)[1]::int, "
    f"{_EPOCH} + (i.next)[2]::int, (i.next)[3], i.since, i.dues, i.lefts, "
    "coalesce(p.payments, 0), coalesce(p.amount, 0), p.last_on FROM read.report_loan_brands b "
    "LEFT JOIN LATERAL (SELECT sum(i.principal - i.paid_principal) AS principal, "
    "sum(i.interest - i.paid_interest) AS interest, "
    f"min(ARRAY[i.no, i.due_date - {_EPOCH}, {_LEFT}]) FILTER (WHERE {_UNPAID}) AS next, "
    f"min(i.due_date) FILTER (WHERE {_UNPAID}) AS since, "
    f"array_agg(i.due_date ORDER BY i.no) FILTER (WHERE {_UNPAID}) AS dues, "
    f"array_agg({_LEFT} ORDER BY i.no) FILTER (WHERE {_UNPAID}) AS lefts "
    "FROM read.report_instalments i WHERE i.loan_id = b.loan_id) i ON true "
    "LEFT JOIN LATERAL (SELECT count(*) AS payments, sum(p.amount) AS amount, max(p.paid_on) AS last_on "
    "FROM read.report_payments p WHERE p.loan_id = b.loan_id AND p.reversed_on IS NULL) p ON true "
    "WHERE {where} ON CONFLICT (loan_id) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in _TOTALS)
)
#: One loan's refresh (the projection's, after each change to its instalments or repayments).
REFRESH_LOAN_TOTALS = REFRESH_TOTALS.replace("{where}", "b.loan_id = %s")
#: Every loan with instalments or repayments (a book loaded into the tables directly: benchmarks, tests).
REFRESH_ALL_TOTALS = REFRESH_TOTALS.replace(
    "{where}",
    "b.loan_id IN (SELECT loan_id FROM read.report_instalments UNION SELECT loan_id FROM read.report_payments)",
)
#: Whether the loan is closed (completed, settled or written off), from a status-changing event's status: the row is
#: created if the loan has none yet (a loan closed without instalments or repayments has the figures of no row:
#: NULL amounts, no repayments), so every closed loan has its row (`completed-loan-with-no-repet-report` reads the
#: closed loans with no repayment standing from `report_loan_totals_closed_unpaid_idx`, never every closed loan).
MARK_CLOSED = (
    "INSERT INTO read.report_loan_totals (loan_id, brand_id, payments, repaid, closed) "
    "SELECT b.loan_id, b.brand_id, 0, 0, %s FROM read.report_loan_brands b WHERE b.loan_id = %s "
    "ON CONFLICT (loan_id) DO UPDATE SET closed = EXCLUDED.closed"
)
#: The loan statuses that close it (`closed`).
CLOSED_STATUSES = frozenset({LoanStatus.COMPLETED, LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF})
#: `closed` of every loan of a book loaded into the tables directly (benchmarks, tests), from `read.loans`' status
#: (run after REFRESH_ALL_TOTALS; the projection itself reads only the Loan events).
MARK_ALL_CLOSED = (
    "INSERT INTO read.report_loan_totals (loan_id, brand_id, payments, repaid, closed) "
    "SELECT l.id, l.brand_id, 0, 0, true FROM read.loans l WHERE l.status IN ('completed', 'settled', 'written_off') "
    "ON CONFLICT (loan_id) DO UPDATE SET closed = true"
)

#: Whether each instalment's loan is completed (paid off: its instalments are settled by what was paid against them,
#: docs/reports.md), kept on the instalments by the status-changing events, so each day's sums (read.report_due_days,
#: below) follow from the instalments alone: total-recovery and recovery-efficiency summed 2.4M instalments joined
#: to 1M loans for a page of all dates (1.5-2 s) and read a row a day now (~2 ms).
MARK_COMPLETED = (
    "UPDATE read.report_instalments SET completed = %s WHERE loan_id = %s AND completed IS DISTINCT FROM %s"
)
#: `completed` of every loan's instalments from `read.loans`' status: a book loaded into the tables directly
#: (benchmarks, tests), and once in a database made before the column.
MARK_ALL_COMPLETED = (
    "UPDATE read.report_instalments i SET completed = true FROM read.loans l "
    "WHERE l.id = i.loan_id AND l.status = 'completed' AND NOT i.completed"
)
ADD_COMPLETED = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'read' "
    "AND table_name = 'report_instalments' AND column_name = 'completed') THEN "
    "ALTER TABLE read.report_instalments ADD COLUMN completed boolean NOT NULL DEFAULT false; "
    "IF to_regclass('read.loans') IS NOT NULL THEN " + MARK_ALL_COMPLETED + "; END IF; END IF; END $$"
)


# -- each day's instalments summed (read.report_due_days): total-recovery and recovery-efficiency read a row a day ----
_OWED = owed(completed=INSTALMENT_COMPLETED)
_PAID = paid()
#: Each instalment's share of its day's row: one instalment, what it asks (a completed loan's: what was paid against
#: it), what was paid, and whether it is fully paid, partly paid or unpaid (the definitions of docs/reports.md).
_SHARE = {
    "instalments": "1",
    "owed": _OWED,
    "paid": _PAID,
    "fully_paid": f"({_PAID} >= {_OWED})::int",
    "partly_paid": f"({_PAID} > 0 AND {_PAID} < {_OWED})::int",
    "unpaid": f"({_PAID} = 0)::int",
}
DUE_DAYS_TABLE = """CREATE TABLE read.report_due_days (
    brand_id uuid NOT NULL,
    due_date date NOT NULL,
    instalments bigint NOT NULL,
    owed numeric NOT NULL,
    paid numeric NOT NULL,
    fully_paid bigint NOT NULL,
    partly_paid bigint NOT NULL,
    unpaid bigint NOT NULL,
    PRIMARY KEY (brand_id, due_date)
)"""


def _add_to_days(rows: str) -> str:
    """The upsert adding `rows` (instalments' signed shares, `_shares`) to their days' rows, summed by brand and day
    and written in key order."""
    names = ", ".join(_SHARE)
    sums = ", ".join(f"sum({name})" for name in _SHARE)
    added = ", ".join(f"{name} = d.{name} + EXCLUDED.{name}" for name in _SHARE)
    return (
        f"INSERT INTO read.report_due_days AS d (brand_id, due_date, {names}) SELECT brand_id, due_date, {sums} "
        f"FROM ({rows}) x GROUP BY brand_id, due_date ORDER BY brand_id, due_date "
        f"ON CONFLICT (brand_id, due_date) DO UPDATE SET {added}"
    )


def _shares(table: str, sign: int) -> str:
    """Each instalment row of `table` (as `i`) as its signed share of its day."""
    shares = ", ".join(f"{sign} * {sql} AS {name}" for name, sql in _SHARE.items())
    return f"SELECT i.brand_id, i.due_date, {shares} FROM {table} i"


#: Keeps each day's row as the instalments change (any INSERT, UPDATE or DELETE on read.report_instalments: the
#: projection's writes, a book loaded directly, a migration): once a statement, from its transition tables.
DUE_DAYS_FUNCTION = (
    "CREATE OR REPLACE FUNCTION read.report_due_days_apply() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP = 'INSERT' THEN {_add_to_days(_shares('new_rows', 1))}; "
    f"ELSIF TG_OP = 'UPDATE' THEN "
    f"{_add_to_days(_shares('new_rows', 1) + ' UNION ALL ' + _shares('old_rows', -1))}; "
    f"ELSE {_add_to_days(_shares('old_rows', -1))}; END IF; RETURN NULL; END $$"
)
DUE_DAYS_TRIGGERS = tuple(
    f"CREATE OR REPLACE TRIGGER report_due_days_{op.lower()} AFTER {op} ON read.report_instalments "
    f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION read.report_due_days_apply()"
    for op, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    )
)
#: The days' rows, made with their triggers where missing (a new database, a rebuild, or one made before them: then
#: filled from the instalments there, in the same transaction as the triggers, which hold off writes to the
#: instalments until it commits).
DUE_DAYS = (
    "DO $$ BEGIN IF to_regclass('read.report_due_days') IS NULL THEN "
    f"{DUE_DAYS_TABLE}; {'; '.join(DUE_DAYS_TRIGGERS)}; "
    f"{_add_to_days(_shares('read.report_instalments', 1))}; END IF; END $$"
)


#: The reports' date keys on other contexts' tables, each indexed (brand_id, date, id) for keyset pages and date
#: ranges: (index name, table, date column, id column, whether the date may be NULL).
REPORT_DATE_KEYS = (
    ("loans_disbursed", "loans", "disbursed_on", "id", True),
    ("loans_sanctioned_on", "loans", "sanctioned_on", "id", True),
    ("loans_created_on", "loans", "created_on", "id", True),
    ("loans_closed_on", "loans", "closed_on", "id", True),
    ("loans_rejected", "loans", "rejected_on", "id", True),
    ("customers_created_at", "customers", "created_at", "id", False),
    ("collection_contacts_at", "collection_contacts", "at", "contact_id", False),
    ("collection_cases_opened", "collection_cases", "opened_on", "loan_id", True),
    # team-performance-report's actions by business day: without it every page and total read every brand's loan
    # events
    ("loan_events_day", "loan_events", "day", "loan_id", True),
)


class ReportBookView(Projection):
    """Instalments (scheduled and paid per bucket) and repayments of each disbursed loan."""

    name = "report_book"
    source = Loans.name
    tables = ("read.report_loan_brands", "read.report_instalments", "read.report_payments", "read.report_loan_totals",
              "read.report_due_days", "read.report_collection_requests")  # fmt: skip
    ddl = (
        "CREATE TABLE IF NOT EXISTS read.report_loan_brands (loan_id uuid PRIMARY KEY, brand_id uuid NOT NULL)",
        """CREATE TABLE IF NOT EXISTS read.report_instalments (
            loan_id uuid NOT NULL,
            no int NOT NULL,
            brand_id uuid NOT NULL,
            due_date date NOT NULL,
            principal numeric(16, 2) NOT NULL,
            interest numeric(16, 2) NOT NULL,
            paid_principal numeric(16, 2) NOT NULL DEFAULT 0,
            paid_interest numeric(16, 2) NOT NULL DEFAULT 0,
            paid_penal numeric(16, 2) NOT NULL DEFAULT 0,
            completed boolean NOT NULL DEFAULT false,
            PRIMARY KEY (loan_id, no)
        )""",
        # (a database made before `completed`: the column, filled once from the loans' statuses)
        ADD_COMPLETED,
        "CREATE INDEX IF NOT EXISTS report_instalments_due_idx ON read.report_instalments (brand_id, due_date, loan_id)",
        DUE_DAYS_FUNCTION,
        DUE_DAYS,  # (its triggers with it: made once, with the table)
        """CREATE TABLE IF NOT EXISTS read.report_payments (
            payment_id text NOT NULL,
            loan_id uuid NOT NULL,
            brand_id uuid NOT NULL,
            amount numeric(16, 2) NOT NULL,
            principal numeric(16, 2) NOT NULL,
            interest numeric(16, 2) NOT NULL,
            penal numeric(16, 2) NOT NULL,
            mode text NOT NULL,
            reference text NOT NULL,
            paid_on date NOT NULL,
            recorded_on date NOT NULL,
            recorded_by text NOT NULL,
            allocation jsonb NOT NULL,
            closes_loan boolean NOT NULL,
            reversed_on date,
            reversal_reason text,
            PRIMARY KEY (loan_id, payment_id)
        )""",
        "CREATE INDEX IF NOT EXISTS report_payments_paid_idx ON read.report_payments (brand_id, paid_on, loan_id)",
        # Who collected a repayment or recovery an approval recorded (a collection request's or manual receipt's
        # asker: agent-performance-report credits them, not the approver who recorded it); NULL: whoever recorded
        # it collected it. A database made before it: the column, filled by `projections rebuild report_book`.
        "ALTER TABLE read.report_payments ADD COLUMN IF NOT EXISTS collected_by text",
        # Who asked for each collection request and manual receipt, until its approval names its payment.
        """CREATE TABLE IF NOT EXISTS read.report_collection_requests (
            loan_id uuid NOT NULL,
            request_id text NOT NULL,
            brand_id uuid NOT NULL,
            requested_by text NOT NULL,
            PRIMARY KEY (loan_id, request_id)
        )""",
        # Each loan's totals, kept by the handlers below (REFRESH_LOAN_TOTALS after every change to the loan's
        # instalments or repayments): NULL principal / interest when it has no instalments, next_* NULL when every
        # instalment is paid; unpaid_due / unpaid_left are its unpaid instalments' due dates and what is left of
        # each (in instalment order), so what is overdue at any business date is read from the row.
        """CREATE TABLE IF NOT EXISTS read.report_loan_totals (
            loan_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            principal numeric,
            interest numeric,
            next_no int,
            next_due date,
            next_left numeric,
            unpaid_since date,
            unpaid_due date[],
            unpaid_left numeric[],
            payments int NOT NULL,
            repaid numeric NOT NULL,
            last_paid_on date,
            closed boolean NOT NULL DEFAULT false
        )""",
        # (a database made before `closed`: the column, false until `projections rebuild report_book` fills it)
        "ALTER TABLE read.report_loan_totals ADD COLUMN IF NOT EXISTS closed boolean NOT NULL DEFAULT false",
        "CREATE INDEX IF NOT EXISTS report_loan_totals_next_idx ON read.report_loan_totals (brand_id, next_due, loan_id) "
        "WHERE next_due IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS report_loan_totals_since_idx "
        "ON read.report_loan_totals (brand_id, unpaid_since, loan_id) WHERE unpaid_since IS NOT NULL",
        # the closed loans with no repayment standing (a few per cent of the closed loans; index-only)
        "CREATE INDEX IF NOT EXISTS report_loan_totals_closed_unpaid_idx ON read.report_loan_totals (brand_id, loan_id) "
        "WHERE closed AND payments = 0",
        CELL_FUNCTION,
        NUMBER_FUNCTION,
        # The reports' date keys on other contexts' tables (created after them: the contexts declared before this
        # one create theirs first; a rebuild of those projections drops these until the next start recreates them).
        # A NOT NULL date is indexed whole: PostgreSQL 17+ drops a query's `created_at IS NOT NULL` as redundant and
        # then cannot match a partial index on it (the partial one made before: master-report's pages of all dates
        # sorted the brand's 990k borrowers, ~300 ms, instead of reading the index in order, ~2 ms).
        "DROP INDEX IF EXISTS read.report_customers_created_idx",
        # (the closed loans' reports ranged over the closing instant until 2026-12-04; now over its business day)
        "DROP INDEX IF EXISTS read.report_loans_closed_idx",
        # (the sanction-dated reports and team-performance-report ranged over instants until 2026-12-05; now over
        # business days: read.loans.sanctioned_on, read.loan_events.day)
        "DROP INDEX IF EXISTS read.report_loans_sanctioned_idx",
        "DROP INDEX IF EXISTS read.report_loan_events_at_idx",
        *(
            f"CREATE INDEX IF NOT EXISTS report_{name}_idx ON read.{table} (brand_id, {column}, {key})"
            + (f" WHERE {column} IS NOT NULL" if nullable else "")
            for name, table, column, key, nullable in REPORT_DATE_KEYS
        ),
    )

    @handles(L.Created)
    def _created(self, position: int, event: L.Created) -> Iterator[Change]:
        # Later events carry no brand: the reports' rows take it from here (never from another projection's table,
        # which may be behind this one).
        yield Insert("read.report_loan_brands", {"loan_id": event.originator_id, "brand_id": event.brand_id})

    @handles(L.ServicingOpened)
    def _opened(self, position: int, event: sv.ServicingOpened) -> Iterator[Change]:
        rows = event.schedule.instalments
        yield Write(
            "INSERT INTO read.report_instalments (loan_id, no, brand_id, due_date, principal, interest) "
            "SELECT b.loan_id, u.no, b.brand_id, u.due, u.principal, u.interest FROM read.report_loan_brands b, "
            "unnest(%s::int[], %s::date[], %s::numeric[], %s::numeric[]) AS u(no, due, principal, interest) "
            "WHERE b.loan_id = %s ON CONFLICT (loan_id, no) DO NOTHING",
            ([i.no for i in rows], [i.due_date for i in rows], [i.principal for i in rows],
             [i.interest for i in rows], event.originator_id),
        )  # fmt: skip
        yield Write(REFRESH_LOAN_TOTALS, (event.originator_id,))

    @handles(L.RepaymentRecorded)
    def _repaid(self, position: int, event: sv.RepaymentRecorded) -> Iterator[Change]:
        p = event.payment
        allocation = [a.model_dump(mode="json") for a in p.allocation]
        yield Write(
            "INSERT INTO read.report_payments (payment_id, loan_id, brand_id, amount, principal, interest, penal, mode, "
            "reference, paid_on, recorded_on, recorded_by, allocation, closes_loan) "
            "SELECT %s, %s, brand_id, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM read.report_loan_brands "
            "WHERE loan_id = %s ON CONFLICT (loan_id, payment_id) DO NOTHING",
            (p.payment_id, event.originator_id, p.amount, sum((a.principal for a in p.allocation), start=_ZERO),
             sum((a.interest for a in p.allocation), start=_ZERO), sum((a.penal for a in p.allocation), start=_ZERO),
             p.mode.value, p.reference, p.paid_on, p.recorded_on, event.actor, Jsonb(allocation), p.closes_loan,
             event.originator_id),
        )  # fmt: skip
        if event.reallocated:  # dated before payments recorded earlier: they are applied differently now
            yield from _reallocate(event.originator_id, event.reallocated)
        else:
            for a in p.allocation:
                yield Write(
                    "UPDATE read.report_instalments SET paid_principal = paid_principal + %s, "
                    "paid_interest = paid_interest + %s, paid_penal = paid_penal + %s WHERE loan_id = %s AND no = %s",
                    (a.principal, a.interest, a.penal, event.originator_id, a.no),
                )
        yield Write(REFRESH_LOAN_TOTALS, (event.originator_id,))
        yield from _status(event)

    @handles(L.RecoveryRecorded)
    def _recovered(self, position: int, event: Any) -> Iterator[Change]:
        # Money received on a written-off loan (docs/recoveries.md): listed with the loan's repayments, as on its page
        # (collection-loan-report's repaid and payments, agent performance's collected), with no allocation - it
        # moves no instalment, so the reports by due date are unchanged. A recovery is never reversed.
        p = event.payment
        yield Write(
            "INSERT INTO read.report_payments (payment_id, loan_id, brand_id, amount, principal, interest, penal, mode, "
            "reference, paid_on, recorded_on, recorded_by, allocation, closes_loan) "
            "SELECT %s, %s, brand_id, %s, 0, 0, 0, %s, %s, %s, %s, %s, '[]'::jsonb, false FROM read.report_loan_brands "
            "WHERE loan_id = %s ON CONFLICT (loan_id, payment_id) DO NOTHING",
            (p.payment_id, event.originator_id, p.amount, p.mode.value, p.reference, p.paid_on, p.recorded_on,
             event.actor, event.originator_id),
        )  # fmt: skip
        yield Write(REFRESH_LOAN_TOTALS, (event.originator_id,))

    @handles(L.CollectionRequested)
    def _asked(self, position: int, event: Any) -> Iterator[Change]:
        # (a request recorded before it named its asker: the event's actor asked, as the Loan reads it)
        r = event.request
        yield Insert(
            "read.report_collection_requests",
            {"loan_id": event.originator_id, "request_id": r.request_id, "brand_id": event.brand_id,
             "requested_by": r.requested_by or event.actor},
        )  # fmt: skip

    @handles(L.CollectionApproved)
    def _approved(self, position: int, event: Any) -> Iterator[Change]:
        # The money is the RepaymentRecorded (or RecoveryRecorded) of the same commit, just before: recorded by the
        # approver (Ops, a collection manager), collected by who asked.
        yield Write(
            "UPDATE read.report_payments p SET collected_by = r.requested_by FROM read.report_collection_requests r "
            "WHERE r.loan_id = %s AND r.request_id = %s AND p.loan_id = r.loan_id AND p.payment_id = %s",
            (event.originator_id, event.request_id, event.payment_id),
        )

    @handles(L.RepaymentReversed)
    def _reversed(self, position: int, event: sv.RepaymentReversed) -> Iterator[Change]:
        if not event.reallocated:
            yield Write(
                "UPDATE read.report_instalments i SET paid_principal = i.paid_principal - a.principal, "
                "paid_interest = i.paid_interest - a.interest, paid_penal = i.paid_penal - a.penal "
                "FROM read.report_payments p, jsonb_to_recordset(p.allocation) "
                "AS a(no int, principal numeric, interest numeric, penal numeric) "
                "WHERE p.loan_id = %s AND p.payment_id = %s AND p.reversed_on IS NULL AND i.loan_id = p.loan_id "
                "AND i.no = a.no",
                (event.originator_id, event.payment_id),
            )
        yield Write(
            "UPDATE read.report_payments SET reversed_on = %s, reversal_reason = %s WHERE loan_id = %s "
            "AND payment_id = %s AND reversed_on IS NULL",
            (event.reversed_on, event.reason, event.originator_id, event.payment_id),
        )
        if event.reallocated:  # the payments after it are applied differently now
            yield from _reallocate(event.originator_id, event.reallocated)
        yield Write(REFRESH_LOAN_TOTALS, (event.originator_id,))
        yield from _status(event)

    @handles(L.StatusMoved, L.WaiverApproved, L.Settled, L.WrittenOff)
    def _moved(self, position: int, event: Transitioned) -> Iterator[Change]:
        # The other events that may close a loan (COB, a waiver of the last penal charges, settlement, write-off);
        # a repayment and its reversal (above) may close and re-open one. No other event leaves a closed state
        # (domain/loans/states.py: settled and written_off are final, completed re-opens only by a reversal).
        yield from _status(event)


#: A loan's instalments' paid amounts summed again from its standing repayments' allocations.
REPAID_AGAIN = (
    "UPDATE read.report_instalments i SET (paid_principal, paid_interest, paid_penal) = (SELECT "
    "coalesce(sum(a.principal), 0), coalesce(sum(a.interest), 0), coalesce(sum(a.penal), 0) "
    "FROM read.report_payments p, jsonb_to_recordset(p.allocation) "
    "AS a(no int, principal numeric, interest numeric, penal numeric) "
    "WHERE p.loan_id = i.loan_id AND p.reversed_on IS NULL AND a.no = i.no) WHERE i.loan_id = %s"
)


def _reallocate(loan_id: UUID, reallocated: tuple[sv.Reallocation, ...]) -> Iterator[Write]:
    """Repayments recorded earlier as the loan's replay applies them now (a back-dated payment before them, the
    reversal of one before them), and the instalments' paid amounts summed again from every standing one."""
    for moved in reallocated:
        lines = moved.allocation
        yield Write(
            "UPDATE read.report_payments SET principal = %s, interest = %s, penal = %s, allocation = %s "
            "WHERE loan_id = %s AND payment_id = %s",
            (sum((a.principal for a in lines), start=_ZERO), sum((a.interest for a in lines), start=_ZERO),
             sum((a.penal for a in lines), start=_ZERO), Jsonb([a.model_dump(mode="json") for a in lines]),
             loan_id, moved.payment_id),
        )  # fmt: skip
    yield Write(REPAID_AGAIN, (loan_id,))


def _status(event: Transitioned) -> Iterator[Write]:
    """The loan's `closed` and its instalments' `completed`, from the status a status-changing event leads to."""
    yield Write(MARK_CLOSED, (event.status in CLOSED_STATUSES, event.originator_id))
    # Only a reversal re-opens a completed loan (domain/loans/states.py): the other moves (COB's, many a day) leave
    # the instalments' flag as it is, without a statement (each fires the days' triggers).
    completed = event.status == LoanStatus.COMPLETED
    if completed or isinstance(event, L.RepaymentReversed):
        yield Write(MARK_COMPLETED, (completed, event.originator_id, completed))


class BorrowerActivityView(Projection):
    """Each borrower sign-in session (when it started, until when it runs, how it ended) and each funnel's
    employment step with its Customer 360 record (the master report's employment columns)."""

    name = "report_borrowers"
    source = Onboarding.name
    tables = ("read.report_borrower_sessions", "read.report_employment")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.report_employment (
            funnel_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid,
            employment jsonb,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS report_employment_customer_idx ON read.report_employment (customer_id)",
        """CREATE TABLE IF NOT EXISTS read.report_borrower_sessions (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            borrower_id uuid NOT NULL,
            started_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            ended_at timestamptz,
            end_reason text
        )""",
        "CREATE INDEX IF NOT EXISTS report_sessions_started_idx "
        "ON read.report_borrower_sessions (brand_id, started_at, id)",
    )

    @handles(S.Started)
    def _started(self, position: int, event: S.Started) -> Iterator[Change]:
        yield Insert(
            "read.report_borrower_sessions",
            {"id": event.originator_id, "brand_id": event.brand_id, "borrower_id": event.borrower_id,
             "started_at": event.timestamp, "expires_at": event.expires_at},
        )  # fmt: skip

    @handles(F.Started)
    def _funnel(self, position: int, event: F.Started) -> Iterator[Change]:
        yield Insert(
            "read.report_employment",
            {"funnel_id": event.originator_id, "brand_id": event.brand_id, "updated_at": event.timestamp},
        )

    @handles(F.CustomerLinked)
    def _linked(self, position: int, event: F.CustomerLinked) -> Iterator[Change]:
        yield Write(
            "UPDATE read.report_employment SET customer_id = %s, updated_at = %s WHERE funnel_id = %s",
            (event.customer_id, event.timestamp, event.originator_id),
        )

    @handles(F.StepRecorded)
    def _step(self, position: int, event: F.StepRecorded) -> Iterator[Change]:
        if event.step is Step.EMPLOYMENT:
            yield Write(
                "UPDATE read.report_employment SET employment = %s, updated_at = %s WHERE funnel_id = %s",
                (Jsonb(event.details), event.timestamp, event.originator_id),
            )

    @handles(S.Ended)
    def _ended(self, position: int, event: S.Ended) -> Iterator[Change]:
        yield Write(
            "UPDATE read.report_borrower_sessions SET ended_at = %s, end_reason = %s WHERE id = %s",
            (event.timestamp, event.reason, event.originator_id),
        )
