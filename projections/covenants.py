"""Read models of covenants: covenants, evaluation records and notices kept in step (queries in covenant_queries)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.covenants.covenant import Covenant, CovenantEvaluation, CovenantNotice
from domain.covenants.status import NoticeKind
from domain.documents.application import Documents
from domain.documents.document import Document, ReviewDecision
from projections.projection import Change, Projection, Write, handles, topics_of

C, E, N = Covenant, CovenantEvaluation, CovenantNotice
PRESUMED_NOTE = "delivery presumed: the sender stopped after handing the email to the mail server"

#: The documents staff rejected (documents context, `Document.Reviewed`), kept by `CovenantProofReviews`: a proof
#: whose document is here is no proof (the record's `proof_received`, the covenant's `current_proof_received`). A
#: review is never undone, so a row is never removed. Created by `CovenantViews` too (IF NOT EXISTS), whose writes
#: and backfill read it, but dropped only by a rebuild of `CovenantProofReviews`, which fills it again.
PROOF_REJECTIONS_DDL = """CREATE TABLE IF NOT EXISTS read.covenant_proof_rejections (
            document_id uuid PRIMARY KEY,
            reason text,
            rejected_at timestamptz NOT NULL
        )"""

#: A proof (`p`, a row of read.covenant_proofs) whose document staff have not rejected.
VALID_PROOF = "NOT EXISTS (SELECT 1 FROM read.covenant_proof_rejections r WHERE r.document_id = p.document_id)"

#: Mark the covenants whose current record has a proof staff have not rejected but whose row does not say so yet
#: (rows projected before `current_proof_received` existed); one probe of the covenant's key per proof, nothing when
#: all are marked.
CURRENT_PROOF_BACKFILL = (
    "UPDATE read.covenants c SET current_proof_received = true FROM read.covenant_proofs p "
    "WHERE c.id = p.covenant_id AND c.current_evaluation_id = p.evaluation_id AND NOT c.current_proof_received "
    f"AND {VALID_PROOF}"
)

#: Held by both projections' writes about one proof document until their transaction ends (two runners, two sources):
#: attaching it (`CovenantViews`) and rejecting it (`CovenantProofReviews`) each see the other's committed rows, so
#: neither decides `current_proof_received` from a snapshot missing the other's write. A deadlock with the other
#: runner is a transient error: the batch is applied again.
PROOF_DOCUMENT_LOCK = "SELECT pg_advisory_xact_lock(hashtext('read.covenant_proofs'), hashtext(%s::text))"


class CovenantViews(Projection):
    """Covenants, their evaluation records and notices, in three tables kept in step."""

    name = "covenants"
    source = "covenants"
    topics = topics_of(
        C.Created, C.CycleOpened, C.Reassigned, C.Expired, C.Closed,
        E.Opened, E.ValueSubmitted, E.Complied, E.Waived, E.MarkedOverdue, E.NoticeQueued, E.ProofAttached,
        E.ProofsApproved, E.NoticeNotSent, N.Queued, N.Sent, N.SendFailed, N.NotSent,
    )  # fmt: skip
    tables = ("read.covenants", "read.covenant_evaluations", "read.covenant_notices", "read.covenant_proofs")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.covenants (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            application_ref text NOT NULL,
            title text NOT NULL,
            type text NOT NULL,
            terms jsonb NOT NULL,
            frequency text NOT NULL,
            start_date date NOT NULL,
            first_due_date date NOT NULL,
            expiry_date date NOT NULL,
            grace_days int NOT NULL,
            lead_days int NOT NULL,
            assignee_id uuid,
            company text,
            status text NOT NULL,
            cycles int NOT NULL DEFAULT 0,
            next_due_date date,
            next_evaluation_date date,
            current_evaluation_id uuid,
            current_status text,
            current_due_date date,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS covenants_due_idx ON read.covenants (next_evaluation_date, id) WHERE status = 'active'",
        "CREATE INDEX IF NOT EXISTS covenants_brand_idx ON read.covenants (brand_id, coalesce(current_due_date, next_due_date), id)",
        "CREATE INDEX IF NOT EXISTS covenants_customer_idx ON read.covenants (brand_id, customer_id)",
        """CREATE TABLE IF NOT EXISTS read.covenant_evaluations (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            covenant_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            application_ref text NOT NULL,
            title text NOT NULL,
            type text NOT NULL,
            cycle int NOT NULL,
            due_date date NOT NULL,
            overdue_after date NOT NULL,
            notification_date date NOT NULL,
            expiry_date date NOT NULL,
            status text NOT NULL,
            value numeric,
            passed boolean,
            evidence text,
            reason text,
            reviewed_by text,
            reviewed_at timestamptz,
            reminder_notice_id uuid,
            overdue_notice_id uuid,
            opened_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (covenant_id, cycle)
        )""",
        "CREATE INDEX IF NOT EXISTS covenant_evals_open_idx ON read.covenant_evaluations (overdue_after, id) WHERE status = 'open'",
        "CREATE INDEX IF NOT EXISTS covenant_evals_remind_idx ON read.covenant_evaluations (notification_date, customer_id, application_ref, due_date) WHERE status = 'open' AND reminder_notice_id IS NULL",
        "CREATE INDEX IF NOT EXISTS covenant_evals_overdue_idx ON read.covenant_evaluations (brand_id, customer_id, application_ref, due_date) WHERE status = 'overdue' AND overdue_notice_id IS NULL",
        # A covenant's history (cycle DESC) reads the UNIQUE (covenant_id, cycle) index backwards: a second index on
        # the same columns only cost every new record one more index entry (the evaluation job writes one each).
        "DROP INDEX IF EXISTS read.covenant_evals_covenant_idx",
        "CREATE INDEX IF NOT EXISTS covenant_evals_brand_status_idx ON read.covenant_evaluations (brand_id, status)",
        """CREATE TABLE IF NOT EXISTS read.covenant_notices (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            kind text NOT NULL,
            customer_id uuid NOT NULL,
            application_ref text NOT NULL,
            recipient text NOT NULL,
            subject text NOT NULL,
            evaluation_ids uuid[] NOT NULL,
            as_of date NOT NULL,
            status text NOT NULL,
            message_id text,
            failures int NOT NULL DEFAULT 0,
            error text,
            queued_at timestamptz NOT NULL,
            sent_at timestamptz
        )""",
        "CREATE INDEX IF NOT EXISTS covenant_notices_pending_idx ON read.covenant_notices (queued_at, id) WHERE status = 'queued'",
        "CREATE INDEX IF NOT EXISTS covenant_notices_customer_idx ON read.covenant_notices (brand_id, customer_id, queued_at DESC)",
        # The portal's "Notices sent" pages (keyset on queued_at, id, newest first).
        "CREATE INDEX IF NOT EXISTS covenant_notices_brand_idx ON read.covenant_notices (brand_id, queued_at DESC, id DESC)",
        # Proof documents of the records (the documents context holds the documents; these rows say which record
        # each proves and whether the reviewer approved it). A covenant's history reads them by covenant.
        """CREATE TABLE IF NOT EXISTS read.covenant_proofs (
            evaluation_id uuid NOT NULL,
            document_id uuid NOT NULL,
            brand_id uuid NOT NULL,
            covenant_id uuid NOT NULL,
            filename text NOT NULL,
            sha256 text NOT NULL,
            size bigint NOT NULL,
            content_type text NOT NULL,
            uploaded_by text NOT NULL,
            attached_by text NOT NULL,
            attached_at timestamptz NOT NULL,
            approved boolean NOT NULL DEFAULT false,
            PRIMARY KEY (evaluation_id, document_id)
        )""",
        "CREATE INDEX IF NOT EXISTS covenant_proofs_covenant_idx ON read.covenant_proofs (covenant_id, attached_at)",
        # A rejected document's proofs (`CovenantProofReviews`): which records, of which covenants, it proved.
        "CREATE INDEX IF NOT EXISTS covenant_proofs_document_idx ON read.covenant_proofs (document_id)",
        PROOF_REJECTIONS_DDL,
        # Whether the covenant's current record has proof attached that staff have not rejected (the worklist's
        # `proof_received` filter): added after the table's first version, so added when missing and filled from the
        # proofs already projected (a no-op once filled, so it runs with the DDL on every start). A new cycle's
        # record starts without proof; a rejection clears it when no other proof of the record stands
        # (`CovenantProofReviews`).
        "ALTER TABLE read.covenants ADD COLUMN IF NOT EXISTS current_proof_received boolean NOT NULL DEFAULT false",
        CURRENT_PROOF_BACKFILL,
        # The reviewers' "proof received, awaiting review" list, keyset on the worklist's order: few covenants at
        # a time wait for review, so a partial index (the other way round, most rows, reads covenants_brand_idx).
        "CREATE INDEX IF NOT EXISTS covenants_proof_received_idx ON read.covenants "
        "(brand_id, coalesce(current_due_date, next_due_date), id) WHERE current_proof_received",
        # The covenant's version (the aggregate's: ETag, If-Match on PATCH): added after the table's first version,
        # so added when missing; null for rows projected before, until the covenant's next event or a rebuild.
        "ALTER TABLE read.covenants ADD COLUMN IF NOT EXISTS version int",
        # When staff closed the covenant (`Covenant.Closed`; the borrower's covenants page says so): added after the
        # table's first version, so added when missing; null for covenants closed before it, until a rebuild.
        "ALTER TABLE read.covenants ADD COLUMN IF NOT EXISTS closed_at timestamptz",
        # The notice of each kind recorded not sent for the record (`NoticeNotSent`: the borrower had no email
        # address), apart from `reminder_notice_id` / `overdue_notice_id` (queued to be sent), so the record still
        # owes the notice (the job's feeds look for those null) while its page says it was not sent. Added after the
        # table's first version, so added when missing; nothing to fill: no notice was recorded not sent before.
        "ALTER TABLE read.covenant_evaluations ADD COLUMN IF NOT EXISTS reminder_not_sent_id uuid",
        "ALTER TABLE read.covenant_evaluations ADD COLUMN IF NOT EXISTS overdue_not_sent_id uuid",
        # Why a notice with status `not_sent` was not sent (`UnsentReason`: no_email); added as the columns above.
        "ALTER TABLE read.covenant_notices ADD COLUMN IF NOT EXISTS reason text",
    )

    def __init__(self) -> None:
        self._rows = _BatchRows()

    def begin_batch(self) -> None:
        self._rows = _BatchRows()

    def end_batch(self) -> Iterable[Write]:
        return self._rows.flush()

    def project(self, position: int, event: Any) -> Iterable[Write]:
        """The writes of `event`: the bulk kinds (new covenants, opened cycles, new records, notices, their records'
        links to them and their sends) as rows of the batch's few multi-row statements, anything else as its own
        statements after the rows gathered so far."""
        rows = _BULK_ROWS.get(type(event))
        if rows is not None:
            bulk = rows[0] if isinstance(rows[0], _Bulk) else rows[0](event)
            return self._rows.add(bulk, event.originator_id, rows[1](event))
        writes = _WRITES.get(type(event))
        return [*self._rows.flush(), *(writes(event, event.originator_id, event.timestamp) if writes else ())]


def _reassigned(event: Covenant.Reassigned, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenants SET assignee_id = %s, updated_at = %s, version = %s WHERE id = %s",
        (event.assignee_id, at, event.originator_version, oid),
    )


def _covenant_ended(event: Covenant.Expired | Covenant.Closed, oid: UUID, at: datetime) -> Iterator[Write]:
    status = "expired" if isinstance(event, C.Expired) else "closed"
    yield Write(
        "UPDATE read.covenants SET status = %s, closed_at = %s, updated_at = %s, version = %s WHERE id = %s",
        (status, at if status == "closed" else None, at, event.originator_version, oid),
    )


def _value_submitted(event: CovenantEvaluation.ValueSubmitted, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenant_evaluations SET value = %s, passed = %s, updated_at = %s WHERE id = %s",
        (event.value, event.passed, at, oid),
    )


def _record_decided(
    event: CovenantEvaluation.Complied | CovenantEvaluation.Waived | CovenantEvaluation.MarkedOverdue,
    oid: UUID,
    at: datetime,
) -> Iterator[Write]:
    status = _DECIDED[type(event)]
    reviewed = not isinstance(event, E.MarkedOverdue)
    yield Write(
        "UPDATE read.covenant_evaluations SET status = %s, evidence = coalesce(%s, evidence), "
        "reason = coalesce(%s, reason), reviewed_by = CASE WHEN %s THEN %s ELSE reviewed_by END, "
        "reviewed_at = CASE WHEN %s THEN %s ELSE reviewed_at END, updated_at = %s WHERE id = %s",
        (status, getattr(event, "evidence", None), getattr(event, "reason", None), reviewed, event.actor,
         reviewed, at, at, oid),
    )  # fmt: skip
    yield Write(
        # By the covenant's primary key (no index on current_evaluation_id: a scan of the book per decision).
        "UPDATE read.covenants SET current_status = %s, updated_at = %s WHERE id = "
        "(SELECT covenant_id FROM read.covenant_evaluations WHERE id = %s) AND current_evaluation_id = %s",
        (status, at, oid, oid),
    )


def _proof_attached(event: CovenantEvaluation.ProofAttached, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(PROOF_DOCUMENT_LOCK, (event.document_id,))
    # The record's brand and covenant from its row (written before: gathered rows go out ahead of this write).
    yield Write(
        "INSERT INTO read.covenant_proofs (evaluation_id, document_id, brand_id, covenant_id, filename, sha256, size, "
        "content_type, uploaded_by, attached_by, attached_at) SELECT id, %s, brand_id, covenant_id, %s, %s, %s, %s, "
        "%s, %s, %s FROM read.covenant_evaluations WHERE id = %s ON CONFLICT (evaluation_id, document_id) DO NOTHING",
        (event.document_id, event.filename, event.sha256, event.size, event.content_type.value,
         event.uploaded_by.value, event.actor, at, oid),
    )  # fmt: skip
    yield Write("UPDATE read.covenant_evaluations SET updated_at = %s WHERE id = %s", (at, oid))
    # The covenant's row says its current record has proof (found by the record's covenant: its key, not a scan),
    # unless staff rejected the document (attached before the rejection was known, or replayed after it).
    yield Write(
        "UPDATE read.covenants SET current_proof_received = true WHERE id = "
        "(SELECT covenant_id FROM read.covenant_evaluations WHERE id = %s) AND current_evaluation_id = %s "
        "AND NOT EXISTS (SELECT 1 FROM read.covenant_proof_rejections WHERE document_id = %s)",
        (oid, oid, event.document_id),
    )


def _proofs_approved(event: CovenantEvaluation.ProofsApproved, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenant_proofs SET approved = true WHERE evaluation_id = %s AND document_id = ANY(%s)",
        (oid, list(event.document_ids)),
    )


def _notice_failed(event: CovenantNotice.SendFailed, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenant_notices SET failures = failures + 1, error = %s WHERE id = %s", (event.error, oid)
    )


def _record_notice_not_sent(event: CovenantEvaluation.NoticeNotSent, oid: UUID, at: datetime) -> Iterator[Write]:
    # One statement each rather than a bulk kind: a notice is recorded not sent once per record and kind, rarely.
    column = "reminder_not_sent_id" if event.kind is NoticeKind.REMINDER else "overdue_not_sent_id"
    yield Write(f"UPDATE read.covenant_evaluations SET {column} = %s WHERE id = %s", (event.notice_id, oid))


def _notice_not_sent(event: CovenantNotice.NotSent, oid: UUID, at: datetime) -> Iterator[Write]:
    # After its row's insert (gathered rows go out ahead of this write), so it is never left queued.
    yield Write(
        "UPDATE read.covenant_notices SET status = 'not_sent', reason = %s WHERE id = %s", (str(event.reason), oid)
    )


_DECIDED: dict[type[Any], str] = {E.Complied: "complied", E.Waived: "waived", E.MarkedOverdue: "overdue"}

#: The writes of each event type the projection reads, but the bulk kinds (_BULK_ROWS).
_WRITES: dict[type[Any], Callable[[Any, UUID, datetime], Iterable[Write]]] = {
    C.Reassigned: _reassigned,
    C.Expired: _covenant_ended,
    C.Closed: _covenant_ended,
    E.ValueSubmitted: _value_submitted,
    E.Complied: _record_decided,
    E.Waived: _record_decided,
    E.MarkedOverdue: _record_decided,
    E.ProofAttached: _proof_attached,
    E.ProofsApproved: _proofs_approved,
    N.SendFailed: _notice_failed,
    E.NoticeNotSent: _record_notice_not_sent,
    N.NotSent: _notice_not_sent,
}


# The bulk kinds: a batch's rows of each go to the server as one statement over arrays (unnest), not a statement per
# event: a catch-up of the evaluation job's events was mostly statement overhead, on both sides. The arrays go in
# binary (%b): psycopg's text array dumper quotes element by element, ten times the cost.


@dataclass(frozen=True)
class _Bulk:
    """A multi-row statement over `table`: `sql` takes one array per column of the rows (see `_BatchRows.flush`)."""

    table: str
    sql: str


_COVENANT_ROWS = _Bulk(
    "read.covenants",
    "INSERT INTO read.covenants (id, brand_id, customer_id, application_ref, title, type, terms, frequency, start_date, "
    "first_due_date, expiry_date, grace_days, lead_days, assignee_id, company, status, next_due_date, "
    "next_evaluation_date, created_at, updated_at, version) "
    "SELECT id, brand_id, customer_id, application_ref, title, type, terms::jsonb, frequency, start_date, "
    "first_due_date, expiry_date, grace_days, lead_days, assignee_id, company, 'active', next_due_date, "
    "next_evaluation_date, at, at, version FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::date[], %b::date[], %b::date[], %b::int[], %b::int[], %b::uuid[], "
    "%b::text[], %b::date[], %b::date[], %b::timestamptz[], %b::int[]) AS v(id, brand_id, customer_id, "
    "application_ref, title, type, terms, frequency, start_date, first_due_date, expiry_date, grace_days, lead_days, "
    "assignee_id, company, next_due_date, next_evaluation_date, at, version) ON CONFLICT (id) DO NOTHING",
)
_CYCLE_ROWS = _Bulk(
    "read.covenants",
    "UPDATE read.covenants c SET cycles = v.cycle, next_due_date = v.next_due_date, "
    "next_evaluation_date = v.next_evaluation_date, current_evaluation_id = v.evaluation_id, current_status = 'open', "
    "current_due_date = v.due_date, current_proof_received = false, updated_at = v.at, version = v.version "
    "FROM unnest(%b::uuid[], %b::int[], %b::date[], %b::date[], %b::uuid[], %b::date[], %b::timestamptz[], %b::int[]) "
    "AS v(id, cycle, next_due_date, next_evaluation_date, evaluation_id, due_date, at, version) WHERE c.id = v.id",
)
_RECORD_ROWS = _Bulk(
    "read.covenant_evaluations",
    "INSERT INTO read.covenant_evaluations (id, brand_id, covenant_id, customer_id, application_ref, title, type, "
    "cycle, due_date, overdue_after, notification_date, expiry_date, status, opened_at, updated_at) "
    "SELECT id, brand_id, covenant_id, customer_id, application_ref, title, type, cycle, due_date, "
    "due_date + grace_days, notification_date, expiry_date, 'open', at, at "
    "FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[], %b::int[], "
    "%b::date[], %b::int[], %b::date[], %b::date[], %b::timestamptz[]) AS v(id, brand_id, covenant_id, customer_id, "
    "application_ref, title, type, cycle, due_date, grace_days, notification_date, expiry_date, at) "
    "ON CONFLICT (id) DO NOTHING",
)


def _covenant_row(event: Any) -> tuple[Any, ...]:
    cal, terms = event.calendar, event.terms
    first_due = cal.due(1)
    return (event.originator_id, event.brand_id, event.customer_id, event.application_ref, event.title,
            terms.type.value, terms.model_dump_json(), cal.frequency.value, cal.start_date, cal.first_due_date,
            cal.expiry_date, cal.grace_days, cal.lead_days, event.assignee_id, event.company, first_due,
            cal.opens_on(first_due) if first_due else None, event.timestamp, event.originator_version)  # fmt: skip


def _cycle_row(event: Any) -> tuple[Any, ...]:
    return (event.originator_id, event.cycle, event.next_due_date, event.next_evaluation_date, event.evaluation_id,
            event.due_date, event.timestamp, event.originator_version)  # fmt: skip


def _record_row(event: Any) -> tuple[Any, ...]:
    return (event.originator_id, event.brand_id, event.covenant_id, event.customer_id, event.application_ref,
            event.title, event.terms.type.value, event.cycle, event.due_date, event.grace_days,
            event.notification_date, event.expiry_date, event.timestamp)  # fmt: skip


# A notification run's events: each email's notice, its records' links to it and its Sent (three statements an
# email when written one by one, most of the read model's work in a run).
_REMINDER_LINKS = _Bulk(
    "read.covenant_evaluations",
    "UPDATE read.covenant_evaluations e SET reminder_notice_id = v.notice_id "
    "FROM unnest(%b::uuid[], %b::uuid[]) AS v(id, notice_id) WHERE e.id = v.id",
)
_OVERDUE_LINKS = _Bulk(
    "read.covenant_evaluations",
    "UPDATE read.covenant_evaluations e SET overdue_notice_id = v.notice_id "
    "FROM unnest(%b::uuid[], %b::uuid[]) AS v(id, notice_id) WHERE e.id = v.id",
)
_NOTICE_ROWS = _Bulk(
    "read.covenant_notices",
    "INSERT INTO read.covenant_notices (id, brand_id, kind, customer_id, application_ref, recipient, subject, "
    "evaluation_ids, as_of, status, queued_at) "
    "SELECT id, brand_id, kind, customer_id, application_ref, recipient, subject, evaluation_ids::uuid[], as_of, "
    "'queued', at FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::uuid[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::date[], %b::timestamptz[]) AS v(id, brand_id, kind, customer_id, application_ref, recipient, "
    "subject, evaluation_ids, as_of, at) ON CONFLICT (id) DO NOTHING",
)
_SENT_ROWS = _Bulk(
    "read.covenant_notices",
    "UPDATE read.covenant_notices n SET status = 'sent', message_id = v.message_id, sent_at = v.at, error = v.error "
    "FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[], %b::text[]) AS v(id, message_id, at, error) "
    "WHERE n.id = v.id",
)


def _link_rows(event: CovenantEvaluation.NoticeQueued) -> _Bulk:
    return _REMINDER_LINKS if event.kind is NoticeKind.REMINDER else _OVERDUE_LINKS


def _link_row(event: Any) -> tuple[Any, ...]:
    return (event.originator_id, event.notice_id)


def _notice_row(event: Any) -> tuple[Any, ...]:
    # The records' ids as one array literal a row (unnest flattens arrays of arrays), cast back by the statement.
    ids = "{" + ",".join(str(i) for i in event.evaluation_ids) + "}"
    return (event.originator_id, event.brand_id, event.kind.value, event.customer_id, event.application_ref,
            event.recipient, event.subject, ids, event.as_of, event.timestamp)  # fmt: skip


def _sent_row(event: Any) -> tuple[Any, ...]:
    return (event.originator_id, event.message_id, event.timestamp, PRESUMED_NOTE if event.presumed else None)


#: Event type -> (its multi-row statement, or the function choosing it by the event, and its row).
_BULK_ROWS: dict[type[Any], tuple[_Bulk | Callable[[Any], _Bulk], Any]] = {
    C.Created: (_COVENANT_ROWS, _covenant_row),
    C.CycleOpened: (_CYCLE_ROWS, _cycle_row),
    E.Opened: (_RECORD_ROWS, _record_row),
    E.NoticeQueued: (_link_rows, _link_row),
    N.Queued: (_NOTICE_ROWS, _notice_row),
    N.Sent: (_SENT_ROWS, _sent_row),
}


class _BatchRows:
    """The rows gathered for the bulk statements, written in the events' order where it matters.

    Rows of one statement go together, so a second row for the same read row (a covenant created and its first
    cycle opened in one batch, two cycles opened at once) first writes out everything gathered; so does any event
    of another kind, before its own writes. What is gathered at once touches distinct read rows, in any order.
    """

    def __init__(self) -> None:
        self.rows: dict[_Bulk, list[tuple[Any, ...]]] = {}
        self.touched: set[tuple[str, UUID]] = set()

    ROWS = 1000  # rows gathered for one statement at most: sent as they fill, the server writes them while the
    # next events are decoded (gathered to the batch's end, its writes waited for the whole batch's decoding)

    def add(self, bulk: _Bulk, key: UUID, row: tuple[Any, ...]) -> list[Write]:
        """Gather `row` for `bulk`; the writes that must go first (none unless its read row was touched already)."""
        touched = (bulk.table, key)
        written = self.flush() if touched in self.touched else []
        self.touched.add(touched)
        rows = self.rows.setdefault(bulk, [])
        rows.append(row)
        if len(rows) >= self.ROWS:  # Everything gathered goes, in the order it would at the batch's end.
            written.extend(self.flush())
        return written

    def flush(self) -> list[Write]:
        """One write per bulk statement with rows gathered, columns as arrays; nothing is gathered afterwards."""
        writes = [Write(bulk.sql, tuple(list(column) for column in zip(*rows, strict=True)))
                  for bulk, rows in self.rows.items()]  # fmt: skip
        self.rows = {}
        self.touched = set()
        return writes


class CovenantProofReviews(Projection):
    """The documents context's rejections as the covenant read model needs them: each rejected document in
    read.covenant_proof_rejections, and the covenants whose current record it proved no longer marked as having
    proof (`current_proof_received`) unless another proof of that record stands.

    A projection of the documents' events (run by their runner) writing the covenant rows it concerns, in the way
    the notice context keeps borrower keys from the customers' events. The two runners go at their own pace, so
    each side reads what the other has written: a proof attached after its document's rejection was projected (or
    replayed after it, on a rebuild of `CovenantViews`) does not mark the covenant, and a rejection projected after
    the proof clears the mark. A rebuild of this projection replays every rejection; its first run does the same for
    the covenants marked before it existed.
    """

    name = "covenant_proof_reviews"
    source = Documents.name
    tables = ("read.covenant_proof_rejections",)
    ddl = (PROOF_REJECTIONS_DDL,)

    @handles(Document.Reviewed)
    def _reviewed(self, position: int, event: Document.Reviewed) -> Iterable[Change]:
        if event.decision != ReviewDecision.REJECTED:
            return
        document_id = event.originator_id
        yield Write(PROOF_DOCUMENT_LOCK, (document_id,))
        yield Write(
            "INSERT INTO read.covenant_proof_rejections (document_id, reason, rejected_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (document_id) DO NOTHING",
            (document_id, event.reason, event.timestamp),
        )
        # The covenant rows first locked, then decided in a statement of their own: its snapshot then holds what
        # the covenants' runner committed to those rows meanwhile (another proof of the record, attached just now).
        yield Write(
            "SELECT c.id FROM read.covenants c JOIN read.covenant_proofs p ON c.id = p.covenant_id "
            "AND c.current_evaluation_id = p.evaluation_id WHERE p.document_id = %s AND c.current_proof_received "
            "ORDER BY c.id FOR UPDATE OF c",
            (document_id,),
        )
        yield Write(
            "UPDATE read.covenants c SET current_proof_received = false FROM read.covenant_proofs d "
            "WHERE d.document_id = %s AND c.id = d.covenant_id AND c.current_evaluation_id = d.evaluation_id "
            "AND c.current_proof_received AND NOT EXISTS (SELECT 1 FROM read.covenant_proofs p "
            f"WHERE p.evaluation_id = c.current_evaluation_id AND {VALID_PROOF})",
            (document_id,),
        )
