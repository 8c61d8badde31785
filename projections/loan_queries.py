"""Queries over the loans read model: the queue (keyset, filters by status, assignee and a search), one loan with
its BRE results, overrides, bypasses and timeline, and the counts the loans context's rules and allocation read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.identity.permissions import Permission
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.states import CX_WORKED_CODES, SERVICING_CODES, LoanStatus
from projections.customer_queries import CUSTOMER_NUMBER, LOAN_NUMBER
from projections.customers import LONG
from projections.dashboard import DISBURSED, PENDING
from projections.identity import holds_sql
from projections.keyset import Int4, InvalidCursor, KeysetCursor, Page
from projections.loan_decision_queries import AmountsView, InstalmentView, amounts, schedule
from projections.loans import CLOSED
from projections.name_vocabulary import driving_word, like_escaped, vocabulary_matches

#: The queue is ordered by (created_at, id), newest first.
LOANS_CURSOR = KeysetCursor(datetime, UUID, name="loans")
#: The completed-loans list is ordered by (the instant the loan closed, id), newest first; the tag keeps another
#: list's cursor of the same types out.
COMPLETED_CURSOR = KeysetCursor(str, date, datetime, UUID, name="loans.completed-on")
_COMPLETED_TAG = "completed-loans"
#: A loan's timeline (`read.loan_events`) is paged by version, oldest or newest first (its primary key
#: `(loan_id, version)` serves both directions).
EVENTS_CURSOR = KeysetCursor(Int4, name="loans.events")
#: The loan statuses the Completed Loans page lists: repaid, settled, written off.
COMPLETED = ("completed", "settled", "written_off")
#: Disbursed loans are serviced, no longer an application on anyone's desk.
_DISBURSED = SERVICING_CODES
#: (LOAN_NUMBER, a loan number as the number series writes it, `DEMO-L-000456`, is projections.customer_queries'.)


@dataclass(frozen=True)
class LoanSummary:
    """A loan as the queue shows it."""

    id: UUID
    loan_number: str
    customer_id: UUID
    borrower_name: str | None
    product_id: UUID
    product_version: int
    amount: Decimal
    tenure: int
    status: str
    assignee_id: UUID | None
    assignee_name: str | None
    channel: str
    created_at: datetime
    updated_at: datetime
    #: The application is in its CX's hands (`CX_WORKED`) and its assignee may no longer take loans (disabled, or
    #: no longer holding LOANS at WRITE): a manager reassigns it, or the `cx-departures` job with auto-allocation on.
    assignee_departed: bool


@dataclass(frozen=True)
class DepartedAssignment:
    """An application in its CX's hands whose assignee left: who, and why (`DISABLED`, `NO_LOANS`)."""

    loan_id: UUID
    assignee: UUID
    reason: str


@dataclass(frozen=True)
class CompletedLoan:
    """A loan of the Completed Loans page: how it closed (`status`), on which business day (`closed_on`: the closing
    payment's day, as on its no-due certificate; a waiver's, a settlement's or write-off's), and when that was
    recorded (`closed_at`)."""

    id: UUID
    loan_number: str
    customer_id: UUID
    borrower_name: str | None
    borrower_number: str | None
    product_id: UUID
    product_code: str | None
    amount: Decimal
    tenure: int
    status: str
    closed_at: datetime
    closed_on: date


@dataclass(frozen=True)
class CompletedPage(Page):
    """A keyset page of completed loans, the latest closed first."""

    items: list[CompletedLoan]


@dataclass(frozen=True)
class CompletedFilter:
    """What the Completed Loans page narrows to: its tab's statuses, a search (`LoanQueries.loans`' `q`), a product
    and the business days of closing `[closed_from, closed_to]`."""

    statuses: tuple[str, ...] = COMPLETED
    q: str | None = None
    product_id: UUID | None = None
    closed_from: date | None = None
    closed_to: date | None = None


@dataclass(frozen=True)
class LoanPage(Page):
    """A keyset page of loans, newest first."""

    items: list[LoanSummary]


