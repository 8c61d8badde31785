"""Verification endpoints: bank accounts with their penny drop, PAN, Aadhaar (DigiLocker), bureau pulls, statement
analyses (BSA or the Account Aggregator), retries of failed checks, and a borrower's KYC summary and credit facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON
from api.services.verification import VerificationDesk
from domain.identity.permissions import Level, Permission
from domain.shared import formats
from domain.shared.application import CommandResult
from domain.shared.errors import InvalidValue, NotFound
from domain.shared.values import MIN_REASON, stated_pattern
from domain.verification.account import BankAccountNotFound
from domain.verification.application import Verifications
from domain.verification.values import CheckKind, CheckStatus
from projections.verification_queries import BankAccountRow, CheckRow, VerificationQueries

READ = (Permission.CUSTOMER, Level.READ)
WRITE = (Permission.CUSTOMER, Level.WRITE)


class UnknownCheck(NotFound):
    """Raised for a check name that is not one of pan, aadhaar, bureau, statement."""


@dataclass(frozen=True)
class VerificationPort:
    """What the verification endpoints use."""

    verifications: Verifications
    queries: VerificationQueries
    desk: VerificationDesk


class BankAccountIn(BaseModel):
    """A borrower's bank account for disbursement."""

    model_config = ConfigDict(extra="forbid")

    account_number: Annotated[str, Field(max_length=30), stated_pattern(formats.ACCOUNT_NUMBER, max_length=30)] = Field(
        description="9 to 18 digits (spaces and dashes ignored)"
    )
    ifsc: Annotated[str, Field(max_length=20), stated_pattern(formats.IFSC, max_length=20)] = Field(
        description="e.g. HDFC0001234"
    )
    holder_name: str = Field(max_length=200, description="The account holder's name, as the borrower gives it")


class ManualVerificationIn(BaseModel):
    """Staff verified the account against the borrower's statement or passbook."""

    model_config = ConfigDict(extra="forbid")

    document_id: UUID = Field(description="The borrower's bank_statement or passbook document that was checked")
    note: str = Field(
        min_length=MIN_REASON,
        max_length=500,
        description=f"What was checked: {VISIBLE_MIN_REASON}",
        json_schema_extra=VISIBLE_REASON,
    )


