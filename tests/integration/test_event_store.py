from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from domain.customers.application import Customers
from domain.shared.application import ConcurrentModification
from domain.shared.index import UniqueValue


def test_events_are_readable_json_in_postgres(platform: Any, dsn: str, tenant: Any) -> None:
    result = platform.get(Customers).register(tenant.brand_id, name="Ravi Menon", phone="98450 12345", pan="ABCPM1234Q")
    with psycopg.connect(dsn) as conn:
        topic, state = conn.execute(
            "SELECT topic, convert_from(state, 'UTF8')::jsonb FROM events.customers_events "
            "WHERE originator_id = %s AND originator_version = 1",
            (result.id,),
        ).fetchone()
    assert topic == "domain.customers.customer:CustomerRecord.Registered"
    assert (
        state["name"] == "Ravi Menon"
        and state["phone"] == "+919845012345"
        and state["brand_id"] == str(tenant.brand_id)
    )


@pytest.mark.parametrize("groups_in_flight", [1, 2])
def test_concurrent_appends_are_group_committed_and_each_keeps_its_outcome(
    platform: Any, monkeypatch: Any, groups_in_flight: int
) -> None:
    app = platform.get(Customers)
    monkeypatch.setattr(app.recorder, "groups_in_flight", groups_in_flight)  # 2: leads are handed on per slot
    brand = uuid.uuid4()
    aggregates = [UniqueValue.claim(brand, "probe", str(i), uuid.uuid4()) for i in range(40)]
    # Two writers race for the same aggregate version: exactly one may win.
    contested_a = UniqueValue.claim(brand, "probe", "contested", uuid.uuid4())
    contested_b = UniqueValue.claim(brand, "probe", "contested", uuid.uuid4())
    outcomes: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def write(batch: list[UniqueValue]) -> None:
        barrier.wait()
        for aggregate in batch:
            try:
                recordings = app.save(aggregate)
                with lock:
                    outcomes.append(("ok", aggregate, recordings[0].notification.id))
            except IntegrityError:
                with lock:
                    outcomes.append(("conflict", aggregate, None))

    batches = [aggregates[i::6] for i in range(6)] + [[contested_a], [contested_b]]
    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    ok = [o for o in outcomes if o[0] == "ok"]
    conflicts = [o for o in outcomes if o[0] == "conflict"]
    assert len(ok) == 41 and len(conflicts) == 1
    assert conflicts[0][1] in (contested_a, contested_b)
    ids = sorted(o[2] for o in ok)
    assert len(set(ids)) == 41
    winner = next(o[1] for o in ok if o[1] in (contested_a, contested_b))
    assert app.repository.get(winner.id).owner_id == winner.owner_id
    # Notification ids follow commit order: reading the log in id order sees every saved event.
    logged = app.recorder.select_notifications(start=ids[0], limit=1000, stop=ids[-1])
    assert {n.id for n in logged} >= set(ids)


def test_every_event_of_a_group_gets_the_notification_id_of_its_own_row(platform: Any) -> None:
    """The append function returns ids in its arguments' order, unjoined: each event must still get its own row's."""
    app = platform.get(Customers)
    brand = uuid.uuid4()
    groups: list[int] = []
    write_group = app.recorder._write_group

    def counted(group: list[Any]) -> None:
        groups.append(len(group))
        write_group(group)

    barrier = threading.Barrier(6)
    saved: list[tuple[uuid.UUID, int, int]] = []  # (originator id, version, notification id) as save() returned them
    lock = threading.Lock()

    def write(writer: int) -> None:
        barrier.wait()
        for round_ in range(8):
            # Appends of 1 to 6 events, their aggregate ids in random order (not the order of any index).
            claims = [
                UniqueValue.claim(brand, "order", f"{writer}-{round_}-{i}", uuid.uuid4()) for i in range(writer + 1)
            ]
            recordings = app.save(*claims)
            with lock:
                saved.extend(
                    (r.domain_event.originator_id, r.domain_event.originator_version, r.notification.id)
                    for r in recordings
                )

    app.recorder._write_group = counted  # type: ignore[method-assign]
    try:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        del app.recorder._write_group
    assert len(saved) == 8 * (1 + 2 + 3 + 4 + 5 + 6)
    assert max(groups) > 1  # some groups held several appends
    ids = [n for _, _, n in saved]
    logged = app.recorder.select_notifications(start=min(ids), limit=10_000, stop=max(ids))
    rows = {n.id: (n.originator_id, n.originator_version) for n in logged}
    assert {n: rows.get(n) for _, _, n in saved} == {n: (i, v) for i, v, n in saved}


