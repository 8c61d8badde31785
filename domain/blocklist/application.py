"""Use cases of the blocklist context and the check other contexts call."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from domain.blocklist.entry import BlockKind, BlocklistEntry, BlocklistEntryNotFound, normalise_blocked_value
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ContextApplication
from domain.shared.errors import InvalidValue
from domain.shared.values import MIN_REASON, clean_text

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/blocklist")


def entry_id(brand_id: UUID, kind: BlockKind, value: str) -> UUID:
    """The id of the entry for a normalised value."""
    return uuid5(_NAMESPACE, f"{brand_id}:{kind.value}:{value}")


def _reason(reason: str) -> str:
    missing = "give a reason (at least 3 characters)"
    clean = clean_text(reason, "reason", multiline=True, min_visible=MIN_REASON, missing=missing)
    return " ".join(clean.split())[:500]


class Blocklists(ContextApplication):
    """Add, remove and check blocked values per brand."""

    name = "blocklist"

    def add(self, brand_id: UUID, kind: BlockKind, value: str, reason: str) -> CommandResult:
        """Block a value; blocking one already blocked is a conflict naming the entry."""
        clean = normalise_blocked_value(kind, value)
        why = _reason(reason)
        existing = self.find(entry_id(brand_id, kind, clean))
        if isinstance(existing, BlocklistEntry):
            existing.readd(why)
            return self.commit(existing)
        entry = with_id(
            BlocklistEntry, entry_id(brand_id, kind, clean), brand_id=brand_id, kind=kind, value=clean, reason=why
        )
        return self.commit(entry)

    def remove(self, brand_id: UUID, entry: UUID, reason: str) -> CommandResult:
        """Unblock by entry id."""
        found = self.load(BlocklistEntry, entry, brand_id, BlocklistEntryNotFound)
        found.remove(_reason(reason))
        return self.commit(found)

    def check(self, brand_id: UUID, kind: BlockKind, value: str) -> BlocklistEntry | None:
        """The active entry blocking `value`, or None (values that are not even valid are not blocked)."""
        try:
            clean = normalise_blocked_value(kind, value)
        except InvalidValue:
            return None
        found = self.find(entry_id(brand_id, kind, clean))
        return found if isinstance(found, BlocklistEntry) and found.active else None
