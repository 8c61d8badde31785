"""The Collection reports of the spec and the ones issue #18 names elsewhere (DPD buckets, recovery efficiency,
agent and team performance): SQL over `read.loans`, the reports' instalments and repayments
(projections/report_book.py), `read.loan_events` and `read.staff`. docs/reports.md has each definition."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from projections.report_sql_loans import CREATED_ON, LOAN_KEY_DATE, SANCTIONED_ON, _loan_key
from projections.report_sql_parts import (
    BORROWER,
    BRAND,
    DISBURSED_AMOUNT,
    DISBURSED_ON,
    FINAL_STATUSES,
    LOANS,
    OUTSTANDING_TOTAL,
    OVERDUE,
    OVERDUE_AT_TODAY,
    REPAID_COLUMNS,
    SERVICED,
    SERVICED_STATUSES,
    TOTALS,
    TOTALS_INNER,
    actor_staff,
    counted,
    loan_of,
    owed,
    owed_left,
    paid,
    percent,
    staff,
    status_filter,
    team_filter,
)
from projections.reports import Column, Filter, Report

C = Column
CATEGORY = "Collection Reports"


MASTER_COLLECTION = Report(
    slug="master-collection-report",
    title="Master collection",
    category=CATEGORY,
    definition="One row per overdue loan (an instalment due before the business date not fully paid) whose oldest "
    "unpaid instalment fell due in the range: amounts, DPD, every contact number and email, the collection "
    "case's stage, executive, last contact and promise to pay.",
    date_basis="the oldest unpaid instalment's due date",
    source=f"{LOANS}{TOTALS_INNER}{OVERDUE} LEFT JOIN read.collection_cases cc ON cc.loan_id = l.id "
    f"AND cc.brand_id = l.brand_id {staff('cc.assignee', 'l.brand_id')}",
    where=f"{BRAND} AND l.status IN {SERVICED} AND {OVERDUE_AT_TODAY}",
    date_sql="t.unpaid_since",
    columns=(
        *BORROWER,
        C("alternate_phones", "array_to_string(c.alternate_numbers, '; ')"),
        C("email", "c.email"),
        C("overdue_since", "t.unpaid_since", "date"),
        C("overdue_instalments", "d.instalments", "int"),
        C("overdue_amount", "d.amount", "number"),
        OUTSTANDING_TOTAL,
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
    key=_loan_key("t.unpaid_since", LOAN_KEY_DATE),
)

_COLLECTION_COLUMNS = (
    *BORROWER,
    DISBURSED_ON,
    C("sanctioned_at", "l.sanctioned_at", "instant"),  # when it was recorded (the column before sanctioned_on)
    DISBURSED_AMOUNT,
    *REPAID_COLUMNS,
    OUTSTANDING_TOTAL,
    C("dpd", "l.dpd", "int"),
    C("status", "l.status"),
    C("sanctioned_on", SANCTIONED_ON, "date"),
)
_DISBURSED_STATUS = status_filter("the loan's status", SERVICED_STATUSES + FINAL_STATUSES)

COLLECTION_LOAN = Report(
    slug="collection-loan-report",
    title="Collection by loan",
    category=CATEGORY,
    definition="One row per loan disbursed in the range: its status, DPD and payment history (repayments standing, "
    "their total and the last one) and what is outstanding.",
    date_basis="the disbursal date",
    source=f"{LOANS}{TOTALS}",
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
    date_basis="the sanction's business day",
    source=f"{LOANS}{TOTALS}",
    where=f"{BRAND} AND l.disbursed_on IS NOT NULL",
    date_sql=SANCTIONED_ON,
    columns=_COLLECTION_COLUMNS,
    key=_loan_key(SANCTIONED_ON, LOAN_KEY_DATE),
    filters=(_DISBURSED_STATUS,),
)

_STATE = f"CASE WHEN {owed_left()} <= 0 THEN 'paid' WHEN {paid()} > 0 THEN 'partly_paid' ELSE 'unpaid' END"
COLLECTION_DUE = Report(
    slug="collection-due-report",
    title="Collection due",
    category=CATEGORY,
    definition="One row per instalment falling due in the range: what was due, what was paid against it and what "
    "is left, with paid / partly_paid / unpaid.",
    date_basis="the instalment's due date",
    source=f"read.report_instalments i {loan_of('i')}",
    where="i.brand_id = %(brand)s",
    date_sql="i.due_date",
    columns=(
        *BORROWER,
        C("instalment", "i.no", "int"),
        C("due_date", "i.due_date", "date"),
        C("due_amount", owed(), "number"),
        C("paid_amount", paid(), "number"),
        C("left_amount", owed_left(), "number"),
        C("state", _STATE),
        C("dpd", "l.dpd", "int"),
        C("loan_status", "l.status"),
    ),
    key=(("i.due_date", date), ("i.loan_id", UUID), ("i.no", int)),
    filters=(
        Filter(
            "state",
            f"({_STATE}) = %(state)s",
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
    date_basis="the business day the application was created",
    source=f"read.loans l {staff('l.assignee', 'l.brand_id')}",
    where=f"{BRAND} AND l.assignee IS NOT NULL",
    date_sql=CREATED_ON,
    group_by="l.assignee, s.name, s.email",
    columns=(
        C("executive", "coalesce(s.name, l.assignee::text)"),
        C("email", "s.email"),
        C("pending", counted("l.status = 'pending'"), "int"),
        C("cx_approved", counted("l.status = 'cx_approved'"), "int"),
        C("sanctioned_or_later", counted("l.sanctioned_at IS NOT NULL"), "int"),
        C("rejected", counted("l.status = 'rejected'"), "int"),
        C("assigned", counted(), "int"),
    ),
    key=(("coalesce(s.name, '')", str), ("l.assignee", UUID)),
)

# Each day's instalments summed (`read.report_due_days`, kept by triggers on the reports' instalments: a completed
# loan's instalments ask what was paid against them): a page of due dates reads a row a day, by key. Summing the
# instalments joined to their loans here took 1.5-2 s a page of all dates at 1M loans (2.4M instalments).
_DAYS = "read.report_due_days d"
_DAYS_WHERE = "d.brand_id = %(brand)s AND d.instalments > 0"
TOTAL_RECOVERY = Report(
    slug="total-recovery-report",
    title="Total recovery",
    category=CATEGORY,
    definition="One row per due date in the range: the instalments due that day, what was due, what has been "
    "recovered against them (principal and interest), what is outstanding and the recovery rate (recovered / due, "
    "in per cent, 2 places).",
    date_basis="the instalments' due date",
    source=_DAYS,
    where=_DAYS_WHERE,
    date_sql="d.due_date",
    columns=(
        C("due_date", "d.due_date", "date"),
        C("instalments", "d.instalments", "int"),
        C("due", "d.owed", "number"),
        C("recovered", "d.paid", "number"),
        C("outstanding", "d.owed - d.paid", "number"),
        C("recovery_rate", percent("d.paid", "d.owed"), "number", total=percent("sum(q.recovered)", "sum(q.due)")),
    ),
    key=(("d.due_date", date),),
)

_MONTH = "date_trunc('month', d.due_date)::date"
RECOVERY_EFFICIENCY = Report(
    slug="recovery-efficiency-report",
    title="Recovery efficiency",
    category=CATEGORY,
    definition="One row per month of due dates in the range: instalments due, how many are fully paid, partly paid "
    "and unpaid, the demand, the collection and the efficiency (collection / demand, per cent, 2 places).",
    date_basis="the instalments' due date",
    source=_DAYS,
    where=_DAYS_WHERE,
    date_sql="d.due_date",
    group_by=_MONTH,
    columns=(
        C("month", _MONTH, "date"),
        C("instalments", "sum(d.instalments)::bigint", "int"),
        C("paid", "sum(d.fully_paid)::bigint", "int"),
        C("partly_paid", "sum(d.partly_paid)::bigint", "int"),
        C("unpaid", "sum(d.unpaid)::bigint", "int"),
        C("demand", "sum(d.owed)", "number"),
        C("collection", "sum(d.paid)", "number"),
        C(
            "efficiency",
            percent("sum(d.paid)", "sum(d.owed)"),
            "number",
            total=percent("sum(q.collection)", "sum(q.demand)"),
        ),
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
    source=f"read.loans l{TOTALS}",
    where=f"{BRAND} AND l.status IN {SERVICED}",
    date_sql="l.disbursed_on",
    group_by=_BUCKET,
    columns=(
        C("bucket", _BUCKET_NAME),
        C("loans", counted(), "int"),
        C("outstanding_principal", "coalesce(sum(t.principal), 0)", "number"),
        C("outstanding_total", "coalesce(sum(t.principal + t.interest), 0)", "number"),
    ),
    key=((_BUCKET, int),),
)

_ACTOR_STAFF = actor_staff("e.actor", "e.brand_id")
TEAM_PERFORMANCE = Report(
    slug="team-performance-report",
    title="Team performance",
    category=CATEGORY,
    definition="One row per person (staff, API key or system) who moved loans in the range: CX approvals, "
    "sanctions, rejections, send-backs, disbursals and repayments recorded (recoveries on written-off loans "
    "included), from the loans' timelines.",
    date_basis="the business day of each action",
    source=f"read.loan_events e {_ACTOR_STAFF}",
    where="e.brand_id = %(brand)s",
    # each action's business day (`read.loan_events.day`: the day its event carries, else its instant's local day)
    date_sql="e.day",
    group_by="e.actor, s.name",
    columns=(
        C("actor", "e.actor"),
        C("name", "s.name"),
        C("cx_approved", counted("e.kind = 'cx_approved'"), "int"),
        C("sanctioned", counted("e.kind = 'sanctioned'"), "int"),
        C("rejected", counted("e.kind = 'rejected'"), "int"),
        C("sent_back", counted("e.kind = 'sent_back'"), "int"),
        C("disbursed", counted("e.kind = 'disbursed'"), "int"),
        # a recovery on a written-off loan is money recorded too (agent-performance-report counts it)
        C("repayments", counted("e.kind IN ('repayment_recorded', 'recovery_recorded')"), "int"),
        C("actions", counted(), "int"),
    ),
    key=(("e.actor", str),),
    filters=(team_filter("e.actor"),),
)

REPORTS = (MASTER_COLLECTION, COLLECTION_LOAN, COLLECTION_DUE, COLLECTION_BY_APPROVED, CX_ALLOCATION, TOTAL_RECOVERY,
           RECOVERY_EFFICIENCY, DPD_BUCKETS, TEAM_PERFORMANCE)  # fmt: skip
