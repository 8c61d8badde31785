"""Read models of loans: one row per loan (`read.loans`, the queue's filters indexed), each loan's timeline
(`read.loan_events`: every event with its actor, reason and status) and the BRE history (`read.bre_history`, for
backtests; DDL and rows from projections/bre_history.py). Queries: projections/loan_queries.py."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.loans import servicing_events as sv
from domain.loans.application import Loans
from domain.loans.loan import Loan, Transitioned
from domain.loans.states import CLOSED as CLOSED_STATES
from domain.loans.states import LoanStatus
from domain.onboarding.funnel import CLOSED_ONBOARDING
from projections.bre_history import BRE_HISTORY_DDL, BRE_HISTORY_TABLE
from projections.business_days import LOCAL_DAY_FUNCTION, business_day
from projections.insight_indexes import LOAN_SEARCH_DDL
from projections.loan_decision_views import BUSINESS_DAYS_DDL, DAY_OF_EVENT, DECISION_DDL, SM_FIGURES_TABLE, sm_counted
from projections.loan_dpd_buckets import DPD_BUCKETS_DDL
from projections.loan_recovery_views import LoanRecoveryViews
from projections.loan_servicing_views import SERVICING_DDL
from projections.projection import Change, Insert, Write, handles

L = Loan

#: Statuses that hold no open application or loan (counted neither for max_active_loans nor for workload).
CLOSED = tuple(sorted(s.value for s in CLOSED_STATES))
#: The timeline's rows of a cancel made by closing the borrower's onboarding (its reason `CLOSED_ONBOARDING` and the
#: close's): the predicate of their partial index, which a query must repeat to use it.
CLOSE_CANCELS = f"kind = 'cancelled' AND starts_with(reason, '{CLOSED_ONBOARDING}')"

#: The batch's latest version of each loan it saw, on `read.loans` in one statement (`LoanViews.end_batch`): never
#: backwards, and a row whose own handler already wrote that version is left alone (not rewritten).
_VERSIONS = (
    "UPDATE read.loans l SET version = v.version FROM unnest(%b::uuid[], %b::int[]) AS v(id, version) "
    "WHERE l.id = v.id AND l.version < v.version"
)


class LoanViews(LoanRecoveryViews):
    """The loans queue and detail rows, the timeline of each loan, and the BRE history."""

    name = "loans"
    source = Loans.name
    tables = ("read.loans", "read.loan_events", BRE_HISTORY_TABLE, SM_FIGURES_TABLE, "read.loan_dpd_buckets")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.loans (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            loan_number text NOT NULL,
            customer_id uuid NOT NULL,
            product_id uuid NOT NULL,
            product_version int NOT NULL,
            amount numeric(16, 2) NOT NULL,
            tenure int NOT NULL,
            coupon_code text,
            channel text NOT NULL,
            pricing jsonb NOT NULL,
            instalment numeric(16, 2) NOT NULL,
            status text NOT NULL,
            assignee uuid,
            submitted_on date,
            passed boolean,
            rejected_on date,
            facts jsonb,
            policy jsonb,
            results jsonb NOT NULL DEFAULT '[]',
            overrides jsonb NOT NULL DEFAULT '{}',
            bypassed text[] NOT NULL DEFAULT '{}',
            version int NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS read.loan_events (
            loan_id uuid NOT NULL,
            version int NOT NULL,
            brand_id uuid NOT NULL,
            kind text NOT NULL,
            status text,
            actor text NOT NULL,
            reason text,
            details jsonb NOT NULL DEFAULT '{}',
            at timestamptz NOT NULL,
            PRIMARY KEY (loan_id, version)
        )""",
        *BRE_HISTORY_DDL,
        "CREATE UNIQUE INDEX IF NOT EXISTS loans_number_idx ON read.loans (brand_id, loan_number)",
        "CREATE INDEX IF NOT EXISTS loans_brand_idx ON read.loans (brand_id, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS loans_status_idx ON read.loans (brand_id, status, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS loans_assignee_idx ON read.loans (brand_id, assignee, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS loans_customer_idx ON read.loans (brand_id, customer_id, status)",
        # The onboarding-inactive job's reconciliation walks the cancels made by closing an onboarding
        # (`OnboardingQueries.unfinished_closes`): a few of the timeline's rows, however long it grows.
        f"CREATE INDEX IF NOT EXISTS loan_events_close_cancels_idx ON read.loan_events (brand_id, at, loan_id) "
        f"WHERE {CLOSE_CANCELS}",
        "CREATE INDEX IF NOT EXISTS loans_coupon_idx ON read.loans (brand_id, product_id, coupon_code) "
        "WHERE coupon_code IS NOT NULL",
        *DECISION_DDL,
        LOCAL_DAY_FUNCTION,
        BUSINESS_DAYS_DDL,
        *SERVICING_DDL,
        *LOAN_SEARCH_DDL,
        *DPD_BUCKETS_DDL,  # (after the columns it reads; its triggers are made with its table)
    )

    def __init__(self) -> None:
        self._versions: dict[UUID, int] = {}  # loan id -> the latest version of it the batch saw

    def begin_batch(self) -> None:
        self._versions = {}

    def project(self, position: int, event: Any) -> Iterable[Change]:
        """The event's handler's writes; its version is noted for `end_batch`, so that every Loan event this
        projection reads moves `read.loans.version` - those that only add a timeline row (a waiver, collection or
        settlement request or decision, a recovery, the no-due certificate) as well as those that change the row."""
        versions, loan_id, version = self._versions, event.originator_id, event.originator_version
        if versions.get(loan_id, 0) < version:
            versions[loan_id] = version
        return super().project(position, event)

    def end_batch(self) -> Iterable[Change]:
        """The batch's loans at the latest version it saw of each (one UPDATE, after the batch's other writes)."""
        versions, self._versions = self._versions, {}
        if versions:
            yield Write(_VERSIONS, (list(versions), list(versions.values())))

    @handles(L.NoDueCertificateIssued)
    def _no_due(self, position: int, event: sv.NoDueCertificateIssued) -> Iterator[Change]:
        """Read for its version only (`end_batch`): the certificate is served from the aggregate
        (api/services/no_due.py)."""
        return iter(())

    @handles(L.Created)
    def _created(self, position: int, event: L.Created) -> Iterator[Change]:
        yield Insert(
            "read.loans",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "loan_number": event.loan_number,
                "customer_id": event.customer_id,
                "product_id": event.product_id,
                "product_version": event.product_version,
                "amount": event.amount,
                "tenure": event.tenure,
                "coupon_code": event.coupon_code,
                "channel": event.channel.value,
                "pricing": event.pricing.model_dump(mode="json"),
                "instalment": event.instalment,
                "status": LoanStatus.ONBOARDING.value,
                "version": event.originator_version,
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
                "created_on": business_day(event),
            },
        )
        details = {
            "amount": str(event.amount), "tenure": event.tenure, "product_version": event.product_version,
            "coupon_code": event.coupon_code, "channel": event.channel.value, "loan_number": event.loan_number,
        }  # fmt: skip
        yield Insert(
            "read.loan_events",
            {
                "loan_id": event.originator_id,
                "version": event.originator_version,
                "brand_id": event.brand_id,
                "kind": "created",
                "status": LoanStatus.ONBOARDING.value,
                "actor": event.actor,
                "reason": "application started",
                "details": details,
                "at": event.timestamp,
                "day": business_day(event),
            },
        )
        if business_day(event) is None:  # stored before its business date was recorded: the brand's local day
            yield Write(
                "UPDATE read.loans SET created_on = read.brand_local_day(brand_id, created_at) WHERE id = %s",
                (event.originator_id,),
            )
            yield Write(
                "UPDATE read.loan_events SET day = read.brand_local_day(brand_id, at) WHERE loan_id = %s "
                "AND version = %s",
                (event.originator_id, event.originator_version),
            )

    @handles(L.Submitted)
    def _submitted(self, position: int, event: L.Submitted) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loans SET status = %s, submitted_on = %s, passed = %s, facts = %s, policy = %s, "
            "results = %s, rejected_on = CASE WHEN %s THEN %s ELSE rejected_on END, version = %s, updated_at = %s "
            "WHERE id = %s",
            (event.status.value, event.submitted_on, event.passed, Jsonb(event.facts), Jsonb(event.policy),
             Jsonb(event.results), event.status is LoanStatus.REJECTED, event.submitted_on, event.originator_version,
             event.timestamp, event.originator_id),
        )  # fmt: skip
        yield from self._logged(event, "submitted", {"passed": event.passed, "results": event.results})
        yield Write(
            "INSERT INTO read.bre_history (loan_id, brand_id, product_id, product_version, submitted_at, submitted_on, "
            "facts, policy, passed) SELECT l.id, l.brand_id, l.product_id, l.product_version, %s, %s, %s, %s, %s "
            "FROM read.loans l WHERE l.id = %s ON CONFLICT (loan_id) DO NOTHING",
            (event.timestamp, event.submitted_on, Jsonb(event.facts), Jsonb(event.policy), event.passed,
             event.originator_id),
        )  # fmt: skip

    @handles(L.BreOverridden)
    def _overridden(self, position: int, event: L.BreOverridden) -> Iterator[Change]:
        override = {"outcome": event.outcome.value, "justification": event.justification, "actor": event.actor,
                    "at": event.timestamp.isoformat()}  # fmt: skip
        yield Write(
            "UPDATE read.loans SET status = %s, overrides = overrides || jsonb_build_object(%s::text, %s::jsonb), "
            "rejected_on = CASE WHEN %s THEN COALESCE(%s, %s::date) ELSE rejected_on END, version = %s, "
            "updated_at = %s WHERE id = %s",
            (event.status.value, event.rule.value, Jsonb(override), event.status is LoanStatus.REJECTED,
             event.rejected_on, event.timestamp, event.originator_version, event.timestamp, event.originator_id),
        )  # fmt: skip
        yield from self._logged(event, "bre_overridden", {"rule": event.rule.value, "outcome": event.outcome.value,
                                                          "justification": event.justification})  # fmt: skip

    @handles(L.Bypassed)
    def _bypassed(self, position: int, event: L.Bypassed) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loans SET status = %s, bypassed = array_append(bypassed, %s), "
            "results = COALESCE(%s, results), version = %s, updated_at = %s WHERE id = %s",
            (event.status.value, event.check.value, None if event.results is None else Jsonb(event.results),
             event.originator_version, event.timestamp, event.originator_id),
        )  # fmt: skip
        yield from self._logged(event, "bypassed", {"check": event.check.value, "results": event.results})

    @handles(L.Assigned)
    def _assigned(self, position: int, event: L.Assigned) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loans SET assignee = %s, version = %s, updated_at = %s WHERE id = %s",
            (event.staff_id, event.originator_version, event.timestamp, event.originator_id),
        )
        yield from self._logged(event, "assigned", {
            "staff_id": str(event.staff_id), "by": event.by.value,
            "previous_staff_id": str(event.previous_staff_id) if event.previous_staff_id else None,
        })  # fmt: skip

    @handles(L.Cancelled, L.Rejected)
    def _closed(self, position: int, event: L.Cancelled | L.Rejected) -> Iterator[Change]:
        rejected = isinstance(event, L.Rejected)
        rejection = _rejection(event) if isinstance(event, L.Rejected) else None
        # the brand's business date the rejection recorded; on events stored before it was, the date of the instant
        on = event.rejected_on if isinstance(event, L.Rejected) else None
        by_sm = isinstance(event, L.Rejected) and event.previous_status is LoanStatus.CX_APPROVED
        yield Write(
            "UPDATE read.loans SET status = %s, "
            "rejected_on = CASE WHEN %s THEN COALESCE(%s, %s::date) ELSE rejected_on END, "
            "rejection = COALESCE(%s, rejection), sm_actor = CASE WHEN %s THEN %s ELSE sm_actor END, "
            "status_since = %s, version = %s, updated_at = %s WHERE id = %s",
            (event.status.value, rejected, on, event.timestamp,
             None if rejection is None else Jsonb(rejection), by_sm, event.actor, event.timestamp,
             event.originator_version, event.timestamp, event.originator_id),
        )  # fmt: skip
        if by_sm:
            yield sm_counted(event, "rejected")
        details = {"reason_code": event.reason_code, "remarks": event.remarks} if isinstance(event, L.Rejected) else {}
        yield from self._logged(event, "rejected" if rejected else "cancelled", details)

    @handles(Transitioned)
    def _transitioned(self, position: int, event: Transitioned) -> Iterator[Change]:
        """Any later transition this projection has no handler for yet: status and timeline."""
        yield Write(
            "UPDATE read.loans SET status = %s, version = %s, updated_at = %s WHERE id = %s",
            (event.status.value, event.originator_version, event.timestamp, event.originator_id),
        )
        yield from self._logged(event, re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower(), {})

    # The timeline --------------------------------------------------------------------------------------------

    def _logged(self, event: Any, kind: str, details: dict[str, Any]) -> Iterable[Change]:
        yield Write(
            "INSERT INTO read.loan_events (loan_id, version, brand_id, kind, status, actor, reason, details, at, day) "
            f"SELECT %s, %s, brand_id, %s, %s, %s, %s, %s, %s, {DAY_OF_EVENT} FROM read.loans WHERE id = %s "
            "ON CONFLICT (loan_id, version) DO NOTHING",
            (event.originator_id, event.originator_version, kind, _status(event), event.actor,
             getattr(event, "reason", None), Jsonb(details), event.timestamp, business_day(event), event.timestamp,
             event.originator_id),
        )  # fmt: skip


def _rejection(event: Any) -> dict[str, Any]:
    previous = event.previous_status.value if event.previous_status is not None else None
    return {"code": event.reason_code, "label": event.reason, "remarks": event.remarks, "by": previous,
            "actor": event.actor, "at": event.timestamp.isoformat()}  # fmt: skip


def _status(event: Any) -> str | None:
    status = getattr(event, "status", None)
    return None if status is None else str(status.value if isinstance(status, LoanStatus) else status)
