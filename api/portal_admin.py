"""Transitional: helpers the notices and covenants page modules still import from here, until they are declared as
`api.web.Page`s (the identity pages are `api.pages.staff`, `settings`, `api_keys` and `invites`). Delete with them."""

from __future__ import annotations

from uuid import UUID

from api.web import act as _act
from api.web import error_text as _error_text

__all__ = ["_act", "_error_text", "_uuid"]


def _uuid(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None
