"""Queries over the covenant read models: the worklist, evaluation history, notices, dashboard counts and the
feeds the covenant jobs read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.covenants.schedule import Frequency
from domain.covenants.status import CovenantStatus, EvaluationStatus, NoticeKind
from domain.covenants.terms import CovenantType, Terms
from domain.shared.values import company_code, sees_company
from projections.companies import companies_param, of_companies_sql, scope_companies
from projections.covenants import VALID_PROOF
from projections.keyset import KeysetCursor, Page

#: The worklist is ordered by (current due date, id).
WORKLIST_CURSOR = KeysetCursor(date, UUID, name="covenants.worklist")
#: The notices sent (and owed) are listed newest first by (queued_at, id).
NOTICES_CURSOR = KeysetCursor(datetime, UUID, name="covenants.notices")


@dataclass(frozen=True)
class CovenantRow:
    """A covenant in the worklist."""

    id: UUID
    customer_id: UUID
    customer_name: str | None
    application_ref: str
    title: str
    type: CovenantType
    terms: Terms
    frequency: Frequency
    start_date: date
    first_due_date: date
    expiry_date: date
    grace_days: int
    lead_days: int
    assignee_id: UUID | None
    company: str | None
    status: CovenantStatus
    cycles: int
    next_due_date: date | None
    next_evaluation_date: date | None
    current_evaluation_id: UUID | None
    current_status: EvaluationStatus | None
    current_due_date: date | None
    created_at: datetime
    updated_at: datetime
    # Proof staff have not rejected is attached to the current record (an open one waits for the lender's review;
    # see EvaluationRow).
    current_proof_received: bool
    #: The covenant's version (the aggregate's; ETag and If-Match): None for covenants projected before the read
    #: model kept it, until their next event or a rebuild of the projection.
    version: int | None
    #: When staff closed the covenant (None: not closed, or closed before the read model kept it, until a rebuild).
    closed_at: datetime | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> CovenantRow:
        """A worklist row as the database returns it."""
        return cls(**_covenant_fields(row))


def _covenant_fields(row: dict[str, Any]) -> dict[str, Any]:
    current = row["current_status"]
    return {
        **row,
        "type": CovenantType(row["type"]),
        "terms": Terms.model_validate(row["terms"]),
        "frequency": Frequency(row["frequency"]),
        "status": CovenantStatus(row["status"]),
        "current_status": EvaluationStatus(current) if current is not None else None,
    }


@dataclass(frozen=True)
class CovenantHistory(CovenantRow):
    """A covenant with its evaluation records, newest cycle first."""

    evaluations: tuple[EvaluationRow, ...]
    #: Whether the borrower has an email address now (the customers read model): without one no reminder or overdue
    #: notice can be sent, so the covenant page and the set-up answer say so.
    borrower_has_email: bool = True

    @property
    def warnings(self) -> list[dict[str, str]]:
        """What staff should know about the covenant that refuses nothing: the borrower cannot be emailed."""
        if self.borrower_has_email:
            return []
        return [{"code": "no_email", "message": NO_EMAIL_WARNING}]


#: Why a covenant's borrower will not hear of it by email (the set-up answer's `warnings`, the covenant page).
NO_EMAIL_WARNING = (
    "the borrower has no email address: no reminder or overdue notice can be sent until one is added on Customer 360 "
    "(each notice owed meanwhile is recorded as not sent)"
)


@dataclass(frozen=True)
class CovenantPage(Page):
    """A page of the worklist, by current due date."""

    items: list[CovenantRow]


@dataclass(frozen=True)
class ProofRow:
    """A document attached to an evaluation record as proof of compliance (bytes verified on download)."""

    document_id: UUID
    filename: str
    sha256: str
    size: int
    content_type: str
    uploaded_by: str  # staff or borrower (Uploader)
    attached_by: str  # the actor (staff:<id>, apikey:<id>, ...)
    attached_at: datetime
    approved: bool  # cited by the reviewer who marked the record complied
    #: The document's review on the borrower's documents (documents read model): pending, accepted or rejected -
    #: a proof rejected since it was attached cannot be cited when complying - and the rejection's reason.
    document_status: str = "pending"
    document_reason: str | None = None

    @property
    def rejected(self) -> bool:
        """Staff rejected the proof's document (it cannot be cited when complying)."""
        return self.document_status == "rejected"


