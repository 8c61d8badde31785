"""Collection cases keep their loan's number and borrower with `read.loans` empty (as while `projections rebuild
loans` runs), on the platform with the real applications, projections and runners: the sweep's cases and a
contact-only case written then, and a rebuild of the `collections` projection (and of the loan side,
`collection_dues`), give the rows they gave with `read.loans` full; each brand's worklist shows its own cases only.
The projectors alone, in either order, and the upgrade of an existing database: tests/integration/
test_collection_case_loans.py."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.collections.application import Collections
from domain.collections.case import Outcome, Stage
from domain.collections.moves import Move
from domain.customers.application import Customers
from domain.customers.values import Address
from domain.loans.application import Loans
from projections.collection_dues import CollectionDuesView
from projections.collection_queries import CollectionQueries
from projections.collections import CollectionViews
from tests.conftest import make_tenant
from tests.e2e.test_api_loans import PRODUCT
from tests.e2e.test_servicing_api import catalogue
from tests.own_database import own_dsn, own_platform  # noqa: F401 (fixtures)
from tests.support import mobile, settle

__all__ = ["catalogue"]  # the loans' product catalogue (autouse)

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
#: A case row as the worklist and the loan's panel read it, the loan's number and borrower last.
CASE_ROW = (
    "SELECT loan_id, brand_id, stage, open, assignee, dpd, amount, due_on, contacts, last_outcome, opened_on, "
    "loan_number, customer_id FROM read.collection_cases"
)


def _loan(platform: Any, brand: UUID, name: str) -> tuple[UUID, str, UUID]:
    """A borrower's application: (loan id, loan number, customer id), in the read models."""
    customer = platform.get(Customers).register(
        brand, name=name, phone=mobile("98"), date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    loans: Loans = platform.get(Loans)
    loan_id = UUID(str(loans.create(brand, customer.id, PRODUCT, "100000", 12).id))
    settle(platform, Loans.name)
    settle(platform, Customers.name)
    return loan_id, loans.get(brand, loan_id).loan_number, UUID(str(customer.id))


def _sweep(platform: Any, brand: UUID, loan_id: UUID, staff: UUID) -> None:
    move = Move(loan_id=loan_id, stage=Stage.COLLECTIONS, staff_id=staff, previous=None, dpd=3,
                amount=Decimal("8037.57"), closed=None)  # fmt: skip
    platform.get(Collections).record_moves(brand, DAY, [move])


def _cases(platform: Any) -> list[tuple[Any, ...]]:
    with platform.db.pool.connection() as conn:
        return [tuple(r.values()) for r in conn.execute(f"{CASE_ROW} ORDER BY loan_id").fetchall()]


def _loans_read_model_emptied(platform: Any) -> None:
    """`read.loans` as while `projections rebuild loans` runs (dropped, then made again empty)."""
    with platform.db.pool.connection() as conn:
        conn.execute("TRUNCATE read.loans")


def test_a_case_written_while_the_loans_read_model_is_empty_carries_the_loan_number_and_borrower(
    platform: Any,
) -> None:
    brand, other_brand = make_tenant(platform).brand_id, make_tenant(platform).brand_id
    swept, number, borrower = _loan(platform, brand, "Asha Verma")
    contacted, contacted_number, contacted_borrower = _loan(platform, brand, "Vikram Rao")
    others, others_number, _ = _loan(platform, other_brand, "Meera Iyer")
    _loans_read_model_emptied(platform)

    staff = uuid.uuid4()
    _sweep(platform, brand, swept, staff)  # the sweep's upsert
    platform.get(Collections).log_contact(brand, contacted, Outcome.NOT_REACHABLE, "no answer")  # a contact-only case
    _sweep(platform, other_brand, others, uuid.uuid4())
    settle(platform, Collections.name)

    rows = {r[0]: r for r in _cases(platform)}
    assert rows[swept][-2:] == (number, borrower)
    assert rows[contacted][-2:] == (contacted_number, contacted_borrower)
    assert rows[others][1] == other_brand and rows[others][-2] == others_number
    # The worklist (the case table alone) shows them, each brand its own cases only.
    queries = platform.get(CollectionQueries)
    [item] = queries.worklist(brand, Stage.COLLECTIONS, None, NOW).items
    assert (item.loan_id, item.loan_number, item.customer_id, item.customer_name) == (
        swept, number, borrower, "Asha Verma",
    )  # fmt: skip
    [theirs] = queries.worklist(other_brand, Stage.COLLECTIONS, None, NOW).items
    assert (theirs.loan_id, theirs.loan_number, theirs.customer_name) == (others, others_number, "Meera Iyer")


def test_a_rebuild_of_the_collections_projection_gives_the_same_rows(platform: Any) -> None:
    brand, other_brand = make_tenant(platform).brand_id, make_tenant(platform).brand_id
    swept, _, _ = _loan(platform, brand, "Asha Verma")
    contacted, _, _ = _loan(platform, brand, "Vikram Rao")
    others, _, _ = _loan(platform, other_brand, "Meera Iyer")
    _sweep(platform, brand, swept, uuid.uuid4())
    platform.get(Collections).log_contact(brand, contacted, Outcome.CONNECTED, "will pay Friday")
    _sweep(platform, other_brand, others, uuid.uuid4())
    settle(platform, Collections.name)
    before = _cases(platform)
    assert len(before) == 3 and all(r[-2] is not None and r[-1] is not None for r in before)

    _loans_read_model_emptied(platform)  # the collections projection is rebuilt while loans is (or on its own)
    platform.engine.rebuild(CollectionViews.name)
    assert _cases(platform) == before

    # The loan side rebuilt too (its table dropped and replayed), with case rows left without the loan's number
    # meanwhile (as a case written while it replayed is): the rebuild fills them once its replay is done.
    with platform.db.pool.connection() as conn:
        conn.execute("UPDATE read.collection_cases SET loan_number = NULL, customer_id = NULL")
    platform.engine.rebuild(CollectionDuesView.name)
    assert _cases(platform) == before
