"""The loan side of collections, from the loans' own events: each serviced loan's due dates with the cumulative
amount falling due by each (principal + interest of the schedule), the principal + interest its payments paid (as
the loan's replay allocates them: penal charges are not dues), and its payments (`read.collection_payments`,
reversals marked). The close-of-business sweep reads them set-based to find the loans due within the brand's
pre-collection window and each loan's unpaid amount; promises are judged by the payments."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from uuid import UUID

from domain.loans import servicing_events as sv
from domain.loans.application import Loans
from domain.loans.loan import Loan
from projections.projection import Change, Insert, Projection, Write, handles

L = Loan


class CollectionDuesView(Projection):
    """Due dates, cumulative dues and payments of every loan (a row from its creation, its dues once serviced)."""

    name = "collection_dues"
    source = Loans.name
    tables = ("read.collection_dues", "read.collection_payments")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.collection_dues (
            loan_id uuid PRIMARY KEY,
            due_dates date[] NOT NULL,
            cum_due numeric(16, 2)[] NOT NULL,
            paid numeric(16, 2) NOT NULL DEFAULT 0  -- scheduled principal + interest paid (see _paid_now)
        )""",
        """CREATE TABLE IF NOT EXISTS read.collection_payments (
            loan_id uuid NOT NULL,
            payment_id text NOT NULL,
            amount numeric(16, 2) NOT NULL,
            paid_on date NOT NULL,
            reversed boolean NOT NULL DEFAULT false,
            PRIMARY KEY (loan_id, payment_id)
        )""",
        # The sweep finds the loans falling due within the pre-collection window by their due dates.
        "CREATE INDEX IF NOT EXISTS collection_dues_dates_idx ON read.collection_dues USING gin (due_dates)",
    )

    @handles(L.Created)
    def _created(self, position: int, event: Loan.Created) -> Iterator[Change]:
        yield Insert("read.collection_dues", {"loan_id": event.originator_id, "due_dates": [], "cum_due": []})

    @handles(L.ServicingOpened)
    def _opened(self, position: int, event: sv.ServicingOpened) -> Iterator[Change]:
        total = Decimal("0.00")
        cumulative = []
        for instalment in event.schedule.instalments:
            total += instalment.amount
            cumulative.append(total)
        yield Write(
            "INSERT INTO read.collection_dues (loan_id, due_dates, cum_due) VALUES (%s, %s, %s) "
            "ON CONFLICT (loan_id) DO UPDATE SET due_dates = EXCLUDED.due_dates, cum_due = EXCLUDED.cum_due",
            (event.originator_id, [i.due_date for i in event.schedule.instalments], cumulative),
        )

    @handles(L.RepaymentRecorded)
    def _paid(self, position: int, event: sv.RepaymentRecorded) -> Iterator[Change]:
        p = event.payment
        yield Write(
            "INSERT INTO read.collection_payments (loan_id, payment_id, amount, paid_on) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (event.originator_id, p.payment_id, p.amount, p.paid_on),
        )
        yield _paid_now(event.originator_id, event.principal_interest_paid, p.amount)

    @handles(L.RepaymentReversed)
    def _reversed(self, position: int, event: sv.RepaymentReversed) -> Iterator[Change]:
        yield Write(
            "UPDATE read.collection_payments SET reversed = true WHERE loan_id = %s AND payment_id = %s",
            (event.originator_id, event.payment_id),
        )
        yield _paid_now(event.originator_id, event.principal_interest_paid, -event.amount)


def _paid_now(loan_id: UUID, principal_interest_paid: Decimal | None, amount: Decimal) -> Write:
    """`paid` as the event says after the loan's replay; on an event recorded before it said so, moved by the
    payment's whole amount (its penal portion included)."""
    if principal_interest_paid is not None:
        return Write("UPDATE read.collection_dues SET paid = %s WHERE loan_id = %s", (principal_interest_paid, loan_id))
    return Write("UPDATE read.collection_dues SET paid = paid + %s WHERE loan_id = %s", (amount, loan_id))