@dataclass(frozen=True)
class RecordNotice:
    """A notice covering an evaluation record, as its covenant's page lists it: queued, sent, or not sent (`reason`:
    why, `UnsentReason`)."""

    id: UUID
    kind: NoticeKind
    status: str  # queued, sent or not_sent
    reason: str | None
    recipient: str
    queued_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class EvaluationRow:
    """One cycle's evaluation record."""

    id: UUID
    covenant_id: UUID
    customer_id: UUID
    application_ref: str
    title: str
    type: CovenantType
    cycle: int
    due_date: date
    overdue_after: date
    notification_date: date
    status: EvaluationStatus
    value: Decimal | None
    passed: bool | None
    evidence: str | None
    reason: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    reminder_notice_id: UUID | None
    overdue_notice_id: UUID | None
    opened_at: datetime
    updated_at: datetime
    proofs: tuple[ProofRow, ...] = ()  # oldest first
    #: The notice of each kind recorded not sent (the borrower had no email address); the record still owes it.
    reminder_not_sent_id: UUID | None = None
    overdue_not_sent_id: UUID | None = None
    #: The notices covering the record (those above), oldest first: read with a covenant's history and a record.
    notices: tuple[RecordNotice, ...] = ()

    @property
    def notice_ids(self) -> tuple[UUID, ...]:
        """The notices covering the record, sent or owed or not sent."""
        found = (self.reminder_not_sent_id, self.reminder_notice_id, self.overdue_not_sent_id, self.overdue_notice_id)
        return tuple(i for i in found if i is not None)

    @property
    def proof_received(self) -> bool:
        """Whether proof is attached that staff have not rejected (a rejected document is no proof): an Open record
        with proof is waiting for the lender's review (its status stays Open, as the spec's Open covers both
        "expected from the borrower" and "to be reviewed by the lender")."""
        return any(not proof.rejected for proof in self.proofs)

    @classmethod
    def of(
        cls, row: dict[str, Any], proofs: Iterable[ProofRow] = (), notices: dict[UUID, RecordNotice] | None = None
    ) -> EvaluationRow:
        """An evaluation record as the database returns it, with its proof documents and, from `notices` (by id:
        `_record_notices`), the notices covering it."""
        record = cls(
            **{**row, "type": CovenantType(row["type"]), "status": EvaluationStatus(row["status"])},
            proofs=tuple(proofs),
        )
        if not notices:
            return record
        covering = sorted((notices[i] for i in record.notice_ids if i in notices), key=lambda n: (n.queued_at, n.id))
        return replace(record, notices=tuple(covering))


@dataclass(frozen=True)
class BorrowerCovenant:
    """One of a borrower's covenants with its records still waiting (Open or Overdue), earliest due first: what the
    borrower's own covenants page shows."""

    covenant: CovenantRow
    records: tuple[EvaluationRow, ...]

    @property
    def chased(self) -> bool:
        """Whether its Open and Overdue records are still asked of the borrower: not when staff closed the covenant
        (closing stops the chase; the records keep their status for staff to decide)."""
        return self.covenant.status is not CovenantStatus.CLOSED

    @property
    def awaiting_proof(self) -> int:
        """Its records still waiting for the borrower's proof: Overdue, or Open with no proof standing (an Open one
        with proof is the lender's to review); none of a closed covenant (no longer asked of the borrower)."""
        if not self.chased:
            return 0
        return sum(1 for r in self.records if not (r.status is EvaluationStatus.OPEN and r.proof_received))


@dataclass(frozen=True)
class CovenantCounts:
    """Dashboard figures: evaluation records by status, and active covenants."""

    open: int
    complied: int
    waived: int
    overdue: int
    active_covenants: int


@dataclass(frozen=True)
class CovenantNoticeRow:
    """An email to a borrower about records due or overdue."""

    id: UUID
    kind: NoticeKind
    recipient: str
    subject: str
    evaluation_ids: tuple[UUID, ...]
    as_of: date
    status: str  # queued, sent or not_sent
    failures: int
    error: str | None
    queued_at: datetime
    sent_at: datetime | None
    customer_id: UUID  # the borrower it went to (the "Notices sent" page filters by it)
    #: Why a `not_sent` notice was not sent (`UnsentReason`: no_email); None otherwise.
    reason: str | None = None


