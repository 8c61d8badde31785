"""The Collection reports over the collections and fieldwork contexts' read models: executive allocation
(`read.collection_cases`), collection remarks (`read.collection_contacts`), field visits (`read.field_visits`),
and the collection agents' performance (contacts, promises to pay and repayments). docs/reports.md has each
definition."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from projections.report_sql_collections import CATEGORY
from projections.report_sql_parts import actor_staff, counted, loan_of, staff, summed, team_filter
from projections.reports import Column, Filter, Report

C = Column

#: A collection case's loan and borrower (same brand) and its assigned executive.
CASE = f"read.collection_cases cc {loan_of('cc')} {staff('cc.assignee', 'cc.brand_id')}"

ALLOCATION = Report(
    slug="collection-allocation-executive-report",
    title="Collection allocation by executive",
    category=CATEGORY,
    definition="One row per collection case opened in the range: the executive it is assigned to (blank: "
    "unassigned), its stage, DPD and amount, the last contact and the promise to pay - the workload view.",
    date_basis="the day the case was opened",
    source=CASE,
    where="cc.brand_id = %(brand)s",
    date_sql="cc.opened_on",
    columns=(
        C("executive", "s.name"),
        C("executive_email", "s.email"),
        C("loan_number", "l.loan_number"),
        C("borrower", "c.name"),
        C("phone", "c.phone"),
        C("stage", "cc.stage"),
        C("open", "cc.open", "bool"),
        C("dpd", "cc.dpd", "int"),
        C("amount", "cc.amount", "number"),
        C("due_on", "cc.due_on", "date"),
        C("contacts", "cc.contacts", "int"),
        C("last_contact_at", "cc.last_contact_at", "instant"),
        C("last_outcome", "cc.last_outcome"),
        C("ptp_status", "cc.ptp_status"),
        C("ptp_amount", "cc.ptp_amount", "number"),
        C("opened_on", "cc.opened_on", "date"),
    ),
    key=(("cc.opened_on", date), ("cc.loan_id", UUID)),
    filters=(
        Filter(
            "state",
            "(CASE WHEN cc.open THEN 'open' ELSE 'closed' END) = %(state)s",
            "open or closed cases",
            choices=("open", "closed"),
        ),
    ),
)

REMARKS = Report(
    slug="collection-remarks-report",
    title="Collection remarks",
    category=CATEGORY,
    definition="One row per contact logged by collections in the range: the loan, who logged it, the channel, "
    "the outcome, the remarks and any callback asked for.",
    date_basis="the instant the contact was logged",
    source=f"read.collection_contacts k {loan_of('k')} {staff('k.staff_id', 'k.brand_id')}",
    where="k.brand_id = %(brand)s",
    date_sql="k.at",
    date_kind="instant",
    columns=(
        C("at", "k.at", "instant"),
        C("loan_number", "l.loan_number"),
        C("borrower", "c.name"),
        C("phone", "c.phone"),
        C("agent", "coalesce(s.name, k.actor)"),
        C("channel", "k.channel"),
        C("outcome", "k.outcome"),
        C("remarks", "k.remarks"),
        C("callback_at", "k.callback_at", "instant"),
    ),
    key=(("k.at", datetime), ("k.contact_id", UUID)),
)

FIELD_VISITS = Report(
    slug="field-visit-report",
    title="Field visits",
    category=CATEGORY,
    definition="One row per field visit flagged in the range: the agent, why, the address, its status, when it "
    "was made, the outcome, remarks, location and photos taken.",
    date_basis="the instant the visit was flagged",
    source="read.field_visits v JOIN read.customers c ON c.id = v.customer_id AND c.brand_id = v.brand_id "
    f"{staff('v.assignee_id', 'v.brand_id')}",
    where="v.brand_id = %(brand)s",
    date_sql="v.created_at",
    date_kind="instant",
    columns=(
        C("flagged_at", "v.created_at", "instant"),
        C("loan_number", "v.loan_number"),
        C("borrower", "c.name"),
        C("agent", "s.name"),
        C("reason", "v.reason"),
        C("due_on", "v.due_on", "date"),
        C("address", "v.address"),
        C("status", "v.status"),
        C("visited_at", "v.visited_at", "instant"),
        C("outcome", "v.outcome"),
        C("remarks", "v.remarks"),
        # A place, not an amount: no total (a sum of coordinates means nothing).
        C("latitude", "v.latitude", "number", total="NULL"),
        C("longitude", "v.longitude", "number", total="NULL"),
        C("photos", "jsonb_array_length(v.photos)", "int"),
    ),
    key=(("v.created_at", datetime), ("v.id", UUID)),
    filters=(
        Filter("status", "v.status = %(status)s", "the visit's status", choices=("assigned", "visited", "cancelled")),
    ),
)

#: Who did it: the staff member a contact or promise is filed under, else whoever recorded it (an API key, a job);
#: a repayment's collector - who asked for the collection request or manual receipt its approval recorded
#: (`collected_by`), else whoever recorded it - so one person's contacts, promises and repayments make one row.
_PEOPLE = (
    "SELECT k.brand_id, coalesce('staff:' || k.staff_id::text, k.actor) AS agent, k.at AS at, 'contact' AS kind, "
    "0::numeric AS amount, k.loan_id, NULL::text AS status FROM read.collection_contacts k "
    "UNION ALL SELECT t.brand_id, coalesce('staff:' || t.staff_id::text, t.actor), t.at, 'ptp', t.amount, t.loan_id, "
    "t.status FROM read.collection_ptps t "
    "UNION ALL SELECT p.brand_id, coalesce(p.collected_by, p.recorded_by), (p.paid_on::timestamp AT TIME ZONE %(tz)s), 'repayment', p.amount, "
    "p.loan_id, NULL FROM read.report_payments p WHERE p.reversed_on IS NULL"
)
AGENT_PERFORMANCE = Report(
    slug="agent-performance-report",
    title="Agent performance",
    category=CATEGORY,
    definition="One row per person with collection activity in the range: contacts logged, promises to pay taken "
    "(and how many were kept or broken), repayments and the amount collected by them (an approved collection or "
    "confirmed receipt counts for who asked for it, not its approver), loans worked.",
    date_basis="the instant of each contact and promise, the payment date of each repayment",
    source=f"({_PEOPLE}) a {actor_staff('a.agent', 'a.brand_id')}",
    where="a.brand_id = %(brand)s",
    date_sql="a.at",
    date_kind="instant",
    group_by="a.agent, s.name",
    columns=(
        C("agent", "a.agent"),
        C("name", "s.name"),
        C("contacts", counted("a.kind = 'contact'"), "int"),
        C("ptps", counted("a.kind = 'ptp'"), "int"),
        C("ptps_kept", counted("a.kind = 'ptp' AND a.status = 'kept'"), "int"),
        C("ptps_broken", counted("a.kind = 'ptp' AND a.status = 'broken'"), "int"),
        C("promised", summed("a.amount", "a.kind = 'ptp'"), "number"),
        C("repayments", counted("a.kind = 'repayment'"), "int"),
        C("collected", summed("a.amount", "a.kind = 'repayment'"), "number"),
        C("loans", "count(DISTINCT a.loan_id)", "int"),
    ),
    key=(("a.agent", str),),
    filters=(team_filter("a.agent"),),
)

REPORTS = (ALLOCATION, REMARKS, FIELD_VISITS, AGENT_PERFORMANCE)
