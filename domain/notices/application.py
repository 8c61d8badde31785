"""Use cases of the notices context: sources, sync runs page by page, staleness, matching and rematching."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.notices.notice import (
    Match,
    Notice,
    NoticeFacts,
    NoticeMode,
    NoticeNotFound,
    Observation,
    notice_id_for,
)
from domain.notices.source import (
    NoticeSource,
    SourceNotFound,
    SourceTokens,
    SourceUrlCheck,
    TokensInMemory,
    check_settings,
    clean_company,
    source_id_for,
    token_hint,
)
from domain.notices.sync_run import PageCounts, SyncRun, SyncRunNotFound, SyncStatus
from domain.shared.aggregate import Aggregate, with_id
from domain.shared.application import (
    CommandResult,
    ConcurrentModification,
    ContextApplication,
    of_brand,
    replay,
    retried,
)
from domain.shared.clock import Clock
from domain.shared.errors import Conflict

#: Scores notices against borrower records: (brand, notices) -> the match of each notice, by notice id.
MatchFn = Callable[[UUID, Sequence[Notice]], dict[UUID, Match]]

#: Notices marked inactive per atomic save when a run ends.
INACTIVATE_BATCH = 1000

#: How many times a change of a source is made again on the source as it now is when a change of the other kind
#: (its settings, its syncs' start and end) was saved first: the two commute (`reconfigure_source`, `begin_sync`,
#: `finish_sync`).
SOURCE_ATTEMPTS = 5


class SourceAlreadyConnected(Conflict):
    """Raised when a company of the brand already has a notice source."""


class Notices(ContextApplication):
    """Notice sources, sync runs and the notices they import, with their borrower matches."""

    name = "notices"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        url_check: SourceUrlCheck | None = None,
        tokens: SourceTokens | None = None,
    ) -> None:
        super().__init__(env, clock)
        self.url_check = url_check  # None only where no source is ever called (unit tests of other use cases)
        self.tokens: SourceTokens = tokens or TokensInMemory()  # in memory only with the in-memory event store
        #: Sync runs as their last page left them, by id: the next page reads only what was recorded since.
        self._runs: dict[UUID, SyncRun] = {}
        self._runs_lock = threading.Lock()  # syncs of several sources may record pages at once

    # Sources -------------------------------------------------------------------------------------------------

    def connect_source(
        self,
        brand_id: UUID,
        *,
        company: str,
        base_url: str,
        token: str,
        schedule: str,
        enabled: bool = True,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Connect a company's Softmedia source (one per company); its token is kept, apart from the events, in the
        same transaction that records them. `companies`: those the caller may manage (empty: every company)."""
        code = clean_company(company)
        if companies and code not in companies:
            raise SourceNotFound(f"company {company} is not one you may manage", company=company)
        check_settings(
            company=company, base_url=base_url.strip(), token=token, schedule=schedule, url_check=self.url_check
        )
        source_id = source_id_for(brand_id, code)
        if self.find(source_id) is not None:
            raise SourceAlreadyConnected(f"company {code} already has a notice source", id=str(source_id))
        source = with_id(
            NoticeSource,
            source_id,
            brand_id=brand_id,
            company=code,
            base_url=base_url.strip().rstrip("/"),
            schedule=" ".join(schedule.split()),
            enabled=enabled,
            token_hint=token_hint(token),
        )
        try:
            return self._commit_with_token(source, token)
        except ConcurrentModification:
            raise SourceAlreadyConnected(f"company {code} already has a notice source", id=str(source_id)) from None

    def reconfigure_source(
        self,
        brand_id: UUID,
        source_id: UUID,
        *,
        base_url: str | None = None,
        token: str | None = None,
        schedule: str | None = None,
        enabled: bool | None = None,
        companies: Sequence[str] = (),
        expected_version: int | None = None,
    ) -> CommandResult:
        """Change a source's URL, token, schedule or enabled flag (the token it already has is no change); a new
        token is kept in the transaction that records the change. `expected_version` (If-Match: the settings'
        version, which syncs do not move) refuses a change made against settings changed since with 409."""
        for attempt in range(1, SOURCE_ATTEMPTS + 1):
            source = self.source(brand_id, source_id, companies)
            read = source.settings_version
            if expected_version is not None and read != expected_version:
                raise ConcurrentModification(
                    f"the source's settings are at version {read}, not {expected_version}; reload and retry",
                    id=str(source.id),
                    current_version=read,
                )
            check_settings(
                base_url=None if base_url is None else base_url.strip(),
                token=token,
                schedule=schedule,
                url_check=self.url_check,
            )
            new_token = None if token is None or token == self.tokens.token(source_id) else token
            changed = source.reconfigure(
                base_url=None if base_url is None else base_url.strip().rstrip("/"),
                schedule=None if schedule is None else " ".join(schedule.split()),
                enabled=enabled,
                token_hint=None if new_token is None else token_hint(new_token),
            )
            if not changed:
                return CommandResult(id=source.id, position=0, changed=False)
            try:
                return self._commit_with_token(source, new_token)
            except ConcurrentModification as lost:
                # Another request saved the source first. A sync's start or end (which leave the settings as they
                # were): the change is made again on the source as it now is. Another change of the settings: 409
                # naming their version now (the aggregate's, which a sync moves too, is not the ETag a caller has).
                now = self.source(brand_id, source_id).settings_version
                if now != read or attempt == SOURCE_ATTEMPTS:
                    raise ConcurrentModification(str(lost), id=str(source.id), current_version=now) from lost
        raise AssertionError("unreachable")  # the loop returns or raises

    def source_token(self, source_id: UUID) -> str | None:
        """A source's API token (workers calling the source)."""
        return self.tokens.token(source_id)

    def _commit_with_token(self, source: NoticeSource, token: str | None) -> CommandResult:
        """Record the source's events and keep its token in one transaction: neither without the other."""
        if token is None:
            return self.commit(source)
        keep = self.tokens.keeping(source.brand_id, source.id, token)
        if not getattr(self.recorder, "writes_beside", False):  # no transactions (in memory): record, then keep
            result = self.commit(source)
            keep(None)
            return result
        try:
            recordings = self.save(source, beside=(keep,))
        except IntegrityError as exc:
            raise ConcurrentModification(
                "the record was changed by another request at the same time; reload and retry", id=str(source.id)
            ) from exc
        return CommandResult(id=source.id, position=max((r.notification.id for r in recordings), default=0))

    def source(self, brand_id: UUID | None, source_id: UUID, companies: Sequence[str] = ()) -> NoticeSource:
        """The source, if in the brand (None: any brand, for workers) and of one of `companies` (empty: any).
        Each sync records its start and end on it (at a half-hourly schedule, some 35,000 events a year), so it is
        brought up to date from the one last read (`find_latest`), not replayed whole."""
        source = of_brand(self.find_latest(source_id), NoticeSource, source_id, brand_id, SourceNotFound)
        if companies and source.company not in companies:
            raise SourceNotFound(f"NoticeSource {source_id} not found", id=str(source_id))
        return source

    # Sync runs -----------------------------------------------------------------------------------------------

    def begin_sync(
        self,
        brand_id: UUID | None,
        source_id: UUID,
        *,
        trigger: str,
        requested_by: str,
        modes: Sequence[NoticeMode] = (NoticeMode.OVERDUE, NoticeMode.UPCOMING),
        is_abandoned: Callable[[UUID], bool] = lambda _run_id: False,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """Start a sync run of a source; 409 naming the running run while one runs.

        A running run whose worker is gone (`is_abandoned`) is ended as failed first, so a dead worker never
        blocks its source for good. `companies`: those the caller may see (empty: every company).
        """

        def begin() -> CommandResult:
            source = self.source(brand_id, source_id, companies)
            running = source.running_run_id
            if running is not None and is_abandoned(running):
                self.finish_sync(running, error="abandoned: the worker running it stopped", inactivated=0, retries=0)
                source = self.source(brand_id, source_id)
            run = SyncRun(
                brand_id=source.brand_id,
                source_id=source.id,
                company=source.company,
                trigger=trigger,
                requested_by=requested_by,
                modes=list(modes),
            )
            source.start_sync(run.id)
            return self.commit(run, source)

        # Its settings changed meanwhile: started on them (another run started: the next attempt refuses it, 409).
        return retried(begin, SOURCE_ATTEMPTS)

    def sync_run(self, brand_id: UUID | None, run_id: UUID) -> SyncRun:
        """The run, if in the brand (None: any brand, for workers)."""
        return self.load(SyncRun, run_id, brand_id, SyncRunNotFound)

    def record_page(
        self,
        run_id: UUID,
        *,
        mode: NoticeMode,
        page: int,
        total_pages: int,
        items: Sequence[tuple[str, NoticeFacts]],
        malformed: int,
        errors: Sequence[str],
        match: MatchFn,
    ) -> tuple[PageCounts, list[UUID]]:
        """Record one fetched page in one atomic save: new, changed and reappearing notices, their matches, the
        page's counts on the run. Returns the counts and the ids of every notice the page listed."""
        run = self._run_for_page(run_id)
        latest: dict[str, NoticeFacts] = {}
        for source_notice_id, facts in items:  # A notice repeated on a page: the later copy is the newer.
            latest[source_notice_id] = facts
        ids = {sid: notice_id_for(run.source_id, sid) for sid in latest}
        existing = self.find_many(list(ids.values()))
        seen = {"created": 0, "updated": 0, "unchanged": 0, "reactivated": 0}
        changed: list[Notice] = []
        to_match: list[Notice] = []
        for sid, facts in latest.items():
            notice = existing.get(ids[sid])
            if notice is None:
                notice = with_id(
                    Notice,
                    ids[sid],
                    brand_id=run.brand_id,
                    source_id=run.source_id,
                    company=run.company,
                    source_notice_id=sid,
                    facts=facts,
                    run_id=run.id,
                )
                seen["created"] += 1
                changed.append(notice)
                to_match.append(notice)
                continue
            previous = notice.facts
            outcome = notice.observe(facts, run.id)
            seen[outcome.value] += 1
            if outcome is not Observation.UNCHANGED:
                changed.append(notice)
                if notice.match is None or facts.identity_differs_from(previous):
                    to_match.append(notice)
        matched = 0
        if to_match:
            results = match(run.brand_id, to_match)
            for notice in to_match:
                result = results.get(notice.id)
                if result is not None:
                    notice.record_match(result, "imported" if notice.version == 1 else "source changed")
                    matched += result.customer_id is not None
        counts = PageCounts(fetched=len(items) + malformed, malformed=malformed, matched=matched, **seen)
        run.record_page(mode, page, total_pages, counts, list(errors))
        self.commit(run, *changed)
        self._keep_run(run)
        return counts, list(ids.values())

    #: Sync runs kept between pages (one per source syncing at once in this process).
    RUNS_KEPT = 16

    def _run_for_page(self, run_id: UUID) -> SyncRun:
        """The run as its store holds it. A run gains an event a page, so loading it whole for every page would
        replay its pages over and over (quadratic in a source's pages): the run as the last page saved it is kept,
        and only the events recorded since (by anyone) are read and applied."""
        with self._runs_lock:
            kept = self._runs.pop(run_id, None)
        if kept is None:
            return self.sync_run(None, run_id)
        newer = self.recorder.select_events(run_id, gt=kept.version)
        run: SyncRun = replay(kept, map(self.mapper.to_domain_event, newer))
        return run

    def _keep_run(self, run: SyncRun) -> None:
        """Keep a run its page just saved (only saved state is kept: a page that fails leaves none)."""
        with self._runs_lock:
            if len(self._runs) >= self.RUNS_KEPT:
                self._runs.pop(next(iter(self._runs)))  # the longest kept
            self._runs[run.id] = run

    def inactivate(self, run_id: UUID, notice_ids: Sequence[UUID]) -> int:
        """Mark notices a complete pull did not list as inactive, in atomic batches; returns how many changed."""
        done = 0
        for start in range(0, len(notice_ids), INACTIVATE_BATCH):
            found = self.find_many(notice_ids[start : start + INACTIVATE_BATCH])
            changed = [n for n in found.values() if isinstance(n, Notice) and n.mark_inactive(run_id)]
            if changed:
                self.commit(*changed)
            done += len(changed)
        return done

    def finish_sync(self, run_id: UUID, *, error: str | None, inactivated: int, retries: int) -> SyncStatus:
        """End a run and free its source for the next one."""
        with self._runs_lock:
            self._runs.pop(run_id, None)

        def finish() -> SyncStatus:
            run = self.sync_run(None, run_id)
            source = self.source(None, run.source_id)
            status = run.finish(error=error, inactivated=inactivated, retries=retries, now=self.clock.now())
            source.end_sync(run.id, status.value)
            self.commit(run, source)
            return status

        # The source's settings changed meanwhile (an admin's edit): the run still ends, on the source as it now is,
        # not as a failed job whose run waits to be found abandoned.
        return retried(finish, SOURCE_ATTEMPTS)

    # Notices -------------------------------------------------------------------------------------------------

    def notice(self, brand_id: UUID | None, notice_id: UUID) -> Notice:
        """The notice, if in the brand."""
        return self.load(Notice, notice_id, brand_id, NoticeNotFound)

    def rematch(self, brand_id: UUID, notice_ids: Sequence[UUID], match: MatchFn, reason: str) -> int:
        """Score notices again (a borrower record changed); records only changed matches; returns how many."""
        notices = [
            n for n in self.find_many(list(notice_ids)).values() if isinstance(n, Notice) and n.brand_id == brand_id
        ]
        if not notices:
            return 0
        results = match(brand_id, notices)
        changed: list[Aggregate] = [
            n for n in notices if (r := results.get(n.id)) is not None and n.record_match(r, reason)
        ]
        if changed:
            self.commit(*changed)
        return len(changed)

    def confirm_match(
        self,
        brand_id: UUID,
        notice_id: UUID,
        customer_id: UUID,
        reason: str,
        *,
        expected_customer_id: UUID | None = None,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """A staff member confirms the notice's match to a borrower, or corrects it to another borrower of the brand
        (the caller checks the borrower is one), with their reason; automatic rematching leaves it in place.
        `companies`: those the caller may see (empty: every company)."""
        notice = self.notice(brand_id, notice_id)
        if companies and notice.company not in companies:
            raise NoticeNotFound(f"Notice {notice_id} not found", id=str(notice_id))
        if not notice.confirm_match(customer_id, reason, expected_customer_id):
            return CommandResult(id=notice.id, position=0, changed=False)
        return self.commit(notice)

    def remove_match(
        self,
        brand_id: UUID,
        notice_id: UUID,
        reason: str,
        *,
        expected_customer_id: UUID | None = None,
        companies: Sequence[str] = (),
    ) -> CommandResult:
        """A staff member takes the notice's match back, with their reason: the notice is unmatched, and automatic
        matching may match it again but never to the borrower removed. `companies`: those the caller may see (empty:
        every company); a notice not matched, or matched to another borrower than `expected_customer_id`, is a
        conflict."""
        notice = self.notice(brand_id, notice_id)
        if companies and notice.company not in companies:
            raise NoticeNotFound(f"Notice {notice_id} not found", id=str(notice_id))
        notice.remove_match(reason, expected_customer_id)
        return self.commit(notice)