@dataclass(frozen=True)
class OverrideView:
    """A CX's override of one rule."""

    outcome: str
    justification: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class RuleResultView:
    """One BRE rule's result with the inputs it read, its threshold, and the override of it if any."""

    rule: str
    outcome: str
    inputs: dict[str, str]
    threshold: dict[str, str]
    reason: str
    override: OverrideView | None


@dataclass(frozen=True)
class LoanEventView:
    """One entry of a loan's history."""

    version: int
    kind: str
    status: str | None
    actor: str
    reason: str | None
    details: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class BorrowerView:
    """The borrower of a loan as the customers read model shows them."""

    id: UUID
    name: str | None
    phone: str | None
    number: str | None  # the brand's formatted customer id (DEMO-C-000123)


@dataclass(frozen=True)
class FeeView:
    """One fee as charged: amount, GST, whether the GST is inside the amount."""

    amount: Decimal
    gst: Decimal
    gst_inclusive: bool


@dataclass(frozen=True)
class PricingView:
    """The amounts of a loan as priced (LENDING.md "Fees, taxes, payout"): of the amount requested at creation
    (`LoanDetail.pricing`), or of the sanctioned amount (`LoanDetail.sanctioned_pricing`, once sanctioned)."""

    sanctioned: Decimal
    gst_percent: Decimal
    processing_fee_before_discount: Decimal
    coupon_discount: Decimal
    processing_fee: FeeView
    convenience_fee: FeeView
    net_disbursed: Decimal
    instalment: Decimal | None = None  # the EMI (a payday loan: the bullet per month) on these amounts


def _fee(raw: dict[str, Any]) -> FeeView:
    return FeeView(Decimal(str(raw["amount"])), Decimal(str(raw["gst"])), bool(raw["gst_inclusive"]))


def _pricing(raw: dict[str, Any], instalment: Decimal | None = None) -> PricingView:
    return PricingView(
        instalment=instalment,
        sanctioned=Decimal(str(raw["sanctioned"])),
        gst_percent=Decimal(str(raw["gst_percent"])),
        processing_fee_before_discount=Decimal(str(raw["processing_fee_before_discount"])),
        coupon_discount=Decimal(str(raw["coupon_discount"])),
        processing_fee=_fee(raw["processing_fee"]),
        convenience_fee=_fee(raw["convenience_fee"]),
        net_disbursed=Decimal(str(raw["net_disbursed"])),
    )


@dataclass(frozen=True)
class LoanDetail(LoanSummary):
    """One loan: borrower, amounts, product version, BRE inputs and results, overrides, bypasses, history."""

    coupon_code: str | None
    pricing: PricingView
    instalment: Decimal
    borrower: BorrowerView
    submitted_on: date | None
    passed: bool | None
    facts: dict[str, Any] | None
    policy: dict[str, Any] | None
    results: list[RuleResultView]
    bypassed: list[str]
    history: list[LoanEventView]
    documents: list[str]
    version: int
    amounts: AmountsView | None = None
    schedule: list[InstalmentView] | None = None
    cam: dict[str, Any] | None = None
    rejection: dict[str, Any] | None = None
    sent_back: dict[str, Any] | None = None
    cx_approved_by: str | None = None
    sanctioned_by: str | None = None
    disbursed_on: date | None = None
    sanctioned_pricing: PricingView | None = None  # once sanctioned: the sanction's pricing (`pricing`: requested)
    sanction_assignee_id: UUID | None = None  # the Sanction Manager the Sanction Head gave it to
    #: Whether the timeline has entries before `history` (read with `history_limit`: only the newest ones).
    history_more: bool = False


_DECISION = (
    ", l.cx_approved_amount, l.sanctioned_amount, l.sanction_pricing, l.sanction_terms, l.cam, l.rejection, "
    "l.sent_back, l.cx_approved_by, l.sanctioned_by, l.disbursed_on, l.sanction_instalment, l.sanction_assignee"
)

_EVENT_COLUMNS = "version, kind, status, actor, reason, details, at"

