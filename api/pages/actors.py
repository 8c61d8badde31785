"""Display names of the actors recorded on events (`staff:<id>`, `apikey:<id>`, `job:<name>`, `borrower:<id>`), for
portal pages."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from domain.identity.api_key import ApiKey
from domain.identity.application import Identity
from domain.identity.staff import StaffUser


def staff_and_key_names(identity: Identity, brand_id: UUID, actors: Iterable[str]) -> dict[str, str]:
    """Names of the brand's staff and API keys among `actors`; other actors (and other brands') are left out."""
    names: dict[str, str] = {}
    for actor in actors:
        kind, _, raw_id = actor.partition(":")
        if kind not in ("staff", "apikey"):
            continue
        try:
            # Kept (one indexed statement while nothing changed): a staff user's history grows with every login, and
            # replaying it whole for each actor of an audit page cost ~6 ms each.
            found = identity.find_kept(UUID(raw_id))
        except ValueError:
            continue
        if kind == "staff" and isinstance(found, StaffUser) and found.brand_id == brand_id:
            names[actor] = found.name
        elif kind == "apikey" and isinstance(found, ApiKey) and found.brand_id == brand_id:
            names[actor] = f"API key “{found.label}”"
    return names


def actor_names(identity: Identity, brand_id: UUID, actors: Iterable[str]) -> dict[str, str]:
    """Names of staff and API keys, `job:<name>` as "the <name> job" and `borrower:<id>` (the borrower's own act in
    the web flow or app) as "the borrower"; others are shown as recorded."""
    wanted = set(actors)
    jobs = {a: f"the {a.partition(':')[2]} job" for a in wanted if a.startswith("job:")}
    borrowers = {a: "the borrower" for a in wanted if a.startswith("borrower:")}
    return jobs | borrowers | staff_and_key_names(identity, brand_id, wanted - jobs.keys() - borrowers.keys())
