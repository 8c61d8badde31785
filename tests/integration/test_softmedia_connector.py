"""The Softmedia connector against the Softmedia simulator over real HTTP on loopback, faults included."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import pytest

from adapters.simulators.softmedia import Dataset, SimBorrower, SoftmediaSimulator
from adapters.softmedia import (
    NoticePage,
    SoftmediaAuthError,
    SoftmediaClient,
    SoftmediaError,
    SoftmediaUnavailable,
    SourceNotice,
)
from domain.customers.values import normalise_loan_number
from domain.shared.values import normalise_phone

TODAY = date(2025, 3, 1)
TOKEN = "test-token"
PAGE_SIZE = 100


class RecordingSleep:
    """Stands in for time.sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SoftmediaSimulator]:
    """One simulator for the module, 1,200 notices per company across both modes."""
    dataset = Dataset.generate(seed=11, companies=["SML", "KFL"], per_company=1200, today=TODAY)
    with SoftmediaSimulator(dataset, token=TOKEN) as sim:
        yield sim


@pytest.fixture(autouse=True)
def _no_faults_left(simulator: SoftmediaSimulator) -> Iterator[None]:
    """A fault switched on by one test never leaks into the next."""
    simulator.reset_faults()
    yield
    simulator.reset_faults()


def make_client(sim: SoftmediaSimulator, sleep: RecordingSleep, **options: Any) -> SoftmediaClient:
    settings: dict[str, Any] = {"page_size": PAGE_SIZE, "timeout": 2.0, "sleep": sleep}
    settings.update(options)
    return SoftmediaClient(sim.base_url, settings.pop("token", TOKEN), **settings)


def pull(client: SoftmediaClient, mode: str, company: str) -> list[NoticePage]:
    return list(client.pages(mode, company))


def ids(pages: list[NoticePage]) -> list[str]:
    return [notice.notice_id for page in pages for notice in page.items]


def as_source_fields(notice: SourceNotice) -> tuple[Any, ...]:
    """A delivered notice in the spelling the source used, to compare with the simulator's items."""
    updated = notice.updated_at.isoformat() if notice.updated_at else None
    return (
        notice.notice_id,
        notice.company_code,
        notice.loan_number,
        notice.customer_name,
        notice.phone,
        notice.due_date.isoformat(),
        notice.instalment_no,
        str(notice.amount_due),
        notice.days_overdue,
        notice.mode,
        updated,
    )


def as_item_fields(item: dict[str, Any]) -> tuple[Any, ...]:
    updated = datetime.fromisoformat(item["updated_at"]).astimezone(UTC).isoformat() if item["updated_at"] else None
    return (
        item["notice_id"],
        item["company_code"],
        item["loan_number"],
        item["customer_name"].strip(),
        item["phone"],
        item["due_date"],
        item["instalment_no"],
        item["amount_due"],
        item["days_overdue"],
        item["mode"],
        updated,
    )


