"""Marketing attribution captured at sign-up: the UTM source, medium and campaign of the link the borrower came by."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.shared.errors import InvalidValue
from domain.shared.values import text_problem

MAX_UTM = 100


class Attribution(BaseModel):
    """`utm_source`, `utm_medium`, `utm_campaign` as the link carried them (stored as given, never executed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None


def attribution(source: str | None, medium: str | None, campaign: str | None) -> Attribution | None:
    """The attribution of the three values (trimmed; None when all are empty); 422 naming a bad one."""
    values: dict[str, str | None] = {}
    for field, raw in (("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign)):
        text = (raw or "").strip()
        if len(text) > MAX_UTM:
            raise InvalidValue(field, f"at most {MAX_UTM} characters")
        problem = text_problem(text, multiline=False)
        if problem:
            raise InvalidValue(field, problem)
        values[field] = text or None
    if not any(values.values()):
        return None
    return Attribution(**values)
