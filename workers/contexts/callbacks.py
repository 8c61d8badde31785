"""Callback requests (spec, "CX Communication"): a borrower asks to be called back from the borrower API or the web
flow's status page; the request goes to the staff member their open application or loan is assigned to (and follows
them: the router moves it when that application or case is handed over, and tells the holder); staff see the queue
and answer each request once (docs/callbacks.md)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from adapters.postgres import Database
from api.pages import borrower_callbacks as borrower_pages
from api.pages import callbacks as pages
from api.routes import borrower_callbacks as borrower_routes
from api.routes import callbacks as routes
from api.web import NavItem
from domain.callbacks.application import BorrowerContact, CallbackParties, Callbacks, LoanRef
from domain.callbacks.request import CallbackRequest, CallbackRequestNotFound
from domain.fieldwork.application import FieldWork
from domain.fieldwork.dialer import DialerCallNotFound
from domain.identity.permissions import Permission
from domain.loans.application import Loans
from domain.loans.loan import LoanNotFound
from domain.onboarding.account import BorrowerNotFound
from domain.onboarding.application import Onboarding
from projections.callback_routing import CallbackCaseHandovers, CallbackLoanHandovers, CallbackRouting
from projections.callbacks import CallbackLookups, CallbackQueries, CallbackView
from workers.bounded_context import BackgroundWorker, BoundedContext, Kit
from workers.callback_jobs import CallbackJobPort, CallbackRouter


@dataclass(frozen=True)
class BrandCallbackParties:
    """The callbacks context's `CallbackParties`: the borrower from onboarding, their applications and loans from the
    loans context (assignees from the loans' and collection cases' read models), dialer calls from fieldwork."""

    onboarding: Onboarding
    loans: Loans
    fieldwork: FieldWork
    lookups: CallbackLookups

    def borrower(self, brand_id: UUID, borrower_id: UUID) -> BorrowerContact:
        try:
            funnel = self.onboarding.funnel(brand_id, borrower_id)
        except BorrowerNotFound:
            raise CallbackRequestNotFound(f"borrower {borrower_id} not found", id=str(borrower_id)) from None
        # The record they see (`record_shown`), not the funnel's: a record found by the PAN alone is someone else's
        # until the borrower proves it theirs, so their request is filed under no record and names none of its loans.
        return BorrowerContact(customer_id=self.onboarding.record_shown(funnel), phone=funnel.phone)

    def loan(self, brand_id: UUID, loan_id: UUID) -> LoanRef | None:
        try:
            loan = self.loans.get(brand_id, loan_id)
        except LoanNotFound:
            return None
        return LoanRef(id=loan.id, loan_number=loan.loan_number, customer_id=loan.customer_id)

    def assignee(self, brand_id: UUID, customer_id: UUID, loan_id: UUID | None) -> UUID | None:
        return self.lookups.assignee(brand_id, customer_id, loan_id)

    def may_hold(self, brand_id: UUID, staff_id: UUID) -> bool:
        return self.lookups.may_hold(brand_id, staff_id)

    def call_customer(self, brand_id: UUID, call_id: UUID) -> UUID | None:
        try:
            return self.fieldwork.call(brand_id, call_id).customer_id
        except DialerCallNotFound:
            return None


def _callbacks(kit: Kit) -> Callbacks:
    parties: CallbackParties = BrandCallbackParties(
        kit.get(Onboarding), kit.get(Loans), kit.get(FieldWork), CallbackLookups(kit.get(Database).pool)
    )
    return Callbacks(env=kit.env, clock=kit.clock, parties=parties)


CONTEXT = BoundedContext(
    application=Callbacks,
    build=_callbacks,
    queries=(CallbackQueries, CallbackRouting),
    # The hand-overs of the loans and collections contexts (queues the router drains: docs/callbacks.md).
    projections=(CallbackView(), CallbackLoanHandovers(), CallbackCaseHandovers()),
    endpoints=(*routes.ENDPOINTS, *borrower_routes.ENDPOINTS),
    pages=(*pages.PAGES, *borrower_pages.PAGES),
    nav=(NavItem("Callbacks", "/callback-requests", "callbacks", Permission.CALLBACKS, 41),),
    permissions=(Permission.CALLBACKS,),
    audited=(CallbackRequest,),
    workers=(BackgroundWorker(CallbackRouter, CallbackJobPort),),
)
