"""API keys for integrations: bound to a brand and a role; only a hash is kept."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound


class ApiKeyNotFound(NotFound):
    """Raised when no API key has the id within the brand."""


class ApiKey(Aggregate):
    """A bearer credential; the secret is shown once and stored as a SHA-256 hash."""

    class Issued(Aggregate.Created):
        """A key was generated."""

        brand_id: UUID
        label: str
        role: str
        secret_hash: str
        prefix: str
        owner_id: UUID | None = None  # the staff user who created it; disabling them stops the key

    class Revoked(Aggregate.Event):
        """The key stops working at once."""

    @event(Issued)
    def __init__(
        self, brand_id: UUID, label: str, role: str, secret_hash: str, prefix: str, owner_id: UUID | None
    ) -> None:
        self.brand_id = brand_id
        self.owner_id = owner_id
        self.label = label
        self.role = role
        self.secret_hash = secret_hash
        self.prefix = prefix
        self.revoked = False

    def revoke(self) -> None:
        """Revoke the key; revoking twice is a conflict."""
        if self.revoked:
            raise Conflict("API key is already revoked")
        self._revoked()

    @event(Revoked)
    def _revoked(self) -> None:
        self.revoked = True
