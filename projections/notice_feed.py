"""Queries over notices: the overdue and upcoming feeds, the dashboard's KPIs, a notice with its history, and the
notices matched to a borrower. Every query is scoped to a brand and the companies its caller may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.notices.notice import MatchCandidate, NoticeMode
from projections.keyset import Int4, KeysetCursor, Page
from projections.notice_queries import Scope

#: The overdue feed by priority (days overdue, amount, company, id); the upcoming feed (and the overdue feed within
#: a due window) by (due date, amount, id).
PRIORITY_CURSOR = KeysetCursor(Int4, Decimal, str, UUID, name="notices.by-priority")
DUE_CURSOR = KeysetCursor(date, Decimal, UUID, name="notices.by-due-date")

_CENTS = Decimal("0.01")
_NOTICE_COLUMNS = (
    "id, source_id, company, source_notice_id, loan_number, customer_name, phone, phone_e164, due_date, "
    "instalment_no, amount_due, days_overdue, mode, active, source_updated_at, match_customer_id, "
    "match_confidence, match_band, match_methods, match_candidates, match_confirmed, first_seen_at, updated_at"
)
#: What feeds and lists show of a notice (`NoticeItem`): no candidates (JSON, decoded for every row) or timestamps.
_LIST_COLUMNS = (
    "id, company, source_notice_id, loan_number, customer_name, phone, due_date, instalment_no, amount_due, "
    "days_overdue, mode, active, match_customer_id, match_confidence, match_band, match_methods, match_confirmed"
)


@dataclass(frozen=True)
class NoticeMatch:
    """The borrower a notice was matched to (none when unmatched), with confidence 0-100, band and methods."""

    customer_id: UUID | None
    confidence: int
    band: str
    methods: list[str]
    confirmed: bool = False  # a staff member confirmed (or corrected) it: automatic rematching leaves it


@dataclass(frozen=True)
class NoticeMatchDetail(NoticeMatch):
    """The match with the candidates staff may review, best first."""

    candidates: list[MatchCandidate] = field(default_factory=list)


@dataclass(frozen=True)
class NoticeItem:
    """A notice as feeds and lists show it, with its match."""

    id: UUID
    company: str
    source_notice_id: str
    loan_number: str
    customer_name: str
    phone: str
    amount_due: Decimal
    days_overdue: int
    due_date: date
    instalment_no: int
    mode: NoticeMode
    active: bool
    match: NoticeMatch

    @staticmethod
    def fields_of(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "company": row["company"],
            "source_notice_id": row["source_notice_id"],
            "loan_number": row["loan_number"],
            "customer_name": row["customer_name"],
            "phone": row["phone"],
            "amount_due": row["amount_due"],
            "days_overdue": row["days_overdue"],
            "due_date": row["due_date"],
            "instalment_no": row["instalment_no"],
            "mode": NoticeMode(row["mode"]),
            "active": row["active"],
        }

    @classmethod
    def of(cls, row: dict[str, Any]) -> NoticeItem:
        match = NoticeMatch(
            row["match_customer_id"],
            row["match_confidence"],
            row["match_band"],
            list(row["match_methods"]),
            bool(row.get("match_confirmed", False)),
        )
        return cls(**cls.fields_of(row), match=match)


@dataclass(frozen=True)
class NoticeHistoryEntry:
    """One thing that happened to a notice; `detail` is the JSON its `kind` records."""

    version: int
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class NoticeDetail(NoticeItem):
    """A notice with its facts, match candidates and history (newest first)."""

    match: NoticeMatchDetail
    source_id: UUID
    phone_e164: str | None
    source_updated_at: datetime | None
    first_seen_at: datetime
    updated_at: datetime
    history: list[NoticeHistoryEntry]


@dataclass(frozen=True)
class NoticePage(Page):
    """A keyset page of a feed, in priority order."""

    items: list[NoticeItem]


@dataclass(frozen=True)
class Kpi:
    """How many notices, and their total amount due."""

    count: int = 0
    amount: Decimal = Decimal("0.00")

    def plus(self, count: int, amount: Decimal) -> Kpi:
        return Kpi(self.count + count, (self.amount + amount).quantize(_CENTS))


@dataclass(frozen=True)
class CompanyKpis:
    """Overdue and upcoming figures."""

    overdue: Kpi = Kpi()
    upcoming: Kpi = Kpi()

    def plus(self, mode: str, count: int, amount: Decimal) -> CompanyKpis:
        if mode == NoticeMode.OVERDUE:
            return CompanyKpis(self.overdue.plus(count, amount), self.upcoming)
        return CompanyKpis(self.overdue, self.upcoming.plus(count, amount))


@dataclass(frozen=True)
class NoticeDashboard:
    """Overdue and upcoming counts and totals, combined and by company; the notices to look at first."""

    company: str | None
    companies: list[str]
    overdue: Kpi
    upcoming: Kpi
    by_company: dict[str, CompanyKpis]
    longest_overdue: NoticeItem | None
    highest_amount: NoticeItem | None


class NoticeFeedQueries:
    """The feeds, the dashboard, a notice and a borrower's notices, over the notice read tables."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def notice(self, scope: Scope, notice_id: UUID) -> NoticeDetail | None:
        """A notice with its history, newest first."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_NOTICE_COLUMNS} FROM read.notices WHERE brand_id = %s AND id = %s",
                (scope.brand_id, notice_id),
            ).fetchone()
            if row is None or (scope.companies and row["company"] not in scope.companies):
                return None
            history = conn.execute(
                "SELECT version, at, actor, kind, detail FROM read.notice_history WHERE notice_id = %s "
                "ORDER BY version DESC",
                (notice_id,),
            ).fetchall()
        return NoticeDetail(
            **NoticeItem.fields_of(row),
            match=NoticeMatchDetail(
                customer_id=row["match_customer_id"],
                confidence=row["match_confidence"],
                band=row["match_band"],
                methods=list(row["match_methods"]),
                confirmed=row["match_confirmed"],
                candidates=[MatchCandidate.model_validate(c) for c in row["match_candidates"]],
            ),
            source_id=row["source_id"],
            phone_e164=row["phone_e164"],
            source_updated_at=row["source_updated_at"],
            first_seen_at=row["first_seen_at"],
            updated_at=row["updated_at"],
            history=[NoticeHistoryEntry(**h) for h in history],
        )

    def of_customer(self, scope: Scope, customer_id: UUID, limit: int = 50) -> list[NoticeItem]:
        """The notices matched to a borrower, active first, then longest overdue."""
        where: list[str] = ["brand_id = %s", "match_customer_id = %s"]
        params: list[Any] = [scope.brand_id, customer_id]
        companies = scope.company_filter(None)
        if companies is not None:
            where.append("company = ANY(%s)")
            params.append(companies)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_NOTICE_COLUMNS} FROM read.notices WHERE {' AND '.join(where)} "
                "ORDER BY active DESC, days_overdue DESC, due_date LIMIT %s",
                (*params, limit),
            ).fetchall()
        return [NoticeItem.of(r) for r in rows]

    def feed(
        self,
        scope: Scope,
        *,
        kind: str,
        mode: str | None = None,
        company: str | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> NoticePage:
        """Active notices by priority: 'overdue' (longest overdue, highest amount, company) or 'upcoming'
        (soonest due, highest amount); keyset pages."""
        companies = scope.company_filter(company)
        if companies == []:
            return NoticePage(items=[], next_cursor=None)
        mode = mode or kind
        page_scope = (scope.brand_id, companies, kind, mode, due_from, due_to)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s", "active", "mode = %(mode)s"]
        params: dict[str, Any] = {"brand": scope.brand_id, "mode": mode, "limit": limit + 1}
        if companies is not None:
            where.append("company = ANY(%(companies)s)" if len(companies) > 1 else "company = %(company)s")
            params["companies" if len(companies) > 1 else "company"] = companies if len(companies) > 1 else companies[0]
        if due_from is not None:
            where.append("due_date >= %(due_from)s")
            params["due_from"] = due_from
        if due_to is not None:
            where.append("due_date <= %(due_to)s")
            params["due_to"] = due_to
        # With a due window, the overdue feed walks the window in due-date order (oldest due first, which is
        # longest overdue first), then highest amount: the window and the order share one index, so a page stops
        # after `limit` rows. Walking priority order instead filtered away every notice older than a recent
        # window first (about 400 ms a page at 1M notices).
        by_due = kind == "upcoming" or (due_from is not None or due_to is not None)
        if not by_due:
            order = "(-days_overdue), (-amount_due), company, id"
            if cursor:
                days, amount, last_company, last_id = PRIORITY_CURSOR.decode(cursor, page_scope)
                where.append(
                    "((-days_overdue), (-amount_due), company, id) > (%(c1)s::int, %(c2)s::numeric, %(c3)s, %(c4)s::uuid)"
                )
                params.update(c1=-days, c2=-amount, c3=last_company, c4=last_id)
        else:
            order = "due_date, (-amount_due), id"
            if cursor:
                due, amount, last_id = DUE_CURSOR.decode(cursor, page_scope)
                where.append("(due_date, (-amount_due), id) > (%(c1)s::date, %(c2)s::numeric, %(c4)s::uuid)")
                params.update(c1=due, c2=-amount, c4=last_id)
        sql = f"SELECT {_LIST_COLUMNS} FROM read.notices WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %(limit)s"
        with self.pool.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = (
                DUE_CURSOR.encode(last["due_date"], last["amount_due"], last["id"], scope=page_scope)
                if by_due
                else PRIORITY_CURSOR.encode(
                    last["days_overdue"], last["amount_due"], last["company"], last["id"], scope=page_scope
                )
            )
        return NoticePage(items=[NoticeItem.of(r) for r in rows], next_cursor=next_cursor)

    def dashboard(self, scope: Scope, company: str | None = None) -> NoticeDashboard:
        """Combined and per-company overdue and upcoming counts and totals, the longest-overdue and the
        highest-amount notice, and the company pills: four statements sent in one round trip (a pipeline)."""
        companies = scope.company_filter(company)
        where: list[str] = ["brand_id = %s"]
        params: list[Any] = [scope.brand_id]
        if companies is not None:
            where.append("company = ANY(%s)")
            params.append(companies)
        pill_where: list[str] = ["brand_id = %s"]
        pill_params: list[Any] = [scope.brand_id]
        if scope.companies:
            pill_where.append("company = ANY(%s)")
            pill_params.append(list(scope.companies))
        with self.pool.connection() as conn:
            with conn.pipeline():
                totals_cursor = conn.execute(
                    f"SELECT company, mode, count, total FROM read.notice_totals WHERE {' AND '.join(where)} "
                    "ORDER BY company, mode",
                    params,
                )
                pills_cursor = conn.execute(
                    f"SELECT company FROM read.notice_sources WHERE {' AND '.join(pill_where)} "
                    "UNION SELECT company FROM read.notice_totals WHERE "
                    f"{' AND '.join(pill_where)} ORDER BY company",
                    pill_params * 2,
                )
                longest_cursor = _top(
                    conn, scope, companies, "mode = 'overdue'", ("(-days_overdue)", "(-amount_due)", "company", "id")
                )
                highest_cursor = _top(conn, scope, companies, None, ("(-amount_due)", "id"))
            totals = totals_cursor.fetchall()
            pills = [r["company"] for r in pills_cursor.fetchall()]
            longest = longest_cursor.fetchone() if longest_cursor is not None else None
            highest = highest_cursor.fetchone() if highest_cursor is not None else None
        per_company: dict[str, CompanyKpis] = {}
        combined = CompanyKpis()
        for row in totals:
            figures = (row["mode"], row["count"], row["total"])
            per_company[row["company"]] = per_company.get(row["company"], CompanyKpis()).plus(*figures)
            combined = combined.plus(*figures)
        return NoticeDashboard(
            company=company.strip().upper() if company else None,
            companies=pills,
            overdue=combined.overdue,
            upcoming=combined.upcoming,
            by_company=per_company,
            longest_overdue=NoticeItem.of(longest) if longest else None,
            highest_amount=NoticeItem.of(highest) if highest else None,
        )


def _top(conn: Any, scope: Scope, companies: list[str] | None, condition: str | None, order: tuple[str, ...]) -> Any:
    """The cursor of the first active notice in `order` (None: no company visible); with companies, one index probe
    per company (LATERAL), the best of them first."""
    if companies == []:
        return None
    where = ["brand_id = %s", "active"] + ([condition] if condition else [])
    if companies is None:
        return conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM read.notices WHERE {' AND '.join(where)} ORDER BY {', '.join(order)} LIMIT 1",
            (scope.brand_id,),
        )
    outer = ", ".join(term.replace("(-", "(-n.") if term.startswith("(") else f"n.{term}" for term in order)
    return conn.execute(
        f"SELECT n.* FROM unnest(%s::text[]) AS c(company) CROSS JOIN LATERAL (SELECT {_LIST_COLUMNS} "
        f"FROM read.notices WHERE {' AND '.join(where)} AND company = c.company "
        f"ORDER BY {', '.join(order)} LIMIT 1) AS n ORDER BY {outer} LIMIT 1",
        (companies, scope.brand_id),
    )
