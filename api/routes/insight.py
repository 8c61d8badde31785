"""Global search and the dashboard (issue #18 items 2 and 3): `GET /api/v1/search?q=` (GLOBAL_SEARCH) and
`GET /api/v1/dashboard` (VIEW_DASHBOARD). Definitions: docs/insight.md."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.services.dashboard import DashboardDesk
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.values import refused_ranges, stripped_spaces
from projections.global_search import MIN_LENGTH, GlobalSearchQueries, SearchResults

SEARCH = (Permission.GLOBAL_SEARCH, Level.READ)
DASHBOARD = (Permission.VIEW_DASHBOARD, Level.READ)


@dataclass(frozen=True)
class InsightPort:
    """What the search and dashboard endpoints and pages use."""

    search: GlobalSearchQueries
    desk: DashboardDesk


#: What `q` takes, as the document states it: one line of text (the edge's rule for a query value) with at least
#: MIN_LENGTH characters once its whitespace is folded, i.e. at least MIN_LENGTH that are not whitespace.
_SEARCH_TEXT = (
    f"^(?:[{stripped_spaces(multiline=False)}]*"
    f"[^{refused_ranges(multiline=False)}{stripped_spaces(multiline=False)}]){{{MIN_LENGTH}}}"
    f"[^{refused_ranges(multiline=False)}]*$"
)


class SearchQuery(BaseModel):
    """`q`: at least 2 characters once trimmed (a shorter query is a 422 naming `q`)."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        max_length=100,
        description="part of a name, a phone, an email, a PAN, a formatted id or loan number",
        json_schema_extra={"pattern": _SEARCH_TEXT},
    )

    @field_validator("q")
    @classmethod
    def _long_enough(cls, v: str) -> str:
        if len(" ".join(v.split())) < MIN_LENGTH:
            raise ValueError(f"type at least {MIN_LENGTH} characters")
        return v


class BorrowerHitOut(BaseModel):
    """A borrower found (PAN masked); `url` opens their Customer 360."""

    id: UUID
    name: str
    phone: str
    email: str | None
    pan: str | None
    number: str | None = Field(description="the brand's formatted id, e.g. DEMO-C-000123")
    url: str
    opens: bool = Field(
        True, description="whether the caller may open `url` (their role reads that page); when false, shown unlinked"
    )


class LoanHitOut(BaseModel):
    """A loan found, with its borrower; `url` opens the loan."""

    id: UUID
    loan_number: str
    status: str
    amount: Decimal
    customer_id: UUID
    borrower_name: str | None
    created_at: InstantOut
    url: str
    opens: bool = Field(
        True, description="whether the caller may open `url` (their role reads that page); when false, shown unlinked"
    )


class StaffHitOut(BaseModel):
    """A staff member found; `url` opens their profile."""

    id: UUID
    name: str
    email: str
    roles: list[str]
    enabled: bool
    url: str
    opens: bool = Field(
        True, description="whether the caller may open `url` (their role reads that page); when false, shown unlinked"
    )


class SearchOut(BaseModel):
    """The brand's matches, grouped; each group at most 8 long."""

    borrowers: list[BorrowerHitOut]
    loans: list[LoanHitOut]
    staff: list[StaffHitOut]


class LoanCountsOut(BaseModel):
    total: int
    disbursed: int = Field(description="loans ever disbursed (active, partially paid, overdue or closed in any way)")
    pending: int = Field(description="awaiting a credit decision, sanction, signature or payout")
    overdue: int
    by_status: dict[str, int]


class ActivityOut(BaseModel):
    occurred_at: InstantOut
    source: str
    event_type: str
    summary: str
    actor: str


class DayOut(BaseModel):
    day: date
    disbursed_count: int
    disbursed_amount: Decimal
    collected_count: int
    collected_amount: Decimal


class BucketOut(BaseModel):
    bucket: str
    loans: int
    amount: Decimal


class RecoveryOut(BaseModel):
    fell_overdue: int
    recovered: int
    rate: Decimal | None = Field(description="percent, rounded half up to 0.01; null when no loan fell overdue")


class StageTatOut(BaseModel):
    stage: str
    loans: int
    average_hours: Decimal | None
    median_hours: Decimal | None


class FunnelStepOut(BaseModel):
    stage: str
    loans: int


class TargetLineOut(BaseModel):
    metric: str
    target: Decimal
    actual: Decimal
    achieved: Decimal | None = Field(description="percent of the target; null when the target is 0")


class TargetsOut(BaseModel):
    month: str
    configured: bool
    lines: list[TargetLineOut]


class RemindersOut(BaseModel):
    scheduled: int
    sent: int
    failed: int


class DashboardOut(BaseModel):
    """The brand's dashboard: V1 (counts, activity) or V2 (also charts and KPIs over the last 30 business days)."""

    version: str
    as_of: date = Field(description="the brand's business date")
    loans: LoanCountsOut
    recent_activity: list[ActivityOut]
    window_start: date | None = None
    daily: list[DayOut] | None = None
    dpd_buckets: list[BucketOut] | None = None
    recovery: RecoveryOut | None = None
    tat: list[StageTatOut] | None = None
    funnel: list[FunnelStepOut] | None = None
    targets: TargetsOut | None = None
    reminders: RemindersOut | None = None
    missing: list[str] = Field(default_factory=list, description="V2 panels with no figures to show yet")


#: What opening a hit of each group needs (the pages' own permissions: Customer 360, the loan, the staff profile).
OPENS = {
    "borrowers": (Permission.CUSTOMER, Level.READ),
    "loans": (Permission.LOANS, Level.READ),
    "staff": (Permission.PARTNER_USER_MANAGEMENT, Level.READ),
}


def for_reader(results: SearchResults, principal: Principal) -> SearchResults:
    """The results with each hit's `opens` saying whether `principal` may open it: search is GLOBAL_SEARCH's, but a
    hit's page needs its own permission, and every result linked to it (a 403 for most roles behind staff hits, and
    for Sales behind loans)."""
    return SearchResults(
        *(
            [replace(hit, opens=principal.holds(*OPENS[group])) for hit in getattr(results, group)]
            for group in ("borrowers", "loans", "staff")
        )
    )


def global_search(ctx: Context[InsightPort]) -> Reply:
    q: SearchQuery = ctx.query
    return json_response(for_reader(ctx.port.search.search(ctx.brand_id, q.q), ctx.principal))


def dashboard(ctx: Context[InsightPort]) -> Reply:
    return json_response(ctx.port.desk.dashboard(ctx.brand_id, ctx.principal.companies))


ENDPOINTS = serve(
    InsightPort,
    "insight",
    [
        Endpoint(
            "GET",
            "/api/v1/search",
            global_search,
            "Global search: the brand's borrowers, loans and staff matching `q`, grouped, each with its profile's URL",
            SEARCH,
            query=SearchQuery,
            response=SearchOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/dashboard",
            dashboard,
            "The brand's dashboard figures, V1 or V2 as its dashboard_version says",
            DASHBOARD,
            response=DashboardOut,
        ),
    ],
)
