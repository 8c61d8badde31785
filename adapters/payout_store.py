"""Operational records of disbursal (`ops` schema, not business history — the loan's events are that):

- `ops.payout_initiations`: each request for a payout, noted before the gateway is asked (brand, loan, attempt, the
  reference sent = the loan number, `started_at`) and deleted once settled: in the transaction that notes its
  payout in `ops.payout_attempts`, when the gateway refused it, or when the `payout-reconciliation` job learnt from
  the gateway what became of it (`Disbursals.reconcile`). While one is open, a webhook for a payout we do not know
  yet but whose reference names that loan is one of ours that overtook the gateway's answer to us (the webhook
  answers 409, deliver again) rather than nobody's (200 `ignored`). One row per request, not per attempt: two staff
  pressing at once ask for the same attempt, and one's refusal must not close the other's window. Only open rows
  are kept (rows completed before 2026-12-05 - `completed_at` set - are deleted when the store is set up);
- `ops.payout_attempts`: each payout the gateway accepted (its reference -> brand, loan, attempt; the simulator's
  settle URL while the simulator runs), written before the attempt is recorded on the loan, so a webhook finds
  its loan without waiting for a read model;
- the gateway webhooks' event ids are kept in `ops.webhook_events` (`adapters.webhook_inbox`, sources `gateway` and
  `gateway-payments`: claimed, then settled once handled; a claim a dead process left is taken over after
  STALE_CLAIM). They were in `ops.provider_webhooks`, which a database made before keeps unused;
- `ops.payout_files` / `ops.payout_file_loans`: the payout and beneficiary registration files (the XLSX bytes),
  and their loans — a loan is in at most one live file (a unique partial index), even when two files are made at
  once; a returned file frees its loans.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog

from adapters.webhook_inbox import DDL as INBOX_DDL
from adapters.webhook_inbox import WebhookInbox
from domain.loans.payout_lines import PayoutLine
from domain.shared.ddl import unless_present
from domain.shared.errors import Conflict, FieldError, InvalidInput

log = structlog.get_logger(__name__)

DDL: Sequence[str] = (
    """CREATE TABLE IF NOT EXISTS ops.payout_attempts (
        gateway_reference text PRIMARY KEY,
        brand_id uuid NOT NULL,
        loan_id uuid NOT NULL,
        attempt int NOT NULL,
        mode text NOT NULL,
        simulator_url text,
        created_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS payout_attempts_loan_idx ON ops.payout_attempts (loan_id, attempt)",
    """CREATE TABLE IF NOT EXISTS ops.payout_initiations (
        id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        loan_id uuid NOT NULL,
        attempt int NOT NULL,
        reference text NOT NULL,
        started_at timestamptz NOT NULL,
        completed_at timestamptz,
        outcome text CHECK (outcome IN ('noted', 'refused')),
        CHECK ((completed_at IS NULL) = (outcome IS NULL))
    )""",
    # The webhook's question ("an open initiation with this reference?") and note_attempt's (its attempt's open ones).
    "CREATE INDEX IF NOT EXISTS payout_initiations_open_idx ON ops.payout_initiations (reference, started_at) "
    "WHERE completed_at IS NULL",
    "CREATE INDEX IF NOT EXISTS payout_initiations_attempt_idx ON ops.payout_initiations (brand_id, loan_id, attempt) "
    "WHERE completed_at IS NULL",
    # The reconciliation's question: a brand's requests left unanswered, oldest first.
    "CREATE INDEX IF NOT EXISTS payout_initiations_unanswered_idx ON ops.payout_initiations (brand_id, started_at) "
    "WHERE completed_at IS NULL",
    # Settled requests are deleted (above); those settled before were only marked completed: gone once.
    "DELETE FROM ops.payout_initiations WHERE completed_at IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS ops.payout_files (
        id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        created_at timestamptz NOT NULL,
        created_by text NOT NULL,
        row_count int NOT NULL,
        total numeric(18, 2) NOT NULL,
        beneficiary_count int NOT NULL,
        state text NOT NULL CHECK (state IN ('exported', 'returned', 'confirmed')),
        reason text,
        payout_xlsx bytea,
        beneficiary_xlsx bytea
    )""",
    "CREATE INDEX IF NOT EXISTS payout_files_brand_idx ON ops.payout_files (brand_id, created_at DESC, id DESC)",
    """CREATE TABLE IF NOT EXISTS ops.payout_file_loans (
        file_id uuid NOT NULL REFERENCES ops.payout_files (id) ON DELETE CASCADE,
        brand_id uuid NOT NULL,
        loan_id uuid NOT NULL,
        position int NOT NULL,
        account_number text NOT NULL,
        ifsc text NOT NULL,
        active boolean NOT NULL DEFAULT true,
        PRIMARY KEY (file_id, loan_id)
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS payout_file_loans_live_idx ON ops.payout_file_loans (brand_id, loan_id) "
    "WHERE active",
    "CREATE INDEX IF NOT EXISTS payout_file_loans_account_idx ON ops.payout_file_loans (brand_id, account_number, ifsc)",
)
_SETUP_LOCK = 0x70617930  # "pay0": one process creates the tables at a time
#: The class of the per-loan payout locks (`PayoutStore.payout_lock`: the two-int advisory lock space, apart from
#: the one-bigint locks such as _SETUP_LOCK).
_PAYOUT_LOCK_CLASS = 0x70617931  # "pay1"
#: The class of the per-brand payout file lock (`PayoutStore.file_export_lock`): a payout initiation holds the
#: brand's key shared, a payout file export exclusive.
_FILE_EXPORT_LOCK_CLASS = 0x70617932  # "pay2"
#: How long a payout file export waits for the payouts being initiated in its brand (each holds it one gateway call).
FILE_EXPORT_WAIT_SECONDS = 15.0


