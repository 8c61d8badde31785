"""Records read on every request (no target: no issue set one; it shows what `ContextApplication.find_kept` saves).

Three records whose histories only grow, each read the way a request or a sync reads it, against a full replay of it
in the same run (the baseline: how each was read before `find_kept`):

- a held brand's configuration after a year of closes of business (one business-date change a day): what every
  request reads for the brand's settings and business date (`Identity.settings`);
- a staff user after a year of logins (two a working day): what every portal request and every API key they own
  reads (`Authentication.staff_now`);
- a notice source after a month of half-hourly syncs (two events each): what each sync's start and end read
  (`Notices.source`, a copy to change).

Each read is timed `READS` times on one process against PostgreSQL; p50 and the ratio replay / kept are printed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from adapters.outbound import ALLOWED_HOSTS_ENV
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.notices.application import Notices
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say, timings_ms
from workers.platform import Platform

READS = 200


def _p50_ms(read: Callable[[], Any], reads: int) -> float:
    return percentile(timings_ms(read, reads), 0.5)


def _compare(what: str, events: int, replay: Callable[[], Any], kept: Callable[[], Any], reads: int) -> None:
    kept()  # the first read keeps it
    replayed, read = _p50_ms(replay, reads), _p50_ms(kept, reads)
    say(f"   {what} ({events:,} events): replay p50 {replayed:.2f} ms, kept p50 {read:.3f} ms "
        f"(replay / kept {replayed / read:.1f})")  # fmt: skip


def run(quick: bool) -> list[Verdict]:
    """Grow the three histories, then time each read both ways."""
    days, logins, syncs = (90, 120, 300) if quick else (365, 500, 1_500)
    reads = READS // 4 if quick else READS
    say("== Records read on every request: kept and brought up to date vs replayed")
    os.environ.setdefault(ALLOWED_HOSTS_ENV, "127.0.0.1")  # the source is never called: only its record is read
    with fresh_database("cd_bench_kept") as dsn:
        platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
        try:
            identity, notices = platform.get(Identity), platform.get(Notices)
            brand = identity.create_brand("bench-kept", "Bench Kept Finance").id
            began = time.perf_counter()
            start = date(2026, 1, 1)
            for day in range(days):
                identity.change_configuration(brand, {"business_date": (start + timedelta(days=day)).isoformat()})
            staff = identity.create_staff(brand, "kept@bench.in", "Kavya Rao", ["sales"], granter=OPERATOR).id
            for _ in range(logins):
                user = identity.staff(brand, staff)
                user.record_login("10.0.0.1", "bench")
                identity.commit(user)
            source = notices.connect_source(
                brand, company="KEPT", base_url="http://127.0.0.1:9/api", token="token-0001", schedule="*/30 * * * *"
            ).id
            for _ in range(syncs):
                sync = notices.begin_sync(brand, source, trigger="schedule", requested_by="bench")
                notices.finish_sync(sync.id, error=None, inactivated=0, retries=0)
            say(f"   histories grown in {time.perf_counter() - began:.1f} s")
            # The baselines are `find`: a full replay. `Identity.configuration` and `Authentication.staff` read
            # through `find_latest` themselves now (a command's copy), so they are no baseline.
            config = identity.configuration(brand)
            _compare("brand settings", config.version, lambda: identity.find(config.id).settings,
                     lambda: identity.settings(brand), reads)  # fmt: skip
            _compare("staff user", identity.staff(brand, staff).version, lambda: identity.find(staff),
                     lambda: identity.staff_now(brand, staff), reads)  # fmt: skip
            _compare("notice source", notices.source(brand, source).version, lambda: notices.find(source),
                     lambda: notices.source(brand, source), reads)  # fmt: skip
        finally:
            platform.close()
    return []
