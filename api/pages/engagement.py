"""Engagement portal pages (issue #17 item 5): message templates (list, new, edit = a new version, preview, the
provider's approval of a WhatsApp version), the delivery dashboard with a server-rendered SVG chart (sent, delivered,
failed by day), and the message list."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from adapters.message_store import DayCount
from api.pages.actors import actor_names
from api.routes.engagement import MESSAGES_CURSOR, EngagementPort
from api.web import (
    Page,
    act,
    as_id,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.engagement.templates import PLACEHOLDERS, Approval, Channel, Kind, Language
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.providers.errors import ProviderUnavailable
from domain.shared.errors import DomainError, FieldError, InvalidInput, NotFound
from domain.shared.values import MIN_REASON, visible_characters, whole_number
from projections.keyset import Page as KeysetPage

READ = (Permission.MESSAGES, Level.READ)
TEMPLATES_READ = (Permission.MESSAGE_TEMPLATES, Level.READ)
TEMPLATES_WRITE = (Permission.MESSAGE_TEMPLATES, Level.WRITE)
STATUSES = ("queued", "deferred", "sending", "sent", "delivered", "failed", "suppressed")
_CHART = ("sent", "delivered", "failed")
_COLOURS = {"sent": "#4a7bd0", "delivered": "#2e9d5b", "failed": "#c94a3a"}


async def templates_page(request: Request, port: EngagementPort, principal: Principal) -> Response:
    return await _templates_page(request, port, principal)


async def _templates_page(
    request: Request, port: EngagementPort, principal: Principal, error: str | None = None, status: int = 200
) -> Response:
    """The templates list with the "New template" form; `error`: that form refused (said at the form)."""

    def load() -> list[Any]:
        port.engagement.seed_defaults(principal.brand_id)
        return port.engagement.store.templates(principal.brand_id, None, None, None, None, 200)

    templates = await run_in_threadpool(load)
    return render(request, "engagement_templates.html", status, nav="engagement", templates=templates,
                  can_edit=principal.holds(*TEMPLATES_WRITE), error=error, kinds=[k.value for k in Kind],
                  channels=[c.value for c in Channel], languages=[lang.value for lang in Language],
                  placeholders=sorted(PLACEHOLDERS))  # fmt: skip


async def template_create(request: Request, port: EngagementPort, principal: Principal) -> Response:
    """The "New template" form: the API's POST /api/v1/message-templates (MESSAGE_TEMPLATES WRITE); a name the brand
    has on that channel and language makes its next version (409 when that one serves another kind). A WhatsApp
    template awaits the provider's approval."""
    name, body = form_text(request, "name").strip(), form_text(request, "body")
    subject = form_text(request, "subject").strip() or None
    raw = {field: form_text(request, field).strip() for field in ("kind", "channel", "language")}
    errors = [FieldError(field, "choose one of those listed") for field, allowed in
              (("kind", Kind), ("channel", Channel), ("language", Language))
              if raw[field] not in {member.value for member in allowed}]  # fmt: skip
    if len(name) > 100:
        errors.append(FieldError("name", "at most 100 characters"))
    if errors:
        return await _templates_page(request, port, principal, error_text(InvalidInput(errors)), 422)
    try:
        made = await act(principal, lambda: port.engagement.create_template(
            principal.brand_id, name, Kind(raw["kind"]), Channel(raw["channel"]), Language(raw["language"]),
            subject, body, principal.actor))  # fmt: skip
    except DomainError as exc:
        return await _templates_page(request, port, principal, error_text(exc), refusal_status(exc))
    return RedirectResponse(f"/engagement/templates/{made.id}?saved=v{made.version}", status_code=303)


async def _template_page(request: Request, port: EngagementPort, principal: Principal, template_id: UUID,
                         error: str | None = None, draft: tuple[str | None, str] | None = None,
                         status: int | None = None, approval_error: str | None = None,
                         started_from: int | None = None) -> Response:  # fmt: skip
    """The template's page; `started_from`: the version the editor's draft was made from, carried on by a preview
    (else the version shown: a save then overwrote whatever a colleague saved since the draft was opened, with no
    409)."""

    def load() -> dict[str, Any]:
        template = port.engagement.template(principal.brand_id, template_id)
        subject, body = draft if draft else (template.subject, template.body)
        try:
            _, preview = port.engagement.preview(principal.brand_id, template_id, None, subject, body)
        except DomainError:
            preview = None
        versions = port.engagement.store.versions(principal.brand_id, template_id)
        who = {v.created_by for v in versions} | {template.whatsapp_submitted_by}
        return {"template": template, "preview": preview, "subject": subject, "body": body,
                "expected_version": started_from if started_from is not None else template.version,
                "versions": versions,
                "actors": actor_names(port.engagement.identity, principal.brand_id, {a for a in who if a})}  # fmt: skip

    try:
        data = await run_in_threadpool(load)
    except NotFound:
        return await not_found(request)
    status = status or (422 if error else 200)
    saved = request.query_params.get("saved", "") if status == 200 else ""
    approval = request.query_params.get("approval", "") if status == 200 else ""
    return render(request, "engagement_template.html", status, nav="engagement", error=error,
                  placeholders=sorted(PLACEHOLDERS), can_edit=principal.holds(*TEMPLATES_WRITE),
                  approvals=[a.value for a in Approval], approval_error=approval_error,
                  saved_flash=f"Saved as version {saved[1:]}." if saved[:1] == "v" and saved[1:].isdigit() else None,
                  approval_flash=f"Approval recorded: {approval}." if approval in {a.value for a in Approval} else
                  "Submitted to WhatsApp for approval: pending its review." if approval == "submitted" else None,
                  **data)  # fmt: skip


