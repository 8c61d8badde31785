"""Turning a request's credentials into a Principal: bearer API keys and portal session cookies."""

from __future__ import annotations

import hmac
from uuid import UUID

from starlette.requests import Request

from adapters.operational import Session
from api.ports import BorrowerGate, Gate
from api.problems import HttpProblem
from domain.identity.principal import AuthenticationFailed, Principal
from domain.identity.staff import StaffNotFound
from domain.onboarding.account import TOKEN_PREFIX, SessionNotFound
from domain.onboarding.parties import BorrowerPrincipal
from domain.shared.errors import InvalidValue

SESSION_COOKIE = "cd_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticate(gate: Gate, request: Request) -> Principal:
    """The caller's principal; AuthenticationFailed (401) without valid credentials.

    A browser sends the session cookie with requests other sites make, so a write authenticated by the
    cookie alone is refused (403): it must carry the session's CSRF token in X-CSRF-Token, which another
    site cannot read. API keys travel in a header no other site can set, and need no token."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("use 'Authorization: Bearer <api key>'")
        principal = gate.identity.authenticate_api_key(token.strip())
        gate.ops.touch_api_key(principal.id, gate.clock.now())
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = gate.ops.session(cookie, gate.clock.now())
        owner = _owner(gate, session) if session is not None else None
        if owner is not None and session is not None:
            if request.method not in SAFE_METHODS and not _csrf_matches(request, session):
                raise HttpProblem(
                    403,
                    f"a write with the portal session needs its CSRF token in {CSRF_HEADER} (or use an API key)",
                    "csrf-token-required",
                )
            return owner
    raise AuthenticationFailed("credentials required: an API key (Authorization: Bearer) or a portal session")


def authenticate_borrower(gate: BorrowerGate, request: Request) -> BorrowerPrincipal:
    """The signed-in borrower of a borrower endpoint; AuthenticationFailed (401) for anything else - a staff API
    key or portal session never opens a borrower endpoint, as a borrower token never opens a staff one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(TOKEN_PREFIX):
        try:
            return gate.onboarding.authenticate(token)
        except SessionNotFound:
            pass
    raise AuthenticationFailed(
        "a borrower's token is required: 'Authorization: Bearer <token>' from /api/v1/borrower/session"
    )


def session_principal(gate: Gate, token: str) -> tuple[Principal, Session] | None:
    """The principal of a live session of an enabled staff user, with the session (its CSRF token), else None."""
    session = gate.ops.session(token, gate.clock.now())
    owner = _owner(gate, session) if session is not None else None
    return (owner, session) if owner is not None and session is not None else None


def acting_brand(gate: Gate, request: Request, principal: Principal) -> Principal:
    """A Super Admin picks the brand to act within with `X-Brand-Id`; everyone else stays in their own."""
    raw = request.headers.get("x-brand-id")
    if raw is None:
        return principal
    try:
        brand_id = UUID(raw.strip())
    except ValueError:
        raise InvalidValue("X-Brand-Id", "must be a brand id") from None
    if brand_id != principal.brand_id and not principal.cross_brand:
        raise HttpProblem(403, "this credential is bound to its own brand", "forbidden")
    gate.identity.brand(brand_id)
    return principal.within(brand_id)


def _owner(gate: Gate, session: Session) -> Principal | None:
    try:
        staff = gate.identity.staff_now(session.brand_id, session.staff_id)
        return gate.identity.staff_principal(staff)
    except (StaffNotFound, AuthenticationFailed):
        return None


def _csrf_matches(request: Request, session: Session) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(sent) and hmac.compare_digest(sent.encode(), session.csrf_token.encode())
