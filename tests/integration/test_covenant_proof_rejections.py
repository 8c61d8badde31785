"""The covenant worklist's "proof received" mark when a proof's document is rejected, on PostgreSQL: the covenants'
runner (`CovenantViews`, a proof attached) and the documents' runner (`CovenantProofReviews`, a document rejected)
write at the same moment in two transactions, each blocked in the middle of the other; whichever commits first,
the mark ends as the record's proofs say: none left standing, no mark; another proof standing, marked."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import psycopg
import pytest

from adapters.postgres import Database
from domain.covenants.covenant import Covenant, CovenantEvaluation
from domain.covenants.schedule import Calendar, Frequency
from domain.covenants.terms import CovenantType, Terms
from domain.documents.content import ContentType, DocumentKind, Uploader
from domain.documents.document import Document, ReviewDecision
from domain.shared.aggregate import with_id
from projections.batch_writes import _PipelinedWrites
from projections.covenants import CURRENT_PROOF_BACKFILL, CovenantProofReviews, CovenantViews
from projections.projection import Projection
from tests.support import drop_database, fresh_database_dsn


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    url = fresh_database_dsn("cd_test_proof_rejections")
    db = Database(url, min_size=1, max_size=2)
    try:
        db.ensure_schemas()
        with db.pool.connection() as conn:
            CovenantViews().create(conn)
            CovenantProofReviews().create(conn)
        yield url
    finally:
        db.close()
        drop_database(url)


def _apply(conn: psycopg.Connection[Any], projection: Projection, events: Sequence[Any]) -> None:
    """The projection's writes of `events` as its runner sends them (one batch, pipelined), in the open transaction."""
    projection.begin_batch()
    with _PipelinedWrites(conn) as out:
        for position, event in enumerate(events, start=1):
            for write in projection.project(position, event):
                out.send(write)
        for write in projection.end_batch():
            out.send(write)


def _commit(dsn: str, projection: Projection, events: Sequence[Any]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        _apply(conn, projection, events)


class _Record:
    """A covenant with its first cycle's record projected, and documents of its borrower (none projected yet)."""

    def __init__(self, dsn: str) -> None:
        calendar = Calendar(frequency=Frequency.MONTHLY, start_date=date(2024, 1, 1), first_due_date=date(2024, 1, 31),
                            expiry_date=date(2025, 12, 31), grace_days=5, lead_days=7)  # fmt: skip
        self.brand_id, self.customer_id = uuid.uuid4(), uuid.uuid4()
        self.covenant = Covenant(brand_id=self.brand_id, customer_id=self.customer_id, application_ref="APP-1",
                                 title="Stock", terms=Terms(type=CovenantType.DOCUMENT, document="Stock statement"),
                                 calendar=calendar, assignee_id=None, company=None)  # fmt: skip
        (self.record,) = self.covenant.open_due_cycles(date(2024, 1, 24))
        self.dsn = dsn
        _commit(dsn, CovenantViews(), [*self.covenant.collect_events(), *self.record.collect_events()])

    def document(self) -> Document:
        return with_id(Document, uuid.uuid4(), brand_id=self.brand_id, customer_id=self.customer_id,
                       kind=DocumentKind.OTHER, filename="stock.pdf", sha256=uuid.uuid4().hex * 2, size=90,
                       content_type=ContentType.PDF, uploaded_by=Uploader.STAFF)  # fmt: skip

    def attached(self, document: Document) -> CovenantEvaluation.ProofAttached:
        self.record.attach_proof(document.id, filename=document.filename, sha256=document.sha256, size=document.size,
                                 content_type=ContentType.PDF, uploaded_by=Uploader.STAFF)  # fmt: skip
        (event,) = self.record.collect_events()
        assert isinstance(event, CovenantEvaluation.ProofAttached)
        return event

    @staticmethod
    def rejected(document: Document) -> Document.Reviewed:
        document.review(ReviewDecision.REJECTED, "unreadable scan")
        _, event = document.collect_events()
        assert isinstance(event, Document.Reviewed)
        return event

    def marked(self) -> bool:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute(
                "SELECT current_proof_received FROM read.covenants WHERE id = %s", (self.covenant.id,)
            ).fetchone()
        assert row is not None
        return bool(row[0])


def _race(dsn: str, first: tuple[Projection, Any], second: tuple[Projection, Any]) -> None:
    """`first`'s writes in a transaction left open while `second`'s run on another connection until they wait for a
    lock `first` holds (or commit, holding none in common); then `first` commits and `second` goes on to commit."""
    errors: list[BaseException] = []
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        psycopg.connect(dsn, autocommit=True) as other,
        psycopg.connect(dsn, autocommit=True) as watcher,
    ):
        conn.execute("BEGIN")
        _apply(conn, first[0], [first[1]])

        def run() -> None:
            try:
                with other.transaction():
                    _apply(other, second[0], [second[1]])
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while thread.is_alive():  # until the second transaction waits for a lock the first holds
                waiting = watcher.execute(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (other.info.backend_pid,)
                ).fetchone()
                if waiting and waiting[0]:
                    break
                assert time.monotonic() < deadline, "the second transaction never waited for the first"
                time.sleep(0.02)
        finally:
            conn.execute("COMMIT")
            thread.join(timeout=10)
    assert not errors, errors


