"""Borrowers' documents: uploads stored content-addressed (a folder or an S3-compatible store), staff review, and
the checklist of what a borrower still has to provide."""

from __future__ import annotations

import os
from dataclasses import dataclass
from uuid import UUID

from adapters.document_store import document_store_from_env
from adapters.providers.directory import ProviderDirectory
from api.pages.borrower_documents import KIND_LABELS
from api.routes import documents as routes
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, max_document_bytes
from domain.documents.document import Document
from domain.documents.document_request import DocumentRequests
from domain.identity.application import Identity
from projections.documents import DocumentQueries, DocumentsView
from workers.borrower_sms import sms_borrower
from workers.bounded_context import BoundedContext, Kit


@dataclass(frozen=True)
class BrandBorrowers:
    """The documents context's `Borrowers`, answered by the customers context."""

    customers: Customers

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        try:
            self.customers.get(brand_id, customer_id)
        except CustomerNotFound:
            return False
        return True


@dataclass(frozen=True)
class SmsBorrowerNotices:
    """The documents context's `BorrowerNotices`: an SMS through the brand's SMS provider to the borrower's phone,
    as a send-back is told (`workers.contexts.loans.SmsBorrowerContact`). A message that cannot go out is logged and
    never undoes the request: the borrower sees it on their documents page and in `me`."""

    identity: Identity
    customers: Customers
    directory: ProviderDirectory

    def documents_requested(
        self, brand_id: UUID, customer_id: UUID, kinds: list[DocumentKind], note: str | None
    ) -> None:
        named = ", ".join(KIND_LABELS[kind] for kind in kinds)
        text = f"Please upload these documents for your loan application: {named}."
        if note:
            text += f" {note}"
        text += " Open your documents page in the app to send them."
        sms_borrower(self.identity, self.customers, self.directory, brand_id, customer_id, text,
                     "documents.request_sms_failed")  # fmt: skip

    def document_asked_again(self, brand_id: UUID, customer_id: UUID, kind: DocumentKind, reason: str | None) -> None:
        text = f"We could not accept the {KIND_LABELS[kind]} you sent for your loan application"
        text += f": {reason.rstrip('. ')}." if reason else "."
        text += " Please upload another: open your documents page in the app to send it."
        sms_borrower(self.identity, self.customers, self.directory, brand_id, customer_id, text,
                     "documents.reopen_sms_failed")  # fmt: skip


def _documents(kit: Kit) -> Documents:
    return Documents(
        env=kit.env,
        clock=kit.clock,
        store=document_store_from_env(os.environ),
        borrowers=BrandBorrowers(kit.get(Customers)),
        max_bytes=max_document_bytes(os.environ),
        business_dates=kit.get(Identity),
        notices=SmsBorrowerNotices(kit.get(Identity), kit.get(Customers), kit.get(ProviderDirectory)),
    )


CONTEXT = BoundedContext(
    application=Documents,
    build=_documents,
    queries=(DocumentQueries,),
    projections=(DocumentsView(),),
    endpoints=routes.ENDPOINTS,
    permissions=(),  # its endpoints reuse CUSTOMER, which the customers context owns
    audited=(Document, DocumentRequests),
)
