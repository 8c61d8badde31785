"""The User & Loan reports of the spec (12 slugs): their SQL over `read.loans`, `read.customers` and the reports'
own read model (projections/report_book.py). docs/reports.md has each definition in words."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from projections.report_sql_parts import (
    BORROWER,
    BRAND,
    CHANNEL_FILTER,
    DISBURSED_AMOUNT,
    DISBURSED_ON,
    FINAL,
    FINAL_STATUSES,
    LOANS,
    NEXT_DUE_DATE,
    NEXT_LEFT,
    OUTSTANDING_TOTAL,
    REPAID_COLUMNS,
    SERVICED,
    SERVICED_STATUSES,
    TOTALS,
    TOTALS_INNER,
    counted,
    status_filter,
    summed,
)
from projections.reports import Column, Filter, Report

C = Column
CATEGORY = "User & Loan Reports"

STATUS_FILTER = status_filter("the loan's current status")
LOAN_KEY_DATE = (date, UUID)
LOAN_KEY_INSTANT = (datetime, UUID)


#: The business days of a loan's creation and sanction (`read.loans.created_on`, `sanctioned_on`: the brand's
#: business date `Created` / `Sanctioned` carry, else the local day of the instant for events stored before it), not
#: the instants they were recorded (`created_at`, `sanctioned_at`): a brand whose business date is not the wall
#: clock's files them on the day they happened (docs/reports.md, "Which date a report files a fact on").
CREATED_ON = "l.created_on"
SANCTIONED_ON = "l.sanctioned_on"


def _loan_key(date_sql: str, kinds: tuple[type, type]) -> tuple[tuple[str, type], ...]:
    return ((date_sql, kinds[0]), ("l.id", kinds[1]))


_ADDRESS = (
    "(SELECT string_agg(concat_ws(', ', a->>'line1', a->>'line2', a->>'city', a->>'state', a->>'pincode'), ' | ') "
    "FROM jsonb_array_elements(c.addresses) a)"
)
#: The borrower's references and other alternate contacts (the personal step's references are kept as alternate phones
#: labelled "relation: name"; staff add others with a label): "label phone", in the order added.
_REFERENCES = (
    "(SELECT string_agg(concat_ws(' ', nullif(p->>'label', ''), p->>'phone'), ' | ' ORDER BY n) "
    "FROM jsonb_array_elements(c.alternate_phones) WITH ORDINALITY AS r(p, n))"
)

#: What the two shapes below share: a borrower's loans (number:status:amount in creation order) and the columns of
#: the latest bank account.
_LOAN_LIST = (
    "count(*) AS n, string_agg(l.loan_number || ':' || l.status || ':' || l.amount, '; ' ORDER BY l.created_at, l.id)"
    " AS loans"
)
_BANK_COLUMNS = "b.account_masked, b.ifsc, b.holder_name, b.status"

#: Each borrower's loans (`ln.n`, `ln.loans`), latest employment (`e`) and latest bank account (`b`): one grouped
#: pass each over the brand's rows.
_LOANS_OF = (
    f" LEFT JOIN (SELECT l.customer_id, {_LOAN_LIST} FROM read.loans l WHERE l.brand_id = %(brand)s"
    " GROUP BY l.customer_id) ln ON ln.customer_id = c.id"
)
_EMPLOYMENT = (
    " LEFT JOIN (SELECT DISTINCT ON (e.customer_id) e.customer_id, e.employment FROM read.report_employment e "
    "WHERE e.brand_id = %(brand)s AND e.employment IS NOT NULL ORDER BY e.customer_id, e.updated_at DESC) e "
    "ON e.customer_id = c.id"
)
_BANK_ACCOUNT = (
    f" LEFT JOIN (SELECT DISTINCT ON (b.customer_id) b.customer_id, {_BANK_COLUMNS} "
    "FROM read.bank_accounts b WHERE b.brand_id = %(brand)s ORDER BY b.customer_id, b.added_at DESC, b.id) b "
    "ON b.customer_id = c.id"
)

#: The same three parts for a keyset page or an export of a date range: each of its borrowers' loans, employment and
#: bank account probed by key (`loans_customer_idx`, `report_employment_customer_idx`, `bank_accounts_customer_idx`)
#: instead of grouping the whole brand's first (at 1M loans a page went from ~4.5 s to a few ms, a month's export
#: from 4.2-4.9 to 1.3-1.4 s; tests/benchmarks/README.md).
_EACH_LOANS = (
    f" LEFT JOIN LATERAL (SELECT {_LOAN_LIST} FROM read.loans l WHERE l.brand_id = %(brand)s AND l.customer_id = c.id)"
    " ln ON true"
)
_EACH_EMPLOYMENT = (
    " LEFT JOIN LATERAL (SELECT e.employment FROM read.report_employment e WHERE e.brand_id = %(brand)s "
    "AND e.customer_id = c.id AND e.employment IS NOT NULL ORDER BY e.updated_at DESC LIMIT 1) e ON true"
)
_EACH_BANK_ACCOUNT = (
    f" LEFT JOIN LATERAL (SELECT {_BANK_COLUMNS} FROM read.bank_accounts b "
    "WHERE b.brand_id = %(brand)s AND b.customer_id = c.id ORDER BY b.added_at DESC, b.id LIMIT 1) b ON true"
)
_AADHAAR = " LEFT JOIN read.kyc_checks ka ON ka.customer_id = c.id AND ka.brand_id = c.brand_id AND ka.kind = 'aadhaar'"

MASTER = Report(
    slug="master-report",
    title="Master report",
    category=CATEGORY,
    definition="One row per borrower (Customer 360 record) of the brand: profile, PAN, masked Aadhaar, employment, "
    "latest bank account, addresses, references (alternate contacts) and every loan (number:status:amount).",
    date_basis="the borrower's registration (Customer 360 record created)",
    source=f"read.customers c{_LOANS_OF}{_EMPLOYMENT}{_BANK_ACCOUNT}{_AADHAAR}",
    probed_source=f"read.customers c{_EACH_LOANS}{_EACH_EMPLOYMENT}{_EACH_BANK_ACCOUNT}{_AADHAAR}",
    where="c.brand_id = %(brand)s",
    date_sql="c.created_at",
    date_kind="instant",
    columns=(
        C("customer_number", "c.number"),
        C("name", "c.name"),
        C("phone", "c.phone"),
        C("email", "c.email"),
        C("pan", "c.pan"),
        C("aadhaar_masked", "ka.result->>'masked_aadhaar'"),
        C("date_of_birth", "c.date_of_birth", "date"),
        C("employer", "e.employment->>'company_name'"),
        C("designation", "e.employment->>'designation'"),
        C("employment_type", "e.employment->>'employment_type'"),
        C("monthly_salary", "(e.employment->>'monthly_salary')::numeric", "number"),
        C("bank_account", "b.account_masked"),
        C("ifsc", "b.ifsc"),
        C("account_holder", "b.holder_name"),
        C("bank_verification", "b.status"),
        C("addresses", _ADDRESS),
        C("references", _REFERENCES),
        C("loans_count", "coalesce(ln.n, 0)", "int"),
        C("loans", "ln.loans"),
        C("registered_at", "c.created_at", "instant"),
    ),
    key=(("c.created_at", datetime), ("c.id", UUID)),
)

DISBURSED = Report(
    slug="disbursed-loan-report",
    title="Disbursed loans",
    category=CATEGORY,
    definition="One row per loan disbursed in the range: amount disbursed (the sanctioned amount), borrower, date.",
    date_basis="the disbursal date",
    source=LOANS,
    where=BRAND,
    date_sql="l.disbursed_on",
    columns=(
        *BORROWER,
        DISBURSED_ON,
        C("requested_amount", "l.amount", "number"),
        DISBURSED_AMOUNT,
        C("tenure", "l.tenure", "int"),
        C("channel", "l.channel"),
        C("status", "l.status"),
    ),
    key=_loan_key("l.disbursed_on", LOAN_KEY_DATE),
    filters=(STATUS_FILTER, CHANNEL_FILTER),
)

NON_DISBURSED = Report(
    slug="non-disbursed-loan-report",
    title="Sanctioned, not disbursed",
    category=CATEGORY,
    definition="One row per loan sanctioned in the range and not disbursed (now sm_approved, approved or "
    "awaiting_disbursal).",
    date_basis="the sanction's business day",
    source=LOANS,
    where=f"{BRAND} AND l.status IN ('sm_approved', 'approved', 'awaiting_disbursal')",
    date_sql=SANCTIONED_ON,
    columns=(
        *BORROWER,
        C("sanctioned_at", "l.sanctioned_at", "instant"),  # when it was recorded (the column before sanctioned_on)
        C("sanctioned_amount", "l.sanctioned_amount", "number"),
        C("sanctioned_by", "l.sanctioned_by"),
        C("status", "l.status"),
        C("sanctioned_on", SANCTIONED_ON, "date"),
    ),
    key=_loan_key(SANCTIONED_ON, LOAN_KEY_DATE),
)

_SANCTION_DAY = SANCTIONED_ON
DISBURSE_NON_DISBURSE = Report(
    slug="disburse-non-disburse-report",
    title="Disbursed vs not disbursed",
    category=CATEGORY,
    definition="One row per business day on which loans were sanctioned: how many of them are disbursed now and "
    "how many not, with their amounts.",
    date_basis="the sanction's business day",
    source="read.loans l",
    where=f"{BRAND} AND l.sanctioned_on IS NOT NULL",
    date_sql=SANCTIONED_ON,
    group_by=_SANCTION_DAY,
    columns=(
        C("sanctioned_on", _SANCTION_DAY, "date"),
        C("sanctioned", counted(), "int"),
        C("disbursed", counted("l.disbursed_on IS NOT NULL"), "int"),
        C("not_disbursed", counted("l.disbursed_on IS NULL"), "int"),
        C("disbursed_amount", summed("l.sanctioned_amount", "l.disbursed_on IS NOT NULL"), "number"),
        C("not_disbursed_amount", summed("l.sanctioned_amount", "l.disbursed_on IS NULL"), "number"),
    ),
    key=((_SANCTION_DAY, date),),
)

ACTIVE_BY_DUE = Report(
    slug="active-loans-by-due-date-report",
    title="Active loans by due date",
    category=CATEGORY,
    definition="One row per loan being repaid (active, partially_paid, overdue) whose next instalment not fully "
    "paid falls due in the range, ordered by that due date.",
    date_basis="the next unpaid instalment's due date",
    source=LOANS + TOTALS_INNER,
    where=f"{BRAND} AND l.status IN {SERVICED}",
    date_sql=NEXT_DUE_DATE,
    columns=(
        *BORROWER,
        C("next_due_date", NEXT_DUE_DATE, "date"),
        C("next_due_amount", NEXT_LEFT, "number"),
        C("outstanding_principal", "t.principal", "number"),
        C("outstanding_interest", "t.interest", "number"),
        C("dpd", "l.dpd", "int"),
        C("status", "l.status"),
    ),
    key=_loan_key(NEXT_DUE_DATE, LOAN_KEY_DATE),
    filters=(status_filter("the loan's status", SERVICED_STATUSES),),
)

#: The business day a loan reached its final state (`read.loans.closed_on`: the closing repayment's `paid_on`, a
#: waiver's, settlement's or write-off's business date), not the instant the event was recorded (`status_since`): a
#: brand whose business date is not the wall clock's files the closure on the day it happened (docs/reports.md).
CLOSED_ON = "l.closed_on"

#: The closed loans with no repayment standing, from their totals rows (`t.closed AND t.payments = 0`: the index-only
#: `report_loan_totals_closed_unpaid_idx`, a few per cent of the closed loans), never every totals row: an export
#: hashes those few and reads the loans once (half the CPU of the old hash join of every closed loan with every
#: totals row at 1M loans), a page walks the loans' closing-day index and probes the small index per loan.
CLOSED_UNPAID = (
    "l.id IN (SELECT t.loan_id FROM read.report_loan_totals t WHERE t.brand_id = %(brand)s AND t.closed "
    "AND t.payments = 0)"
)

NO_REPAYMENT = Report(
    slug="completed-loan-with-no-repet-report",
    title="Completed loans with no repayment",
    category=CATEGORY,
    definition="One row per loan closed (completed, settled or written off) in the range with no repayment "
    "standing (none recorded, or all reversed): bad-debt identification.",
    date_basis="the business day the loan reached its closed state",
    source=LOANS,
    where=f"{BRAND} AND l.status IN {FINAL} AND {CLOSED_UNPAID}",
    date_sql=CLOSED_ON,
    columns=(
        *BORROWER,
        DISBURSED_ON,
        DISBURSED_AMOUNT,
        C("status", "l.status"),
        C("closed_on", CLOSED_ON, "date"),
        C("closed_at", "l.status_since", "instant"),  # when it was recorded (the column before closed_on; kept)
    ),
    key=_loan_key(CLOSED_ON, LOAN_KEY_DATE),
    filters=(status_filter("the closed state", FINAL_STATUSES),),
    # At the default random_page_cost (4) the planner prices probing each of the few candidates' loans by key above
    # a parallel scan of every loan of the brand; the book is read from memory, and at 1M loans the probes take half
    # the time (whole book: export and totals 289 -> 141 ms; a month's range 42 -> 67 ms, a first page ~3 ms either
    # way; tests/benchmarks/README.md, "Report CSV exports").
    planner=(("random_page_cost", "1.1"),),
)

LOAN_CLOSE = Report(
    slug="loan-close-report",
    title="Closed loans",
    category=CATEGORY,
    definition="One row per loan fully repaid (completed) in the range, with what was repaid (repayments standing).",
    date_basis="the business day the loan was paid off (the closing repayment's payment date)",
    source=LOANS + TOTALS,
    where=f"{BRAND} AND l.status = 'completed'",
    date_sql=CLOSED_ON,
    columns=(
        *BORROWER,
        DISBURSED_ON,
        DISBURSED_AMOUNT,
        *REPAID_COLUMNS,
        C("closed_on", CLOSED_ON, "date"),
        C("closed_at", "l.status_since", "instant"),  # when it was recorded (the column before closed_on; kept)
    ),
    key=_loan_key(CLOSED_ON, LOAN_KEY_DATE),
)

OUTSTANDING_DATA = Report(
    slug="outstanding-data-report",
    title="Outstanding",
    category=CATEGORY,
    definition="One row per loan being repaid, disbursed in the range: unpaid scheduled principal and interest "
    "(their sum is outstanding_total; penal charges are not included), DPD and class.",
    date_basis="the disbursal date",
    source=LOANS + TOTALS,
    where=f"{BRAND} AND l.status IN {SERVICED}",
    date_sql="l.disbursed_on",
    columns=(
        *BORROWER,
        DISBURSED_ON,
        DISBURSED_AMOUNT,
        C("outstanding_principal", "coalesce(t.principal, 0)", "number"),
        C("outstanding_interest", "coalesce(t.interest, 0)", "number"),
        OUTSTANDING_TOTAL,
        C("next_due_date", NEXT_DUE_DATE, "date"),
        C("dpd", "l.dpd", "int"),
        C("asset_class", "l.asset_class"),
        C("status", "l.status"),
    ),
    key=_loan_key("l.disbursed_on", LOAN_KEY_DATE),
    filters=ACTIVE_BY_DUE.filters,
)

REJECT = Report(
    slug="reject-report",
    title="Rejected applications",
    category=CATEGORY,
    definition="One row per application rejected in the range, with the reason code, label, remarks and who "
    "rejected it at which stage.",
    date_basis="the rejection date",
    source=LOANS,
    where=f"{BRAND} AND l.status = 'rejected'",
    date_sql="l.rejected_on",
    columns=(
        *BORROWER,
        C("requested_amount", "l.amount", "number"),
        C("rejected_on", "l.rejected_on", "date"),
        C("reason_code", "l.rejection->>'code'"),
        C("reason", "l.rejection->>'label'"),
        C("remarks", "l.rejection->>'remarks'"),
        C("stage", "l.rejection->>'by'"),
        C("rejected_by", "l.rejection->>'actor'"),
    ),
    key=_loan_key("l.rejected_on", LOAN_KEY_DATE),
)

SANCTIONED = Report(
    slug="total-approve-sanction-report",
    title="Approved and sanctioned",
    category=CATEGORY,
    definition="One row per loan sanctioned in the range (whatever happened after): requested, CX-approved and "
    "sanctioned amounts, who decided.",
    date_basis="the sanction's business day",
    source=LOANS,
    where=f"{BRAND} AND l.sanctioned_on IS NOT NULL",
    date_sql=SANCTIONED_ON,
    columns=(
        *BORROWER,
        C("requested_amount", "l.amount", "number"),
        C("cx_approved_amount", "l.cx_approved_amount", "number"),
        C("cx_approved_by", "l.cx_approved_by"),
        C("sanctioned_amount", "l.sanctioned_amount", "number"),
        C("sanctioned_by", "l.sanctioned_by"),
        C("sanctioned_at", "l.sanctioned_at", "instant"),  # when it was recorded (the column before sanctioned_on)
        C("status", "l.status"),
        C("cx_approved_on", "l.cx_approved_on", "date"),
        C("sanctioned_on", SANCTIONED_ON, "date"),
    ),
    key=_loan_key(SANCTIONED_ON, LOAN_KEY_DATE),
    filters=(STATUS_FILTER,),
)

AFFILIATE = Report(
    slug="affiliate-report",
    title="Affiliate and partner sourcing",
    category=CATEGORY,
    definition="One row per application created in the range with how it was sourced: the channel (borrower "
    "funnel or staff on the borrower's behalf), the partner coupon code, and the UTM source, medium and campaign of "
    "the link the borrower signed up by (an affiliate's or partner's tracking link).",
    date_basis="the business day the application was created",
    source=f"{LOANS} LEFT JOIN read.loan_attribution la ON la.loan_id = l.id AND la.brand_id = l.brand_id",
    where=BRAND,
    date_sql=CREATED_ON,
    columns=(
        *BORROWER,
        C("channel", "l.channel"),
        C("coupon_code", "l.coupon_code"),
        C("utm_source", "la.utm_source"),
        C("utm_medium", "la.utm_medium"),
        C("utm_campaign", "la.utm_campaign"),
        C("requested_amount", "l.amount", "number"),
        C("status", "l.status"),
        C("created_at", "l.created_at", "instant"),  # when it was recorded (the column before created_on)
        C("created_on", CREATED_ON, "date"),
    ),
    key=_loan_key(CREATED_ON, LOAN_KEY_DATE),
    filters=(
        CHANNEL_FILTER,
        STATUS_FILTER,
        Filter(
            "utm_source",
            "lower(la.utm_source) = lower(%(utm_source)s)",
            "the partner: the UTM source of the sign-up link, any case",
            kind="text",
        ),
        Filter(
            "sourcing",
            "(CASE WHEN la.utm_source IS NOT NULL AND l.coupon_code IS NOT NULL THEN 'link_and_coupon' "
            "WHEN la.utm_source IS NOT NULL THEN 'link' WHEN l.coupon_code IS NOT NULL THEN 'coupon' "
            "ELSE 'direct' END) = %(sourcing)s",
            "how the application was sourced: a partner's UTM link, a partner coupon, both, or neither (direct)",
            choices=("link", "coupon", "link_and_coupon", "direct"),
        ),
    ),
)

SESSIONS = Report(
    slug="login-sessions-report",
    title="Borrower login sessions",
    category=CATEGORY,
    definition="One row per borrower sign-in (bearer session) started in the range: who, when, until when, how it "
    "ended.",
    date_basis="the sign-in instant",
    source="read.report_borrower_sessions s LEFT JOIN read.onboarding f ON f.id = s.borrower_id AND f.brand_id = s.brand_id "
    "LEFT JOIN read.customers c ON c.id = f.customer_id AND c.brand_id = s.brand_id",
    where="s.brand_id = %(brand)s",
    date_sql="s.started_at",
    date_kind="instant",
    columns=(
        C("phone", "f.phone"),
        C("name", "coalesce(c.name, f.name)"),
        C("customer_number", "c.number"),
        C("started_at", "s.started_at", "instant"),
        C("expires_at", "s.expires_at", "instant"),
        C("ended_at", "s.ended_at", "instant"),
        C("end_reason", "s.end_reason"),
    ),
    key=(("s.started_at", datetime), ("s.id", UUID)),
)

REPORTS = (MASTER, DISBURSED, NON_DISBURSED, DISBURSE_NON_DISBURSE, ACTIVE_BY_DUE, NO_REPAYMENT, LOAN_CLOSE,
           OUTSTANDING_DATA, REJECT, SANCTIONED, AFFILIATE, SESSIONS)  # fmt: skip
