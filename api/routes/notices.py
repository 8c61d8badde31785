"""Repayment operations endpoints: dashboard KPIs, the overdue and upcoming feeds, a notice, a borrower's notices, and
a staff member's confirmation (or correction) of a notice's borrower match."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON, check_ranges
from api.routes.notice_sources import scope_of
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.notices.application import Notices
from domain.notices.notice import MAX_CONFIRM_REASON, MatchCandidate, NoticeMode, NoticeNotFound
from domain.shared.application import CommandResult
from domain.shared.errors import FieldError, InvalidInput
from domain.shared.values import MIN_REASON, BusinessDate
from projections.notice_feed import NoticeFeedQueries

READ = (Permission.NOTICES, Level.READ)
WRITE = (Permission.NOTICES, Level.WRITE)


@dataclass(frozen=True)
class NoticesPort:
    """What the notice endpoints and pages use: the feed queries, the customers (a borrower's notices, a match's
    borrower) and the notices context (a staff member's match)."""

    feed: NoticeFeedQueries
    customers: Customers
    notices: Notices


def confirm_notice_match(
    notices: Notices,
    customers: Customers,
    principal: Principal,
    notice_id: UUID,
    customer_id: UUID,
    reason: str,
    expected_customer_id: UUID | None = None,
) -> CommandResult:
    """Confirm a notice's match to a borrower, or correct it to another borrower of the brand (the API's and the
    notice page's use case): another brand's (or an unseen company's) notice is a 404, a borrower who is not one of
    the brand's a 422 naming `customer_id`."""
    companies = scope_of(principal).companies
    notice = notices.notice(principal.brand_id, notice_id)
    if companies and notice.company not in companies:
        raise NoticeNotFound(f"Notice {notice_id} not found", id=str(notice_id))
    try:
        customers.get(principal.brand_id, customer_id)
    except CustomerNotFound:
        raise InvalidInput([FieldError("customer_id", "not a borrower of this brand")]) from None
    return notices.confirm_match(
        principal.brand_id,
        notice_id,
        customer_id,
        reason,
        expected_customer_id=expected_customer_id,
        companies=companies,
    )


def remove_notice_match(
    notices: Notices, principal: Principal, notice_id: UUID, reason: str, expected_customer_id: UUID | None = None
) -> CommandResult:
    """Take a notice's match back (the API's and the notice page's use case): another brand's (or an unseen
    company's) notice is a 404; a notice not matched, or matched to another borrower than the caller saw, a 409."""
    return notices.remove_match(
        principal.brand_id,
        notice_id,
        reason,
        expected_customer_id=expected_customer_id,
        companies=scope_of(principal).companies,
    )


class DashboardQuery(BaseModel):
    """One company's view, or every company the caller may see."""

    model_config = ConfigDict(extra="forbid")

    company: str | None = Field(None, max_length=30)


class FeedQuery(BaseModel):
    """Feed filters and keyset paging."""

    model_config = ConfigDict(extra="forbid")

    mode: str | None = Field(None, pattern="^(overdue|upcoming)$")
    company: str | None = Field(None, max_length=30)
    due_from: BusinessDate | None = None
    due_to: BusinessDate | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)

    @model_validator(mode="after")
    def _ranges(self) -> FeedQuery:
        check_ranges(self, ("due_from", "due_to"))
        return self


class NoticeMatchOut(BaseModel):
    """The borrower the notice was matched to (none when unmatched), with confidence 0-100."""

    customer_id: UUID | None
    confidence: int
    band: str
    methods: list[str]
    confirmed: bool = Field(
        False, description="a staff member confirmed (or corrected) the match; automatic rematching leaves it"
    )


class MatchConfirmIn(BaseModel):
    """The borrower a staff member confirms the notice is theirs (the matched one, a candidate, or another borrower
    of the brand), and why."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    reason: str = Field(
        min_length=MIN_REASON,
        max_length=MAX_CONFIRM_REASON,
        description=VISIBLE_MIN_REASON,
        json_schema_extra=VISIBLE_REASON,
    )
    expected_customer_id: UUID | None = Field(
        None,
        description="the borrower the caller saw matched (the nil id: nobody): another one matched since is a 409, "
        "nothing saved",
    )


class MatchRemoveIn(BaseModel):
    """Why a staff member takes the notice's match back (a wrong borrower), and the borrower they saw matched."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON,
        max_length=MAX_CONFIRM_REASON,
        description=VISIBLE_MIN_REASON,
        json_schema_extra=VISIBLE_REASON,
    )
    expected_customer_id: UUID | None = Field(
        None, description="the borrower the caller saw matched: another one matched since is a 409, nothing saved"
    )


class NoticeItemOut(BaseModel):
    """A notice as feeds show it, with its match."""

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
    match: NoticeMatchOut


class NoticePageOut(BaseModel):
    """A page of a feed, in priority order."""

    items: list[NoticeItemOut]
    next_cursor: str | None


class NoticeListOut(BaseModel):
    """Notices matched to a borrower, active first, then longest overdue."""

    items: list[NoticeItemOut]


class NoticeMatchDetailOut(NoticeMatchOut):
    """The match with the candidates staff may review, best first."""

    candidates: list[MatchCandidate]


