"""The B-tree of borrowers' loan numbers and alternate phones the notice matcher reads (`NoticeBorrowerKeys`): after a
generated history of links, added and removed phones, it holds exactly each record's loan numbers and alternate
phones, and the matcher's lookup finds borrowers by them within the brand only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from adapters.postgres import Database
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from projections.customers import CustomerDirectory
from projections.engine import ProjectionEngine
from projections.loans import LoanViews
from projections.notice_matching import NoticeBorrowerKeys
from projections.notice_queries import NoticeQueries
from tests.integration.test_directory_batching import _write_stream, customers_store


@pytest.fixture
def store() -> Iterator[tuple[Customers, ProjectionEngine, Database]]:
    with customers_store("cd_test_borrower_keys", CustomerDirectory(), NoticeBorrowerKeys()) as (app, engine, db):
        with db.pool.connection() as conn:
            LoanViews().create(conn)  # the matcher also looks for Covenant Desk's own loans of those numbers
        yield app, engine, db


def test_the_keys_are_each_records_loan_numbers_and_alternate_phones_and_find_borrowers_in_their_brand(
    store: tuple[Customers, ProjectionEngine, Database],
) -> None:
    app, engine, db = store
    records = _write_stream(app)
    head = engine.head("customers")
    for batch in (1, 5_000):  # event at a time, and the whole stream in one batch
        assert engine.rebuild("notice_borrower_keys", batch=batch) == head
        with db.pool.connection() as conn:
            rows = conn.execute("SELECT kind, key, customer_id FROM read.notice_borrower_keys").fetchall()
        stored = sorted((r["kind"], r["key"], r["customer_id"]) for r in rows)
        expected: set[tuple[str, str, uuid.UUID]] = set()
        for record in (app.repository.get(r.id) for r in records):
            assert isinstance(record, CustomerRecord)
            expected.update(("loan", n, record.id) for n in record.loan_numbers)
            expected.update(("alternate", p, record.id) for p in record.alternate_phones)
        assert stored == sorted(expected), f"batch of {batch}"
    assert any(kind == "alternate" for kind, _, _ in expected) and len(expected) > len(records)

    assert engine.rebuild("customer_directory") == head
    queries = NoticeQueries(db.pool)
    with_phone = next(app.repository.get(r.id) for r in records if app.repository.get(r.id).alternate_phones)
    assert isinstance(with_phone, CustomerRecord)
    loan, phone = with_phone.loan_numbers[-1], next(iter(with_phone.alternate_phones))
    found = queries.borrowers_by_loan_or_phone(with_phone.brand_id, [loan, "NO-SUCH-LOAN"], [phone, "+919000000000"])
    assert [c.customer_id for c in found[("loan", loan)]] == [with_phone.id]
    assert with_phone.id in [c.customer_id for c in found[("phone", phone)]]
    assert ("loan", "NO-SUCH-LOAN") not in found and ("phone", "+919000000000") not in found
    # Another brand's staff find nothing by the same numbers.
    assert not queries.borrowers_by_loan_or_phone(uuid.uuid4(), [loan], [phone])
