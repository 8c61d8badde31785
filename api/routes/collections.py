"""Collections endpoints: the worklist, a loan's collection panel, contacts and evidence, promises to pay, the move
to legal and managers' reallocation. Who may open them: COLLECTIONS or a stage's own permission (`DESK_READ`,
`DESK_WRITE`: a team given only pre- or post-collections works its stage's cases). Who may act on a loan: its
stage's permission (PRE_COLLECTIONS, COLLECTIONS, POST_COLLECTIONS) at the level the action needs - a loan in no
stage, COLLECTIONS - and - unless a manager (COLLECTION_REALLOCATE_LOANS) - only on the loans allocated to them
(another's loan is a 404, like another brand's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from adapters.paylink_store import PaylinkStore
from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.problems import HttpProblem
from api.routes.collection_models import (
    AllocationIn,
    AllocationResultOut,
    CaseOut,
    ContactIn,
    ContactOut,
    LegalIn,
    PtpIn,
    PtpListOut,
    PtpOut,
    WorklistOut,
    WorklistQuery,
)
from api.services.teams import Teams
from domain.collections.application import Collections
from domain.collections.case import DESK_PERMISSIONS, STAGE_PERMISSION, CollectionCaseNotFound, Stage
from domain.fieldwork.application import FieldWork
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission, Required
from domain.identity.principal import Principal
from domain.shared.clock import Clock
from domain.shared.errors import InvalidValue
from projections.collection_queries import CaseView, CollectionQueries
from projections.collection_team import TeamQueries

READ = (Permission.COLLECTIONS, Level.READ)
WRITE = (Permission.COLLECTIONS, Level.WRITE)
#: The desk's doors: COLLECTIONS or any stage's permission; each case then asks its own stage's (`guard`), each
#: worklist its stage's (`require_stage`).
DESK_READ: Required = (DESK_PERMISSIONS, Level.READ)
DESK_WRITE: Required = (DESK_PERMISSIONS, Level.WRITE)
REALLOCATE = (Permission.COLLECTION_REALLOCATE_LOANS, Level.WRITE)
LEGAL = (Permission.POST_COLLECTIONS, Level.WRITE)


@dataclass(frozen=True)
class CollectionsPort:
    """What the collections endpoints and pages use."""

    collections: Collections
    queries: CollectionQueries
    identity: Identity
    clock: Clock
    team: TeamQueries
    teams: Teams
    fieldwork: (
        FieldWork  # the pages' "Call placed": a call the signed-in staff member placed (api/pages/placed_calls.py)
    )
    links: PaylinkStore  # the case page's list of the loan's payment links (api/pages/collection_paylinks.py sends)


def is_manager(principal: Principal) -> bool:
    """Managers (COLLECTION_REALLOCATE_LOANS) see and work every loan of the brand; executives only their own."""
    return principal.holds(Permission.COLLECTION_REALLOCATE_LOANS, Level.READ)


def desk_scoped(principal: Principal) -> bool:
    """An executive of the collections desk (a stage permission, no COLLECTION_REALLOCATE_LOANS) whose loan reading
    comes only with the collection roles' LOANS READ (neither LOANS WRITE nor LOAN_OPS): they read a loan's own facts
    (the loan page, its ledger) across the brand, but the desk's data of a loan - its money requests, the collection
    forms - only for the loans they work (docs/collections.md, "Who reads the loan")."""
    return (
        not is_manager(principal)
        and any(principal.holds(p, Level.READ) for p in STAGE_PERMISSION.values())
        and not principal.holds(Permission.LOANS, Level.WRITE)
        and not principal.holds(Permission.LOAN_OPS, Level.READ)
    )


def works_loan(queries: CollectionQueries, principal: Principal, loan_id: UUID, now: datetime) -> bool:
    """Whether the collection forms of a loan are the principal's to use: anyone but a desk-scoped executive (the
    actions check again), and such an executive for a loan in a stage allocated to them."""
    if not desk_scoped(principal):
        return True
    case = queries.case(principal.brand_id, loan_id, now)
    return case is not None and case.open and case.stage is not None and case.assignee == principal.id


def require_stage(principal: Principal, stage: Stage, level: Level) -> None:
    """403 unless the principal holds the stage's permission at `level`."""
    permission = STAGE_PERMISSION[stage]
    if not principal.holds(permission, level):
        raise HttpProblem(403, f"this needs {permission.value} at {level.value}", "forbidden",
                          permission=permission.value, level=level.value)  # fmt: skip


