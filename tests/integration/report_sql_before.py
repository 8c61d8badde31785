"""The report declarations as they were before the per-loan figures became grouped passes and then one row per
loan of `read.report_loan_totals` (projections/report_sql_parts.py): the old `LATERAL` / `NOT EXISTS` sources of
the nine reports whose structure changed, computing every figure from the instalments and repayments themselves,
kept only so tests/integration/test_report_rewrites.py can compare the old SQL's output with the new."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

from projections.report_catalogue import CATALOGUE
from projections.reports import Column, Report

_INSTALMENT_LOAN = "read.report_instalments i JOIN read.loans l ON l.id = i.loan_id AND l.brand_id = i.brand_id"
_LOANS = "read.loans l JOIN read.customers c ON c.id = l.customer_id AND c.brand_id = l.brand_id"
_OUTSTANDING = (
    " LEFT JOIN LATERAL (SELECT sum(i.principal - i.paid_principal) AS principal, "
    "sum(i.interest - i.paid_interest) AS interest, sum(i.paid_penal) AS penal_paid "
    "FROM read.report_instalments i WHERE i.loan_id = l.id) o ON true"
    " LEFT JOIN LATERAL (SELECT i.due_date, i.principal + i.interest - i.paid_principal - i.paid_interest AS left_due "
    "FROM read.report_instalments i WHERE i.loan_id = l.id "
    "AND i.principal + i.interest > i.paid_principal + i.paid_interest ORDER BY i.no LIMIT 1) n ON true"
)
_REPAID = (
    " LEFT JOIN LATERAL (SELECT count(*) AS payments, coalesce(sum(p.amount), 0) AS amount, max(p.paid_on) AS last_on "
    "FROM read.report_payments p WHERE p.loan_id = l.id AND p.reversed_on IS NULL) r ON true"
)
_OVERDUE = (
    " LEFT JOIN LATERAL (SELECT sum(i.principal + i.interest - i.paid_principal - i.paid_interest) AS amount, "
    "min(i.due_date) AS since, count(*) AS instalments FROM read.report_instalments i WHERE i.loan_id = l.id "
    "AND i.due_date < %(today)s AND i.principal + i.interest > i.paid_principal + i.paid_interest) d ON true"
)
_MASTER = (
    "read.customers c"
    " LEFT JOIN LATERAL (SELECT count(*) AS n, string_agg(l.loan_number || ':' || l.status || ':' || l.amount, '; ' "
    "ORDER BY l.created_at, l.id) AS loans FROM read.loans l WHERE l.brand_id = c.brand_id AND l.customer_id = c.id) ln"
    " ON true"
    " LEFT JOIN LATERAL (SELECT e.employment FROM read.report_employment e WHERE e.customer_id = c.id "
    "AND e.brand_id = c.brand_id AND e.employment IS NOT NULL ORDER BY e.updated_at DESC LIMIT 1) e ON true"
    " LEFT JOIN LATERAL (SELECT b.account_masked, b.ifsc, b.holder_name, b.status FROM read.bank_accounts b "
    "WHERE b.brand_id = c.brand_id AND b.customer_id = c.id ORDER BY b.added_at DESC, b.id LIMIT 1) b ON true"
    " LEFT JOIN read.kyc_checks ka ON ka.customer_id = c.id AND ka.kind = 'aadhaar'"
)
#: The new SQL's columns of the loans' totals row (`t`, read.report_loan_totals) in the old SQL's aliases.
_OLD_TOTALS = {
    "principal": "o.principal",
    "interest": "o.interest",
    "next_due": "n.due_date",
    "next_left": "n.left_due",
    "repaid": "r.amount",
    "payments": "r.payments",
    "last_paid_on": "r.last_on",
    "unpaid_since": "d.since",
}


def _before(sql: str) -> str:
    return re.sub(r"\bt\.(\w+)", lambda m: _OLD_TOTALS[m.group(1)], sql)


def _old(slug: str, source: str, where: str | None = None) -> Report:
    new = CATALOGUE[slug]
    columns = tuple(dataclasses.replace(c, sql=_before(c.sql)) for c in new.columns)
    key = tuple((_before(sql), kind) for sql, kind in new.key)
    return dataclasses.replace(
        new, source=source, where=where or new.where, columns=columns, date_sql=_before(new.date_sql), key=key
    )


# total-recovery and recovery-efficiency before they read each day's row (read.report_due_days): the instalments
# joined to their loans, a completed loan's instalments asking what was paid against them.
_OWED = (
    "(CASE WHEN l.status = 'completed' THEN (i.paid_principal + i.paid_interest) ELSE (i.principal + i.interest) END)"
)
_PAID = "(i.paid_principal + i.paid_interest)"
_BY_DAY = dataclasses.replace(
    CATALOGUE["total-recovery-report"],
    source=_INSTALMENT_LOAN,
    where="i.brand_id = %(brand)s",
    date_sql="i.due_date",
    group_by="i.due_date",
    columns=(
        Column("due_date", "i.due_date", "date"),
        Column("instalments", "count(*)", "int"),
        Column("due", f"sum({_OWED})", "number"),
        Column("recovered", f"sum({_PAID})", "number"),
        Column("outstanding", f"sum({_OWED} - {_PAID})", "number"),
        Column("recovery_rate", f"round(100 * sum({_PAID}) / nullif(sum({_OWED}), 0), 2)", "number",
               total="round(100 * sum(q.recovered) / nullif(sum(q.due), 0), 2)"),
    ),
    key=(("i.due_date", date),),
)  # fmt: skip
_MONTH = "date_trunc('month', i.due_date)::date"
_BY_MONTH = dataclasses.replace(
    CATALOGUE["recovery-efficiency-report"],
    source=_INSTALMENT_LOAN,
    where="i.brand_id = %(brand)s",
    date_sql="i.due_date",
    group_by=_MONTH,
    columns=(
        Column("month", _MONTH, "date"),
        Column("instalments", "count(*)", "int"),
        Column("paid", f"count(*) FILTER (WHERE {_PAID} >= {_OWED})", "int"),
        Column("partly_paid", f"count(*) FILTER (WHERE {_PAID} > 0 AND {_PAID} < {_OWED})", "int"),
        Column("unpaid", f"count(*) FILTER (WHERE {_PAID} = 0)", "int"),
        Column("demand", f"sum({_OWED})", "number"),
        Column("collection", f"sum({_PAID})", "number"),
        Column("efficiency", f"round(100 * sum({_PAID}) / nullif(sum({_OWED}), 0), 2)", "number",
               total="round(100 * sum(q.collection) / nullif(sum(q.demand), 0), 2)"),
    ),
    key=((_MONTH, date),),
)  # fmt: skip

BEFORE: dict[str, Report] = {
    r.slug: r
    for r in (
        _old("master-report", _MASTER),
        _old("active-loans-by-due-date-report", _LOANS + _OUTSTANDING),
        _old(
            "completed-loan-with-no-repet-report",
            _LOANS,
            "l.brand_id = %(brand)s AND l.status IN ('completed', 'settled', 'written_off') AND NOT EXISTS "
            "(SELECT 1 FROM read.report_payments p WHERE p.loan_id = l.id AND p.reversed_on IS NULL)",
        ),
        _old("loan-close-report", _LOANS + _REPAID),
        _old("outstanding-data-report", _LOANS + _OUTSTANDING),
        _old(
            "master-collection-report",
            f"{_LOANS}{_OVERDUE}{_OUTSTANDING} LEFT JOIN read.collection_cases cc ON cc.loan_id = l.id "
            "AND cc.brand_id = l.brand_id LEFT JOIN read.staff s ON s.id = cc.assignee AND s.brand_id = l.brand_id",
            "l.brand_id = %(brand)s AND l.status IN ('active', 'partially_paid', 'overdue') AND d.amount > 0",
        ),
        _old("collection-loan-report", f"{_LOANS}{_REPAID}{_OUTSTANDING}"),
        _old("collection-loan-report-by-approved-date", f"{_LOANS}{_REPAID}{_OUTSTANDING}"),
        _old("dpd-buckets-report", f"read.loans l{_OUTSTANDING}"),
        _BY_DAY,
        _BY_MONTH,
    )
}
