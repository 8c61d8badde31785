"""The pieces of SQL the report declarations share (projections/report_sql_*.py): the loan-and-borrower source, the
joins to staff, the instalment arithmetic, the per-loan figures of the reports' read model and the usual columns.

The per-loan figures (`TOTALS` with `NEXT_DUE_DATE`/`NEXT_LEFT`, `OVERDUE`) are one row per loan of
`read.report_loan_totals`, kept by the reports' projection on every payment and reversal, joined by loan id: no
report groups instalments or repayments per loan any more (docs/reports.md, "How the per-loan figures are
computed"), so a page costs its rows and an export one row per loan.
"""

from __future__ import annotations

from domain.loans.states import SERVICING_CODES
from projections.identity import team_sql
from projections.reports import Column, Filter

C = Column

LOAN_STATUSES = ("onboarding", "pending", "cx_approved", "sm_approved", "approved", "awaiting_disbursal", "active",
                 "partially_paid", "overdue", "completed", "rejected", "cancelled", "settled", "written_off")  # fmt: skip
#: The statuses of a loan being serviced: the domain's SERVICING (its codes in LoanStatus's order).
SERVICED_STATUSES = SERVICING_CODES
FINAL_STATUSES = ("completed", "settled", "written_off")
SERVICED = "(" + ", ".join(f"'{code}'" for code in SERVICED_STATUSES) + ")"
FINAL = "('completed', 'settled', 'written_off')"

BRAND = "l.brand_id = %(brand)s"
#: The loan's borrower (same brand). A LEFT JOIN on the borrower's primary key: every loan has one, and PostgreSQL
#: drops a LEFT JOIN whose columns a query does not read -- totals sum the loans' figures without reading every
#: borrower (figures in docs/reports.md); a loan whose borrower row a read model has not written yet shows with blank
#: borrower cells rather than going missing (never another brand's: the brand is in the join).
CUSTOMER = "LEFT JOIN read.customers c ON c.id = l.customer_id AND c.brand_id = l.brand_id"
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
    """What the instalment asks: principal + interest (parenthesised: it is subtracted from)."""
    return f"({alias}.principal + {alias}.interest)"


def paid(alias: str = "i") -> str:
    """What was paid against it (principal + interest, as each payment's allocation recorded it)."""
    return f"({alias}.paid_principal + {alias}.paid_interest)"


def left(alias: str = "i") -> str:
    """What is left of it."""
    return f"({alias}.principal + {alias}.interest - {alias}.paid_principal - {alias}.paid_interest)"


#: A loan paid off (completed, joined as `l`): its instalments are settled by what was paid against them, the
#: interest a payoff before the schedule's end saved is neither due nor left.
COMPLETED = "l.status = 'completed'"


#: The same of an instalment alone (`completed`, kept on it by the reports' projection): no join to the loan.
INSTALMENT_COMPLETED = "i.completed"


def owed(alias: str = "i", completed: str = COMPLETED) -> str:
    """What the instalment asks of a loan not completed; of a completed loan, what was paid against it."""
    return f"(CASE WHEN {completed} THEN {paid(alias)} ELSE {due(alias)} END)"


def owed_left(alias: str = "i") -> str:
    """What is left of it (nothing, once the loan is completed)."""
    return f"(CASE WHEN {COMPLETED} THEN 0 ELSE {left(alias)} END)"


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


# -- per-loan figures of the reports' read model: one row per loan, read by key ------------------------------------

#: Each loan's totals, kept by the reports' projection (`read.report_loan_totals`, projections/report_book.py):
#: unpaid scheduled principal and interest (`t.principal`, `t.interest`, NULL when the loan has no instalments), its
#: first instalment not fully paid (`t.next_due`, `t.next_left`), the oldest unpaid due date (`t.unpaid_since`) and
#: the repayments that stand (`t.payments`, `t.repaid`, `t.last_paid_on`). Allocation as each payment recorded it
#: (docs/reports.md). A LEFT JOIN (no row: no instalments and no repayments); TOTALS_INNER for the reports that need
#: a row (a next due date, something overdue).
TOTALS = " LEFT JOIN read.report_loan_totals t ON t.loan_id = l.id AND t.brand_id = l.brand_id"
TOTALS_INNER = " JOIN read.report_loan_totals t ON t.loan_id = l.id AND t.brand_id = l.brand_id"
NEXT_DUE_DATE = "t.next_due"
NEXT_LEFT = "t.next_left"
#: What is overdue at the business date, from the totals row's unpaid instalments (no pass over the instalments):
#: the unpaid principal + interest of those due before then (`d.amount`) and how many (`d.instalments`). An
#: instalment is overdue from the day after its due date (LENDING.md: DPD is 0 on the due date itself, and the loan
#: is not `overdue`). The oldest such due date is `t.unpaid_since` when `OVERDUE_AT_TODAY` holds.
OVERDUE = (
    " LEFT JOIN LATERAL (SELECT sum(u.left_) AS amount, count(*) AS instalments "
    "FROM unnest(t.unpaid_due, t.unpaid_left) AS u(due, left_) WHERE u.due < %(today)s) d ON true"
)
OVERDUE_AT_TODAY = "t.unpaid_since < %(today)s"

# -- columns and filters ---------------------------------------------------------------------------------------------

BORROWER = (
    C("loan_number", "l.loan_number"),
    C("customer_number", "c.number"),
    C("borrower", "c.name"),
    C("phone", "c.phone"),
)
DISBURSED_ON = C("disbursed_on", "l.disbursed_on", "date")
DISBURSED_AMOUNT = C("disbursed_amount", "coalesce(l.sanctioned_amount, l.amount)", "number")
#: What the loan owes: nothing once it is closed (completed, settled, written off: a settlement or write-off took
#: the unpaid schedule off the ledger, and the loan's page says 0.00), else its unpaid scheduled principal + interest.
OUTSTANDING_TOTAL = C(
    "outstanding_total",
    f"CASE WHEN l.status IN {FINAL} THEN 0 ELSE coalesce(t.principal, 0) + coalesce(t.interest, 0) END",
    "number",
)
REPAID_COLUMNS = (
    C("repaid", "coalesce(t.repaid, 0)", "number"),
    C("payments", "coalesce(t.payments, 0)", "int"),
    C("last_paid_on", "t.last_paid_on", "date"),
)


def status_filter(description: str, choices: tuple[str, ...] = LOAN_STATUSES) -> Filter:
    """The loan's status, one of `choices`."""
    return Filter("status", "l.status = %(status)s", description, choices=choices)


def team_filter(actor: str) -> Filter:
    """The rows of a team: `actor` (an actor string, `staff:<id>`) is the manager the filter's staff id names or
    someone reporting to them, directly or indirectly (the API and the page turn `mine` into the caller's id)."""
    return Filter(
        "team",
        f"{actor} IN " + team_sql("'staff:' || id::text"),
        "a manager's staff id (or `mine`): that manager and everyone reporting to them",
        kind="uuid",
    )


CHANNEL_FILTER = Filter(
    "channel", "l.channel = %(channel)s", "who started the application", choices=("borrower", "staff")
)
