"""Read models of collections: one row per loan in (or once in) collections - its stage, assignee, figures,
last contact, promise and what needs attention (`read.collection_cases`, the worklist's table) - and the contacts,
promises, evidence and allocation history of each loan. Queries: projections/collection_queries.py; the loan side
(dues and payments) in projections/collection_dues.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from domain.collections.application import Collections
from domain.collections.case import NOT_REACHED, CollectionCase, Outcome, PtpStatus
from domain.collections.moves import CaseMoves, MoveKind
from projections.collection_dues import DUES, LOANS_LOCK
from projections.projection import Change, Insert, Projection, Write, handles

C = CollectionCase

_CASES = """CREATE TABLE IF NOT EXISTS read.collection_cases (
    loan_id uuid PRIMARY KEY,
    brand_id uuid NOT NULL,
    stage text,
    open boolean NOT NULL DEFAULT false,
    assignee uuid,
    dpd int NOT NULL DEFAULT 0,
    amount numeric(16, 2) NOT NULL DEFAULT 0,
    due_on date,
    legal boolean NOT NULL DEFAULT false,
    attention_at timestamptz,
    callback_at timestamptz,
    last_contact_at timestamptz,
    last_outcome text,
    contacts int NOT NULL DEFAULT 0,
    ptp_id uuid,
    ptp_due_on date,
    ptp_amount numeric(16, 2),
    ptp_status text,
    closed_reason text,
    closed_on date,
    opened_at timestamptz,
    opened_on date,
    updated_at timestamptz NOT NULL
)"""

#: The loan's number and borrower, copied onto the case when the case row is written (a loan's number and borrower
#: never change) so that a worklist page reads one table by one index range and joins nothing: a join per row into a
#: million-loan table was most of a page's time (docs/collections.md, "Worklist"). They come from the loans' own
#: `Loan.Created`, kept on the loan's `read.collection_dues` row (joined by its primary key and the case's brand) by
#: the collections context's loan-side projection (projections/collection_dues.py), never from `read.loans` (empty
#: while the loans projection is rebuilt, behind while its runner is); a case written before that projection has its
#: loan gets them when it does.
#: `customer_name` is no longer filled: a name copied from `read.customers` when the row was written went stale on a
#: rename (and a rebuild copied the current one instead); the worklist reads the page's names by id after the page.
_LOAN_COLUMNS = (
    "ALTER TABLE read.collection_cases ADD COLUMN IF NOT EXISTS loan_number text, "
    "ADD COLUMN IF NOT EXISTS customer_id uuid, ADD COLUMN IF NOT EXISTS customer_name text"
)

#: The business date the sweep closed the case (null while open): the team's `collected` counts the payments from
#: the case's `opened_on` to it. A table made before the column has it null on the cases closed then - their payments
#: counted up to today, as before - until `projections rebuild collections`.
_CLOSED_ON = "ALTER TABLE read.collection_cases ADD COLUMN IF NOT EXISTS closed_on date"

#: The tables and the indexes the worklist, the team view and the sweep read by.
DDL = (
    _CASES,
    _LOAN_COLUMNS,
    _CLOSED_ON,
    # The cases still without their loan's number (written before their loan's `Loan.Created` was projected: normally
    # none): the collection_dues projection fills them, per batch of loans created, by this index
    # (projections/collection_dues.py, `_FILL_CREATED`) rather than by a scan of every case.
    "CREATE INDEX IF NOT EXISTS collection_cases_unnumbered_idx ON read.collection_cases (loan_id) "
    "WHERE loan_number IS NULL",
    # An executive's worklist: open cases of a stage, by DPD then amount.
    "CREATE INDEX IF NOT EXISTS collection_worklist_idx ON read.collection_cases "
    "(brand_id, assignee, stage, dpd DESC, amount DESC, loan_id DESC) WHERE open",
    # A manager's view of a stage, every assignee.
    "CREATE INDEX IF NOT EXISTS collection_stage_idx ON read.collection_cases "
    "(brand_id, stage, dpd DESC, amount DESC, loan_id DESC) WHERE open",
    # What needs attention first: a callback due, a broken promise.
    "CREATE INDEX IF NOT EXISTS collection_closed_idx ON read.collection_cases (brand_id, assignee) WHERE NOT open "
    "AND closed_reason IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS collection_attention_idx ON read.collection_cases "
    "(brand_id, assignee, stage, attention_at, loan_id) WHERE open AND attention_at IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS read.collection_contacts (
        contact_id uuid PRIMARY KEY,
        loan_id uuid NOT NULL,
        brand_id uuid NOT NULL,
        outcome text NOT NULL,
        remarks text NOT NULL,
        callback_at timestamptz,
        channel text NOT NULL,
        staff_id uuid,
        call jsonb,
        evidence uuid[] NOT NULL DEFAULT '{}',
        actor text NOT NULL,
        at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS collection_contacts_loan_idx ON read.collection_contacts (loan_id, at DESC)",
    "CREATE INDEX IF NOT EXISTS collection_contacts_staff_idx ON read.collection_contacts (brand_id, staff_id, at)",
    """CREATE TABLE IF NOT EXISTS read.collection_ptps (
        ptp_id uuid PRIMARY KEY,
        loan_id uuid NOT NULL,
        brand_id uuid NOT NULL,
        staff_id uuid,
        due_on date NOT NULL,
        amount numeric(16, 2) NOT NULL,
        made_on date NOT NULL,
        status text NOT NULL,
        paid numeric(16, 2) NOT NULL DEFAULT 0,
        judged_on date,
        actor text NOT NULL,
        at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS collection_ptps_loan_idx ON read.collection_ptps (loan_id, at DESC)",
    "CREATE INDEX IF NOT EXISTS collection_ptps_open_idx ON read.collection_ptps (brand_id, due_on) "
    "WHERE status = 'open'",
    "CREATE INDEX IF NOT EXISTS collection_ptps_staff_idx ON read.collection_ptps (brand_id, staff_id, status)",
    # The promises the sweep judges again: those due in the last `REJUDGE_DAYS` days, whatever their status.
    "CREATE INDEX IF NOT EXISTS collection_ptps_due_idx ON read.collection_ptps (brand_id, due_on)",
    """CREATE TABLE IF NOT EXISTS read.collection_allocations (
        batch_id uuid NOT NULL,
        loan_id uuid NOT NULL,
        brand_id uuid NOT NULL,
        staff_id uuid,
        previous uuid,
        stage text,
        kind text NOT NULL,
        business_date date NOT NULL,
        actor text NOT NULL,
        at timestamptz NOT NULL,
        PRIMARY KEY (loan_id, batch_id)
    )""",
    # Why the batch moved the loan (its event's reason: "close of business", "executive disabled", "reallocated by a
    # manager"); rows projected before the column have none until a rebuild.
    "ALTER TABLE read.collection_allocations ADD COLUMN IF NOT EXISTS reason text",
)

