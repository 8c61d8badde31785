"""The business day a loan event happened on, for the read models that file loan facts by day (the reports'
`read.loans` and `read.loan_events` dates, the dashboard's per-day figures): the brand's business date the event
carries, never the instant it was recorded (docs/reports.md, "Which date a report files a fact on"). An event that
carries none - one stored before its field existed, or one that has no business date at all (an assignment, an
escalation) - is filed on the brand's local day of its instant (`LOCAL_DAY_FUNCTION`)."""

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


def business_day(event: Any) -> date | None:
    """The business date the event itself carries, if any (None for an event stored before its field existed, and
    for the events that carry none). A repayment's is the day it was recorded on (`recorded_on`; the daily figures
    file its money on `paid_on`); a close of business's is its business date."""
    if isinstance(event, L.Created):
        return getattr(event, "created_on", None)
    if isinstance(event, L.Submitted):
        return getattr(event, "submitted_on", None)
    if isinstance(event, ev.CxApproved):
        return getattr(event, "cx_approved_on", None)
    if isinstance(event, ev.Sanctioned):
        return getattr(event, "sanctioned_on", None)
    if isinstance(event, ev.SentBack):
        return getattr(event, "sent_back_on", None)
    if isinstance(event, ev.Disbursed):
        return getattr(event, "disbursed_on", None)
    if isinstance(event, L.Rejected | L.BreOverridden | ev.ProductChanged):
        return getattr(event, "rejected_on", None)
    if isinstance(event, sv.RepaymentRecorded):
        payment = getattr(event, "payment", None)
        return None if payment is None else payment.recorded_on
    if isinstance(event, sv.RepaymentReversed):
        return getattr(event, "reversed_on", None)
    if isinstance(event, sv.DayClosed):
        return getattr(event, "business_date", None)
    if isinstance(event, rv.WaiverApproved):
        return getattr(event, "waived_on", None)
    if isinstance(event, rv.Settled | rv.WrittenOff):
        ending = getattr(event, "ending", None)
        return None if ending is None else ending.on
    return None
