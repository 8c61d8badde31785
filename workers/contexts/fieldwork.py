"""Fieldwork (issue #16 items 8, 9, 11): the brand's dialer (Acefone) with click-to-call and its call-event
webhook writing each call onto the loan's contact log; field visits with geo-tagged photo evidence; the collection
dashboard."""

from __future__ import annotations

import os
from dataclasses import dataclass
from uuid import UUID

import structlog

from adapters.dialer_tokens import DialerTokenStore
from adapters.document_store import document_store_from_env
from adapters.postgres import Database
from adapters.providers.directory import ProviderDirectory
from api.pages import fieldwork as pages
from api.pages import fieldwork_visits as visit_pages
from api.routes import dialer as dialer_routes
from api.routes import field_visits as visit_routes
from api.web import NavItem
from domain.collections.application import Collections
from domain.collections.case import CallDetails, Channel, Outcome
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.documents.content import max_document_bytes
from domain.fieldwork.application import FieldWork, LoanContact, LoanNotInBrand
from domain.fieldwork.dialer import DialerCall, DialerSetup
from domain.fieldwork.visit import FieldVisit
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.staff import StaffNotFound
from domain.loans.application import Loans
from domain.loans.loan import LoanNotFound
from domain.shared.errors import Conflict, DomainError
from projections.collection_dashboard import CollectionDashboardQueries
from projections.fieldwork import FieldworkView
from projections.fieldwork_queries import FieldworkPicks, FieldworkQueries
from workers.bounded_context import BoundedContext, Kit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BrandLoanContacts:
    """The fieldwork context's `LoanContacts`, answered by the loans and customers contexts."""

    loans: Loans
    customers: Customers

    def contact(self, brand_id: UUID, loan_id: UUID) -> LoanContact:
        try:
            loan = self.loans.get(brand_id, loan_id)
            borrower = self.customers.get(brand_id, loan.customer_id)
        except (LoanNotFound, CustomerNotFound):
            raise LoanNotInBrand(f"loan {loan_id} not found", id=str(loan_id)) from None
        address = next(iter(borrower.addresses), None)
        line = ""
        if address is not None:
            parts = [address.line1, address.line2, address.city, address.state, address.pincode]
            line = ", ".join(p for p in parts if p)
        return LoanContact(
            loan_id=loan.id,
            loan_number=loan.loan_number,
            customer_id=borrower.id,
            phone=borrower.phone,
            alternate_phones=tuple(borrower.alternate_phones),
            address=line,
        )


@dataclass(frozen=True)
class BrandStaff:
    """The fieldwork context's `StaffDirectory`, answered by the identity context."""

    identity: Identity

    def is_active(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            return bool(self.identity.staff(brand_id, staff_id).enabled)
        except StaffNotFound:
            return False

    def may_visit(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            staff = self.identity.staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        level = staff.grants.get(Permission.COLLECTIONS)
        return bool(staff.enabled) and level is not None and level.covers(Level.WRITE)


@dataclass(frozen=True)
class CollectionsContactLog:
    """The fieldwork context's `ContactLog`, answered by the collections context's contact log."""

    collections: Collections

    def log_call(self, call: DialerCall, outcome: str, remarks: str) -> None:
        details = CallDetails(
            call_id=str(call.id),
            status=call.status.value,
            duration_seconds=call.duration_seconds,
            recording_url=call.recording_url,
        )
        try:
            self.collections.log_contact(
                call.brand_id, call.loan_id, Outcome(outcome), remarks, staff_id=call.staff_id,
                channel=Channel.DIALER, call=details,
            )  # fmt: skip
        except Conflict as conflict:
            if conflict.details.get("call_id") != details.call_id:
                raise  # not "already logged": the webhook's retry tries again

    def log_visit(self, visit: FieldVisit, outcome: str, remarks: str) -> None:
        try:
            self.collections.log_contact(
                visit.brand_id, visit.loan_id, Outcome(outcome), remarks, staff_id=visit.assignee_id,
                channel=Channel.FIELD,
            )  # fmt: skip
        except DomainError as exc:  # the visit is recorded; its line on the contact log is a convenience
            log.warning("fieldwork.visit_not_logged", visit_id=str(visit.id), error=str(exc))


def _fieldwork(kit: Kit) -> FieldWork:
    directory = kit.get(ProviderDirectory)
    return FieldWork(
        env=kit.env,
        clock=kit.clock,
        loans=BrandLoanContacts(kit.get(Loans), kit.get(Customers)),
        staff=BrandStaff(kit.get(Identity)),
        dialer=directory.dialer(),
        tokens=DialerTokenStore(kit.get(Database).pool),
        photos=document_store_from_env(os.environ),
        max_photo_bytes=max_document_bytes(os.environ),
        contact_log=CollectionsContactLog(kit.get(Collections)),
    )


CONTEXT = BoundedContext(
    application=FieldWork,
    build=_fieldwork,
    queries=(FieldworkQueries, FieldworkPicks, CollectionDashboardQueries),
    projections=(FieldworkView(),),
    endpoints=(*dialer_routes.ENDPOINTS, *visit_routes.ENDPOINTS),
    pages=(*pages.PAGES, *visit_pages.PAGES),
    nav=(
        NavItem("Field visits", "/field-visits", "field-visits", Permission.COLLECTIONS, 62),
        NavItem(
            "Collection dashboard",
            "/collections/dashboard",
            "collection-dashboard",
            Permission.COLLECTION_REALLOCATE_LOANS,
            63,
        ),
    ),
    permissions=(),  # COLLECTIONS, COLLECTION_REALLOCATE_LOANS and BRAND_SETTINGS are the collections' and identity's
    audited=(DialerSetup, DialerCall, FieldVisit),
)