def require_unstaged(principal: Principal, case: CaseView | None, level: Level) -> None:
    """403 unless the principal may work, at `level`, a loan not in a stage now: COLLECTIONS (the desk's own), or
    - for staff holding only a stage's permission - the permission of the stage its closed case was last in (a loan
    never in a stage is none of theirs)."""
    if principal.holds(Permission.COLLECTIONS, level):
        return
    if case is None or case.stage is None:
        require_stage(principal, Stage.COLLECTIONS, level)
    else:
        require_stage(principal, Stage(case.stage), level)


def guard(port: CollectionsPort, principal: Principal, loan_id: UUID, level: Level) -> CaseView | None:
    """The loan's case when the principal may work it at `level`: its stage's permission, and their own loan unless
    a manager (404 otherwise, as for a loan of another brand). A loan not in a stage now (never in collections, a
    case opened by a contact alone, a closed case) is the managers' to work; reading it is also open to whoever
    worked it (had it allocated, or logged a contact on it). Whoever holds only a stage's permission (the desk opens
    to them: `DESK_READ`) works only that stage's loans (`require_unstaged` for a loan in none now)."""
    brand = principal.brand_id
    case = port.queries.case(brand, loan_id, port.clock.now())
    if case is None or not case.open or case.stage is None:
        if case is None and not port.queries.has_loan(brand, loan_id):
            raise CollectionCaseNotFound(f"loan {loan_id} is not on your worklist", id=str(loan_id))
        if is_manager(principal):
            require_unstaged(principal, case, level)
            return case
        if level is Level.READ and case is not None and worked_it(port, principal, case):
            if case.stage is not None:
                require_stage(principal, Stage(case.stage), Level.READ)
            require_unstaged(principal, case, level)
            return case
        raise CollectionCaseNotFound(f"loan {loan_id} is not on your worklist", id=str(loan_id))
    if not is_manager(principal) and case.assignee != principal.id:
        raise CollectionCaseNotFound(f"loan {loan_id} is not on your worklist", id=str(loan_id))
    require_stage(principal, Stage(case.stage), level)
    return case


def worked_it(port: CollectionsPort, principal: Principal, case: CaseView) -> bool:
    """Whether the staff member had the case (its last executive, or one in its allocation history) or logged a
    contact on it."""
    if principal.kind != "staff":
        return False
    return case.assignee == principal.id or port.queries.worked_by(principal.brand_id, case.loan_id, principal.id)


def worklist(ctx: Context[CollectionsPort]) -> Reply:
    q: WorklistQuery = ctx.query
    require_stage(ctx.principal, q.stage, Level.READ)
    assignee = q.assignee
    if not is_manager(ctx.principal):
        if assignee is not None and assignee != ctx.principal.id:
            raise HttpProblem(403, "only a collection manager sees another executive's worklist", "forbidden")
        if q.team:
            raise HttpProblem(403, "only a collection manager sees a team's worklist", "forbidden")
        assignee = ctx.principal.id
    if q.team and (q.assignee is not None or q.unassigned):
        raise InvalidValue("team", "give one of assignee, unassigned and team")
    members = ctx.port.teams.members(ctx.principal, q.team)
    unassigned = q.unassigned and assignee is None
    page = ctx.port.queries.worklist(
        ctx.brand_id, q.stage, assignee, ctx.port.clock.now(), q.cursor, q.limit, unassigned, members
    )
    return json_response(page)


def panel(port: CollectionsPort, brand_id: UUID, loan_id: UUID) -> CaseOut:
    """A loan's collection panel."""
    case = port.queries.case(brand_id, loan_id, port.clock.now())
    return CaseOut(
        loan_id=loan_id,
        case=case.__dict__ if case else None,
        open=bool(case and case.open),
        closed_reason=case.closed_reason if case else None,
        contacts=[c.__dict__ for c in port.queries.contacts(brand_id, loan_id)],
        ptps=[p.__dict__ for p in port.queries.ptps(brand_id, loan_id)],
        allocations=[a.__dict__ for a in port.queries.allocations(brand_id, loan_id)],
    )


def collection_panel(ctx: Context[CollectionsPort]) -> Reply:
    loan_id = ctx.path["loan_id"]
    guard(ctx.port, ctx.principal, loan_id, Level.READ)
    return json_response(panel(ctx.port, ctx.brand_id, loan_id))


