"""Use cases of the onboarding context: borrower sign-in by one-time code, bearer sessions, the funnel's steps
(keeping the brand's Customer 360 record true: one person, never two records), send-backs and closing."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid5

import structlog
from pydantic import BaseModel

from domain.customers.customer import DuplicateCustomer
from domain.customers.values import Address
from domain.documents.statement_months import refused_coverage, statement_coverage
from domain.loans.states import CLOSED, LoanStatus
from domain.onboarding.account import (
    OTP_LIFETIME,
    RESEND_AFTER,
    SESSION_LIFETIME,
    ApplicationNotFound,
    BorrowerAccount,
    BorrowerNotFound,
    BorrowerSession,
    SessionNotFound,
    account_id,
    funnel_id,
    new_code,
    new_token,
    refuse_while_locked,
    session_id,
    wrong_code,
)
from domain.onboarding.attribution import Attribution
from domain.onboarding.funnel import CLOSED_ONBOARDING, RELOAN_OFFER_ID, Funnel, FunnelStatus, LinkedBy
from domain.onboarding.parties import (
    AppliedLoan,
    BorrowerPrincipal,
    BorrowerView,
    CodeBeingSent,
    CodeRequest,
    CodeSends,
    CustomerDirectory,
    DocumentShelf,
    FunnelState,
    KycChecks,
    LoanDesk,
    LocalCodeSends,
    OnboardingBrands,
    SignedIn,
    StepState,
)
from domain.onboarding.reapply import REFRESHED, LoanHistory, Reapply, offer_asks_again, standing
from domain.onboarding.steps import STEPS, FunnelRules, LoanRequestIn, Step, checked_details
from domain.providers.calls import Caller
from domain.providers.messaging import SmsSender
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication, retried
from domain.shared.clock import business_date
from domain.shared.errors import Conflict, FieldError, InvalidInput, InvalidValue, Throttled
from domain.shared.values import MIN_REASON, clean_text, normalise_phone

log = structlog.get_logger(__name__)

#: The kinds of document a step's `document_id` may name (`DocumentKind` values): the Aadhaar copy's sides or the
#: photo DigiLocker returns, and the selfie. The statement step's `document_ids` are judged by `_statement_months`.
STEP_DOCUMENT_KINDS: dict[Step, frozenset[str]] = {
    Step.AADHAAR: frozenset({"aadhaar_front", "aadhaar_back", "aadhaar_photo"}),
    Step.SELFIE: frozenset({"selfie"}),
}


#: How many times a use case that has already saved the other context's side (the loans context's application) saves
#: its funnel step on the funnel's latest version when another request changed the funnel first: the change it raced
#: (a step redone in another tab, a send-back) is unrelated, and giving up would leave the two contexts disagreeing.
SAVE_ATTEMPTS = 4


def taken_for_borrower(exc: DuplicateCustomer) -> Conflict:
    """What a borrower is told of a PAN or phone another record holds: the field only, never the other record's id
    or the value (the refusal staff get names them)."""
    field = str(exc.details.get("field") or "pan")
    return Conflict(f"this {field} is already registered with another account; contact us", field=field)


def _send_back_reason(reason: str) -> str:
    """A send back's reason, checked (422 naming `reason` under 3 visible characters)."""
    return clean_text(
        reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
    )


