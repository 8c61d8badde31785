"""The recorded shapes of verification results (event fields): tradelines and salary credits."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class TradelineRecord(BaseModel):
    """An active credit line as the bureau reported it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lender: str
    kind: str
    sanctioned: Decimal
    outstanding: Decimal
    emi: Decimal
    max_dpd: int


class SalaryCreditRecord(BaseModel):
    """A monthly salary credit found in a statement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    month: str
    amount: Decimal
    employer: str | None = None
