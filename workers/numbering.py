"""The brands' number series (loan and customer ids such as `DEMO-L-000456`), for the contexts' factories."""

from __future__ import annotations

from adapters.number_series import PostgresNumberSeries
from adapters.postgres import Database
from domain.identity.application import Identity
from domain.shared.numbering import brand_prefix
from workers.bounded_context import Kit


def number_series(kit: Kit) -> PostgresNumberSeries:
    """The number series of every brand, prefixed with the brand's code (its slug) upper-cased; its table is created
    here (factories run under the platform's setup lock)."""
    identity = kit.get(Identity)
    series = PostgresNumberSeries(kit.get(Database).pool, lambda brand_id: brand_prefix(identity.brand(brand_id).slug))
    series.setup()
    return series
