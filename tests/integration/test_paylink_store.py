"""The payment link and mandate tables on PostgreSQL (`adapters/paylink_store.py`): a link reads `expired` past its
expiry unless paid, a paid link never moves again, a debit is presented once per instalment and attempt, a paid
debit never moves again, active mandates page by id, a mandate moves only from the states named."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.paylink_store import Mandate, MandateDebit, PaylinkStore, PaymentLink

NOW = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)


def _link(brand: uuid.UUID, loan: uuid.UUID, expires: datetime) -> PaymentLink:
    return PaymentLink(uuid.uuid4(), brand, loan, Decimal("100.00"), "sms", "+919876543210",
                       f"order_{uuid.uuid4().hex}", "http://gw/pay", "created", None, None, NOW, expires, None,
                       None)  # fmt: skip


def test_links_expire_on_read_and_a_paid_link_stays_paid(platform: Any) -> None:
    store: PaylinkStore = platform.get(PaylinkStore)
    brand, loan = uuid.uuid4(), uuid.uuid4()
    short, long = _link(brand, loan, NOW + timedelta(minutes=30)), _link(brand, loan, NOW + timedelta(minutes=30))
    store.add_link(short)
    store.add_link(long)
    store.mark_link(long.id, "sent", NOW)
    store.mark_link(long.id, "paid", NOW, repayment_id="pay-1")
    later = NOW + timedelta(hours=1)
    assert [(x.id, x.state) for x in store.links(brand, loan, later)] in (
        [(short.id, "expired"), (long.id, "paid")],
        [(long.id, "paid"), (short.id, "expired")],
    )
    store.mark_link(long.id, "failed", later, reason="late failure")
    paid = store.link(brand, long.id, later)
    assert paid is not None and paid.state == "paid" and paid.repayment_id == "pay-1" and paid.reason is None
    assert store.link(uuid.uuid4(), long.id, later) is None  # another brand's link
    assert store.link_by_order(str(short.order_id), NOW) == short


def test_debits_once_per_attempt_and_mandate_moves(platform: Any) -> None:
    store: PaylinkStore = platform.get(PaylinkStore)
    brand, loan = uuid.uuid4(), uuid.uuid4()
    mandates = [Mandate(uuid.uuid4(), brand, loan, "a@ok", Decimal("5000.00"), "monthly", f"mdt_{n}", "registered",
                        None, NOW, NOW) for n in range(3)]  # fmt: skip
    for m in mandates:
        store.add_mandate(m)
    assert store.move_mandate(mandates[0].id, ("registered",), "active", NOW)
    assert store.move_mandate(mandates[1].id, ("registered",), "active", NOW)
    assert not store.move_mandate(mandates[0].id, ("registered",), "active", NOW)  # active already
    ids = sorted(m.id for m in mandates[:2])
    assert [m.id for m in store.active_mandates(brand, None, 1)] == ids[:1]
    assert [m.id for m in store.active_mandates(brand, ids[0], 10)] == ids[1:]

    m = mandates[0]
    debit = MandateDebit(f"MD-{uuid.uuid4().hex}", None, m.id, brand, loan, 1, 1, Decimal("5000.00"), "presented",
                         None, None, date(2026, 2, 28), None)  # fmt: skip
    assert store.add_debit(debit)
    assert not store.add_debit(MandateDebit(**{**debit.__dict__, "reference": f"MD-{uuid.uuid4().hex}"}))
    store.set_order(debit.reference, "order_x")
    store.settle_debit(debit.reference, "paid", repayment_id="pay-9")
    store.settle_debit(debit.reference, "failed", reason="late")
    [stored] = store.debits(m.id)
    assert (stored.order_id, stored.state, stored.repayment_id, stored.reason) == ("order_x", "paid", "pay-9", None)


def _entries(platform: Any, loan: uuid.UUID) -> list[tuple[str, str, str | None, str | None]]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT event_type, actor, details->>'state_before' AS before, details->>'state' AS state "
            "FROM ops.activity WHERE aggregate_id = %s ORDER BY position",
            (loan,),
        ).fetchall()
    return [(r["event_type"], r["actor"], r["before"], r["state"]) for r in rows]


def test_each_link_and_mandate_change_writes_one_entry_with_it_and_a_refused_change_none(platform: Any) -> None:
    import psycopg
    import pytest

    from domain.shared.aggregate import acting_as

    store: PaylinkStore = platform.get(PaylinkStore)
    brand, loan = uuid.uuid4(), uuid.uuid4()
    link = _link(brand, loan, NOW + timedelta(minutes=30))
    with acting_as("staff:s1"):
        store.add_link(link)
        with pytest.raises(psycopg.errors.UniqueViolation):  # the same order twice: no second row, no entry
            store.add_link(PaymentLink(**{**link.__dict__, "id": uuid.uuid4()}))
        with pytest.raises(psycopg.errors.CheckViolation):  # a state the table refuses: unchanged, no entry
            store.mark_link(link.id, "lost", NOW)
        assert store.mark_link(link.id, "sent", NOW)
    assert store.mark_link(link.id, "paid", NOW, repayment_id="pay-1", actor="webhook:payments")
    assert not store.mark_link(link.id, "failed", NOW)  # paid: never moves again, no entry
    mandate = Mandate(uuid.uuid4(), brand, loan, "a@ok", Decimal("5000.00"), "monthly", "mdt", "registered", None,
                      NOW, NOW)  # fmt: skip
    store.add_mandate(mandate, actor="staff:s1")
    assert not store.move_mandate(mandate.id, ("active",), "revoked", NOW)  # not active: no entry
    assert store.move_mandate(mandate.id, ("registered",), "revoked", NOW, "revoked by staff", actor="staff:s2")
    assert _entries(platform, loan) == [
        ("PaymentLinkCreated", "staff:s1", None, "created"),
        ("PaymentLinkSent", "staff:s1", "created", "sent"),
        ("PaymentLinkPaid", "webhook:payments", "sent", "paid"),
        ("MandateRegistered", "staff:s1", None, "registered"),
        ("MandateRevoked", "staff:s2", "registered", "revoked"),
    ]
    assert store.link(brand, link.id, NOW).state == "paid"  # type: ignore[union-attr]
