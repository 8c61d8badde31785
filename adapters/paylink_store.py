"""Payment links and UPI Autopay mandates in PostgreSQL (issue #15 item 2, `api/services/paylinks.py`).

- `ops.payment_links`: a link per gateway order (amount, channel, phone, state created|sent|paid|failed|unapplied,
  the repayment it recorded); `expired` is read, not stored: a link not paid by its `expires_at`.
- `ops.loan_mandates`: a UPI Autopay mandate (VPA, max amount, frequency, state registered|active|revoked).
- `ops.mandate_debits`: each presentation of a due instalment under a mandate (attempt, order, state
  presented|paid|failed|unapplied, the failure's (or the loan's refusal's) reason, when the next attempt is due).

The repayment itself is recorded on the Loan (its events); these rows only map gateway orders back to loans. Each
change of a link or a mandate writes its audit entry (`adapters/ops_activity.py`: who, when, amount, channel, the state
before and after) in the same transaction, on the loan's record."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters import ops_activity
from adapters.named_locks import NamedLocks
from adapters.ops_activity import OpsEntry
from domain.shared.ddl import unless_present

#: How long a mandate registration waits for another of the same loan (which holds it through its gateway call).
MANDATE_HOLD_SECONDS = 15.0

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.payment_links (
        id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        loan_id uuid NOT NULL,
        amount numeric(18, 2) NOT NULL,
        channel text NOT NULL,
        phone text NOT NULL,
        order_id text UNIQUE,
        payment_url text,
        state text NOT NULL CHECK (state IN ('created', 'sent', 'paid', 'failed', 'unapplied')),
        repayment_id text,
        reason text,
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        sent_at timestamptz,
        paid_at timestamptz
    )""",
    "CREATE INDEX IF NOT EXISTS payment_links_loan_idx ON ops.payment_links (brand_id, loan_id, created_at, id)",
    """CREATE TABLE IF NOT EXISTS ops.loan_mandates (
        id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        loan_id uuid NOT NULL,
        vpa text NOT NULL,
        max_amount numeric(18, 2) NOT NULL,
        frequency text NOT NULL,
        gateway_id text,
        state text NOT NULL CHECK (state IN ('registered', 'active', 'revoked')),
        reason text,
        created_at timestamptz NOT NULL,
        changed_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS loan_mandates_loan_idx ON ops.loan_mandates (brand_id, loan_id, created_at, id)",
    "CREATE INDEX IF NOT EXISTS loan_mandates_active_idx ON ops.loan_mandates (brand_id, id) WHERE state = 'active'",
    """CREATE TABLE IF NOT EXISTS ops.mandate_debits (
        reference text PRIMARY KEY,
        order_id text UNIQUE,
        mandate_id uuid NOT NULL,
        brand_id uuid NOT NULL,
        loan_id uuid NOT NULL,
        instalment int NOT NULL,
        attempt int NOT NULL,
        amount numeric(18, 2) NOT NULL,
        state text NOT NULL CHECK (state IN ('presented', 'paid', 'failed', 'unapplied')),
        reason text,
        repayment_id text,
        presented_on date NOT NULL,
        retry_on date,
        UNIQUE (mandate_id, instalment, attempt)
    )""",
    "CREATE INDEX IF NOT EXISTS mandate_debits_mandate_idx ON ops.mandate_debits (mandate_id, instalment, attempt)",
    # Tables made before `unapplied` (2026-12): their state checks widened once (a no-op when they name it).
    *(
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{table}_state_check'
                           AND conrelid = 'ops.{table}'::regclass AND pg_get_constraintdef(oid) LIKE '%unapplied%') THEN
                ALTER TABLE ops.{table} DROP CONSTRAINT IF EXISTS {table}_state_check;
                ALTER TABLE ops.{table} ADD CONSTRAINT {table}_state_check CHECK (state IN ({states}, 'unapplied'));
            END IF;
        END $$"""
        for table, states in (
            ("payment_links", "'created', 'sent', 'paid', 'failed'"),
            ("mandate_debits", "'presented', 'paid', 'failed'"),
        )
    ),
)
#: A link's or a debit's state once its money was captured at the gateway but the loan could not take it (closed,
#: written off, above the payoff by then): kept with the loan's reason and an audit entry for staff to refund or
#: record by hand; it never moves again.
UNAPPLIED = "unapplied"
_SETUP_LOCK = 0x5041594C  # "PAYL"

