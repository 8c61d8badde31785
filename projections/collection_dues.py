"""The loan side of collections, from the loans' own events: each serviced loan's due dates with the cumulative
amount falling due by each (principal + interest of the schedule) and the cumulative principal alone (what a legal
case asks for: the principal of the instalments not yet due), the principal + interest its payments paid (as
the loan's replay allocates them: penal charges are not dues), its payments (`read.collection_payments`, reversals
marked, each with the instant it was recorded) and the day it came to owe nothing (`owes_nothing_on`). The
close-of-business sweep reads them set-based to find the loans due within the brand's pre-collection window and each
loan's unpaid amount; promises are judged by the payments and by that day (workers/collection_jobs.py,
`promise_tallies`).

Each loan's row also keeps its number, borrower and brand from its `Loan.Created` (the only loan event that carries
them: a loan's number and borrower never change), which the collection cases copy (projections/collections.py): never
from `read.loans`, another source's read model, empty while `projections rebuild loans` runs and behind when its runner
is (docs/architecture.md, "A projection reads no other projection's table while it projects"). The two projections
follow two sources at their own pace, so each fills in what the other wrote first: a case written before its loan is
here gets the number and borrower when `Loan.Created` is projected (`_FILL_CREATED`, once at the end of the batch for
all the loans it created), under one transaction lock (`LOANS_LOCK`) that both take before reading the other's rows,
so a case and its loan projected at the same moment cannot both miss each other. (Columns of the row a loan has
anyway, not a table of their own: a second row per loan cost the catch-up over loans' creations about a third of its
rate.)"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from uuid import UUID

from domain.loans import recovery_events as rv
from domain.loans import servicing_events as sv
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.loans.states import LoanStatus
from projections.projection import Change, Insert, Projection, Write, handles

L = Loan

#: A row per loan from its `Loan.Created`: its dues and payments, and its number, borrower and brand for the collection
#: cases' rows (joined by its primary key, `loan_id`, and the case's brand).
DUES = "read.collection_dues"

#: Taken (until commit) by every write of a case row that copies from `DUES` and by every fill of case rows from it,
#: before the statement that reads the other's rows: whichever commits second sees the other's rows (READ COMMITTED
#: takes a snapshot per statement). One key for all loans: a batch holds one lock however many loans it moves (a lock
#: per loan would take thousands of the server's lock slots in one sweep batch or replayed batch).
LOANS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('read.collection_dues'), 0)"

#: The case rows still without their loan's number and borrower take them from `DUES` (the loan's brand only), found by
#: the cases' partial index `collection_cases_unnumbered_idx`, each loan by `DUES`' primary key.
_FILL_CASES = (
    "UPDATE read.collection_cases c SET loan_number = d.loan_number, customer_id = d.customer_id "
    f"FROM {DUES} d WHERE d.loan_id = c.loan_id AND d.brand_id = c.brand_id AND c.loan_number IS NULL"
)

#: The case rows of the loans a batch created (their ids), still without their loan's number and borrower, take them
#: from `DUES` (those rows written by the batch before it). One statement a batch: a lock and an UPDATE per
#: `Loan.Created` halved the projection's catch-up rate over loans' creations.
_FILL_CREATED = (
    "UPDATE read.collection_cases c SET loan_number = d.loan_number, customer_id = d.customer_id "
    f"FROM {DUES} d WHERE c.loan_id = ANY(%s::uuid[]) AND d.loan_id = c.loan_id AND d.brand_id = c.brand_id "
    "AND c.loan_number IS NULL"
)

#: `_FILL_CASES` under the lock, where the cases table is (a DO block: each of its statements takes its own snapshot,
#: so the UPDATE sees every case committed before the lock was granted).
_FILL_CASES_LOCKED = (
    "DO $$ BEGIN IF to_regclass('read.collection_cases') IS NOT NULL THEN "
    f"PERFORM pg_advisory_xact_lock(hashtext('read.collection_dues'), 0); {_FILL_CASES}; END IF; END $$"
)

_DUES_TABLE = f"""CREATE TABLE IF NOT EXISTS {DUES} (
    loan_id uuid PRIMARY KEY,
    due_dates date[] NOT NULL,
    cum_due numeric(16, 2)[] NOT NULL,
    -- The cumulative principal falling due by each due date (the schedule's principal alone): with `cum_due`, what a
    -- loan still being repaid owes in post-collections (see _PRINCIPAL_COLUMN).
    cum_principal numeric(16, 2)[],
    paid numeric(16, 2) NOT NULL DEFAULT 0,  -- scheduled principal + interest paid (see _paid_now)
    -- Once the loan ended other than by its schedule: 0 when settled, what is left to recover when written off (the
    -- write-off's total less the recoveries since); null while serviced (see _ended).
    left_to_recover numeric(16, 2),
    -- From `Loan.Created`, for the collection cases (null on a row made before the columns whose loan `read.loans`
    -- lacked then: see _LOAN_COLUMNS).
    brand_id uuid,
    loan_number text,
    customer_id uuid,
    owes_nothing_on date  -- see _OWES_NOTHING
)"""

#: The day the loan came to owe nothing - completed (paid off, or its last penal charges waived), settled, or written
#: off with all of it recovered - or null while it owes (a reversal that re-opens it clears it). By money, it is the
#: latest `paid_on` of the payments that stand: once a loan owes nothing no payment is taken, and a back-dated one
#: that would leave a later one above the payoff is refused, so the last payment by date is the one that ended it
#: (a collection request approved days later ended it on the day it was collected, as its payment is dated). A
#: waiver ends it on the day it was approved; a settlement on the day of the payment completing it. Promises are
#: kept by it (`Promise.verdict`). A table made before it kept it: null, the promises judged by money alone, until
#: `projections rebuild collection_dues`.
_OWES_NOTHING = f"ALTER TABLE {DUES} ADD COLUMN IF NOT EXISTS owes_nothing_on date"

#: The latest `paid_on` of the loan's standing payments (`%(loan)s`).
_LAST_PAID = "(SELECT max(p.paid_on) FROM read.collection_payments p WHERE p.loan_id = %(loan)s AND NOT p.reversed)"

#: When each payment was recorded (its event's instant): a promise counts only money recorded after it was made.
#: Rows projected before the column have none (counted as before, by their date alone) until
#: `projections rebuild collection_dues`.
_RECORDED_AT = "ALTER TABLE read.collection_payments ADD COLUMN IF NOT EXISTS recorded_at timestamptz"

#: A repayment or recovery (`%(loan)s`, `%(payment)s`, `%(amount)s`, `%(paid_on)s`, `%(at)s`).
_PAYMENT = (
    "INSERT INTO read.collection_payments (loan_id, payment_id, amount, paid_on, recorded_at) "
    "VALUES (%(loan)s, %(payment)s, %(amount)s, %(paid_on)s, %(at)s) ON CONFLICT DO NOTHING"
)

#: The loan's number, borrower and brand, added to a `DUES` made before it kept them, and filled then, once, from
#: `read.loans` (the loans created before the upgrade); and the case rows left without a number get theirs. On a fresh database and on a rebuild (which drops the table first) the table is made with the columns and
#: nothing is copied: the replay of `Loan.Created` fills them.
_LOAN_COLUMNS = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'read.collection_dues'::regclass "
    "AND attname = 'loan_number' AND NOT attisdropped) THEN "
    f"ALTER TABLE {DUES} ADD COLUMN IF NOT EXISTS brand_id uuid, ADD COLUMN IF NOT EXISTS loan_number text, "
    "ADD COLUMN IF NOT EXISTS customer_id uuid; "
    "IF to_regclass('read.loans') IS NOT NULL THEN "
    f"UPDATE {DUES} d SET brand_id = l.brand_id, loan_number = l.loan_number, customer_id = l.customer_id "
    "FROM read.loans l WHERE l.id = d.loan_id; END IF; "
    f"IF to_regclass('read.collection_cases') IS NOT NULL THEN {_FILL_CASES}; END IF; "
    "END IF; END $$"
)


#: `cum_principal`, added to a `DUES` made before it kept it, and filled then, once, from the reports' instalments
#: (`read.report_instalments`: the same schedules, from the same `ServicingOpened` events) for the loans whose whole
#: schedule is there; a loan not yet serviced gets an empty array. A row left null (the reports' projection behind or
#: absent at that start) is asked for as before - every scheduled instalment left - until `projections rebuild
#: collection_dues`. On a fresh database and on a rebuild the table is made with the column and the replay fills it.
_PRINCIPAL_COLUMN = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'read.collection_dues'::regclass "
    "AND attname = 'cum_principal' AND NOT attisdropped) THEN "
    f"ALTER TABLE {DUES} ADD COLUMN cum_principal numeric(16, 2)[]; "
    f"UPDATE {DUES} SET cum_principal = '{{}}' WHERE cardinality(due_dates) = 0; "
    "IF to_regclass('read.report_instalments') IS NOT NULL THEN "
    f"UPDATE {DUES} d SET cum_principal = s.cum FROM (SELECT loan_id, array_agg(cum ORDER BY no) AS cum, "
    "count(*) AS n FROM (SELECT loan_id, no, sum(principal) OVER (PARTITION BY loan_id ORDER BY no) AS cum "
    "FROM read.report_instalments) i GROUP BY loan_id) s WHERE s.loan_id = d.loan_id "
    "AND s.n = cardinality(d.due_dates); END IF; "
    "END IF; END $$"
)


class CollectionDuesView(Projection):
    """Due dates, cumulative dues and payments of every loan (a row from its creation, its dues once serviced), and
    each loan's number, borrower and brand for the collection cases."""

    name = "collection_dues"
    source = Loans.name
    tables = (DUES, "read.collection_payments")
    ddl = (
        _DUES_TABLE,
        # A table made before it kept it: null, the sweep's former figure, until `projections rebuild collection_dues`.
        f"ALTER TABLE {DUES} ADD COLUMN IF NOT EXISTS left_to_recover numeric(16, 2)",
        _LOAN_COLUMNS,
        _PRINCIPAL_COLUMN,
        _OWES_NOTHING,
        """CREATE TABLE IF NOT EXISTS read.collection_payments (
            loan_id uuid NOT NULL,
            payment_id text NOT NULL,
            amount numeric(16, 2) NOT NULL,
            paid_on date NOT NULL,
            reversed boolean NOT NULL DEFAULT false,
            recorded_at timestamptz,
            PRIMARY KEY (loan_id, payment_id)
        )""",
        _RECORDED_AT,
        # The sweep finds the loans falling due within the pre-collection window by their due dates.
        "CREATE INDEX IF NOT EXISTS collection_dues_dates_idx ON read.collection_dues USING gin (due_dates)",
    )

    def __init__(self) -> None:
        self._batch_loans: list[UUID] = []  # the loans created in the batch (their case rows filled at its end)

    def rebuilt_statements(self) -> Sequence[str]:
        # The case rows written while the replay had not yet reached their loans (their `Loan.Created` was projected
        # with `rebuilding` set, so without the fill at the end of their batch).
        return (_FILL_CASES_LOCKED,)

    @handles(L.Created)
    def _created(self, position: int, event: Loan.Created) -> Iterator[Change]:
        loan_id = event.originator_id
        yield Insert(DUES, {"loan_id": loan_id, "due_dates": [], "cum_due": [], "cum_principal": [],
                            "brand_id": event.brand_id, "loan_number": event.loan_number,
                            "customer_id": event.customer_id})  # fmt: skip
        if not self.rebuilding:  # (a rebuild fills the cases once, after its replay: `rebuilt_statements`)
            self._batch_loans.append(loan_id)

    def begin_batch(self) -> None:
        self._batch_loans = []

    def end_batch(self) -> Iterable[Change]:
        """The case rows written before their loans (this projection behind or being rebuilt) take the numbers and
        borrowers of the loans the batch created: one UPDATE under `LOANS_LOCK`, after the batch's rows."""
        created, self._batch_loans = self._batch_loans, []
        if created:
            yield Write(LOANS_LOCK, ())
            yield Write(_FILL_CREATED, (created,))

    @handles(L.ServicingOpened)
    def _opened(self, position: int, event: sv.ServicingOpened) -> Iterator[Change]:
        total, principal = Decimal("0.00"), Decimal("0.00")
        cumulative, cum_principal = [], []
        for instalment in event.schedule.instalments:
            total += instalment.amount
            principal += instalment.principal
            cumulative.append(total)
            cum_principal.append(principal)
        yield Write(
            "INSERT INTO read.collection_dues (loan_id, due_dates, cum_due, cum_principal) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (loan_id) DO UPDATE SET due_dates = EXCLUDED.due_dates, cum_due = EXCLUDED.cum_due, "
            "cum_principal = EXCLUDED.cum_principal",
            (event.originator_id, [i.due_date for i in event.schedule.instalments], cumulative, cum_principal),
        )

    @handles(L.RepaymentRecorded)
    def _paid(self, position: int, event: sv.RepaymentRecorded) -> Iterator[Change]:
        yield _payment(event.originator_id, event.payment, event)
        yield _paid_now(event.originator_id, event.principal_interest_paid, event.payment.amount)
        if event.status == LoanStatus.COMPLETED:  # paid off: on the day of its last payment (see _OWES_NOTHING)
            yield Write(
                f"UPDATE {DUES} SET owes_nothing_on = {_LAST_PAID} WHERE loan_id = %(loan)s",
                {"loan": event.originator_id},
            )

    @handles(L.RecoveryRecorded)
    def _recovered(self, position: int, event: rv.RecoveryRecorded) -> Iterator[Change]:
        """Money received on a written-off loan keeps a promise to pay as a repayment does (promises are taken on
        such loans: they still owe); the dues' `paid` is left as the write-off found it."""
        p = event.payment
        yield _payment(event.originator_id, p, event)
        # All of it recovered: the loan owes nothing from the day of its last payment (see _OWES_NOTHING).
        yield Write(
            f"UPDATE {DUES} SET left_to_recover = greatest(left_to_recover - %(amount)s, 0), owes_nothing_on = "
            f"CASE WHEN left_to_recover - %(amount)s <= 0 THEN {_LAST_PAID} ELSE owes_nothing_on END "
            "WHERE loan_id = %(loan)s",
            {"amount": p.amount, "loan": event.originator_id},
        )

    @handles(L.Settled, L.WrittenOff)
    def _ended(self, position: int, event: rv.Settled | rv.WrittenOff) -> Iterator[Change]:
        """What the collection case of a settled or written-off loan shows as unpaid: nothing once settled; the
        write-off's total, less each recovery after it (`_recovered`). It was every scheduled instalment left, future
        interest never charged included, whatever was recovered."""
        left = event.ending.total if isinstance(event, rv.WrittenOff) else Decimal("0.00")
        # Settled by the payment recorded with it: on the day of the last payment (see _OWES_NOTHING); a write-off
        # of nothing owes nothing from its day.
        ended = f"coalesce({_LAST_PAID}, %(on)s)" if left <= 0 else "NULL"
        yield Write(
            f"UPDATE {DUES} SET left_to_recover = %(left)s, owes_nothing_on = {ended} WHERE loan_id = %(loan)s",
            {"left": left, "on": event.ending.on, "loan": event.originator_id},
        )

    @handles(L.WaiverApproved)
    def _waived(self, position: int, event: rv.WaiverApproved) -> Iterator[Change]:
        """A waiver of a loan's last penal charges completes it on the day it was approved."""
        if event.status == LoanStatus.COMPLETED:
            yield Write(
                f"UPDATE {DUES} SET owes_nothing_on = greatest({_LAST_PAID}, %(on)s) WHERE loan_id = %(loan)s",
                {"on": event.waived_on, "loan": event.originator_id},
            )

    @handles(L.RepaymentReversed)
    def _reversed(self, position: int, event: sv.RepaymentReversed) -> Iterator[Change]:
        yield Write(
            "UPDATE read.collection_payments SET reversed = true WHERE loan_id = %s AND payment_id = %s",
            (event.originator_id, event.payment_id),
        )
        yield _paid_now(event.originator_id, event.principal_interest_paid, -event.amount)
        if event.status not in (LoanStatus.COMPLETED, LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF):  # it owes again
            yield Write(f"UPDATE {DUES} SET owes_nothing_on = NULL WHERE loan_id = %s", (event.originator_id,))


def _payment(loan_id: UUID, payment: sv.PaymentRecord, event: sv.RepaymentRecorded | rv.RecoveryRecorded) -> Write:
    """The payment's row, with the instant its event was recorded."""
    return Write(_PAYMENT, {"loan": loan_id, "payment": payment.payment_id, "amount": payment.amount,
                            "paid_on": payment.paid_on, "at": event.timestamp})  # fmt: skip


def _paid_now(loan_id: UUID, principal_interest_paid: Decimal | None, amount: Decimal) -> Write:
    """`paid` as the event says after the loan's replay; on an event recorded before it said so, moved by the
    payment's whole amount (its penal portion included)."""
    if principal_interest_paid is not None:
        return Write("UPDATE read.collection_dues SET paid = %s WHERE loan_id = %s", (principal_interest_paid, loan_id))
    return Write("UPDATE read.collection_dues SET paid = paid + %s WHERE loan_id = %s", (amount, loan_id))
