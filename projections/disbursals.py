"""The disbursal read model: one row per loan that reached the Ops queue (`read.loan_disbursals`: net amount,
payout state, mode, gateway reference, attempts, failure reason, exported payout file) and its payout attempts
(`read.loan_payout_attempts`); the loan's timeline of these events is the loans projection's. Each loan's brand is
kept from its `Loan.Created` in a table of the projection's own (`read.loan_disbursal_brands`,
projections/loan_brands.py), so a queued loan's row never depends on where another read model is.
Queries: projections/disbursal_queries.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.loans.loan_events import (
    DisbursalFailed,
    DisbursalInitiated,
    DisbursalQueued,
    Disbursed,
    PayoutExported,
    PayoutReturned,
)
from projections.loan_brands import brand_of, loan_brand_row, loan_brands_ddl
from projections.projection import Change, Projection, Write, handles

L = Loan  # the aggregate's own event classes (their stored topics are `Loan.<Event>`)

#: Each loan's brand, from its `Loan.Created` (the later loan events carry none).
BRANDS = "read.loan_disbursal_brands"

#: Payout states of a loan in the read model: queued (no attempt yet), initiated, failed, exported (in a bank
#: payout file), disbursed, cancelled (left the queue before money went out).
STATES = ("queued", "initiated", "failed", "exported", "disbursed", "cancelled")


class DisbursalViews(Projection):
    """Loans in (and through) the Ops disbursal queue, and their payout attempts."""

    name = "disbursals"
    source = Loans.name
    tables = (BRANDS, "read.loan_disbursals", "read.loan_payout_attempts")
    ddl = (
        loan_brands_ddl(BRANDS, "read.loan_disbursals"),  # (before read.loan_disbursals: see loan_brands_ddl)
        """CREATE TABLE IF NOT EXISTS read.loan_disbursals (
            loan_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            net_disbursed numeric(16, 2) NOT NULL,
            bank_account_ref text NOT NULL,
            state text NOT NULL,
            mode text,
            gateway_reference text,
            attempts int NOT NULL DEFAULT 0,
            reason text,
            exported_file_id text,
            disbursed_on date,
            queued_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS read.loan_payout_attempts (
            loan_id uuid NOT NULL,
            attempt int NOT NULL,
            brand_id uuid NOT NULL,
            mode text NOT NULL,
            gateway_reference text NOT NULL,
            amount numeric(16, 2) NOT NULL,
            state text NOT NULL,
            reason text,
            actor text NOT NULL,
            initiated_at timestamptz NOT NULL,
            settled_at timestamptz,
            PRIMARY KEY (loan_id, attempt)
        )""",
        "CREATE INDEX IF NOT EXISTS loan_disbursals_file_idx ON read.loan_disbursals (brand_id, exported_file_id) "
        "WHERE exported_file_id IS NOT NULL",
    )

    @handles(L.Created)
    def _created(self, position: int, event: L.Created) -> Iterator[Change]:
        yield loan_brand_row(BRANDS, event.originator_id, event.brand_id)

    @handles(L.DisbursalQueued)
    def _queued(self, position: int, event: DisbursalQueued) -> Iterator[Change]:
        yield Write(
            "INSERT INTO read.loan_disbursals (loan_id, brand_id, net_disbursed, bank_account_ref, state, queued_at, "
            f"updated_at) VALUES (%s, {brand_of(BRANDS)}, %s, %s, 'queued', %s, %s) "
            "ON CONFLICT (loan_id) DO UPDATE SET net_disbursed = EXCLUDED.net_disbursed, "
            "bank_account_ref = EXCLUDED.bank_account_ref, state = 'queued', reason = NULL, exported_file_id = NULL, "
            "queued_at = EXCLUDED.queued_at, updated_at = EXCLUDED.updated_at",
            (event.originator_id, event.originator_id, event.net_disbursed, event.bank_account_ref, event.timestamp,
             event.timestamp),
        )  # fmt: skip

    @handles(L.DisbursalInitiated)
    def _initiated(self, position: int, event: DisbursalInitiated) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loan_disbursals SET state = 'initiated', mode = %s, gateway_reference = %s, attempts = %s, "
            "reason = NULL, updated_at = %s WHERE loan_id = %s",
            (event.mode.value, event.gateway_reference, event.attempt, event.timestamp, event.originator_id),
        )
        yield Write(
            "INSERT INTO read.loan_payout_attempts (loan_id, attempt, brand_id, mode, gateway_reference, amount, "
            "state, actor, initiated_at) SELECT %s, %s, brand_id, %s, %s, %s, 'initiated', %s, %s "
            "FROM read.loan_disbursals WHERE loan_id = %s ON CONFLICT (loan_id, attempt) DO NOTHING",
            (event.originator_id, event.attempt, event.mode.value, event.gateway_reference, event.amount,
             event.actor, event.timestamp, event.originator_id),
        )  # fmt: skip

    @handles(L.DisbursalFailed)
    def _failed(self, position: int, event: DisbursalFailed) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loan_disbursals SET state = 'failed', reason = %s, updated_at = %s "
            "WHERE loan_id = %s AND gateway_reference = %s",
            (event.reason, event.timestamp, event.originator_id, event.reference),
        )
        yield Write(
            "UPDATE read.loan_payout_attempts SET state = 'failed', reason = %s, settled_at = %s "
            "WHERE loan_id = %s AND gateway_reference = %s",
            (event.reason, event.timestamp, event.originator_id, event.reference),
        )

    @handles(L.Disbursed)
    def _disbursed(self, position: int, event: Disbursed) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loan_disbursals SET state = 'disbursed', disbursed_on = %s, reason = NULL, updated_at = %s "
            "WHERE loan_id = %s",
            (event.disbursed_on, event.timestamp, event.originator_id),
        )
        yield Write(
            "UPDATE read.loan_payout_attempts SET state = 'confirmed', settled_at = %s "
            "WHERE loan_id = %s AND gateway_reference = %s",
            (event.timestamp, event.originator_id, event.reference),
        )

    @handles(L.PayoutExported)
    def _exported(self, position: int, event: PayoutExported) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loan_disbursals SET state = 'exported', exported_file_id = %s, updated_at = %s "
            "WHERE loan_id = %s",
            (event.payout_file_id, event.timestamp, event.originator_id),
        )

    @handles(L.PayoutReturned)
    def _returned(self, position: int, event: PayoutReturned) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loan_disbursals SET state = CASE WHEN attempts > 0 THEN 'failed' ELSE 'queued' END, "
            "exported_file_id = NULL, reason = %s, updated_at = %s WHERE loan_id = %s",
            (event.reason, event.timestamp, event.originator_id),
        )

    @handles(L.Cancelled)
    def _cancelled(self, position: int, event: Any) -> Iterator[Change]:
        yield Write(
            "UPDATE read.loan_disbursals SET state = 'cancelled', updated_at = %s WHERE loan_id = %s",
            (event.timestamp, event.originator_id),
        )
