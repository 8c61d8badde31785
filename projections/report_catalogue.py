"""Every report by slug, in catalogue order: the spec's 29 (three categories) and the ones issue #18 names elsewhere."""

from __future__ import annotations

from projections import report_sql_collections, report_sql_field, report_sql_loans, report_sql_marketing
from projections.reports import Report

CATALOGUE: dict[str, Report] = {
    r.slug: r
    for r in (
        *report_sql_loans.REPORTS,
        *report_sql_collections.REPORTS,
        *report_sql_field.REPORTS,
        *report_sql_marketing.REPORTS,
    )
}

#: The report that can be emailed as a scheduled job.
EMAILED = "master-report"
