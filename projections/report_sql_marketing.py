"""The Marketing & Credit reports of the spec: the borrower funnel (`read.onboarding`) with the UTM it signed up by
(`read.borrower_attribution`) and the imported lead it became (`read.leads`: source, campaign, paid or organic, lead
status), the imported leads and sign-ups counted by status and by day, the applications by source, and the bureau
pulls (`ops.provider_calls`, the outbound call log). docs/reports.md has each definition."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from projections.report_sql_parts import CHANNEL_FILTER, counted, day, percent, summed
from projections.reports import Column, Filter, Report

C = Column
CATEGORY = "Marketing & Credit Reports"

FUNNEL_STATUSES = ("in_progress", "completed", "rejected")
STEPS = ("mobile", "pan", "personal", "employment", "aadhaar", "selfie", "bank_account", "bank_statement",
         "loan_request", "submitted")  # fmt: skip
FUNNEL = "read.onboarding f LEFT JOIN read.customers c ON c.id = f.customer_id AND c.brand_id = f.brand_id"
#: The sign-up's UTM (`ba`, first touch) and the imported lead linked to its Customer 360 record (`ld`; the first
#: imported when several are).
_UTM = " LEFT JOIN read.borrower_attribution ba ON ba.borrower_id = f.id AND ba.brand_id = f.brand_id"
_LEAD = "ld.borrower_id, ld.source, ld.is_organic, ld.campaign_name, ld.status"
ATTRIBUTED = (
    f"{_UTM} LEFT JOIN (SELECT DISTINCT ON (ld.borrower_id) {_LEAD} FROM read.leads ld WHERE ld.brand_id = %(brand)s "
    "AND ld.borrower_id IS NOT NULL ORDER BY ld.borrower_id, ld.created_at, ld.id) ld ON ld.borrower_id = f.customer_id"
)
#: The same, the lead probed per funnel by `leads_borrower_idx` (a keyset page, a date range's export: the grouped
#: pass above sorts every linked lead of the brand first, ~0.5-0.7 s a page at 300k leads).
ATTRIBUTED_PROBED = (
    f"{_UTM} LEFT JOIN LATERAL (SELECT {_LEAD} FROM read.leads ld WHERE ld.brand_id = %(brand)s "
    "AND ld.borrower_id = f.customer_id ORDER BY ld.created_at, ld.id LIMIT 1) ld ON true"
)
#: Both lead pipelines as rows `m` (brand_id, kind, at, status): imported leads (`paid_lead` / `organic_lead`, at
#: their import, with their lead status) and borrower sign-ups (`sign_up`, at the funnel's start, with its status and
#: whether it reached the Customer 360 record).
PIPELINES = (
    "(SELECT ld.brand_id, CASE WHEN ld.is_organic THEN 'organic_lead' ELSE 'paid_lead' END AS kind, "
    "ld.created_at AS at, ld.status, false AS registered FROM read.leads ld WHERE ld.brand_id = %(brand)s "
    "UNION ALL SELECT f.brand_id, 'sign_up', f.started_at, f.status, f.customer_id IS NOT NULL "
    "FROM read.onboarding f WHERE f.brand_id = %(brand)s) m"
)

MARKETING = Report(
    slug="marketing-report",
    title="Marketing (leads)",
    category=CATEGORY,
    definition="One row per lead (a borrower funnel started by a verified phone) in the range: its stage (the "
    "step it is on), status, the rejection reason, the email domain and the Customer 360 record it became, the UTM "
    "source, medium and campaign of the link it signed up by, and the imported lead linked to that record: its "
    "source, campaign, paid or organic, and lead status.",
    date_basis="the lead's start (phone verified)",
    source=FUNNEL + ATTRIBUTED,
    probed_source=FUNNEL + ATTRIBUTED_PROBED,
    where="f.brand_id = %(brand)s",
    date_sql="f.started_at",
    date_kind="instant",
    columns=(
        C("phone", "f.phone"),
        C("name", "coalesce(c.name, f.name)"),
        C("stage", "f.step"),
        C("status", "f.status"),
        C("rejection_reason", "f.reason"),
        C("email_domain", "split_part(c.email, '@', 2)"),
        C("customer_number", "c.number"),
        C("started_at", "f.started_at", "instant"),
        C("stage_since", "f.step_since", "instant"),
        C("utm_source", "ba.utm_source"),
        C("utm_medium", "ba.utm_medium"),
        C("utm_campaign", "ba.utm_campaign"),
        C("lead_source", "ld.source"),
        C("lead_campaign", "ld.campaign_name"),
        C("lead_organic", "ld.is_organic", "bool"),
        C("lead_status", "ld.status"),
    ),
    key=(("f.started_at", datetime), ("f.id", UUID)),
    filters=(
        Filter("status", "f.status = %(status)s", "the lead's status", choices=FUNNEL_STATUSES),
        Filter("stage", "f.step = %(stage)s", "the step the lead is on", choices=STEPS),
        Filter(
            "attribution",
            "(CASE WHEN ld.borrower_id IS NOT NULL AND ld.is_organic THEN 'organic_lead' WHEN ld.borrower_id IS NOT "
            "NULL THEN 'paid_lead' WHEN ba.utm_source IS NOT NULL OR ba.utm_campaign IS NOT NULL THEN 'utm' "
            "ELSE 'none' END) = %(attribution)s",
            "how the lead was attributed: an imported paid or organic lead, else a UTM link, else none",
            choices=("paid_lead", "organic_lead", "utm", "none"),
        ),
    ),
)

INTERNAL_MARKETING = Report(
    slug="internal-marketing-report",
    title="Internal marketing",
    category=CATEGORY,
    definition="One row per source (channel and partner coupon code) of applications created in the range: "
    "applications, sanctioned, disbursed, rejected, and the amount disbursed.",
    date_basis="the business day the application was created",
    source="read.loans l",
    where="l.brand_id = %(brand)s",
    date_sql="l.created_on",  # the brand's business date `Created` carries (report_sql_loans.CREATED_ON)
    group_by="l.channel, coalesce(l.coupon_code, '')",
    columns=(
        C("channel", "l.channel"),
        C("coupon_code", "coalesce(l.coupon_code, '')"),
        C("applications", counted(), "int"),
        C("sanctioned", counted("l.sanctioned_at IS NOT NULL"), "int"),
        C("disbursed", counted("l.disbursed_on IS NOT NULL"), "int"),
        C("rejected", counted("l.status = 'rejected'"), "int"),
        C("disbursed_amount", summed("l.sanctioned_amount", "l.disbursed_on IS NOT NULL"), "number"),
    ),
    key=(("l.channel", str), ("coalesce(l.coupon_code, '')", str)),
    filters=(CHANNEL_FILTER,),
)

INTERNAL_ANALYSIS = Report(
    slug="internal-marketing-analysis-report",
    title="Internal marketing analysis (funnel)",
    category=CATEGORY,
    definition="One row per funnel step: of the leads started in the range, how many are on that step now in "
    "progress, completed, rejected, and their share of all leads of the range (per cent, 2 places).",
    date_basis="the lead's start",
    source="read.onboarding f",
    where="f.brand_id = %(brand)s",
    date_sql="f.started_at",
    date_kind="instant",
    group_by="f.step",
    columns=(
        C("stage", "f.step"),
        C("in_progress", counted("f.status = 'in_progress'"), "int"),
        C("completed", counted("f.status = 'completed'"), "int"),
        C("rejected", counted("f.status = 'rejected'"), "int"),
        C("leads", counted(), "int"),
        # the total is the share of all the range's leads (100.00), not the sum of the rounded rows (99.99, 100.02)
        C(
            "share",
            "round(100.0 * count(*) / sum(count(*)) OVER (), 2)",
            "number",
            total=percent("sum(q.leads)", "sum(q.leads)"),
        ),
    ),
    key=((f"array_position(ARRAY{list(STEPS)}::text[], f.step)", int), ("f.step", str)),
)

_DAY = day("m.at")
DAILY_MIS = Report(
    slug="daily-marketing-mis-report",
    title="Daily marketing MIS",
    category=CATEGORY,
    definition="One row per day (brand timezone) with leads started or imported: leads (borrower funnels "
    "started), leads that reached the borrower record (personal step), submitted applications, rejected leads; "
    "and the leads imported that day (paid and organic) and how many of them are converted now.",
    date_basis="the lead's start; an imported lead's import",
    source=PIPELINES,
    where="m.brand_id = %(brand)s",
    date_sql="m.at",
    date_kind="instant",
    group_by=_DAY,
    columns=(
        C("day", _DAY, "date"),
        C("leads", counted("m.kind = 'sign_up'"), "int"),
        C("registered", counted("m.kind = 'sign_up' AND m.registered"), "int"),
        C("submitted", counted("m.kind = 'sign_up' AND m.status = 'completed'"), "int"),
        C("rejected", counted("m.kind = 'sign_up' AND m.status = 'rejected'"), "int"),
        C("imported_leads", counted("m.kind <> 'sign_up'"), "int"),
        C("paid_leads", counted("m.kind = 'paid_lead'"), "int"),
        C("organic_leads", counted("m.kind = 'organic_lead'"), "int"),
        C("converted_leads", counted("m.kind <> 'sign_up' AND m.status = 'converted'"), "int"),
    ),
    key=((_DAY, date),),
)

LEAD_TOTAL = Report(
    slug="lead-total-report",
    title="Lead totals",
    category=CATEGORY,
    definition="One row per pipeline and status: how many leads of the range have it - imported leads, paid and "
    "organic apart (paid_lead, organic_lead: new, contacted, applied, converted, rejected), and borrower sign-ups "
    "(sign_up: in_progress, completed, rejected).",
    date_basis="the lead's start; an imported lead's import",
    source=PIPELINES,
    where="m.brand_id = %(brand)s",
    date_sql="m.at",
    date_kind="instant",
    group_by="m.kind, m.status",
    columns=(C("pipeline", "m.kind"), C("status", "m.status"), C("leads", counted(), "int")),
    key=(("m.kind", str), ("m.status", str)),
    filters=(
        Filter(
            "pipeline",
            "m.kind = %(pipeline)s",
            "imported paid or organic leads, or borrower sign-ups",
            choices=("paid_lead", "organic_lead", "sign_up"),
        ),
    ),
)

_BUREAU = (
    "ops.provider_calls p LEFT JOIN read.customers c ON c.id = p.customer_id AND c.brand_id = p.brand_id "
    "LEFT JOIN read.kyc_checks k ON k.customer_id = p.customer_id AND k.brand_id = p.brand_id AND k.kind = 'bureau'"
)
_BUREAU_COLUMNS = (
    C("at", "p.at", "instant"),
    C("vendor", "p.vendor"),
    C("customer_number", "c.number"),
    C("borrower", "c.name"),
    C("pan_masked", "c.pan_masked"),
    C("status", "p.status"),
    C("outcome", "p.outcome"),
    C("http_status", "p.http_status", "int"),
    C("latency_ms", "p.latency_ms", "int"),
    C("latest_score", "(k.result->>'score')::int", "int"),
)


def _bureau(slug: str, title: str, vendors: str, which: str) -> Report:
    return Report(
        slug=slug,
        title=title,
        category=CATEGORY,
        definition=f"One row per credit bureau pull ({which}) made in the range, as the outbound call log recorded "
        "it (success or error), with the borrower's latest bureau score.",
        date_basis="the instant of the pull",
        source=_BUREAU,
        where=f"p.brand_id = %(brand)s AND p.provider = 'bureau'{vendors}",
        date_sql="p.at",
        date_kind="instant",
        columns=_BUREAU_COLUMNS,
        key=(("p.at", datetime), ("p.id", UUID)),
        filters=(Filter("status", "p.status = %(status)s", "the call's result", choices=("ok", "error")),),
    )


CIC = _bureau("cic-report", "CIC bureau pulls", "", "any credit information company")
EQUIFAX = _bureau("equifax-credit-report", "Equifax pulls", " AND p.vendor ILIKE 'equifax%%'", "Equifax")
TRANSUNION = _bureau(
    "transunion-report",
    "TransUnion (CIBIL) pulls",
    " AND (p.vendor ILIKE 'transunion%%' OR p.vendor ILIKE 'cibil%%')",
    "TransUnion CIBIL",
)

REPORTS = (MARKETING, INTERNAL_MARKETING, INTERNAL_ANALYSIS, DAILY_MIS, LEAD_TOTAL, CIC, EQUIFAX, TRANSUNION)