def test_full_pull_of_both_modes_across_pages_equals_the_dataset(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    with make_client(simulator, sleep) as client:
        for company in ("SML", "KFL"):
            for mode in ("overdue", "upcoming"):
                expected = simulator.dataset.items(mode, company)
                pages = pull(client, mode, company)
                assert [page.page for page in pages] == list(range(1, math.ceil(len(expected) / PAGE_SIZE) + 1))
                assert all(page.total == len(expected) and page.malformed == 0 for page in pages)
                delivered = [as_source_fields(notice) for page in pages for notice in page.items]
                assert delivered == [as_item_fields(item) for item in expected]
        assert client.retries == 0
    assert sleep.waits == []
    notice = pages[0].items[0]
    assert isinstance(notice.amount_due, Decimal) and notice.amount_due.as_tuple().exponent == -2
    assert notice.updated_at is None or notice.updated_at.tzinfo is not None


def test_unknown_company_yields_one_empty_page_and_stops(simulator: SoftmediaSimulator) -> None:
    before = simulator.requests
    with make_client(simulator, RecordingSleep()) as client:
        pages = pull(client, "overdue", "NOPE")
    assert [(page.page, page.total_pages, page.total, page.items) for page in pages] == [(1, 0, 0, [])]
    assert simulator.requests - before == 1


def test_bad_token_raises_auth_error_without_retrying(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    before = simulator.requests
    with make_client(simulator, sleep, token="wrong") as client, pytest.raises(SoftmediaAuthError):
        client.fetch_page("overdue", "SML", 1)
    assert simulator.requests - before == 1
    assert sleep.waits == [] and client.retries == 0


def test_rate_limit_waits_retry_after_and_the_pull_completes(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.rate_limit_next(2, retry_after=3)
    with make_client(simulator, sleep) as client:
        pages = pull(client, "overdue", "KFL")
        assert client.retries == 2
    assert sleep.waits == [3.0, 3.0]
    assert ids(pages) == [item["notice_id"] for item in simulator.dataset.items("overdue", "KFL")]


def test_retry_after_is_capped_at_backoff_max(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.rate_limit_next(1, retry_after=120)
    with make_client(simulator, sleep, backoff_max=7.0) as client:
        page = client.fetch_page("upcoming", "SML", 1)
    assert sleep.waits == [7.0]
    assert len(page.items) == PAGE_SIZE


def test_unavailable_source_is_retried_with_jittered_exponential_backoff(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.fail_next(4, status=503)
    with make_client(simulator, sleep, backoff_base=0.5, backoff_max=3.0) as client:
        pages = pull(client, "upcoming", "KFL")
        assert client.retries == 4
    assert len(sleep.waits) == 4
    for attempt, wait in enumerate(sleep.waits):
        assert 0.0 <= wait <= min(3.0, 0.5 * 2**attempt)
    assert ids(pages) == [item["notice_id"] for item in simulator.dataset.items("upcoming", "KFL")]


def test_a_fault_mid_pull_is_retried_and_no_page_is_lost(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.fail_at_page(3, status=500, times=2)
    with make_client(simulator, sleep) as client:
        pages = pull(client, "overdue", "SML")
        assert client.retries == 2
    assert len(sleep.waits) == 2
    assert ids(pages) == [item["notice_id"] for item in simulator.dataset.items("overdue", "SML")]


def test_faults_outlasting_max_retries_raise_unavailable(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.fail_next(10, status=502)
    before = simulator.requests
    with make_client(simulator, sleep, max_retries=3) as client, pytest.raises(SoftmediaUnavailable, match="502"):
        client.fetch_page("overdue", "SML", 1)
    assert simulator.requests - before == 4  # the first try and three retries
    assert len(sleep.waits) == 3 and client.retries == 3


def test_a_body_that_is_not_a_page_is_retried_then_gives_up(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.bad_body_next(2)  # an HTML gateway page with status 200
    with make_client(simulator, sleep, max_retries=2) as client:
        assert len(client.fetch_page("overdue", "SML", 1).items) == PAGE_SIZE
        simulator.bad_body_next(3, body=b'{"error": "maintenance"}')  # JSON, but no items list
        with pytest.raises(SoftmediaUnavailable, match="no items list"):
            client.fetch_page("overdue", "SML", 1)
        assert client.retries == 4
    assert len(sleep.waits) == 4


def test_a_client_error_stops_the_pull_without_retrying(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.fail_next(1, status=404)
    with make_client(simulator, sleep) as client, pytest.raises(SoftmediaError) as raised:
        client.fetch_page("overdue", "SML", 1)
    assert not isinstance(raised.value, SoftmediaUnavailable | SoftmediaAuthError)
    assert "404" in str(raised.value) and "simulated fault" in str(raised.value)
    assert sleep.waits == []


def test_malformed_items_are_counted_and_skipped_while_good_items_come_through(simulator: SoftmediaSimulator) -> None:
    simulator.malformed_every(7)
    expected = [item["notice_id"] for item in simulator.dataset.items("overdue", "SML")]
    with make_client(simulator, RecordingSleep()) as client:
        pages = pull(client, "overdue", "SML")
    # Every 7th item of each page is broken; all the others arrive, in order.
    good = [notice_id for index, notice_id in enumerate(expected) if (index % PAGE_SIZE + 1) % 7 != 0]
    assert ids(pages) == good
    assert sum(page.malformed for page in pages) == len(expected) - len(good) > 0
    first = pages[0]
    assert first.malformed == PAGE_SIZE // 7 and len(first.errors) == first.malformed
    reasons = " ".join(error for page in pages for error in page.errors)
    for reason in ("missing due_date", "due_date '2024-02-30'", "amount_due 'abc'", "unknown mode", "negative"):
        assert reason in reasons


def test_repeated_items_across_pages_are_delivered_for_the_caller_to_dedupe(simulator: SoftmediaSimulator) -> None:
    simulator.repeat_items(True)
    expected = [item["notice_id"] for item in simulator.dataset.items("upcoming", "SML")]
    with make_client(simulator, RecordingSleep()) as client:
        pages = pull(client, "upcoming", "SML")
    delivered = ids(pages)
    assert len(delivered) == len(expected) + len(pages) - 1
    assert list(dict.fromkeys(delivered)) == expected
    for previous, page in pairwise(pages):
        assert page.items[0].notice_id == previous.items[-1].notice_id


def test_a_page_slower_than_the_timeout_is_retried(simulator: SoftmediaSimulator) -> None:
    sleep = RecordingSleep()
    simulator.slow_pages(0.6, times=1)
    with make_client(simulator, sleep, timeout=0.2) as client:
        page = client.fetch_page("overdue", "KFL", 2)
        assert client.retries == 1
    assert len(sleep.waits) == 1
    assert [notice.notice_id for notice in page.items] == [
        item["notice_id"] for item in simulator.dataset.items("overdue", "KFL")[PAGE_SIZE : 2 * PAGE_SIZE]
    ]


def _item(notice_id: str, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "notice_id": notice_id,
        "company_code": "ACM",
        "loan_number": "ACM0000000001",
        "customer_name": "Meena Iyer",
        "phone": "98765 43210",
        "due_date": "2025-02-01",
        "instalment_no": 4,
        "amount_due": "12500.00",
        "days_overdue": 28,
        "mode": "overdue",
        "updated_at": "2025-02-28T10:00:00+05:30",
    }
    item.update(fields)
    return item


def test_item_spellings_are_forgiven_and_contract_breaks_are_skipped() -> None:
    good = [
        _item("A1", amount_due=12500, days_overdue="28", instalment_no="4"),
        _item("A2", amount_due="12500.5", updated_at=None, loan_number=""),
        _item("A3", amount_due=12500.0, phone="", updated_at="yesterday"),
        _item("A4", updated_at="2025-02-28T04:30:00"),
    ]
    bad = [
        _item("B2", amount_due="12,500"),
        _item("B3", days_overdue=-1),
        _item("B4", due_date="01/02/2025"),
        _item("B5", customer_name=""),
        _item("B6", amount_due="-5.00"),
        _item("B7", instalment_no=2.5),
    ]
    dataset = Dataset(TODAY, good + bad)
    bad.append(_item("B1", company_code="OTHER"))
    dataset.upsert(bad[-1], company="ACM")  # another company's item in this company's feed
    with SoftmediaSimulator(dataset, token=TOKEN) as sim, make_client(sim, RecordingSleep()) as client:
        (page,) = pull(client, "overdue", "ACM")
    assert [notice.notice_id for notice in page.items] == ["A1", "A2", "A3", "A4"]
    a1, a2, a3, a4 = page.items
    assert (a1.amount_due, a1.days_overdue, a1.instalment_no) == (Decimal("12500.00"), 28, 4)
    assert str(a2.amount_due) == "12500.50" and a2.updated_at is None and a2.loan_number == ""
    assert str(a3.amount_due) == "12500.00" and a3.phone == "" and a3.updated_at is None
    assert a4.updated_at == datetime(2025, 2, 28, 4, 30, tzinfo=UTC)  # no offset given: taken as UTC
    assert page.malformed == len(bad) and len(page.errors) == len(bad)
    assert "'OTHER' is not the requested 'ACM'" in page.errors[-1]


def test_a_source_growing_during_a_pull_is_followed_to_its_new_last_page() -> None:
    dataset = Dataset(TODAY, [_item(f"G{n:03d}") for n in range(150)])
    with SoftmediaSimulator(dataset, token=TOKEN) as sim, make_client(sim, RecordingSleep()) as client:
        delivered: list[str] = []
        for page in client.pages("overdue", "ACM"):
            if page.page == 1:
                assert page.total_pages == 2
                for n in range(150, 260):
                    dataset.upsert(_item(f"G{n:03d}"))
            delivered += [notice.notice_id for notice in page.items]
    assert page.page == 3 and page.total == 260
    assert delivered == [f"G{n:03d}" for n in range(260)]


def test_simulator_rejects_bad_queries_and_missing_tokens(simulator: SoftmediaSimulator) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    good = {"mode": "overdue", "company": "SML", "page": "1", "page_size": "10"}
    with httpx.Client(base_url=simulator.base_url) as http:
        assert http.get("/v1/notices", params=good).status_code == 401
        for change in ({"mode": "late"}, {"page": "0"}, {"page_size": "1001"}, {"page_size": "x"}, {"company": ""}):
            response = http.get("/v1/notices", params={**good, **change}, headers=auth)
            assert response.status_code == 400, change
            assert response.json()["error"] == "bad_request"
        body = http.get("/v1/notices", params=good, headers=auth).json()
    assert body["page_size"] == 10 and len(body["items"]) == 10
    assert body["total_pages"] == math.ceil(body["total"] / 10)


def test_generated_data_is_deterministic_consistent_and_accepted_by_our_value_rules() -> None:
    known = [
        SimBorrower("Karthik Raman", "+919876543210", ["SML0001234567"]),
        SimBorrower("Priya Sharma", "098765-11111", ["SML0007654321", "KFL0000000042"]),
    ]
    first = Dataset.generate(3, ["SML"], 400, TODAY, borrowers=known, known_share=0.5)
    again = Dataset.generate(3, ["SML"], 400, TODAY, borrowers=known, known_share=0.5)
    items = first.items("overdue", "SML") + first.items("upcoming", "SML")
    assert len(items) == 400 and items == again.items("overdue", "SML") + again.items("upcoming", "SML")
    known_digits = {"9876543210", "9876511111"}
    known_loans = {"SML0001234567", "SML0007654321", "KFL0000000042"}
    linked = 0
    for item in items:
        due = date.fromisoformat(item["due_date"])
        if item["mode"] == "overdue":
            assert 1 <= item["days_overdue"] <= 400 and (TODAY - due).days == item["days_overdue"]
        else:
            assert item["days_overdue"] == 0 and 0 <= (due - TODAY).days <= 60
        assert re.fullmatch(r"\d+\.\d\d", item["amount_due"])
        normalise_loan_number(item["loan_number"])
        if item["phone"]:
            normalise_phone(item["phone"])
        digits = re.sub(r"\D", "", item["phone"])[-10:]
        name = item["customer_name"].lower()
        if item["loan_number"] in known_loans or digits in known_digits or "raman" in name or "sharma" in name:
            linked += 1
    assert 0.4 * len(items) <= linked <= 0.75 * len(items)
    identities = first.borrowers()
    assert {b.name for b in identities} >= {"Karthik Raman", "Priya Sharma"}
    for borrower in identities:
        normalise_phone(borrower.phone)