@dataclass(frozen=True)
class NoticeGroup:
    """Records of one borrower and application due the same day that owe the same kind of notice."""

    brand_id: UUID
    customer_id: UUID
    application_ref: str
    due_date: date
    recipient: str | None
    customer_name: str
    evaluation_ids: list[UUID]
    #: Overdue notices: when proof staff have not rejected was last attached to each record that has one (the
    #: borrower's email says it was received and is being reviewed rather than asking for it again).
    received: dict[UUID, datetime] = field(default_factory=dict)


_COVENANT_COLUMNS = (
    "c.id, c.customer_id, cu.name AS customer_name, c.application_ref, c.title, c.type, c.terms, c.frequency, "
    "c.start_date, c.first_due_date, c.expiry_date, c.grace_days, c.lead_days, c.assignee_id, c.company, c.status, "
    "c.cycles, c.next_due_date, c.next_evaluation_date, c.current_evaluation_id, c.current_status, c.current_due_date, "
    "c.created_at, c.updated_at, c.current_proof_received, c.version, c.closed_at"
)
_EVALUATION_COLUMNS = (
    "id, covenant_id, customer_id, application_ref, title, type, cycle, due_date, overdue_after, notification_date, "
    "status, value, passed, evidence, reason, reviewed_by, reviewed_at, reminder_notice_id, overdue_notice_id, "
    "opened_at, updated_at, reminder_not_sent_id, overdue_not_sent_id"
)
_COVENANT_BY_ID = (
    f"SELECT {_COVENANT_COLUMNS} FROM read.covenants c LEFT JOIN read.customers cu ON cu.id = c.customer_id "
    "WHERE c.id = %s AND c.brand_id = %s"
)
#: `_COVENANT_BY_ID` with whether the borrower has an email address (`CovenantHistory.borrower_has_email`).
_HISTORY_COVENANT = (
    f"SELECT {_COVENANT_COLUMNS}, coalesce(cu.email, '') <> '' AS borrower_has_email FROM read.covenants c "
    "LEFT JOIN read.customers cu ON cu.id = c.customer_id WHERE c.id = %s AND c.brand_id = %s"
)
_HISTORY = (
    f"SELECT {_EVALUATION_COLUMNS} FROM read.covenant_evaluations WHERE brand_id = %s AND covenant_id = %s "
    "ORDER BY cycle DESC"
)
_PROOF_COLUMNS = (
    "p.evaluation_id, p.document_id, p.filename, p.sha256, p.size, p.content_type, p.uploaded_by, p.attached_by, "
    "p.attached_at, p.approved, "
    # Not yet in the documents read model: just uploaded, so not reviewed yet (a review follows its upload).
    "COALESCE(d.status, 'pending') AS document_status, d.reason AS document_reason"
)
COVENANT_STATUSES = frozenset({"active", "expired", "closed"})
#: The records the notification job still chases: those of a covenant staff have not closed (`c`, its row). Closing
#: stops the chase; the records keep their history and their status (staff may still comply or waive them).
CHASED = "c.status <> 'closed'"
#: When proof staff have not rejected was last attached to record `e` (`pr.received_at`, null without one): one
#: probe of read.covenant_proofs' key (evaluation_id, document_id) per record.
_LATEST_PROOF = (
    "LEFT JOIN LATERAL (SELECT max(p.attached_at) AS received_at FROM read.covenant_proofs p "
    f"WHERE p.evaluation_id = e.id AND {VALID_PROOF}) pr ON true "
)
#: The same for each record a queued notice `n` covers: {evaluation id: last attached}, only those with proof.
_PROOFS_RECEIVED = (
    "(SELECT jsonb_object_agg(p.evaluation_id, p.received_at) FROM (SELECT p.evaluation_id, "
    "max(p.attached_at) AS received_at FROM read.covenant_proofs p WHERE p.evaluation_id = ANY(n.evaluation_ids) "
    f"AND {VALID_PROOF} GROUP BY p.evaluation_id) p)"
)


