"""The loans read model's part for servicing (issue #15): the status and timeline of repayments, reversals and the
state moves of the close of business, and the servicing columns of `read.loans` (DPD, class, how far COB ran) that
the COB job partitions and the lists read. `LoanViews` (projections/loans.py) inherits these handlers; each event
class is handled by name (a projection reads only the topics it handles)."""

from __future__ import annotations

from collections.abc import Iterator

from domain.loans import servicing_events as sv
from domain.loans.loan import Loan
from domain.loans.states import SERVICING_CODES, LoanStatus
from projections.loan_decision_views import LoanDecisionViews
from projections.projection import Change, Write, handles

L = Loan

#: The servicing columns, added to `read.loans`, and the index the COB job pages the serviced loans by.
SERVICING_DDL = (
    "ALTER TABLE read.loans ADD COLUMN IF NOT EXISTS dpd int, ADD COLUMN IF NOT EXISTS asset_class text, "
    "ADD COLUMN IF NOT EXISTS cob_through date",
    "CREATE INDEX IF NOT EXISTS loans_serviced_idx ON read.loans (brand_id, id) "
    "WHERE status IN (" + ", ".join(f"'{code}'" for code in SERVICING_CODES) + ")",
)


class LoanServicingViews(LoanDecisionViews):
    """Handlers of the servicing events (a base of `LoanViews`)."""

    @handles(L.ServicingOpened)
    def _opened(self, position: int, event: sv.ServicingOpened) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loans SET dpd = 0, asset_class = 'standard', version = %s, updated_at = %s WHERE id = %s",
            (event.originator_version, event.timestamp, event.originator_id),
        )

    @handles(L.RepaymentRecorded)
    def _repaid(self, position: int, event: sv.RepaymentRecorded) -> Iterator[Change]:
        if event.status == LoanStatus.COMPLETED:
            # Paid off: nothing is overdue (DPD 0) and all of it was paid, so the class is standard (LENDING.md); no
            # close of business comes again to say so, and Customer 360 and the reports read these columns.
            yield self._moved(event, "dpd = 0, asset_class = 'standard'")
        else:
            yield self._standing(event)
        p = event.payment
        details = {"payment_id": p.payment_id, "amount": str(p.amount), "mode": str(p.mode),
                   "reference": p.reference, "paid_on": p.paid_on.isoformat(), "closes_loan": p.closes_loan,
                   "payoff_after": str(p.payoff_after)}  # fmt: skip
        yield from self._logged(event, "repayment_recorded", details)

    @handles(L.RepaymentReversed)
    def _reversed(self, position: int, event: sv.RepaymentReversed) -> Iterator[Change]:
        yield self._standing(event)
        details = {"payment_id": event.payment_id, "amount": str(event.amount),
                   "reversed_on": event.reversed_on.isoformat()}  # fmt: skip
        if event.no_due_withdrawn is not None:  # it re-opened the completed loan: its certificate withdrawn
            details["no_due_withdrawn"] = event.no_due_withdrawn
        yield from self._logged(event, "repayment_reversed", details)

    def _standing(self, event: sv.RepaymentRecorded | sv.RepaymentReversed) -> Write:
        """The status the payment or reversal left, with DPD and class on the business date beside it (events
        recorded before they carried them: DPD and class of the last close of business stay)."""
        if event.dpd is None or event.asset_class is None:
            return self._moved(event)
        return self._moved(event, "dpd = %s, asset_class = %s", (event.dpd, event.asset_class))

    @handles(L.DayClosed)
    def _closed_day(self, position: int, event: sv.DayClosed) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loans SET dpd = %s, asset_class = %s, cob_through = %s, version = %s, updated_at = %s "
            "WHERE id = %s",
            (event.dpd, event.asset_class, event.business_date, event.originator_version, event.timestamp,
             event.originator_id),
        )  # fmt: skip

    @handles(L.StatusMoved)
    def _status_moved(self, position: int, event: sv.StatusMoved) -> Iterator[Change]:
        yield self._moved(event)
        yield from self._logged(event, "status_moved", {"dpd": event.dpd, "asset_class": event.asset_class})
