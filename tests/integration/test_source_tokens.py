"""A notice source and its API token are kept in one PostgreSQL transaction: a failure of either leaves neither."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from domain.notices.application import Notices, SourceAlreadyConnected
from domain.notices.source import source_id_for

URL = "http://127.0.0.1:9/api"


def _token_row(dsn: str, source_id: uuid.UUID) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT token FROM ops.source_tokens WHERE source_id = %s", (source_id,)).fetchone()
    return row[0] if row else None


def _events(dsn: str, source_id: uuid.UUID) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM events.notices_events WHERE originator_id = %s", (source_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_connecting_keeps_the_token_with_the_sources_events(platform: Any, dsn: str) -> None:
    brand = uuid.uuid4()
    result = platform.notices.connect_source(
        brand, company="SML", base_url=URL, token="secret-token-0001", schedule="0 * * * *"
    )
    assert (_events(dsn, result.id), _token_row(dsn, result.id)) == (1, "secret-token-0001")
    assert platform.notices.source_token(result.id) == "secret-token-0001"
    changed = platform.notices.reconfigure_source(brand, result.id, token="secret-token-0002")
    assert changed.changed and _events(dsn, result.id) == 2
    assert _token_row(dsn, result.id) == "secret-token-0002"
    same = platform.notices.reconfigure_source(brand, result.id, token="secret-token-0002")
    assert not same.changed and _events(dsn, result.id) == 2


def test_a_failing_token_write_records_no_source(platform: Any, dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    notices: Notices = platform.notices
    brand = uuid.uuid4()
    source_id = source_id_for(brand, "SML")
    keeping = notices.tokens.keeping

    def failing(brand_id: uuid.UUID, source_id: uuid.UUID, token: str) -> Any:
        write = keeping(brand_id, source_id, token)

        def fail(cursor: Any) -> None:
            write(cursor)  # the token row is written, then the transaction fails
            raise OSError("lost the connection")

        return fail

    monkeypatch.setattr(notices.tokens, "keeping", failing)
    with pytest.raises(OSError):
        notices.connect_source(brand, company="SML", base_url=URL, token="secret-token-0001", schedule="0 * * * *")
    assert (_events(dsn, source_id), _token_row(dsn, source_id)) == (0, None)
    assert notices.find(source_id) is None


def test_a_conflicting_source_write_keeps_no_token(platform: Any, dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    notices: Notices = platform.notices
    brand = uuid.uuid4()
    first = notices.connect_source(brand, company="SML", base_url=URL, token="secret-token-0001", schedule="0 * * * *")
    # A second request that did not see the first one (a race): its events conflict, so its token is not kept.
    monkeypatch.setattr(notices, "find", lambda _id: None)
    with pytest.raises(SourceAlreadyConnected):
        notices.connect_source(brand, company="SML", base_url=URL, token="secret-token-0002", schedule="0 * * * *")
    assert (_events(dsn, first.id), _token_row(dsn, first.id)) == (1, "secret-token-0001")
