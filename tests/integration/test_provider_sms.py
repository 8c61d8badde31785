"""The SMS client against the SMS simulator over real HTTP: sending, refusals, retries, timeouts, the call log."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from adapters.providers import call_log as call_logs
from adapters.providers.call_log import CallRecord, ProviderCallLog, calls_written_behind
from adapters.providers.channels import ChannelClients
from adapters.providers.directory import ProviderDirectory
from adapters.providers.http import ProviderConfig
from adapters.simulators.sms import SmsSimulator
from domain.providers.errors import ProviderRejected, ProviderUnavailable
from tests.integration.providers_support import RecordingSleep, call_log, caller, directory_for, logged

__all__ = ["call_log"]  # the fixture, used by name


@pytest.fixture(scope="module")
def sms() -> Iterator[SmsSimulator]:
    with SmsSimulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _no_faults(sms: SmsSimulator) -> None:
    sms.reset_faults()


def test_a_message_is_sent_and_readable_only_from_the_simulator_outbox(
    sms: SmsSimulator, call_log: ProviderCallLog
) -> None:
    who = caller()
    client = directory_for(call_log, RecordingSleep(), sms=sms.base_url).sms()
    receipt = client.send("98765 43210", "Your Covenant Desk code is 482913", caller=who)
    client.send("+919876543210", "Your Covenant Desk code is 771204", caller=who)
    client.send("+918765432109", "Someone else's code is 111111", caller=who)

    assert receipt.to == "+919876543210" and receipt.status == "queued" and receipt.message_id.startswith("msg_")
    outbox = httpx.get(f"{sms.base_url}/outbox", params={"to": "9876543210"}).json()["items"]
    assert [item["text"] for item in outbox] == [
        "Your Covenant Desk code is 771204",
        "Your Covenant Desk code is 482913",
    ]  # newest first, only that recipient
    assert outbox[1]["message_id"] == receipt.message_id and outbox[1]["sender"] == "CVDESK"
    assert sms.last_code("+91 98765 43210") == "771204"
    rows = logged(call_log, who)
    assert [(r["provider"], r["kind"], r["status"], r["http_status"], r["attempts"]) for r in rows] == [
        ("sms", "send_sms", "ok", 202, 1)
    ] * 3
    assert rows[0]["brand_id"] == who.brand_id and rows[0]["customer_id"] == who.customer_id
    assert rows[0]["error"] is None and rows[0]["latency_ms"] >= 0


@pytest.mark.parametrize(
    ("to", "text", "code", "status"),
    [
        ("12345", "hello", "invalid_number", 400),
        ("+919876540000", "hello", "blocked_number", 422),
        ("9876543210", "", "invalid_text", 400),
        ("9876543210", "x" * 919, "invalid_text", 400),
    ],
)
def test_refusals_are_rejections_not_retried(
    sms: SmsSimulator, call_log: ProviderCallLog, to: str, text: str, code: str, status: int
) -> None:
    who, sleep = caller(), RecordingSleep()
    with pytest.raises(ProviderRejected) as refused:
        directory_for(call_log, sleep, sms=sms.base_url).sms().send(to, text, caller=who)
    assert refused.value.code == code and refused.value.status == status
    assert sleep.waits == []
    (row,) = logged(call_log, who)
    assert (row["status"], row["outcome"], row["http_status"], row["attempts"]) == ("error", "rejected", status, 1)
    assert code in row["error"]


def test_a_503_is_retried_with_backoff_then_succeeds(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    who, sleep = caller(), RecordingSleep()
    answer = httpx.post(f"{sms.base_url}/faults", json={"switch": "fail_next", "args": {"n": 2, "status": 503}})
    assert answer.status_code == 204

    receipt = directory_for(call_log, sleep, sms=sms.base_url).sms().send("9876501234", "code 123456", caller=who)

    assert receipt.status == "queued" and len(sleep.waits) == 2
    assert all(0 <= wait <= 0.1 for wait in sleep.waits)  # full jitter under base * 2**retry
    (row,) = logged(call_log, who)
    assert (row["status"], row["http_status"], row["attempts"]) == ("ok", 202, 3)
    assert len(sms.sent_to("9876501234")) == 1  # the faulted attempts sent nothing


def test_retries_are_bounded_then_unavailable(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    who, sleep = caller(), RecordingSleep()
    sms.fail_next(10, 503)
    with pytest.raises(ProviderUnavailable) as failed:
        directory_for(call_log, sleep, sms=sms.base_url).sms().send("9876501235", "code 123456", caller=who)
    assert failed.value.status == 503 and "after 3 attempts" in failed.value.message
    (row,) = logged(call_log, who)
    assert (row["outcome"], row["http_status"], row["attempts"]) == ("unavailable", 503, 3)
    assert sms.sent_to("9876501235") == []


def test_a_429_waits_as_long_as_retry_after_says_capped(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    who, sleep = caller(), RecordingSleep()
    sms.rate_limit_next(1, retry_after=1)
    directory_for(call_log, sleep, sms=sms.base_url).sms().send("9876501236", "code 1", caller=who)
    assert sleep.waits == [1.0]
    sms.rate_limit_next(1, retry_after=60)
    directory_for(call_log, sleep, sms=sms.base_url).sms().send("9876501236", "code 2", caller=who)
    assert sleep.waits[-1] == 2.0  # backoff_max


def test_a_timeout_is_transient(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    """A message with a reference the provider knows it by is sent again after a timeout: once on the handset."""
    who = caller()
    config = ProviderConfig("sms", sms.base_url, "sim-key", timeout=0.2, max_retries=1, backoff_base=0.01)
    directory = ProviderDirectory({"sms": config}, call_log, sleep=RecordingSleep())
    sms.add_latency(1.0, times=2)
    with pytest.raises(ProviderUnavailable) as failed:
        ChannelClients(directory).send("sms", None, to="+919876501237", text="code 3", sender="CVDESK",
                                       reference="msg-3.1", callback_url=None, caller=who)  # fmt: skip
    assert "timed out" in failed.value.message and failed.value.status is None
    (row,) = logged(call_log, who)
    assert (row["outcome"], row["http_status"], row["attempts"]) == ("unavailable", None, 2)
    assert 400 <= row["latency_ms"] < 2000
    time.sleep(1.2)  # the slow attempts were taken, under one reference: one message
    assert len(sms.sent_to("9876501237")) == 1


def test_a_plain_text_whose_answer_timed_out_is_not_sent_again(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    """A plain text carries nothing the provider could know it by: sent again after a timeout (the provider had
    taken it), the person got it twice. Its outcome is unknown, said at once; a 503 (not taken) is still retried."""
    who = caller()
    config = ProviderConfig("sms", sms.base_url, "sim-key", timeout=0.2, max_retries=2, backoff_base=0.01)
    directory = ProviderDirectory({"sms": config}, call_log, sleep=RecordingSleep())
    sms.add_latency(1.0, times=1)
    with pytest.raises(ProviderUnavailable) as failed:
        directory.sms().send("9876501240", "code 7", caller=who)
    assert "the outcome is unknown" in failed.value.message
    (row,) = logged(call_log, who)
    assert (row["outcome"], row["attempts"]) == ("unavailable", 1)
    time.sleep(1.2)
    assert len(sms.sent_to("9876501240")) == 1  # taken once, not twice
    sms.fail_next(1, 502)
    with pytest.raises(ProviderUnavailable):
        directory.sms().send("9876501241", "code 8", caller=who)
    sms.fail_next(1, 503)
    assert directory.sms().send("9876501241", "code 9", caller=who).status == "queued"
    assert [r["attempts"] for r in logged(call_log, who)] == [1, 1, 2]


def test_refused_credentials_are_unavailable_at_once(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    who, sleep = caller(), RecordingSleep()
    directory = ProviderDirectory({"sms": ProviderConfig("sms", sms.base_url, "wrong-key")}, call_log, sleep=sleep)
    with pytest.raises(ProviderUnavailable) as failed:
        directory.sms().send("9876501238", "code 4", caller=who)
    assert failed.value.status == 401 and "credentials" in failed.value.message and sleep.waits == []


def test_a_body_that_is_not_json_is_retried(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    who, sleep = caller(), RecordingSleep()
    sms.bad_body_next(1)
    directory = directory_for(call_log, sleep, sms=sms.base_url)
    accepted = ChannelClients(directory).send("sms", None, to="+919876501239", text="code 5", sender="CVDESK",
                                              reference="msg-5.1", callback_url=None, caller=who)  # fmt: skip
    assert accepted.message_id and len(sleep.waits) == 1
    sms.bad_body_next(1)  # a plain text: what the garbled answer said is unknown, so it is not sent again
    with pytest.raises(ProviderUnavailable):
        directory.sms().send("9876501239", "code 6", caller=who)
    assert len(sleep.waits) == 1


def test_an_unconfigured_service_fails_unavailable_and_is_logged(call_log: ProviderCallLog) -> None:
    who = caller()
    directory = ProviderDirectory({}, call_log)
    client = directory.sms()
    with pytest.raises(ProviderUnavailable, match="PROVIDER_SMS_URL"):
        client.send("9876501240", "code 6", caller=who)
    (row,) = logged(call_log, who)
    assert (row["vendor"], row["outcome"], row["attempts"]) == ("none", "unavailable", 0)


def test_a_client_follows_its_service_when_reconfigured(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    directory = ProviderDirectory({}, call_log)
    client = directory.sms()  # taken before the service had a provider, as an application built at start does
    directory.configure_url("sms", sms.base_url)
    assert client.send("9876501241", "code 7", caller=caller()).status == "queued"


def test_the_control_endpoints_are_never_faulted(sms: SmsSimulator) -> None:
    sms.fail_next(5, 503)
    assert httpx.get(f"{sms.base_url}/outbox").status_code == 200
    assert httpx.post(f"{sms.base_url}/faults", json={"switch": "nope"}).status_code == 422
    assert httpx.delete(f"{sms.base_url}/faults").status_code == 204
    assert httpx.get(f"{sms.base_url}/outbox", params={"limit": "0"}).status_code == 400


def test_a_brand_picks_its_vendor(sms: SmsSimulator, call_log: ProviderCallLog) -> None:
    directory = directory_for(call_log, RecordingSleep(), sms=sms.base_url)
    with SmsSimulator() as other:
        directory.configure(ProviderConfig("sms", other.base_url, "sim-key", vendor="othersms"), default=False)
        assert directory.config("sms") is not None and directory.config("sms").vendor == "simulator"  # type: ignore[union-attr]

        directory.sms().send("9876501250", "via the default", caller=caller())
        directory.for_brand({"sms": "othersms"}).sms().send("9876501250", "via the brand's choice", caller=caller())
        assert [m["text"] for m in sms.sent_to("9876501250")] == ["via the default"]
        assert [m["text"] for m in other.sent_to("9876501250")] == ["via the brand's choice"]

        who = caller()
        with pytest.raises(ProviderUnavailable, match="'msg91'"):
            directory.for_brand({"sms": "msg91"}).sms().send("9876501250", "nowhere", caller=who)
        (row,) = logged(call_log, who)
        assert (row["vendor"], row["outcome"]) == ("msg91", "unavailable")
    assert directory.for_brand({"aadhaar": "simulator"}).vendor("digilocker") == "simulator"


def test_old_calls_are_purged_in_batches(call_log: ProviderCallLog) -> None:
    from datetime import UTC, datetime, timedelta

    from adapters.providers.call_log import CallRecord

    who, now = caller(), datetime.now(UTC)

    def row(age_days: int) -> CallRecord:
        return CallRecord(
            "sms", "simulator", "send_sms", who.brand_id, None, "ok", 202, 5, 1, None, now - timedelta(days=age_days)
        )

    for age in (400, 300, 200, 10):
        call_log.record(row(age))
    assert call_log.purge(now - timedelta(days=180), 2) == 2
    assert call_log.purge(now - timedelta(days=180), 2) >= 1
    assert [r["at"] for r in logged(call_log, who)] == [now - timedelta(days=10)]


def test_each_call_is_logged_before_it_returns_from_every_sender_thread(
    sms: SmsSimulator, call_log: ProviderCallLog
) -> None:
    """A page of sends (as the notifications job makes them, from a pool of threads): each call's row is committed
    when its send returns - not kept for the end of the page, where a worker killed mid-page lost them - with what
    each call logs (a refusal included)."""
    who = caller()
    client = directory_for(call_log, RecordingSleep(), sms=sms.base_url).sms()
    numbers = [f"+9198765{i:05d}" for i in range(1, 13)] + ["+919876540000"]  # the last is on the DND list

    def send(number: str) -> tuple[str, int]:
        try:
            status = client.send(number, "Your instalment is due today", caller=who).status
        except ProviderRejected as refused:
            status = refused.code or "rejected"
        with psycopg.connect(call_log.pool.conninfo) as conn:  # another connection: what a restart would read
            committed = conn.execute("SELECT count(*) FROM ops.provider_calls WHERE brand_id = %s",
                                     (who.brand_id,)).fetchone()  # fmt: skip
        return status, committed[0] if committed else 0

    with ThreadPoolExecutor(max_workers=4) as senders:
        outcomes = list(senders.map(send, numbers))
    assert [status for status, _ in outcomes] == ["queued"] * 12 + ["blocked_number"]
    assert all(committed >= 1 for _, committed in outcomes)  # its own row at least, already committed
    rows = logged(call_log, who)
    assert (
        sorted((r["kind"], r["status"], r["outcome"], r["http_status"]) for r in rows)
        == [("send_sms", "error", "rejected", 422)] + [("send_sms", "ok", "ok", 202)] * 12
    )
    assert {r["customer_id"] for r in rows} == {who.customer_id} and len({r["id"] for r in rows}) == 13


def test_calls_ending_while_a_row_is_written_share_the_next_commit(call_log: ProviderCallLog) -> None:
    """The group commit: while one thread's write waits (here on a lock the test holds), the rows of calls ending
    meanwhile wait with it and go in one commit after it; each `record` returns only once its row is committed."""
    who = caller()

    def row(n: int) -> CallRecord:
        return CallRecord("sms", "simulator", "send_sms", who.brand_id, who.customer_id, "ok", 202, n, 1, None,
                          datetime.now(UTC))  # fmt: skip

    with psycopg.connect(call_log.pool.conninfo) as holder:
        holder.execute("LOCK TABLE ops.provider_calls IN EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=6) as threads:
            first = threads.submit(call_log.record, row(0))
            time.sleep(0.3)  # its COPY waits on the lock
            rest = [threads.submit(call_log.record, row(n)) for n in range(1, 6)]
            time.sleep(0.3)
            assert not first.done() and not any(f.done() for f in rest)  # none returns before its row is committed
            assert logged(call_log, who) == []
            holder.rollback()
            for future in (first, *rest):
                future.result(timeout=10)
    with call_log.pool.connection() as conn:
        commits = conn.execute("SELECT latency_ms, xmin::text AS tx FROM ops.provider_calls WHERE brand_id = %s",
                               (who.brand_id,)).fetchall()  # fmt: skip
    assert len(commits) == 6
    first_tx = next(r["tx"] for r in commits if r["latency_ms"] == 0)
    assert len({r["tx"] for r in commits if r["latency_ms"] != 0} - {first_tx}) == 1  # the five in one commit


def _row_of(who: object, n: int) -> CallRecord:
    return CallRecord("sms", "simulator", "send_sms", who.brand_id, who.customer_id, "ok", 202, n, 1, None,  # type: ignore[attr-defined]
                      datetime.now(UTC))  # fmt: skip


def test_a_page_of_sends_does_not_wait_for_each_rows_commit_but_ends_only_when_all_are_committed(
    call_log: ProviderCallLog,
) -> None:
    """Inside `calls_written_behind` (the notifications job's page) a sender hands its row to the writer and goes on
    to its next message; the block ends once every row is committed, before the page's outcomes are recorded."""
    who = caller()
    with psycopg.connect(call_log.pool.conninfo) as holder:
        holder.execute("LOCK TABLE ops.provider_calls IN EXCLUSIVE MODE")  # every commit waits on the test

        def page() -> None:
            with calls_written_behind(), ThreadPoolExecutor(max_workers=4) as senders:
                context = contextvars.copy_context()  # the senders run copies of the page's context, as the job's
                for future in [senders.submit(context.copy().run, call_log.record, _row_of(who, n)) for n in range(8)]:
                    future.result(timeout=5)  # each returned while its row could not be committed

        with ThreadPoolExecutor(max_workers=1) as runner:
            ended = runner.submit(page)
            time.sleep(0.5)
            assert not ended.done()  # the block waits for the rows' commit
            assert logged(call_log, who) == []
            holder.rollback()
            ended.result(timeout=10)
    assert sorted(r["latency_ms"] for r in logged(call_log, who)) == list(range(8))


def test_the_writer_thread_ends_when_idle_and_the_next_call_starts_another(
    call_log: ProviderCallLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle log holds no thread (a long-running process idles near 0% CPU and leaks none), and a call after it
    is written as before."""
    monkeypatch.setattr(call_logs, "IDLE_SECONDS", 0.1)
    who = caller()
    call_log.record(_row_of(who, 1))
    deadline = time.monotonic() + 5
    while call_log._writer is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call_log._writer is None
    call_log.record(_row_of(who, 2))
    assert sorted(r["latency_ms"] for r in logged(call_log, who)) == [1, 2]
