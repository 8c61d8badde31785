"""Test support: a real PostgreSQL database per test session (embedded, or DATABASE_URL's server)."""

from __future__ import annotations

import os
import re
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from adapters import postgres
from adapters.postgres import embedded_server_dsn, ensure_database
from adapters.simulators.dialer import ENDINGS as DIALER_ENDINGS
from adapters.simulators.penny_drop import FAILURES as PENNY_DROP_FAILURES
from adapters.simulators.receipts import UNREACHABLE_SUFFIX

ROOT = Path(__file__).resolve().parent.parent

#: The tests' embedded server (var/test-pgdata) is shared by the pytest-xdist workers: each holds a platform's pools
#: (57 connections once open, about 80 with its runners), and a test may open a second platform and two `serve`
#: processes beside them (the kill tests): three workers at once need about 1,000 (600 ran out in a CI run, "too many
#: clients already", when three such files met at the suite's end). Written into the data directory before the server
#: starts.
TEST_SERVER_SETTINGS = {"max_connections": "1200"}


#: Endings the simulators treat specially: SMS and WhatsApp refuse numbers ending 0000 (do-not-disturb), the account
#: aggregator rejects consents of phones ending 1111 and gives those ending 2222 no salary and 3333 bounced EMIs, the
#: dialer's calls to 1111, 2222 and 3333 go unanswered, busy or failed, receipts do not reach numbers ending 9999;
#: payouts fail accounts ending 0000, the penny drop fails 0000-3333 (`FAILURES`) and answers 4444 and 5555 with
#: another name. Drawn at random, one test in a few thousand met one (a CI run failed on an account ending 1111-3333).
_SPECIAL_PHONE_ENDINGS = ("0000", UNREACHABLE_SUFFIX, *DIALER_ENDINGS)
_SPECIAL_ACCOUNT_ENDINGS = ("4444", "5555", *PENNY_DROP_FAILURES)  # FAILURES holds 0000


def _digits(prefix: str, length: int, refused: tuple[str, ...]) -> str:
    while True:
        number = f"{prefix}{uuid.uuid4().int % 10 ** (length - len(prefix)):0{length - len(prefix)}d}"
        if not number.endswith(refused):
            return number


def mobile(prefix: str = "9") -> str:
    """A random ten-digit Indian mobile number starting with `prefix`, never one a simulator treats specially."""
    return _digits(prefix, 10, _SPECIAL_PHONE_ENDINGS)


def account_number(prefix: str = "5010") -> str:
    """A random fourteen-digit bank account number starting with `prefix`, never one a simulator treats specially."""
    return _digits(prefix, 14, _SPECIAL_ACCOUNT_ENDINGS)


def fresh_database_dsn(prefix: str = "cd_test") -> str:
    """Create a new, empty database and return its DSN; DATABASE_URL's server when set, else embedded."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = os.environ.get("DATABASE_URL")
    if url:
        ensure_database(url, name)
        return make_conninfo(url, dbname=name)
    postgres.EMBEDDED_SETTINGS.update(TEST_SERVER_SETTINGS)
    return embedded_server_dsn(ROOT / "var" / "test-pgdata", name)


def copy_database_dsn(template_dsn: str, prefix: str = "cd_test") -> str:
    """Create a new database as a copy of `template_dsn`'s (which nothing may be connected to) and return its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    template = psycopg.conninfo.conninfo_to_dict(template_dsn)["dbname"]
    with psycopg.connect(make_conninfo(template_dsn, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(str(template))
            )
        )
    return make_conninfo(template_dsn, dbname=name)


def drop_database(dsn: str) -> None:
    """Drop a database made by fresh_database_dsn (best effort: it may still have connections)."""
    admin = make_conninfo(dsn, dbname="postgres")
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(str(name)))
        )


#: How long a test waits for read models before it fails (generous: a loaded CI machine runs the suite 2-3x slower).
SETTLE_SECONDS = 30.0


def settle(platform: Any, source: str, position: int | None = None, timeout: float = SETTLE_SECONDS) -> None:
    """Wait until every running read model of `source` has reached `position` (default: the source's head); fail the
    test when they have not (`ProjectionEngine.wait_for` answers False after its timeout, which a test ignoring it
    would only find later as a confusing assertion about stale data -- or not at all, asserting an absence)."""
    target = platform.engine.head(source) if position is None else position
    assert platform.engine.wait_for(source, target, timeout=timeout), (
        f"the read models of {source} did not reach position {target} within {timeout:g} s"
    )


#: An amount as a generated document writes it (`Rs. 1,50,000.00`, adapters/agreement_pdf.py `document_money`).
_DOCUMENT_AMOUNT = re.compile(r"(-?)Rs\. ?([0-9][0-9,]*\.[0-9]{2})")


def document_amounts_as_digits(text: str) -> str:
    """A document's extracted text with each amount as the API writes it (`Rs. 1,50,000.00` -> `150000.00`), for the
    tests that compare a document's figures with the API's; the documents' own spelling is tested on its own."""
    return _DOCUMENT_AMOUNT.sub(lambda m: m.group(1) + m.group(2).replace(",", ""), text)
