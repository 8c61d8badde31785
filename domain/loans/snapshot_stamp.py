"""The stamp of the Loan's state shape: which code a Loan snapshot was taken by (adapters/loan_checkpoints.py keeps
it beside each snapshot). A snapshot is applied - the current loan loaded from it plus the events after it, or an
auditor's as-of state started from it - only when its stamp is `stamp()` of the running code; any other (or none, a
row kept before stamps) is ignored and every event is replayed.

The stamp hashes `LAYOUT` (bump it by hand when the meaning of a Loan's state changes in a way no source below shows,
e.g. a library's behaviour), the versions of eventsourcing and pydantic, and the source text of every `domain.*`
module the Loan's state is built from: `domain.loans.loan` and, transitively, every `domain.*` module whose classes,
functions or submodules it (or one of those) names at module level - the aggregate's mixins and their `@event`
methods, its events, the helpers those call, the models and dataclasses its state holds - plus the snapshot encoding
and the replay (`domain.shared.snapshot`, `domain.shared.application`). Any edit of them (a comment too) changes the
stamp: a stale stamp only costs speed (full replays until the loan's next checkpoint), never a figure. When a
module's source cannot be read (a deployment without .py files) there is no stamp and snapshots are never applied.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import threading
from importlib import metadata
from types import ModuleType

#: Bump when the Loan's state changes meaning without any change of the sources hashed below.
LAYOUT = 1

#: The modules the closure starts from.
ROOTS = ("domain.loans.loan", "domain.shared.snapshot", "domain.shared.application")

_lock = threading.Lock()
_computed: list[str | None] = []


def _dependencies(module: ModuleType) -> set[str]:
    """The `domain.*` modules whose names `module` holds at module level (imports, classes, functions)."""
    found: set[str] = set()
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name.startswith("domain.") and name != module.__name__:
            found.add(name)
    return found


def modules() -> list[str]:
    """The names of the modules hashed into the stamp, sorted."""
    seen: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        module = sys.modules.get(name) or importlib.import_module(name)
        todo.extend(_dependencies(module) - seen)
    return sorted(seen)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


def compute() -> str | None:
    """The stamp of the running code (None when a source cannot be read)."""
    libraries = ";".join(f"{name}={_version(name)}" for name in ("eventsourcing", "pydantic", "pydantic-core"))
    digest = hashlib.sha256(f"layout={LAYOUT};{libraries};".encode())
    for name in modules():
        module = sys.modules[name]
        loader = getattr(module, "__loader__", None)
        try:
            source = loader.get_source(name) if loader is not None else None
        except (ImportError, OSError):
            source = None
        if source is None:
            return None
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    return f"{LAYOUT}:{digest.hexdigest()[:32]}"


def stamp() -> str | None:
    """`compute()`, once per process."""
    if not _computed:
        with _lock:
            if not _computed:
                _computed.append(compute())
    return _computed[0]
