"""The loans' read model the borrower notifications are sent from (issue #17 item 3): `read.engagement_loans` (a
serviced loan's borrower, number, status, disbursal and closure, what was repaid) and `read.engagement_dues` (each
instalment's due date, amount and the running total due through it). An instalment counts as paid once the
scheduled principal and interest the loan was paid (`scheduled_paid`: the payments as the LENDING.md waterfall
allocates them, penal charges first, so what went to penal charges does not pay an instalment) reaches that running
total (payments settle the oldest instalment first). Before, the whole of every payment counted: a borrower who paid
an overdue instalment's amount but not its penal charges was no longer reminded, though the loan stayed overdue.

`EngagementDueQueries` pages the instalments owing a reminder on a date, joined with the borrower's contact and
messaging preferences, skipping those whose message keys are taken (`ops.messages`), so a rerun reads nothing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.loans import recovery_events as rv
from domain.loans import servicing_events as sv
from domain.loans.application import Loans
from domain.loans.loan import Loan, Transitioned
from domain.loans.loan_events import Disbursed
from domain.loans.states import SERVICING_CODES
from projections.projection import Change, Insert, Projection, Write, handles, topics_of

L = Loan
#: The statuses of a loan being serviced (the domain's SERVICING), the dues queries' array parameter.
SERVICED = SERVICING_CODES
#: Every status change of a loan reaches this projection (a projection reads only the topics it names, and a
#: `Transitioned` subclass without a handler of its own would otherwise never arrive: StatusMoved, Settled, ...).
_TRANSITIONS = sorted(
    {kind for name in dir(Loan) if isinstance(kind := getattr(Loan, name), type) and issubclass(kind, Transitioned)},
    key=lambda kind: kind.__qualname__,
)


class EngagementDuesView(Projection):
    """Loan events -> `read.engagement_loans` and `read.engagement_dues` (see the module doc)."""

    name = "engagement_dues"
    source = Loans.name
    tables = ("read.engagement_loans", "read.engagement_dues")
    topics = topics_of(L.Created, L.ServicingOpened, L.NoDueCertificateIssued, *_TRANSITIONS)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.engagement_loans (
            loan_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            loan_number text NOT NULL,
            amount numeric(16, 2) NOT NULL,
            status text NOT NULL,
            disbursed_on date,
            disbursed_amount numeric(16, 2),
            closed_on date,
            repaid numeric(16, 2) NOT NULL DEFAULT 0,
            ndc_code text,
            scheduled_paid numeric(16, 2) NOT NULL DEFAULT 0,
            reopened int NOT NULL DEFAULT 0
        )""",
        # The times a reversal re-opened the completed loan (its certificate withdrawn): each closure after one is
        # told to the borrower again, with its new certificate (`paid` message key). A table made before it starts at
        # 0, as the loans it holds were told of their closures; a rebuild counts them from the events.
        "ALTER TABLE read.engagement_loans ADD COLUMN IF NOT EXISTS reopened int NOT NULL DEFAULT 0",
        # A table made before it kept `scheduled_paid` starts it at what was repaid (what counted before); a rebuild
        # (`projections rebuild engagement_dues`) gives each loan its figure from the events.
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'read.engagement_loans'::regclass "
        "AND attname = 'scheduled_paid' AND NOT attisdropped) THEN "
        "ALTER TABLE read.engagement_loans ADD COLUMN scheduled_paid numeric(16, 2); "
        "UPDATE read.engagement_loans SET scheduled_paid = repaid; "
        "ALTER TABLE read.engagement_loans ALTER COLUMN scheduled_paid SET NOT NULL, "
        "ALTER COLUMN scheduled_paid SET DEFAULT 0; END IF; END $$",
        "CREATE INDEX IF NOT EXISTS engagement_loans_disbursed_idx ON read.engagement_loans (brand_id, disbursed_on) "
        "WHERE disbursed_on IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS engagement_loans_closed_idx ON read.engagement_loans (brand_id, closed_on) "
        "WHERE closed_on IS NOT NULL",
        """CREATE TABLE IF NOT EXISTS read.engagement_dues (
            loan_id uuid NOT NULL,
            no int NOT NULL,
            brand_id uuid NOT NULL,
            due_date date NOT NULL,
            amount numeric(16, 2) NOT NULL,
            through numeric(16, 2) NOT NULL,
            PRIMARY KEY (loan_id, no)
        )""",
        "CREATE INDEX IF NOT EXISTS engagement_dues_date_idx ON read.engagement_dues (brand_id, due_date, loan_id, no)",
    )

    @handles(L.Created)
    def _created(self, position: int, event: Any) -> Iterator[Change]:
        yield Insert(
            "read.engagement_loans",
            {"loan_id": event.originator_id, "brand_id": event.brand_id, "customer_id": event.customer_id,
             "loan_number": event.loan_number, "amount": event.amount, "status": "onboarding"},
        )  # fmt: skip

    @handles(Transitioned)
    def _moved(self, position: int, event: Any) -> Iterator[Change]:
        yield Write(
            "UPDATE read.engagement_loans SET status = %s WHERE loan_id = %s", (str(event.status), event.originator_id)
        )

    @handles(L.WaiverApproved)
    def _waived(self, position: int, event: rv.WaiverApproved) -> Iterator[Change]:
        """A waiver of the last penal charges completes the loan, on the day they were waived: the "paid" message
        (with its no-due certificate link) goes out for it as for a closing payment. Before, only a closing payment
        or a certificate downloaded set `closed_on`, so such a borrower never heard their loan was closed."""
        yield Write(
            "UPDATE read.engagement_loans SET status = %s, "
            "closed_on = CASE WHEN %s = 'completed' THEN %s ELSE closed_on END WHERE loan_id = %s",
            (str(event.status), str(event.status), event.waived_on, event.originator_id),
        )

    @handles(L.ProductChanged)
    def _product_changed(self, position: int, event: Any) -> Iterator[Change]:
        """LOAN_RULE_TYPE moved the open application to another product: its status and amount."""
        yield Write(
            "UPDATE read.engagement_loans SET status = %s, amount = %s WHERE loan_id = %s",
            (str(event.status), event.amount, event.originator_id),
        )

    @handles(L.Disbursed)
    def _disbursed(self, position: int, event: Disbursed) -> Iterator[Change]:
        yield Write(
            "UPDATE read.engagement_loans SET status = %s, disbursed_on = %s, disbursed_amount = %s WHERE loan_id = %s",
            (str(event.status), event.disbursed_on, event.amount, event.originator_id),
        )

    @handles(L.ServicingOpened)
    def _opened(self, position: int, event: sv.ServicingOpened) -> Iterator[Change]:
        yield Write("DELETE FROM read.engagement_dues WHERE loan_id = %s", (event.originator_id,))
        through = Decimal(0)
        for item in event.schedule.instalments:
            through += item.amount
            yield Write(
                "INSERT INTO read.engagement_dues (loan_id, no, brand_id, due_date, amount, through) "
                "SELECT %s, %s, brand_id, %s, %s, %s FROM read.engagement_loans WHERE loan_id = %s "
                "ON CONFLICT (loan_id, no) DO NOTHING",
                (event.originator_id, item.no, item.due_date, item.amount, through, event.originator_id),
            )

    @handles(L.RepaymentRecorded)
    def _repaid(self, position: int, event: sv.RepaymentRecorded) -> Iterator[Change]:
        p = event.payment
        yield Write(
            "UPDATE read.engagement_loans SET status = %s, repaid = repaid + %s, "
            "scheduled_paid = COALESCE(%s, scheduled_paid + %s), "
            "closed_on = CASE WHEN %s THEN %s ELSE closed_on END WHERE loan_id = %s",
            (
                str(event.status),
                p.amount,
                event.principal_interest_paid,
                p.amount,
                p.closes_loan,
                p.paid_on,
                event.originator_id,
            ),
        )

    @handles(L.RepaymentReversed)
    def _reversed(self, position: int, event: sv.RepaymentReversed) -> Iterator[Change]:
        """What was paid goes back; a reversal that re-opens the completed loan withdraws its certificate (no code
        while it owes: `RepaymentReversed.apply`) and counts in `reopened` (the right-hand sides read the row before
        the update: its status was `completed`), also for events recorded before they said `no_due_withdrawn`."""
        yield Write(
            "UPDATE read.engagement_loans SET status = %s, repaid = repaid - %s, "
            "scheduled_paid = COALESCE(%s, scheduled_paid - %s), "
            "closed_on = CASE WHEN %s = 'completed' THEN closed_on END, "
            "ndc_code = CASE WHEN %s = 'completed' THEN ndc_code END, "
            "reopened = reopened + CASE WHEN status = 'completed' AND %s <> 'completed' THEN 1 ELSE 0 END "
            "WHERE loan_id = %s",
            (
                str(event.status),
                event.amount,
                event.principal_interest_paid,
                event.amount,
                str(event.status),
                str(event.status),
                str(event.status),
                event.originator_id,
            ),
        )

    @handles(L.NoDueCertificateIssued)
    def _no_due(self, position: int, event: sv.NoDueCertificateIssued) -> Iterator[Change]:
        yield Write(
            "UPDATE read.engagement_loans SET ndc_code = %s, closed_on = COALESCE(closed_on, %s) WHERE loan_id = %s",
            (event.verification_code, event.closed_on, event.originator_id),
        )


