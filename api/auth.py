"""Turning a request's credentials into a Principal: bearer API keys and portal session cookies."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request

from adapters.operational import Session
from api.problems import HttpProblem
from domain.identity.application import AuthenticationFailed, Principal
from domain.identity.staff import StaffNotFound

SESSION_COOKIE = "cd_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticate(platform: Any, request: Request) -> Principal:
    """The caller's principal; AuthenticationFailed (401) without valid credentials.

    A browser sends the session cookie with requests other sites make, so a write authenticated by the
    cookie alone is refused (403): it must carry the session's CSRF token in X-CSRF-Token, which another
    site cannot read. API keys travel in a header no other site can set, and need no token."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("use 'Authorization: Bearer <api key>'")
        principal = platform.identity.authenticate_api_key(token.strip())
        platform.ops.touch_api_key(principal.id, platform.clock.now())
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = platform.ops.session(cookie, platform.clock.now())
        principal = _owner(platform, session) if session is not None else None
        if principal is not None and session is not None:
            if request.method not in SAFE_METHODS and not _csrf_matches(request, session):
                raise HttpProblem(
                    403,
                    f"a write with the portal session needs its CSRF token in {CSRF_HEADER} (or use an API key)",
                    "csrf-token-required",
                )
            return principal
    raise AuthenticationFailed("credentials required: an API key (Authorization: Bearer) or a portal session")


def session_principal(platform: Any, token: str) -> Principal | None:
    """The principal of a live session of an enabled staff user, else None."""
    session = platform.ops.session(token, platform.clock.now())
    return _owner(platform, session) if session is not None else None


def _owner(platform: Any, session: Session) -> Principal | None:
    try:
        staff = platform.identity.staff(session.brand_id, session.staff_id)
        return platform.identity.staff_principal(staff)
    except (StaffNotFound, AuthenticationFailed):
        return None


def _csrf_matches(request: Request, session: Session) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(sent) and hmac.compare_digest(sent.encode(), session.csrf_token.encode())
