"""Loans: applications through the BRE, assignment to credit executives, the loan queue (later: sanction,
disbursal, servicing). The loans context's protocols are answered here from the other contexts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

import structlog

from adapters.loan_book import LoanBookCounts
from adapters.loan_checkpoints import LoanCheckpoints
from adapters.named_locks import NamedLocks
from adapters.postgres import Database
from adapters.providers.directory import ProviderDirectory
from api.pages import bre_backtest as backtest_pages
from api.pages import loan_agreements as agreement_pages
from api.pages import loan_decisions as decision_pages
from api.pages import loans as pages
from api.routes import bre as bre_routes
from api.routes import loan_agreements as agreement_routes
from api.routes import loan_decisions as decision_routes
from api.routes import loans as routes
from api.web import NavItem
from domain.blocklist.application import Blocklists
from domain.blocklist.entry import BlockKind
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.staff import StaffNotFound
from domain.loans.application import Loans
from domain.loans.bre import ApplicantFacts, BrandPolicy
from domain.loans.bre_policy import brand_policy
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.loan import Loan
from domain.loans.offer import CouponTerms, ProductCatalogue, ProductVersion
from domain.loans.parties import (
    CREDIT_EXECUTIVE_ROLE,
    CreditFactsSource,
    borrower_count,
    coupon_count,
    proposed_emi,
)
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import Step
from domain.products.application import Products
from domain.reloans.application import application_id as reloan_application_id
from domain.shared.errors import Conflict, DomainError, NotFound
from projections.applicant_checks import ApplicantChecks
from projections.blocklist import BlocklistQueries
from projections.bre_history import BreHistoryQueries
from projections.loan_agreements import AgreementQueries, LoanAgreementsView
from projections.loan_decision_queries import DecisionQueries
from projections.loan_queries import LoanQueries
from projections.loans import LoanViews
from projections.onboarding import OnboardingQueries
from projections.reloans import ReloanOfferQueries
from projections.verification_queries import VerificationQueries
from workers import agreement_jobs, loan_departures
from workers.borrower_sms import sms_borrower
from workers.bounded_context import BackgroundWorker, BoundedContext, Job, Kit
from workers.contexts.loan_facts import ApplicantExtras
from workers.numbering import number_series

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BrandLoanParties:
    """The loans context's `LoanParties`, answered by the identity and customers contexts (and the loans read model
    for the workload)."""

    identity: Identity
    customers: Customers
    queries: LoanQueries
    blocklist: BlocklistQueries

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        try:
            self.customers.get(brand_id, customer_id)
        except CustomerNotFound:
            return False
        return True

    def business_date(self, brand_id: UUID) -> date:
        return self.identity.business_date(brand_id)

    def policy(self, brand_id: UUID) -> BrandPolicy:
        return brand_policy(self.identity.settings(brand_id), blocked=self.blocklist.blocked_pincodes(brand_id))

    def loan_minimum(self, brand_id: UUID) -> Decimal | None:
        return self.identity.loan_minimum(brand_id)

    def rejection_reason(self, brand_id: UUID, code: str) -> str | None:
        reasons = self.identity.settings(brand_id).rejection_reasons
        return next((r.label for r in reasons if r.code == code), None)

    def auto_allocate(self, brand_id: UUID) -> bool:
        return self.identity.settings(brand_id).auto_allocate_loans

    def cam_required(self, brand_id: UUID) -> bool:
        return self.identity.settings(brand_id).cam_calculation_required

    def repayment_calendar(self, brand_id: UUID) -> RepaymentCalendar:
        settings = self.identity.settings(brand_id)
        return RepaymentCalendar(sunday_off=settings.sunday_off, holidays=frozenset(settings.repayment_holidays))

    def can_take_loans(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            staff = self.identity.staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        level = staff.grants.get(Permission.LOANS)
        return bool(staff.enabled) and level is not None and level.covers(Level.WRITE)

    def can_sanction(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            staff = self.identity.staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        level = staff.grants.get(Permission.SANCTION_MANAGER)
        return bool(staff.enabled) and level is not None and level.covers(Level.WRITE)

    def pick_credit_executive(self, brand_id: UUID, day: date) -> UUID | None:
        return self.queries.least_loaded(brand_id, CREDIT_EXECUTIVE_ROLE, day)


@dataclass(frozen=True)
class SmsBorrowerContact:
    """The loans context's `BorrowerContact`: an SMS through the brand's SMS provider to the borrower's phone, and on a
    send back the borrower's onboarding funnel reopened at the named step (default: its submitted step) with the reason (their `me` shows it as
    the step's `sent_back`; they submit the same application again) - for a re-loan accepted from an offer, which no
    funnel step made, their own funnel opened for it (`Onboarding.send_back_reloan`). The onboarding and re-loan
    contexts are looked up at use (they may be built after loans, or not registered)."""

    identity: Identity
    customers: Customers
    directory: ProviderDirectory
    kit: Any = None

    def _send(self, brand_id: UUID, customer_id: UUID, text: str) -> None:
        sms_borrower(self.identity, self.customers, self.directory, brand_id, customer_id, text,
                     "loans.borrower_sms_failed")  # fmt: skip

    def _reopen_funnel(
        self, brand_id: UUID, customer_id: UUID, loan_number: str, reason: str, step: str | None,
        loan_id: UUID | None,
    ) -> None:  # fmt: skip
        if self.kit is None:
            return
        try:
            onboarding = self.kit.get(Onboarding)
            # The funnel whose application this is, of the record's funnels: the latest started was reopened before,
            # whichever application it had (a record found by another phone's PAN has two), and the borrower redid
            # steps of a funnel whose submit could only be refused.
            borrower_id = next(
                (b for b in self.kit.get(OnboardingQueries).borrowers_of_customer(brand_id, customer_id)
                 if onboarding.funnel_loan_number(brand_id, b) == loan_number),
                None,
            )  # fmt: skip
            reopen: Callable[[Step], object]
            if borrower_id is not None:
                reopen = partial(onboarding.send_back, brand_id, borrower_id, reason=reason, application_sent_back=True)
            else:
                # A re-loan accepted from an offer went to the BRE with no funnel of it: the borrower's own funnel is
                # opened for it (`Onboarding.send_back_reloan`), else they had nothing to act on.
                offer = self._reloan_offer(brand_id, customer_id, loan_id)
                if loan_id is None or offer is None:
                    log.info("loans.funnel_not_reopened", brand_id=str(brand_id), customer_id=str(customer_id),
                             loan_number=loan_number, error="no funnel of this application")  # fmt: skip
                    return
                reopen = partial(onboarding.send_back_reloan, brand_id, customer_id, loan_id, offer, reason=reason)
            if step is not None:
                try:  # the named step; a step the funnel cannot reopen falls back to the submitted step
                    reopen(Step(step))
                    return
                except DomainError as exc:
                    log.info("loans.step_not_reopened", step=step, error=type(exc).__name__)
            reopen(Step.SUBMITTED)
        except (LookupError, DomainError) as exc:  # no onboarding context, or the funnel cannot reopen
            log.info("loans.funnel_not_reopened", brand_id=str(brand_id), customer_id=str(customer_id),
                     error=type(exc).__name__)  # fmt: skip

    def _reloan_offer(self, brand_id: UUID, customer_id: UUID, loan_id: UUID | None) -> UUID | None:
        """The re-loan offer of the customer whose acceptance started the application (an accepted offer's application
        has the id `reloans.application_id` derives from the offer's), None for any other application."""
        if loan_id is None:
            return None
        offers = self.kit.get(ReloanOfferQueries).of_customer(brand_id, customer_id)
        return next((o.id for o in offers if reloan_application_id(o.id) == loan_id), None)

    def sent_back(
        self, brand_id: UUID, customer_id: UUID, loan_number: str, reason: str, step: str | None = None,
        loan_id: UUID | None = None,
    ) -> None:  # fmt: skip
        self._reopen_funnel(brand_id, customer_id, loan_number, reason, step, loan_id)
        self._send(brand_id, customer_id,
                   f"Your loan application {loan_number} needs more from you: {reason}. Please continue in the app.")  # fmt: skip

    def rejected(self, brand_id: UUID, customer_id: UUID, loan_number: str, reason: str) -> None:
        self._send(brand_id, customer_id, f"Your loan application {loan_number} was not approved. Reason: {reason}.")


@dataclass(frozen=True)
class BrandApplicantFacts:
    """The loans context's `ApplicantFactsSource`: the customer record, the blocklist, earlier applications, the
    product's proposed EMI, and the credit facts (bureau score, salary, existing EMIs and loans, DPD) of `credit` —
    the verification context's `VerificationQueries` once it is registered; without it they are "not known"."""

    customers: Customers
    blocklists: Blocklists
    queries: LoanQueries
    credit: CreditFactsSource | None = None
    extras: ApplicantExtras | None = None  # Aadhaar and bank-account blocklist hits, central dedup
    identity: Identity | None = None  # the brand's central_dedup switch

    def facts(
        self, brand_id: UUID, customer_id: UUID, product: ProductVersion, amount: Decimal, tenure: int
    ) -> ApplicantFacts:
        customer = self.customers.get(brand_id, customer_id)
        current = next((a for a in customer.addresses if a.kind == "current"), None)
        address = current or (customer.addresses[0] if customer.addresses else None)
        pincode = address.pincode.strip() if address else None
        candidates: list[tuple[str, BlockKind, str | None]] = [
            ("pan", BlockKind.PAN, customer.pan),
            ("phone", BlockKind.MOBILE, customer.phone),
            ("pincode", BlockKind.PINCODE, pincode),
        ]
        hits = tuple(
            label
            for label, kind, value in candidates
            if value and self.blocklists.check(brand_id, kind, value) is not None
        )
        other_brand: tuple[bool | None, bool | None] = (None, None)
        if self.extras is not None:
            hits = tuple(dict.fromkeys((*hits, *self.extras.blocklist_hits(brand_id, customer_id, self.blocklists))))
            if self.identity is not None:
                other_brand = self.extras.central_dedup(brand_id, customer.pan, customer.phone, self.identity)
        credit = self.credit.credit_facts(brand_id, customer_id) if self.credit is not None else None
        return ApplicantFacts(
            credit_score=credit.credit_score if credit else None,
            monthly_salary=credit.monthly_salary if credit else None,
            date_of_birth=customer.date_of_birth,
            pincode=pincode,
            existing_emis=credit.existing_emis if credit else None,
            proposed_emi=proposed_emi(product, amount, tenure),
            existing_loans=credit.existing_loans if credit else None,
            max_dpd=credit.max_dpd if credit else None,
            blocklist_hits=hits,
            last_rejected_on=self.queries.last_rejected_on(brand_id, customer_id),
            other_brand_borrower=other_brand[0],
            other_brand_rejected=other_brand[1],
        )


#: How long a command waits for another holding the same count (a borrower's open loans, a coupon's uses).
COUNT_HOLD_SECONDS = 5.0


@dataclass(frozen=True)
class HeldLoanBook:
    """The loans context's `LoanBook`: counts from the loans read model plus what holders committed that it does not
    show yet (adapters/loan_book.py), held by named locks shared by every process on the database."""

    counts: LoanBookCounts
    locks: NamedLocks

    def coupon_uses(self, brand_id: UUID, product_id: UUID, code: str) -> int:
        return self.counts.coupon_uses(brand_id, product_id, code, _held(brand_id, coupon_count(product_id, code)))

    def open_loans(self, brand_id: UUID, customer_id: UUID) -> int:
        return self.counts.open_loans(brand_id, customer_id, _held(brand_id, borrower_count(customer_id)))

    @contextmanager
    def exclusive(self, brand_id: UUID, counts: Sequence[str]) -> Iterator[Callable[[int], None]]:
        def busy() -> Exception:
            return Conflict("another application of this borrower or coupon is being recorded right now; try again")

        names = [_held(brand_id, count) for count in counts]
        with self.locks.holding(names, COUNT_HOLD_SECONDS, busy):
            yield lambda position: self.counts.note(names, position)


def _held(brand_id: UUID, count: str) -> str:
    return f"loan-book:{brand_id}:{count}"


@dataclass(frozen=True)
class LateCatalogue:
    """The products context's catalogue, looked up at first use (it may be constructed after loans)."""

    kit: Any

    def _catalogue(self) -> ProductCatalogue:
        try:
            catalogue: ProductCatalogue = self.kit.get(Products)
        except LookupError:  # the products context is not registered: no product exists
            raise NotFound("no product catalogue is registered") from None
        return catalogue

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        return self._catalogue().current(brand_id, product_id)

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        return self._catalogue().version(brand_id, product_id, version)

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        try:
            return self._catalogue().coupon(brand_id, product_id, code)
        except NotFound:
            return None


def _loans(kit: Kit) -> Loans:
    pool = kit.get(Database).pool
    queries = LoanQueries(pool)
    customers = kit.get(Customers)
    verification = VerificationQueries(pool)
    app = Loans(
        env=kit.env,
        clock=kit.clock,
        parties=BrandLoanParties(kit.get(Identity), customers, queries, BlocklistQueries(kit.get(Database).pool)),
        book=HeldLoanBook(LoanBookCounts(pool, LoanViews.name), kit.get(NamedLocks)),
        # Bureau and statement facts come from the verification context's read model.
        facts=BrandApplicantFacts(
            customers,
            kit.get(Blocklists),
            queries,
            credit=verification,
            extras=ApplicantExtras(kit, ApplicantChecks(pool), verification),
            identity=kit.get(Identity),
        ),
        catalogue=LateCatalogue(kit),
        numbers=number_series(kit),
        contact=SmsBorrowerContact(kit.get(Identity), customers, kit.get(ProviderDirectory), kit),
    )
    app.checkpoints = LoanCheckpoints(
        pool, _events_table(app)
    )  # replayed positions every CHECKPOINT_EVERY events (domain/loans/checkpoint.py)
    app.loan_snapshots = app.checkpoints  # a loan loads from its newest snapshot plus the later events
    return app


def _events_table(app: Loans) -> tuple[str, str] | None:
    """The loans' event table (schema, name) when it is in PostgreSQL: the auditor's as-of replay reads a loan's
    snapshot and the events after it in one round trip (adapters/loan_checkpoints.py)."""
    recorder: Any = app.recorder
    schema = getattr(getattr(recorder, "datastore", None), "schema", None)
    table = getattr(recorder, "events_table_name", None)
    return (schema, table) if isinstance(schema, str) and isinstance(table, str) else None


CONTEXT = BoundedContext(
    application=Loans,
    build=_loans,
    queries=(LoanQueries, BreHistoryQueries, DecisionQueries, AgreementQueries),
    projections=(LoanViews(), LoanAgreementsView()),
    endpoints=(*routes.ENDPOINTS, *decision_routes.ENDPOINTS, *bre_routes.ENDPOINTS, *agreement_routes.ENDPOINTS),
    pages=(*pages.PAGES, *decision_pages.PAGES, *agreement_pages.PAGES, *backtest_pages.PAGES),
    nav=(
        NavItem("Loans", "/loans", "loans", Permission.LOANS, 25),
        NavItem("Worklist", "/credit/worklist", "worklist", Permission.LOANS, 26),
        NavItem("Sanction", "/credit/sanction", "sanction", Permission.SANCTION_MANAGER, 27),
        NavItem("Sanction Head", "/credit/sanction-head", "sanction_head", Permission.SANCTION_HEAD, 28),
    ),
    permissions=(
        Permission.LOANS,
        Permission.LOAN_RELOCATE,
        Permission.LOAN_FORCE_BYPASS,
        Permission.LOAN_SEND_BACK,
        Permission.SANCTION_MANAGER,
        Permission.SANCTION_HEAD,
        Permission.LOAN_REACTIVATE,
    ),
    audited=(Loan,),
    jobs=(
        Job(agreement_jobs.EXPIRY, agreement_jobs.run_expiry, agreement_jobs.AgreementJobPort),
        Job(loan_departures.DEFINITION, loan_departures.run, loan_departures.DeparturesPort),
    ),
    workers=(BackgroundWorker(agreement_jobs.AgreementWorker, agreement_jobs.AgreementJobPort),),
)
