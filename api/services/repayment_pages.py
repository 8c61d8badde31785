"""Pages of the money a loan received (`domain.loans.money_received`): `GET /api/v1/loans/{id}/repayments` in the order
recorded, and the loan page's "Repayments" (the newest by the day paid) and its pages.

A repayment's figures (its allocation, a later reversal, the collection request that brought it, the settlement it
counted toward) are the Loan's state, not a read model's, so a page is cut from the loan as it loads (from its newest
snapshot plus the later events: domain/loans/application_servicing.py) - the answer is bounded, the listing of
`money_received` walks the loan's payments in memory. The keyset is a repayment's place in the order recorded
(payments are only ever appended; recoveries come after the write-off, after every repayment), with its day paid
for the newest-first order; a cursor is bound to the brand, the loan and the order."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from domain.loans.money_received import Received, money_received
from projections.keyset import Int4, KeysetCursor, Page

#: A page's size when the caller names none but pages (`?cursor=` without `limit`).
REPAYMENTS_PAGE = 50
#: The order recorded: a repayment's place in it (1, 2, ...).
RECORDED_CURSOR = KeysetCursor(Int4, name="loans.repayments")
#: Newest first by the day paid, those of one day newest recorded first: (day paid, place recorded).
NEWEST_CURSOR = KeysetCursor(date, Int4, name="loans.repayments.newest")


def received_page(brand_id: UUID, loan: Any, cursor: str | None, limit: int, newest_first: bool = False) -> Page:
    """A page of `money_received(loan)`: in the order recorded, or newest first by the day paid; `next_cursor` None
    on the last page. InvalidCursor (422) for a cursor not made by this list for this loan and order."""
    places = list(enumerate(money_received(loan), 1))
    scope = (brand_id, loan.id)
    if newest_first:
        places.sort(key=lambda p: (p[1].record.paid_on, p[0]), reverse=True)
        if cursor:
            paid_on, place = NEWEST_CURSOR.decode(cursor, scope)
            places = [p for p in places if (p[1].record.paid_on, p[0]) < (paid_on, place)]
    elif cursor:
        (place,) = RECORDED_CURSOR.decode(cursor, scope)
        places = places[max(place, 0) :]
    shown = places[:limit]
    next_cursor = None
    if len(places) > limit and shown:
        last_place, last = shown[-1]
        next_cursor = (
            NEWEST_CURSOR.encode(last.record.paid_on, last_place, scope=scope)
            if newest_first
            else RECORDED_CURSOR.encode(last_place, scope=scope)
        )
    items: list[Received] = [r for _, r in shown]
    return Page(items=items, next_cursor=next_cursor)