#: A covenant (`c`, its row) a caller limited to `%(companies)s` may see: one of theirs or of no company (every
#: company's), as the job runs' and the trail's reads filter -- a filter on the index scan the query makes anyway
#: (`sees_company` for a row already read).
OF_COMPANIES = of_companies_sql("c.company")


def _received(found: dict[str, str] | None) -> dict[UUID, datetime]:
    """`_PROOFS_RECEIVED` as read (JSON: ids and instants as text)."""
    return {UUID(i): datetime.fromisoformat(at) for i, at in (found or {}).items()}


EVALUATION_STATUSES = frozenset({"open", "complied", "waived", "overdue"})


def _proofs(conn: Any, column: str, brand_id: UUID, value: UUID) -> dict[UUID, list[ProofRow]]:
    """The proof documents of one record or of every record of a covenant (`column`), by record, oldest first."""
    rows = conn.execute(
        f"SELECT {_PROOF_COLUMNS} FROM read.covenant_proofs p "
        "LEFT JOIN read.documents d ON d.id = p.document_id AND d.brand_id = p.brand_id "
        f"WHERE p.brand_id = %s AND p.{column} = %s ORDER BY p.attached_at, p.document_id",
        (brand_id, value),
    ).fetchall()
    by_record: dict[UUID, list[ProofRow]] = {}
    for r in rows:
        by_record.setdefault(r["evaluation_id"], []).append(
            ProofRow(**{k: v for k, v in r.items() if k != "evaluation_id"})
        )
    return by_record


def _record_notices(conn: Any, brand_id: UUID, rows: Iterable[dict[str, Any]]) -> dict[UUID, RecordNotice]:
    """The notices covering the records `rows` (their notice columns), by id: one probe of the notices' key each."""
    columns = ("reminder_not_sent_id", "reminder_notice_id", "overdue_not_sent_id", "overdue_notice_id")
    ids = list({r[c] for r in rows for c in columns if r[c] is not None})
    if not ids:
        return {}
    found = conn.execute(
        "SELECT id, kind, status, reason, recipient, queued_at, sent_at FROM read.covenant_notices "
        "WHERE brand_id = %s AND id = ANY(%s)",
        (brand_id, ids),
    ).fetchall()
    return {r["id"]: RecordNotice(**{**r, "kind": NoticeKind(r["kind"])}) for r in found}


def _job_filters(filters: dict[str, str], prefix: str = "c.") -> tuple[list[str], dict[str, Any]]:
    where, params = [], {}
    for key in ("company", "type", "frequency"):
        if filters.get(key):
            # A company code is case-insensitive (`company_code`): "sml" filters SML's covenants, stored either way.
            column = f"upper({prefix}{key})" if key == "company" else f"{prefix}{key}"
            where.append(f"{column} = %(f_{key})s")
            params[f"f_{key}"] = company_code(filters[key]) if key == "company" else filters[key]
    return where, params


