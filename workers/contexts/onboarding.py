"""Onboarding: borrower sign-in by one-time code, the funnel of steps, staff lists and conversion."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

import structlog

from adapters.named_locks import NamedLocks
from adapters.postgres import Database
from adapters.providers.directory import ProviderDirectory
from api.pages import borrower_consents as consent_pages
from api.pages import borrower_documents as document_pages
from api.pages import borrower_flow
from api.pages import onboarding as pages
from api.routes import borrower as borrower_routes
from api.routes import borrower_applications, borrower_consents, borrower_documents
from api.routes import onboarding as routes
from api.web import NavItem
from domain.customers.application import Customers
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from domain.documents.document import Document, DocumentNotFound, DocumentStatus
from domain.documents.statement_months import StatementPeriod
from domain.identity.application import Identity
from domain.identity.brand import BrandNotFound
from domain.identity.permissions import Permission
from domain.loans.application import Loans
from domain.loans.loan import Channel, LoanNotFound
from domain.loans.states import LoanStatus
from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import Funnel
from domain.onboarding.parties import CODE_SEND_WAIT_SECONDS, ApplicationRequest, AppliedLoan, CodeBeingSent
from domain.onboarding.reapply import LoanHistory, OpenApplication
from domain.onboarding.steps import FunnelRules
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, InvalidInput, InvalidValue
from domain.verification.application import Verifications
from projections.loan_queries import LoanQueries
from projections.onboarding import OnboardingQueries, OnboardingView
from projections.projection import topics_of
from workers import onboarding_jobs
from workers.bounded_context import BoundedContext, Job, Kit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IdentityBrands:
    """The onboarding context's `OnboardingBrands`, answered by the identity context."""

    identity: Identity

    def brand_id(self, code: str) -> UUID | None:
        try:
            return self.identity.brand_by_slug(code).id
        except (BrandNotFound, InvalidInput):
            return None

    def rules(self, brand_id: UUID) -> FunnelRules:
        settings = self.identity.settings(brand_id)
        return FunnelRules(
            require_employment=settings.require_employment_data,
            require_selfie=settings.require_selfie_video,
            auto_reject_inactive=settings.auto_reject_inactive_users,
            inactive_days=settings.inactive_user_days,
            account_aggregation=settings.account_aggregation,
            bank_statement_months=settings.bank_statement_months,
            timezone=settings.timezone,
            rejection_cooldown_days=settings.rejection_cooldown_days,
            business_date=settings.business_date,
            reloan_refresh_days=settings.reloan_refresh_days,
        )