@dataclass(frozen=True)
class Recipient:
    """A borrower as a message addresses them: contact details, language, opted-out channels."""

    customer_id: UUID
    name: str
    phone: str
    email: str | None
    language: str
    opted_out: tuple[str, ...]


@dataclass(frozen=True)
class DueItem:
    """An instalment (or a loan event: disbursal, closure) owing a notification, with its borrower."""

    loan_id: UUID
    loan_number: str
    instalment: int | None
    due_date: date | None
    amount: Decimal
    recipient: Recipient
    ndc_code: str | None = None
    reopened: int = 0  # the times a reversal re-opened the completed loan (engagement_loans.reopened)


#: The one rule of "still owed" (the job's due and overdue queries and the check of a waiting reminder): the loan is
#: serviced (its statuses the one parameter) and the scheduled principal and interest it was paid has not reached the
#: instalment's running total.
OWED = "l.status = ANY(%s) AND l.scheduled_paid < d.through"
#: What a due-date reminder asks for: what is left of the instalment (a part paid ahead of its date is off).
LEFT_OF_INSTALMENT = "LEAST(d.amount, d.through - l.scheduled_paid)"
#: What an overdue reminder asks for: everything owed through the last instalment due before the date (`%s`) - every
#: overdue instalment, not only the oldest (the pay page it links to asks for them all); penal charges are not in it.
ARREARS = (
    "(SELECT max(o.through) FROM read.engagement_dues o WHERE o.loan_id = d.loan_id AND o.due_date < %s) "
    "- l.scheduled_paid"
)

