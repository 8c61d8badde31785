"""The pieces of SQL the report declarations share (projections/report_sql_*.py): the loan-and-borrower source, the
joins to staff, the instalment arithmetic, the per-loan figures of the reports' read model and the usual columns.

The per-loan figures (`OUTSTANDING` with `NEXT_DUE_DATE`/`NEXT_LEFT`, `OUTSTANDING_OVERDUE`, `REPAID`) are **grouped passes**: one `GROUP BY loan_id`
over the brand's rows of `read.report_instalments` / `read.report_payments`, hash-joined to the loans by id, rather
than a correlated subquery per loan (docs/reports.md, "Benchmark": a full export or the totals read every loan of
the range, and one pass over the table beats one index probe per loan by 5-10x). Each pass is scoped to the brand.
"""

from __future__ import annotations

from projections.reports import Column, Filter

C = Column

LOAN_STATUSES = ("onboarding", "pending", "cx_approved", "sm_approved", "approved", "awaiting_disbursal", "active",
                 "partially_paid", "overdue", "completed", "rejected", "cancelled", "settled", "written_off")  # fmt: skip
SERVICED_STATUSES = ("active", "partially_paid", "overdue")
FINAL_STATUSES = ("completed", "settled", "written_off")
SERVICED = "('active', 'partially_paid', 'overdue')"
FINAL = "('completed', 'settled', 'written_off')"

BRAND = "l.brand_id = %(brand)s"
#: The loan's borrower (same brand).
CUSTOMER = "JOIN read.customers c ON c.id = l.customer_id AND c.brand_id = l.brand_id"
#: A loan with its borrower (same brand), the usual source of the loan reports.
LOANS = f"read.loans l {CUSTOMER}"


def loan_of(alias: str) -> str:
    """The loan (`l`) and its borrower (`c`) of a row `alias` carrying `loan_id` and `brand_id`."""
    return f"JOIN read.loans l ON l.id = {alias}.loan_id AND l.brand_id = {alias}.brand_id {CUSTOMER}"


def staff(staff_id: str, brand_id: str, alias: str = "s") -> str:
    """The staff member `staff_id` of the brand, if any (a LEFT JOIN: blank when unassigned or unknown)."""
    return f"LEFT JOIN read.staff {alias} ON {alias}.id = {staff_id} AND {alias}.brand_id = {brand_id}"


def actor_staff(actor: str, brand_id: str) -> str:
    """The staff member behind an actor string `staff:<id>`, if it is one."""
    return f"LEFT JOIN read.staff s ON {actor} = 'staff:' || s.id::text AND s.brand_id = {brand_id}"


# -- instalment arithmetic (a row of read.report_instalments under `alias`) ------------------------------------------


def due(alias: str = "i") -> str:
    """What the instalment asks: principal + interest."""
    return f"{alias}.principal + {alias}.interest"


def paid(alias: str = "i") -> str:
    """What was paid against it (principal + interest, as each payment's allocation recorded it)."""
    return f"{alias}.paid_principal + {alias}.paid_interest"


def left(alias: str = "i") -> str:
    """What is left of it."""
    return f"{alias}.principal + {alias}.interest - {alias}.paid_principal - {alias}.paid_interest"


def unpaid(alias: str = "i") -> str:
    """The instalment is not fully paid."""
    return f"{due(alias)} > {paid(alias)}"


def counted(condition: str | None = None) -> str:
    """count(*), of the rows meeting `condition` when given."""
    return "count(*)" if condition is None else f"count(*) FILTER (WHERE {condition})"


def summed(expression: str, condition: str) -> str:
    """The sum of `expression` over the rows meeting `condition`, 0 when none."""
    return f"coalesce(sum({expression}) FILTER (WHERE {condition}), 0)"


def percent(part: str, whole: str) -> str:
    """part / whole in per cent, 2 places (NULL when whole is 0)."""
    return f"round(100 * {part} / nullif({whole}, 0), 2)"


def day(instant: str) -> str:
    """The day of an instant in the brand's timezone."""
    return f"({instant} AT TIME ZONE %(tz)s)::date"


# -- per-loan figures of the reports' read model: grouped passes joined by loan id -----------------------------------

