"""Scoping read-model rows to the companies a caller may see (docs/architecture.md, "Staff": a staff member limited
to companies of the brand; empty: every company). A row of one of those companies, or of no company (NULL: a
brand-wide record, every company's), is seen; another company's is left out. The one SQL form of the rule
(`sees_company` in domain/shared/values.py is the same rule for a row already read), used by every query that
scopes by company: the jobs' runs, the activity trail, the dashboard's recent activity and the covenants. Company
codes are case-insensitive (`company_code`: compared upper case, whatever case they were stored in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.shared.values import company_code


def of_companies_sql(column: str = "company") -> str:
    """The condition that the row's `column` is one of `%(companies)s` (`companies_param`: upper case) or NULL (a
    filter on whatever scan the query makes: keyset pages and their keys are unchanged). Codes compare in upper case
    (`company_code`): a row stored as "sml" is "SML"'s."""
    return f"({column} IS NULL OR upper({column}) = ANY(%(companies)s::text[]))"


def companies_param(companies: Sequence[str]) -> list[str]:
    """The `%(companies)s` of `of_companies_sql`: the codes as `company_code`s."""
    return [company_code(c) for c in companies]


def scope_companies(companies: Sequence[str], params: dict[str, Any], column: str = "company") -> str | None:
    """`of_companies_sql(column)` with its parameter put in `params` for a caller limited to `companies`; None for
    one who sees every company (no condition)."""
    if not companies:
        return None
    params["companies"] = companies_param(companies)
    return of_companies_sql(column)
