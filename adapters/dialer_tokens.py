"""Each brand's dialer API token (`domain.fieldwork.application.DialerTokens`): a secret, kept out of the event
history in `ops.dialer_tokens` and never shown back (the settings show its last four characters). It is written in
the transaction of the settings' events (`keeping`), so the settings never name a token that is not kept, and a
change refused (409) keeps none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

DDL = """CREATE TABLE IF NOT EXISTS ops.dialer_tokens (
    brand_id uuid PRIMARY KEY,
    token text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""


class DialerTokenStore:
    """The brands' dialer tokens in PostgreSQL."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._ready = False

    def _setup(self) -> None:
        if not self._ready:
            with self.pool.connection() as conn:
                conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
                conn.execute(DDL)
            self._ready = True

    def token(self, brand_id: UUID) -> str | None:
        """The brand's token, None when none is kept."""
        self._setup()
        with self.pool.connection() as conn:
            row = conn.execute("SELECT token FROM ops.dialer_tokens WHERE brand_id = %s", (brand_id,)).fetchone()
        return str(row["token"]) if row else None

    def keeping(self, brand_id: UUID, token: str) -> Callable[[Any], None]:
        """The write keeping (or replacing) the brand's token: on the events' transaction cursor, or on its own
        (`None`)."""
        self._setup()  # the table exists before the events' transaction writes to it

        def write(cursor: Any) -> None:
            if cursor is not None:
                cursor.execute(_KEEP, (brand_id, token))
                return
            with self.pool.connection() as conn:
                conn.execute(_KEEP, (brand_id, token))

        return write


_KEEP = (
    "INSERT INTO ops.dialer_tokens (brand_id, token) VALUES (%s, %s) "
    "ON CONFLICT (brand_id) DO UPDATE SET token = EXCLUDED.token, updated_at = now()"
)
