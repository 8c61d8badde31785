"""Parsing Softmedia pages and items: a well-formed item becomes a notice, a broken one is named and skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.softmedia import MAX_ERRORS_KEPT, MalformedItem, _parse_page, _Transient, parse_item

ITEM: dict[str, Any] = {
    "notice_id": " N-1 ",
    "company_code": "SML",
    "loan_number": "LN-1001",
    "customer_name": "Asha Rao",
    "phone": "98450 12345",
    "due_date": "2026-11-15",
    "instalment_no": 4,
    "amount_due": "12500.105",
    "days_overdue": 13,
    "mode": "overdue",
    "updated_at": "2026-11-28T09:00:00+05:30",
}


def _item(**changes: Any) -> dict[str, Any]:
    item = dict(ITEM)
    for key, value in changes.items():
        if value is ...:
            item.pop(key)
        else:
            item[key] = value
    return item


def test_a_well_formed_item_is_read_trimmed_rounded_to_paise_and_in_utc() -> None:
    notice = parse_item(ITEM, mode="overdue", company="SML")
    assert (notice.notice_id, notice.loan_number, notice.phone) == ("N-1", "LN-1001", "98450 12345")
    assert notice.amount_due == Decimal("12500.11") and notice.due_date == date(2026, 11, 15)
    assert (notice.instalment_no, notice.days_overdue, notice.mode) == (4, 13, "overdue")
    assert notice.updated_at == datetime(2026, 11, 28, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"phone": 919845012345}, {"phone": "919845012345"}),  # a phone sent as a JSON number
        ({"phone": None, "loan_number": None}, {"phone": "", "loan_number": ""}),
        ({"instalment_no": "7", "days_overdue": 2.0}, {"instalment_no": 7, "days_overdue": 2}),
        ({"amount_due": 12500.1}, {"amount_due": Decimal("12500.10")}),  # not the float's binary expansion
        ({"amount_due": "-0.00"}, {"amount_due": Decimal("0.00")}),
        ({"updated_at": "2026-11-28T09:00:00"}, {"updated_at": datetime(2026, 11, 28, 9, 0, tzinfo=UTC)}),
        ({"updated_at": "yesterday"}, {"updated_at": None}),
        ({"updated_at": ...}, {"updated_at": None}),
    ],
)
def test_tolerated_spellings(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    notice = parse_item(_item(**changes), mode="overdue", company="SML")
    assert {k: getattr(notice, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"notice_id": ...}, "missing notice_id"),
        ({"notice_id": "  "}, "notice_id is empty"),
        ({"customer_name": 42}, "customer_name is a int, not a string"),
        ({"company_code": "OTHER"}, "is not the requested 'SML'"),
        ({"mode": "paid"}, "unknown mode 'paid'"),
        ({"mode": "upcoming"}, "mode 'upcoming' in a 'overdue' pull"),
        ({"instalment_no": 0}, "instalment_no 0 is below 1"),
        ({"instalment_no": True}, "instalment_no is a boolean"),
        ({"instalment_no": "4.5"}, "is not a whole number"),
        ({"days_overdue": -1}, "days_overdue -1 is negative"),
        ({"amount_due": "12,500"}, "is not a number"),
        ({"amount_due": "NaN"}, "is not a finite number"),
        ({"amount_due": "-5"}, "is negative"),
        ({"amount_due": None}, "is not a number"),
        ({"due_date": "20261115"}, "is not YYYY-MM-DD"),
        ({"due_date": "2026-02-30"}, "is not a date"),
        ({"phone": ["98450"]}, "phone is a list, not a string"),
    ],
)
def test_a_broken_item_is_malformed_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedItem, match=reason.replace("(", r"\(")):
        parse_item(_item(**changes), mode="overdue", company="SML")


def test_an_item_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedItem, match="item is a list, not an object"):
        parse_item([ITEM], mode="overdue", company="SML")


def test_a_page_keeps_good_items_and_counts_broken_ones_with_their_labels() -> None:
    body = {
        "page": 1,
        "page_size": 3,
        "total_pages": 2,
        "total": 5,
        "items": [ITEM, _item(notice_id="N-2", amount_due="x"), "junk"],
    }
    page = _parse_page(body, mode="overdue", company="SML")
    assert [n.notice_id for n in page.items] == ["N-1"]
    assert (page.page, page.total_pages, page.total, page.malformed) == (1, 2, 5, 2)
    assert page.errors[0].startswith("item 1 ('N-2'): amount_due") and page.errors[1].startswith("item 2: item is")


def test_a_page_keeps_only_the_first_reasons() -> None:
    broken = [_item(notice_id=f"B-{i}", due_date="soon") for i in range(MAX_ERRORS_KEPT + 5)]
    body = {"page": 1, "page_size": len(broken), "total_pages": 1, "total": len(broken), "items": broken}
    page = _parse_page(body, mode="overdue", company="SML")
    assert page.malformed == MAX_ERRORS_KEPT + 5 and len(page.errors) == MAX_ERRORS_KEPT


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"page": 1},
        {"items": [], "page": 1, "page_size": 10, "total_pages": 1},
        {"items": [], "page": True, "page_size": 10, "total_pages": 1, "total": 0},
        {"items": [], "page": -1, "page_size": 10, "total_pages": 1, "total": 0},
    ],
)
def test_a_body_that_is_not_a_page_is_transient(body: Any) -> None:
    with pytest.raises(_Transient):
        _parse_page(body, mode="overdue", company="SML")
