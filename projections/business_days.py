"""The business day a loan event happened on, for the read models that file loan facts by day (the reports'
`read.loans` and `read.loan_events` dates, the dashboard's per-day figures): the brand's business date the event
carries, never the instant it was recorded (docs/reports.md, "Which date a report files a fact on"). Every loan event
filed by day carries one (`DATE_FIELDS`: the assignments, escalations, e-sign, payout and COB status moves too);
one stored before its field existed is filed on the brand's local day of its instant (`LOCAL_DAY_FUNCTION`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.loans import loan_events as ev
from domain.loans import recovery_events as rv
from domain.loans import servicing_events as sv
from domain.loans.loan import Loan

L = Loan

#: `read.brand_local_day(brand, at)`: the brand's local day of an instant, in the timezone that was the brand's at that
#: instant (`read.brand_timezones`, the brand directory's history: a timezone changed later does not move the day of
#: an earlier instant, so a read model rebuilt after the change files every event on the day it was filed on live).
#: Without a history row, the directory's timezone (a directory loaded directly, as some tests do); Asia/Kolkata while
#: the directory has not got the brand, or where it has no tables (a read model built alone). PL/pgSQL plans the
#: directory's queries only when they run, so they may be missing.
LOCAL_DAY_FUNCTION = """CREATE OR REPLACE FUNCTION read.brand_local_day(brand uuid, at timestamptz) RETURNS date
    LANGUAGE plpgsql STABLE AS $$
    BEGIN
        IF to_regclass('read.brand_timezones') IS NULL THEN
            RETURN (at AT TIME ZONE 'Asia/Kolkata')::date;
        END IF;
        RETURN (at AT TIME ZONE COALESCE((SELECT t.timezone FROM read.brand_timezones t WHERE t.brand_id = brand
                                          AND t.since <= at ORDER BY t.since DESC LIMIT 1),
                                         (SELECT b.timezone FROM read.brands b WHERE b.id = brand),
                                         'Asia/Kolkata'))::date;
    END $$"""


#: The field holding the business date each loan event carries itself: the brand's business date when it was recorded,
#: named after the event (`<event in snake case>_on`), or the business day the fact happened on where the event has
#: its own (`disbursed_on`, `reversed_on`, a close of business's `business_date`, a decision's `decided_on`). Looked up
#: along the event's class's MRO (the Loan class names these very classes).
DATE_FIELDS: dict[type, str] = {
    L.Created: "created_on",
    L.Submitted: "submitted_on",
    L.BreOverridden: "bre_overridden_on",
    L.Bypassed: "bypassed_on",
    L.Assigned: "assigned_on",
    L.Cancelled: "cancelled_on",
    L.Rejected: "rejected_on",
    ev.CamRecorded: "cam_recorded_on",
    ev.CxApproved: "cx_approved_on",
    ev.SentBack: "sent_back_on",
    ev.Escalated: "escalated_on",
    ev.SanctionAssigned: "sanction_assigned_on",
    ev.Sanctioned: "sanctioned_on",
    ev.AgreementIssued: "agreement_issued_on",
    ev.EsignExpired: "esign_expired_on",
    ev.Signed: "signed_on",
    ev.DisbursalQueued: "disbursal_queued_on",
    ev.DisbursalInitiated: "disbursal_initiated_on",
    ev.DisbursalFailed: "disbursal_failed_on",
    ev.PayoutExported: "payout_exported_on",
    ev.PayoutReturned: "payout_returned_on",
    ev.Disbursed: "disbursed_on",
    ev.Reactivated: "reactivated_on",
    ev.ProductChanged: "product_changed_on",
    sv.RepaymentReversed: "reversed_on",
    sv.DayClosed: "business_date",
    sv.StatusMoved: "status_moved_on",
    rv.CollectionApproved: "decided_on",
    rv.CollectionRejected: "decided_on",
    rv.WaiverApproved: "waived_on",
    rv.WaiverRejected: "decided_on",
    rv.SettlementApproved: "decided_on",
    rv.SettlementRejected: "decided_on",
    rv.WriteOffApproved: "decided_on",
    rv.WriteOffRejected: "decided_on",
}

#: Loan events that are filed by no day (no timeline entry, no dated figure): they need no business date of their own.
UNDATED = (sv.ServicingOpened, sv.NoDueCertificateIssued)


def business_day(event: Any) -> date | None:
    """The business date the event itself carries, if any (None for an event stored before its field existed, and
    for the events that carry none). A repayment's (and a recovery's) is the day it was recorded on (`recorded_on`;
    the daily figures file its money on `paid_on`); a close of business's is its business date; a request's (a
    collection, a waiver, a settlement) the day it was made. A BRE override or a product change stored before it
    carried its own date still has the day of the rejection it made, if any (`rejected_on`)."""
    if isinstance(event, sv.RepaymentRecorded | rv.RecoveryRecorded):
        payment = getattr(event, "payment", None)
        return None if payment is None else payment.recorded_on
    if isinstance(event, rv.Settled | rv.WrittenOff):
        ending = getattr(event, "ending", None)
        return None if ending is None else ending.on
    if isinstance(event, rv.CollectionRequested):
        return event.request.requested_on
    if isinstance(event, rv.WaiverRequested):
        return event.waiver.requested_on
    if isinstance(event, rv.SettlementProposed):
        return event.settlement.proposed_on
    if isinstance(event, rv.WriteOffProposed):
        return event.write_off.proposed_on
    for cls in type(event).__mro__:
        field = DATE_FIELDS.get(cls)
        if field is not None:
            on: date | None = getattr(event, field, None)
            if on is None and isinstance(event, L.BreOverridden | ev.ProductChanged):
                return getattr(event, "rejected_on", None)
            return on
    return None
