"""KYC and bank verification: PAN, Aadhaar (DigiLocker), penny drop, bureau, statement analysis (BSA or the
Account Aggregator) through the provider adapters, each result or failure recorded per borrower."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from uuid import UUID

import structlog

from adapters.named_locks import NamedLocks
from adapters.providers.directory import ProviderDirectory
from api.pages import verification as pages
from api.routes import verification as routes
from domain.customers.application import Customers
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from domain.identity.application import Identity
from domain.shared.errors import InvalidInput, InvalidValue, NotFound
from domain.verification.account import BankAccount
from domain.verification.application import PENNY_DROP_WAIT_SECONDS, Verifications, being_checked
from domain.verification.profile import KycProfile
from domain.verification.providers import Applicant, KycProviders
from projections.verification import VerificationView
from projections.verification_queries import VerificationQueries
from workers.bounded_context import BoundedContext, Kit

log = structlog.get_logger(__name__)

STATEMENT_KINDS = (DocumentKind.BANK_STATEMENT, DocumentKind.PASSBOOK)


@dataclass(frozen=True)
class BrandApplicants:
    """The verification context's `Applicants`, answered by the customers context."""

    customers: Customers

    def applicant(self, brand_id: UUID, customer_id: UUID) -> Applicant:
        record = self.customers.get(brand_id, customer_id)
        return Applicant(customer_id, record.name, record.phone, record.pan, record.date_of_birth)


@dataclass(frozen=True)
class BrandDocuments:
    """The verification context's `DocumentVault`, answered by the documents context."""

    documents: Documents

    def statement(self, brand_id: UUID, customer_id: UUID, document_id: UUID) -> tuple[str, bytes]:
        try:
            stored = self.documents.content(brand_id, document_id)
        except NotFound:
            raise InvalidValue("document_id", "no such document of the borrower") from None
        if stored.document.customer_id != customer_id:
            raise InvalidValue("document_id", "no such document of the borrower")
        if stored.document.kind not in STATEMENT_KINDS:
            raise InvalidValue("document_id", f"the document is a {stored.document.kind.value}, not a bank statement")
        return stored.document.content_type.value, stored.data

    def store_photo(self, brand_id: UUID, customer_id: UUID, photo: bytes) -> UUID | None:
        try:  # the same photo fetched again (or by another fetch at the same moment): the document stored already
            result = self.documents.upload(
                brand_id, customer_id, DocumentKind.AADHAAR_PHOTO, "aadhaar-photo.jpg", photo, Uploader.PROVIDER,
                existing_ok=True,
            )  # fmt: skip
        except InvalidInput as exc:
            log.warning("verification.photo_refused", reason=str(exc))
            return None
        return result.id


@dataclass(frozen=True)
class BrandSwitchboard:
    """The verification context's `BrandSwitches`, answered by the identity context's brand settings."""

    identity: Identity

    def account_aggregation(self, brand_id: UUID) -> bool:
        return self.identity.settings(brand_id).account_aggregation

    def statement_months(self, brand_id: UUID) -> int:
        return self.identity.settings(brand_id).bank_statement_months


@dataclass(frozen=True)
class BrandProviderChoice:
    """The verification context's `ProviderChoice`: the directory's clients of the vendors the brand chose in its
    `providers` setting (service -> vendor; the service's default vendor where it names none)."""

    directory: ProviderDirectory
    identity: Identity

    def for_brand(self, brand_id: UUID) -> KycProviders:
        chosen: Mapping[str, str] = getattr(self.identity.settings(brand_id), "providers", None) or {}
        clients = self.directory.for_brand(chosen)
        return KycProviders(
            pan=clients.pan(),
            penny_drop=clients.penny_drop(),
            bureau=clients.bureau(),
            bsa=clients.bsa(),
            aa=clients.aa(),
            digilocker=clients.digilocker(),
        )


@dataclass(frozen=True)
class HeldPennyDrops:
    """The verification context's `PennyDropHolds`: a named lock per bank account (uuid5 of brand, borrower, number
    and IFSC), shared by every process on the database."""

    locks: NamedLocks

    def holding(self, brand_id: UUID, bank_account_id: UUID) -> AbstractContextManager[None]:
        return self.locks.holding([f"penny-drop:{brand_id}:{bank_account_id}"], PENNY_DROP_WAIT_SECONDS, being_checked)


def _verifications(kit: Kit) -> Verifications:
    return Verifications(
        env=kit.env,
        clock=kit.clock,
        providers=BrandProviderChoice(kit.get(ProviderDirectory), kit.get(Identity)),
        applicants=BrandApplicants(kit.get(Customers)),
        vault=BrandDocuments(kit.get(Documents)),
        switches=BrandSwitchboard(kit.get(Identity)),
        # Where a borrower comes back to after consenting at DigiLocker or the Account Aggregator.
        return_url=os.environ.get("KYC_RETURN_URL", "http://127.0.0.1:8000/"),
        penny_drop_holds=HeldPennyDrops(kit.get(NamedLocks)),
    )


CONTEXT = BoundedContext(
    application=Verifications,
    build=_verifications,
    queries=(VerificationQueries,),
    projections=(VerificationView(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    permissions=(),  # its endpoints reuse CUSTOMER, which the customers context owns
    audited=(KycProfile, BankAccount),
)
