"""The SQL statements one request runs, counted in the request's own context (the projection runners' and the
other threads' statements are not), for tests of slow paths: a list whose statements grow with its page, a page that
reads a record per row."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

_RUNNING: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("statements", default=None)


class StatementCount:
    """An ASGI app around `app` keeping the statements of the last request it served (`last`): each run by a
    psycopg cursor in that request's context, the thread-pool threads it hands work to included."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        statements: list[str] = []
        token = _RUNNING.set(statements)
        try:
            await self.app(scope, receive, send)
        finally:
            _RUNNING.reset(token)
            if scope["type"] == "http":
                self.last = statements

    def fewest(self, client: Any, url: str, headers: dict[str, str], times: int = 2) -> tuple[int, Any]:
        """The fewest statements of `times` GETs of `url` (the first may load what later ones keep), and the last
        answer."""
        counts = []
        answer = None
        for _ in range(times):
            answer = client.get(url, headers=headers)
            counts.append(len(self.last))
        return min(counts), answer


@contextmanager
def counting_statements() -> Iterator[None]:
    """psycopg's cursors note each statement in the running request's list (`StatementCount`) while the block runs."""
    with pytest.MonkeyPatch.context() as patch:
        for cls in (psycopg.Cursor, psycopg.ServerCursor):
            for name in ("execute", "executemany", "stream"):
                patch.setattr(cls, name, _noting(getattr(cls, name)))
        yield


def _noting(method: Any) -> Any:
    def noted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements = _RUNNING.get()
        if statements is not None:
            text = query if isinstance(query, str | bytes) else query.as_string(None)
            statements.append(re.sub(r"\s+", " ", str(text))[:200])
        return method(self, query, *args, **kwargs)

    return noted