def _lock_key(id_: UUID) -> int:
    """The advisory lock key of an id (its first four bytes, signed)."""
    return int.from_bytes(id_.bytes[:4], "big", signed=True)


@dataclass(frozen=True)
class InitiationRecord:
    """A request for a payout whose gateway answer is not noted yet (nor refused)."""

    id: UUID
    brand_id: UUID
    loan_id: UUID
    attempt: int
    reference: str
    started_at: datetime


@dataclass(frozen=True)
class UnansweredSummary:
    """A brand's payout requests begun before a moment whose outcome we never learnt: how many, when the oldest was
    begun (None: none), and the references (loan numbers) of the oldest few."""

    count: int
    oldest_started_at: datetime | None
    oldest_references: tuple[str, ...]


@dataclass(frozen=True)
class AttemptRecord:
    """A payout the gateway accepted, as we noted it."""

    gateway_reference: str
    brand_id: UUID
    loan_id: UUID
    attempt: int
    mode: str
    simulator_url: str | None
    created_at: datetime


@dataclass(frozen=True)
class PayoutFileRecord:
    """A payout file (without its bytes)."""

    id: UUID
    brand_id: UUID
    created_at: datetime
    created_by: str
    row_count: int
    total: Decimal
    beneficiary_count: int
    state: str
    reason: str | None


_FILE_COLUMNS = "id, brand_id, created_at, created_by, row_count, total, beneficiary_count, state, reason"


