"""Which errors blame an event, which mean the database is unreachable, and how an error is stored."""

from __future__ import annotations

import psycopg
import pytest
from eventsourcing import persistence
from psycopg_pool import PoolTimeout

from adapters.postgres import DatabaseUnavailable
from api.problems import database_unavailable, problem_for
from projections.failures import describe_error, is_transient


def _wrapped(exc: Exception, outer: type[Exception]) -> Exception:
    """`outer` raised from `exc`, as eventsourcing wraps psycopg's errors."""
    wrapped = outer(str(exc))
    wrapped.__cause__ = exc
    return wrapped


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.InterfaceError("the connection is closed"),
        PoolTimeout("couldn't get a connection after 5.00 sec"),
        DatabaseUnavailable("no connection within 5.0 s"),
        persistence.OperationalError("server closed the connection"),
        _wrapped(DatabaseUnavailable("no connection"), persistence.PersistenceError),
    ],
)
def test_outages_are_transient_and_answer_503(exc: Exception) -> None:
    assert is_transient(exc)
    assert database_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.errors.UntranslatableCharacter("unsupported Unicode escape sequence"),
        psycopg.DataError("invalid byte sequence for encoding UTF8: 0x00"),
        psycopg.errors.NumericValueOutOfRange("value overflows numeric format"),
        psycopg.IntegrityError("duplicate key value"),
        KeyError("brand_id"),
        ValueError("bad event"),
    ],
)
def test_errors_of_an_event_blame_the_event_and_are_not_outages(exc: Exception) -> None:
    assert not is_transient(exc)
    assert not database_unavailable(exc)


def test_a_stored_error_has_its_sqlstate_and_no_nul_or_lone_surrogate() -> None:
    text = describe_error(ValueError("name 'Nul\x00Byte' and \udc80 are not storable"))
    assert "\x00" not in text and "\\x00" in text
    text.encode("utf-8")  # a lone surrogate would raise here
    assert describe_error(psycopg.errors.UntranslatableCharacter("x")).startswith("UntranslatableCharacter [22P05]")
    assert len(describe_error(ValueError("x" * 10_000))) == 2000


def test_an_outage_is_a_503_problem_with_retry_after() -> None:
    from starlette.requests import Request

    request = Request({"type": "http", "method": "GET", "path": "/api/v1/customers", "headers": []})
    response = problem_for(_wrapped(DatabaseUnavailable("no connection"), persistence.PersistenceError), request)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.media_type == "application/problem+json"
    assert b"database-unavailable" in bytes(response.body)