def log_contact(ctx: Context[CollectionsPort]) -> Reply:
    body: ContactIn = ctx.body
    loan_id = ctx.path["loan_id"]
    guard(ctx.port, ctx.principal, loan_id, Level.WRITE)
    staff = ctx.principal.id if ctx.principal.kind == "staff" else None
    result = ctx.port.collections.log_contact(
        ctx.brand_id, loan_id, body.outcome, body.remarks, body.callback_at, staff_id=staff
    )
    location = f"/api/v1/loans/{loan_id}/collection"
    return ctx.written(result, Collections.name, lambda: ctx.port.queries.contact(ctx.brand_id, result.id), location)


def make_ptp(ctx: Context[CollectionsPort]) -> Reply:
    body: PtpIn = ctx.body
    loan_id = ctx.path["loan_id"]
    guard(ctx.port, ctx.principal, loan_id, Level.WRITE)
    staff = ctx.principal.id if ctx.principal.kind == "staff" else None
    result = ctx.port.collections.promise(ctx.brand_id, loan_id, body.date, body.amount, staff)
    location = f"/api/v1/loans/{loan_id}/ptps"
    return ctx.written(result, Collections.name, lambda: ctx.port.queries.ptp(ctx.brand_id, result.id), location)


def list_ptps(ctx: Context[CollectionsPort]) -> Reply:
    loan_id = ctx.path["loan_id"]
    guard(ctx.port, ctx.principal, loan_id, Level.READ)
    return json_response(PtpListOut(items=[p.__dict__ for p in ctx.port.queries.ptps(ctx.brand_id, loan_id)]))


def move_to_legal(ctx: Context[CollectionsPort]) -> Reply:
    body: LegalIn = ctx.body
    loan_id = ctx.path["loan_id"]
    if not is_manager(ctx.principal):
        raise CollectionCaseNotFound(f"loan {loan_id} is not on your worklist", id=str(loan_id))
    result = ctx.port.collections.move_to_post(ctx.brand_id, loan_id, body.reason)
    return ctx.written(result, Collections.name, lambda: panel(ctx.port, ctx.brand_id, loan_id))


def allocate(ctx: Context[CollectionsPort]) -> Reply:
    body: AllocationIn = ctx.body
    day = ctx.port.identity.business_date(ctx.brand_id)
    result = ctx.port.collections.reallocate(ctx.brand_id, body.loan_ids, body.staff_id, day)
    moved = [m.loan_id for m in ctx.port.collections.moves(result.id)]
    out = AllocationResultOut(id=result.id, staff_id=body.staff_id, moved=len(moved), loan_ids=moved)
    return ctx.written(result, Collections.name, lambda: out)


ENDPOINTS = serve(
    CollectionsPort,
    "collections",
    [
        Endpoint("GET", "/api/v1/collections/worklist", worklist,
                 "A stage's worklist (executives: their own; managers: anyone's, a team's or all): callbacks due and "
                 "broken promises first, then DPD and amount, highest first", DESK_READ, query=WorklistQuery,
                 response=WorklistOut),
        Endpoint("POST", "/api/v1/collections/allocations", allocate,
                 "Reallocate loans in collections to an executive (each move recorded)", REALLOCATE,
                 body=AllocationIn, response=AllocationResultOut, status=201, accepts=True),
        Endpoint("GET", "/api/v1/loans/{loan_id}/collection", collection_panel,
                 "A loan's collection panel: case, contacts, promises, allocation history", DESK_READ, response=CaseOut),
        Endpoint("POST", "/api/v1/loans/{loan_id}/contacts", log_contact,
                 "Log a contact with the borrower (a callback needs `callback_at`)", DESK_WRITE, body=ContactIn,
                 response=ContactOut, status=201, accepts=True),
        Endpoint("POST", "/api/v1/loans/{loan_id}/ptps", make_ptp,
                 "Record a promise to pay (judged kept or broken at the close of its date)", DESK_WRITE, body=PtpIn,
                 response=PtpOut, status=201, accepts=True),
        Endpoint("GET", "/api/v1/loans/{loan_id}/ptps", list_ptps, "A loan's promises to pay, newest first", DESK_READ,
                 response=PtpListOut),
        Endpoint("POST", "/api/v1/loans/{loan_id}/collection-legal", move_to_legal,
                 "Move a loan to post-collections (legal), with a reason (managers)", LEGAL, body=LegalIn,
                 response=CaseOut, accepts=True),
    ],
)  # fmt: skip
