"""Each loan's brand, kept by a projection of the loans' events in a table of its own, fed by `Loan.Created` (the
only loan event that carries the brand).

A projection whose rows need the brand at a later event (the sanction, the disbursal queue) takes it from here, never
from another projection's table at projection time: `read.loans` is empty while `projections rebuild loans` runs,
behind when its runner is, and absent when the projection is rebuilt on its own, so a row copied from it would be
silently lost. The table is the projection's own: dropped and rebuilt with it (`Projection.tables`)."""

from __future__ import annotations

from uuid import UUID

from projections.projection import Insert


def loan_brands_ddl(table: str, rows: str) -> str:
    """The DDL of the projection's loan -> brand table `table`, listed **before** the projection's main table `rows`
    (which has `loan_id` and `brand_id` columns).

    Made in a database where `rows` already exists (the projection ran before it kept this table), it is filled once
    from the rows at hand: `rows` itself and `read.loans`, so the loans created before the upgrade keep their brand.
    On a fresh database and on a rebuild (which drops both tables first) `rows` is not there yet: nothing is copied,
    the replay of `Loan.Created` fills it."""
    return (
        f"DO $$ BEGIN IF to_regclass('{table}') IS NULL THEN "
        f"CREATE TABLE {table} (loan_id uuid PRIMARY KEY, brand_id uuid NOT NULL); "
        f"IF to_regclass('{rows}') IS NOT NULL THEN "
        f"INSERT INTO {table} (loan_id, brand_id) SELECT loan_id, brand_id FROM {rows} ON CONFLICT DO NOTHING; "
        "IF to_regclass('read.loans') IS NOT NULL THEN "
        f"INSERT INTO {table} (loan_id, brand_id) SELECT id, brand_id FROM read.loans ON CONFLICT DO NOTHING; "
        "END IF; END IF; END IF; END $$"
    )


def loan_brand_row(table: str, loan_id: UUID, brand_id: UUID) -> Insert:
    """The row of a new loan (its `Loan.Created`) in the projection's loan -> brand table."""
    return Insert(table, {"loan_id": loan_id, "brand_id": brand_id})


def brand_of(table: str) -> str:
    """SQL: the brand of the loan whose id is the next parameter, from the projection's table: NULL for a loan it
    has not seen created, which a NOT NULL `brand_id` column refuses -- a failed event, recorded and retried
    (docs/architecture.md, "An event that fails does not stop the projection"), never a row silently left out."""
    return f"(SELECT brand_id FROM {table} WHERE loan_id = %s)"
