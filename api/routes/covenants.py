"""Covenant endpoints: set-up, worklist, evaluation history, review actions, dashboard counts and notices."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.routes.covenant_models import (
    CloseIn,
    CovenantCreatedOut,
    CovenantDashboardOut,
    CovenantIn,
    CovenantNoticeListOut,
    CovenantOut,
    CovenantPageOut,
    CovenantPatch,
    EvaluationListOut,
    EvaluationOut,
    EvidenceIn,
    NoticeQuery,
    ReasonIn,
    ValueIn,
    WorklistQuery,
)
from api.services.covenant_proofs import CovenantProofs
from domain.covenants.application import Covenants
from domain.covenants.covenant import CovenantNotFound, EvaluationNotFound
from domain.covenants.terms import Terms
from domain.identity.permissions import Level, Permission
from domain.shared.application import CommandResult
from projections.covenant_queries import CovenantHistory, CovenantQueries, EvaluationRow

READ = (Permission.COVENANTS, Level.READ)
WRITE = (Permission.COVENANTS, Level.WRITE)
REVIEW = (Permission.COVENANT_REVIEW, Level.WRITE)


@dataclass(frozen=True)
class CovenantPort:
    """What the covenant endpoints and pages use: the use cases, the read model, and proof documents (complying
    checks the cited proofs' documents were not rejected)."""

    covenants: Covenants
    queries: CovenantQueries
    proofs: CovenantProofs


def _companies(ctx: Context[CovenantPort]) -> tuple[str, ...]:
    """The companies the caller may see (empty: every company): another company's covenant, its records and their
    writes are a 404, and the lists, counts and notices leave it out; a covenant of no company is every company's."""
    return ctx.principal.companies


def _history(ctx: Context[CovenantPort], covenant_id: UUID) -> CovenantHistory | None:
    return ctx.port.queries.history(ctx.brand_id, covenant_id, _companies(ctx))


def _found_history(ctx: Context[CovenantPort]) -> CovenantHistory:
    covenant_id: UUID = ctx.path["covenant_id"]
    history = _history(ctx, covenant_id)
    if history is None:
        raise CovenantNotFound(f"Covenant {covenant_id} not found", id=str(covenant_id))
    return history


def _evaluation(ctx: Context[CovenantPort], evaluation_id: UUID) -> EvaluationRow | None:
    return ctx.port.queries.evaluation(ctx.brand_id, evaluation_id, _companies(ctx))


def set_up(covenants: Covenants, brand_id: UUID, body: CovenantIn, companies: tuple[str, ...] = ()) -> CommandResult:
    """Set up the covenant `body` describes: the one mapping of the body onto the use case, shared by the endpoint
    and the portal's form (api/pages/covenants.py); `companies`: the caller's (a covenant of another company is a
    422 naming `company`)."""
    return covenants.create(
        brand_id,
        customer_id=body.customer_id,
        application_ref=body.application_ref,
        title=body.title,
        terms=Terms(
            type=body.type,
            metric=body.metric,
            operator=body.operator,
            threshold=body.threshold,
            document=body.document,
            description=body.description,
        ),
        frequency=body.frequency,
        start_date=body.start_date,
        first_due_date=body.first_due_date,
        expiry_date=body.expiry_date,
        grace_days=body.grace_days,
        lead_days=body.notification_lead_days,
        assignee_id=body.assignee_id,
        company=body.company,
        companies=companies,
    )


def create_covenant(ctx: Context[CovenantPort]) -> Reply:
    body: CovenantIn = ctx.body
    result = set_up(ctx.port.covenants, ctx.brand_id, body, _companies(ctx))
    location = f"/api/v1/covenants/{result.id}"
    return ctx.written(result, Covenants.name, lambda: _history(ctx, result.id), location)


def list_covenants(ctx: Context[CovenantPort]) -> Reply:
    q: WorklistQuery = ctx.query
    page = ctx.port.queries.worklist(
        ctx.brand_id,
        status=q.status,
        due_from=q.due_from,
        due_to=q.due_to,
        customer_id=q.customer_id,
        type=q.type.value if q.type else None,
        assignee_id=q.assignee_id,
        proof_received=q.proof_received,
        cursor=q.cursor,
        limit=q.limit,
        companies=_companies(ctx),
    )
    return json_response(page)


def get_covenant(ctx: Context[CovenantPort]) -> Reply:
    return json_response(_found_history(ctx))


def covenant_evaluations(ctx: Context[CovenantPort]) -> Reply:
    return json_response({"items": _found_history(ctx).evaluations})


def update_covenant(ctx: Context[CovenantPort]) -> Reply:
    body: CovenantPatch = ctx.body
    result = ctx.port.covenants.reassign(
        ctx.brand_id,
        ctx.path["covenant_id"],
        body.assignee_id,
        expected_version=ctx.expected_version(),
        companies=_companies(ctx),
    )
    return ctx.written(result, Covenants.name, lambda: _history(ctx, result.id))


def close_covenant(ctx: Context[CovenantPort]) -> Reply:
    body: CloseIn = ctx.body
    result = ctx.port.covenants.close_covenant(ctx.brand_id, ctx.path["covenant_id"], body.reason, _companies(ctx))
    return ctx.written(result, Covenants.name, lambda: _history(ctx, result.id))


def get_evaluation(ctx: Context[CovenantPort]) -> Reply:
    evaluation_id: UUID = ctx.path["evaluation_id"]
    row = _evaluation(ctx, evaluation_id)
    if row is None:
        raise EvaluationNotFound(f"CovenantEvaluation {evaluation_id} not found", id=str(evaluation_id))
    return json_response(row)


def comply(ctx: Context[CovenantPort]) -> Reply:
    body: EvidenceIn = ctx.body
    result = ctx.port.proofs.comply(
        ctx.brand_id, ctx.path["evaluation_id"], body.evidence, body.proof_document_ids, _companies(ctx)
    )
    return ctx.written(result, Covenants.name, lambda: _evaluation(ctx, result.id))


def waive(ctx: Context[CovenantPort]) -> Reply:
    body: ReasonIn = ctx.body
    result = ctx.port.covenants.waive(ctx.brand_id, ctx.path["evaluation_id"], body.reason, _companies(ctx))
    return ctx.written(result, Covenants.name, lambda: _evaluation(ctx, result.id))


def submit_value(ctx: Context[CovenantPort]) -> Reply:
    body: ValueIn = ctx.body
    result = ctx.port.covenants.submit_value(ctx.brand_id, ctx.path["evaluation_id"], str(body.value), _companies(ctx))
    return ctx.written(result, Covenants.name, lambda: _evaluation(ctx, result.id))


def covenant_dashboard(ctx: Context[CovenantPort]) -> Reply:
    return json_response(ctx.port.queries.counts(ctx.brand_id, _companies(ctx)))


def covenant_notices(ctx: Context[CovenantPort]) -> Reply:
    q: NoticeQuery = ctx.query
    return json_response(ctx.port.queries.notice_page(ctx.brand_id, q.customer_id, q.cursor, q.limit, _companies(ctx)))


ENDPOINTS = serve(
    CovenantPort,
    "covenants",
    [
        Endpoint(
            "POST",
            "/api/v1/covenants",
            create_covenant,
            "Set up a covenant on a borrower (`warnings`: no_email when the borrower has no email address)",
            WRITE,
            body=CovenantIn,
            response=CovenantCreatedOut,
            status=201,
            accepts=True,
            etag=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/covenants",
            list_covenants,
            "Covenant worklist",
            READ,
            query=WorklistQuery,
            response=CovenantPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/covenants/{covenant_id}",
            get_covenant,
            "A covenant with its evaluation history (ETag: its version)",
            READ,
            response=CovenantOut,
            etag=True,
        ),
        Endpoint(
            "PATCH",
            "/api/v1/covenants/{covenant_id}",
            update_covenant,
            "Reassign a covenant; If-Match with the version read refuses a stale change with 409",
            WRITE,
            body=CovenantPatch,
            response=CovenantOut,
            accepts=True,
            if_match=True,
            etag=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/covenants/{covenant_id}/close",
            close_covenant,
            "Close a covenant before expiry",
            WRITE,
            body=CloseIn,
            response=CovenantOut,
            accepts=True,
            etag=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/covenants/{covenant_id}/evaluations",
            covenant_evaluations,
            "Evaluation records, newest cycle first",
            READ,
            response=EvaluationListOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/covenant-evaluations/{evaluation_id}",
            get_evaluation,
            "One evaluation record",
            READ,
            response=EvaluationOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/covenant-evaluations/{evaluation_id}/comply",
            comply,
            "Mark complied (evidence required; financial needs a pass; `proof_document_ids` cites attached proofs, "
            "none whose document staff rejected: 422 naming `proof_document_ids[i]`)",
            REVIEW,
            body=EvidenceIn,
            response=EvaluationOut,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/covenant-evaluations/{evaluation_id}/waive",
            waive,
            "Waive the record (reason required)",
            REVIEW,
            body=ReasonIn,
            response=EvaluationOut,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/covenant-evaluations/{evaluation_id}/submit-value",
            submit_value,
            "Submit a measured value (pass/fail recorded)",
            REVIEW,
            body=ValueIn,
            response=EvaluationOut,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/covenant-dashboard",
            covenant_dashboard,
            "Records by status and active covenants",
            READ,
            response=CovenantDashboardOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/covenant-notices",
            covenant_notices,
            "Emails sent or owed to borrowers, newest first, a keyset page at a time (`cursor`: the `next_cursor` "
            "of the page before; a cursor of another list or filter is a 422)",
            READ,
            query=NoticeQuery,
            response=CovenantNoticeListOut,
        ),
    ],
)