_LINK = ("id, brand_id, loan_id, amount, channel, phone, order_id, payment_url, state, repayment_id, reason, "
         "created_at, expires_at, sent_at, paid_at")  # fmt: skip
_MANDATE = "id, brand_id, loan_id, vpa, max_amount, frequency, gateway_id, state, reason, created_at, changed_at"
_DEBIT = ("reference, order_id, mandate_id, brand_id, loan_id, instalment, attempt, amount, state, reason, repayment_id, "
          "presented_on, retry_on")  # fmt: skip


@dataclass(frozen=True)
class PaymentLink:
    """A payment link: `state` is created, sent, paid, failed, or `expired` (read: unpaid past `expires_at`)."""

    id: UUID
    brand_id: UUID
    loan_id: UUID
    amount: Decimal
    channel: str
    phone: str
    order_id: str | None
    payment_url: str | None
    state: str
    repayment_id: str | None
    reason: str | None
    created_at: datetime
    expires_at: datetime | None
    sent_at: datetime | None
    paid_at: datetime | None


@dataclass(frozen=True)
class Mandate:
    """A UPI Autopay mandate of a loan."""

    id: UUID
    brand_id: UUID
    loan_id: UUID
    vpa: str
    max_amount: Decimal
    frequency: str
    gateway_id: str | None
    state: str
    reason: str | None
    created_at: datetime
    changed_at: datetime


@dataclass(frozen=True)
class MandateDebit:
    """One presentation of an instalment under a mandate (`reference` is ours, `order_id` the gateway's)."""

    reference: str
    order_id: str | None
    mandate_id: UUID
    brand_id: UUID
    loan_id: UUID
    instalment: int
    attempt: int
    amount: Decimal
    state: str
    reason: str | None
    repayment_id: str | None
    presented_on: date
    retry_on: date | None


