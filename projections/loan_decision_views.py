"""The loans read model's part for the credit decision to disbursal (issue #14): the decision columns of
`read.loans` (CAM, the three amounts, the sanction's pricing and terms, who decided, the rejection and the send back,
the disbursal date) and the timeline entries of every event of `domain/loans/loan_events.py`.

`LoanViews` (projections/loans.py) inherits these handlers. Every event class is handled by name (a projection reads
only the topics it handles, so a subclass of `Transitioned` without a handler would never reach it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from domain.loans import loan_events as ev
from domain.loans import recovery_events as rv
from domain.loans import servicing_events as sv
from domain.loans.loan import Loan
from domain.loans.loan_events import Transitioned
from domain.loans.states import LoanStatus
from projections.business_days import business_day
from projections.projection import Change, Projection, Write, handles

L = Loan

#: Each Sanction Manager's decisions, per brand (the team figures).
SM_FIGURES_TABLE = "read.sm_figures"

#: The states a loan ends in once it was paid out (the reports' "closed" loans).
FINAL = ("completed", "settled", "written_off")

#: `closed_on`: the business day a loan reached its final state (completed, settled, written off), NULL while it has
#: none: the closing repayment's `paid_on` (the day the payoff was quoted and met, as on the no-due certificate), a
#: waiver's `waived_on`, a settlement's or write-off's `ending.on`. A database made before the column gets it once,
#: filled with the local day of `status_since` (the instant the closing event was recorded, the only date it had);
#: `projections rebuild loans` re-dates those loans by their business days (docs/reports.md).
CLOSED_ON_DDL = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'read' "
    "AND table_name = 'loans' AND column_name = 'closed_on') THEN "
    "ALTER TABLE read.loans ADD COLUMN closed_on date; "
    "IF to_regclass('read.brands') IS NOT NULL THEN "
    "UPDATE read.loans l SET closed_on = (l.status_since AT TIME ZONE coalesce((SELECT b.timezone FROM read.brands b "
    f"WHERE b.id = l.brand_id), 'Asia/Kolkata'))::date WHERE l.status IN {FINAL} AND l.status_since IS NOT NULL; "
    "ELSE UPDATE read.loans l SET closed_on = (l.status_since AT TIME ZONE 'Asia/Kolkata')::date "
    f"WHERE l.status IN {FINAL} AND l.status_since IS NOT NULL; END IF; END IF; END $$"
)

#: The decision columns, added to `read.loans` (idempotent; a fresh table gets them at once).
DECISION_DDL = (
    "ALTER TABLE read.loans "
    + ", ".join(
        f"ADD COLUMN IF NOT EXISTS {column}"
        for column in (
            "cam jsonb",
            "cx_approved_amount numeric(16, 2)",
            "cx_approved_by text",
            "cx_approved_at timestamptz",
            "sanctioned_amount numeric(16, 2)",
            "sanction_pricing jsonb",
            "sanction_terms jsonb",
            "sanction_instalment numeric(16, 2)",
            "sanctioned_by text",
            "sanctioned_at timestamptz",
            "sm_actor text",
            "rejection jsonb",
            "sent_back jsonb",
            "disbursed_on date",
            "status_since timestamptz",
            "escalation jsonb",
            "sanction_assignee uuid",
            "sanction_assigned_at timestamptz",
        )
    ),
    CLOSED_ON_DDL,
    # The team figures: each SM's decisions, counted as they happen (a small table, not a scan of the timeline).
    f"""CREATE TABLE IF NOT EXISTS {SM_FIGURES_TABLE} (
        brand_id uuid NOT NULL,
        actor text NOT NULL,
        sanctioned int NOT NULL DEFAULT 0,
        rejected int NOT NULL DEFAULT 0,
        sent_back int NOT NULL DEFAULT 0,
        PRIMARY KEY (brand_id, actor)
    )""",
    # The team figures' queue: CX-approved loans per assigned SM, with their age and escalation (index-only).
    "CREATE INDEX IF NOT EXISTS loans_sanction_queue_idx ON read.loans (brand_id, sanction_assignee, status_since) "
    "INCLUDE (sanction_assigned_at, escalation) WHERE status = 'cx_approved'",
    # The Ops disbursal queue: loans awaiting disbursal, the longest queued (status_since) first.
    "CREATE INDEX IF NOT EXISTS loans_disbursal_queue_idx ON read.loans (brand_id, status_since, id) "
    "WHERE status = 'awaiting_disbursal'",
    # The CX worklist: a CX's pending applications, oldest first.
    "CREATE INDEX IF NOT EXISTS loans_worklist_idx ON read.loans (brand_id, assignee, created_at, id) "
    "WHERE status = 'pending'",
    # The Sanction Head's view: each SM's decided loans, newest first.
    "CREATE INDEX IF NOT EXISTS loans_sm_idx ON read.loans (brand_id, sm_actor, updated_at DESC, id DESC) "
    "WHERE sm_actor IS NOT NULL",
    # ... and every SM's, newest first.
    "CREATE INDEX IF NOT EXISTS loans_sm_all_idx ON read.loans (brand_id, updated_at DESC, id DESC) "
    "WHERE sm_actor IS NOT NULL",
    # The Completed Loans page: repaid, settled and written-off loans, the latest closed first by the business day they
    # closed on (a tab is one status); it read the instant the closure was recorded, `loans_completed_idx`.
    "CREATE INDEX IF NOT EXISTS loans_closed_on_idx ON read.loans (brand_id, closed_on DESC, status_since DESC, id DESC) "
    "INCLUDE (status) WHERE status IN ('completed', 'settled', 'written_off') AND closed_on IS NOT NULL",
    "DROP INDEX IF EXISTS read.loans_completed_idx",
)


#: The latest `paid_on` of the loan's repayments still standing, from its timeline (this projection's own rows): a
#: back-dated repayment that completes the loan leaves it closed on the later payment's day (the replay applies the
#: payments in date order, so the payoff is met by the last of them).
_LAST_STANDING_PAID_ON = (
    "(SELECT max((e.details->>'paid_on')::date) FROM read.loan_events e WHERE e.loan_id = %s "
    "AND e.kind = 'repayment_recorded' AND NOT EXISTS (SELECT FROM read.loan_events r WHERE r.loan_id = e.loan_id "
    "AND r.kind = 'repayment_reversed' AND r.details->>'payment_id' = e.details->>'payment_id'))"
)


#: The business day an event of a `read.loans` row happened on (parameters: the day it carries, its instant): that
#: day, else the brand's local day of the instant (an event stored before its business date was recorded).
DAY_OF_EVENT = "COALESCE(%s::date, read.brand_local_day(brand_id, %s))"

#: `created_on`, `cx_approved_on`, `sanctioned_on` (the business days of the loan's creation, CX approval and
#: sanction: `Created.created_on`, `CxApproved.cx_approved_on`, `Sanctioned.sanctioned_on`, beside the instants
#: `created_at`, `cx_approved_at`, `sanctioned_at`) and the timeline's `day` (each event's business day, what
#: team-performance-report ranges over). A database made before them gets them once, filled with the brand's local
#: day of the instants (the only dates its events carried: a rebuild gives the same days, but for the timeline's
#: events that did carry one - submissions, rejections, disbursals, repayments -, which
#: `projections rebuild loans` re-dates; docs/reports.md).
BUSINESS_DAYS_DDL = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'read' "
    "AND table_name = 'loans' AND column_name = 'created_on') THEN "
    "ALTER TABLE read.loans ADD COLUMN created_on date, ADD COLUMN cx_approved_on date, "
    "ADD COLUMN sanctioned_on date; "
    "UPDATE read.loans l SET created_on = read.brand_local_day(l.brand_id, l.created_at), "
    "cx_approved_on = CASE WHEN l.cx_approved_at IS NOT NULL THEN read.brand_local_day(l.brand_id, l.cx_approved_at) END, "
    "sanctioned_on = CASE WHEN l.sanctioned_at IS NOT NULL THEN read.brand_local_day(l.brand_id, l.sanctioned_at) END; "
    "END IF; "
    "IF NOT EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'read' "
    "AND table_name = 'loan_events' AND column_name = 'day') THEN "
    "ALTER TABLE read.loan_events ADD COLUMN day date; "
    "UPDATE read.loan_events e SET day = read.brand_local_day(e.brand_id, e.at); "
    "END IF; END $$"
)


def closing_day(event: Any) -> date | None:
    """The business day the event closes the loan on, when it carries one (see `CLOSED_ON_DDL`)."""
    if isinstance(event, sv.RepaymentRecorded):
        return event.payment.paid_on
    if isinstance(event, rv.WaiverApproved):
        return event.waived_on
    if isinstance(event, rv.Settled | rv.WrittenOff):
        return event.ending.on
    return None


def sm_counted(event: Any, column: str) -> Write:
    """One more sanctioned, rejected or sent-back loan in the figures of the SM who decided (`event.actor`)."""
    assert column in ("sanctioned", "rejected", "sent_back")
    return Write(
        f"INSERT INTO {SM_FIGURES_TABLE} (brand_id, actor, {column}) SELECT brand_id, %s, 1 FROM read.loans "
        f"WHERE id = %s ON CONFLICT (brand_id, actor) DO UPDATE SET {column} = {SM_FIGURES_TABLE}.{column} + 1",
        (event.actor, event.originator_id),
    )


_CLEARED = (
    "cx_approved_amount = NULL, cx_approved_by = NULL, cx_approved_at = NULL, sanctioned_amount = NULL, "
    "sanction_pricing = NULL, sanction_terms = NULL, sanction_instalment = NULL, sanctioned_by = NULL, "
    "sanctioned_at = NULL, escalation = NULL, sanction_assignee = NULL, sanction_assigned_at = NULL, "
    "cx_approved_on = NULL, sanctioned_on = NULL"
)


def _money(value: Any) -> str:
    return str(value)


class LoanDecisionViews(Projection):
    """Handlers of the decision-to-disbursal events (a base of `LoanViews`)."""

    if TYPE_CHECKING:

        def _logged(self, event: Any, kind: str, details: dict[str, Any]) -> Iterable[Change]: ...

    def _moved(self, event: Transitioned, sets: str = "", params: tuple[Any, ...] = ()) -> Write:
        extra = f", {sets}" if sets else ""
        # closed_on: the business day of a move into a final state (kept by a later event leaving it final), NULL
        # out of them (a reversal re-opening a completed loan); the instant's date only for an event without one
        day = "%s::date"
        day_params: tuple[Any, ...] = (closing_day(event),)
        if isinstance(event, sv.RepaymentRecorded):
            day, day_params = f"GREATEST(%s::date, {_LAST_STANDING_PAID_ON})", (*day_params, event.originator_id)
        return Write(
            f"UPDATE read.loans SET status = %s, status_since = %s, version = %s, updated_at = %s, "
            f"closed_on = CASE WHEN %s THEN COALESCE({day}, closed_on, %s::date) END{extra} WHERE id = %s",
            (event.status.value, event.timestamp, event.originator_version, event.timestamp,
             event.status.value in FINAL, *day_params, event.timestamp, *params, event.originator_id),
        )  # fmt: skip

    @handles(L.CamRecorded)
    def _cam(self, position: int, event: ev.CamRecorded) -> Iterator[Change]:
        cam = event.cam.model_dump(mode="json")
        yield Write(
            "UPDATE read.loans SET cam = %s, version = %s, updated_at = %s WHERE id = %s",
            (Jsonb(cam), event.originator_version, event.timestamp, event.originator_id),
        )
        yield from self._logged(event, "cam_recorded", cam)

    @handles(L.CxApproved)
    def _cx_approved(self, position: int, event: ev.CxApproved) -> Iterator[Change]:
        yield self._moved(
            event,
            "cx_approved_amount = %s, cx_approved_by = %s, cx_approved_at = %s, escalation = NULL, "
            f"cx_approved_on = {DAY_OF_EVENT}",
            (event.approved_amount, event.actor, event.timestamp, business_day(event), event.timestamp),
        )
        details = {"requested": _money(event.requested_amount), "cx_approved": _money(event.approved_amount),
                   "remarks": event.remarks}  # fmt: skip
        yield from self._logged(event, "cx_approved", details)

    @handles(L.SentBack)
    def _sent_back(self, position: int, event: ev.SentBack) -> Iterator[Change]:
        sent = {"to": event.to.value, "reason": event.reason, "actor": event.actor, "at": event.timestamp.isoformat(),
                "step": event.step}  # fmt: skip
        sm = event.actor if event.to.value == "cx" else None
        yield self._moved(
            event,
            "sent_back = %s, cx_approved_amount = NULL, sm_actor = COALESCE(%s, sm_actor), "
            "submitted_on = CASE WHEN %s THEN NULL ELSE submitted_on END",
            (Jsonb(sent), sm, event.to.value == "borrower"),
        )
        if sm is not None:
            yield sm_counted(event, "sent_back")
        yield from self._logged(event, "sent_back", {"to": event.to.value})

    @handles(L.Escalated)
    def _escalated(self, position: int, event: ev.Escalated) -> Iterator[Change]:
        escalation = {"reason": event.reason, "actor": event.actor, "at": event.timestamp.isoformat(),
                      "automatic": event.automatic}  # fmt: skip
        yield Write(
            "UPDATE read.loans SET escalation = %s, version = %s, updated_at = %s WHERE id = %s",
            (Jsonb(escalation), event.originator_version, event.timestamp, event.originator_id),
        )
        yield from self._logged(event, "escalated", {"automatic": event.automatic})

    @handles(L.SanctionAssigned)
    def _sanction_assigned(self, position: int, event: ev.SanctionAssigned) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loans SET escalation = NULL, sanction_assignee = %s, sanction_assigned_at = %s, version = %s, "
            "updated_at = %s WHERE id = %s",
            (event.staff_id, event.timestamp, event.originator_version, event.timestamp, event.originator_id),
        )
        yield from self._logged(event, "sanction_assigned", {"staff_id": str(event.staff_id)})

    @handles(L.Sanctioned)
    def _sanctioned(self, position: int, event: ev.Sanctioned) -> Iterator[Change]:
        pricing = event.pricing
        yield self._moved(
            event,
            "sanctioned_amount = %s, sanction_pricing = %s, sanction_terms = %s, sanction_instalment = %s, "
            f"sanctioned_by = %s, sanctioned_at = %s, sm_actor = %s, sanctioned_on = {DAY_OF_EVENT}",
            (event.sanctioned_amount, Jsonb(pricing.model_dump(mode="json")), Jsonb(event.terms.model_dump(mode="json")),
             event.instalment, event.actor, event.timestamp, event.actor, business_day(event), event.timestamp),
        )  # fmt: skip
        yield sm_counted(event, "sanctioned")
        details = {
            "requested": _money(event.requested_amount), "cx_approved": _money(event.cx_approved_amount),
            "sanctioned": _money(event.sanctioned_amount), "processing_fee": _money(pricing.processing_fee.amount),
            "convenience_fee": _money(pricing.convenience_fee.amount), "gst": _money(pricing.gst),
            "net_disbursed": _money(pricing.net_disbursed), "instalment": _money(event.instalment),
            "remarks": event.remarks,
        }  # fmt: skip
        yield from self._logged(event, "sanctioned", details)

    @handles(L.Reactivated)
    def _reactivated(self, position: int, event: ev.Reactivated) -> Iterator[Change]:
        yield self._moved(event, f"rejection = NULL, {_CLEARED}")
        yield from self._logged(event, "reactivated", {"previous_status": event.previous_status.value})

    @handles(L.ProductChanged)
    def _product_changed(self, position: int, event: ev.ProductChanged) -> Iterator[Change]:
        """The new product version's snapshot; once submitted its BRE results (the old product's overrides, CAM and
        CX approval cleared: the application is back in the CX's queue, or rejected by the BRE)."""
        rerun = event.results is not None
        rejected = event.status is LoanStatus.REJECTED and event.previous_status is not LoanStatus.REJECTED
        yield self._moved(
            event,
            "product_id = %s, product_version = %s, amount = %s, tenure = %s, coupon_code = %s, pricing = %s, "
            "instalment = %s, facts = CASE WHEN %s THEN %s ELSE facts END, "
            "results = CASE WHEN %s THEN %s ELSE results END, passed = CASE WHEN %s THEN %s ELSE passed END, "
            "rejected_on = CASE WHEN %s THEN COALESCE(%s, %s::date) ELSE rejected_on END, overrides = '{}', cam = NULL, "
            "cx_approved_amount = NULL, cx_approved_by = NULL, cx_approved_at = NULL, cx_approved_on = NULL, "
            "escalation = NULL",
            (event.product_id, event.product_version, event.amount, event.tenure, event.coupon_code,
             Jsonb(event.pricing.model_dump(mode="json")), event.instalment, rerun, Jsonb(event.facts), rerun,
             Jsonb(event.results or []), rerun, event.passed, rejected, event.rejected_on, event.timestamp),
        )  # fmt: skip
        details = {
            "previous_product_id": str(event.previous_product_id), "product_id": str(event.product_id),
            "previous_product_version": event.previous_product_version, "product_version": event.product_version,
            "product_code": event.terms.code, "previous_amount": _money(event.previous_amount),
            "amount": _money(event.amount), "previous_tenure": event.previous_tenure, "tenure": event.tenure,
            "previous_status": event.previous_status.value, "net_disbursed": _money(event.pricing.net_disbursed),
            "instalment": _money(event.instalment), "coupon_code": event.coupon_code,
            "coupon_dropped": event.coupon_dropped, "coupon_dropped_reason": event.coupon_dropped_reason,
            "passed": event.passed, "results": event.results,
        }  # fmt: skip
        yield from self._logged(event, "product_changed", details)

    @handles(
        L.AgreementIssued,
        L.EsignExpired,
        L.Signed,
        L.DisbursalQueued,
        L.DisbursalInitiated,
        L.DisbursalFailed,
        L.PayoutExported,
        L.PayoutReturned,
        L.Disbursed,
    )
    def _payout(self, position: int, event: Any) -> Iterator[Change]:
        """E-sign and payout events: status (for a transition), the disbursal date, the timeline with the event's
        own fields (the e-sign and disbursement blocks refine these)."""
        if isinstance(event, Transitioned):
            disbursed_on = getattr(event, "disbursed_on", None)
            yield self._moved(event, "disbursed_on = COALESCE(%s, disbursed_on)", (disbursed_on,))
        else:
            yield Write(
                "UPDATE read.loans SET version = %s, updated_at = %s WHERE id = %s",
                (event.originator_version, event.timestamp, event.originator_id),
            )
        base = {"originator_id", "originator_version", "timestamp", "actor", "trace_id", "status", "reason"}
        details = {k: v for k, v in event.model_dump(mode="json").items() if k not in base}
        yield from self._logged(event, _kind(type(event).__name__), details)


def _kind(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