async def template_page(request: Request, port: EngagementPort, principal: Principal) -> Response:
    template_id = path_id(request, "template_id")
    if template_id is None:
        return await not_found(request)
    return await _template_page(request, port, principal, template_id)


async def template_save(request: Request, port: EngagementPort, principal: Principal) -> Response:
    template_id = path_id(request, "template_id")
    if template_id is None:
        return await not_found(request)
    subject, body = form_text(request, "subject") or None, form_text(request, "body")
    shown = form_text(request, "expected_version")
    expected = whole_number(shown)  # the version the editor started from
    if form_text(request, "action") == "preview":
        return await _template_page(request, port, principal, template_id, draft=(subject, body), started_from=expected)
    try:
        await act(principal, lambda: port.engagement.update_template(principal.brand_id, template_id, subject, body,
                                                                     principal.actor, expected))  # fmt: skip
    except NotFound:
        return await not_found(request)
    except DomainError as exc:  # the draft stays on the page (a 409: saved by someone else since it was opened)
        status = refusal_status(exc)
        return await _template_page(request, port, principal, template_id, error_text(exc), (subject, body), status)
    return RedirectResponse(f"/engagement/templates/{template_id}", status_code=303)


async def template_approval(request: Request, port: EngagementPort, principal: Principal) -> Response:
    """A WhatsApp template's approval form: the API's POST /api/v1/message-templates/{id}/approval
    (MESSAGE_TEMPLATES WRITE) recording the provider's verdict on the version the page showed; a template of another
    channel is a 409, another brand's a 404."""
    template_id = path_id(request, "template_id")
    if template_id is None:
        return await not_found(request)
    state, version = form_text(request, "state").strip(), whole_number(form_text(request, "version").strip())
    reason = form_text(request, "reason").strip() or None
    try:
        if state not in {a.value for a in Approval}:
            raise InvalidInput([FieldError("state", "choose approved, rejected or pending")])
        if version is None or version < 1:
            raise InvalidInput([FieldError("version", "a version of this template")])
        if reason is not None and (visible_characters(reason) < MIN_REASON or len(reason) > 300):
            raise InvalidInput([FieldError("reason", f"{MIN_REASON} to 300 characters, or none")])
        await act(principal, lambda: port.engagement.set_approval(principal.brand_id, template_id, version,
                                                                  Approval(state), principal.actor, reason))  # fmt: skip
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        return await _template_page(request, port, principal, template_id, status=status,
                                    approval_error=error_text(exc))  # fmt: skip
    return RedirectResponse(f"/engagement/templates/{template_id}?approval={state}#approval-card", status_code=303)


async def template_submission(request: Request, port: EngagementPort, principal: Principal) -> Response:
    """The "Submit to WhatsApp for approval" button of a WhatsApp template's page: the API's POST
    /api/v1/message-templates/{id}/whatsapp-submission (MESSAGE_TEMPLATES WRITE) for the version the page showed;
    approved or awaiting review already: 409, the provider down (503) or refusing the request (422): said at the
    form, nothing recorded; another brand's template: 404."""
    template_id = path_id(request, "template_id")
    if template_id is None:
        return await not_found(request)
    version = whole_number(form_text(request, "version").strip())
    try:
        if version is None or version < 1:
            raise InvalidInput([FieldError("version", "a version of this template")])
        await act(principal, lambda: port.engagement.submit_for_approval(principal.brand_id, template_id, version,
                                                                         principal.actor))  # fmt: skip
    except NotFound:
        return await not_found(request)
    except ProviderUnavailable as exc:
        return await _template_page(request, port, principal, template_id, status=503,
                                    approval_error=f"WhatsApp could not be reached, nothing was submitted: "
                                    f"{exc.message}. Try again in a minute.")  # fmt: skip
    except DomainError as exc:
        status = refusal_status(exc)
        return await _template_page(request, port, principal, template_id, status=status,
                                    approval_error=error_text(exc))  # fmt: skip
    return RedirectResponse(f"/engagement/templates/{template_id}?approval=submitted#approval-card", status_code=303)


