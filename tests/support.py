"""Test support: a real PostgreSQL database per test session (embedded, or DATABASE_URL's server)."""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from adapters import postgres
from adapters.postgres import embedded_server_dsn, ensure_database

ROOT = Path(__file__).resolve().parent.parent

#: The tests' embedded server (var/test-pgdata) is shared by the pytest-xdist workers: each holds a platform's pools
#: (about 85 connections), and a test may open a second platform or a `serve` process beside them. Written into the
#: data directory when it is created (`make clean-db` recreates an older one).
TEST_SERVER_SETTINGS = {"max_connections": "600"}


def mobile(prefix: str = "9") -> str:
    """A random ten-digit Indian mobile number starting with `prefix`, never one the SMS simulator refuses (it puts
    numbers ending in 0000 on its do-not-disturb list: drawn at random, one test in ten thousand met one)."""
    while True:
        number = f"{prefix}{uuid.uuid4().int % 10 ** (10 - len(prefix)):0{10 - len(prefix)}d}"
        if not number.endswith("0000"):
            return number


def fresh_database_dsn(prefix: str = "cd_test") -> str:
    """Create a new, empty database and return its DSN; DATABASE_URL's server when set, else embedded."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = os.environ.get("DATABASE_URL")
    if url:
        ensure_database(url, name)
        return make_conninfo(url, dbname=name)
    postgres.EMBEDDED_SETTINGS.update(TEST_SERVER_SETTINGS)
    return embedded_server_dsn(ROOT / "var" / "test-pgdata", name)


def drop_database(dsn: str) -> None:
    """Drop a database made by fresh_database_dsn (best effort: it may still have connections)."""
    admin = make_conninfo(dsn, dbname="postgres")
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(str(name)))
        )