_SWEEP = (
    "INSERT INTO read.collection_cases AS c (loan_id, brand_id, stage, open, assignee, dpd, amount, due_on, "
    "closed_reason, closed_on, opened_at, opened_on, updated_at, loan_number, customer_id) "
    "SELECT m.loan_id, %(brand)s, m.stage, m.closed IS NULL, m.staff_id, m.dpd, m.amount, m.due_on, m.closed, "
    "CASE WHEN m.closed IS NOT NULL THEN %(day)s::date END, "
    "%(at)s, %(day)s, %(at)s, d.loan_number, d.customer_id FROM unnest(%(loans)s::uuid[], %(stages)s::text[], "
    "%(staff)s::uuid[], %(dpd)s::int[], %(amounts)s::numeric[], %(due)s::date[], %(closed)s::text[]) AS m(loan_id, "
    f"stage, staff_id, dpd, amount, due_on, closed) LEFT JOIN {DUES} d ON d.loan_id = m.loan_id "
    "AND d.brand_id = %(brand)s "
    "WHERE true ON CONFLICT (loan_id) DO UPDATE SET "
    "stage = EXCLUDED.stage, open = EXCLUDED.open, "
    "assignee = EXCLUDED.assignee, dpd = EXCLUDED.dpd, amount = EXCLUDED.amount, due_on = EXCLUDED.due_on, "
    "closed_reason = EXCLUDED.closed_reason, closed_on = EXCLUDED.closed_on, updated_at = EXCLUDED.updated_at, "
    "opened_at = CASE WHEN c.open THEN c.opened_at ELSE EXCLUDED.opened_at END, "
    "opened_on = CASE WHEN c.open THEN c.opened_on ELSE EXCLUDED.opened_on END, "
    # What needs attention belongs to the open case: a case closed keeps none, and a case (re)opened starts with none
    # but a callback still ahead of the sweep's instant (a broken promise or a callback of before it is stale: it
    # headed the reopened case's worklist), the callback's time its attention, a callback already past dropped.
    "attention_at = CASE WHEN NOT EXCLUDED.open THEN NULL WHEN c.open THEN c.attention_at "
    "WHEN c.callback_at > %(at)s THEN c.callback_at END, "
    "callback_at = CASE WHEN c.open OR NOT EXCLUDED.open OR c.callback_at > %(at)s THEN c.callback_at END, "
    "loan_number = coalesce(EXCLUDED.loan_number, c.loan_number), "
    "customer_id = coalesce(EXCLUDED.customer_id, c.customer_id) "
    "WHERE c.brand_id = EXCLUDED.brand_id"
)
_REALLOCATE = (
    "UPDATE read.collection_cases c SET assignee = m.staff_id, updated_at = %(at)s "
    "FROM unnest(%(loans)s::uuid[], %(staff)s::uuid[]) AS m(loan_id, staff_id) "
    "WHERE c.loan_id = m.loan_id AND c.brand_id = %(brand)s"
)
_HISTORY = (
    "INSERT INTO read.collection_allocations (batch_id, loan_id, brand_id, staff_id, previous, stage, kind, "
    "business_date, actor, at, reason) SELECT %(batch)s, m.loan_id, %(brand)s, m.staff_id, m.previous, m.stage, "
    "%(kind)s, %(day)s, %(actor)s, %(at)s, %(reason)s FROM unnest(%(loans)s::uuid[], %(staff)s::uuid[], %(previous)s::uuid[], "
    "%(stages)s::text[]) AS m(loan_id, staff_id, previous, stage) WHERE m.staff_id IS DISTINCT FROM m.previous "
    "ON CONFLICT DO NOTHING"
)

