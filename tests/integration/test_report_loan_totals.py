"""The reports' per-loan totals (`read.report_loan_totals`, projections/report_book.py) stay exact as a loan's real
events arrive: after every event of loans serviced by the Loans application (disbursal, a partial payment, a full
instalment, COB days, a reversal, a payoff that completes the loan and its chargeback), each totals row equals the
figures computed afresh from the loan's instalments and repayments in the same read model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from domain.loans.application import Loans
from domain.loans.terms import PenalTerms
from domain.shared.clock import FixedClock
from domain.shared.numbering import CountingSeries
from projections.projection import Insert
from projections.report_book import ReportBookView
from tests.application.conftest import in_memory
from tests.application.loans.fakes import BRAND, PRODUCT, Book, Catalogue, Facts, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed
from tests.support import drop_database, fresh_database_dsn

D0 = date(2026, 1, 31)

#: The figures computed afresh from the instalments and repayments, per loan (what the old correlated SQL read).
FRESH = """
SELECT b.loan_id,
  (SELECT sum(i.principal - i.paid_principal) FROM read.report_instalments i WHERE i.loan_id = b.loan_id) AS principal,
  (SELECT sum(i.interest - i.paid_interest) FROM read.report_instalments i WHERE i.loan_id = b.loan_id) AS interest,
  n.due_date AS next_due, n.left_ AS next_left,
  (SELECT min(i.due_date) FROM read.report_instalments i WHERE i.loan_id = b.loan_id
   AND i.principal + i.interest > i.paid_principal + i.paid_interest) AS unpaid_since,
  (SELECT count(*) FROM read.report_payments p WHERE p.loan_id = b.loan_id AND p.reversed_on IS NULL) AS payments,
  (SELECT coalesce(sum(p.amount), 0) FROM read.report_payments p WHERE p.loan_id = b.loan_id
   AND p.reversed_on IS NULL) AS repaid,
  (SELECT max(p.paid_on) FROM read.report_payments p WHERE p.loan_id = b.loan_id AND p.reversed_on IS NULL)
   AS last_paid_on
FROM read.report_loan_brands b
LEFT JOIN LATERAL (SELECT i.due_date, i.principal + i.interest - i.paid_principal - i.paid_interest AS left_
  FROM read.report_instalments i WHERE i.loan_id = b.loan_id
  AND i.principal + i.interest > i.paid_principal + i.paid_interest ORDER BY i.no LIMIT 1) n ON true