def test_a_forming_group_waits_for_the_writers_of_the_last_group(platform: Any, monkeypatch: Any) -> None:
    recorder = platform.get(Customers).recorder
    app = platform.get(Customers)
    brand = uuid.uuid4()
    groups: list[int] = []
    writers: list[str] = []  # the thread that wrote each group
    write_group = recorder._write_group

    def counted(group: list[Any]) -> None:
        groups.append(len(group))
        writers.append(threading.current_thread().name)
        write_group(group)

    monkeypatch.setattr(recorder, "_write_group", counted)
    monkeypatch.setattr(recorder, "gather_share", 1e9)
    monkeypatch.setattr(recorder, "gather_max_seconds", 60.0)  # only the awaited writer ends the wait here
    monkeypatch.setattr(recorder, "_last_writers", frozenset())  # no writer of an earlier test is awaited

    def claim(value: str) -> Any:
        return UniqueValue.claim(brand, "gather", value, uuid.uuid4())

    first_done, second_started = threading.Event(), threading.Event()

    def writer_a() -> None:  # writes a group alone, then comes back with another append
        app.save(claim("a1"))
        first_done.set()
        second_started.wait(10)
        deadline = time.monotonic() + 10  # B leads first: A's append must find B gathering, not lead a group itself
        while not recorder._gathering and time.monotonic() < deadline:
            time.sleep(0.001)
        app.save(claim("a2"))

    def writer_b() -> None:  # leads the next group: it expects writer A again
        first_done.wait(10)
        second_started.set()
        app.save(claim("b1"))

    threads = [threading.Thread(target=writer_a, name="A"), threading.Thread(target=writer_b, name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert groups == [1, 2]  # without the wait: [1, 1, 1] (B's append alone, then A's)
    # The append that completes the group writes it (B, gathering, is woken once, when it is written).
    assert writers == ["A", "A"]

    # A writer that does not come back only delays the group by the bounded wait.
    monkeypatch.setattr(recorder, "gather_max_seconds", 0.01)
    groups.clear()
    app.save(claim("alone"))
    done = threading.Thread(target=lambda: app.save(claim("other thread")))
    done.start()
    done.join(30)
    assert groups == [1, 1] and not done.is_alive()


def test_stale_write_becomes_a_conflict(platform: Any, tenant: Any) -> None:
    result = platform.get(Customers).register(tenant.brand_id, name="Kavya Rao", phone="98450 22222")
    first = platform.get(Customers).get(tenant.brand_id, result.id)
    second = platform.get(Customers).get(tenant.brand_id, result.id)
    first.update_details(name="Kavya R")
    platform.get(Customers).commit(first)
    second.update_details(name="Kavya Rao N")
    with pytest.raises(ConcurrentModification):
        platform.get(Customers).commit(second)
    assert platform.get(Customers).get(tenant.brand_id, result.id).name == "Kavya R"


def test_hand_overs_share_transactions_and_each_keeps_its_outcome(platform: Any, dsn: str) -> None:
    """insert_events_before_commit: concurrent callers share a transaction; each insert and outside step stand or
    fall alone (a failing step, or a taken key, rolls back only its own insert), and every step runs before the
    commit that records it."""
    app = platform.get(Customers)
    recorder = app.recorder
    brand = uuid.uuid4()
    claims = [UniqueValue.claim(brand, "handover", str(i), uuid.uuid4()) for i in range(24)]
    taken = UniqueValue.claim(brand, "handover", "taken", uuid.uuid4())
    app.save(UniqueValue.claim(brand, "handover", "taken", uuid.uuid4()))  # the same key: `taken` conflicts
    outcomes: dict[uuid.UUID, str] = {}
    seen_before_commit: dict[uuid.UUID, bool] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(claims) + 1)

    def hand_over(claim: UniqueValue, fail: bool) -> None:
        stored = [app.mapper.to_stored_event(e) for e in claim.collect_events()]

        def step() -> None:
            if fail:
                raise RuntimeError("the outside step failed")
            # Not committed yet: another connection cannot see the record.
            with psycopg.connect(dsn) as other:
                row = other.execute(
                    "SELECT 1 FROM events.customers_events WHERE originator_id = %s", (claim.id,)
                ).fetchone()
            seen_before_commit[claim.id] = row is not None

        barrier.wait()
        try:
            recorder.insert_events_before_commit(stored, step)
            outcome = "ok"
        except IntegrityError:
            outcome = "conflict"
        except RuntimeError:
            outcome = "failed"
        with lock:
            outcomes[claim.id] = outcome

    failing = {claims[3].id, claims[10].id}
    threads = [threading.Thread(target=hand_over, args=(c, c.id in failing)) for c in claims]
    threads.append(threading.Thread(target=hand_over, args=(taken, False)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes[taken.id] == "conflict"
    assert {i for i, o in outcomes.items() if o == "failed"} == failing
    ok = {i for i, o in outcomes.items() if o == "ok"}
    assert len(ok) == len(claims) - 2
    assert not any(seen_before_commit.values()) and set(seen_before_commit) == ok
    for claim in claims:
        assert (app.find(claim.id) is not None) == (claim.id in ok)


def test_a_group_of_hand_overs_goes_as_one_insert_and_each_keeps_its_outcome(platform: Any) -> None:
    """One group, as concurrent callers make it: one insert for all, then each outside step in turn. A failing step
    leaves only its own record out (the steps before and after it ran: theirs commit); a taken key sends every
    caller of the group through a savepoint of its own."""
    from adapters.event_recorder import _Handover

    app = platform.get(Customers)
    recorder = app.recorder
    brand = uuid.uuid4()

    ran: dict[uuid.UUID, bool] = {}

    def handover(claim: UniqueValue, fail: bool = False) -> Any:
        def step() -> None:
            if fail:
                raise RuntimeError("the outside step failed")
            ran[claim.id] = True

        return _Handover([app.mapper.to_stored_event(e) for e in claim.collect_events()], step)

    claims = [UniqueValue.claim(brand, "group", str(i), uuid.uuid4()) for i in range(3)]
    group = [handover(claims[0]), handover(claims[1], fail=True), handover(claims[2])]
    recorder._hand_over(group)
    assert [h.done for h in group] == [True, True, True]
    assert [h.error is None for h in group] == [True, False, True]
    assert [c.id in ran for c in claims] == [True, False, True]
    assert [app.find(c.id) is not None for c in claims] == [True, False, True]

    app.save(UniqueValue.claim(brand, "group", "taken", uuid.uuid4()))
    claims = [UniqueValue.claim(brand, "group", k, uuid.uuid4()) for k in ("a", "taken", "b")]
    group = [handover(c) for c in claims]
    recorder._hand_over(group)
    assert isinstance(group[1].error, IntegrityError) and group[0].error is None and group[2].error is None
    assert [c.id in ran for c in claims] == [True, False, True]
    assert app.find(claims[0].id) is not None and app.find(claims[2].id) is not None  # "taken": the first claim's


def test_many_senders_hand_over_in_shared_groups_and_none_is_left_waiting(platform: Any) -> None:
    """24 threads handing over again and again, as a notification job's senders do: each caller sleeps until its
    group is over or it is handed the lane, so every call returns (none left waiting for a wake-up that went to
    another), every record commits once, and callers share groups (a step run by another caller's thread)."""
    app = platform.get(Customers)
    recorder = app.recorder
    brand = uuid.uuid4()
    senders, rounds = 24, 15
    stepped_by: dict[uuid.UUID, tuple[int, int]] = {}  # claim -> (caller thread, thread that ran its step)
    errors: list[BaseException] = []

    def sender(n: int) -> None:
        try:
            for r in range(rounds):
                claim = UniqueValue.claim(brand, "lane", f"{n}-{r}", uuid.uuid4())
                caller = threading.get_ident()

                def step(claim_id: uuid.UUID = claim.id, caller: int = caller) -> None:
                    stepped_by[claim_id] = (caller, threading.get_ident())

                stored = [app.mapper.to_stored_event(e) for e in claim.collect_events()]
                recorder.insert_events_before_commit(stored, step, notify=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(senders)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not [t for t in threads if t.is_alive()], "a sender was left waiting"
    assert not errors
    assert len(stepped_by) == senders * rounds
    assert all(app.find(claim_id) is not None for claim_id in stepped_by)
    assert any(caller != runner for caller, runner in stepped_by.values()), "no group was shared"


def test_a_hand_over_without_notify_wakes_no_follower_and_one_with_notify_does(platform: Any, dsn: str) -> None:
    """insert_events_before_commit(notify=False) records the events without the channel's NOTIFY (followers read
    them with the next notified commit); the default notifies as every append does."""
    app = platform.get(Customers)
    recorder = app.recorder
    brand = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(recorder.channel_name)))
        quiet = UniqueValue.claim(brand, "notify", "quiet", uuid.uuid4())
        recorder.insert_events_before_commit([app.mapper.to_stored_event(e) for e in quiet.collect_events()],
                                             lambda: None, notify=False)  # fmt: skip
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
        assert app.find(quiet.id) is not None
        loud = UniqueValue.claim(brand, "notify", "loud", uuid.uuid4())
        recorder.insert_events_before_commit([app.mapper.to_stored_event(e) for e in loud.collect_events()],
                                             lambda: None)  # fmt: skip
        assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == [recorder.channel_name]


def test_an_append_is_on_disk_when_its_save_returns(platform: Any, dsn: str, tenant: Any) -> None:
    """An append that returned is on disk: the commit record of the transaction that wrote the event is at or before
    the end of the WAL flushed when save() returned (pg_walinspect reads the record). Guards the write path against
    an asynchronous commit: one without its flush (the group's commit with `synchronous_commit` off followed by a
    transaction id alone, which commits without a flush when it wrote no WAL) failed here."""
    app = platform.get(Customers)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")  # contrib, shipped with PostgreSQL 15 and later
        start = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        flushed_after: dict[uuid.UUID, Any] = {}
        for i in range(25):
            customer = app.register(tenant.brand_id, name=f"Durable Borrower {i}", phone=f"98450{i:05d}")
            flushed_after[customer.id] = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0]
        commits = dict(
            conn.execute(
                "SELECT xid::text, end_lsn FROM pg_get_wal_records_info(%s, pg_current_wal_flush_lsn()) "
                "WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT'",
                (start,),
            ).fetchall()
        )
        late = []
        for customer_id, flushed in flushed_after.items():
            xid = conn.execute(
                "SELECT xmin::text FROM events.customers_events WHERE originator_id = %s AND originator_version = 1",
                (customer_id,),
            ).fetchone()[0]
            assert xid in commits, (customer_id, xid)
            if commits[xid] > flushed:
                late.append((customer_id, str(commits[xid]), str(flushed)))
    assert not late, f"saves returned before their commit was on disk: {late[:3]}"