class PayoutStore:
    """The disbursal's operational tables (see the module doc); created when first constructed."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.inbox = WebhookInbox(pool)  # the webhooks' event ids (one table of every provider's webhooks)
        self.setup()

    def setup(self) -> None:
        """Create the tables (idempotent; serialised between processes)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            for statement in (*DDL, *INBOX_DDL):
                conn.execute(unless_present(statement))
        self.inbox._ready = True

    # Payout initiations and attempts ----------------------------------------------------------------------------

    def begin_initiation(self, brand_id: UUID, loan_id: UUID, attempt: int, reference: str, at: datetime) -> UUID:
        """Note a request for a payout about to be sent to the gateway with `reference`; returns its id."""
        initiation_id = uuid.uuid4()
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.payout_initiations (id, brand_id, loan_id, attempt, reference, started_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (initiation_id, brand_id, loan_id, attempt, reference, at),
            )
        return initiation_id

    def refuse_initiation(self, initiation_id: UUID, at: datetime) -> None:
        """Settle (delete) a request the gateway refused (it made no payout for it)."""
        self.settle_initiation(initiation_id)

    @contextmanager
    def payout_lock(self, loan_id: UUID, brand_id: UUID | None = None) -> Iterator[bool]:
        """Hold the loan's payout lock while the block runs, if no one else holds it (yields whether it was taken):
        initiating a payout (the gateway asked, then the attempt recorded) and cancelling the loan take it, so a
        cancel never lands between the gateway paying and the loan recording it. With `brand_id` (a payout
        initiation) the brand's payout file lock is held too, shared: no payout file of the brand is exported while
        the gateway is being asked (`file_export_lock`), and none is taken while a file is being exported. Session
        locks on a connection of their own, released at the end (or with the connection, should the process die)."""
        key = _lock_key(loan_id)
        brand_key = None if brand_id is None else _lock_key(brand_id)
        with self.pool.connection() as conn:  # the pool's connections commit each statement (autocommit)
            shared = brand_key is not None
            if shared:
                row = conn.execute("SELECT pg_try_advisory_lock_shared(%s, %s) AS held",
                                   (_FILE_EXPORT_LOCK_CLASS, brand_key)).fetchone()  # fmt: skip
                shared = bool(row["held"])
                if not shared:
                    yield False
                    return
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s, %s) AS held", (_PAYOUT_LOCK_CLASS, key)).fetchone()
                held = bool(row["held"])
                try:
                    yield held
                finally:
                    if held:
                        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_PAYOUT_LOCK_CLASS, key))
            finally:
                if shared:
                    conn.execute("SELECT pg_advisory_unlock_shared(%s, %s)", (_FILE_EXPORT_LOCK_CLASS, brand_key))

    @contextmanager
    def file_export_lock(self, brand_id: UUID, wait_seconds: float = FILE_EXPORT_WAIT_SECONDS) -> Iterator[bool]:
        """Hold the brand's payout file lock exclusively while a payout file is checked and recorded (yields whether
        it was taken within `wait_seconds`): it waits for the payouts being initiated in the brand (each holds it
        shared through its gateway call, `payout_lock`) and keeps new ones out, so no loan is put in a file while the
        gateway is paying it out, nor paid out while it is being put in one."""
        key = _lock_key(brand_id)
        deadline = time.monotonic() + wait_seconds
        with self.pool.connection() as conn:
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s, %s) AS held",
                                   (_FILE_EXPORT_LOCK_CLASS, key)).fetchone()  # fmt: skip
                held = bool(row["held"])
                if held or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            try:
                yield held
            finally:
                if held:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_FILE_EXPORT_LOCK_CLASS, key))

    def initiations_open(self, brand_id: UUID, loan_ids: Sequence[UUID]) -> set[UUID]:
        """The loans of `loan_ids` with a payout request open: the gateway was asked, its outcome not known yet."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT loan_id FROM ops.payout_initiations WHERE brand_id = %s AND loan_id = ANY(%s) "
                "AND completed_at IS NULL",
                (brand_id, list(loan_ids)),
            ).fetchall()
        return {r["loan_id"] for r in rows}

    def initiation_open(self, brand_id: UUID, loan_id: UUID) -> bool:
        """Whether a payout request of the loan is open: the gateway was asked and its outcome is not known yet."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM ops.payout_initiations WHERE brand_id = %s AND loan_id = %s "
                "AND completed_at IS NULL) AS open",
                (brand_id, loan_id),
            ).fetchone()
        return bool(row["open"])

    def settle_initiation(self, initiation_id: UUID) -> None:
        """Delete a request whose outcome is known (refused, noted, or found out by the reconciliation)."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM ops.payout_initiations WHERE id = %s", (initiation_id,))

    def unanswered_initiations(self, brand_id: UUID, before: datetime, limit: int) -> list[InitiationRecord]:
        """The brand's requests begun before `before` whose outcome we never learnt, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, brand_id, loan_id, attempt, reference, started_at FROM ops.payout_initiations "
                "WHERE brand_id = %s AND completed_at IS NULL AND started_at < %s ORDER BY started_at, id LIMIT %s",
                (brand_id, before, limit),
            ).fetchall()
        return [InitiationRecord(**row) for row in rows]

    def unanswered_summary(self, brand_id: UUID, before: datetime, named: int = 5) -> UnansweredSummary:
        """How many of the brand's requests begun before `before` are still open, the oldest's start, and the
        references of the oldest `named` (through the reconciliation's index)."""
        with self.pool.connection() as conn:
            total = conn.execute(
                "SELECT count(*) AS n, min(started_at) AS oldest FROM ops.payout_initiations "
                "WHERE brand_id = %s AND completed_at IS NULL AND started_at < %s",
                (brand_id, before),
            ).fetchone()
            oldest = conn.execute(
                "SELECT reference FROM ops.payout_initiations WHERE brand_id = %s AND completed_at IS NULL "
                "AND started_at < %s ORDER BY started_at, id LIMIT %s",
                (brand_id, before, named),
            ).fetchall()
        return UnansweredSummary(
            int(total["n"]) if total else 0, total["oldest"] if total else None, tuple(r["reference"] for r in oldest)
        )

    def open_initiations(self, reference: str, since: datetime) -> list[InitiationRecord]:
        """The requests sent with `reference` (in any brand) since `since` whose payout is not noted yet, newest
        first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, brand_id, loan_id, attempt, reference, started_at FROM ops.payout_initiations "
                "WHERE reference = %s AND completed_at IS NULL AND started_at > %s ORDER BY started_at DESC LIMIT 10",
                (reference, since),
            ).fetchall()
        return [InitiationRecord(**row) for row in rows]

    def note_attempt(self, record: AttemptRecord, settle: bool = True) -> None:
        """Remember a payout the gateway accepted (the same reference again changes nothing) and, in the same
        transaction, settle (delete) its attempt's open initiations: a webhook that finds none finds the payout.
        `settle` False keeps them (the reconciliation settles its initiation once the loan has the outcome)."""
        with self.pool.connection() as conn, conn.transaction():
            noted = conn.execute(
                "INSERT INTO ops.payout_attempts (gateway_reference, brand_id, loan_id, attempt, mode, simulator_url, "
                "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (gateway_reference) DO NOTHING",
                (record.gateway_reference, record.brand_id, record.loan_id, record.attempt, record.mode,
                 record.simulator_url, record.created_at),
            ).rowcount  # fmt: skip
            kept = None if noted else conn.execute(
                "SELECT brand_id, loan_id FROM ops.payout_attempts WHERE gateway_reference = %s",
                (record.gateway_reference,),
            ).fetchone()  # fmt: skip
            if kept is not None and (kept["brand_id"], kept["loan_id"]) != (record.brand_id, record.loan_id):
                # Another gateway's payout with the same id (ids are unique only to their vendor): the first is kept;
                # the webhook refuses this one's events for the other loan (their reference is this loan's number),
                # so the loan waits for staff, said here.
                log.error("payout.reference_taken", payout_id=record.gateway_reference,
                          loan_id=str(record.loan_id), held_by=str(kept["loan_id"]))  # fmt: skip
            if settle:
                conn.execute(
                    "DELETE FROM ops.payout_initiations WHERE brand_id = %s AND loan_id = %s AND attempt = %s",
                    (record.brand_id, record.loan_id, record.attempt),
                )

    def attempt(self, gateway_reference: str) -> AttemptRecord | None:
        """The payout with this gateway reference, if we made it."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT gateway_reference, brand_id, loan_id, attempt, mode, simulator_url, created_at "
                "FROM ops.payout_attempts WHERE gateway_reference = %s",
                (gateway_reference,),
            ).fetchone()
        return AttemptRecord(**row) if row else None

    # Webhook deliveries ----------------------------------------------------------------------------------------

    def first_delivery(self, provider: str, event_id: str, event_type: str, at: datetime) -> bool:
        """Claim a webhook event for handling (`WebhookInbox.claim`): False when an earlier delivery of it was
        handled (a replay or a redelivery) or is being handled. A claim a process that died left unsettled is taken
        over after STALE_CLAIM: noted as processed before it was, such a delivery was a duplicate for good, and a
        payment the gateway captured was never recorded."""
        return self.inbox.claim(provider, event_id, event_type, at).fresh

    def settle_delivery(self, provider: str, event_id: str, outcome: str, detail: str | None, at: datetime) -> None:
        """Note a claimed event as handled, with what it came to: its deliveries are duplicates from now on."""
        self.inbox.settle(provider, event_id, outcome, detail, at)

    def forget_delivery(self, provider: str, event_id: str) -> None:
        """Un-note an event whose processing failed, so the provider's retry is processed."""
        self.inbox.release(provider, event_id)

    # Payout files ----------------------------------------------------------------------------------------------

    def new_accounts(self, brand_id: UUID, lines: Sequence[PayoutLine]) -> list[PayoutLine]:
        """The lines whose account (number and IFSC) is in no earlier payout file of the brand: the accounts the
        bank has to register as beneficiaries first."""
        if not lines:
            return []
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT f.account_number, f.ifsc FROM ops.payout_file_loans f "
                "JOIN unnest(%s::text[], %s::text[]) AS a(account_number, ifsc) "
                "ON f.account_number = a.account_number AND f.ifsc = a.ifsc WHERE f.brand_id = %s",
                ([line.account_number for line in lines], [line.ifsc for line in lines], brand_id),
            ).fetchall()
        known = {(r["account_number"], r["ifsc"]) for r in rows}
        seen: set[tuple[str, str]] = set()
        fresh = []
        for line in lines:
            key = (line.account_number, line.ifsc)
            if key not in known and key not in seen:
                seen.add(key)
                fresh.append(line)
        return fresh

    def claiming(
        self, record: PayoutFileRecord, lines: Sequence[PayoutLine], payout: bytes, beneficiaries: bytes
    ) -> Callable[[Any], None]:
        """The write storing a file and its loans, made in the transaction that records the loans' `PayoutExported`
        (`Loans.commit(..., beside=...)`): a file is never kept without its loans marked exported, nor the loans
        without their file (a process killed between the two left a downloadable file whose loans the gateway could
        still pay). A loan already in a live file fails the whole save on the unique index (`taken` then names it).
        On a cursor of None it writes in a transaction of its own."""

        def write(cursor: Any) -> None:
            if cursor is None:
                with self.pool.connection() as conn, conn.transaction(), conn.cursor() as own:
                    write(own)
                return
            cursor.execute(
                f"INSERT INTO ops.payout_files ({_FILE_COLUMNS}, payout_xlsx, beneficiary_xlsx) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (record.id, record.brand_id, record.created_at, record.created_by, record.row_count, record.total,
                 record.beneficiary_count, record.state, record.reason, payout, beneficiaries),
            )  # fmt: skip
            # Not COPY: the events' transaction runs in pipeline mode, where psycopg has no COPY.
            cursor.execute(
                "INSERT INTO ops.payout_file_loans (file_id, brand_id, loan_id, position, account_number, ifsc) "
                "SELECT %s, %s, l, p, a, i FROM unnest(%b::uuid[], %b::int[], %b::text[], %b::text[]) AS t(l, p, a, i)",
                (record.id, record.brand_id, [line.loan_id for line in lines], list(range(len(lines))),
                 [line.account_number for line in lines], [line.ifsc for line in lines]),
            )  # fmt: skip

        return write

    def taken(self, brand_id: UUID, lines: Sequence[PayoutLine]) -> InvalidInput | None:
        """The 422 naming the first of the lines' loans already in a live file (None: none is)."""
        taken = self._taken(brand_id, [line.loan_id for line in lines])
        index = next((i for i, line in enumerate(lines) if line.loan_id in taken), None)
        if index is None:
            return None
        return InvalidInput(
            [FieldError(f"loan_ids[{index}]", f"loan {lines[index].loan_number} is already in a payout file")]
        )

    def _taken(self, brand_id: UUID, loan_ids: list[UUID]) -> set[UUID]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT loan_id FROM ops.payout_file_loans WHERE brand_id = %s AND active AND loan_id = ANY(%s)",
                (brand_id, loan_ids),
            ).fetchall()
        return {r["loan_id"] for r in rows}

    def file(self, brand_id: UUID, file_id: UUID) -> PayoutFileRecord | None:
        """A payout file of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM ops.payout_files WHERE id = %s AND brand_id = %s", (file_id, brand_id)
            ).fetchone()
        return PayoutFileRecord(**row) if row else None

    def files(self, brand_id: UUID, limit: int = 50) -> list[PayoutFileRecord]:
        """The brand's newest payout files."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM ops.payout_files WHERE brand_id = %s "
                "ORDER BY created_at DESC, id DESC LIMIT %s",
                (brand_id, limit),
            ).fetchall()
        return [PayoutFileRecord(**row) for row in rows]

    def content(self, brand_id: UUID, file_id: UUID, which: str) -> bytes | None:
        """A file's XLSX bytes: `payout` or `beneficiaries`."""
        column = {"payout": "payout_xlsx", "beneficiaries": "beneficiary_xlsx"}[which]
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {column} AS data FROM ops.payout_files WHERE id = %s AND brand_id = %s", (file_id, brand_id)
            ).fetchone()
        return bytes(row["data"]) if row and row["data"] is not None else None

    def loan_ids(self, file_id: UUID) -> list[UUID]:
        """A file's loans in file order."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT loan_id FROM ops.payout_file_loans WHERE file_id = %s ORDER BY position", (file_id,)
            ).fetchall()
        return [r["loan_id"] for r in rows]

    def settle_file(self, brand_id: UUID, file_id: UUID, state: str, reason: str | None) -> None:
        """Mark an exported file returned (its loans freed) or confirmed; 409 when it is not exported."""
        self.settling(brand_id, file_id, state, reason)(None)

    def settling(self, brand_id: UUID, file_id: UUID, state: str, reason: str | None) -> Callable[[Any], None]:
        """`settle_file` as a write on a transaction's cursor: the one recording the loans' `PayoutReturned` or
        `Disbursed` (`Loans.commit(..., beside=...)`), so the file is settled exactly when its loans are (a process
        killed between the two left the loans returned and the file live: its loans in no other file ever again,
        and "Returned" pressed again refused). On a cursor of None it writes in a transaction of its own."""

        def write(cursor: Any) -> None:
            if cursor is None:
                with self.pool.connection() as conn, conn.transaction(), conn.cursor() as own:
                    write(own)
                return
            row = cursor.execute(
                "UPDATE ops.payout_files SET state = %s, reason = %s WHERE id = %s AND brand_id = %s "
                "AND state = 'exported' RETURNING id",
                (state, reason, file_id, brand_id),
            ).fetchone()
            if row is None:
                raise Conflict("only an exported payout file can be returned or confirmed", file_id=str(file_id))
            if state == "returned":
                cursor.execute("UPDATE ops.payout_file_loans SET active = false WHERE file_id = %s", (file_id,))

        return write
