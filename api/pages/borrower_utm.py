"""UTM parameters of the borrower flow: `/apply/{brand}?utm_source=&utm_medium=&utm_campaign=` is remembered in a
short-lived cookie until the borrower signs in, when the funnel keeps it (docs/leads.md)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from domain.onboarding.attribution import Attribution, attribution
from domain.shared.errors import InvalidInput

UTM_COOKIE = "cd_utm"
FIELDS = ("utm_source", "utm_medium", "utm_campaign")


def _from(values: dict[str, str | None]) -> Attribution | None:
    try:
        return attribution(values.get("utm_source"), values.get("utm_medium"), values.get("utm_campaign"))
    except InvalidInput:
        return None  # a malformed link loses its attribution, not the sign-up


def remember_utm(request: Request, response: Response, path: str, secure: bool) -> None:
    """Keep the address's UTM parameters (if any) for the sign-in that follows."""
    found = _from({f: request.query_params.get(f) for f in FIELDS})
    if found is not None:
        value = json.dumps(found.model_dump(exclude_none=True), separators=(",", ":"))
        response.set_cookie(UTM_COOKIE, value, max_age=3600, httponly=True, samesite="lax", secure=secure, path=path)


def remembered_utm(request: Request) -> Attribution | None:
    """The UTM parameters remembered for this sign-in, or None."""
    raw = request.cookies.get(UTM_COOKIE)
    if not raw or len(raw) > 1000:
        return None
    try:
        values = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(values, dict):
        return None
    return _from({f: v for f, v in values.items() if f in FIELDS and isinstance(v, str)})