WHERE b.loan_id = %s
"""
#: Each day's instalments summed again from them, and as the triggers keep them (read.report_due_days).
DAYS_AGAIN = (
    "SELECT brand_id, due_date, count(*) AS instalments, sum(o) AS owed, sum(p) AS paid, "
    "count(*) FILTER (WHERE p >= o) AS fully_paid, count(*) FILTER (WHERE p > 0 AND p < o) AS partly_paid, "
    "count(*) FILTER (WHERE p = 0) AS unpaid FROM (SELECT i.brand_id, i.due_date, i.paid_principal + i.paid_interest "
    "AS p, CASE WHEN i.completed THEN i.paid_principal + i.paid_interest ELSE i.principal + i.interest END AS o "
    "FROM read.report_instalments i) x GROUP BY 1, 2 ORDER BY 1, 2"
)
DAYS_KEPT = (
    "SELECT brand_id, due_date, instalments, owed, paid, fully_paid, partly_paid, unpaid FROM read.report_due_days "
    "WHERE instalments > 0 ORDER BY 1, 2"
)
KEPT = (
    "SELECT loan_id, principal, interest, next_due, next_left, unpaid_since, payments, repaid, last_paid_on "
    "FROM read.report_loan_totals WHERE loan_id = %s"
)


@pytest.fixture
def conn() -> Iterator[psycopg.Connection[Any]]:
    dsn = fresh_database_dsn("cd_test_report_totals")
    try:
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as c:
            c.execute("CREATE SCHEMA IF NOT EXISTS read")
            ReportBookView().create(c, secondary_indexes=False)  # (some are on other contexts' tables)
            yield c
    finally:
        drop_database(dsn)


def _loans(parties: MovableParties) -> Loans:
    book = Book()
    catalogue = Catalogue(products={(BRAND, PRODUCT): product_version(penal=PenalTerms(daily_percent=Decimal("0.1")))})
    app = in_memory(
        Loans,
        FixedClock(datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        parties=parties,
        book=book,
        facts=Facts(),
        catalogue=catalogue,
        numbers=CountingSeries("DEMO"),
    )
    book.app = app
    return app


class _Feed:
    """Projects each loan's new events into the tables, one at a time, checking the totals after each."""

    def __init__(self, conn: psycopg.Connection[Any], loans: Loans) -> None:
        self.conn, self.loans, self.view = conn, loans, ReportBookView()
        self.seen: dict[UUID, int] = {}
        self.position = 0

    def catch_up(self, loan_id: UUID) -> dict[str, Any]:
        events = list(self.loans.events.get(loan_id))
        for event in events[self.seen.get(loan_id, 0) :]:
            self.position += 1
            for change in self.view.project(self.position, event):
                if isinstance(change, Insert):
                    names = ", ".join(change.row)
                    marks = ", ".join(["%s"] * len(change.row))
                    self.conn.execute(
                        f"INSERT INTO {change.table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                        tuple(change.row.values()),
                    )
                else:
                    self.conn.execute(change.sql, change.params)
            kept = self.conn.execute(KEPT, (loan_id,)).fetchone()
            fresh = self.conn.execute(FRESH, (loan_id,)).fetchone()
            if kept is not None:  # a row from the servicing's opening on
                assert kept == fresh, f"after {type(event).__name__}"
            days = self.conn.execute(DAYS_KEPT).fetchall()
            assert days == self.conn.execute(DAYS_AGAIN).fetchall(), f"after {type(event).__name__}"
        self.seen[loan_id] = len(events)
        # the instalments carry whether their loan is completed (the days' sums read that, not the loan)
        completed = str(self.loans.get(BRAND, loan_id).status) == "completed"
        flags = {r["completed"] for r in self.conn.execute(
            "SELECT completed FROM read.report_instalments WHERE loan_id = %s", (loan_id,)
        )}  # fmt: skip
        assert flags <= {completed}, (flags, completed)
        row = self.conn.execute(KEPT, (loan_id,)).fetchone()
        assert row is not None
        return row


def test_the_totals_row_follows_payments_cob_reversals_and_closure(conn: psycopg.Connection[Any]) -> None:
    parties = MovableParties(today=D0)
    loans = _loans(parties)
    feed = _Feed(conn, loans)

    loan_id = disbursed(loans, D0)
    opened = feed.catch_up(loan_id)
    assert opened["principal"] == Decimal("85000.00") and opened["payments"] == 0
    assert opened["next_due"] == date(2026, 2, 28) and opened["next_left"] == Decimal("8037.57")

    parties.today = date(2026, 2, 28)
    _, partial = loans.record_repayment(BRAND, loan_id, "1000.00", "upi", "UTR-1")  # interest first
    row = feed.catch_up(loan_id)
    assert row["interest"] == opened["interest"] - Decimal("1000.00") and row["principal"] == opened["principal"]
    assert row["next_left"] == Decimal("7037.57") and row["repaid"] == Decimal("1000.00")

    loans.close_business_day(BRAND, loan_id, date(2026, 3, 2))  # overdue now: penal, DPD (not in these figures)
    parties.today = date(2026, 3, 3)
    _, rest = loans.record_repayment(BRAND, loan_id, "7100.00", "neft", "UTR-2")
    row = feed.catch_up(loan_id)
    assert row["payments"] == 2 and row["last_paid_on"] == date(2026, 3, 3)
    assert row["next_due"] == date(2026, 3, 31)  # the first instalment is paid

    parties.today = date(2026, 3, 4)
    loans.reverse_repayment(BRAND, loan_id, rest.payment_id, "bounced")
    row = feed.catch_up(loan_id)
    assert row["payments"] == 1 and row["repaid"] == Decimal("1000.00") and row["next_due"] == date(2026, 2, 28)
    assert row["unpaid_since"] == date(2026, 2, 28)
    loans.reverse_repayment(BRAND, loan_id, partial.payment_id, "bounced")
    row = feed.catch_up(loan_id)
    assert (row["principal"], row["interest"]) == (opened["principal"], opened["interest"])
    assert row["payments"] == 0 and row["repaid"] == 0 and row["last_paid_on"] is None

    # a payoff that completes a second loan (a second book: one open loan per borrower), then its chargeback
    parties.today = D0
    loans = _loans(parties)
    feed = _Feed(conn, loans)
    other = disbursed(loans, D0)
    feed.catch_up(other)
    parties.today = date(2026, 2, 10)
    quote = loans.payoff(BRAND, other)
    _, closing = loans.record_repayment(BRAND, other, str(quote.total), "neft", "UTR-9")
    row = feed.catch_up(other)
    # all the principal is paid; the scheduled interest not accrued stays unpaid (allocation as recorded)
    assert row["principal"] == 0 and row["payments"] == 1 and row["repaid"] == quote.total
    loans.reverse_repayment(BRAND, other, closing.payment_id, "chargeback")
    row = feed.catch_up(other)
    assert row["principal"] == Decimal("85000.00") and row["next_due"] == date(2026, 2, 28) and row["payments"] == 0


