"""Borrowers' documents: uploads stored content-addressed (a folder or an S3-compatible store), staff review, and
the checklist of what a borrower still has to provide."""

from __future__ import annotations

import os
from dataclasses import dataclass
from uuid import UUID

from adapters.document_store import document_store_from_env
from api.routes import documents as routes
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.documents.application import Documents
from domain.documents.content import max_document_bytes
from domain.documents.document import Document
from domain.identity.application import Identity
from projections.documents import DocumentQueries, DocumentsView
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


def _documents(kit: Kit) -> Documents:
    return Documents(
        env=kit.env,
        clock=kit.clock,
        store=document_store_from_env(os.environ),
        borrowers=BrandBorrowers(kit.get(Customers)),
        max_bytes=max_document_bytes(os.environ),
        business_dates=kit.get(Identity),
    )


CONTEXT = BoundedContext(
    application=Documents,
    build=_documents,
    queries=(DocumentQueries,),
    projections=(DocumentsView(),),
    endpoints=routes.ENDPOINTS,
    permissions=(),  # its endpoints reuse CUSTOMER, which the customers context owns
    audited=(Document,),
)
