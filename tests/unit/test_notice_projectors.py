from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from domain.customers.customer import CustomerRecord
from domain.notices.matching import name_keys
from domain.notices.notice import Match, Notice, NoticeFacts, NoticeMode
from domain.shared.aggregate import with_id
from projections.notice_matching import NoticeNameKeys
from projections.notices import NoticeViews
from projections.projection import Write

FACTS = NoticeFacts(
    loan_number="SML0000000011",
    customer_name="Meena Iyer",
    phone="9876500011",
    phone_e164="+919876500011",
    due_date=date(2026, 10, 1),
    instalment_no=3,
    amount_due=Decimal("5000.00"),
    days_overdue=40,
    mode=NoticeMode.OVERDUE,
)


def _notice() -> Notice:
    return with_id(
        Notice, uuid.uuid4(), brand_id=uuid.uuid4(), source_id=uuid.uuid4(), company="SML",
        source_notice_id="N1", facts=FACTS, run_id=None,
    )  # fmt: skip


def _batch(projection: Any, events: list[Any]) -> list[Write]:
    projection.begin_batch()
    writes = [w for position, e in enumerate(events, 1) for w in projection.project(position, e)]
    return writes + list(projection.end_batch())


def test_a_notice_imported_and_matched_in_one_batch_is_written_once_with_its_match() -> None:
    notice = _notice()
    customer = uuid.uuid4()
    notice.record_match(Match(customer_id=customer, confidence=100, band="high", methods=["loan_number"]), "imported")
    writes = _batch(NoticeViews(), list(notice.collect_events()))
    assert [w.sql.split()[2] for w in writes] == ["read.notices", "read.notice_history", "read.notice_totals"]
    (rows,) = writes[0].params
    assert isinstance(rows, str)  # one JSON document (jsonb_to_recordset), written by pydantic-core
    (row,) = json.loads(rows)
    assert (row["match_customer_id"], row["match_band"], row["version"]) == (str(customer), "high", 2)
    assert row["amount_due"] == "5000.00" and row["due_date"] == "2026-10-01"
    (history,) = writes[1].params
    assert [h["kind"] for h in json.loads(history)] == ["imported", "matched"]


def test_a_change_in_the_batch_of_the_import_comes_after_the_row_is_written() -> None:
    notice = _notice()
    notice.observe(FACTS.model_copy(update={"amount_due": Decimal("5200.00")}), None)
    writes = _batch(NoticeViews(), list(notice.collect_events()))
    assert writes[0].sql.startswith("INSERT INTO read.notices")
    assert writes[1].sql.startswith("UPDATE read.notices")


def test_a_match_of_a_notice_written_earlier_updates_its_row() -> None:
    notice = _notice()
    notice.collect_events()
    notice.record_match(Match(customer_id=None, confidence=0, band="unmatched", methods=[]), "borrower changed")
    writes = _batch(NoticeViews(), list(notice.collect_events()))
    assert writes[0].sql.startswith("UPDATE read.notices SET match_customer_id")
    assert writes[1].sql.startswith("INSERT INTO read.notice_history")


def test_name_keys_file_a_registered_borrower_and_follow_a_rename() -> None:
    record = CustomerRecord(
        brand_id=uuid.uuid4(), name="Karthik Raman", phone="+919876543210", addresses=[], loan_numbers=[]
    )
    record.update_details(name="Karthik R. Raman")
    registered, renamed = record.collect_events()
    projection = NoticeNameKeys()
    (insert,) = projection.project(1, registered)
    assert insert.params == (record.id, record.brand_id, *name_keys("Karthik Raman"))
    upsert, drop = projection.project(2, renamed)
    words, keys = name_keys("Karthik R. Raman")
    assert upsert.params == {"id": record.id, "words": words, "keys": keys}
    assert drop.sql.startswith("DELETE") and drop.params == (record.id, keys)