Figures = tuple[Decimal, Decimal, Decimal]


def _plus(before: Figures | None, more: Figures) -> Figures:
    if before is None:
        return more
    return (before[0] + more[0], before[1] + more[1], before[2] + more[2])


def _applied(conn: psycopg.Connection[Any], loans: Loans, loan_id: UUID) -> dict[str, Any]:
    """Each standing repayment's (penal, interest, principal) and each instalment's paid amounts as the reports
    hold them, beside the same figures from the loan's replay (LENDING.md's allocation of every standing payment)."""
    rows = conn.execute(
        "SELECT payment_id, penal, interest, principal FROM read.report_payments WHERE loan_id = %s "
        "AND reversed_on IS NULL ORDER BY payment_id", (loan_id,)
    ).fetchall()  # fmt: skip
    kept_payments = {r["payment_id"]: (r["penal"], r["interest"], r["principal"]) for r in rows}
    kept_instalments = {r["no"]: (r["paid_penal"], r["paid_interest"], r["paid_principal"]) for r in conn.execute(
        "SELECT no, paid_penal, paid_interest, paid_principal FROM read.report_instalments WHERE loan_id = %s "
        "AND paid_penal + paid_interest + paid_principal > 0", (loan_id,)
    )}  # fmt: skip
    replay_payments: dict[str, Figures] = {}
    replay_instalments: dict[int, Figures] = {}
    for payment_id, allocation in loans.get(BRAND, loan_id).replayed().allocations:
        for line in allocation.lines:
            figures = (line.penal, line.interest, line.principal)
            replay_payments[payment_id] = _plus(replay_payments.get(payment_id), figures)
            replay_instalments[line.no] = _plus(replay_instalments.get(line.no), figures)
    assert kept_payments == replay_payments
    assert kept_instalments == {no: f for no, f in replay_instalments.items() if sum(f)}
    return kept_payments


def test_a_back_dated_payment_and_a_reversal_re_allocate_the_later_payments_in_the_reports(
    conn: psycopg.Connection[Any],
) -> None:
    """8,037.57 falls due on 28 Feb, penal 0.1 % a day (8.04 a day from 1 Mar). 100.00 paid on 5 Mar clears 32.16 of
    penal and 67.84 of interest. A back-dated 50.00 of 2 Mar clears 8.04 and 41.96 of interest; the unpaid 7,995.61
    then costs 8.00 a day, so the 5 Mar payment now clears 24.00 and pays 76.00 -- in the reports as in the replay.
    Reversing the 2 Mar payment gives the 5 Mar one its first allocation back."""
    parties = MovableParties(today=D0)
    loans = _loans(parties)
    feed = _Feed(conn, loans)
    loan_id = disbursed(loans, D0)
    feed.catch_up(loan_id)
    parties.today = date(2026, 3, 5)
    loans.close_business_day(BRAND, loan_id, date(2026, 3, 4))
    _, later = loans.record_repayment(BRAND, loan_id, "100.00", "upi", "UTR-1")
    feed.catch_up(loan_id)
    assert _applied(conn, loans, loan_id) == {later.payment_id: (Decimal("32.16"), Decimal("67.84"), Decimal("0.00"))}

    parties.today = date(2026, 3, 6)
    _, early = loans.record_repayment(BRAND, loan_id, "50.00", "cash", "CASH-2", paid_on=date(2026, 3, 2))
    row = feed.catch_up(loan_id)
    assert _applied(conn, loans, loan_id) == {
        later.payment_id: (Decimal("24.00"), Decimal("76.00"), Decimal("0.00")),
        early.payment_id: (Decimal("8.04"), Decimal("41.96"), Decimal("0.00")),
    }
    assert row["next_left"] == Decimal("8037.57") - Decimal("117.96")

    loans.reverse_repayment(BRAND, loan_id, early.payment_id, "bounced")
    row = feed.catch_up(loan_id)
    assert _applied(conn, loans, loan_id) == {later.payment_id: (Decimal("32.16"), Decimal("67.84"), Decimal("0.00"))}
    assert row["next_left"] == Decimal("8037.57") - Decimal("67.84")