def _loan_entry(brand_id: UUID, loan_id: UUID, at: datetime, event: str, details: dict[str, Any],
                actor: str | None) -> OpsEntry:  # fmt: skip
    """The audit entry of a change to a loan's link or mandate: on the loan's record, so the loan's trail shows it."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", event).lower()
    return OpsEntry(brand_id, at, "Loan", loan_id, event, words, details, actor)


def _link(row: Any, now: datetime) -> PaymentLink:
    link = PaymentLink(**row)
    if link.state in ("created", "sent") and link.expires_at is not None and link.expires_at < now:
        return PaymentLink(**{**row, "state": "expired"})
    return link


class PaylinkStore:
    """SQL of the payment links, mandates and mandate debits (see the module doc)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._locks = NamedLocks(pool)
        self.setup()

    def setup(self) -> None:
        """Create the tables (idempotent; serialised between processes)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            for statement in DDL:
                conn.execute(unless_present(statement))
            ops_activity.setup(conn)

    # Payment links ---------------------------------------------------------------------------------------------

    def add_link(self, link: PaymentLink, actor: str | None = None) -> None:
        """Remember a link the gateway accepted, with its audit entry (`PaymentLinkCreated`; `actor` None: the actor
        commands act for)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                f"INSERT INTO ops.payment_links ({_LINK}) VALUES ({', '.join(['%s'] * 15)})",
                tuple(getattr(link, c.strip()) for c in _LINK.split(",")),
            )
            details = {"link_id": str(link.id), "amount": str(link.amount), "channel": link.channel,
                       "state": link.state, "order_id": link.order_id,
                       "expires_at": None if link.expires_at is None else link.expires_at.isoformat()}  # fmt: skip
            ops_activity.record(conn, _loan_entry(link.brand_id, link.loan_id, link.created_at, "PaymentLinkCreated",
                                                  details, actor))  # fmt: skip

    def link(self, brand_id: UUID, link_id: UUID, now: datetime) -> PaymentLink | None:
        """A link of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_LINK} FROM ops.payment_links WHERE brand_id = %s AND id = %s", (brand_id, link_id)
            ).fetchone()
        return None if row is None else _link(row, now)

    def link_by_order(self, order_id: str, now: datetime) -> PaymentLink | None:
        """The link of a gateway order, if we made it."""
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {_LINK} FROM ops.payment_links WHERE order_id = %s", (order_id,)).fetchone()
        return None if row is None else _link(row, now)

    def links(self, brand_id: UUID, loan_id: UUID, now: datetime, limit: int = 200) -> list[PaymentLink]:
        """A loan's links, oldest first (a loan has few)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_LINK} FROM ops.payment_links WHERE brand_id = %s AND loan_id = %s "
                "ORDER BY created_at, id LIMIT %s",
                (brand_id, loan_id, limit),
            ).fetchall()
        return [_link(r, now) for r in rows]

    def mark_link(self, link_id: UUID, state: str, at: datetime, *, repayment_id: str | None = None,
                  reason: str | None = None, actor: str | None = None) -> bool:  # fmt: skip
        """Move a link to sent, paid, failed or unapplied (a paid or unapplied link never moves again), with its audit
        entry (`PaymentLinkSent`, `...Paid`, `...Failed`, `...Unapplied`: the state before and after); False when
        nothing moved."""
        column = {"sent": "sent_at", "paid": "paid_at"}.get(state)
        stamp = f", {column} = %s" if column else ""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                f"UPDATE ops.payment_links l SET state = %s, repayment_id = coalesce(%s, l.repayment_id), "
                f"reason = coalesce(%s, l.reason){stamp} FROM (SELECT id, state FROM ops.payment_links WHERE id = %s "
                "FOR UPDATE) before WHERE l.id = before.id AND before.state NOT IN ('paid', 'unapplied') "
                "RETURNING l.brand_id, l.loan_id, l.amount, l.channel, l.order_id, before.state AS state_before",
                (state, repayment_id, reason, *((at,) if column else ()), link_id),
            ).fetchone()
            if row is None:
                return False
            details = {"link_id": str(link_id), "amount": str(row["amount"]), "channel": row["channel"],
                       "order_id": row["order_id"], "state_before": row["state_before"], "state": state,
                       "repayment_id": repayment_id, "reason": reason}  # fmt: skip
            event = f"PaymentLink{state.title()}"
            ops_activity.record(conn, _loan_entry(row["brand_id"], row["loan_id"], at, event, details, actor))
        return True

    # Mandates --------------------------------------------------------------------------------------------------

    @contextmanager
    def registering(self, loan_id: UUID, busy: Callable[[], Exception]) -> Iterator[None]:
        """Hold the loan's mandate registration (a named lock shared by every process) while the caller checks the
        loan has no live mandate, registers one at the gateway and adds it: a second registration waits and then
        sees the first (`busy()` when it waits over MANDATE_HOLD_SECONDS)."""
        with self._locks.holding([f"mandate-registration:{loan_id}"], MANDATE_HOLD_SECONDS, busy):
            yield

    @contextmanager
    def checking_out(self, loan_id: UUID, busy: Callable[[], Exception]) -> Iterator[None]:
        """Hold the loan's payment page checkout (a named lock shared by every process) while the caller looks for
        an order to reuse, makes one at the gateway and adds it: two taps at once give one order."""
        with self._locks.holding([f"pay-page-checkout:{loan_id}"], MANDATE_HOLD_SECONDS, busy):
            yield

    def add_mandate(self, mandate: Mandate, actor: str | None = None) -> None:
        """Remember a registered mandate, with its audit entry (`MandateRegistered`)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                f"INSERT INTO ops.loan_mandates ({_MANDATE}) VALUES ({', '.join(['%s'] * 11)})",
                tuple(getattr(mandate, c.strip()) for c in _MANDATE.split(",")),
            )
            details = {"mandate_id": str(mandate.id), "vpa": mandate.vpa, "max_amount": str(mandate.max_amount),
                       "frequency": mandate.frequency, "gateway_id": mandate.gateway_id, "state": mandate.state}  # fmt: skip
            ops_activity.record(conn, _loan_entry(mandate.brand_id, mandate.loan_id, mandate.created_at,
                                                  "MandateRegistered", details, actor))  # fmt: skip

    def mandate(self, brand_id: UUID | None, mandate_id: UUID) -> Mandate | None:
        """A mandate (of the brand, when given)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_MANDATE} FROM ops.loan_mandates WHERE id = %s AND (%s::uuid IS NULL OR brand_id = %s)",
                (mandate_id, brand_id, brand_id),
            ).fetchone()
        return None if row is None else Mandate(**row)

    def mandates(self, brand_id: UUID, loan_id: UUID) -> list[Mandate]:
        """A loan's mandates, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_MANDATE} FROM ops.loan_mandates WHERE brand_id = %s AND loan_id = %s "
                "ORDER BY created_at, id LIMIT 100",
                (brand_id, loan_id),
            ).fetchall()
        return [Mandate(**r) for r in rows]

    def active_mandates(self, brand_id: UUID, after: UUID | None, limit: int) -> list[Mandate]:
        """The brand's active mandates, a keyset page by id."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_MANDATE} FROM ops.loan_mandates WHERE brand_id = %s AND state = 'active' "
                "AND (%s::uuid IS NULL OR id > %s) ORDER BY id LIMIT %s",
                (brand_id, after, after, limit),
            ).fetchall()
        return [Mandate(**r) for r in rows]

    def move_mandate(self, mandate_id: UUID, frm: tuple[str, ...], to: str, at: datetime,
                     reason: str | None = None, actor: str | None = None) -> bool:  # fmt: skip
        """Move a mandate from one of `frm` to `to`, with its audit entry (`MandateActivated`, `MandateRevoked`: the
        state before and after, the reason): False when it was in none of them (no entry)."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE ops.loan_mandates m SET state = %s, changed_at = %s, reason = coalesce(%s, m.reason) "
                "FROM (SELECT id, state FROM ops.loan_mandates WHERE id = %s FOR UPDATE) before "
                "WHERE m.id = before.id AND before.state = ANY(%s) "
                "RETURNING m.brand_id, m.loan_id, m.vpa, m.max_amount, m.frequency, before.state AS state_before",
                (to, at, reason, mandate_id, list(frm)),
            ).fetchone()
            if row is None:
                return False
            details = {"mandate_id": str(mandate_id), "vpa": row["vpa"], "max_amount": str(row["max_amount"]),
                       "frequency": row["frequency"], "state_before": row["state_before"], "state": to,
                       "reason": reason}  # fmt: skip
            event = {"active": "MandateActivated", "revoked": "MandateRevoked"}.get(to, f"Mandate{to.title()}")
            ops_activity.record(conn, _loan_entry(row["brand_id"], row["loan_id"], at, event, details, actor))
        return True

    # Mandate debits --------------------------------------------------------------------------------------------

    def add_debit(self, debit: MandateDebit) -> bool:
        """Remember a presentation: False when this attempt of the instalment was presented already."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"INSERT INTO ops.mandate_debits ({_DEBIT}) VALUES ({', '.join(['%s'] * 13)}) "
                "ON CONFLICT DO NOTHING RETURNING order_id",
                tuple(getattr(debit, c.strip()) for c in _DEBIT.split(",")),
            ).fetchone()
        return row is not None

    def debit(self, reference: str) -> MandateDebit | None:
        """The debit with our reference, if we presented it."""
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {_DEBIT} FROM ops.mandate_debits WHERE reference = %s", (reference,)).fetchone()
        return None if row is None else MandateDebit(**row)

    def set_order(self, reference: str, order_id: str) -> None:
        """The gateway's order id of a presented debit."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE ops.mandate_debits SET order_id = %s WHERE reference = %s", (order_id, reference))

    def drop_debit(self, reference: str) -> None:
        """Forget a debit the gateway never accepted (the next run presents it again)."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM ops.mandate_debits WHERE reference = %s AND order_id IS NULL", (reference,))

    def debits(self, mandate_id: UUID) -> list[MandateDebit]:
        """A mandate's debits in order."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_DEBIT} FROM ops.mandate_debits WHERE mandate_id = %s ORDER BY instalment, attempt "
                "LIMIT 1000",
                (mandate_id,),
            ).fetchall()
        return [MandateDebit(**r) for r in rows]

    def settle_debit(self, reference: str, state: str, *, reason: str | None = None, repayment_id: str | None = None,
                     retry_on: date | None = None, at: datetime | None = None) -> None:  # fmt: skip
        """Record a debit's outcome (a paid or unapplied debit never moves again). An unapplied one (captured, the
        loan refused it) writes its audit entry on the loan's record (`MandateDebitUnapplied`, at `at`)."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE ops.mandate_debits SET state = %s, reason = %s, repayment_id = %s, retry_on = %s "
                "WHERE reference = %s AND state NOT IN ('paid', 'unapplied') "
                "RETURNING brand_id, loan_id, mandate_id, order_id, instalment, attempt, amount",
                (state, reason, repayment_id, retry_on, reference),
            ).fetchone()
            if row is not None and state == UNAPPLIED and at is not None:
                details = {"reference": reference, "mandate_id": str(row["mandate_id"]), "order_id": row["order_id"],
                           "instalment": row["instalment"], "attempt": row["attempt"], "amount": str(row["amount"]),
                           "state": state, "reason": reason}  # fmt: skip
                ops_activity.record(conn, _loan_entry(row["brand_id"], row["loan_id"], at, "MandateDebitUnapplied",
                                                      details, None))  # fmt: skip
