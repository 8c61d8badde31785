"""Covenant terms: what the borrower must do (a financial test, a document to deliver, or something else)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.shared.errors import FieldError, InvalidInput
from domain.shared.values import MEASURE, text_problem, visible_characters


class CovenantType(StrEnum):
    """What kind of obligation."""

    FINANCIAL = "financial"
    DOCUMENT = "document"
    OTHER = "other"


class Operator(StrEnum):
    """How a measured value is compared with a financial covenant's threshold."""

    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"
    EQ = "=="

    def holds(self, value: Decimal, threshold: Decimal) -> bool:
        """True when `value <operator> threshold`."""
        return {
            Operator.GE: value >= threshold,
            Operator.GT: value > threshold,
            Operator.LE: value <= threshold,
            Operator.LT: value < threshold,
            Operator.EQ: value == threshold,
        }[self]


class Terms(BaseModel):
    """What the borrower must do: a financial test, a document to deliver, or something else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: CovenantType
    metric: str | None = None
    operator: Operator | None = None
    threshold: Decimal | None = None
    document: str | None = None
    description: str | None = None

    def checked(self) -> Terms:
        """A financial covenant needs metric, operator and threshold; a document covenant needs the document."""
        errors = []
        for name, multiline in (("metric", False), ("document", False), ("description", True)):
            text = getattr(self, name)
            if text and (problem := text_problem(text, multiline=multiline)) is not None:
                errors.append(FieldError(name, problem))
        if self.threshold is not None:
            try:
                MEASURE.parse(self.threshold, "threshold")
            except InvalidInput as exc:
                errors.extend(exc.errors)
        if self.type is CovenantType.FINANCIAL:
            if not visible_characters(self.metric or ""):
                errors.append(FieldError("metric", "a financial covenant needs the metric it tests"))
            if self.operator is None:
                errors.append(FieldError("operator", "a financial covenant needs an operator (>= > <= < ==)"))
            if self.threshold is None:
                errors.append(FieldError("threshold", "a financial covenant needs a threshold"))
        if self.type is CovenantType.DOCUMENT and not visible_characters(self.document or ""):
            errors.append(FieldError("document", "a document covenant names the document required"))
        if errors:
            raise InvalidInput(errors)
        return self

    def passes(self, value: Decimal) -> bool:
        """Whether a measured value meets a financial covenant."""
        assert self.operator is not None and self.threshold is not None
        return self.operator.holds(value, self.threshold)


def parse_measured_value(raw: str | int | float | Decimal) -> Decimal:
    """A measured value as an exact decimal within MEASURE's precision and range; anything else is a 422."""
    return MEASURE.parse(raw, "value")
