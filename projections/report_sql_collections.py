"""The Collection reports of the spec and the ones issue #18 names elsewhere (DPD buckets, recovery efficiency,
agent and team performance): SQL over `read.loans`, the reports' instalments and repayments
(projections/report_book.py), `read.loan_events` and `read.staff`. docs/reports.md has each definition."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from projections.report_sql_loans import (
    BORROWER,
    BRAND,
    LOAN_KEY_DATE,
    LOAN_KEY_INSTANT,
    LOANS,
    OUTSTANDING,
    REPAID,
    SERVICED,
    _loan_key,
)
from projections.reports import Column, Filter, Report

C = Column
CATEGORY = "Collection Reports"

#: Unpaid principal and interest of the loan's instalments due by the business date, and the oldest such due date.
OVERDUE = (
    " LEFT JOIN LATERAL (SELECT sum(i.principal + i.interest - i.paid_principal - i.paid_interest) AS amount, "
    "min(i.due_date) AS since, count(*) AS instalments FROM read.report_instalments i WHERE i.loan_id = l.id "
    "AND i.due_date <= %(today)s AND i.principal + i.interest > i.paid_principal + i.paid_interest) d ON true"
)
STAFF = "LEFT JOIN read.staff s ON s.id = l.assignee AND s.brand_id = l.brand_id"

MASTER_COLLECTION = Report(
    slug="master-collection-report",
    title="Master collection",
    category=CATEGORY,
    definition="One row per overdue loan (an instalment due by the business date not fully paid) whose oldest "
    "unpaid instalment fell due in the range: amounts, DPD, every contact number and email, the collection "
    "case's stage, executive, last contact and promise to pay.",
    date_basis="the oldest unpaid instalment's due date",
    source=f"{LOANS}{OVERDUE}{OUTSTANDING} LEFT JOIN read.collection_cases cc ON cc.loan_id = l.id "
    "AND cc.brand_id = l.brand_id LEFT JOIN read.staff s ON s.id = cc.assignee AND s.brand_id = l.brand_id",
    where=f"{BRAND} AND l.status IN {SERVICED} AND d.amount > 0",
    date_sql="d.since",
    columns=(
        *BORROWER,
        C("alternate_phones", "array_to_string(c.alternate_numbers, '; ')"),
        C("email", "c.email"),
        C("overdue_since", "d.since", "date"),
        C("overdue_instalments", "d.instalments", "int"),
        C("overdue_amount", "d.amount", "number"),
        C("outstanding_total", "coalesce(o.principal, 0) + coalesce(o.interest, 0)", "number"),
        C("dpd", "l.dpd", "int"),
        C("asset_class", "l.asset_class"),
        C("status", "l.status"),
        C("collection_stage", "cc.stage"),
        C("collection_executive", "s.name"),
        C("last_contact_at", "cc.last_contact_at", "instant"),
        C("last_outcome", "cc.last_outcome"),
        C("ptp_status", "cc.ptp_status"),
        C("ptp_due_on", "cc.ptp_due_on", "date"),
    ),
    key=_loan_key("d.since", LOAN_KEY_DATE),
)

_COLLECTION_COLUMNS = (
    *BORROWER,
    C("disbursed_on", "l.disbursed_on", "date"),
    C("sanctioned_at", "l.sanctioned_at", "instant"),
    C("disbursed_amount", "coalesce(l.sanctioned_amount, l.amount)", "number"),
    C("repaid", "r.amount", "number"),
    C("payments", "r.payments", "int"),
    C("last_paid_on", "r.last_on", "date"),
    C("outstanding_total", "coalesce(o.principal, 0) + coalesce(o.interest, 0)", "number"),
    C("dpd", "l.dpd", "int"),
    C("status", "l.status"),
)
_DISBURSED_STATUS = Filter(
    "status",
    "l.status = %(status)s",
    "the loan's status",
    choices=("active", "partially_paid", "overdue", "completed", "settled", "written_off"),
)

COLLECTION_LOAN = Report(
    slug="collection-loan-report",
    title="Collection by loan",
    category=CATEGORY,
    definition="One row per loan disbursed in the range: its status, DPD and payment history (repayments standing, "
    "their total and the last one) and what is outstanding.",
    date_basis="the disbursal date",
    source=f"{LOANS}{REPAID}{OUTSTANDING}",
    where=f"{BRAND} AND l.disbursed_on IS NOT NULL",
    date_sql="l.disbursed_on",
    columns=_COLLECTION_COLUMNS,
    key=_loan_key("l.disbursed_on", LOAN_KEY_DATE),
    filters=(_DISBURSED_STATUS,),
)

COLLECTION_BY_APPROVED = Report(
    slug="collection-loan-report-by-approved-date",
    title="Collection by loan, by approval date",
    category=CATEGORY,
    definition="The collection-loan-report's rows, for loans sanctioned (approved) in the range.",
    date_basis="the sanction instant",
    source=f"{LOANS}{REPAID}{OUTSTANDING}",
    where=f"{BRAND} AND l.disbursed_on IS NOT NULL",
    date_sql="l.sanctioned_at",
    date_kind="instant",
    columns=_COLLECTION_COLUMNS,
    key=_loan_key("l.sanctioned_at", LOAN_KEY_INSTANT),
    filters=(_DISBURSED_STATUS,),
)

_LEFT = "i.principal + i.interest - i.paid_principal - i.paid_interest"
COLLECTION_DUE = Report(
    slug="collection-due-report",
    title="Collection due",
    category=CATEGORY,
    definition="One row per instalment falling due in the range: what was due, what was paid against it and what "
    "is left, with paid / partly_paid / unpaid.",
    date_basis="the instalment's due date",
    source="read.report_instalments i JOIN read.loans l ON l.id = i.loan_id AND l.brand_id = i.brand_id "
    "JOIN read.customers c ON c.id = l.customer_id AND c.brand_id = l.brand_id",
    where="i.brand_id = %(brand)s",
    date_sql="i.due_date",
    columns=(
        *BORROWER,
        C("instalment", "i.no", "int"),
        C("due_date", "i.due_date", "date"),
        C("due_amount", "i.principal + i.interest", "number"),
        C("paid_amount", "i.paid_principal + i.paid_interest", "number"),
        C("left_amount", _LEFT, "number"),
        C(
            "state",
            f"CASE WHEN {_LEFT} <= 0 THEN 'paid' WHEN i.paid_principal + i.paid_interest > 0 "
            "THEN 'partly_paid' ELSE 'unpaid' END",
        ),
        C("dpd", "l.dpd", "int"),
        C("loan_status", "l.status"),
    ),
    key=(("i.due_date", date), ("i.loan_id", UUID), ("i.no", int)),
    filters=(
        Filter(
            "state",
            f"(CASE WHEN {_LEFT} <= 0 THEN 'paid' WHEN i.paid_principal + i.paid_interest > 0 THEN 'partly_paid' "
            "ELSE 'unpaid' END) = %(state)s",
            "whether the instalment is paid",
            choices=("paid", "partly_paid", "unpaid"),
        ),
    ),
)

CX_ALLOCATION = Report(
    slug="credit-executive-allocation-report",
    title="Credit executive allocation",
    category=CATEGORY,
    definition="One row per credit executive with applications assigned, created in the range: how many are "
    "waiting (pending), CX-approved, sanctioned or later, rejected, and in all.",
    date_basis="the application's creation",
    source=f"read.loans l {STAFF}",
    where=f"{BRAND} AND l.assignee IS NOT NULL",
    date_sql="l.created_at",
    date_kind="instant",
    group_by="l.assignee, s.name, s.email",
    columns=(
        C("executive", "coalesce(s.name, l.assignee::text)"),
        C("email", "s.email"),
        C("pending", "count(*) FILTER (WHERE l.status = 'pending')", "int"),
        C("cx_approved", "count(*) FILTER (WHERE l.status = 'cx_approved')", "int"),
        C("sanctioned_or_later", "count(*) FILTER (WHERE l.sanctioned_at IS NOT NULL)", "int"),
        C("rejected", "count(*) FILTER (WHERE l.status = 'rejected')", "int"),
        C("assigned", "count(*)", "int"),
    ),
    key=(("coalesce(s.name, '')", str), ("l.assignee", UUID)),
)

_DAY_DUE = "i.principal + i.interest"
_DAY_PAID = "i.paid_principal + i.paid_interest"
TOTAL_RECOVERY = Report(
    slug="total-recovery-report",
    title="Total recovery",
    category=CATEGORY,
    definition="One row per due date in the range: the instalments due that day, what was due, what has been "
    "recovered against them (principal and interest), what is outstanding and the recovery rate (recovered / due, "
    "in per cent, 2 places).",
    date_basis="the instalments' due date",
    source="read.report_instalments i",
    where="i.brand_id = %(brand)s",
    date_sql="i.due_date",
    group_by="i.due_date",
    columns=(
        C("due_date", "i.due_date", "date"),
        C("instalments", "count(*)", "int"),
        C("due", f"sum({_DAY_DUE})", "number"),
        C("recovered", f"sum({_DAY_PAID})", "number"),
        C("outstanding", f"sum({_DAY_DUE} - {_DAY_PAID})", "number"),
        C("recovery_rate", f"round(100 * sum({_DAY_PAID}) / nullif(sum({_DAY_DUE}), 0), 2)", "number"),
    ),
    key=(("i.due_date", date),),
)

_MONTH = "date_trunc('month', i.due_date)::date"
RECOVERY_EFFICIENCY = Report(
    slug="recovery-efficiency-report",
    title="Recovery efficiency",
    category=CATEGORY,
    definition="One row per month of due dates in the range: instalments due, how many are fully paid, partly paid "
    "and unpaid, the demand, the collection and the efficiency (collection / demand, per cent, 2 places).",
    date_basis="the instalments' due date",
    source="read.report_instalments i",
    where="i.brand_id = %(brand)s",
    date_sql="i.due_date",
    group_by=_MONTH,
    columns=(
        C("month", _MONTH, "date"),
        C("instalments", "count(*)", "int"),
        C("paid", f"count(*) FILTER (WHERE {_DAY_PAID} >= {_DAY_DUE})", "int"),
        C("partly_paid", f"count(*) FILTER (WHERE {_DAY_PAID} > 0 AND {_DAY_PAID} < {_DAY_DUE})", "int"),
        C("unpaid", f"count(*) FILTER (WHERE {_DAY_PAID} = 0)", "int"),
        C("demand", f"sum({_DAY_DUE})", "number"),
        C("collection", f"sum({_DAY_PAID})", "number"),
        C("efficiency", f"round(100 * sum({_DAY_PAID}) / nullif(sum({_DAY_DUE}), 0), 2)", "number"),
    ),
    key=((_MONTH, date),),
)

_BUCKET = (
    "CASE WHEN coalesce(l.dpd, 0) = 0 THEN 0 WHEN l.dpd <= 30 THEN 1 WHEN l.dpd <= 60 THEN 2 WHEN l.dpd <= 90 THEN 3 "
    "ELSE 4 END"
)
_BUCKET_NAME = f"(ARRAY['current', '1-30', '31-60', '61-90', '90+'])[({_BUCKET}) + 1]"
DPD_BUCKETS = Report(
    slug="dpd-buckets-report",
    title="DPD buckets",
    category=CATEGORY,
    definition="One row per DPD bucket (current, 1-30, 31-60, 61-90, 90+) of the loans being repaid, disbursed in "
    "the range: loans and their outstanding principal and total (DPD as of the last close of business).",
    date_basis="the disbursal date",
    source=f"read.loans l{OUTSTANDING}",
    where=f"{BRAND} AND l.status IN {SERVICED}",
    date_sql="l.disbursed_on",
    group_by=_BUCKET,
    columns=(
        C("bucket", _BUCKET_NAME),
        C("loans", "count(*)", "int"),
        C("outstanding_principal", "coalesce(sum(o.principal), 0)", "number"),
        C("outstanding_total", "coalesce(sum(o.principal + o.interest), 0)", "number"),
    ),
    key=((_BUCKET, int),),
)

_ACTOR_STAFF = "LEFT JOIN read.staff s ON e.actor = 'staff:' || s.id::text AND s.brand_id = e.brand_id"
TEAM_PERFORMANCE = Report(
    slug="team-performance-report",
    title="Team performance",
    category=CATEGORY,
    definition="One row per person (staff, API key or system) who moved loans in the range: CX approvals, "
    "sanctions, rejections, send-backs, disbursals and repayments recorded, from the loans' timelines.",
    date_basis="the instant of each action",
    source=f"read.loan_events e {_ACTOR_STAFF}",
    where="e.brand_id = %(brand)s",
    date_sql="e.at",
    date_kind="instant",
    group_by="e.actor, s.name",
    columns=(
        C("actor", "e.actor"),
        C("name", "s.name"),
        C("cx_approved", "count(*) FILTER (WHERE e.kind = 'cx_approved')", "int"),
        C("sanctioned", "count(*) FILTER (WHERE e.kind = 'sanctioned')", "int"),
        C("rejected", "count(*) FILTER (WHERE e.kind = 'rejected')", "int"),
        C("sent_back", "count(*) FILTER (WHERE e.kind = 'sent_back')", "int"),
        C("disbursed", "count(*) FILTER (WHERE e.kind = 'disbursed')", "int"),
        C("repayments", "count(*) FILTER (WHERE e.kind = 'repayment_recorded')", "int"),
        C("actions", "count(*)", "int"),
    ),
    key=(("e.actor", str),),
)

REPORTS = (MASTER_COLLECTION, COLLECTION_LOAN, COLLECTION_DUE, COLLECTION_BY_APPROVED, CX_ALLOCATION, TOTAL_RECOVERY,
           RECOVERY_EFFICIENCY, DPD_BUCKETS, TEAM_PERFORMANCE)  # fmt: skip
