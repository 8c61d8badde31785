"""CSV exports of a loan for auditors and spreadsheets (issue #15 item 7): its history (every event: who, when,
what) and its ledger (every posting with the running outstanding split) — `GET /api/v1/loans/{id}/history.csv`
and `/ledger.csv`.

Excel-friendly: UTF-8 with a byte-order mark (so Excel reads rupee signs and names right), CRLF rows, RFC 4180
quoting; text cells a spreadsheet would run as a formula (=, +, -, @, tab, CR first) are prefixed with `'`. The
figures are computed before the answer starts (a refusal is still a problem+json); the rows are streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from starlette.responses import StreamingResponse

from api.csv_download import csv_chunks, safe
from api.endpoint import Context, Endpoint, serve
from api.routes.audit import HistoryOut
from api.routes.servicing_models import LedgerOut
from domain.audit.replay import AuditReplay
from domain.identity.permissions import Level, Permission
from domain.loans.application import Loans
from domain.loans.servicing_views import ledger

READ = (Permission.LOANS, Level.READ)


@dataclass(frozen=True)
class LoanExportPort:
    """What the exports use: the loans application (the ledger) and the auditor replay (the history)."""

    loans: Loans
    replay: AuditReplay


def _download(chunks: Iterator[bytes], filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def history_csv(ctx: Context[LoanExportPort]) -> StreamingResponse:
    loan_id: UUID = ctx.path["loan_id"]
    loan = ctx.port.loans.get(ctx.brand_id, loan_id)  # 404 for another brand's loan
    entries = ctx.port.replay.history("loan", loan_id, ctx.brand_id)
    rows = (
        (e.version, e.event, e.occurred_at.isoformat(), safe(e.actor), e.trace_id or "", safe(json.dumps(e.data)))
        for e in entries
    )
    header = ("version", "event", "occurred_at", "actor", "trace_id", "data")
    return _download(csv_chunks(header, rows), f"loan-{loan.loan_number}-history.csv")


def ledger_csv(ctx: Context[LoanExportPort]) -> StreamingResponse:
    loan_id: UUID = ctx.path["loan_id"]
    loan = ctx.port.loans.serviced(ctx.brand_id, loan_id)
    as_of = ctx.port.loans.parties.business_date(ctx.brand_id)
    postings = ledger(loan, as_of)
    header = ("date", "kind", "description", "amount", "principal", "interest", "penal", "fees", "payment_id",
              "outstanding_principal", "outstanding_interest", "outstanding_penal", "outstanding_fees",
              "outstanding_total")  # fmt: skip
    rows = (
        (
            p.on.isoformat(),
            p.kind,
            safe(p.description),
            p.amount,
            p.principal,
            p.interest,
            p.penal,
            p.fees,
            p.payment_id or "",
            p.running.principal,
            p.running.interest,
            p.running.penal,
            p.running.fees,
            p.running.total,
        )
        for p in postings
    )
    return _download(csv_chunks(header, rows), f"loan-{loan.loan_number}-ledger-{as_of.isoformat()}.csv")


_LOAN = "/api/v1/loans/{loan_id}"

ENDPOINTS = serve(
    LoanExportPort,
    "loans",
    [
        Endpoint(
            "GET",
            f"{_LOAN}/history.csv",
            history_csv,
            "The loan's history as CSV (UTF-8 with BOM): version, event, occurred_at, actor, trace_id, data (JSON)",
            READ,
            response=HistoryOut,
            media=("text/csv",),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/ledger.csv",
            ledger_csv,
            "The loan ledger through the business date as CSV (UTF-8 with BOM): each posting, what it moved in "
            "each bucket and the running outstanding",
            READ,
            response=LedgerOut,
            media=("text/csv",),
            errors=(409,),
        ),
    ],
)