def chart(counts: list[DayCount], days: list[date]) -> str:
    """An SVG bar chart: sent, delivered and failed per day (every channel), grouped bars, with a legend."""
    totals: dict[tuple[date, str], int] = defaultdict(int)
    for c in counts:
        if c.status in _CHART:
            totals[(c.day, c.status)] += c.count
    top = max([1, *totals.values()])
    width, height, pad = max(320, 36 * len(days) + 40), 180, 24
    group = (width - 2 * pad) / max(1, len(days))
    bar = group / 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 40}" role="img" '
             f'aria-label="Messages sent, delivered and failed by day" class="chart" id="delivery-chart">']  # fmt: skip
    for i, day in enumerate(days):
        x0 = pad + i * group
        for j, status in enumerate(_CHART):
            value = totals.get((day, status), 0)
            h = (height - pad) * value / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                         f'fill="{_COLOURS[status]}"><title>{day.isoformat()} {status}: {value}</title></rect>')  # fmt: skip
        parts.append(f'<text x="{x0:.1f}" y="{height + 14}" font-size="9">{day.strftime("%d %b")}</text>')
    for j, status in enumerate(_CHART):
        parts.append(f'<rect x="{pad + j * 90}" y="{height + 24}" width="10" height="10" fill="{_COLOURS[status]}"/>'
                     f'<text x="{pad + j * 90 + 14}" y="{height + 33}" font-size="11">{status}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


async def deliveries_page(request: Request, port: EngagementPort, principal: Principal) -> Response:
    def load() -> dict[str, Any]:
        counts = port.engagement.dashboard(principal.brand_id, 14)
        days = sorted({c.day for c in counts})
        table: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for c in counts:
            table[(c.day, c.channel)][c.status] += c.count
        rows = [(day, channel, dict(table[(day, channel)])) for day in days for channel in (ch.value for ch in Channel)
                if (day, channel) in table]  # fmt: skip
        return {"svg": chart(counts, days), "rows": rows, "statuses": STATUSES}

    return render(request, "engagement_deliveries.html", nav="engagement", **await run_in_threadpool(load))


#: Messages a page of the portal's list shows.
MESSAGES_PAGE = 100


async def messages_page(request: Request, port: EngagementPort, principal: Principal) -> Response:
    channel = request.query_params.get("channel") or None
    status = request.query_params.get("status") or None
    channel = channel if channel in {c.value for c in Channel} else None
    status = status if status in STATUSES else None
    customer_id, loan_id = as_id(request.query_params.get("customer_id")), as_id(request.query_params.get("loan_id"))
    # The filters the links repeat: the borrower's or the loan's messages (Customer 360 and the loan page link here)
    # stay theirs when the channel or status is filtered, and on the next page (the list stopped at 100, and the
    # Filter form dropped the borrower, showing the brand's messages without a word).
    scope = {"customer_id": customer_id, "loan_id": loan_id, "channel": channel, "status": status}
    page_scope = (principal.brand_id, customer_id, loan_id, channel, status)

    def load(cursor: str | None) -> KeysetPage:
        after = MESSAGES_CURSOR.decode(cursor, page_scope) if cursor else None
        rows = port.engagement.messages.page(principal.brand_id, customer_id=customer_id, loan_id=loan_id,
                                             channel=channel, status=status, after=after, limit=MESSAGES_PAGE + 1)  # fmt: skip
        more, rows = len(rows) > MESSAGES_PAGE, rows[:MESSAGES_PAGE]
        last = rows[-1] if more and rows else None
        return KeysetPage(rows, MESSAGES_CURSOR.encode(last.created_at, last.id, scope=page_scope) if last else None)

    page = await run_in_threadpool(keyset_page, request, load)
    kept = {k: str(v) for k, v in scope.items() if v}
    return render(request, "engagement_messages.html", nav="engagement", items=page.items, channel=channel,
                  status_filter=status, statuses=STATUSES, channels=[c.value for c in Channel],
                  customer_id=customer_id, loan_id=loan_id,
                  older=f"/engagement/messages?{urlencode({**kept, 'cursor': page.next_cursor})}"
                  if page.next_cursor else None,
                  newest=f"/engagement/messages?{urlencode(kept)}" if request.query_params.get("cursor") else None)  # fmt: skip


PAGES = pages(
    EngagementPort,
    [
        Page("GET", "/engagement/templates", templates_page, TEMPLATES_READ),
        Page("POST", "/engagement/templates", template_create, TEMPLATES_WRITE, form=True),
        Page("GET", "/engagement/templates/{template_id}", template_page, TEMPLATES_READ),
        Page("POST", "/engagement/templates/{template_id}", template_save, TEMPLATES_WRITE, form=True),
        Page("POST", "/engagement/templates/{template_id}/approval", template_approval, TEMPLATES_WRITE, form=True),
        Page(
            "POST",
            "/engagement/templates/{template_id}/whatsapp-submission",
            template_submission,
            TEMPLATES_WRITE,
            form=True,
        ),
        Page("GET", "/engagement/deliveries", deliveries_page, READ),
        Page("GET", "/engagement/messages", messages_page, READ),
    ],
)