#: Why an application left a departed credit executive (the `Assigned` reason: "auto-allocated: ...").
DISABLED = "credit executive disabled"
NO_LOANS = "credit executive no longer holds LOANS at WRITE"
#: The statuses in which an application is its CX's work (inlined: fixed enum values).
_CX_WORKED = "ARRAY[" + ", ".join(f"'{code}'" for code in CX_WORKED_CODES) + "]::text[]"


def takes_loans_sql(staff: str) -> str:
    """Whether the `read.staff` row `staff` (an alias) may be assigned applications: enabled and holding LOANS at
    WRITE (what `Loans.assign` asks of an assignee, `LoanParties.can_take_loans`)."""
    return holds_sql(staff, Permission.LOANS)


#: The loans list's groups of states, each a dashboard figure's (`projections.dashboard`): `?status=any_disbursed`
#: lists the loans "Disbursed" counts, `any_pending` those "Pending" counts (one status each listed fewer).
STATUS_GROUPS: dict[str, tuple[LoanStatus, ...]] = {"any_disbursed": DISBURSED, "any_pending": PENDING}

_SUMMARY = (
    "SELECT l.id, l.loan_number, l.customer_id, c.name AS borrower_name, l.product_id, l.product_version, l.amount, "
    "l.tenure, l.status, l.assignee AS assignee_id, s.name AS assignee_name, l.channel, l.created_at, l.updated_at, "
    f"(l.status = ANY({_CX_WORKED}) AND s.brand_id IS NOT DISTINCT FROM l.brand_id AND NOT {takes_loans_sql('s')}) "
    "IS TRUE AS assignee_departed"
)
_FROM = (
    " FROM read.loans l LEFT JOIN read.customers c ON c.id = l.customer_id LEFT JOIN read.staff s ON s.id = l.assignee"
)


#: Most borrowers a name search looks up by the words of their names (the directory's word indexes); a query whose
#: words are in more names walks the brand's names instead (one pass, as every search did before).
NAME_LOOKUP_MAX = 2_000


def _search(conn: Any, q: str | None, params: dict[str, Any]) -> list[str]:
    """The condition a search adds (none for a blank one): a loan number or a borrower's formatted id is looked up
    exactly (no name holds "-L-000456"); anything else is part of a borrower's name.

    The query's words are looked up in the brand's name vocabulary as the directory search does
    (projections/name_vocabulary.py): a name holding the query holds one of the (word, place) entries of its word in
    the fewest names. Those entries are in no name: no borrower matches; in at most NAME_LOOKUP_MAX names: those names
    are read from the word indexes (`customers_name_word<k>_idx`, `customers_long_name_idx`); in more, the brand's
    names are walked (a common fragment: a pass over them finds the page's loans sooner than thousands of lookups)."""
    text = (q or "").strip()
    if not text:
        return []
    params["key"] = text.upper()
    if LOAN_NUMBER.match(params["key"]):
        return ["l.loan_number = %(key)s"]
    if CUSTOMER_NUMBER.match(params["key"]):
        return ["l.customer_id IN (SELECT id FROM read.customers WHERE brand_id = %(brand)s AND number = %(key)s)"]
    words = text.lower().split()
    params["name"] = "%" + like_escaped(" ".join(words)) + "%"
    walk = ["l.customer_id IN (SELECT id FROM read.customers WHERE brand_id = %(brand)s AND name_key LIKE %(name)s)"]
    driver = driving_word(vocabulary_matches(conn, params["brand"], words, NAME_LOOKUP_MAX))
    if not driver.found:
        return ["false"]
    if driver.more or driver.borrowers > NAME_LOOKUP_MAX:
        return walk
    places: dict[int, list[str]] = {}
    for word, place, _ in driver.found:
        places.setdefault(place, []).append(word)
    reads = []
    for place, held in sorted(places.items()):
        if place == LONG:  # names of more words than have indexes: their own (partial) index, walked
            reads.append(f"split_part(c.name_key, ' ', {LONG}) <> ''")
            continue
        params[f"w{place}"] = held
        reads.append(
            f"(split_part(c.name_key, ' ', {place}) = ANY(%(w{place})s::text[]) "
            f"AND split_part(c.name_key, ' ', {place}) <> '')"
        )
    return [
        "l.customer_id IN (SELECT c.id FROM read.customers c WHERE c.brand_id = %(brand)s AND c.name_key LIKE "
        f"%(name)s AND ({' OR '.join(reads)}))"
    ]


