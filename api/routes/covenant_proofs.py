"""Proof of compliance on an evaluation record: upload a document (multipart, PDF, JPEG or PNG; stored as a document
of the borrower, attached to the record) and download it, its bytes verified against the recorded SHA-256."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from api.endpoint import Context, Endpoint, Reply, serve
from api.routes.covenant_models import EvaluationOut, ProofFormIn, ProofOut
from api.routes.covenants import READ, WRITE, CovenantPort
from api.routes.documents import MEDIA, UPLOAD
from api.services.covenant_proofs import CovenantProofs
from domain.covenants.application import Covenants
from domain.documents.content import Uploader


@dataclass(frozen=True)
class CovenantProofPort:
    """The covenant endpoints' port and the service that attaches and reads proof documents."""

    desk: CovenantPort
    proofs: CovenantProofs


def attach_proof(ctx: Context[CovenantProofPort]) -> Reply:
    evaluation_id = ctx.path["evaluation_id"]
    assert ctx.upload is not None  # the wrapper answers 422 without one
    companies = ctx.principal.companies  # another company's covenant's record: 404, as its other writes
    result = ctx.port.proofs.attach(
        ctx.brand_id, evaluation_id, ctx.upload.filename, ctx.upload.data, Uploader.STAFF, companies=companies
    )
    queries = ctx.port.desk.queries
    location = f"/api/v1/covenant-evaluations/{evaluation_id}"
    return ctx.written(
        result, Covenants.name, lambda: queries.evaluation(ctx.brand_id, evaluation_id, companies), location
    )


def proof_content(ctx: Context[CovenantProofPort]) -> Response:
    found = ctx.port.proofs.content(
        ctx.brand_id, ctx.path["evaluation_id"], ctx.path["document_id"], ctx.principal.companies
    )
    proof = found.proof
    return Response(
        found.data,
        media_type=proof.content_type.value,
        headers={
            "Content-Disposition": f'attachment; filename="{found.served_name}"',
            "X-Content-Type-Options": "nosniff",
            "X-Document-SHA256": proof.sha256,
            "ETag": f'"{proof.sha256}"',
            "Cache-Control": "private, no-store",
        },
    )


ENDPOINTS = serve(
    CovenantProofPort,
    "covenants",
    [
        Endpoint(
            "POST",
            "/api/v1/covenant-evaluations/{evaluation_id}/proofs",
            attach_proof,
            "Attach a proof-of-compliance document to an open or overdue record (multipart: `file`; PDF, JPEG or "
            "PNG, sniffed from the bytes); a complied or waived record is a 409",
            WRITE,
            body=ProofFormIn,
            response=EvaluationOut,
            status=201,
            accepts=True,
            upload=UPLOAD,
        ),
        Endpoint(
            "GET",
            "/api/v1/covenant-evaluations/{evaluation_id}/proofs/{document_id}",
            proof_content,
            "A proof document's bytes (as an attachment), verified against the recorded SHA-256 (409 if altered)",
            READ,
            response=ProofOut,  # never rendered: the answer is the file itself
            media=MEDIA,
        ),
    ],
)