#: A case row for a loan that has none yet (a contact or promise before any sweep): not open, no stage.
_ENSURE = (
    "INSERT INTO read.collection_cases (loan_id, brand_id, updated_at, loan_number, customer_id) "
    "SELECT %(loan)s, %(brand)s, %(at)s, d.loan_number, d.customer_id FROM (SELECT) AS one "
    f"LEFT JOIN {DUES} d ON d.loan_id = %(loan)s AND d.brand_id = %(brand)s WHERE true ON CONFLICT DO NOTHING"
)


def _array(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of ids, numbers, dates and enum values (none holds a quote, comma or brace): a
    batch's thousands of values sent as one text parameter, cast in SQL (`::uuid[]`), not dumped one by one."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


class CollectionViews(Projection):
    """Cases, contacts, promises and allocation history."""

    name = "collections"
    source = Collections.name
    tables = ("read.collection_cases", "read.collection_contacts", "read.collection_ptps",
              "read.collection_allocations")  # fmt: skip
    ddl = DDL

    @handles(CaseMoves.Recorded)
    def _moves(self, position: int, event: CaseMoves.Recorded) -> Iterator[Change]:
        moves = event.moves
        common: dict[str, Any] = {
            "brand": event.brand_id, "at": event.timestamp, "loans": _array(m.loan_id for m in moves),
            "staff": _array(m.staff_id for m in moves), "stages": _array(m.stage.value for m in moves),
        }  # fmt: skip
        if event.kind is MoveKind.SWEEP:
            yield Write(LOANS_LOCK, ())  # (before reading the loans' numbers: see LOANS_LOCK)
            yield Write(_SWEEP, common | {
                "day": event.business_date, "dpd": _array(m.dpd for m in moves), "amounts": _array(m.amount for m in moves),
                "due": _array(m.due_on for m in moves), "closed": _array(m.closed for m in moves),
            })  # fmt: skip
        else:
            yield Write(_REALLOCATE, {k: common[k] for k in ("brand", "at", "loans", "staff")})
        yield Write(_HISTORY, common | {
            "batch": event.originator_id, "kind": event.kind.value, "day": event.business_date,
            "actor": event.actor, "previous": _array(m.previous for m in moves), "reason": event.reason,
        })  # fmt: skip

    @handles(C.Opened)
    def _opened(self, position: int, event: C.Opened) -> Iterator[Change]:
        yield Write(LOANS_LOCK, ())
        yield Write(_ENSURE, {"loan": event.loan_id, "brand": event.brand_id, "at": event.timestamp})

    @handles(C.ContactLogged)
    def _contact(self, position: int, event: C.ContactLogged) -> Iterator[Change]:
        c = event.contact
        loan_id, brand_id = event.loan_id, event.brand_id
        # In UTC: a contact recorded before the command kept it so may carry an offset PostgreSQL does not store.
        callback_at = c.callback_at.astimezone(UTC) if c.callback_at is not None else None
        yield Insert("read.collection_contacts", {
            "contact_id": c.contact_id, "loan_id": loan_id, "brand_id": brand_id, "outcome": c.outcome.value,
            "remarks": c.remarks, "callback_at": callback_at, "channel": c.channel.value, "staff_id": c.staff_id,
            "call": c.call.model_dump(mode="json") if c.call else None, "actor": event.actor,
            "at": event.timestamp,
        })  # fmt: skip
        callback = callback_at if c.outcome is Outcome.CALLBACK_REQUESTED else None
        # A contact settles a callback asked for before it (and what a broken promise asked: calling again) - but an
        # attempt that did not reach the borrower, made before the callback's time, leaves the callback (and its
        # attention) standing (NOT_REACHED). Attention only on an open case. (The SET's right-hand sides read the
        # row as it was.)
        kept = "%(unreached)s AND callback_at > %(at)s"
        yield Write(
            f"UPDATE read.collection_cases SET callback_at = CASE WHEN {kept} THEN callback_at ELSE %(cb)s END, "
            f"attention_at = CASE WHEN NOT open THEN NULL WHEN {kept} THEN callback_at ELSE %(cb)s END, "
            "last_contact_at = %(at)s, last_outcome = %(outcome)s, contacts = contacts + 1, updated_at = %(at)s "
            "WHERE loan_id = %(loan)s",
            {"cb": callback, "at": event.timestamp, "outcome": c.outcome.value, "loan": loan_id,
             "unreached": c.outcome in NOT_REACHED},
        )  # fmt: skip

    @handles(C.EvidenceAttached)
    def _evidence(self, position: int, event: C.EvidenceAttached) -> Iterator[Change]:
        yield Write(
            "UPDATE read.collection_contacts SET evidence = array_append(evidence, %s) WHERE contact_id = %s",
            (event.document_id, event.contact_id),
        )

    @handles(C.PromiseMade)
    def _promised(self, position: int, event: C.PromiseMade) -> Iterator[Change]:
        p = event.promise
        loan_id, brand_id = event.loan_id, event.brand_id
        yield Insert("read.collection_ptps", {
            "ptp_id": p.ptp_id, "loan_id": loan_id, "brand_id": brand_id, "staff_id": p.staff_id,
            "due_on": p.due_on, "amount": p.amount, "made_on": p.made_on, "status": PtpStatus.OPEN.value,
            "actor": event.actor, "at": event.timestamp,
        })  # fmt: skip
        # A new promise answers a broken one's "call again": its attention goes; a pending callback's stays.
        yield Write(
            "UPDATE read.collection_cases SET ptp_id = %s, ptp_due_on = %s, ptp_amount = %s, ptp_status = 'open', "
            "attention_at = CASE WHEN open THEN callback_at END, updated_at = %s WHERE loan_id = %s",
            (p.ptp_id, p.due_on, p.amount, event.timestamp, loan_id),
        )

    @handles(C.PromiseJudged, C.PromiseRejudged)
    def _judged(self, position: int, event: C.PromiseJudged | C.PromiseRejudged) -> Iterator[Change]:
        """The promise as last judged (a re-judgement replaces the figures shown; both stay in the case's events).
        The case shows its current promise's latest judgement: becoming broken brings the loan to the top of the
        worklist ("promise broken: call again") from the judgement's instant (a broken one judged again, still
        broken, with another sum paid, leaves the attention as it is: a contact since has dealt with it); kept after
        broken takes that back, the case then needing attention only for a callback still requested (none once the
        case has closed)."""
        loan_id = event.loan_id
        yield Write(
            "UPDATE read.collection_ptps SET status = %s, paid = %s, judged_on = %s WHERE ptp_id = %s",
            (event.status.value, event.paid, event.judged_on, event.ptp_id),
        )
        broken = event.status is PtpStatus.BROKEN
        # A broken promise needs attention from its judgement (or sooner: a callback already due keeps its place) -
        # on an open case only: a closed case's judgement heads no worklist, then or once the case reopens.
        yield Write(
            "UPDATE read.collection_cases SET updated_at = %(at)s, attention_at = CASE WHEN ptp_status = 'broken' "
            "THEN (CASE WHEN %(broken)s THEN attention_at WHEN open THEN callback_at END) "
            "WHEN %(broken)s AND open THEN LEAST(attention_at, %(at)s) ELSE attention_at END, "
            "ptp_status = %(status)s WHERE loan_id = %(loan)s AND ptp_id = %(ptp)s",
            {"status": event.status.value, "at": event.timestamp, "broken": broken, "loan": loan_id,
             "ptp": event.ptp_id},
        )  # fmt: skip

    @handles(C.MovedToPost)
    def _legal(self, position: int, event: C.MovedToPost) -> Iterator[Change]:
        loan_id = event.loan_id
        yield Write(
            "UPDATE read.collection_cases SET legal = true, stage = CASE WHEN open THEN 'post' ELSE stage END, "
            "assignee = CASE WHEN open THEN NULL ELSE assignee END, updated_at = %s WHERE loan_id = %s",
            (event.timestamp, loan_id),
        )