class StatementIn(BaseModel):
    """A statement analysis: of an uploaded bank statement (BSA), or through the Account Aggregator."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["bsa", "aa"] = "bsa"
    document_id: UUID | None = Field(None, description="The uploaded bank statement (BSA); not for aa")


class AadhaarIn(BaseModel):
    """How the Aadhaar is verified (manual upload is the documents' review)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["digilocker"] = "digilocker"


class BankAccountOut(BaseModel):
    """A bank account (number masked) and its penny drop: verified, the bank's holder name and the name score."""

    id: UUID
    customer_id: UUID
    account_masked: str
    ifsc: str
    holder_name: str
    status: CheckStatus
    method: Literal["penny_drop", "manual"]
    verified: bool
    credited: bool | None
    bank_holder_name: str | None
    name_score: int | None = Field(description="rapidfuzz score 0-100 of our holder name against the bank's")
    reason: str | None
    attempts: int
    added_by: str
    added_at: InstantOut
    checked_at: InstantOut | None


class BankAccountsOut(BaseModel):
    """A borrower's bank accounts, newest first."""

    items: list[BankAccountOut]


class CheckOut(BaseModel):
    """One verification: its status (`failed` means the provider could not answer: retry), reason, result."""

    kind: CheckKind
    status: CheckStatus
    source: str | None
    reason: str | None
    attempts: int
    retryable: bool
    result: dict[str, Any] | None = Field(description="The latest result (sensitive numbers masked)")
    updated_at: InstantOut
    updated_by: str


class CreditFactsOut(BaseModel):
    """The credit facts the BRE reads (null: not known)."""

    credit_score: int | None
    monthly_salary: str | None
    existing_emis: str | None
    existing_loans: int | None
    max_dpd: int | None
    bank_verified: bool


class KycOut(BaseModel):
    """A borrower's verifications: each check by kind, bank accounts and credit facts."""

    customer_id: UUID
    checks: list[CheckOut]
    bank_accounts: list[BankAccountOut]


def _account(ctx: Context[VerificationPort], account_id: UUID) -> BankAccountRow | None:
    return ctx.port.queries.bank_account(ctx.brand_id, account_id)


def _check_reader(ctx: Context[VerificationPort], kind: CheckKind) -> Callable[[], CheckRow | None]:
    def read() -> CheckRow | None:
        return ctx.port.queries.checks(ctx.brand_id, ctx.path["customer_id"]).get(kind.value)

    return read


def _check_written(ctx: Context[VerificationPort], result: CommandResult, kind: CheckKind) -> Reply:
    location = f"/api/v1/customers/{ctx.path['customer_id']}/kyc"
    return ctx.written(result, Verifications.name, _check_reader(ctx, kind), location)


def add_bank_account(ctx: Context[VerificationPort]) -> Reply:
    body: BankAccountIn = ctx.body
    result = ctx.port.verifications.add_bank_account(
        ctx.brand_id, ctx.path["customer_id"], body.account_number, body.ifsc, body.holder_name
    )
    location = f"/api/v1/bank-accounts/{result.id}"
    return ctx.written(result, Verifications.name, lambda: _account(ctx, result.id), location)


def list_bank_accounts(ctx: Context[VerificationPort]) -> Reply:
    return json_response({"items": ctx.port.desk.bank_accounts(ctx.brand_id, ctx.path["customer_id"])})


def get_bank_account(ctx: Context[VerificationPort]) -> Reply:
    found = _account(ctx, ctx.path["bank_account_id"])
    if found is None:
        raise BankAccountNotFound(f"bank account {ctx.path['bank_account_id']} not found")
    return json_response(found)


def retry_penny_drop(ctx: Context[VerificationPort]) -> Reply:
    result = ctx.port.verifications.retry_penny_drop(ctx.brand_id, ctx.path["bank_account_id"])
    return ctx.written(result, Verifications.name, lambda: _account(ctx, result.id))


def verify_bank_account_manually(ctx: Context[VerificationPort]) -> Reply:
    body: ManualVerificationIn = ctx.body
    result = ctx.port.verifications.verify_bank_account_manually(
        ctx.brand_id, ctx.path["bank_account_id"], body.document_id, body.note
    )
    return ctx.written(result, Verifications.name, lambda: _account(ctx, result.id))


def verify_pan(ctx: Context[VerificationPort]) -> Reply:
    result = ctx.port.verifications.verify_pan(ctx.brand_id, ctx.path["customer_id"])
    return _check_written(ctx, result, CheckKind.PAN)


def pull_bureau(ctx: Context[VerificationPort]) -> Reply:
    result = ctx.port.verifications.pull_bureau(ctx.brand_id, ctx.path["customer_id"])
    return _check_written(ctx, result, CheckKind.BUREAU)


def analyse_statement(ctx: Context[VerificationPort]) -> Reply:
    body: StatementIn = ctx.body
    verifications, brand_id, customer_id = ctx.port.verifications, ctx.brand_id, ctx.path["customer_id"]
    if body.source == "aa":
        result = verifications.start_account_aggregator(brand_id, customer_id)
    else:
        if body.document_id is None:
            raise InvalidValue("document_id", "name the uploaded bank statement to analyse")
        result = verifications.analyse_statement(brand_id, customer_id, body.document_id)
    return _check_written(ctx, result, CheckKind.STATEMENT)


def complete_statement(ctx: Context[VerificationPort]) -> Reply:
    result = ctx.port.verifications.complete_account_aggregator(ctx.brand_id, ctx.path["customer_id"])
    return _check_written(ctx, result, CheckKind.STATEMENT)


def start_aadhaar(ctx: Context[VerificationPort]) -> Reply:
    result = ctx.port.verifications.start_aadhaar(ctx.brand_id, ctx.path["customer_id"])
    return _check_written(ctx, result, CheckKind.AADHAAR)


def complete_aadhaar(ctx: Context[VerificationPort]) -> Reply:
    result = ctx.port.verifications.complete_aadhaar(ctx.brand_id, ctx.path["customer_id"])
    return _check_written(ctx, result, CheckKind.AADHAAR)


def retry_check(ctx: Context[VerificationPort]) -> Reply:
    try:
        kind = CheckKind(ctx.path["check"])
    except ValueError:
        raise UnknownCheck(f"no check '{ctx.path['check']}'; one of pan, aadhaar, bureau, statement") from None
    result = ctx.port.verifications.retry(ctx.brand_id, ctx.path["customer_id"], kind)
    return _check_written(ctx, result, kind)


def kyc_summary(ctx: Context[VerificationPort]) -> Reply:
    summary = ctx.port.desk.summary(ctx.brand_id, ctx.path["customer_id"])
    order = [k.value for k in CheckKind]
    checks = sorted(summary.checks.values(), key=lambda c: order.index(c.kind))
    return json_response({"customer_id": summary.customer_id, "checks": checks, "bank_accounts": summary.bank_accounts})


def credit_facts(ctx: Context[VerificationPort]) -> Reply:
    facts = ctx.port.desk.credit_facts(ctx.brand_id, ctx.path["customer_id"])
    return json_response(
        CreditFactsOut(
            credit_score=facts.credit_score,
            monthly_salary=None if facts.monthly_salary is None else str(facts.monthly_salary),
            existing_emis=None if facts.existing_emis is None else str(facts.existing_emis),
            existing_loans=facts.existing_loans,
            max_dpd=facts.max_dpd,
            bank_verified=facts.bank_verified,
        )
    )


def _command(
    path: str, handler: Callable[[Context[VerificationPort]], Reply], summary: str, body: type[BaseModel] | None = None
) -> Endpoint[VerificationPort]:
    return Endpoint("POST", path, handler, summary, WRITE, body=body, response=CheckOut, status=201, accepts=True)


CUSTOMER = "/api/v1/customers/{customer_id}"

ENDPOINTS = serve(
    VerificationPort,
    "verification",
    [
        Endpoint(
            "POST",
            f"{CUSTOMER}/bank-accounts",
            add_bank_account,
            "Add a borrower's bank account and verify it by a penny drop (₹1 and a fuzzy holder-name match)",
            WRITE,
            body=BankAccountIn,
            response=BankAccountOut,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            f"{CUSTOMER}/bank-accounts",
            list_bank_accounts,
            "A borrower's bank accounts (numbers masked) and their penny drops",
            READ,
            response=BankAccountsOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/bank-accounts/{bank_account_id}",
            get_bank_account,
            "A bank account and its penny drop",
            READ,
            response=BankAccountOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/bank-accounts/{bank_account_id}/retry",
            retry_penny_drop,
            "Run a failed penny drop again",
            WRITE,
            response=BankAccountOut,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/bank-accounts/{bank_account_id}/manual-verification",
            verify_bank_account_manually,
            "Verify an account by reviewing the borrower's statement or passbook (the manual method)",
            WRITE,
            body=ManualVerificationIn,
            response=BankAccountOut,
            accepts=True,
        ),
        _command(
            f"{CUSTOMER}/pan-verifications", verify_pan, "Verify the borrower's PAN (name, DOB, Aadhaar link, fraud)"
        ),
        _command(f"{CUSTOMER}/bureau-pulls", pull_bureau, "Pull the borrower's credit report (score, tradelines, DPD)"),
        _command(
            f"{CUSTOMER}/statement-analyses",
            analyse_statement,
            "Analyse an uploaded bank statement (BSA), or ask the borrower's Account Aggregator consent (aa)",
            StatementIn,
        ),
        _command(
            f"{CUSTOMER}/statement-analyses/complete",
            complete_statement,
            "Fetch the statement data the borrower consented to at the Account Aggregator",
        ),
        _command(
            f"{CUSTOMER}/aadhaar", start_aadhaar, "Send the borrower to DigiLocker to share their Aadhaar", AadhaarIn
        ),
        _command(
            f"{CUSTOMER}/aadhaar/complete",
            complete_aadhaar,
            "Fetch the Aadhaar details (and photo) the borrower shared through DigiLocker",
        ),
        _command(
            f"{CUSTOMER}/verifications/{{check}}/retry",
            retry_check,
            "Run a failed check (pan, aadhaar, bureau, statement) again with what it was run with",
        ),
        Endpoint(
            "GET",
            f"{CUSTOMER}/kyc",
            kyc_summary,
            "A borrower's verifications: each check, bank accounts",
            READ,
            response=KycOut,
        ),
        Endpoint(
            "GET",
            f"{CUSTOMER}/credit-facts",
            credit_facts,
            "The credit facts the BRE reads: bureau score, salary, existing EMIs and loans, DPD, bank verified",
            READ,
            response=CreditFactsOut,
        ),
    ],
)
