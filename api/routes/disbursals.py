"""Disbursal endpoints (LOAN_OPS): initiate a payout, the gateway's webhook, the Ops queue, payout files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import Response

from adapters.payout_files import XLSX_MEDIA_TYPE
from adapters.payout_store import PayoutFileRecord
from adapters.webhooks import MALFORMED_HEADER, MISSING_HEADER, WebhookRejected
from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.problems import HttpProblem
from api.request_input import read_body
from api.routes.disbursal_models import (
    DisburseIn,
    DisburseOut,
    PayoutFileIn,
    PayoutFileListOut,
    PayoutFileOut,
    QueuePageOut,
    QueueQuery,
    ReturnIn,
    WebhookOut,
)
from api.services.disbursal_views import DisbursementBlocks
from api.services.disbursals import Disbursals
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.loans.application import Loans
from projections.disbursal_queries import DisbursalQueries

READ = (Permission.LOAN_OPS, Level.READ)
WRITE = (Permission.LOAN_OPS, Level.WRITE)
WEBHOOK_PATH = "/api/v1/webhooks/gateway"


@dataclass(frozen=True)
class DisbursalPort:
    """What the disbursal endpoints and pages use."""

    disbursals: Disbursals
    blocks: DisbursementBlocks
    queries: DisbursalQueries
    identity: Identity  # the portal's queue names who exported each payout file


def public_base(request: Request) -> str:
    """Our base URL as the caller reached us (where the gateway's webhooks are sent back)."""
    import os

    return (os.environ.get("PUBLIC_BASE_URL") or str(request.base_url)).rstrip("/")


def disburse_loan(ctx: Context[DisbursalPort]) -> Reply:
    body: DisburseIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    result = ctx.port.disbursals.disburse(ctx.brand_id, loan_id, body.mode, public_base(ctx.request) + WEBHOOK_PATH)
    ctx.settled(Loans.name, result.position)
    block = ctx.port.blocks.block(ctx.brand_id, loan_id)
    out = {"loan_id": loan_id, "status": "awaiting_disbursal", "disbursement": block}
    return Reply(out, 202, {"Location": f"/api/v1/loans/{loan_id}"})


def gateway_webhook(ctx: Context[DisbursalPort]) -> Reply:
    raw = anyio.from_thread.run(read_body, ctx.request)
    try:
        outcome = ctx.port.disbursals.webhook(raw, ctx.request.headers)
    except WebhookRejected as rejected:  # unsigned: a malformed request (400); forged or stale: 401
        status = 400 if rejected.reason in (MISSING_HEADER, MALFORMED_HEADER) else 401
        raise HttpProblem(status, rejected.detail, "invalid-signature", reason=rejected.reason) from None
    return json_response(outcome)


def disbursal_queue(ctx: Context[DisbursalPort]) -> Reply:
    q: QueueQuery = ctx.query
    return json_response(ctx.port.queries.queue(ctx.brand_id, q.cursor, q.limit))


def _file_out(ctx: Context[DisbursalPort], record: PayoutFileRecord) -> dict[str, Any]:
    base = f"{public_base(ctx.request)}/api/v1/payout-files/{record.id}"
    return {
        **{k: getattr(record, k) for k in ("id", "created_at", "created_by", "row_count", "total",
                                           "beneficiary_count", "state", "reason")},
        "download_url": f"{base}/payout.xlsx",
        "beneficiary_download_url": f"{base}/beneficiaries.xlsx",
    }  # fmt: skip


def create_payout_file(ctx: Context[DisbursalPort]) -> Reply:
    body: PayoutFileIn = ctx.body
    record, position = ctx.port.disbursals.export(ctx.brand_id, ctx.principal.actor, body.loan_ids)
    ctx.settled(Loans.name, position)
    return Reply(_file_out(ctx, record), 201, {"Location": f"/api/v1/payout-files/{record.id}"})


def list_payout_files(ctx: Context[DisbursalPort]) -> Reply:
    records = ctx.port.disbursals.store.files(ctx.brand_id)
    return json_response({"items": [_file_out(ctx, r) for r in records]})


def get_payout_file(ctx: Context[DisbursalPort]) -> Reply:
    return json_response(_file_out(ctx, ctx.port.disbursals.file(ctx.brand_id, ctx.path["file_id"])))


def _download(ctx: Context[DisbursalPort], which: str, name: str) -> Response:
    record = ctx.port.disbursals.file(ctx.brand_id, ctx.path["file_id"])
    data = ctx.port.disbursals.store.content(ctx.brand_id, record.id, which) or b""
    disposition = f'attachment; filename="{name}-{record.created_at:%Y%m%d}-{str(record.id)[:8]}.xlsx"'
    return Response(data, 200, {"Content-Disposition": disposition}, media_type=XLSX_MEDIA_TYPE)


def download_payout_file(ctx: Context[DisbursalPort]) -> Response:
    return _download(ctx, "payout", "payout")


def download_beneficiary_file(ctx: Context[DisbursalPort]) -> Response:
    return _download(ctx, "beneficiaries", "beneficiaries")


def return_payout_file(ctx: Context[DisbursalPort]) -> Reply:
    body: ReturnIn = ctx.body
    record = ctx.port.disbursals.return_file(ctx.brand_id, ctx.path["file_id"], body.reason)
    return json_response(_file_out(ctx, record))


def confirm_payout_file(ctx: Context[DisbursalPort]) -> Reply:
    record = ctx.port.disbursals.confirm_file(ctx.brand_id, ctx.path["file_id"])
    return json_response(_file_out(ctx, record))


_FILE = "/api/v1/payout-files/{file_id}"

ENDPOINTS = serve(
    DisbursalPort,
    "disbursal",
    [
        Endpoint(
            "POST",
            "/api/v1/loans/{loan_id}/disburse",
            disburse_loan,
            "Initiate the payout (IMPS, NEFT, UPI) of a loan awaiting disbursal; disbursed only on the gateway's "
            "confirmation. Again after a failure: a new attempt",
            WRITE,
            body=DisburseIn,
            response=DisburseOut,
            status=202,
            errors=(409, 503),
        ),
        Endpoint(
            "POST",
            WEBHOOK_PATH,
            gateway_webhook,
            "The payment gateway's signed payout webhook (payout.processed, payout.failed)",
            None,
            response=WebhookOut,
            public=True,
            errors=(400, 401, 409, 422),
        ),
        Endpoint(
            "GET",
            "/api/v1/disbursal-queue",
            disbursal_queue,
            "The Ops disbursal queue: loans awaiting disbursal, the longest queued first (queued_at)",
            READ,
            query=QueueQuery,
            response=QueuePageOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/payout-files",
            create_payout_file,
            "A bank payout file (XLSX) of loans awaiting disbursal, with its beneficiary registration file; the "
            "loans are marked exported",
            WRITE,
            body=PayoutFileIn,
            response=PayoutFileOut,
            status=201,
            errors=(409,),
        ),
        Endpoint(
            "GET",
            "/api/v1/payout-files",
            list_payout_files,
            "The newest payout files",
            READ,
            response=PayoutFileListOut,
        ),
        Endpoint("GET", _FILE, get_payout_file, "A payout file and its control total", READ, response=PayoutFileOut),
        Endpoint(
            "GET",
            f"{_FILE}/payout.xlsx",
            download_payout_file,
            "Download the payout file (XLSX)",
            READ,
            response=PayoutFileOut,
            media=(XLSX_MEDIA_TYPE,),
        ),
        Endpoint(
            "GET",
            f"{_FILE}/beneficiaries.xlsx",
            download_beneficiary_file,
            "Download the beneficiary registration file (XLSX)",
            READ,
            response=PayoutFileOut,
            media=(XLSX_MEDIA_TYPE,),
        ),
        Endpoint(
            "POST",
            f"{_FILE}/return",
            return_payout_file,
            "The bank returned the file: its loans may be paid again",
            WRITE,
            body=ReturnIn,
            response=PayoutFileOut,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            f"{_FILE}/confirm",
            confirm_payout_file,
            "The bank paid the file: its loans are disbursed (active)",
            WRITE,
            response=PayoutFileOut,
            errors=(409,),
        ),
    ],
)