class Onboarding(ContextApplication):
    """Borrower accounts, sessions and onboarding funnels per brand."""

    name = "onboarding"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Any = None,
        *,
        brands: OnboardingBrands,
        customers: CustomerDirectory,
        sms: SmsSender,
        loans: LoanDesk | None = None,
        documents: DocumentShelf | None = None,
        kyc: KycChecks | None = None,
        code_sends: CodeSends | None = None,
    ) -> None:
        super().__init__(env, clock)
        self.code_sends: CodeSends = code_sends or LocalCodeSends()
        self.brands = brands
        self.customers = customers
        self.sms = sms
        self._loans = loans
        self.documents = documents
        self.kyc = kyc

    @property
    def loans(self) -> LoanDesk:
        """The loans context (applications), when wired."""
        if self._loans is None:
            raise LookupError("the onboarding application was built without its loan desk")
        return self._loans

    # Signing in ------------------------------------------------------------------------------------------------

    def brand(self, code: str) -> UUID:
        """The id of the brand with the code (its slug); 422 naming `brand` when there is none."""
        found = self.brands.brand_id(code.strip().lower()) if code and code.strip() else None
        if found is None:
            raise InvalidValue("brand", f"no brand '{code}'")
        return found

    def request_code(self, brand: str, phone: str) -> CodeRequest:
        """Send a six-digit code by SMS unless the phone is locked or asked within its resend wait."""
        brand_id = self.brand(brand)
        clean = normalise_phone(phone)
        try:
            # One request of the phone at a time from the throttle's check to the record (`CodeSends`): a tap at
            # the same moment as another waits for its code to be recorded and then finds the resend wait.
            with self.code_sends.holding(brand_id, clean):
                return retried(lambda: self._request_code(brand_id, clean), SAVE_ATTEMPTS)
        except CodeBeingSent:  # another request is still sending this phone's code: that one is on its way
            return CodeRequest(expires_in=0, resend_after=int(RESEND_AFTER.total_seconds()))

    def _request_code(self, brand_id: UUID, phone: str) -> CodeRequest:
        now = self.clock.now()
        account = self.find(account_id(brand_id, phone))
        if not isinstance(account, BorrowerAccount):
            account = with_id(BorrowerAccount, account_id(brand_id, phone), brand_id=brand_id, phone=phone)
        wait = account.locked(now) or account.resend_wait(now)
        if wait is not None:
            return CodeRequest(expires_in=0, resend_after=wait)
        code = new_code()
        account.issue(code, now)
        # Sent before it is recorded: a provider failure (503, retry at once) leaves no code the borrower never got.
        minutes = int(OTP_LIFETIME.total_seconds() // 60)
        text = f"{code} is your verification code. It expires in {minutes} minutes. Never share it."
        self.sms.send(phone, text, caller=Caller(brand_id))
        self.commit(account)
        return CodeRequest(expires_in=int(OTP_LIFETIME.total_seconds()), resend_after=account.resend_wait(now) or 0)

    def code_status(self, brand: str, phone: str) -> CodeRequest:
        """Where the phone's code stands, sending nothing (the web flow's code page, shown again on a reload):
        `expires_in` the seconds the last code still works (0: none live), `resend_after` the seconds until another
        may be asked for (its resend wait, the hourly limit or a lock; 0: now)."""
        brand_id = self.brand(brand)
        clean = normalise_phone(phone)
        now = self.clock.now()
        account = self.find(account_id(brand_id, clean))
        if not isinstance(account, BorrowerAccount):
            return CodeRequest(expires_in=0, resend_after=0)
        expires = account.expires_at if account.code_hash is not None else None  # spent by a sign-in or a lock
        expires_in = int((expires - now).total_seconds()) if expires is not None and expires > now else 0
        return CodeRequest(expires_in=expires_in, resend_after=account.locked(now) or account.resend_wait(now) or 0)

    def sign_in(self, brand: str, phone: str, code: str, attribution: Attribution | None = None) -> SignedIn:
        """Open a session with the live code: 422 for a wrong one, 429 (Retry-After) once five in a row lock the
        phone for 15 minutes, the right code included. The first sign-in starts the funnel; the UTM
        `attribution` of the link the borrower came by is kept on the funnel (the first one given)."""
        brand_id = self.brand(brand)
        clean = normalise_phone(phone)
        if not code.strip().isdigit():
            raise wrong_code()
        return retried(lambda: self._sign_in(brand_id, clean, code.strip(), attribution), SAVE_ATTEMPTS)

    def _sign_in(self, brand_id: UUID, phone: str, code: str, attribution: Attribution | None = None) -> SignedIn:
        now = self.clock.now()
        account = self.find(account_id(brand_id, phone))
        if not isinstance(account, BorrowerAccount):
            raise wrong_code()
        refuse_while_locked(account, now)
        if not account.verify(code, now):
            self.commit(account)
            refuse_while_locked(account, now)
            raise wrong_code()
        token = new_token()
        borrower_id = funnel_id(account.id)
        session = with_id(
            BorrowerSession,
            session_id(token),
            brand_id=brand_id,
            borrower_id=borrower_id,
            expires_at=now + SESSION_LIFETIME,
        )
        funnel = self.find(borrower_id)
        started = None
        if not isinstance(funnel, Funnel):
            rules = self.brands.rules(brand_id)
            started = with_id(
                Funnel,
                borrower_id,
                brand_id=brand_id,
                account_id=account.id,
                phone=phone,
                at=now,
                next_step=next((s for s in rules.required() if s is not Step.MOBILE), None),
            )
            owner = self.customers.owner_of(brand_id, "phone", phone)
            if owner is not None:
                started.link_customer(owner, LinkedBy.PHONE, now)
        attributed = started or funnel
        if attribution is not None and isinstance(attributed, Funnel) and attributed.attribute(attribution):
            started = attributed
        result = self.commit(account, session, started)
        return SignedIn(token, borrower_id, session.expires_at, result.position)

    def authenticate(self, token: str) -> BorrowerPrincipal:
        """The borrower of a live session token; SessionNotFound otherwise."""
        session = self.find(session_id(token)) if token else None
        if not isinstance(session, BorrowerSession) or not session.live(self.clock.now()):
            raise SessionNotFound("the borrower session is unknown, expired or ended")
        return BorrowerPrincipal(session.brand_id, session.borrower_id, session.id)

    def session_owner(self, token: str) -> BorrowerPrincipal | None:
        """The borrower a session token was given to, whether or not it still signs in (expired or ended: the web
        flow keeps a form posted after it for that borrower); None for a token never given."""
        session = self.find(session_id(token)) if token else None
        if not isinstance(session, BorrowerSession):
            return None
        return BorrowerPrincipal(session.brand_id, session.borrower_id, session.id)

    def sign_out(self, token: str) -> CommandResult:
        """End the session of a token."""
        session = self.find(session_id(token))
        if not isinstance(session, BorrowerSession):
            raise SessionNotFound("the borrower session is unknown")
        session.end("signed out")
        return self.commit(session)

    # The funnel ------------------------------------------------------------------------------------------------

    def funnel(self, brand_id: UUID, borrower_id: UUID) -> Funnel:
        """The borrower's funnel within the brand."""
        return self.load(Funnel, borrower_id, brand_id, BorrowerNotFound)

    def state(self, brand_id: UUID, borrower_id: UUID) -> FunnelState:
        """The funnel as the borrower sees it: each step done or not (and when), the next step, what is missing."""
        return self._state(self.funnel(brand_id, borrower_id))

    def borrower_view(self, brand_id: UUID, borrower_id: UUID) -> BorrowerView:
        """What a signed-in borrower's page needs of their funnel, from one load: its state, their current application
        (`application_id`) and the record they see (`own_record`)."""
        funnel = self.funnel(brand_id, borrower_id)
        return BorrowerView(self._state(funnel), self._current_application(funnel), self.record_shown(funnel))

    def _state(self, funnel: Funnel) -> FunnelState:
        brand_id = funnel.brand_id
        rules = self.brands.rules(brand_id)
        required = rules.required()
        steps = [
            StepState(s, s in required, s in funnel.done, funnel.done.get(s), funnel.sent_back.get(s)) for s in STEPS
        ]
        again = self.reapply_standing(funnel, rules) if self._loans is not None else None
        return FunnelState(
            borrower_id=funnel.id,
            phone=funnel.phone,
            status=funnel.status,
            customer_id=funnel.customer_id,
            steps=steps,
            next_step=funnel.next_step(rules) if funnel.status is FunnelStatus.IN_PROGRESS else None,
            missing=funnel.missing(rules),
            started_at=funnel.started_at,
            updated_at=funnel.touched_at,
            reason=funnel.reason,
            version=funnel.version,
            closed_at=funnel.closed_at,
            closed_by=funnel.closed_by,
            may_apply_from=again.may_apply_from if again is not None else None,
            can_apply_again=again is not None and again.allowed,
        )

    def own_record(self, brand_id: UUID, borrower_id: UUID) -> UUID | None:
        """The Customer 360 record whose data the signed-in borrower sees and acts on through the portal (its
        documents and document requests, re-loan offers, covenants, loans): `record_shown`."""
        return self.record_shown(self.funnel(brand_id, borrower_id))

    def record_seen(self, brand_id: UUID, borrower_id: UUID) -> tuple[UUID | None, bool]:
        """The funnel's record (None before the personal step) and whether it is the borrower's own (`record_shown`):
        of a record found by the PAN alone they see only what they uploaded themselves."""
        funnel = self.funnel(brand_id, borrower_id)
        return funnel.customer_id, self.record_shown(funnel) is not None

    def record_shown(self, funnel: Funnel) -> UUID | None:
        """The funnel's record when the borrower proved it theirs - signed in with its own phone (`_proven`) - else
        None: a record found by the PAN alone (anyone can type a PAN) is linked for staff to see the application
        beside it, but shows its borrower nothing of what it holds (a stranger typing someone's PAN read their KYC
        documents, accepted their re-loan offers and opened their loans)."""
        if funnel.customer_id is None or not self._proven(funnel):
            return None
        return funnel.customer_id

    def details(self, brand_id: UUID, borrower_id: UUID, step: Step) -> dict[str, Any] | None:
        """What the borrower last recorded for `step` (to fill a form again)."""
        return self.funnel(brand_id, borrower_id).details.get(step)

    def funnel_loan_number(self, brand_id: UUID, borrower_id: UUID) -> str | None:
        """The loan number of the application the funnel's loan request started or submitted (None: none yet)."""
        details = self.funnel(brand_id, borrower_id).details
        raw = (details.get(Step.LOAN_REQUEST) or {}).get("loan_number") or (details.get(Step.SUBMITTED) or {}).get(
            "loan_number"
        )
        return str(raw) if raw else None

    def application_id(self, brand_id: UUID, borrower_id: UUID) -> UUID | None:
        """The borrower's current application: the one their loan request started, or - once their onboarding is
        finished - the last one; None while a restarted funnel has not started its new one."""
        return self._current_application(self.funnel(brand_id, borrower_id))

    @staticmethod
    def _current_application(funnel: Funnel) -> UUID | None:
        if Step.LOAN_REQUEST not in funnel.done and funnel.status is FunnelStatus.IN_PROGRESS:
            return None
        return Onboarding._last_application(funnel)

    @staticmethod
    def _last_application(funnel: Funnel) -> UUID | None:
        raw = (funnel.details.get(Step.LOAN_REQUEST) or {}).get("application_id")
        return UUID(raw) if raw else None

    # Starting again --------------------------------------------------------------------------------------------

    def reapply_standing(self, funnel: Funnel, rules: FunnelRules) -> Reapply | None:
        """Whether and from when the borrower of a finished funnel (submitted, or closed as rejected) may start a new
        application (domain/onboarding/reapply.py); None while the funnel is in progress."""
        if funnel.status is FunnelStatus.IN_PROGRESS:
            return None
        closed_on = None
        if funnel.status is FunnelStatus.REJECTED:
            # a funnel closed before the close recorded its business date: the close's date in the brand's timezone
            closed_on = funnel.closed_on or business_date(funnel.closed_at or funnel.touched_at, rules.timezone)
        application = self._last_application(funnel)
        status = self.loans.status(funnel.brand_id, application) if application is not None else None
        history = self.loans.history(funnel.brand_id, funnel.customer_id) if funnel.customer_id else None
        return standing(
            closed_on=closed_on,
            application_id=application,
            application_status=status,
            history=history or LoanHistory(),
            cooldown_days=rules.rejection_cooldown_days,
            today=rules.today(self.clock.now()),
        )

    def _restart_if_finished(self, funnel: Funnel, rules: FunnelRules, now: datetime) -> None:
        """A finished funnel restarts (in memory: the caller's commit records it) when the borrower may apply again;
        otherwise the 409 saying what must happen first or from which day (`may_apply_from`)."""
        again = self.reapply_standing(funnel, rules) if self._loans is not None else None
        if again is None:  # in progress (or no loans context to ask: the funnel's own 409 stands)
            return
        refusal = again.refusal()
        if refusal is not None:
            raise refusal
        funnel.restart(
            rules, now, self._last_application(funnel), keep_loan_request=again.keep_loan_request, again=again.again
        )

    def reapply(self, brand_id: UUID, borrower_id: UUID) -> CommandResult:
        """Start again after the last application ended without a loan (rejected, cancelled) or the onboarding was
        closed as rejected, from the day the brand's rejection cooldown is over, or after the loan was repaid (a
        re-loan): the loan request and submitted steps are to do again (the KYC steps stay done). 409 while the
        onboarding is in progress, while an application is open, before that day (`may_apply_from`), or after a loan
        closed as settled or written off (domain/onboarding/reapply.py)."""
        funnel = self.funnel(brand_id, borrower_id)
        if funnel.status is FunnelStatus.IN_PROGRESS:
            raise Conflict("your onboarding is in progress: continue it", status=funnel.status.value)
        self._restart_if_finished(funnel, self.brands.rules(brand_id), self.clock.now())
        return self.commit(funnel)

    def record_step(self, brand_id: UUID, borrower_id: UUID, step: Step, given: BaseModel) -> CommandResult:
        """Check and record a step (422 per field, 409 out of order; nothing recorded on a refusal), keeping the
        Customer 360 record true at the PAN and personal steps."""
        funnel = self.funnel(brand_id, borrower_id)
        now = self.clock.now()
        rules = self.brands.rules(brand_id)
        details = checked_details(step, given, rules.today(now))  # the brand's business date, as the BRE's age rule
        if step is Step.BANK_STATEMENT and details["method"] == "account_aggregator" and not rules.account_aggregation:
            raise InvalidValue("method", "this lender does not take Account Aggregator consent; upload your statements")
        self._restart_if_finished(funnel, rules, now)  # a step after a rejection starts again, from the cooldown's end
        funnel.require_can_record(step, rules)  # order and state checked before anything is written elsewhere
        self._require_own_documents(funnel, details, step)
        if step is Step.BANK_STATEMENT and details["method"] == "upload":
            details = {**details, "statement_months": self._statement_months(funnel, details, rules, now)}
        funnel.record(step, details, rules, now)
        if step is Step.PAN:
            self._customer_at_pan(funnel, details["pan"], now)
        elif step is Step.PERSONAL:
            own = [i for i, r in enumerate(details.get("references", [])) if r["phone"] == funnel.phone]
            if own:
                raise InvalidValue(f"references[{own[0]}].phone", "this is your own phone: give someone else's")
            self._customer_at_personal(funnel, details, now)
            if self.record_shown(funnel) is not None:  # a record found by the PAN alone is not given their contacts
                self._references(funnel, details.get("references", []))
        result = self.commit(funnel)
        self._start_checks(funnel, step, details)
        return result

    def consent_subject(self, brand_id: UUID, borrower_id: UUID, step: Step) -> UUID:
        """The Customer 360 record a consent round trip for `step` (DigiLocker for `aadhaar`, the Account Aggregator
        for `bank_statement`) is given for, refusing one the funnel could not record now - before a paid call to
        the provider is made: 409 before the personal step (no record yet), on a funnel not open, or naming the
        earlier step to do first."""
        funnel = self.funnel(brand_id, borrower_id)
        if funnel.customer_id is None:
            raise Conflict("finish the personal details step first: the consent is given for the borrower's record")
        funnel.require_can_record(step, self.brands.rules(brand_id))
        return funnel.customer_id

    def record_from_provider(
        self, brand_id: UUID, borrower_id: UUID, step: Step, details: dict[str, Any]
    ) -> CommandResult:
        """Record the `aadhaar` or `bank_statement` step from a consent round trip (DigiLocker, the Account
        Aggregator): the details come from the verification context's fetch, not from the borrower's form."""
        funnel = self.funnel(brand_id, borrower_id)
        now = self.clock.now()
        funnel.record(step, details, self.brands.rules(brand_id), now)
        return self.commit(funnel)

    def _start_checks(self, funnel: Funnel, step: Step, details: dict[str, Any]) -> None:
        """The KYC checks a recorded step makes possible (each records its own outcome; none refuses the step). On a
        record found by the PAN alone only the PAN is checked: the bank account and statements typed in another
        phone's funnel are kept in the funnel for staff, never put on the record (the record's newest verified account
        is where the loans staff start for it are paid out: a stranger's account, verified by their own penny drop,
        took the owner's next disbursal). The funnel's own application names the account given (`payout_account`),
        so it is paid only once staff put that account on the record and it is verified."""
        customer = funnel.customer_id
        if self.kyc is None or customer is None:
            return
        if step is Step.PERSONAL or (step is Step.PAN and Step.PERSONAL in funnel.done):
            self.kyc.verify_pan(funnel.brand_id, customer)
        elif step in (Step.BANK_ACCOUNT, Step.BANK_STATEMENT) and self.record_shown(funnel) is None:
            return
        elif step is Step.BANK_ACCOUNT:
            self.kyc.add_bank_account(
                funnel.brand_id, customer, details["account_number"], details["ifsc"], details["holder_name"]
            )
        elif step is Step.BANK_STATEMENT:
            for document in details.get("document_ids") or []:
                self.kyc.analyse_statement(funnel.brand_id, customer, UUID(document))

    def submit(self, brand_id: UUID, borrower_id: UUID, details: dict[str, Any]) -> CommandResult:
        """Record the submitted step (every required step must be done)."""
        funnel = self.funnel(brand_id, borrower_id)
        funnel.record(Step.SUBMITTED, details, self.brands.rules(brand_id), self.clock.now())
        return self.commit(funnel)

    def apply(self, brand_id: UUID, borrower_id: UUID, given: LoanRequestIn) -> AppliedLoan:
        """Start the borrower's loan application (the loan request step): every required step before it must be
        done (409), the product's rules are the loans context's (422 naming each field); nothing is recorded on a
        refusal. The step records the application's id and number. Redone before submission it changes that
        application (its number kept) rather than starting another; after a rejection it starts a new one from the
        day the brand's cooldown is over (409 with `may_apply_from` before it; `reapply`)."""
        funnel = self.funnel(brand_id, borrower_id)
        now = self.clock.now()
        rules = self.brands.rules(brand_id)
        details = checked_details(Step.LOAN_REQUEST, given, rules.today(now))
        self._restart_if_finished(funnel, rules, now)
        funnel.require_can_record(Step.LOAN_REQUEST, rules)
        earlier = funnel.details.get(Step.LOAN_REQUEST) if Step.LOAN_REQUEST in funnel.done else None
        current = self._current_application(funnel)
        status = self.loans.status(brand_id, current) if current is not None else None
        if status == LoanStatus.REJECTED.value:
            # Rejected while it was sent back to the borrower (onboarding -> rejected): a new application only from the
            # day the brand's cooldown is over, as after any rejection - it was started at once, then rejected at
            # submission by the BRE's cooldown, which began again that day.
            history = self.loans.history(brand_id, funnel.customer_id) if funnel.customer_id else LoanHistory()
            again = standing(closed_on=None, application_id=current, application_status=status, history=history,
                             cooldown_days=rules.rejection_cooldown_days, today=rules.today(now))  # fmt: skip
            refusal = again.refusal()
            if refusal is not None:
                raise refusal
        if current is not None and status != LoanStatus.ONBOARDING.value:
            current = None  # staff cancelled it meanwhile (or it was rejected, its cooldown over): another starts
        if current is not None and earlier is not None and {k: earlier.get(k) for k in details} == details:
            # The same request again (a second tap, a resent form): the application it started, not another.
            return AppliedLoan(current, earlier["loan_number"], 0)
        if funnel.customer_id is None:  # the personal step makes the record; a brand may have made it optional
            raise Conflict("finish the personal step first", next_step=Step.PERSONAL.value)
        if current is not None and earlier is not None and earlier.get(RELOAN_OFFER_ID):
            raise Conflict(  # the offer's terms are what was offered: the borrower gives their data, then submits
                f"application {earlier.get('loan_number')} is the re-loan offer you accepted: its amount and tenure "
                "are the offer's; give your latest income and bank statement, then submit it",
                application_id=str(current),
            )
        if current is not None:  # redone before submission: the same application, changed
            applied = self.loans.amend(
                brand_id, current, given.product_id, given.amount, given.tenure, details["coupon_code"]
            )
        else:
            applied = self._new_application(funnel, given, details["coupon_code"])
        asked = details
        details = {**details, "application_id": str(applied.id), "loan_number": applied.loan_number}
        if funnel.attribution is not None:  # the sign-up's UTM, carried to the application (docs/leads.md)
            details.update(funnel.attribution.model_dump(exclude_none=True))
        funnel.record(Step.LOAN_REQUEST, details, rules, now)
        self._save_loan_request(funnel, applied.id, asked, details, rules)
        return applied

    def _save_loan_request(
        self, funnel: Funnel, application: UUID, asked: dict[str, Any], details: dict[str, Any], rules: FunnelRules
    ) -> None:
        """Save the loan request step naming the application it started or changed (saved already, in the loans
        context). When another request changed the funnel first:

        - another tap of the same request recorded it, with the same application (`_new_application`): that is this
          tap's answer too (another request for the same application stays a 409, as before);
        - an unrelated change (a step redone in another tab, the loan request sent back) left the funnel with no live
          application: the step is recorded on its latest version (`SAVE_ATTEMPTS`), as if the request came a moment
          later;
        - the funnel was closed meanwhile (or now points at another live application, or refuses the step): nothing
          will ever point at this application, which would sit on the onboarding queue holding one of the product's
          `max_active_loans` (and, counted as open, stop the borrower starting again) - so it is cancelled
          (`cancel_unsubmitted`, a no-op once it is not in onboarding) and the refusal stands (409)."""
        brand_id = funnel.brand_id
        for attempt in range(SAVE_ATTEMPTS):
            try:
                self.commit(funnel)
                return
            except ConcurrentModification as conflict:
                again = self.funnel(brand_id, funnel.id)
                current = self._current_application(again)
                if current == application:
                    recorded = again.details.get(Step.LOAN_REQUEST) or {}
                    if {k: recorded.get(k) for k in asked} == asked:
                        return
                    raise
                live = current is not None and self.loans.status(brand_id, current) == LoanStatus.ONBOARDING.value
                refusal: Conflict = conflict
                if again.status is FunnelStatus.IN_PROGRESS and not live and attempt < SAVE_ATTEMPTS - 1:
                    try:
                        again.record(Step.LOAN_REQUEST, details, rules, self.clock.now())
                    except Conflict as refused:  # a step before it was sent back meanwhile
                        refusal = refused
                    else:
                        funnel = again
                        continue
                if again.status is FunnelStatus.REJECTED:
                    why = f"{CLOSED_ONBOARDING}{again.reason}"
                    refusal = Conflict(f"this onboarding was closed: {again.reason}", status=again.status.value)
                else:
                    why = "the loan request was not recorded: the onboarding changed at the same moment"
                if self.loans.cancel_unsubmitted(brand_id, application, why):
                    log.info(
                        "onboarding.unrecorded_application_cancelled",
                        brand_id=str(brand_id),
                        borrower_id=str(funnel.id),
                        application_id=str(application),
                        funnel_status=again.status.value,
                    )
                raise refusal from conflict

    def _new_application(self, funnel: Funnel, given: LoanRequestIn, coupon_code: str | None) -> AppliedLoan:
        """A new application for the loan request, its id named by the funnel's version: two taps of the same
        request at once (both read the funnel before either recorded the step) name the same application, so one
        starts it and the other takes it up instead of starting a second one, which nothing would ever point at and
        which would hold one of the product's `max_active_loans` (docs/onboarding.md). An application a request
        started without recording the step (it failed in between) is taken up the same way by the next request."""
        assert funnel.customer_id is not None
        loan_id = uuid5(funnel.id, f"loan-request:{funnel.version}")
        owner = self.loans.owner(funnel.brand_id, loan_id)
        for again in range(1, SAVE_ATTEMPTS + 1):
            # The name is taken by an application no longer in onboarding: one the request that failed had started,
            # cancelled since by the reconciliation (`cancel_orphan`). The next name, the same for both taps.
            if owner is None or self.loans.status(funnel.brand_id, loan_id) == LoanStatus.ONBOARDING.value:
                break
            loan_id = uuid5(funnel.id, f"loan-request:{funnel.version}:{again}")
            owner = self.loans.owner(funnel.brand_id, loan_id)
        if owner is None:
            try:
                return self.loans.apply(
                    funnel.brand_id, funnel.customer_id, given.product_id, given.amount, given.tenure, coupon_code,
                    loan_id=loan_id,
                )  # fmt: skip
            except (Conflict, InvalidInput):
                # Refused as a second application (the id taken, or the borrower's open loans counted with it)
                # because the other tap started it: take it up; any other refusal stands.
                owner = self.loans.owner(funnel.brand_id, loan_id)
                if owner is None:
                    raise
        if owner != funnel.customer_id:
            raise Conflict("the application for this loan request belongs to another borrower")
        return self.loans.amend(
            funnel.brand_id, loan_id, given.product_id, given.amount, given.tenure, coupon_code
        )  # fmt: skip

    def submit_application(self, brand_id: UUID, borrower_id: UUID, loan_id: UUID) -> AppliedLoan:
        """Submit the borrower's own application through the BRE and record the submitted step (another borrower's
        application is a 404, checked first and writing nothing; 409 while a required step is missing)."""
        funnel = self.funnel(brand_id, borrower_id)
        self.require_own_application(funnel, loan_id)  # another borrower's: 404 before anything about this funnel
        funnel.require_can_record(Step.SUBMITTED, self.brands.rules(brand_id))
        if self.kyc is not None and funnel.customer_id is not None:
            self.kyc.pull_bureau(brand_id, funnel.customer_id)  # the credit facts the BRE reads
        submitted = self.loans.submit(brand_id, loan_id, self.payout_account(funnel))
        self._save_submission(funnel, {"application_id": str(loan_id), "loan_number": submitted.loan_number})
        return submitted

    def _save_submission(self, funnel: Funnel, details: dict[str, Any]) -> CommandResult:
        """Record the submitted step of the application the loans context has just submitted. The application is on
        the staff queues now, so the funnel must say so: when another request changed the funnel first (the borrower
        redoing a step in another tab, staff sending one back) the step is recorded on the funnel's latest version
        (`SAVE_ATTEMPTS`); found recorded already (the job's reconciliation), it is left as it is."""
        for attempt in range(SAVE_ATTEMPTS):
            if attempt:
                funnel = self.funnel(funnel.brand_id, funnel.id)
                recorded = funnel.details.get(Step.SUBMITTED) or {}
                if (
                    funnel.status is FunnelStatus.COMPLETED
                    and recorded.get("application_id") == details["application_id"]
                ):
                    return CommandResult(id=funnel.id, position=0, changed=False)
            funnel.record_submission(details, self.clock.now())
            try:
                return self.commit(funnel)
            except ConcurrentModification:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def submit_reloan(self, brand_id: UUID, borrower_id: UUID, loan_id: UUID) -> AppliedLoan:
        """Submit through the BRE the application the borrower's acceptance of a re-loan offer started (spec "Step 7
        Re-Loan": the KYC is on file). Their funnel is completed, so it records no step; the bureau is pulled
        afresh as at the submitted step. Another borrower's application is a 404; a submitted one a 409."""
        funnel = self.funnel(brand_id, borrower_id)
        self.require_own_application(funnel, loan_id)
        if self.kyc is not None and funnel.customer_id is not None:
            self.kyc.pull_bureau(brand_id, funnel.customer_id)  # the credit facts the BRE reads
        return self.loans.submit(brand_id, loan_id, self.payout_account(funnel))

    def payout_account(self, funnel: Funnel) -> UUID | None:
        """The bank account the funnel's application is to be paid out to: the one the borrower last gave at the bank
        account step (redone before submitting, or after a send-back), named by the id the verification context gives
        it - whether that step added it or found it on file already. The loans context records it with the submission
        and pays only it, once verified (`Agreements.payout_account`); it used to pay the record's newest verified
        account, so an account given again stayed behind the one it replaced. None when the step was not given (the
        brand does not ask for it) or there is no verification context: the record's newest verified account then."""
        given = funnel.details.get(Step.BANK_ACCOUNT)
        if given is None or Step.BANK_ACCOUNT not in funnel.done or funnel.customer_id is None or self.kyc is None:
            return None
        return self.kyc.bank_account_id(funnel.brand_id, funnel.customer_id, given["account_number"], given["ifsc"])

    def ask_again_for_reloan(self, brand_id: UUID, borrower_id: UUID, loan_id: UUID, offer_id: UUID) -> Step | None:
        """When the brand's `reloan_refresh_days` asks for it (`reapply.offer_asks_again`: the bank statement on file
        is older than that), open the borrower's finished funnel for the application their acceptance of the re-loan
        offer `offer_id` started (the funnel's loan request is that application's: its product, amount, tenure and
        number): their income and bank statement (`REFRESHED`) are to give again, then the submitted step submits
        that application. The step they are asked for next; None when the brand does not ask (the caller submits
        the application at once), or the funnel is in progress (a new application of their own: it asks for its own
        steps)."""
        for attempt in range(SAVE_ATTEMPTS):
            funnel = self.funnel(brand_id, borrower_id)
            self.require_own_application(funnel, loan_id)
            rules, now = self.brands.rules(brand_id), self.clock.now()
            if not self._offer_asks_again(funnel, rules, now):
                return None
            request = self._offer_request(brand_id, loan_id, offer_id)
            funnel.take_offer(rules, now, request, REFRESHED, self._last_application(funnel))
            try:
                self.commit(funnel)
            except ConcurrentModification:  # the borrower or staff changed the funnel meanwhile: look again
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
            else:
                return next((s for s in rules.required() if s not in funnel.done), Step.SUBMITTED)
        raise AssertionError("unreachable")  # pragma: no cover

    def _offer_request(self, brand_id: UUID, loan_id: UUID, offer_id: UUID) -> dict[str, Any]:
        """The loan request step's details of the application the re-loan offer `offer_id` started (its product,
        amount, tenure and number, the offer's id and the application's)."""
        asked = self.loans.request(brand_id, loan_id)
        if asked is None:  # gone between the two reads (it never is: applications are not deleted)
            raise ApplicationNotFound(f"application {loan_id} not found", id=str(loan_id))
        return {**asked.details(), RELOAN_OFFER_ID: str(offer_id), "application_id": str(loan_id)}

    def send_back_reloan(
        self, brand_id: UUID, customer_id: UUID, loan_id: UUID, offer_id: UUID, step: Step, reason: str
    ) -> CommandResult:
        """The loans context sent back to the borrower the application their acceptance of the re-loan offer
        `offer_id` started, `step` to do again (the submitted step: submit it again). No step of a funnel made that
        application (it went to the BRE at once, KYC on file), so no funnel of it was there to reopen and the borrower
        was left with an application waiting for them and nothing to act on. The funnel of the record's own phone
        (the borrower who sees the record and its offers, `record_shown`) is opened for it, as `ask_again_for_reloan`
        opens it - its loan request that application, the offer's terms kept - with `step` sent back and the reason
        (`Funnel.take_offer_sent_back`): their `me` shows it, they redo the step and submit the same application.
        A funnel whose application it is already (the brand asked again for bank data on accepting) reopens the step
        as any send back does. 404 when the record's borrower never signed in or the application is not theirs;
        409 when their funnel is in progress with another application, or for a step it cannot reopen (not done,
        the mobile step, the offer's loan request: the caller falls back to the submitted step). Nothing is
        recorded on a refusal; a change saved on the funnel meanwhile is retried on its latest version."""
        why = " ".join(_send_back_reason(reason).split())[:500]

        def reopen() -> CommandResult:
            record = self.customers.get(brand_id, customer_id)
            phone = getattr(record, "phone", None)
            if not phone:
                raise BorrowerNotFound("the borrower has no phone to sign in with", customer_id=str(customer_id))
            funnel = self.funnel(brand_id, funnel_id(account_id(brand_id, phone)))
            self.require_own_application(funnel, loan_id)  # the record's, so shown to them: the phone is its own
            rules, now = self.brands.rules(brand_id), self.clock.now()
            if self._current_application(funnel) == loan_id:  # the funnel's own application: an ordinary send back
                funnel.reopen(step, why, rules, now)
            else:
                request = self._offer_request(brand_id, loan_id, offer_id)
                funnel.take_offer_sent_back(rules, now, request, step, why, self._last_application(funnel))
            return self.commit(funnel)

        return retried(reopen, SAVE_ATTEMPTS)

    def reloan_asks_again(self, funnel: Funnel) -> bool:
        """Whether accepting a re-loan offer now would ask the funnel's borrower for their income and bank statement
        first (`ask_again_for_reloan`), for the offer as the borrower sees it (the caller has loaded their funnel)."""
        return self._offer_asks_again(funnel, self.brands.rules(funnel.brand_id), self.clock.now())

    @staticmethod
    def _offer_asks_again(funnel: Funnel, rules: FunnelRules, now: datetime) -> bool:
        if funnel.status is FunnelStatus.IN_PROGRESS:  # a new application of their own asks for its own steps
            return False
        given_on = funnel.given_on(Step.BANK_STATEMENT, rules.timezone)
        return offer_asks_again(given_on, rules.today(now), rules.reloan_refresh_days)

    def application_of(self, brand_id: UUID, borrower_id: UUID, loan_id: UUID) -> UUID:
        """`loan_id` when it is an application of the borrower (ApplicationNotFound otherwise)."""
        self.require_own_application(self.funnel(brand_id, borrower_id), loan_id)
        return loan_id

    def require_own_application(self, funnel: Funnel, loan_id: UUID) -> None:
        """ApplicationNotFound (404) unless the loan is the funnel's borrower's: the application this funnel made,
        or any loan of their record once it is theirs (`record_shown`: not a record found by the PAN alone)."""
        mine = funnel.customer_id is not None and self.loans.owner(funnel.brand_id, loan_id) == funnel.customer_id
        if not mine or (loan_id != self._last_application(funnel) and self.record_shown(funnel) is None):
            raise ApplicationNotFound(f"application {loan_id} not found", id=str(loan_id))

    def upload_document(
        self,
        brand_id: UUID,
        borrower_id: UUID,
        kind: str,
        filename: str,
        data: bytes,
        *,
        period_from: str | None = None,
        period_to: str | None = None,
    ) -> CommandResult:
        """Store a document the borrower uploads (their Customer 360 record is made at the personal step: 409
        before it); a bank statement may say the months it covers ("YYYY-MM", 422 naming the field)."""
        funnel = self.funnel(brand_id, borrower_id)
        if funnel.customer_id is None:
            raise Conflict("finish the personal step first: documents belong to your record", next_step="personal")
        if self.documents is None:
            raise LookupError("the onboarding application was built without its document shelf")
        return self.documents.upload(
            brand_id, funnel.customer_id, kind, filename, data, period_from=period_from, period_to=period_to
        )

    def _require_own_documents(self, funnel: Funnel, details: dict[str, Any], step: Step) -> None:
        """The documents a step names must be the borrower's own uploads, and the Aadhaar and selfie steps' of their
        kind (422 naming the field otherwise: a PAN card is no Aadhaar copy)."""
        named = [("document_id", details.get("document_id"))]
        named += [(f"document_ids[{i}]", d) for i, d in enumerate(details.get("document_ids") or [])]
        for field, raw in named:
            if raw is None:
                continue
            owner = self.documents.owner(funnel.brand_id, UUID(raw)) if self.documents is not None else None
            if funnel.customer_id is None or owner != funnel.customer_id:
                raise InvalidValue(field, "upload the document first (POST /api/v1/borrower/documents)")
            kinds = STEP_DOCUMENT_KINDS.get(step)
            kind = self.documents.kind(funnel.brand_id, UUID(raw)) if self.documents is not None else None
            if kinds is not None and kind not in kinds:
                shown = (kind or "document").replace("_", " ")
                raise InvalidValue(field, f"this is a {shown}: upload it as kind {' or '.join(sorted(kinds))}")

    def _statement_months(
        self, funnel: Funnel, details: dict[str, Any], rules: FunnelRules, now: datetime
    ) -> dict[str, Any]:
        """How the listed statements cover the brand's `bank_statement_months` complete months before its business
        date (`FunnelRules.today`: the configured `business_date`, else today in its timezone): 422
        naming `document_ids` with the missing months when every statement said its months and some are missing;
        statements without their months are accepted and listed as `period_not_given` (staff check them). A listed
        document of another kind, or a rejected statement, is a 422 naming it (`document_ids[i]`)."""
        assert self.documents is not None  # _require_own_documents found every document through it
        ids = [UUID(raw) for raw in details.get("document_ids") or []]
        # Only statements count: another kind, or a statement staff rejected, would otherwise pass as a statement
        # "without its months" and be given the benefit of the doubt below.
        refusals = [(i, self.documents.statement_refusal(funnel.brand_id, d)) for i, d in enumerate(ids)]
        problems = [FieldError(f"document_ids[{i}]", why) for i, why in refusals if why is not None]
        if problems:
            raise InvalidInput(problems)
        periods = [self.documents.statement_period(funnel.brand_id, d) for d in ids]
        coverage = statement_coverage(periods, rules.today(now), rules.bank_statement_months)
        if refused_coverage(coverage):
            raise InvalidValue("document_ids", coverage.shortfall())
        return {
            "required": [str(m) for m in coverage.required],
            "covered": [str(m) for m in coverage.covered],
            "missing": [str(m) for m in coverage.missing],
            "period_not_given": [str(d) for d, p in zip(ids, periods, strict=True) if p is None],
        }

    def send_back(
        self,
        brand_id: UUID,
        borrower_id: UUID,
        step: Step,
        reason: str,
        expected_version: int | None = None,
        *,
        application_sent_back: bool = False,
    ) -> CommandResult:
        """Staff re-open a done step: the borrower resumes there (409 when the funnel is no longer at
        `expected_version`, If-Match). Without a version, a change saved on the funnel meanwhile (the borrower
        redoing a step) is not a refusal: the step is re-opened on the funnel as it now is (SAVE_ATTEMPTS in all).
        A submitted funnel reopens only with its application (`application_sent_back`: the loans context's send back
        to the borrower); staff sending a step of it back is a 409 - its application is with credit, and the borrower,
        redoing the step, could not submit it again (the send-back was then lost)."""

        def reopen() -> CommandResult:
            funnel = self.funnel(brand_id, borrower_id)
            self.check_version(funnel, expected_version)
            if funnel.status is FunnelStatus.COMPLETED and not application_sent_back:
                raise Conflict(
                    "the borrower has submitted their application: send the application back to them from the loan "
                    "page, which reopens the step",
                    status=str(funnel.status),
                )
            why = _send_back_reason(reason)
            funnel.reopen(step, " ".join(why.split())[:500], self.brands.rules(brand_id), self.clock.now())
            return self.commit(funnel)

        return reopen() if expected_version is not None else retried(reopen, SAVE_ATTEMPTS)

    def close_funnel(
        self, brand_id: UUID, borrower_id: UUID, reason: str, expected_version: int | None = None
    ) -> CommandResult:
        """Staff close an unfinished funnel as rejected, with the reason (its application in onboarding cancelled; the
        close records who closed it). Refused before anything is written: 422 naming `reason` (under 3 visible
        characters), 409 when the funnel is closed already or submitted (`Funnel.require_closable`) or is no longer at
        `expected_version` (If-Match), 404 for another brand's borrower."""
        why = clean_text(
            reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
        )
        funnel = self.funnel(brand_id, borrower_id)
        self.check_version(funnel, expected_version)
        funnel.require_closable()
        return self._close(funnel, " ".join(why.split())[:500])

    def close_inactive(self, brand_id: UUID, borrower_id: UUID, before: datetime, reason: str) -> CommandResult:
        """Close the funnel when it is unfinished and untouched since before `before` (else nothing changes)."""
        funnel = self.funnel(brand_id, borrower_id)
        if funnel.status is not FunnelStatus.IN_PROGRESS or funnel.touched_at >= before:
            return CommandResult(id=funnel.id, position=0, changed=False)
        return self._close(funnel, reason)

    def _close(self, funnel: Funnel, reason: str) -> CommandResult:
        """Close the funnel as rejected, first cancelling its application still in onboarding (the loan request made,
        not submitted - or sent back to the borrower): a closed onboarding's application leaves the staff queues.

        Two saves in two contexts (two applications, two event stores: no one transaction holds both). The cancel comes
        first and is safe to repeat (an application no longer in onboarding is left as it is). Once the funnel points
        at an application that is cancelled - by this close, or by an earlier one that failed before its funnel save -
        the close finishes: when another request changed the funnel after it was read (the borrower redoing a step or
        making a new loan request, staff sending a step back), the close is made again on the funnel's latest version,
        cancelling the application that one points at (a new request's), up to `SAVE_ATTEMPTS` times. Closed or
        submitted meanwhile, the latest version's 409 (`require_closable`) stands; restarted meanwhile (a new
        onboarding), the conflict stands. What no retry covers - the process dying between the two saves, every retry
        losing its race - the reconciliation finishes (`finish_close`), so no funnel stays open over an application a
        close cancelled. Before, a borrower acting between the two saves left just that: their submit refused, their
        next loan request starting another application. A funnel with no application to cancel writes nothing before
        its save, so a conflict there is a 409 as before (nothing to finish).

        An application submitted meanwhile (the borrower's submit between this read of the funnel and the cancel, or
        staff submitting it for them) is the credit team's now: a 409, the funnel left open, rather than a funnel
        closed as rejected over an application pending on the queues (the borrower's submit then fails on the
        funnel's version, so neither would say so)."""
        now = self.clock.now()
        today = self.brands.rules(funnel.brand_id).today(now)
        read = funnel
        finishing = False  # the funnel points at an application cancelled (by this close or an earlier one)
        for attempt in range(SAVE_ATTEMPTS):
            finishing = self._cancel_for_close(funnel, reason) or finishing
            funnel.close(reason, now, today)
            try:
                return self.commit(funnel)
            except ConcurrentModification:
                if not finishing or attempt == SAVE_ATTEMPTS - 1:
                    raise
                funnel = self.funnel(read.brand_id, read.id)
                funnel.require_closable()  # closed (by another close) or submitted meanwhile: its 409
                if funnel.restarts != read.restarts:  # closed and started again meanwhile: a new onboarding
                    raise
                log.info(
                    "onboarding.close_retried",
                    brand_id=str(funnel.brand_id),
                    borrower_id=str(funnel.id),
                    attempt=attempt,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _cancel_for_close(self, funnel: Funnel, reason: str) -> bool:
        """Cancel the funnel's application still in onboarding with the close's reason; whether the funnel points at an
        application that is cancelled now (so the close must finish). 409 when that application was submitted."""
        if funnel.status is not FunnelStatus.IN_PROGRESS or self._loans is None:
            return False
        application = self._current_application(funnel)
        if application is None:
            return False
        if self.loans.cancel_unsubmitted(funnel.brand_id, application, f"{CLOSED_ONBOARDING}{reason}"):
            return True
        status = self.loans.status(funnel.brand_id, application)
        if status is not None and LoanStatus(status) not in CLOSED:
            raise Conflict(
                "this onboarding's application was submitted, so it is not closed here: cancel or reject "
                "the application instead",
                application_id=str(application),
                application_status=status,
            )
        return status == LoanStatus.CANCELLED.value

    # Reconciliation (the onboarding-inactive job) ----------------------------------------------------------------

    def sync_submission(self, brand_id: UUID, borrower_id: UUID) -> CommandResult:
        """A funnel in progress whose application the loans context has submitted (its status past onboarding, and
        not cancelled) records the submitted step, as the borrower's submit would have: a submit that failed between
        its two saves (the process died, or every retry lost its race), or staff submitting the application on the
        loan. Anything else changes nothing (`changed` False); safe to repeat."""
        return retried(lambda: self._sync_submission(brand_id, borrower_id), SAVE_ATTEMPTS)

    def _sync_submission(self, brand_id: UUID, borrower_id: UUID) -> CommandResult:
        funnel = self.funnel(brand_id, borrower_id)
        unchanged = CommandResult(id=funnel.id, position=0, changed=False)
        application = self._current_application(funnel)
        if funnel.status is not FunnelStatus.IN_PROGRESS or application is None:
            return unchanged
        status = self.loans.status(brand_id, application)
        if status is None or status in (LoanStatus.ONBOARDING.value, LoanStatus.CANCELLED.value):
            return unchanged
        number = (funnel.details.get(Step.LOAN_REQUEST) or {}).get("loan_number")
        funnel.record_submission({"application_id": str(application), "loan_number": number}, self.clock.now())
        return self.commit(funnel)

    def cancel_orphan(self, brand_id: UUID, borrower_id: UUID, loan_id: UUID) -> CommandResult:
        """Cancel an application still in onboarding whose borrower's funnel is closed, with the close's reason (as
        the close cancels its own): a loan request that raced the close and could not compensate, or an
        application left by a close made before closes cancelled theirs. The caller (the job) finds the pair on
        the read models, where no funnel of the borrower is in progress; this checks it on the aggregates: the
        funnel closed, the application the funnel's borrower's. Anything else changes nothing; safe to repeat."""
        funnel = self.funnel(brand_id, borrower_id)
        unchanged = CommandResult(id=loan_id, position=0, changed=False)
        if funnel.status is not FunnelStatus.REJECTED or funnel.customer_id is None:
            return unchanged
        if self.loans.owner(brand_id, loan_id) != funnel.customer_id:
            return unchanged
        cancelled = self.loans.cancel_unsubmitted(brand_id, loan_id, f"{CLOSED_ONBOARDING}{funnel.reason}")
        return CommandResult(id=loan_id, position=0, changed=cancelled)

    def finish_close(self, brand_id: UUID, borrower_id: UUID, loan_id: UUID) -> CommandResult:
        """Close a funnel still in progress whose application a close cancelled, with that close's reason, as the
        caller (the inactivity job: the event log says who wrote each fact; who asked for the close is the
        actor of the application's `Cancelled` event): a close whose funnel save never landed (the
        process died between its two saves, or every retry lost its race with the borrower). The caller (the job)
        finds the pair on the read models; this checks it on the aggregates: the funnel in progress and pointing at
        the application, the application cancelled by a close (`CLOSED_ONBOARDING`). Anything else changes nothing;
        safe to repeat."""
        return retried(lambda: self._finish_close(brand_id, borrower_id, loan_id), SAVE_ATTEMPTS)

    def _finish_close(self, brand_id: UUID, borrower_id: UUID, loan_id: UUID) -> CommandResult:
        funnel = self.funnel(brand_id, borrower_id)
        unchanged = CommandResult(id=funnel.id, position=0, changed=False)
        if funnel.status is not FunnelStatus.IN_PROGRESS or self._current_application(funnel) != loan_id:
            return unchanged
        cancelled = self.loans.cancel_reason(brand_id, loan_id)
        if cancelled is None or not cancelled.startswith(CLOSED_ONBOARDING):
            return unchanged  # in onboarding, submitted, or cancelled on the loan by staff: the borrower goes on
        now = self.clock.now()
        reason = cancelled.removeprefix(CLOSED_ONBOARDING)
        funnel.close(reason, now, self.brands.rules(brand_id).today(now))  # as the caller: who finishes it
        return self.commit(funnel)

    # Customer 360 ----------------------------------------------------------------------------------------------

    def _customer_at_pan(self, funnel: Funnel, pan: str, now: datetime) -> None:
        if funnel.customer_id is None:
            owner = self.customers.owner_of(funnel.brand_id, "pan", pan)
            if owner is not None:
                funnel.link_customer(owner, LinkedBy.PAN, now)
            return
        if self._proven(funnel):
            self.customers.update_details(funnel.brand_id, funnel.customer_id, pan=pan)

    def _references(self, funnel: Funnel, references: list[dict[str, str]]) -> None:
        """The personal step's references as alternate phones of the borrower's record (labelled "relation: name"),
        each once: a phone the record has already (primary or alternate) is left as it is, and the record's limit on
        alternate phones is kept (the rest are in the funnel's details, for staff to see)."""
        if not references or funnel.customer_id is None:
            return
        brand_id, customer_id = funnel.brand_id, funnel.customer_id
        record = self.customers.get(brand_id, customer_id)
        for reference in references:
            phone = reference["phone"]
            if phone == record.phone or phone in record.alternate_phones:
                continue
            label = f"{reference['relation']}: {reference['name']}"
            try:  # a change saved on the record meanwhile (staff editing it) is not a refusal: added to it as it is now
                retried(partial(self.customers.add_alternate_phone, brand_id, customer_id, phone, label), SAVE_ATTEMPTS)
            except ConcurrentModification:
                raise  # still racing after the retries: a 409, and the step taken again adds what is missing
            except Conflict as refused:
                if refused.details.get("phone") == phone:
                    continue  # added meanwhile (the same step sent twice at once)
                return  # at the record's most alternate phones

    def _proven(self, funnel: Funnel) -> bool:
        """The borrower signed in with the linked record's own phone (the OTP proved it). A record found by PAN
        alone is not theirs to rewrite: anyone can type a PAN."""
        assert funnel.customer_id is not None
        return bool(self.customers.get(funnel.brand_id, funnel.customer_id).phone == funnel.phone)

    def _owner(self, brand_id: UUID, phone: str, pan: str | None) -> UUID | None:
        """The brand's record holding the borrower's phone, else their PAN, if any."""
        owner = self.customers.owner_of(brand_id, "phone", phone)
        if owner is None and pan:
            owner = self.customers.owner_of(brand_id, "pan", pan)
        return owner

    def _customer_at_personal(self, funnel: Funnel, details: dict[str, Any], now: datetime) -> None:
        brand_id = funnel.brand_id
        pan = funnel.details.get(Step.PAN, {}).get("pan")
        born = date.fromisoformat(details["date_of_birth"])
        given = [Address.model_validate(a) for a in details["addresses"]]
        if funnel.customer_id is None:
            owner = self._owner(brand_id, funnel.phone, pan)
            if owner is None:
                try:
                    created = self.customers.register(
                        brand_id,
                        name=details["name"],
                        phone=funnel.phone,
                        pan=pan,
                        email=details["email"],
                        date_of_birth=born,
                        addresses=given,
                    )
                except DuplicateCustomer:
                    # The phone or PAN was claimed since we looked: by this borrower's other tap of the step at the
                    # same moment (or staff registering them). That record is theirs, as it would have been had we
                    # looked a moment later - not "registered with another account"; the funnel's commit then
                    # tells the slower tap the step changed meanwhile.
                    owner = self._owner(brand_id, funnel.phone, pan)
                    if owner is None:
                        raise
                else:
                    funnel.link_customer(created.id, LinkedBy.CREATED, now)
                    return
            funnel.link_customer(owner, LinkedBy.PHONE, now)
        assert funnel.customer_id is not None
        customer_id = funnel.customer_id
        # Pinned to the record as read: an address or detail staff save in between is not dropped - read again.
        retried(partial(self._details_onto_record, funnel, customer_id, details, born, given, pan), SAVE_ATTEMPTS)

    def _details_onto_record(
        self,
        funnel: Funnel,
        customer_id: UUID,
        details: dict[str, Any],
        born: date,
        given: list[Address],
        pan: str | None,
    ) -> None:
        """The personal step's details onto the record as it is now, saved only onto that version."""
        brand_id = funnel.brand_id
        record = self.customers.get(brand_id, customer_id)
        if record.phone != funnel.phone:
            # Linked by PAN alone: what staff recorded stays; only what the record lacks is filled in (the funnel
            # keeps what the borrower said, and the PAN check compares the name).
            have = {a.kind for a in record.addresses}
            fill: dict[str, Any] = {"email": details["email"]} if not record.email else {}
            if record.date_of_birth is None:
                fill["date_of_birth"] = born
            if any(a.kind not in have for a in given):
                fill["addresses"] = [*record.addresses, *(a for a in given if a.kind not in have)]
            if fill:
                self.customers.update_details(brand_id, customer_id, expected_version=record.version, **fill)
            return
        kinds = {a.kind for a in given}
        kept = [a for a in getattr(record, "addresses", []) if a.kind not in kinds]
        self.customers.update_details(
            brand_id,
            customer_id,
            expected_version=record.version,
            name=details["name"],
            email=details["email"],
            date_of_birth=born,
            addresses=[*given, *kept],
            pan=pan,
        )


__all__ = ["Onboarding", "Throttled"]
