"""A `projections rebuild` of the borrower directory SIGKILLed part way while the live runners go on (as a `serve`
does): the names it had replayed stay findable by name search (docs/operations.md, "CLI").

A rebuild's batches leave the name vocabulary out and count it once after the replay (`rebuilt_statements`); a
rebuild that fails runs that count in its `finally`, but a killed one runs nothing. The live runner then went on from
the rows the rebuild had committed, counting only the names after them, and the next start's backfill (only into an
empty vocabulary) did nothing: the borrowers replayed before the kill were never found by name again. The rebuild
is a real process (the engine's `rebuild`, in small batches so the kill lands between two), killed once it reports
its first batches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import date
from typing import Any

import pytest

from domain.customers.application import Customers
from tests.conftest import make_tenant

# A database of its own (tests/own_database.py): the rebuild replays every brand's borrowers of its database.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import ROOT, mobile, settle

BORROWERS = 60

REBUILD = textwrap.dedent("""
    import sys, time
    from workers.cli import _platform
    def progress(done, total):
        print(done, flush=True)
        time.sleep(0.5)  # the test kills the process here, between two batches
    with _platform() as platform:
        platform.engine.rebuild("customer_directory", progress, batch=10)
    print("done", flush=True)
""")


@pytest.mark.timeout(300)
def test_a_directory_rebuild_killed_part_way_leaves_every_borrower_findable_by_name(
    client: Any, platform: Any, dsn: str
) -> None:
    tenant = make_tenant(platform)
    customers: Customers = platform.get(Customers)
    words = [f"Zq{uuid.uuid4().hex[:8]}" for _ in range(BORROWERS)]
    for word in words:
        customers.register(tenant.brand_id, name=f"Meera {word}", phone="+91" + mobile("9"),
                           date_of_birth=date(1990, 1, 15))  # fmt: skip
    settle(platform, Customers.name)

    rebuild = subprocess.Popen([sys.executable, "-c", REBUILD], cwd=ROOT, env={**os.environ, "DATABASE_URL": dsn},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert rebuild.stdout is not None
        said = [rebuild.stdout.readline().strip()]
        while not said[-1].isdigit():  # the platform's log lines first
            assert said[-1] != "done" and rebuild.poll() is None, "\n".join([*said, rebuild.stdout.read()])
            said.append(rebuild.stdout.readline().strip())
        line = said[-1]
        assert 0 < int(line) < BORROWERS, line  # some of the borrowers replayed, not all
        os.kill(rebuild.pid, signal.SIGKILL)
        assert rebuild.wait(timeout=30) == -signal.SIGKILL
    finally:
        if rebuild.poll() is None:
            rebuild.kill()

    # The live runner goes on from where the rebuild stopped; then every borrower is found by a word of its name.
    settle(platform, Customers.name)
    unfound = []
    for word in words:
        found = client.get("/api/v1/customers", params={"q": word.lower()}, headers=tenant.auth)
        assert found.status_code == 200, found.text
        if [c["name"] for c in found.json()["items"]] != [f"Meera {word}"]:
            unfound.append(word)
    assert unfound == []
    with platform.db.pool.connection() as conn:
        left = conn.execute("SELECT rebuilding FROM ops.projection_tracking WHERE projection = 'customer_directory'")
        assert left.fetchone()["rebuilding"] is False
