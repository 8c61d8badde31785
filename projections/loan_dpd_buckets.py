"""The serviced loans of each brand by DPD bucket (`read.loan_dpd_buckets`: count and principal), kept beside
`read.loans` so that the collection dashboard reads five rows instead of summing every serviced loan of the brand
(`CollectionDashboardQueries.dpd_buckets`).

Kept by triggers on `read.loans`, in the transaction of the write that moves a loan (the loans projection's batch and
its tracking position, so exactly once), as `read.report_due_days` is kept on `read.report_instalments`
(projections/report_book.py): whatever writes `read.loans` -- the projection, a book loaded directly by a benchmark or a
test, a migration -- moves the sums with it, so they are always the sum over the rows. A loan counts in the bucket of
`coalesce(dpd, 0)` (DPD_BUCKETS) while its status is serviced (active, partially paid, overdue), with
`coalesce(sanctioned_amount, amount)`: the same figures the scan over `read.loans` gave.

- INSERT and DELETE: once a statement, from its transition table (the projection inserts a batch's new loans in one
  statement; a bulk load is one statement too);
- UPDATE: once a row, and only for a row whose status, DPD, amounts or brand changed while serviced before or after
  (the `WHEN` is evaluated without calling the function): the projection's other updates -- the batch's versions, an
  assignment, a repayment leaving the DPD where it was -- cost nothing;
- TRUNCATE: the sums emptied.

The table is made with its triggers where missing (a new database, a rebuild, or one made before it: then filled from
the loans there, in the same transaction as the triggers, which hold off writes to `read.loans` until it commits).
"""

from __future__ import annotations

from domain.loans.states import SERVICING
from projections.collection_dashboard import DPD_BUCKETS

#: The statuses of a serviced loan (the domain's `SERVICING`), as an SQL list.
_SERVICED_SQL = ", ".join(f"'{s.value}'" for s in sorted(SERVICING))

#: The bucket (an index of DPD_BUCKETS) a loan of this status and DPD counts in; NULL when it is not serviced (or its
#: DPD is in no bucket, as the scan's CASE left it out).
BUCKET_FUNCTION = (
    "CREATE OR REPLACE FUNCTION read.loan_dpd_bucket(status text, dpd int) RETURNS smallint "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE WHEN status NOT IN ("
    + _SERVICED_SQL
    + ") THEN NULL "
    + " ".join(
        f"WHEN coalesce(dpd, 0) BETWEEN {low} AND {high if high is not None else 2147483647} THEN {i}"
        for i, (_, low, high) in enumerate(DPD_BUCKETS)
    )
    + " END::smallint $$"
)

_TABLE = """CREATE TABLE read.loan_dpd_buckets (
    brand_id uuid NOT NULL,
    bucket smallint NOT NULL,
    loans bigint NOT NULL,
    amount numeric(18, 2) NOT NULL,
    PRIMARY KEY (brand_id, bucket)
)"""


def _shares(rows: str, sign: int) -> str:
    """Each loan of `rows` (a table or transition table) as its signed share of its brand's bucket."""
    return (
        f"SELECT brand_id, read.loan_dpd_bucket(status, dpd) AS bucket, {sign} AS loans, "
        f"{sign} * coalesce(sanctioned_amount, amount) AS amount FROM {rows} "
        "WHERE read.loan_dpd_bucket(status, dpd) IS NOT NULL"
    )


def _add(shares: str) -> str:
    """The upsert adding `shares` to the buckets' rows, summed by brand and bucket, written in key order."""
    return (
        "INSERT INTO read.loan_dpd_buckets AS b (brand_id, bucket, loans, amount) "
        f"SELECT brand_id, bucket, sum(loans), sum(amount) FROM ({shares}) x GROUP BY brand_id, bucket "
        "ORDER BY brand_id, bucket "
        "ON CONFLICT (brand_id, bucket) DO UPDATE SET loans = b.loans + excluded.loans, amount = b.amount + excluded.amount"
    )


#: INSERT and DELETE statements, from their transition tables; TRUNCATE empties the sums.
STATEMENT_FUNCTION = (
    "CREATE OR REPLACE FUNCTION read.loan_dpd_buckets_statement() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP = 'INSERT' THEN {_add(_shares('new_rows', 1))}; "
    f"ELSIF TG_OP = 'DELETE' THEN {_add(_shares('old_rows', -1))}; "
    "ELSE DELETE FROM read.loan_dpd_buckets; END IF; RETURN NULL; END $$"
)
#: One updated loan: its old share out, its new share in (one statement; the two rows of a move between buckets are
#: written in key order).
ROW_FUNCTION = (
    "CREATE OR REPLACE FUNCTION read.loan_dpd_buckets_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + _add(
        "SELECT OLD.brand_id AS brand_id, read.loan_dpd_bucket(OLD.status, OLD.dpd) AS bucket, -1 AS loans, "
        "-coalesce(OLD.sanctioned_amount, OLD.amount) AS amount WHERE read.loan_dpd_bucket(OLD.status, OLD.dpd) "
        "IS NOT NULL UNION ALL SELECT NEW.brand_id, read.loan_dpd_bucket(NEW.status, NEW.dpd), 1, "
        "coalesce(NEW.sanctioned_amount, NEW.amount) WHERE read.loan_dpd_bucket(NEW.status, NEW.dpd) IS NOT NULL"
    )
    + "; RETURN NULL; END $$"
)
_TRIGGERS = (
    "CREATE TRIGGER loan_dpd_buckets_insert AFTER INSERT ON read.loans REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION read.loan_dpd_buckets_statement()",
    "CREATE TRIGGER loan_dpd_buckets_delete AFTER DELETE ON read.loans REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION read.loan_dpd_buckets_statement()",
    "CREATE TRIGGER loan_dpd_buckets_truncate AFTER TRUNCATE ON read.loans "
    "FOR EACH STATEMENT EXECUTE FUNCTION read.loan_dpd_buckets_statement()",
    "CREATE TRIGGER loan_dpd_buckets_update AFTER UPDATE ON read.loans FOR EACH ROW "
    f"WHEN ((OLD.status IN ({_SERVICED_SQL}) OR NEW.status IN ({_SERVICED_SQL})) AND "
    "(OLD.status, OLD.dpd, OLD.amount, OLD.sanctioned_amount, OLD.brand_id) IS DISTINCT FROM "
    "(NEW.status, NEW.dpd, NEW.amount, NEW.sanctioned_amount, NEW.brand_id)) "
    "EXECUTE FUNCTION read.loan_dpd_buckets_row()",
)
#: The table with its triggers, made where missing and filled from the loans there (see the module).
DPD_BUCKETS_TABLE = (
    "DO $$ BEGIN IF to_regclass('read.loan_dpd_buckets') IS NULL THEN "
    f"{_TABLE}; {'; '.join(_TRIGGERS)}; {_add(_shares('read.loans', 1))}; END IF; END $$"
)
#: The loans projection's DDL for it (after the columns it reads: `dpd` and `sanctioned_amount`).
DPD_BUCKETS_DDL = (BUCKET_FUNCTION, STATEMENT_FUNCTION, ROW_FUNCTION, DPD_BUCKETS_TABLE)