def test_a_rejection_projected_while_its_proof_is_attached_clears_the_mark(dsn: str) -> None:
    case = _Record(dsn)
    blurred = case.document()
    _race(dsn, (CovenantViews(), case.attached(blurred)), (CovenantProofReviews(), case.rejected(blurred)))
    assert not case.marked()


def test_a_proof_attached_while_its_rejection_is_projected_does_not_mark(dsn: str) -> None:
    case = _Record(dsn)
    blurred = case.document()
    rejected = case.rejected(blurred)
    _race(dsn, (CovenantProofReviews(), rejected), (CovenantViews(), case.attached(blurred)))
    assert not case.marked()


def test_another_proof_attached_while_one_is_rejected_keeps_the_mark(dsn: str) -> None:
    case = _Record(dsn)
    blurred, clear = case.document(), case.document()
    _commit(dsn, CovenantViews(), [case.attached(blurred)])
    assert case.marked()
    _race(dsn, (CovenantViews(), case.attached(clear)), (CovenantProofReviews(), case.rejected(blurred)))
    assert case.marked()


def test_the_mark_follows_the_proofs_whichever_runner_is_ahead(dsn: str) -> None:
    # The documents' runner ahead: the rejection is projected before the proof (a rebuild of the covenants' read
    # model replays every proof after the rejections already projected) -- no mark, and the backfill adds none.
    ahead = _Record(dsn)
    blurred = ahead.document()
    _commit(dsn, CovenantProofReviews(), [ahead.rejected(blurred)])
    _commit(dsn, CovenantViews(), [ahead.attached(blurred)])
    assert not ahead.marked()
    with psycopg.connect(dsn) as conn:
        conn.execute(CURRENT_PROOF_BACKFILL)
    assert not ahead.marked()
    # A proof staff did not reject marks it again.
    _commit(dsn, CovenantViews(), [ahead.attached(ahead.document())])
    assert ahead.marked()

    # The covenants' runner ahead (or a mark left by the code before rejections were projected): the rejection of
    # one proof leaves the mark while another stands, the rejection of the last clears it.
    behind = _Record(dsn)
    first, second = behind.document(), behind.document()
    _commit(dsn, CovenantViews(), [behind.attached(first), behind.attached(second)])
    assert behind.marked()
    _commit(dsn, CovenantProofReviews(), [behind.rejected(first)])
    assert behind.marked()
    _commit(dsn, CovenantProofReviews(), [behind.rejected(second)])
    assert not behind.marked()


def test_a_decided_record_updates_its_covenant_by_key_on_a_large_book(dsn: str) -> None:
    """A record marked overdue (the evaluation job does it to every late record), complied or waived updates its
    covenant's row through the primary key: `read.covenants` has no index on `current_evaluation_id`, and a
    statement filtering on it alone scanned the whole book once per decision."""
    record = _Record(dsn)
    assert record.record.mark_overdue(date(2024, 3, 1))
    writes = list(CovenantViews().project(1, record.record.collect_events()[-1]))
    updates = [w for w in writes if "UPDATE read.covenants " in w.sql]
    assert updates, [w.sql for w in writes]
    with psycopg.connect(dsn) as conn, conn.transaction(force_rollback=True):
        # 50,000 other covenants, analysed so the planner costs the statement on real statistics; rolled back.
        conn.execute(
            "INSERT INTO read.covenants (id, brand_id, customer_id, application_ref, title, type, terms, frequency, "
            "start_date, first_due_date, expiry_date, grace_days, lead_days, status, current_evaluation_id, "
            "created_at, updated_at) SELECT gen_random_uuid(), %s, gen_random_uuid(), 'APP', 'Stock', 'document', "
            "'{}', 'monthly', '2024-01-01', '2024-01-31', '2025-12-31', 5, 7, 'active', gen_random_uuid(), now(), "
            "now() FROM generate_series(1, 50000)",
            (record.brand_id,),
        )
        conn.execute("ANALYZE read.covenants")
        for update in updates:
            plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {update.sql}", update.params).fetchall())
            assert "Seq Scan on covenants" not in plan, plan
