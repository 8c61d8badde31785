"""Pages of a loan's ledger (`domain.loans.servicing_views.ledger`) for the staff portal's `/loans/{id}/ledger`: the
same postings and figures as `GET /api/v1/loans/{id}/ledger`, oldest first, a bounded page at a time.

The ledger is the loan's events replayed through the business date (not a read model), so each page replays the
loan and cuts its page from the postings: the page's size, not the loan's age, bounds what is rendered and sent.
The keyset is a posting's (date, place in the ledger); a cursor is bound to the brand and the loan. A posting
dated before the cursor that appears meanwhile (a back-dated payment) shows when the ledger is read from its start."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain.loans.loan import Loan
from domain.loans.servicing_views import Posting, ledger
from projections.keyset import Int4, KeysetCursor, Page

#: Postings a page of `/loans/{id}/ledger` shows.
LEDGER_PAGE = 100
#: Oldest first: (date posted, place in the ledger).
LEDGER_CURSOR = KeysetCursor(date, Int4, name="loans.ledger")


def ledger_page(brand_id: UUID, loan: Loan, as_of: date, cursor: str | None, limit: int | None = None) -> Page:
    """A page of the loan's ledger through `as_of`, oldest first, `limit` postings (LEDGER_PAGE by default);
    `next_cursor` None on the last page. InvalidCursor (422) for a cursor not made by this list for this loan."""
    limit = limit or LEDGER_PAGE
    scope = (brand_id, loan.id)
    places: list[tuple[int, Posting]] = list(enumerate(ledger(loan, as_of), 1))
    if cursor:
        on, place = LEDGER_CURSOR.decode(cursor, scope)
        places = [p for p in places if (p[1].on, p[0]) > (on, place)]
    shown = places[:limit]
    next_cursor = None
    if len(places) > limit and shown:
        last_place, last = shown[-1]
        next_cursor = LEDGER_CURSOR.encode(last.on, last_place, scope=scope)
    return Page(items=[p for _, p in shown], next_cursor=next_cursor)
