"""The bank statement step against the brand's `bank_statement_months`, on the in-memory event store with a stopped
clock (30 Nov 2026): the months required end last month, a gap is refused naming the missing months with nothing
recorded, what the step was accepted with is recorded, statements without months are flagged, not refused, and the
window moves with the clock across the new year."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import pytest

from domain.onboarding.application import Onboarding
from domain.onboarding.steps import BankStatementIn, FunnelRules, Step
from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from tests.application.onboarding_fakes import (
    BRAND,
    Brands,
    Outbox,
    Shelf,
    app,
    brands,
    customers,
    desk,
    kyc,
    outbox,
    ready_to_apply,
    shelf,
)

__all__ = ["app", "brands", "customers", "desk", "kyc", "outbox", "shelf"]  # fixtures, used by name


def _statement(app: Onboarding, borrower: UUID, first: str | None = None, last: str | None = None) -> UUID:
    return app.upload_document(
        BRAND, borrower, "bank_statement", "s.pdf", b"%PDF-", period_from=first, period_to=last
    ).id


def _step(app: Onboarding, borrower: UUID, *ids: UUID) -> None:
    app.record_step(BRAND, borrower, Step.BANK_STATEMENT, BankStatementIn(method="upload", document_ids=list(ids)))


def test_a_gap_is_refused_naming_the_missing_month_and_nothing_is_recorded(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    september = _statement(app, borrower, "2026-09", "2026-11")  # into the current month: fine, not counted
    version = app.state(BRAND, borrower).version
    with pytest.raises(InvalidInput) as refused:
        _step(app, borrower, september)
    assert [e.field for e in refused.value.errors] == ["document_ids"]
    assert refused.value.errors[0].message == (
        "statements cover 2026-09..2026-11; the lender needs 3 months (2026-08..2026-10): 2026-08 is missing"
    )
    assert app.state(BRAND, borrower).version == version and Step.BANK_STATEMENT not in app.funnel(BRAND, borrower).done

    august = _statement(app, borrower, "2026-07", "2026-08")
    _step(app, borrower, september, august)
    details = app.details(BRAND, borrower, Step.BANK_STATEMENT) or {}
    assert details["statement_months"] == {
        "required": ["2026-08", "2026-09", "2026-10"],
        "covered": ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11"],
        "missing": [],
        "period_not_given": [],
    }


def test_statements_without_their_months_are_accepted_and_listed_for_staff(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, shelf: Shelf
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    known, unknown = _statement(app, borrower, "2026-10", "2026-10"), _statement(app, borrower)
    _step(app, borrower, known, unknown)
    months = (app.details(BRAND, borrower, Step.BANK_STATEMENT) or {})["statement_months"]
    assert months["missing"] == ["2026-08", "2026-09"] and months["period_not_given"] == [str(unknown)]


def test_the_brands_setting_and_the_clock_move_the_months_required(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    statement = _statement(app, borrower, "2026-08", "2026-10")
    brands.rules_of[BRAND] = FunnelRules(require_employment=False, bank_statement_months=6)
    with pytest.raises(InvalidInput) as six:
        _step(app, borrower, statement)
    assert six.value.errors[0].message.endswith("(2026-05..2026-10): 2026-05..2026-07 are missing")
    brands.rules_of[BRAND] = FunnelRules(require_employment=False, bank_statement_months=1)
    clock.instant += timedelta(days=40)  # 9 Jan 2027: last month is December
    with pytest.raises(InvalidInput) as new_year:
        _step(app, borrower, statement)
    assert new_year.value.errors[0].message.endswith("the lender needs 1 month (2026-12): 2026-12 is missing")
    _step(app, borrower, statement, _statement(app, borrower, "2026-12", "2027-01"))
    assert Step.BANK_STATEMENT in app.funnel(BRAND, borrower).done


def test_a_document_of_another_kind_or_a_rejected_statement_is_refused_not_taken_as_one_without_months(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands, shelf: Shelf
) -> None:
    borrower = ready_to_apply(app, outbox, clock, brands)
    october = _statement(app, borrower, "2026-10", "2026-10")
    pan = app.upload_document(BRAND, borrower, "pan_card", "pan.pdf", b"%PDF-").id
    rejected = _statement(app, borrower)
    shelf.rejected.add(rejected)
    version = app.state(BRAND, borrower).version
    with pytest.raises(InvalidInput) as refused:
        _step(app, borrower, october, pan, rejected)
    assert [e.field for e in refused.value.errors] == ["document_ids[1]", "document_ids[2]"]
    assert app.state(BRAND, borrower).version == version and Step.BANK_STATEMENT not in app.funnel(BRAND, borrower).done


def test_the_months_required_end_with_the_brands_own_last_month(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands
) -> None:
    # The step asks the months the brand's checklist shows: on 1 Dec in Auckland (30 Nov in India) November is over.
    borrower = ready_to_apply(app, outbox, clock, brands)
    brands.rules_of[BRAND] = FunnelRules(require_employment=False, bank_statement_months=1, timezone="Pacific/Auckland")
    clock.instant = clock.instant.replace(hour=12)  # 30 Nov 2026 12:00 UTC: 1 Dec 01:00 in Auckland
    with pytest.raises(InvalidInput) as refused:
        _step(app, borrower, _statement(app, borrower, "2026-10", "2026-10"))
    assert refused.value.errors[0].message.endswith("the lender needs 1 month (2026-11): 2026-11 is missing")


def test_a_brand_held_on_a_past_business_date_asks_the_months_before_that_day(
    app: Onboarding, outbox: Outbox, clock: FixedClock, brands: Brands
) -> None:
    # A brand run as of 15 Mar 2024 (its configured business date) while the clock says 30 Nov 2026: the step asks
    # Dec 2023 to Feb 2024, as its checklist does, not Aug to Oct 2026.
    borrower = ready_to_apply(app, outbox, clock, brands)
    brands.rules_of[BRAND] = FunnelRules(require_employment=False, bank_statement_months=3,
                                         business_date=date(2024, 3, 15))  # fmt: skip
    january = _statement(app, borrower, "2024-01", "2024-03")
    with pytest.raises(InvalidInput) as refused:
        _step(app, borrower, january)
    assert refused.value.errors[0].message == (
        "statements cover 2024-01..2024-03; the lender needs 3 months (2023-12..2024-02): 2023-12 is missing"
    )
    _step(app, borrower, january, _statement(app, borrower, "2023-12", "2023-12"))
    months = (app.details(BRAND, borrower, Step.BANK_STATEMENT) or {})["statement_months"]
    assert months["required"] == ["2023-12", "2024-01", "2024-02"] and months["missing"] == []


def test_the_step_takes_a_file_a_month_for_the_most_months_a_brand_may_ask() -> None:
    import uuid

    from pydantic import ValidationError

    from domain.identity.brand_config import BrandSettings

    most = BrandSettings.model_fields["bank_statement_months"].metadata
    limit = next(m.le for m in most if hasattr(m, "le"))
    assert (
        len(BankStatementIn(method="upload", document_ids=[uuid.uuid4() for _ in range(limit)]).document_ids) == limit
    )
    with pytest.raises(ValidationError):
        BankStatementIn(method="upload", document_ids=[uuid.uuid4() for _ in range(limit + 1)])
