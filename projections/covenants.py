"""Read models of covenants: covenants, evaluation records and notices kept in step (queries in covenant_queries)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.covenants.covenant import Covenant, CovenantEvaluation, CovenantNotice, NoticeKind
from projections.engine import Projection, Write, topics_of

C, E, N = Covenant, CovenantEvaluation, CovenantNotice
PRESUMED_NOTE = "delivery presumed: the sender stopped after handing the email to the mail server"


class CovenantViews(Projection):
    """Covenants, their evaluation records and notices, in three tables kept in step."""

    name = "covenants"
    source = "covenants"
    topics = topics_of(
        C.Created, C.CycleOpened, C.Reassigned, C.Expired, C.Closed,
        E.Opened, E.ValueSubmitted, E.Complied, E.Waived, E.MarkedOverdue, E.NoticeQueued,
        N.Queued, N.Sent, N.SendFailed,
    )  # fmt: skip
    tables = ("read.covenants", "read.covenant_evaluations", "read.covenant_notices")
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
        "CREATE INDEX IF NOT EXISTS covenant_evals_covenant_idx ON read.covenant_evaluations (covenant_id, cycle DESC)",
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
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        writes = _WRITES.get(type(event))
        return writes(event, event.originator_id, event.timestamp) if writes is not None else ()


def _covenant_created(event: Covenant.Created, oid: UUID, at: datetime) -> Iterator[Write]:
    cal, terms = event.calendar, event.terms
    first_due = cal.due(1)
    yield Write(
        "INSERT INTO read.covenants (id, brand_id, customer_id, application_ref, title, type, terms, frequency, "
        "start_date, first_due_date, expiry_date, grace_days, lead_days, assignee_id, company, status, "
        "next_due_date, next_evaluation_date, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, 'active', %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (oid, event.brand_id, event.customer_id, event.application_ref, event.title, terms.type.value,
         Jsonb(terms.model_dump(mode="json")), cal.frequency.value, cal.start_date, cal.first_due_date,
         cal.expiry_date, cal.grace_days, cal.lead_days, event.assignee_id, event.company,
         first_due, cal.opens_on(first_due) if first_due else None, at, at),
    )  # fmt: skip


def _cycle_opened(event: Covenant.CycleOpened, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenants SET cycles = %s, next_due_date = %s, next_evaluation_date = %s, "
        "current_evaluation_id = %s, current_status = 'open', current_due_date = %s, updated_at = %s WHERE id = %s",
        (
            event.cycle,
            event.next_due_date,
            event.next_evaluation_date,
            event.evaluation_id,
            event.due_date,
            at,
            oid,
        ),
    )


def _reassigned(event: Covenant.Reassigned, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenants SET assignee_id = %s, updated_at = %s WHERE id = %s",
        (event.assignee_id, at, oid),
    )


def _covenant_ended(event: Covenant.Expired | Covenant.Closed, oid: UUID, at: datetime) -> Iterator[Write]:
    status = "expired" if isinstance(event, C.Expired) else "closed"
    yield Write("UPDATE read.covenants SET status = %s, updated_at = %s WHERE id = %s", (status, at, oid))


def _record_opened(event: CovenantEvaluation.Opened, oid: UUID, at: datetime) -> Iterator[Write]:
    overdue_after = event.due_date.toordinal() + event.grace_days
    yield Write(
        "INSERT INTO read.covenant_evaluations (id, brand_id, covenant_id, customer_id, application_ref, title, "
        "type, cycle, due_date, overdue_after, notification_date, expiry_date, status, opened_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s) ON CONFLICT (id) DO NOTHING",
        (oid, event.brand_id, event.covenant_id, event.customer_id, event.application_ref, event.title,
         event.terms.type.value, event.cycle, event.due_date, date.fromordinal(overdue_after),
         event.notification_date, event.expiry_date, at, at),
    )  # fmt: skip


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
        "UPDATE read.covenants SET current_status = %s, updated_at = %s WHERE current_evaluation_id = %s",
        (status, at, oid),
    )


def _notice_linked(event: CovenantEvaluation.NoticeQueued, oid: UUID, at: datetime) -> Iterator[Write]:
    column = "reminder_notice_id" if event.kind is NoticeKind.REMINDER else "overdue_notice_id"
    yield Write(f"UPDATE read.covenant_evaluations SET {column} = %s WHERE id = %s", (event.notice_id, oid))


def _notice_queued(event: CovenantNotice.Queued, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "INSERT INTO read.covenant_notices (id, brand_id, kind, customer_id, application_ref, recipient, subject, "
        "evaluation_ids, as_of, status, queued_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'queued', %s) "
        "ON CONFLICT (id) DO NOTHING",
        (oid, event.brand_id, event.kind.value, event.customer_id, event.application_ref, event.recipient,
         event.subject, list(event.evaluation_ids), event.as_of, at),
    )  # fmt: skip


def _notice_sent(event: CovenantNotice.Sent, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenant_notices SET status = 'sent', message_id = %s, sent_at = %s, error = %s WHERE id = %s",
        (event.message_id, at, PRESUMED_NOTE if event.presumed else None, oid),
    )


def _notice_failed(event: CovenantNotice.SendFailed, oid: UUID, at: datetime) -> Iterator[Write]:
    yield Write(
        "UPDATE read.covenant_notices SET failures = failures + 1, error = %s WHERE id = %s", (event.error, oid)
    )


_DECIDED: dict[type[Any], str] = {E.Complied: "complied", E.Waived: "waived", E.MarkedOverdue: "overdue"}

#: The writes of each event type the projection reads.
_WRITES: dict[type[Any], Callable[[Any, UUID, datetime], Iterable[Write]]] = {
    C.Created: _covenant_created,
    C.CycleOpened: _cycle_opened,
    C.Reassigned: _reassigned,
    C.Expired: _covenant_ended,
    C.Closed: _covenant_ended,
    E.Opened: _record_opened,
    E.ValueSubmitted: _value_submitted,
    E.Complied: _record_decided,
    E.Waived: _record_decided,
    E.MarkedOverdue: _record_decided,
    E.NoticeQueued: _notice_linked,
    N.Queued: _notice_queued,
    N.Sent: _notice_sent,
    N.SendFailed: _notice_failed,
}