class NoticeHistoryOut(BaseModel):
    """One thing that happened to the notice."""

    version: int
    at: InstantOut
    actor: str
    kind: str
    detail: dict[str, Any] = Field(description="what changed; its members depend on `kind`")


class NoticeOut(NoticeItemOut):
    """A notice with its facts, match candidates and history (newest first)."""

    source_id: UUID
    phone_e164: str | None
    source_updated_at: InstantOut | None
    first_seen_at: InstantOut
    updated_at: InstantOut
    match: NoticeMatchDetailOut
    history: list[NoticeHistoryOut]


class KpiOut(BaseModel):
    """How many notices, and their total amount due."""

    count: int
    amount: Decimal


class CompanyKpisOut(BaseModel):
    """Overdue and upcoming figures."""

    overdue: KpiOut
    upcoming: KpiOut


class NoticeDashboardOut(BaseModel):
    """Overdue and upcoming counts and totals, combined and by company; the notices to look at first."""

    company: str | None
    companies: list[str] = Field(description="every company with a source or notices (the pills)")
    overdue: KpiOut
    upcoming: KpiOut
    by_company: dict[str, CompanyKpisOut]
    longest_overdue: NoticeItemOut | None
    highest_amount: NoticeItemOut | None


def notice_dashboard(ctx: Context[NoticesPort]) -> Reply:
    q: DashboardQuery = ctx.query
    return json_response(ctx.port.feed.dashboard(scope_of(ctx.principal), q.company))


def _feed(ctx: Context[NoticesPort], kind: str) -> Reply:
    q: FeedQuery = ctx.query
    page = ctx.port.feed.feed(
        scope_of(ctx.principal),
        kind=kind,
        mode=q.mode,
        company=q.company,
        due_from=q.due_from,
        due_to=q.due_to,
        cursor=q.cursor,
        limit=q.limit,
    )
    return json_response(page)


def overdue_feed(ctx: Context[NoticesPort]) -> Reply:
    return _feed(ctx, "overdue")


def upcoming_feed(ctx: Context[NoticesPort]) -> Reply:
    return _feed(ctx, "upcoming")


def get_notice(ctx: Context[NoticesPort]) -> Reply:
    notice_id = ctx.path["notice_id"]
    notice = ctx.port.feed.notice(scope_of(ctx.principal), notice_id)
    if notice is None:
        raise NoticeNotFound(f"Notice {notice_id} not found", id=str(notice_id))
    return json_response(notice)


def confirm_match(ctx: Context[NoticesPort]) -> Reply:
    body: MatchConfirmIn = ctx.body
    notice_id = ctx.path["notice_id"]
    result = confirm_notice_match(ctx.port.notices, ctx.port.customers, ctx.principal, notice_id, body.customer_id,
                                  body.reason, body.expected_customer_id)  # fmt: skip
    return ctx.written(result, Notices.name, lambda: ctx.port.feed.notice(scope_of(ctx.principal), notice_id))


def unmatch_notice(ctx: Context[NoticesPort]) -> Reply:
    body: MatchRemoveIn = ctx.body
    notice_id = ctx.path["notice_id"]
    result = remove_notice_match(ctx.port.notices, ctx.principal, notice_id, body.reason, body.expected_customer_id)
    return ctx.written(result, Notices.name, lambda: ctx.port.feed.notice(scope_of(ctx.principal), notice_id))


def customer_notices(ctx: Context[NoticesPort]) -> Reply:
    customer_id = ctx.path["customer_id"]
    ctx.port.customers.get(ctx.brand_id, customer_id)  # 404 for another brand's borrower
    return json_response({"items": ctx.port.feed.of_customer(scope_of(ctx.principal), customer_id)})


ENDPOINTS = serve(
    NoticesPort,
    "notices",
    [
        Endpoint(
            "GET",
            "/api/v1/notices/dashboard",
            notice_dashboard,
            "KPIs: overdue and upcoming counts and totals, longest overdue, highest amount",
            READ,
            query=DashboardQuery,
            response=NoticeDashboardOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/notices/overdue",
            overdue_feed,
            "Active notices by priority: longest overdue, highest amount, company",
            READ,
            query=FeedQuery,
            response=NoticePageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/notices/upcoming",
            upcoming_feed,
            "Active upcoming notices: soonest due, highest amount",
            READ,
            query=FeedQuery,
            response=NoticePageOut,
        ),
        Endpoint(
            "GET", "/api/v1/notices/{notice_id}", get_notice, "A notice with its history", READ, response=NoticeOut
        ),
        Endpoint(
            "POST",
            "/api/v1/notices/{notice_id}/match",
            confirm_match,
            "Confirm the notice's borrower match, or correct it to another borrower of the brand, with a reason "
            "(recorded with who); automatic rematching leaves a staff member's match in place",
            WRITE,
            body=MatchConfirmIn,
            response=NoticeOut,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            "/api/v1/notices/{notice_id}/unmatch",
            unmatch_notice,
            "Take the notice's borrower match back, with a reason (recorded with who): the notice is unmatched, and "
            "automatic matching may match it again but never to the borrower removed",
            WRITE,
            body=MatchRemoveIn,
            response=NoticeOut,
            errors=(409,),
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/customers/{customer_id}/notices",
            customer_notices,
            "Notices matched to a borrower",
            READ,
            response=NoticeListOut,
        ),
    ],
)