#: The kinds of message that ask for an instalment (the ones a waiting message is checked for).
REMINDER_KINDS = ("due_7", "due_3", "due_1", "due_0", "overdue")


@dataclass(frozen=True)
class WaitingReminder:
    """A due-date or overdue reminder waiting to go, as the read model stands now: whether its instalment is still
    owed and, when it is, what the reminder would ask for now (`amount`) and its values."""

    message_id: UUID
    kind: str
    loan_id: UUID
    owed: bool
    due_date: date | None
    amount: Decimal | None
    loan_number: str | None
    borrower_name: str | None


_RECIPIENT = (
    "c.id AS customer_id, c.name, c.phone, c.email, COALESCE(p.language, 'en') AS language, "
    "COALESCE(p.opted_out, '{}') AS opted_out"
)
_PEOPLE = (
    "JOIN read.customers c ON c.id = l.customer_id "
    "LEFT JOIN ops.messaging_preferences p ON p.brand_id = l.brand_id AND p.customer_id = l.customer_id"
)


def _recipient(row: Any) -> Recipient:
    return Recipient(row["customer_id"], row["name"], row["phone"], row["email"], row["language"],
                     tuple(row["opted_out"] or ()))  # fmt: skip


class EngagementDueQueries:
    """What the borrower-notifications job reads (see the module doc)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def instalments_due(self, brand_id: UUID, due_date: date, key_prefix: str, channels: Sequence[str],
                        after: tuple[UUID, int] | None, limit: int) -> list[DueItem]:  # fmt: skip
        """Unpaid instalments of serviced loans falling due on `due_date` that still owe a message on one of
        `channels` (the key `<key_prefix>:<loan>:<no>:<channel>` not taken), a keyset page by (loan, no)."""
        keys = [f"{key_prefix}:' || d.loan_id || ':' || d.no || ':{c}" for c in channels]
        # OFFSET 0 keeps each NOT EXISTS a probe of the key's unique index per candidate row: pulled up into an
        # anti-join (as PostgreSQL does with one channel), the plan may hash every message of the brand per page.
        missing = " OR ".join(
            f"NOT EXISTS (SELECT 1 FROM ops.messages m WHERE m.brand_id = d.brand_id AND m.dedupe_key = '{k}' OFFSET 0)"
            for k in keys
        )
        with self.pool.connection() as conn:
            rows = conn.execute(
                # What is left of the instalment: a payment ahead of its date (in part) is off what it asks for.
                f"SELECT d.loan_id, l.loan_number, d.no, d.due_date, {LEFT_OF_INSTALMENT} AS amount, "
                f"l.ndc_code, {_RECIPIENT} "
                f"FROM read.engagement_dues d JOIN read.engagement_loans l ON l.loan_id = d.loan_id {_PEOPLE} "
                f"WHERE d.brand_id = %s AND d.due_date = %s AND {OWED} "
                f"AND ({missing}) AND (%s::uuid IS NULL OR (d.loan_id, d.no) > (%s, %s)) "
                "ORDER BY d.loan_id, d.no LIMIT %s",
                (brand_id, due_date, list(SERVICED), *((after[0], after[0], after[1]) if after else (None, None, None)),
                 limit),
            ).fetchall()  # fmt: skip
        return [_item(r) for r in rows]

    def overdue(self, brand_id: UUID, as_of: date, after: UUID | None, limit: int) -> list[DueItem]:
        """Each serviced loan's oldest unpaid instalment past its due date on `as_of`, a keyset page by loan."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT ON (d.loan_id) d.loan_id, l.loan_number, d.no, d.due_date, "
                f"{ARREARS} AS amount, l.ndc_code, {_RECIPIENT} "
                f"FROM read.engagement_dues d JOIN read.engagement_loans l ON l.loan_id = d.loan_id {_PEOPLE} "
                f"WHERE d.brand_id = %s AND d.due_date < %s AND {OWED} "
                "AND (%s::uuid IS NULL OR d.loan_id > %s) ORDER BY d.loan_id, d.no LIMIT %s",
                (as_of, brand_id, as_of, list(SERVICED), after, after, limit),
            ).fetchall()
        return [_item(r) for r in rows]

    def disbursed(self, brand_id: UUID, since: date, until: date, after: UUID | None, limit: int) -> list[DueItem]:
        """Loans disbursed between `since` and `until` (their first instalment's date as `due_date`)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT l.loan_id, l.loan_number, NULL AS no, (SELECT min(due_date) FROM read.engagement_dues d "
                "WHERE d.loan_id = l.loan_id) AS due_date, COALESCE(l.disbursed_amount, l.amount) AS amount, "
                f"l.ndc_code, {_RECIPIENT} FROM read.engagement_loans l {_PEOPLE} "
                "WHERE l.brand_id = %s AND l.disbursed_on BETWEEN %s AND %s AND (%s::uuid IS NULL OR l.loan_id > %s) "
                "ORDER BY l.loan_id LIMIT %s",
                (brand_id, since, until, after, after, limit),
            ).fetchall()
        return [_item(r) for r in rows]

    def closed(self, brand_id: UUID, since: date, until: date, after: UUID | None, limit: int) -> list[DueItem]:
        """Loans fully paid (completed) between `since` and `until`; `amount` is what was repaid."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT l.loan_id, l.loan_number, NULL AS no, l.closed_on AS due_date, l.repaid AS amount, "
                f"l.ndc_code, l.reopened, {_RECIPIENT} FROM read.engagement_loans l {_PEOPLE} "
                "WHERE l.brand_id = %s AND l.status = 'completed' AND l.closed_on BETWEEN %s AND %s "
                "AND (%s::uuid IS NULL OR l.loan_id > %s) ORDER BY l.loan_id LIMIT %s",
                (brand_id, since, until, after, after, limit),
            ).fetchall()
        return [_item(r) for r in rows]

    def waiting_reminders(self, brand_id: UUID, message_ids: Sequence[UUID], as_of: date) -> list[WaitingReminder]:
        """Of these messages, the due-date and overdue reminders of an instalment still waiting to go (`queued` for a
        retry, `deferred` by quiet hours), each with whether its instalment is still owed now (`OWED`, the rule the
        job composed it by) and what it would ask for on the business date `as_of`. One query for a page of
        messages."""
        if not message_ids:
            return []
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT m.id, m.kind, m.loan_id, COALESCE(d.no IS NOT NULL AND {OWED}, false) AS owed, d.due_date, "
                f"CASE WHEN m.kind = 'overdue' THEN {ARREARS} ELSE {LEFT_OF_INSTALMENT} END AS amount, "
                "l.loan_number, c.name FROM ops.messages m "
                "LEFT JOIN read.engagement_loans l ON l.loan_id = m.loan_id AND l.brand_id = m.brand_id "
                "LEFT JOIN read.engagement_dues d ON d.loan_id = m.loan_id AND d.no = m.instalment "
                "LEFT JOIN read.customers c ON c.id = m.customer_id "
                "WHERE m.brand_id = %s AND m.id = ANY(%s) AND m.status IN ('queued', 'deferred') "
                "AND m.kind = ANY(%s) AND m.loan_id IS NOT NULL AND m.instalment IS NOT NULL",
                (list(SERVICED), as_of, brand_id, list(message_ids), list(REMINDER_KINDS)),
            ).fetchall()
        return [
            WaitingReminder(r["id"], r["kind"], r["loan_id"], r["owed"], r["due_date"],
                            None if r["amount"] is None else Decimal(r["amount"]), r["loan_number"], r["name"])
            for r in rows
        ]  # fmt: skip

    def recipient(self, brand_id: UUID, customer_id: UUID) -> Recipient | None:
        """A borrower of the brand as a message addresses them."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_RECIPIENT} FROM read.customers c LEFT JOIN ops.messaging_preferences p "
                "ON p.brand_id = c.brand_id AND p.customer_id = c.id WHERE c.brand_id = %s AND c.id = %s",
                (brand_id, customer_id),
            ).fetchone()
        return None if row is None else _recipient(row)

    def loan_number(self, brand_id: UUID, loan_id: UUID) -> tuple[str, UUID] | None:
        """A loan's number and borrower, when the loan is the brand's."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT loan_number, customer_id FROM read.engagement_loans WHERE brand_id = %s AND loan_id = %s",
                (brand_id, loan_id),
            ).fetchone()
        return None if row is None else (row["loan_number"], row["customer_id"])


def _item(row: Any) -> DueItem:
    return DueItem(row["loan_id"], row["loan_number"], row["no"], row["due_date"], Decimal(row["amount"]),
                   _recipient(row), row["ndc_code"], row.get("reopened") or 0)  # fmt: skip