CLOSED = "SELECT closed, payments FROM read.report_loan_totals WHERE loan_id = %s"
#: The index `completed-loan-with-no-repet-report` reads: the closed loans with no repayment standing.
CLOSED_UNPAID = "SELECT loan_id FROM read.report_loan_totals WHERE closed AND payments = 0 ORDER BY loan_id"
TABLES = ReportBookView.tables


def _table(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return list(conn.execute("SELECT * FROM read.report_loan_totals ORDER BY loan_id").fetchall())


def test_closed_follows_completion_chargeback_write_off_and_settlement_and_a_rebuild_gives_the_same_rows(
    conn: psycopg.Connection[Any],
) -> None:
    parties = MovableParties(today=D0)
    feeds: list[tuple[_Feed, list[UUID]]] = []

    # a payoff completes a loan (closed, one repayment), its chargeback re-opens it (not closed, none)
    loans = _loans(parties)
    feed = _Feed(conn, loans)
    paid_off = disbursed(loans, D0)
    feed.catch_up(paid_off)
    assert conn.execute(CLOSED, (paid_off,)).fetchone() == {"closed": False, "payments": 0}
    parties.today = date(2026, 2, 10)
    quote = loans.payoff(BRAND, paid_off)
    _, closing = loans.record_repayment(BRAND, paid_off, str(quote.total), "neft", "UTR-9")
    feed.catch_up(paid_off)
    assert conn.execute(CLOSED, (paid_off,)).fetchone() == {"closed": True, "payments": 1}
    loans.reverse_repayment(BRAND, paid_off, closing.payment_id, "chargeback")
    feed.catch_up(paid_off)
    assert conn.execute(CLOSED, (paid_off,)).fetchone() == {"closed": False, "payments": 0}
    feeds.append((feed, [paid_off]))

    # a loan written off after COB made it overdue, never repaid: closed with no repayment (the report's row)
    parties.today = D0
    loans = _loans(parties)
    feed = _Feed(conn, loans)
    written_off = disbursed(loans, D0)
    parties.today = date(2026, 3, 10)
    loans.close_business_day(BRAND, written_off, date(2026, 3, 9))
    feed.catch_up(written_off)
    assert conn.execute(CLOSED, (written_off,)).fetchone() == {"closed": False, "payments": 0}
    loans.write_off(BRAND, written_off, "borrower deceased; no estate")
    feed.catch_up(written_off)
    assert conn.execute(CLOSED, (written_off,)).fetchone() == {"closed": True, "payments": 0}
    feeds.append((feed, [written_off]))

    # a settlement after a repayment: closed, with a repayment standing (not the report's row)
    parties.today = D0
    loans = _loans(parties)
    feed = _Feed(conn, loans)
    settled = disbursed(loans, D0)
    parties.today = date(2026, 3, 10)
    loans.close_business_day(BRAND, settled, date(2026, 3, 9))
    loans.record_repayment(BRAND, settled, "2000.00", "upi", "UTR-s1")
    _, settlement = loans.propose_settlement(BRAND, settled, "50000.00", "one-time offer")
    loans.approve_settlement(BRAND, settled, settlement.settlement_id)
    loans.record_repayment(BRAND, settled, "50000.00", "neft", "UTR-s2")  # the settlement paid: Settled
    feed.catch_up(settled)
    assert str(loans.get(BRAND, settled).status) == "settled"
    assert conn.execute(CLOSED, (settled,)).fetchone() == {"closed": True, "payments": 2}
    feeds.append((feed, [settled]))

    assert [r["loan_id"] for r in conn.execute(CLOSED_UNPAID)] == [written_off]

    # a rebuild (the tables emptied, every event projected again in order) gives the very same rows
    kept = _table(conn)
    assert len(kept) == 3
    for table in TABLES:
        conn.execute(f"TRUNCATE {table}")
    for old, loan_ids in feeds:
        again = _Feed(conn, old.loans)
        for loan_id in loan_ids:
            again.catch_up(loan_id)
    assert _table(conn) == kept