class CovenantQueries:
    """Brand-scoped covenant queries, and the feeds the covenant jobs read."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def worklist(
        self,
        brand_id: UUID,
        *,
        status: str | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
        customer_id: UUID | None = None,
        type: str | None = None,
        assignee_id: UUID | None = None,
        proof_received: bool | None = None,
        cursor: str | None = None,
        limit: int = 50,
        companies: Sequence[str] = (),
    ) -> CovenantPage:
        """Covenants by current due date (then id); `status` is a covenant status or the current record's status;
        `proof_received` whether the current record has proof attached that staff have not rejected (false: it has
        a record, with no proof or only rejected ones); `companies`: those the caller may see (empty: every company)
        -- another company's covenants are left out (`OF_COMPANIES`), the pages' keys unchanged."""
        page_scope = (
            brand_id,
            status,
            due_from,
            due_to,
            customer_id,
            type,
            assignee_id,
            proof_received,
        )  # the filters its cursor is bound to
        due = "coalesce(c.current_due_date, c.next_due_date)"
        where = ["c.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if status in COVENANT_STATUSES:
            where.append("c.status = %(status)s")
            params["status"] = status
        elif status in EVALUATION_STATUSES:
            where.append("c.current_status = %(status)s")
            params["status"] = status
        for column, value in (("customer_id", customer_id), ("type", type), ("assignee_id", assignee_id)):
            if value is not None:
                where.append(f"c.{column} = %({column})s")
                params[column] = value
        if scoped := scope_companies(companies, params, "c.company"):
            where.append(scoped)
        if proof_received is True:  # covenants_proof_received_idx
            where.append("c.current_proof_received")
        elif proof_received is False:
            where.append("c.current_evaluation_id IS NOT NULL AND NOT c.current_proof_received")
        if due_from is not None:
            where.append(f"{due} >= %(due_from)s")
            params["due_from"] = due_from
        if due_to is not None:
            where.append(f"{due} <= %(due_to)s")
            params["due_to"] = due_to
        if cursor:
            last_due, last_id = WORKLIST_CURSOR.decode(cursor, page_scope)
            where.append(f"({due}, c.id) > (%(c_due)s::date, %(c_id)s::uuid)")
            params.update(c_due=last_due, c_id=last_id)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COVENANT_COLUMNS}, {due} AS sort_due FROM read.covenants c "
                "LEFT JOIN read.customers cu ON cu.id = c.customer_id "
                f"WHERE {' AND '.join(where)} ORDER BY {due} NULLS LAST, c.id LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows and rows[-1]["sort_due"] is not None:
            next_cursor = WORKLIST_CURSOR.encode(rows[-1]["sort_due"], rows[-1]["id"], scope=page_scope)
        return CovenantPage(
            items=[CovenantRow.of({k: v for k, v in r.items() if k != "sort_due"}) for r in rows],
            next_cursor=next_cursor,
        )

    def covenant(self, brand_id: UUID, covenant_id: UUID, companies: Sequence[str] = ()) -> CovenantRow | None:
        """One covenant of the brand, as the worklist shows it (None for another company's, `companies`: those the
        caller may see, empty: every company)."""
        with self.pool.connection() as conn:
            row = conn.execute(_COVENANT_BY_ID, (covenant_id, brand_id)).fetchone()
        return CovenantRow.of(row) if row and sees_company(companies, row["company"]) else None

    def history(self, brand_id: UUID, covenant_id: UUID, companies: Sequence[str] = ()) -> CovenantHistory | None:
        """A covenant of the brand with its evaluation records, newest cycle first (None for another company's, as
        `covenant`)."""
        with self.pool.connection() as conn:
            row = conn.execute(_HISTORY_COVENANT, (covenant_id, brand_id)).fetchone()
            if row is None or not sees_company(companies, row["company"]):
                return None
            records = conn.execute(_HISTORY, (brand_id, covenant_id)).fetchall()
            proofs = _proofs(conn, "covenant_id", brand_id, covenant_id)
            notices = _record_notices(conn, brand_id, records)
        evaluations = tuple(EvaluationRow.of(r, proofs.get(r["id"], ()), notices) for r in records)
        return CovenantHistory(**_covenant_fields(row), evaluations=evaluations)  # with borrower_has_email

    def evaluations(self, brand_id: UUID, covenant_id: UUID) -> list[EvaluationRow]:
        """Evaluation history of a covenant, newest cycle first."""
        with self.pool.connection() as conn:
            rows = conn.execute(_HISTORY, (brand_id, covenant_id)).fetchall()
            proofs = _proofs(conn, "covenant_id", brand_id, covenant_id)
            notices = _record_notices(conn, brand_id, rows)
        return [EvaluationRow.of(r, proofs.get(r["id"], ()), notices) for r in rows]

    def evaluation(self, brand_id: UUID, evaluation_id: UUID, companies: Sequence[str] = ()) -> EvaluationRow | None:
        """One evaluation record of the brand, with its proof documents (None for a record of another company's
        covenant, `companies`: those the caller may see, empty: every company; its covenant by its key)."""
        scoped = ""
        if companies:
            scoped = (
                " AND EXISTS (SELECT 1 FROM read.covenants c WHERE c.id = read.covenant_evaluations.covenant_id AND "
                f"{OF_COMPANIES})"
            )
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_EVALUATION_COLUMNS} FROM read.covenant_evaluations WHERE brand_id = %(brand)s "
                f"AND id = %(id)s{scoped}",
                {"brand": brand_id, "id": evaluation_id, "companies": companies_param(companies)},
            ).fetchone()
            proofs = _proofs(conn, "evaluation_id", brand_id, evaluation_id) if row else {}
            notices = _record_notices(conn, brand_id, [row]) if row else {}
        return EvaluationRow.of(row, proofs.get(evaluation_id, ()), notices) if row else None

    def of_borrower(self, brand_id: UUID, customer_id: UUID) -> list[BorrowerCovenant]:
        """A borrower's covenants of the brand (by title, then id), each with its Open and Overdue records (earliest
        due first) and their proofs: nothing of another borrower or brand. Read by `covenants_customer_idx`, the
        records' (covenant_id, cycle) key and `covenant_proofs_covenant_idx`."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COVENANT_COLUMNS} FROM read.covenants c LEFT JOIN read.customers cu ON cu.id = c.customer_id "
                "WHERE c.brand_id = %s AND c.customer_id = %s ORDER BY c.title, c.id",
                (brand_id, customer_id),
            ).fetchall()
            ids = [r["id"] for r in rows]
            records = conn.execute(
                f"SELECT {_EVALUATION_COLUMNS} FROM read.covenant_evaluations WHERE covenant_id = ANY(%s) "
                "AND brand_id = %s AND customer_id = %s AND status IN ('open', 'overdue') ORDER BY due_date, cycle",
                (ids, brand_id, customer_id),
            ).fetchall()
            proofs: dict[UUID, list[ProofRow]] = {}
            if records:
                for covenant_id in {r["covenant_id"] for r in records}:
                    for record_id, found in _proofs(conn, "covenant_id", brand_id, covenant_id).items():
                        proofs[record_id] = found
        by_covenant: dict[UUID, list[EvaluationRow]] = {}
        for r in records:
            by_covenant.setdefault(r["covenant_id"], []).append(EvaluationRow.of(r, proofs.get(r["id"], ())))
        return [BorrowerCovenant(CovenantRow.of(r), tuple(by_covenant.get(r["id"], ()))) for r in rows]

    def counts(self, brand_id: UUID, companies: Sequence[str] = ()) -> CovenantCounts:
        """Dashboard figures: records by status and active covenants (`companies`: those the caller may see, empty:
        every company -- another company's covenants and their records are not counted)."""
        params = {"brand": brand_id, "companies": companies_param(companies)}
        with self.pool.connection() as conn:
            if companies:
                rows = conn.execute(
                    "SELECT e.status, count(*) AS n FROM read.covenant_evaluations e JOIN read.covenants c "
                    f"ON c.id = e.covenant_id WHERE e.brand_id = %(brand)s AND {OF_COMPANIES} GROUP BY e.status",
                    params,
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT status, count(*) AS n FROM read.covenant_evaluations WHERE brand_id = %(brand)s "
                    "GROUP BY status",
                    params,
                ).fetchall()
            scoped = f" AND {OF_COMPANIES}" if companies else ""
            active = conn.execute(
                f"SELECT count(*) AS n FROM read.covenants c WHERE c.brand_id = %(brand)s AND c.status = 'active'"
                f"{scoped}",
                params,
            ).fetchone()
        by_status = {status: 0 for status in EVALUATION_STATUSES} | {r["status"]: r["n"] for r in rows}
        return CovenantCounts(**by_status, active_covenants=active["n"] if active else 0)

    def notice_page(
        self,
        brand_id: UUID,
        customer_id: UUID | None = None,
        cursor: str | None = None,
        limit: int = 50,
        companies: Sequence[str] = (),
    ) -> Page:
        """Notices newest first (optionally of one borrower), a keyset page on (queued_at, id): the portal's "Notices
        sent" page, over the index (brand_id, queued_at DESC, id DESC). `companies`: those the caller may see (empty:
        every company) -- a notice covering a record of another company's covenant is left out (a filter on the same
        scan: one probe of each covered record's key and its covenant's)."""
        page_scope = (brand_id, customer_id)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if customer_id is not None:
            where.append("customer_id = %(customer)s")
            params["customer"] = customer_id
        if scoped := scope_companies(companies, params, "c.company"):
            where.append(
                "NOT EXISTS (SELECT 1 FROM read.covenant_evaluations e JOIN read.covenants c ON c.id = e.covenant_id "
                f"WHERE e.id = ANY(n.evaluation_ids) AND NOT {scoped})"
            )
        if cursor:
            at, last = NOTICES_CURSOR.decode(cursor, page_scope)
            where.append("(queued_at, id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, kind, recipient, subject, evaluation_ids, as_of, status, failures, error, queued_at, sent_at, "
                "customer_id, reason "
                f"FROM read.covenant_notices n WHERE {' AND '.join(where)} "
                "ORDER BY queued_at DESC, id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            NOTICES_CURSOR.encode(rows[-1]["queued_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        items = [
            CovenantNoticeRow(**{**r, "kind": NoticeKind(r["kind"]), "evaluation_ids": tuple(r["evaluation_ids"])})
            for r in rows
        ]
        return Page(items=items, next_cursor=next_cursor)

    # Job feeds (workers only; brand comes from the run) ----------------------------------------------------

    def due_covenants(
        self, brand_id: UUID, as_of: date, filters: dict[str, str], after: UUID | None, limit: int
    ) -> list[UUID]:
        """Active covenants whose next evaluation date has come, by id (keyset)."""
        extra, params = _job_filters(filters)
        # Due for a new cycle, or past expiry with no cycle left (so the job can mark it expired).
        due = "(c.next_evaluation_date <= %(as_of)s OR (c.next_evaluation_date IS NULL AND c.expiry_date < %(as_of)s))"
        where = ["c.brand_id = %(brand)s", "c.status = 'active'", due, *extra]
        if after is not None:
            where.append("c.id > %(after)s")
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT c.id FROM read.covenants c WHERE {' AND '.join(where)} ORDER BY c.id LIMIT %(limit)s",
                {"brand": brand_id, "as_of": as_of, "after": after, "limit": limit, **params},
            ).fetchall()
        return [r["id"] for r in rows]

    def overdue_candidates(
        self, brand_id: UUID, as_of: date, filters: dict[str, str], after: UUID | None, limit: int
    ) -> list[UUID]:
        """Open records past due date plus grace, by id (keyset); a closed covenant's records stay as they are (its
        close stopped the chase: they are never marked overdue)."""
        extra, params = _job_filters(filters)
        where = ["e.brand_id = %(brand)s", "e.status = 'open'", "e.overdue_after < %(as_of)s", CHASED, *extra]
        if after is not None:
            where.append("e.id > %(after)s")
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT e.id FROM read.covenant_evaluations e JOIN read.covenants c ON c.id = e.covenant_id "
                f"WHERE {' AND '.join(where)} ORDER BY e.id LIMIT %(limit)s",
                {"brand": brand_id, "as_of": as_of, "after": after, "limit": limit, **params},
            ).fetchall()
        return [r["id"] for r in rows]

    def notice_groups(
        self,
        brand_id: UUID,
        kind: NoticeKind,
        as_of: date,
        filters: dict[str, str],
        after: tuple[Any, ...] | None,
        limit: int,
        overdue_by_then: bool = False,
    ) -> list[NoticeGroup]:
        """Records owing a notice, grouped by borrower, application and due date (keyset on the group).

        `overdue_by_then` (dry runs, which mark nothing): an open record past its due date and grace by `as_of`
        owes an overdue notice too. A closed covenant's records owe no notice (reminders need an active covenant;
        overdue notices a covenant not closed: an expired covenant's last records are still owed). Groups of either
        kind say when a proof staff have not rejected was last attached to each record that has one (`received`),
        read in the same statement (one probe of the proofs' key per record).
        """
        extra, params = _job_filters(filters)
        if kind is NoticeKind.REMINDER:
            where = [
                "e.status = 'open'", "e.reminder_notice_id IS NULL", "e.notification_date = %(as_of)s",
                "e.notification_date < e.expiry_date", "c.status = 'active'",
            ]  # fmt: skip
        else:
            overdue = "(e.status = 'overdue' OR (e.status = 'open' AND e.overdue_after < %(as_of)s))"
            where = [overdue if overdue_by_then else "e.status = 'overdue'", "e.overdue_notice_id IS NULL", CHASED]
        # A record whose notice was recorded not sent (its borrower had no email address) is left out while the
        # borrower still has none: the job found nothing more to record for it, and loaded it again on every run.
        unsent = "e.reminder_not_sent_id" if kind is NoticeKind.REMINDER else "e.overdue_not_sent_id"
        where += ["e.brand_id = %(brand)s", f"({unsent} IS NULL OR coalesce(cu.email, '') <> '')", *extra]
        received, proofs = "pr.received_at", _LATEST_PROOF
        if after is not None:
            where.append("(e.customer_id, e.application_ref, e.due_date) > (%(a_cust)s, %(a_app)s, %(a_due)s)")
            params.update(a_cust=after[0], a_app=after[1], a_due=after[2])
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT e.customer_id, e.application_ref, e.due_date, cu.email, cu.name, "
                # (title, id): the two arrays in one order, also when two records share a title.
                "array_agg(e.id ORDER BY e.title, e.id) AS ids, "
                f"array_agg({received} ORDER BY e.title, e.id) AS received "
                "FROM read.covenant_evaluations e JOIN read.covenants c ON c.id = e.covenant_id "
                f"LEFT JOIN read.customers cu ON cu.id = e.customer_id {proofs}"
                f"WHERE {' AND '.join(where)} GROUP BY e.customer_id, e.application_ref, e.due_date, cu.email, cu.name "
                "ORDER BY e.customer_id, e.application_ref, e.due_date LIMIT %(limit)s",
                {"brand": brand_id, "as_of": as_of, "limit": limit, **params},
            ).fetchall()
        return [
            NoticeGroup(
                brand_id,
                r["customer_id"],
                r["application_ref"],
                r["due_date"],
                r["email"],
                r["name"] or "Customer",
                list(r["ids"]),
                {i: at for i, at in zip(r["ids"], r["received"], strict=True) if at is not None},
            )
            for r in rows
        ]

    def customer_names(self, brand_id: UUID, customer_ids: Iterable[UUID]) -> dict[UUID, str]:
        """Borrowers' names by id, for addressing a page of notices (missing ids are left out)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, name FROM read.customers WHERE brand_id = %s AND id = ANY(%s)",
                (brand_id, list(customer_ids)),
            ).fetchall()
        return {r["id"]: r["name"] for r in rows}

    def pending_notices_with_records(
        self, brand_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[tuple[datetime, UUID, list[UUID], dict[UUID, datetime]]]:
        """`pending_notices` with the evaluation records each notice covers (so a page's notices and records can
        be loaded in one read), and when proof staff have not rejected was last attached to each of those records
        that has one (as `NoticeGroup.received`, in the same statement)."""
        return [
            (r["queued_at"], r["id"], list(r["evaluation_ids"]), _received(r["received"]))
            for r in self._pending(brand_id, after, limit, received=True)
        ]

    def pending_notices(
        self, brand_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[tuple[datetime, UUID]]:
        """Notices queued but not yet accepted by the mail server, oldest first (keyset on queued_at, id)."""
        return [(r["queued_at"], r["id"]) for r in self._pending(brand_id, after, limit)]

    def _pending(
        self, brand_id: UUID, after: tuple[datetime, UUID] | None, limit: int, *, received: bool = False
    ) -> list[Any]:
        """A page of queued notices (queued_at, id, evaluation_ids; `received`: with `_PROOFS_RECEIVED`), oldest
        first (keyset on queued_at, id)."""
        where = "n.brand_id = %s AND n.status = 'queued'"
        params: list[Any] = [brand_id]
        if after is not None:
            where += " AND (n.queued_at, n.id) > (%s, %s)"
            params += [after[0], after[1]]
        extra = f", {_PROOFS_RECEIVED} AS received" if received else ""
        with self.pool.connection() as conn:
            rows: list[Any] = conn.execute(
                f"SELECT n.queued_at, n.id, n.evaluation_ids{extra} FROM read.covenant_notices n WHERE {where} "
                "ORDER BY n.queued_at, n.id LIMIT %s",
                (*params, limit),
            ).fetchall()
        return rows
