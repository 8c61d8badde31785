"""Each brand's dialer API token (`domain.fieldwork.application.DialerTokens`): a secret, kept out of the event
history in `ops.dialer_tokens` and never shown back (the settings show its last four characters). It is written
before the settings' events, so the settings never name a token that is not kept."""

from __future__ import annotations

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

    def keep(self, brand_id: UUID, token: str) -> None:
        """Keep (or replace) the brand's token."""
        self._setup()
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.dialer_tokens (brand_id, token) VALUES (%s, %s) "
                "ON CONFLICT (brand_id) DO UPDATE SET token = EXCLUDED.token, updated_at = now()",
                (brand_id, token),
            )
