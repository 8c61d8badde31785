"""Customer pages: the directory and its search (and whose borrowers: one agent's, mine, nobody's), the Customer 360
(with the notes on the record and the form to write one, the owning agent and the form to move the borrower to
another, the form stating a bank statement's months when its upload did not), and registering a borrower."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.actors import actor_names
from api.pages.placed_calls import placed_call
from api.routes.customers import AGENT_ME, AGENT_NONE, agent_filter, registering_agent
from api.services.borrower_loans import borrower_loans
from api.services.documents import DocumentDesk
from api.services.engagement import Engagement
from api.web import (
    PENDING,
    Page,
    act,
    after_write,
    caught_up,
    changed_since,
    error_page,
    error_text,
    form_instant,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.customers.values import Address
from domain.documents.application import Documents
from domain.documents.document_request import REQUESTABLE
from domain.engagement.templates import Channel, Kind, Language
from domain.fieldwork.application import FieldWork
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.shared.application import CommandResult, ConcurrentModification
from domain.shared.errors import Conflict, DomainError, FieldError, InvalidInput, InvalidValue, NotFound
from domain.shared.values import whole_number
from projections.blocklist import BlocklistQueries
from projections.borrower_loans import BorrowerLoanQueries
from projections.callbacks import CallbackQueries
from projections.covenant_queries import CovenantQueries
from projections.customer_notes import CustomerNoteQueries
from projections.customer_queries import CustomerQueries
from projections.documents import DocumentQueries
from projections.identity import IdentityQueries, StaffView
from projections.notice_feed import NoticeFeedQueries
from projections.notice_queries import Scope
from projections.verification_queries import VerificationQueries

READ = (Permission.CUSTOMER, Level.READ)
WRITE = (Permission.CUSTOMER, Level.WRITE)
NOTE = (Permission.CUSTOMER_NOTES, Level.WRITE)
RELOCATE = (Permission.RELOCATE_USER, Level.WRITE)
#: A borrower's messaging preferences: seen with MESSAGES, changed as the API's PUT .../messaging-preferences is.
MESSAGING_READ = (Permission.MESSAGES, Level.READ)
MESSAGING_WRITE = (Permission.MESSAGES, Level.WRITE)
#: A message sent now from the 360 (the API's POST /api/v1/messages): the flash of each status it may end in.
MESSAGE_SENT_WORDS = {
    "sent": "Message sent.",
    "delivered": "Message sent and delivered.",
    "queued": "Message queued: it goes out shortly.",
    "deferred": "Message held for the quiet hours: it goes out when they end.",
    "sending": "Message on its way.",
    "failed": "The provider refused the message: see Messages for why.",
    "suppressed": "Not sent: the borrower opted out of that channel.",
}
#: Why a message to the borrower was not sent (or not yet), in words, on the messaging card's recent messages.
MESSAGE_REASON_WORDS = {
    "opted_out": "not sent: the borrower opted out of this channel",
    "no_longer_due": "not sent: no longer owed (paid, or the loan closed) while it waited",
    "superseded": "not sent: the next reminder took over while it waited",
    "quiet_hours": "held for the quiet hours",
    "no_template": "not sent: no usable template",
    "template_unsendable": "not sent: WhatsApp paused, disabled or deleted its template while it waited",
}
#: How many of the borrower's newest messages the messaging card lists (the rest: Messages to this borrower).
RECENT_MESSAGES = 5
#: The longest reason a preferences change keeps (the API's PreferencesIn.reason).
PREFERENCES_REASON_MAX = 300

#: The record's edit forms on the 360 (the API's PATCH, alternate phones and loan numbers), each answered with a
#: flash naming what was saved (`?changed=`): its words.
CHANGED_WORDS = {
    "profile": "Profile saved.",
    "address-added": "Address added.",
    "address-removed": "Address removed.",
    "phone-added": "Alternate phone added.",
    "phone-removed": "Alternate phone removed.",
    "loan-linked": "Loan number linked.",
    "loan-already": "That loan number was already linked to this borrower; nothing changed.",
    "loan-unlinked": "Loan number unlinked.",
}

#: The profile form's fields (the API's PATCH fields; addresses have their own forms).
PROFILE_FIELDS = ("name", "phone", "email", "pan", "date_of_birth")

#: The address form's fields (the API's AddressIn).
ADDRESS_FIELDS = ("kind", "line1", "line2", "city", "state", "pincode")

#: The staff the agent choices list (the brand's first, by name).
AGENT_CHOICES = 200

#: Notes the 360 shows per page (newest first; "Older notes" pages on).
NOTES_PER_PAGE = 20

#: The registration form's fields, as the form names them.
FORM_FIELDS = ("name", "phone", "pan", "email", "date_of_birth", "loan_number", "line1", "city", "pincode")


@dataclass(frozen=True)
class CustomerPagesPort:
    """What the customer pages use: the use cases, the borrower read models, and what the 360 shows beside them
    (blocklist hits, covenants, repayment notices, the document checklist, the names of the staff in its
    timeline)."""

    customers: Customers
    queries: CustomerQueries
    blocklist: BlocklistQueries
    covenants: CovenantQueries
    notices: NoticeFeedQueries
    identity: Identity
    verification: VerificationQueries
    documents: DocumentQueries
    loans: Loans
    borrower_loans: BorrowerLoanQueries
    desk: DocumentDesk
    notes: CustomerNoteQueries
    staff: IdentityQueries
    callbacks: CallbackQueries
    document_commands: Documents
    fieldwork: FieldWork  # the collections' Call button's "Call placed" (api/pages/placed_calls.py)
    engagement: Engagement  # the borrower's messaging preferences and their form


@dataclass(frozen=True)
class PeriodRefused:
    """A bank statement's months the 360's form could not state: why, shown at that statement's form (the months
    as typed are filled in again by `kept`, api/web.py)."""

    document_id: UUID
    message: str
    fields: list[str]


@dataclass(frozen=True)
class EditRefused:
    """One of the record's edit forms refused: `form` is `profile`, `address`, `alternate-phone` or `loan-number`
    (said at that form's `<form>-error`), with why (the typed values come back through `kept`)."""

    form: str
    message: str


@dataclass(frozen=True)
class VerificationRefused:
    """A verification form of the 360 refused (api/pages/verification.py): why, said at that form - `form` is
    `document` (the upload), `bank-account`, `manual-verification` (an account verified by hand), `checks` (a check
    run or retried, a penny drop retried) or `review` (a document's accept or reject, `document_id` naming its
    row). The typed values come back through `kept`."""

    form: str
    message: str
    document_id: UUID | None = None


def _agents(port: CustomerPagesPort, brand_id: UUID) -> list[StaffView]:
    """The staff who may own borrowers, as the move's use case checks (enabled, holding CUSTOMER), by name."""
    listed = port.staff.staff_list(brand_id, None, None, AGENT_CHOICES).items
    return [s for s in listed if s.enabled and Permission.CUSTOMER in s.permissions]


async def customer_directory(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    q = request.query_params.get("q", "").strip()[:100]
    raw_agent = request.query_params.get("agent", "").strip()[:40]
    try:
        agent = agent_filter(principal, raw_agent)
    except InvalidInput as exc:
        return error_page(request, 422, "Cannot use this filter", error_text(exc))

    def load() -> tuple[Any, list[StaffView]]:
        found = keyset_page(
            request, lambda cursor: port.queries.search(principal.brand_id, q or None, cursor, 25, agent)
        )
        return found, _agents(port, principal.brand_id)

    result, agents = await run_in_threadpool(load)
    return render(
        request,
        "customers.html",
        page=result,
        q=q,
        agent=raw_agent if agent is not None else "",
        agents=agents,
        agent_me=AGENT_ME,
        agent_none=AGENT_NONE,
        query=urlencode({k: v for k, v in {"q": q, "agent": raw_agent if agent else ""}.items() if v}),
        nav="customers",
    )


async def customer_360(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    return await customer_360_page(request, port, principal, customer_id)


async def customer_360_page(
    request: Request,
    port: CustomerPagesPort,
    principal: Principal,
    customer_id: UUID,
    refused: tuple[int, str] | None = None,
    period_refused: PeriodRefused | None = None,
    status: int | None = None,
    note_error: str | None = None,
    verification_refused: VerificationRefused | None = None,
    request_error: str | None = None,
    preferences_error: str | None = None,
    edit_refused: EditRefused | None = None,
    message_error: str | None = None,
) -> Response:
    """The Customer 360; `refused`: the status and text of the agent move refused (shown at the move's form),
    `period_refused`: a statement's months refused (shown at that statement's form), `note_error`: why a note was
    refused (shown at the note form), `verification_refused`: a verification form refused (shown at that form; the
    verification pages answer with this page), `request_error`: a document request (or its cancel) refused,
    `preferences_error`: the messaging preferences form refused, `message_error`: the send-a-message form refused,
    `edit_refused`: one of the record's edit forms
    refused (profile, address, alternate phone, loan number). A refused form is filled again with what was typed
    (`kept`, api/web.py)."""
    brand_id = principal.brand_id
    profile = await run_in_threadpool(port.queries.profile, brand_id, customer_id)
    if profile is None:
        if request.query_params.get("saved") == "pending":  # just registered; its read model is behind
            return render(request, "error.html", 202, title="Borrower registered", message=PENDING)
        return await not_found(request)
    notes = await run_in_threadpool(
        keyset_page, request, lambda cursor: port.notes.notes(brand_id, customer_id, None, cursor, NOTES_PER_PAGE)
    )
    # The loans a note may be about (and the numbers of those notes name), from the loans read model.
    loan_numbers = {
        row.id: row.loan_number
        for row in await run_in_threadpool(port.borrower_loans.of_customer, brand_id, customer_id)
    }
    document_requests = await run_in_threadpool(lambda: port.documents.requests(brand_id, customer_id))
    authors = {e.actor for e in profile.timeline} | {n.author for n in notes.items}
    authors |= {r.requested_by for r in document_requests}
    authors |= {o.reopened_by for r in document_requests for o in r.reopenings}
    # The agents the timeline's moves name (their ids in the entries' details), as actors are named.
    authors |= {f"staff:{e.details[k]}" for e in profile.timeline for k in ("agent_id", "previous_agent_id")
                if e.kind in ("agent_assigned", "registered") and isinstance(e.details.get(k), str)}  # fmt: skip
    preferences = None
    preference_history: list[Any] = []
    recent_messages: list[Any] = []
    if principal.holds(*MESSAGING_READ):  # language and opt-outs (docs/engagement.md), with who changed them
        try:
            preferences = await run_in_threadpool(port.engagement.preferences, brand_id, customer_id)
            # Every change, newest first (the audit entries written with each: the table keeps only the last).
            preference_history = list(
                reversed(await run_in_threadpool(port.engagement.preference_history, brand_id, customer_id))
            )
        except NotFound:  # registered a moment ago: not a recipient yet
            preferences = None
        else:  # the newest messages, so a reminder suppressed (opted out, no longer due) shows where staff look
            recent_messages = await run_in_threadpool(
                lambda: port.engagement.messages.page(brand_id, customer_id=customer_id, loan_id=None, channel=None,
                                                      status=None, after=None, limit=RECENT_MESSAGES)
            )  # fmt: skip
    if preferences is not None and preferences.changed_by:
        authors.add(preferences.changed_by)
    authors |= {h.changed_by for h in preference_history}
    actors = await run_in_threadpool(actor_names, port.identity, brand_id, authors)
    hits = await run_in_threadpool(port.blocklist.hits, brand_id, profile.blocklist_candidates())
    covenants = None
    if principal.holds(Permission.COVENANTS):
        covenants = await run_in_threadpool(
            lambda: (
                port.covenants.worklist(
                    brand_id, customer_id=customer_id, limit=100, companies=principal.companies
                ).items
            )
        )
    kyc = await run_in_threadpool(port.verification.summary, brand_id, customer_id)
    documents = await run_in_threadpool(lambda: port.documents.of_customer(brand_id, customer_id, limit=50).items)
    checklist = await run_in_threadpool(port.desk.checklist_detail, brand_id, customer_id)
    loans = None
    if principal.holds(Permission.LOANS):  # issue #15: status, DPD, class, next due, outstanding
        loans = await run_in_threadpool(borrower_loans, port.borrower_loans, port.loans, brand_id, customer_id)
    notices = None
    if principal.holds(Permission.NOTICES):
        scope = Scope.of(brand_id, principal.companies)
        notices = await run_in_threadpool(port.notices.of_customer, scope, customer_id)
    agents = None
    if principal.holds(*RELOCATE):  # the move's form lists who may own the borrower
        agents = await run_in_threadpool(_agents, port, brand_id)
    callback = None
    if principal.holds(Permission.CALLBACKS):  # the borrower's open callback request (docs/callbacks.md)
        callback = await run_in_threadpool(port.callbacks.open_for_customer, brand_id, customer_id)
    # "Call placed" (the collections' Call button) of a call this staff member placed to this borrower.
    call_placed = await placed_call(request, port.fieldwork, principal, customer_id=customer_id)
    return render(
        request,
        "customer.html",
        status or (refused[0] if refused else 200),
        c=profile,
        callback=callback,
        call_placed=call_placed,
        actors=actors,
        hits=hits,
        covenants=covenants,
        notices=notices,
        loans=loans,
        kyc=kyc,
        documents=documents,
        checklist=checklist,
        document_requests=document_requests,
        requestable=[kind.value for kind in REQUESTABLE],
        request_error=request_error,
        notes=notes,
        loan_numbers=loan_numbers,
        now=port.customers.clock.now(),
        agents=agents,
        agent_error=refused[1] if refused else None,
        period_refused=period_refused,
        note_error=note_error,
        verification_refused=verification_refused,
        preferences=preferences,
        preference_history=preference_history,
        recent_messages=recent_messages,
        message_reason_words=MESSAGE_REASON_WORDS,
        preferences_error=preferences_error,
        # After a preferences save (`?preferences=saved`): said in the messaging card, where the redirect lands.
        preferences_saved=preferences_error is None and request.query_params.get("preferences") == "saved",
        can_edit_preferences=principal.holds(*MESSAGING_WRITE),
        message_error=message_error,
        message_flash=MESSAGE_SENT_WORDS.get(request.query_params.get("message", ""))
        if message_error is None
        else None,
        kinds=[kind.value for kind in Kind],
        can_edit_record=principal.holds(*WRITE),
        edit_refused=edit_refused,
        changed_flash=CHANGED_WORDS.get(request.query_params.get("changed", "")),
        languages=[language.value for language in Language],
        channels=[channel.value for channel in Channel],
        nav="customers",
    )


def _note_form(request: Request) -> tuple[str, UUID | None, datetime | None, list[FieldError]]:
    """The note form's text, loan (a choice of the borrower's loans, or none) and callback (a local date and time in
    the brand's timezone, or none), with what is wrong with their shape (the use case checks the rest)."""
    errors: list[FieldError] = []
    loan_id = None
    if raw_loan := form_text(request, "loan_id").strip():
        try:
            loan_id = UUID(raw_loan)
        except ValueError:
            errors.append(FieldError("loan_id", "choose one of the borrower's loans"))
    callback = None
    try:
        callback = form_instant(request, "callback_at")
    except InvalidValue as exc:
        errors.extend(exc.errors)
    return form_text(request, "text"), loan_id, callback, errors


async def add_note(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    text, loan_id, callback, errors = _note_form(request)
    if errors:  # said at the note form, with the note as typed
        return await customer_360_page(
            request, port, principal, customer_id, status=422, note_error=error_text(InvalidInput(errors))
        )
    try:
        added = await act(
            principal,
            lambda: port.customers.add_note(
                principal.brand_id, customer_id, text, loan_id=loan_id, callback_at=callback
            ),
        )
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        return await customer_360_page(request, port, principal, customer_id, status=status, note_error=error_text(exc))
    return await after_write(request, Customers.name, added.position, f"/customers/{customer_id}#customer-notes")


async def move_to_agent(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    raw_agent, version = form_text(request, "agent_id").strip(), form_text(request, "version").strip()
    try:
        agent_id = UUID(raw_agent)
    except ValueError:
        return await customer_360_page(request, port, principal, customer_id, (422, "agent id: choose a staff member"))
    try:
        result = await act(
            principal,
            lambda: port.customers.assign_agent(
                principal.brand_id, customer_id, agent_id, form_text(request, "reason") or None,
                expected_version=whole_number(version),
            ),
        )  # fmt: skip
    except NotFound:
        return await not_found(request)
    except DomainError as exc:  # a stale version (another change since the page was read) is a 409
        status = refusal_status(exc)
        return await customer_360_page(request, port, principal, customer_id, (status, error_text(exc)))
    return await after_write(request, Customers.name, result.position, f"/customers/{customer_id}#customer-agent")


def _preferences_words(language: str, opted_out: tuple[str, ...] | list[str]) -> str:
    """A borrower's messaging preferences in words, for the refusal of a form opened before they changed."""
    channels = ", ".join(opted_out) if opted_out else "none"
    return f"language {language}, opted out of {channels}"


async def send_message(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """The 360's "Send a message now" form: the API's POST /api/v1/messages (MESSAGES WRITE) with the channel and
    the brand's template of the kind chosen, in the borrower's language; opt-outs and quiet hours apply. The form's
    nonce is its idempotency key, so the same form posted twice sends one message."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    raw_channel, raw_kind = form_text(request, "channel").strip(), form_text(request, "kind").strip()
    errors = []
    if raw_channel not in {channel.value for channel in Channel}:
        errors.append(FieldError("channel", "choose one of the channels listed"))
    if raw_kind not in {kind.value for kind in Kind}:
        errors.append(FieldError("kind", "choose one of the messages listed"))
    if errors:
        text = error_text(InvalidInput(errors))
        return await customer_360_page(request, port, principal, customer_id, status=422, message_error=text)
    key = f"portal:{form_text(request, 'form_nonce').strip()[:150] or uuid.uuid4().hex}"
    try:
        sent = await act(
            principal,
            lambda: port.engagement.send(
                principal.brand_id, customer_id, Channel(raw_channel), idempotency_key=key, kind=Kind(raw_kind)
            ),
        )
    except NotFound:  # another brand's borrower, or none
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        return await customer_360_page(
            request, port, principal, customer_id, status=status, message_error=error_text(exc)
        )
    return RedirectResponse(f"/customers/{customer_id}?message={sent.status}#customer-messaging", status_code=303)


async def set_preferences(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """The 360's messaging preferences form: the API's set (PUT /api/v1/customers/{id}/messaging-preferences) with
    the version the page showed, so preferences changed since are refused (409, in words with them now), nothing
    saved."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    form = request.state.form
    raw_language = form_text(request, "language").strip()
    opted_out = [value for value in form.getlist("opted_out") if isinstance(value, str)]
    reason = form_text(request, "reason").strip() or None
    errors = []
    if raw_language not in {language.value for language in Language}:
        errors.append(FieldError("language", "choose one of the languages listed"))
    if reason is not None and len(reason) > PREFERENCES_REASON_MAX:
        errors.append(FieldError("reason", f"at most {PREFERENCES_REASON_MAX} characters"))
    if errors:
        text = error_text(InvalidInput(errors))
        return await customer_360_page(request, port, principal, customer_id, status=422, preferences_error=text)
    shown = whole_number(form_text(request, "expected_version").strip())
    try:
        await act(
            principal,
            lambda: port.engagement.set_preferences(
                principal.brand_id, customer_id, Language(raw_language), opted_out, reason, principal.actor, shown
            ),
        )
    except NotFound:  # another brand's borrower, or none
        return await not_found(request)
    except ConcurrentModification:
        now = await run_in_threadpool(port.engagement.preferences, principal.brand_id, customer_id)
        message = changed_since(
            "this borrower's messaging preferences", _preferences_words(now.language, now.opted_out)
        )
        return await customer_360_page(request, port, principal, customer_id, status=409, preferences_error=message)
    except DomainError as exc:
        status = refusal_status(exc)
        return await customer_360_page(
            request, port, principal, customer_id, status=status, preferences_error=error_text(exc)
        )
    # Kept in their own table (no read model to wait for): the page shows them as saved, and says so (`?preferences=
    # saved`, as the Jobs and sync pages say a save).
    return RedirectResponse(f"/customers/{customer_id}?preferences=saved#customer-messaging", status_code=303)


def _profile_words(profile: Any) -> str:
    """A borrower's profile fields in words, for the refusal of a profile form opened before they changed."""
    born = profile.date_of_birth.isoformat() if profile.date_of_birth else "none"
    return (
        f"name {profile.name}, phone {profile.phone}, email {profile.email or 'none'}, "
        f"PAN {profile.pan_masked or 'none'}, date of birth {born}"
    )


def _address_words(addresses: list[Address]) -> str:
    """A borrower's addresses in words, for the refusal of an address form opened before they changed."""
    if not addresses:
        return "no address"
    return "; ".join(
        f"{a.kind}: " + ", ".join(part for part in (a.line1, a.line2, a.city, a.state, a.pincode) if part)
        for a in addresses
    )


async def _edit_refused(
    request: Request, port: CustomerPagesPort, principal: Principal, customer_id: UUID, form: str, exc: DomainError
) -> Response:
    """The 360 again with why one of the record's edit forms was refused, at that form (409 for a conflict, else 422;
    a stale version is said in words with the record now, the page first waiting for its read model to show the
    change that made it stale, so the form carries the version as it is now)."""
    if isinstance(exc, ConcurrentModification):
        await caught_up(request, Customers.name)
        now = await run_in_threadpool(port.queries.profile, principal.brand_id, customer_id)
        if now is not None:
            if form == "address":
                message = changed_since("this borrower's addresses", _address_words(now.addresses))
            elif form == "loan-number":  # (only the versioned Unlink: linking is not versioned)
                message = (
                    "Someone else changed this borrower's record since you opened it, so nothing was unlinked. Its "
                    f"loan numbers are now: {', '.join(now.loan_numbers) or 'none'}. Unlink again if it is still wrong."
                )
            else:
                message = changed_since("this borrower's profile", _profile_words(now))
            refused = EditRefused(form, message)
            return await customer_360_page(request, port, principal, customer_id, status=409, edit_refused=refused)
    refused = EditRefused(form, error_text(exc))
    status = refusal_status(exc)
    return await customer_360_page(request, port, principal, customer_id, status=status, edit_refused=refused)


async def _record_change(
    request: Request,
    port: CustomerPagesPort,
    principal: Principal,
    customer_id: UUID,
    form: str,
    change: Callable[[], CommandResult],
    changed: Callable[[CommandResult], str],
) -> Response:
    """Run one of the record's edit forms' use case as the staff member: saved, back to the 360 (post/redirect/get)
    with a flash (`?changed=`, CHANGED_WORDS) once its read model shows the change; refused, the 360 with why at the
    form and what was typed kept; another brand's borrower, or none, a 404."""
    try:
        result = await act(principal, change)
    except CustomerNotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _edit_refused(request, port, principal, customer_id, form, exc)
    target = f"/customers/{customer_id}?changed={changed(result)}#customer-edit"
    return await after_write(request, Customers.name, result.position, target)


def _shown_version(request: Request) -> int:
    """The record's version the form was rendered with (hidden `expected_version`); a form without one is refused
    rather than saved over whatever the record holds now."""
    version = whole_number(form_text(request, "expected_version").strip())
    if version is None:
        raise InvalidValue("expected_version", "the form is missing the record's version: reload the page")
    return version


async def edit_profile(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """The 360's profile form: the API's PATCH /api/v1/customers/{id} (name, phone, email, PAN, date of birth) with
    the version the page showed (a profile changed since is a 409 in words, nothing saved). A field left as the
    record holds it is not changed; PAN left empty keeps the PAN (the page shows it masked); an email or date of
    birth cannot be removed, only changed (as in the API, where a null is refused)."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    profile = await run_in_threadpool(port.queries.profile, principal.brand_id, customer_id)
    if profile is None:
        return await not_found(request)
    typed = {name: form_text(request, name).strip() for name in PROFILE_FIELDS}
    errors: list[FieldError] = []
    for name in ("name", "phone"):
        if not typed[name]:
            errors.append(FieldError(name, "required"))
    if not typed["email"] and profile.email:
        errors.append(FieldError("email", "an email cannot be removed, only changed"))
    born = None
    if typed["date_of_birth"]:
        try:
            born = date.fromisoformat(typed["date_of_birth"])
        except ValueError:
            errors.append(FieldError("date_of_birth", "use the date picker (YYYY-MM-DD)"))
    elif profile.date_of_birth:
        errors.append(FieldError("date_of_birth", "a date of birth cannot be removed, only changed"))
    try:
        shown = _shown_version(request)
    except InvalidValue as exc:
        errors.extend(exc.errors)
        shown = 0
    if errors:
        return await _edit_refused(request, port, principal, customer_id, "profile", InvalidInput(errors))
    fields: dict[str, Any] = {
        "name": typed["name"],
        "phone": typed["phone"],
        "email": typed["email"] or None,
        "pan": typed["pan"] or None,
        "date_of_birth": born,
    }
    return await _record_change(
        request, port, principal, customer_id, "profile",
        lambda: port.customers.update_details(principal.brand_id, customer_id, expected_version=shown, **fields),
        lambda _: "profile",
    )  # fmt: skip


async def add_address(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """The 360's address form: the API's PATCH with the record's addresses and this one after them, with the version
    the page showed (addresses changed since are a 409 in words, nothing saved)."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    typed = {name: form_text(request, name).strip() for name in ADDRESS_FIELDS}
    errors = [FieldError(f"address.{name}", "required") for name in ("line1", "city", "pincode") if not typed[name]]
    try:
        shown = _shown_version(request)
    except InvalidValue as exc:
        errors.extend(exc.errors)
        shown = 0
    if errors:
        return await _edit_refused(request, port, principal, customer_id, "address", InvalidInput(errors))
    address = Address(
        kind=typed["kind"] or "current",
        line1=typed["line1"],
        line2=typed["line2"] or None,
        city=typed["city"],
        state=typed["state"] or None,
        pincode=typed["pincode"],
    )

    def add() -> CommandResult:
        record = port.customers.get(principal.brand_id, customer_id)
        addresses = [*record.addresses, address]
        return port.customers.update_details(
            principal.brand_id, customer_id, expected_version=shown, addresses=addresses
        )

    return await _record_change(request, port, principal, customer_id, "address", add, lambda _: "address-added")


async def remove_address(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """An address's Remove button: the API's PATCH with the record's addresses but that one (its place in the list
    the page showed), with the version the page showed, so the list is the one the button was next to."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    index = whole_number(form_text(request, "index").strip(), 3)
    try:
        shown = _shown_version(request)
    except InvalidValue as exc:
        return await _edit_refused(request, port, principal, customer_id, "address", exc)

    def remove() -> CommandResult:
        record = port.customers.get(principal.brand_id, customer_id)
        port.customers.check_version(record, shown)
        if index is None or index >= len(record.addresses):
            raise InvalidValue("address", "choose one of the borrower's addresses")
        addresses = [a for at, a in enumerate(record.addresses) if at != index]
        return port.customers.update_details(
            principal.brand_id, customer_id, expected_version=shown, addresses=addresses
        )

    return await _record_change(request, port, principal, customer_id, "address", remove, lambda _: "address-removed")


async def add_alternate_phone(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """The 360's alternate phone form: the API's POST .../alternate-phones (a relative's or a reference's phone for
    collection follow-up, with an optional label). Not versioned, as in the API: adding is refused only for what it
    is (the primary phone, one already there, more than ten)."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    phone, label = form_text(request, "phone").strip(), form_text(request, "label").strip()
    if not phone:
        missing = InvalidInput([FieldError("phone", "required")])
        return await _edit_refused(request, port, principal, customer_id, "alternate-phone", missing)
    if len(label) > 60:
        too_long = InvalidInput([FieldError("label", "at most 60 characters")])
        return await _edit_refused(request, port, principal, customer_id, "alternate-phone", too_long)
    return await _record_change(
        request, port, principal, customer_id, "alternate-phone",
        lambda: port.customers.add_alternate_phone(principal.brand_id, customer_id, phone, label or None),
        lambda _: "phone-added",
    )  # fmt: skip


async def remove_alternate_phone(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """An alternate phone's Remove button: the API's DELETE .../alternate-phones/{phone}. One removed meanwhile is a
    409 saying so (the API answers its DELETE 404)."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    phone = form_text(request, "phone").strip()

    def remove() -> CommandResult:
        try:
            return port.customers.remove_alternate_phone(principal.brand_id, customer_id, phone)
        except CustomerNotFound:
            raise
        except NotFound:
            raise Conflict(f"{phone} is not an alternate phone of this borrower (now): nothing removed") from None

    return await _record_change(
        request, port, principal, customer_id, "alternate-phone", remove, lambda _: "phone-removed"
    )


async def link_loan_number(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """The 360's loan number form: the API's POST .../loan-numbers (an outside loan number the repayment notices
    are matched by; unique within the brand). Linking one already linked changes nothing and says so."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    loan_number = form_text(request, "loan_number").strip()
    if not loan_number:
        missing = InvalidInput([FieldError("loan_number", "required")])
        return await _edit_refused(request, port, principal, customer_id, "loan-number", missing)
    return await _record_change(
        request, port, principal, customer_id, "loan-number",
        lambda: port.customers.link_loan_number(principal.brand_id, customer_id, loan_number),
        lambda result: "loan-linked" if result.changed else "loan-already",
    )  # fmt: skip


async def unlink_loan_number(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """A linked loan number's Unlink button: the API's POST .../loan-numbers/unlink with the reason typed and the
    version the page showed (any change to the record since is a 409 in words, nothing saved)."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    loan_number, reason = form_text(request, "loan_number").strip(), form_text(request, "reason")
    try:
        shown = _shown_version(request)
    except InvalidValue as exc:
        return await _edit_refused(request, port, principal, customer_id, "loan-number", exc)
    return await _record_change(
        request, port, principal, customer_id, "loan-number",
        lambda: port.customers.unlink_loan_number(
            principal.brand_id, customer_id, loan_number, reason, expected_version=shown
        ),
        lambda _: "loan-unlinked",
    )  # fmt: skip


async def state_statement_period(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    customer_id, document_id = path_id(request, "customer_id"), path_id(request, "document_id")
    if customer_id is None or document_id is None:
        return await not_found(request)
    first, last = form_text(request, "period_from").strip(), form_text(request, "period_to").strip()

    def state() -> CommandResult:
        documents = port.document_commands
        if documents.document(principal.brand_id, document_id).customer_id != customer_id:
            raise NotFound("not this borrower's document")
        # The form is offered while the statement says no months: months another staff member stated since are
        # a 409 naming them, not replaced from a page read before.
        return documents.state_period(principal.brand_id, document_id, first, last, first_only=True)

    try:
        result = await act(principal, state)
    except NotFound:
        return await not_found(request)
    except DomainError as exc:  # shown at the statement's own form, the months kept as typed
        status = refusal_status(exc)
        fields = [e.field for e in exc.errors] if isinstance(exc, InvalidInput) else []
        refused = PeriodRefused(document_id, error_text(exc), fields)
        return await customer_360_page(request, port, principal, customer_id, period_refused=refused, status=status)
    return await after_write(request, Documents.name, result.position, f"/customers/{customer_id}#customer-documents")


async def request_documents(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    """Ask the borrower for the ticked kinds of document with the note; refused, the 360 again with why at the form
    and what was ticked and typed kept."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    form = request.state.form
    kinds = [k for k in form.getlist("kinds") if isinstance(k, str)]
    note = form_text(request, "note") or None
    return await _document_request_change(
        request, port, principal, customer_id,
        lambda: port.document_commands.request_documents(principal.brand_id, customer_id, kinds, note),
    )  # fmt: skip


async def _document_request_change(
    request: Request, port: CustomerPagesPort, principal: Principal, customer_id: UUID,
    change: Callable[[], CommandResult],
) -> Response:  # fmt: skip
    """Ask for documents or cancel a request: back to the Customer 360's requests, or the page saying why not (409 for
    a conflict, else 422; another brand's borrower or request: 404)."""
    try:
        result = await act(principal, change)
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        return await customer_360_page(
            request, port, principal, customer_id, status=status, request_error=error_text(exc)
        )
    return await after_write(
        request, Documents.name, result.position, f"/customers/{customer_id}#customer-document-requests"
    )


async def cancel_document_request(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    customer_id, request_id = path_id(request, "customer_id"), path_id(request, "request_id")
    if customer_id is None or request_id is None:
        return await not_found(request)
    return await _document_request_change(
        request, port, principal, customer_id,
        lambda: port.document_commands.cancel_document_request(principal.brand_id, customer_id, request_id),
    )  # fmt: skip


async def new_customer_form(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    return render(request, "customer_new.html", nav="customers", values={}, errors={})


def _registration(values: dict[str, str]) -> tuple[date | None, list[Address], dict[str, str]]:
    """The form's date of birth and address, and what is wrong with their shape (the use case checks the rest)."""
    errors: dict[str, str] = {}
    dob = None
    if values["date_of_birth"]:
        try:
            dob = date.fromisoformat(values["date_of_birth"])
        except ValueError:
            errors["date_of_birth"] = "use the date picker (YYYY-MM-DD)"
    addresses = []
    if values["line1"] or values["city"] or values["pincode"]:
        if not (values["line1"] and values["city"] and values["pincode"]):
            errors["addresses"] = "address needs line, city and pincode"
        else:
            addresses.append(Address(line1=values["line1"], city=values["city"], pincode=values["pincode"]))
    return dob, addresses, errors


async def new_customer(request: Request, port: CustomerPagesPort, principal: Principal) -> Response:
    values = {name: form_text(request, name).strip() for name in FORM_FIELDS}
    dob, addresses, errors = _registration(values)
    if not errors:

        def register() -> CommandResult:
            return port.customers.register(
                principal.brand_id,
                name=values["name"],
                phone=values["phone"],
                pan=values["pan"] or None,
                email=values["email"] or None,
                date_of_birth=dob,
                addresses=addresses,
                loan_numbers=[values["loan_number"]] if values["loan_number"] else [],
                agent_id=registering_agent(principal),
            )

        try:
            result = await act(principal, register)
        except InvalidInput as exc:
            errors.update({e.field: e.message for e in exc.errors})
        except DomainError as exc:
            errors[str(exc.details.get("field", "form"))] = exc.message
        else:
            return await after_write(request, Customers.name, result.position, f"/customers/{result.id}")
    return render(request, "customer_new.html", 422, nav="customers", values=values, errors=errors)


PAGES = pages(
    CustomerPagesPort,
    [
        Page("GET", "/customers", customer_directory, READ),
        Page("GET", "/customers/new", new_customer_form, WRITE),
        Page("POST", "/customers/new", new_customer, WRITE, form=True),
        Page("GET", "/customers/{customer_id}", customer_360, READ),
        Page("POST", "/customers/{customer_id}/notes", add_note, NOTE, form=True),
        Page("POST", "/customers/{customer_id}/agent", move_to_agent, RELOCATE, form=True),
        Page("POST", "/customers/{customer_id}/messaging-preferences", set_preferences, MESSAGING_WRITE, form=True),
        Page("POST", "/customers/{customer_id}/messages", send_message, MESSAGING_WRITE, form=True),
        Page("POST", "/customers/{customer_id}/profile", edit_profile, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/addresses", add_address, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/addresses/remove", remove_address, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/alternate-phones", add_alternate_phone, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/alternate-phones/remove", remove_alternate_phone, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/loan-numbers", link_loan_number, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/loan-numbers/unlink", unlink_loan_number, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/document-requests", request_documents, WRITE, form=True),
        Page(
            "POST",
            "/customers/{customer_id}/document-requests/{request_id}/cancel",
            cancel_document_request,
            WRITE,
            form=True,
        ),
        Page(
            "POST",
            "/customers/{customer_id}/documents/{document_id}/period",
            state_statement_period,
            WRITE,
            form=True,
        ),
    ],
)
