"""A process starting on a database in use takes no table lock that waits for the transactions already running.

Every process (`serve`, a worker, each CLI command) runs the platform's setup. Its DDL is idempotent, but PostgreSQL
takes the table's lock *before* `IF NOT EXISTS` looks: `CREATE INDEX IF NOT EXISTS` of an index there already waited
for every writer of its table (a SHARE lock), `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` of a column there already for
every reader too (ACCESS EXCLUSIVE), and each request queued behind the waiting lock meanwhile. One setup holds
several such locks in a transaction, so a writer holding one table and wanting another could deadlock it: the new
process died (a CLI rebuild started beside live runners exited 1 so, in CI). Now a statement whose index or columns
exist is not run at all (`domain.shared.ddl.unless_present`)."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from domain.shared.ddl import unless_present
from workers.platform import Platform

#: Seconds the second platform may take to open (~1.3 s quiet; a loaded machine takes more).
OPEN_BOUND = 60.0


@pytest.mark.timeout(180)
def test_a_platform_opens_while_every_table_is_held_by_a_writer(private_dsn: str) -> None:
    with psycopg.connect(private_dsn, autocommit=False) as writer:
        tables = writer.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname IN ('events', 'read', 'ops') ORDER BY 1"
        ).fetchall()
        assert len(tables) > 100, tables  # the template holds every context's tables
        for (table,) in tables:  # what a live writer of each table holds until it commits
            writer.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")
        opened: list[Any] = []
        failed: list[BaseException] = []

        def open_platform() -> None:
            try:
                opened.append(Platform.open(private_dsn))
            except BaseException as exc:  # noqa: BLE001 - reported below
                failed.append(exc)

        opener = threading.Thread(target=open_platform, daemon=True)
        opener.start()
        opener.join(OPEN_BOUND)
        waiting = []
        if opener.is_alive():  # what the setup waits for, to say in the failure
            with psycopg.connect(private_dsn, autocommit=True) as probe:
                waiting = probe.execute(
                    "SELECT left(query, 160) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchall()
        writer.rollback()  # the locks go: a setup that waited on them ends now
        opener.join(OPEN_BOUND)
    for platform in opened:
        platform.close()
    assert not failed, failed
    assert not waiting, f"the setup waited for a writer's table lock: {waiting}"
    assert opened


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX IF NOT EXISTS loans_brand_idx ON read.loans (brand_id, id)",
        "CREATE UNIQUE INDEX IF NOT EXISTS x_uq ON ops.x USING btree (a) WHERE b IS NOT NULL",
        "ALTER TABLE ops.idempotency_keys ADD COLUMN IF NOT EXISTS body bytea",
        "ALTER TABLE read.documents ADD COLUMN IF NOT EXISTS period_from text, ADD COLUMN IF NOT EXISTS period_to text",
    ],
)
def test_a_statement_is_guarded_by_the_catalogue(statement: str) -> None:
    guarded = unless_present(statement)
    assert guarded.startswith("DO $ddl$ BEGIN IF ") and guarded.endswith(" END IF; END $ddl$")
    assert statement in guarded


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE IF NOT EXISTS ops.x (a int)",  # takes no lock on a table there already
        "CREATE INDEX x_idx ON ops.x (a)",  # no IF NOT EXISTS: a rebuild's own index, on a table it just made
        "ALTER TABLE ops.x ADD COLUMN IF NOT EXISTS a int, DROP COLUMN b",  # another clause beside: run as written
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1) THEN ALTER TABLE ops.x ADD COLUMN a int; END IF; END $$",
    ],
)
def test_other_statements_are_run_as_written(statement: str) -> None:
    assert unless_present(statement) == statement


def test_the_guarded_statements_run_once_and_then_not_at_all(private_dsn: str) -> None:
    with psycopg.connect(private_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE ops.zz_guarded (a int)")
        statements = [
            "CREATE INDEX IF NOT EXISTS zz_guarded_a ON ops.zz_guarded (a)",
            "ALTER TABLE ops.zz_guarded ADD COLUMN IF NOT EXISTS b text, ADD COLUMN IF NOT EXISTS c int",
        ]
        for statement in statements:
            conn.execute(unless_present(statement))
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'ops' "
            "AND table_name = 'zz_guarded' ORDER BY 1"
        ).fetchall()
        assert [c for (c,) in columns] == ["a", "b", "c"]
        assert conn.execute("SELECT to_regclass('ops.zz_guarded_a') IS NOT NULL").fetchone() == (True,)
        # Present: run again while a writer holds the table, they take no lock (they ran before: they waited).
        with psycopg.connect(private_dsn, autocommit=False) as writer:
            writer.execute("LOCK TABLE ops.zz_guarded IN ROW EXCLUSIVE MODE")
            conn.execute("SET lock_timeout = '2s'")
            for statement in statements:
                conn.execute(unless_present(statement))
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute(statements[0])  # as written, it waits for the writer
            writer.rollback()