@dataclass(frozen=True)
class BorrowerLoans:
    """The onboarding context's `LoanDesk`, answered by the loans context (applications on the borrower channel;
    the borrower's open applications and latest rejection from its read model, as the BRE reads them)."""

    loans: Loans
    queries: LoanQueries

    def apply(
        self,
        brand_id: UUID,
        customer_id: UUID,
        product_id: UUID,
        amount: Decimal,
        tenure: int,
        coupon_code: str | None,
        *,
        loan_id: UUID | None = None,
    ) -> AppliedLoan:
        result = self.loans.create(
            brand_id, customer_id, product_id, amount, tenure, coupon_code, channel=Channel.BORROWER, loan_id=loan_id
        )
        return AppliedLoan(result.id, self.loans.get(brand_id, result.id).loan_number, result.position)

    def owner(self, brand_id: UUID, loan_id: UUID) -> UUID | None:
        try:
            return self.loans.get(brand_id, loan_id).customer_id
        except LoanNotFound:
            return None

    def submit(self, brand_id: UUID, loan_id: UUID, payout_account: UUID | None = None) -> AppliedLoan:
        result = self.loans.submit(brand_id, loan_id, payout_account)
        return AppliedLoan(loan_id, self.loans.get(brand_id, loan_id).loan_number, result.position)

    def amend(
        self,
        brand_id: UUID,
        loan_id: UUID,
        product_id: UUID,
        amount: Decimal,
        tenure: int,
        coupon_code: str | None,
    ) -> AppliedLoan:
        result = self.loans.amend_request(brand_id, loan_id, product_id, amount, tenure, coupon_code)
        return AppliedLoan(loan_id, self.loans.get(brand_id, loan_id).loan_number, result.position)

    def request(self, brand_id: UUID, loan_id: UUID) -> ApplicationRequest | None:
        try:
            loan = self.loans.get(brand_id, loan_id)
        except LoanNotFound:
            return None
        return ApplicationRequest(loan.product_id, loan.amount, loan.tenure, loan.coupon_code, loan.loan_number)

    def status(self, brand_id: UUID, loan_id: UUID) -> str | None:
        try:
            return self.loans.get(brand_id, loan_id).status.value
        except LoanNotFound:
            return None

    def cancel_unsubmitted(self, brand_id: UUID, loan_id: UUID, reason: str) -> bool:
        try:
            return self.loans.cancel_unsubmitted(brand_id, loan_id, reason).changed
        except LoanNotFound:
            return False

    def cancel_reason(self, brand_id: UUID, loan_id: UUID) -> str | None:
        try:
            loan = self.loans.get(brand_id, loan_id)
        except LoanNotFound:
            return None
        return loan.cancel_reason if loan.status is LoanStatus.CANCELLED else None

    def history(self, brand_id: UUID, customer_id: UUID) -> LoanHistory:
        return LoanHistory(
            open=tuple(OpenApplication(*row) for row in self.queries.open_applications(brand_id, customer_id)),
            last_rejected_on=self.queries.last_rejected_on(brand_id, customer_id),
        )


@dataclass(frozen=True)
class BorrowerDocuments:
    """The onboarding context's `DocumentShelf`, answered by the documents context (uploads by the borrower)."""

    documents: Documents

    def upload(
        self,
        brand_id: UUID,
        customer_id: UUID,
        kind: str,
        filename: str,
        data: bytes,
        *,
        period_from: str | None = None,
        period_to: str | None = None,
    ) -> CommandResult:
        try:
            chosen = DocumentKind(kind)
        except ValueError:
            raise InvalidValue("kind", f"'{kind}' is not a kind of document") from None
        return self.documents.upload(
            brand_id,
            customer_id,
            chosen,
            filename,
            data,
            Uploader.BORROWER,
            period_from=period_from,
            period_to=period_to,
        )

    def _find(self, brand_id: UUID, document_id: UUID) -> Document | None:
        try:
            return self.documents.document(brand_id, document_id)
        except DocumentNotFound:
            return None

    def owner(self, brand_id: UUID, document_id: UUID) -> UUID | None:
        document = self._find(brand_id, document_id)
        return document.customer_id if document is not None else None

    def statement_period(self, brand_id: UUID, document_id: UUID) -> StatementPeriod | None:
        document = self._find(brand_id, document_id)
        return document.period if document is not None and document.kind is DocumentKind.BANK_STATEMENT else None

    def kind(self, brand_id: UUID, document_id: UUID) -> str | None:
        document = self._find(brand_id, document_id)
        return document.kind.value if document is not None else None

    def statement_refusal(self, brand_id: UUID, document_id: UUID) -> str | None:
        document = self._find(brand_id, document_id)
        if document is None:
            return "upload the statement first (POST /api/v1/borrower/documents)"
        if document.kind is not DocumentKind.BANK_STATEMENT:
            kind = document.kind.value.replace("_", " ")
            return f"this is a {kind}, not a bank statement: upload the statement as kind bank_statement"
        if document.status is DocumentStatus.REJECTED:
            return "this statement was rejected; upload the right one"
        return None


