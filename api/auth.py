"""Turning a request's credentials into a Principal: bearer API keys and portal session cookies."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from domain.identity.application import AuthenticationFailed, Principal
from domain.identity.staff import StaffNotFound

SESSION_COOKIE = "cd_session"


def authenticate(platform: Any, request: Request) -> Principal:
    """The caller's principal; AuthenticationFailed (401) without valid credentials."""
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
        principal = session_principal(platform, cookie)
        if principal is not None:
            return principal
    raise AuthenticationFailed("credentials required: an API key (Authorization: Bearer) or a portal session")


def session_principal(platform: Any, token: str) -> Principal | None:
    """The principal of a live session of an enabled staff user, else None."""
    session = platform.ops.session(token, platform.clock.now())
    if session is None:
        return None
    try:
        staff = platform.identity.staff(session.brand_id, session.staff_id)
        return platform.identity.staff_principal(staff)
    except (StaffNotFound, AuthenticationFailed):
        return None