#: Each loan's unpaid scheduled principal and interest (`o.principal`, `o.interest`) and its first instalment not
#: fully paid, in one pass: `o.next` is the least `[no, due date as days since 2000-01-01, what is left]` of its unpaid
#: instalments (arrays compare element by element, and `no` is unique within a loan), read by NEXT_DUE_DATE and
#: NEXT_LEFT. Allocation as each payment recorded it (docs/reports.md).
_EPOCH = "DATE '2000-01-01'"
OUTSTANDING = (
    " LEFT JOIN (SELECT i.loan_id, sum(i.principal - i.paid_principal) AS principal, "
    "sum(i.interest - i.paid_interest) AS interest, "
    f"min(ARRAY[i.no, i.due_date - {_EPOCH}, {left()}]) FILTER (WHERE {unpaid()}) AS next "
    "FROM read.report_instalments i WHERE i.brand_id = %(brand)s GROUP BY i.loan_id) o ON o.loan_id = l.id"
)
NEXT_DUE_DATE = f"({_EPOCH} + (o.next)[2]::int)"
NEXT_LEFT = "(o.next)[3]"
#: OUTSTANDING's `o.principal` and `o.interest` and, in the same pass, what is overdue: the unpaid principal +
#: interest of the instalments due by the business date (`o.overdue`), the oldest such due date (`o.since`) and how
#: many (`o.overdue_instalments`); NULL / 0 when none. An inner join: loans with instalments only.
_OVERDUE = f"i.due_date <= %(today)s AND {unpaid()}"
OUTSTANDING_OVERDUE = (
    " JOIN (SELECT i.loan_id, sum(i.principal - i.paid_principal) AS principal, "
    f"sum(i.interest - i.paid_interest) AS interest, sum({left()}) FILTER (WHERE {_OVERDUE}) AS overdue, "
    f"min(i.due_date) FILTER (WHERE {_OVERDUE}) AS since, count(*) FILTER (WHERE {_OVERDUE}) AS overdue_instalments "
    "FROM read.report_instalments i WHERE i.brand_id = %(brand)s GROUP BY i.loan_id) o ON o.loan_id = l.id"
)
#: Each loan's repayments that stand (not reversed): `r.payments`, `r.amount`, `r.last_on` (NULL when none: use
#: REPAID_COLUMNS).
REPAID = (
    " LEFT JOIN (SELECT p.loan_id, count(*) AS payments, sum(p.amount) AS amount, max(p.paid_on) AS last_on "
    "FROM read.report_payments p WHERE p.brand_id = %(brand)s AND p.reversed_on IS NULL GROUP BY p.loan_id) r "
    "ON r.loan_id = l.id"
)
#: REPAID for a report that reads a small share of the loans (`loan-close-report`: the completed ones): one index
#: probe per loan beats a pass over every repayment of the brand there (measured 2x on the benchmark book).
REPAID_PER_LOAN = (
    " LEFT JOIN LATERAL (SELECT count(*) AS payments, sum(p.amount) AS amount, max(p.paid_on) AS last_on "
    "FROM read.report_payments p WHERE p.loan_id = l.id AND p.brand_id = l.brand_id AND p.reversed_on IS NULL) r "
    "ON true"
)

# -- columns and filters ---------------------------------------------------------------------------------------------

BORROWER = (
    C("loan_number", "l.loan_number"),
    C("customer_number", "c.number"),
    C("borrower", "c.name"),
    C("phone", "c.phone"),
)
DISBURSED_ON = C("disbursed_on", "l.disbursed_on", "date")
DISBURSED_AMOUNT = C("disbursed_amount", "coalesce(l.sanctioned_amount, l.amount)", "number")
OUTSTANDING_TOTAL = C("outstanding_total", "coalesce(o.principal, 0) + coalesce(o.interest, 0)", "number")
REPAID_COLUMNS = (
    C("repaid", "coalesce(r.amount, 0)", "number"),
    C("payments", "coalesce(r.payments, 0)", "int"),
    C("last_paid_on", "r.last_on", "date"),
)


def status_filter(description: str, choices: tuple[str, ...] = LOAN_STATUSES) -> Filter:
    """The loan's status, one of `choices`."""
    return Filter("status", "l.status = %(status)s", description, choices=choices)


CHANNEL_FILTER = Filter(
    "channel", "l.channel = %(channel)s", "who started the application", choices=("borrower", "staff")
)