@dataclass(frozen=True)
class BorrowerKyc:
    """The onboarding context's `KycChecks`, answered by the verification context. A check the provider or the
    record refuses is logged and left for staff (Customer 360 shows it; they retry there): never the step's fault."""

    verifications: Verifications

    def _run(self, check: str, customer_id: UUID, work: Callable[[], object]) -> None:
        try:
            work()
        except DomainError as exc:
            log.info("onboarding.kyc_check_not_run", check=check, customer_id=str(customer_id), reason=exc.message)

    def verify_pan(self, brand_id: UUID, customer_id: UUID) -> None:
        self._run("pan", customer_id, lambda: self.verifications.verify_pan(brand_id, customer_id))

    def add_bank_account(
        self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str, holder_name: str
    ) -> None:
        self._run(
            "penny_drop",
            customer_id,
            lambda: self.verifications.add_bank_account(brand_id, customer_id, account_number, ifsc, holder_name),
        )

    def bank_account_id(self, brand_id: UUID, customer_id: UUID, account_number: str, ifsc: str) -> UUID | None:
        try:
            return self.verifications.bank_account_id(brand_id, customer_id, account_number, ifsc)
        except DomainError as exc:  # a step recorded under older rules of the number's form
            log.info("onboarding.bank_account_not_named", customer_id=str(customer_id), reason=exc.message)
            return None

    def analyse_statement(self, brand_id: UUID, customer_id: UUID, document_id: UUID) -> None:
        self._run(
            "statement", customer_id, lambda: self.verifications.analyse_statement(brand_id, customer_id, document_id)
        )

    def pull_bureau(self, brand_id: UUID, customer_id: UUID) -> None:
        self._run("bureau", customer_id, lambda: self.verifications.pull_bureau(brand_id, customer_id))


@dataclass(frozen=True)
class HeldCodeSends:
    """The onboarding context's `CodeSends`: a named lock per brand and phone, shared by every process on the
    database."""

    locks: NamedLocks

    def holding(self, brand_id: UUID, phone: str) -> AbstractContextManager[None]:
        return self.locks.holding(
            [f"borrower-code:{brand_id}:{phone}"], CODE_SEND_WAIT_SECONDS, lambda: CodeBeingSent(phone)
        )


def _onboarding(kit: Kit) -> Onboarding:
    return Onboarding(
        env=kit.env,
        clock=kit.clock,
        brands=IdentityBrands(kit.get(Identity)),
        customers=kit.get(Customers),
        sms=kit.get(ProviderDirectory).sms(),
        loans=BorrowerLoans(kit.get(Loans), LoanQueries(kit.get(Database).pool)),
        documents=BorrowerDocuments(kit.get(Documents)),
        kyc=BorrowerKyc(kit.get(Verifications)),
        code_sends=HeldCodeSends(kit.get(NamedLocks)),
    )


CONTEXT = BoundedContext(
    application=Onboarding,
    build=_onboarding,
    queries=(OnboardingQueries,),
    projections=(OnboardingView(),),
    # The trail keeps the funnel's steps; sign-in codes and sessions stay out of it.
    activity=topics_of(
        Funnel.Started, Funnel.StepRecorded, Funnel.StepReopened, Funnel.CustomerLinked, Funnel.Closed, Funnel.Restarted
    ),
    endpoints=(
        *borrower_routes.ENDPOINTS,
        *borrower_applications.ENDPOINTS,
        *borrower_documents.ENDPOINTS,
        *borrower_consents.ENDPOINTS,
        *routes.ENDPOINTS,
    ),
    pages=(*pages.PAGES, *borrower_flow.PAGES, *consent_pages.PAGES, *document_pages.PAGES),
    nav=(NavItem("Onboarding", "/onboarding", "onboarding", Permission.ONBOARDING_IN_PROGRESS, 45),),
    jobs=(Job(onboarding_jobs.INACTIVE, onboarding_jobs.run_inactive, onboarding_jobs.OnboardingJobPort),),
    permissions=(Permission.ONBOARDING_IN_PROGRESS, Permission.ONBOARDING_COMPLETED),
    audited=(Funnel,),
)