def _sanctioned_pricing(row: dict[str, Any]) -> PricingView | None:
    """Once sanctioned, the sanction's pricing: what the loan is disbursed and repaid on (None before)."""
    return _pricing(row["sanction_pricing"], row["sanction_instalment"]) if row["sanction_pricing"] else None


def _summary(row: dict[str, Any]) -> LoanSummary:
    return LoanSummary(**{k: row[k] for k in LoanSummary.__dataclass_fields__})


class LoanQueries:
    """Brand-scoped loan queries; also the loans context's `LoanBook` (counts for the creation rules)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def loans(
        self,
        brand_id: UUID,
        status: str | None = None,
        assignee: UUID | None = None,
        q: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        departed: bool = False,
    ) -> LoanPage:
        """The brand's loans newest first; `q` matches a loan number or a borrower's formatted id exactly (any
        case), or part of a borrower's name; `departed`: only the applications whose assignee left
        (`assignee_departed`)."""
        # The filters its cursor is bound to (`departed` only when asked: earlier cursors stay valid).
        page_scope = (brand_id, status, assignee, q, *((True,) if departed else ()))
        where = ["l.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if departed:  # from the departed staff records (few) to their applications, by the assignee index
            where.append(f"l.status = ANY({_CX_WORKED}) AND l.assignee IN (SELECT ds.id FROM read.staff ds "
                         f"WHERE ds.brand_id = %(brand)s AND NOT {takes_loans_sql('ds')})")  # fmt: skip
        if status in STATUS_GROUPS:  # a dashboard figure's loans: every state it counts
            where.append("l.status = ANY(%(statuses)s)")
            params["statuses"] = [s.value for s in STATUS_GROUPS[status]]
        elif status:
            where.append("l.status = %(status)s")
            params["status"] = status
        if assignee is not None:
            where.append("l.assignee = %(assignee)s")
            params["assignee"] = assignee
        if cursor:
            at, last = LOANS_CURSOR.decode(cursor, page_scope)
            where.append("(l.created_at, l.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            where += _search(conn, q, params)
            rows = conn.execute(
                f"{_SUMMARY}{_FROM} WHERE {' AND '.join(where)} ORDER BY l.created_at DESC, l.id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            LOANS_CURSOR.encode(rows[-1]["created_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return LoanPage(items=[_summary(r) for r in rows], next_cursor=next_cursor)

    def completed(self, brand_id: UUID, shown: CompletedFilter, cursor: str | None = None,
                  limit: int = 50) -> CompletedPage:  # fmt: skip
        """The brand's completed, settled or written-off loans (`shown.statuses`), the latest closed first by the
        business day they closed on (index `loans_closed_on_idx`)."""
        page_scope = (
            brand_id,
            shown.statuses,
            shown.q,
            shown.product_id,
            shown.closed_from,
            shown.closed_to,
        )  # the filters its cursor is bound to
        assert set(shown.statuses) <= set(COMPLETED), shown.statuses
        where = ["l.brand_id = %(brand)s", "l.status = ANY(%(statuses)s)", "l.closed_on IS NOT NULL"]
        params: dict[str, Any] = {"brand": brand_id, "statuses": list(shown.statuses), "limit": limit + 1}
        if shown.product_id is not None:
            where.append("l.product_id = %(product)s")
            params["product"] = shown.product_id
        if shown.closed_from is not None:
            where.append("l.closed_on >= %(closed_from)s")
            params["closed_from"] = shown.closed_from
        if shown.closed_to is not None:
            where.append("l.closed_on <= %(closed_to)s")
            params["closed_to"] = shown.closed_to
        if cursor:
            tag, on, at, last = COMPLETED_CURSOR.decode(cursor, page_scope)
            if tag != _COMPLETED_TAG:
                raise InvalidCursor()
            where.append("(l.closed_on, l.status_since, l.id) < (%(c_on)s, %(c_at)s, %(c_id)s)")
            params.update(c_on=on, c_at=at, c_id=last)
        with self.pool.connection() as conn:
            where += _search(conn, shown.q, params)
            rows = conn.execute(
                "SELECT l.id, l.loan_number, l.customer_id, c.name AS borrower_name, c.number AS borrower_number, "
                "l.product_id, p.code AS product_code, l.amount, l.tenure, l.status, l.status_since AS closed_at, "
                "l.closed_on "
                "FROM read.loans l LEFT JOIN read.customers c ON c.id = l.customer_id "
                "LEFT JOIN read.loan_products p ON p.id = l.product_id "
                f"WHERE {' AND '.join(where)} ORDER BY l.closed_on DESC, l.status_since DESC, l.id DESC "
                "LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        last_row = rows[-1] if rows else None
        next_cursor = (
            COMPLETED_CURSOR.encode(
                _COMPLETED_TAG, last_row["closed_on"], last_row["closed_at"], last_row["id"], scope=page_scope
            )
            if more and last_row
            else None
        )
        return CompletedPage(
            items=[CompletedLoan(**{k: r[k] for k in CompletedLoan.__dataclass_fields__}) for r in rows],
            next_cursor=next_cursor,
        )

    def loan(
        self,
        brand_id: UUID,
        loan_id: UUID,
        calendar: RepaymentCalendar | None = None,
        expected_on: date | None = None,
        history_limit: int | None = None,
    ) -> LoanDetail | None:
        """One loan of the brand with its BRE results, amounts, history, and once sanctioned its schedule (from the
        disbursal date, or `expected_on` — the brand's business date — until disbursed, on `calendar`). The history
        is the whole timeline, oldest first; with `history_limit`, only its newest `history_limit` entries (still
        oldest first; `history_more` says whether there are earlier ones): the loan page's cost does not grow with
        the loan's history."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"{_SUMMARY}, l.coupon_code, l.pricing, l.instalment, c.phone AS borrower_phone, c.number AS borrower_number, l.submitted_on, l.passed, l.facts, l.policy, "
                f"l.results, l.overrides, l.bypassed, l.version{_DECISION}{_FROM} WHERE l.id = %s AND l.brand_id = %s",
                (loan_id, brand_id),
            ).fetchone()
            if row is None:
                return None
            more = False
            if history_limit is None:
                events = conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM read.loan_events WHERE loan_id = %s AND brand_id = %s "
                    "ORDER BY version",
                    (loan_id, brand_id),
                ).fetchall()
            else:
                newest = conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM read.loan_events WHERE loan_id = %s AND brand_id = %s "
                    "ORDER BY version DESC LIMIT %s",
                    (loan_id, brand_id, history_limit + 1),
                ).fetchall()
                more = len(newest) > history_limit
                events = list(reversed(newest[:history_limit]))
        overrides = row["overrides"] or {}
        results = [
            RuleResultView(
                rule=r["rule"],
                outcome=r["outcome"],
                inputs=dict(r.get("inputs") or {}),
                threshold=dict(r.get("threshold") or {}),
                reason=r["reason"],
                override=_override(overrides.get(r["rule"])),
            )
            for r in row["results"] or []
        ]
        return LoanDetail(
            **{k: row[k] for k in LoanSummary.__dataclass_fields__},
            coupon_code=row["coupon_code"],
            pricing=_pricing(row["pricing"], row["instalment"]),
            instalment=row["instalment"],
            sanctioned_pricing=_sanctioned_pricing(row),
            borrower=BorrowerView(
                id=row["customer_id"],
                name=row["borrower_name"],
                phone=row["borrower_phone"],
                number=row["borrower_number"],
            ),
            submitted_on=row["submitted_on"],
            passed=row["passed"],
            facts=row["facts"],
            policy=row["policy"],
            results=results,
            bypassed=list(row["bypassed"]),
            history=[LoanEventView(**e) for e in events],
            documents=[],
            version=row["version"],
            amounts=amounts(row),
            schedule=schedule(row, calendar or RepaymentCalendar(), expected_on or date.today()),
            cam=row["cam"],
            rejection=row["rejection"],
            sent_back=row["sent_back"],
            cx_approved_by=row["cx_approved_by"],
            sanction_assignee_id=row["sanction_assignee"],
            sanctioned_by=row["sanctioned_by"],
            disbursed_on=row["disbursed_on"],
            history_more=more,
        )

    def summary(self, brand_id: UUID, loan_id: UUID) -> LoanSummary | None:
        """The loan as the queue shows it (None when the brand has no such loan)."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_SUMMARY}{_FROM} WHERE l.id = %s AND l.brand_id = %s", (loan_id, brand_id)).fetchone()
        return _summary(row) if row is not None else None

    def loan_events(
        self, brand_id: UUID, loan_id: UUID, cursor: str | None = None, limit: int = 50, newest_first: bool = False
    ) -> Page | None:
        """A page of the loan's timeline (the entries of `loan(...).history`), by version - oldest first, or newest
        first - keyset on the primary key `(loan_id, version)`; None when the brand has no such loan. The cursor is
        bound to the brand, the loan and the direction (another's is an InvalidCursor, 422)."""
        scope = (brand_id, loan_id, "desc" if newest_first else "asc")
        direction, compare = ("DESC", "<") if newest_first else ("ASC", ">")
        with self.pool.connection() as conn:
            known = conn.execute(
                "SELECT 1 FROM read.loans WHERE id = %s AND brand_id = %s", (loan_id, brand_id)
            ).fetchone()
            if known is None:  # before the cursor: another brand's loan is a 404 whatever the cursor
                return None
            after = EVENTS_CURSOR.decode(cursor, scope)[0] if cursor else None
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM read.loan_events WHERE loan_id = %(loan)s AND brand_id = %(brand)s "
                f"AND (%(after)s::int IS NULL OR version {compare} %(after)s::int) "
                f"ORDER BY version {direction} LIMIT %(limit)s",
                {"loan": loan_id, "brand": brand_id, "after": after, "limit": limit + 1},
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = EVENTS_CURSOR.encode(rows[-1]["version"], scope=scope) if more and rows else None
        return Page(items=[LoanEventView(**r) for r in rows], next_cursor=next_cursor)

    # The loans context's LoanBook, and what its wiring reads -----------------------------------------------------

    def coupon_uses(self, brand_id: UUID, product_id: UUID, code: str) -> int:
        """Applications of the brand using the coupon on the product, not cancelled or rejected."""
        return self._count(
            "SELECT count(*) AS n FROM read.loans WHERE brand_id = %s AND product_id = %s AND coupon_code = %s "
            "AND status NOT IN ('cancelled', 'rejected')",
            (brand_id, product_id, code),
        )

    def open_loans(self, brand_id: UUID, customer_id: UUID) -> int:
        """The borrower's applications and loans that are neither closed nor refused."""
        return self._count(
            "SELECT count(*) AS n FROM read.loans WHERE brand_id = %s AND customer_id = %s AND status <> ALL(%s)",
            (brand_id, customer_id, list(CLOSED)),
        )

    def assignees(self, brand_id: UUID, loan_ids: Sequence[UUID]) -> dict[UUID, UUID | None]:
        """Who each of the brand's `loan_ids` is assigned to (one query; another brand's ids are left out)."""
        if not loan_ids:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, assignee FROM read.loans WHERE brand_id = %s AND id = ANY(%s)", (brand_id, list(loan_ids))
            ).fetchall()
        return {row["id"]: row["assignee"] for row in rows}

    def open_applications(self, brand_id: UUID, customer_id: UUID) -> list[tuple[UUID, str, str]]:
        """The borrower's applications and loans that are neither closed nor refused: (id, loan number, status),
        newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, loan_number, status FROM read.loans WHERE brand_id = %s AND customer_id = %s "
                "AND status <> ALL(%s) ORDER BY created_at DESC, id DESC",
                (brand_id, customer_id, list(CLOSED)),
            ).fetchall()
        return [(r["id"], r["loan_number"], r["status"]) for r in rows]

    def last_rejected_on(self, brand_id: UUID, customer_id: UUID) -> date | None:
        """The borrower's latest rejection in the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT max(rejected_on) AS at FROM read.loans WHERE brand_id = %s AND customer_id = %s",
                (brand_id, customer_id),
            ).fetchone()
        return row["at"] if row else None

    def least_loaded(self, brand_id: UUID, role: str, day: date) -> UUID | None:
        """The enabled, available staff member of the brand holding `role` and LOANS at WRITE, not on leave on
        `day`, with the fewest open assigned applications (ties: the smaller id); None when there is nobody."""
        ranked = self.workloads(brand_id, role, day)
        return ranked[0][0] if ranked else None

    def workloads(self, brand_id: UUID, role: str, day: date) -> list[tuple[UUID, int]]:
        """Who auto-allocation may give an application to, with their open assigned applications, least loaded
        first (ties: the smaller id): enabled, available staff of the brand holding `role` and LOANS at WRITE (an
        override taking it away leaves them out: they could not be assigned one by a manager either, and would be
        taken back as departed), not on leave on `day`."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT s.id, (SELECT count(*) FROM read.loans l WHERE l.brand_id = %(brand)s AND l.assignee = s.id "
                "AND l.status <> ALL(%(done)s)) AS load FROM read.staff s WHERE s.brand_id = %(brand)s "
                f"AND %(role)s = ANY(s.roles) AND s.available AND {takes_loans_sql('s')} "
                "AND NOT EXISTS (SELECT FROM jsonb_each(s.leaves) AS l(id, leave) "
                "WHERE (l.leave->>'start')::date <= %(day)s AND (l.leave->>'end')::date >= %(day)s) "
                "ORDER BY load, s.id",
                {"brand": brand_id, "role": role, "day": day, "done": [*CLOSED, *_DISBURSED]},
            ).fetchall()
        return [(r["id"], int(r["load"])) for r in rows]

    def departed_assignments(
        self, brand_id: UUID, after: tuple[UUID, UUID] | None = None, limit: int = 200
    ) -> list[DepartedAssignment]:
        """A keyset page of the brand's applications in their CX's hands (`CX_WORKED`) whose assignee may no longer
        take loans, by (assignee, id) after `after`: from the brand's departed staff records (few) to their
        applications by the assignee index. Only the brand's own staff records are judged; an assignee with no
        record in the brand (the staff read model behind a new hire) has not left. Leave and `available` off are
        not departures."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT l.id AS loan_id, l.assignee, CASE WHEN NOT s.enabled THEN %(disabled)s ELSE %(no_loans)s END "
                "AS reason FROM read.staff s JOIN read.loans l ON l.brand_id = s.brand_id AND l.assignee = s.id "
                f"WHERE s.brand_id = %(brand)s AND NOT {takes_loans_sql('s')} AND l.status = ANY({_CX_WORKED}) "
                "AND (%(a)s::uuid IS NULL OR (l.assignee, l.id) > (%(a)s::uuid, %(i)s::uuid)) "
                "ORDER BY l.assignee, l.id LIMIT %(limit)s",
                {"brand": brand_id, "disabled": DISABLED, "no_loans": NO_LOANS, "limit": limit,
                 "a": after[0] if after else None, "i": after[1] if after else None},
            ).fetchall()  # fmt: skip
        return [DepartedAssignment(**r) for r in rows]

    def _count(self, sql: str, params: tuple[Any, ...]) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(sql, params).fetchone()
        return int(row["n"]) if row else 0


def _override(raw: dict[str, Any] | None) -> OverrideView | None:
    if not raw:
        return None
    return OverrideView(
        outcome=raw["outcome"],
        justification=raw["justification"],
        actor=raw["actor"],
        at=datetime.fromisoformat(raw["at"]),
    )
