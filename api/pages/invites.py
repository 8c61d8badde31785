"""Accepting an invite (public): the invitee sets a password with the one-time code, then signs in."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.routes.staff import StaffPort
from api.web import PublicPage, error_text, form_text, pages, render
from domain.shared.aggregate import acting_as
from domain.shared.errors import DomainError


async def invite_form(request: Request, port: StaffPort) -> Response:
    return render(request, "invite.html", code=request.path_params["code"], error=None)


async def invite_accept(request: Request, port: StaffPort) -> Response:
    code = str(request.path_params["code"])
    password, confirm = form_text(request, "password"), form_text(request, "confirm")
    if password != confirm:
        return render(request, "invite.html", 422, code=code, error="The two passwords differ.")

    def accept() -> None:
        with acting_as("invitee"):
            port.identity.accept_invite(code, password)

    try:
        await run_in_threadpool(accept)
    except DomainError as exc:
        return render(request, "invite.html", 422, code=code, error=error_text(exc))
    return RedirectResponse("/login?next=/customers", status_code=303)


PAGES = pages(
    StaffPort,
    [
        PublicPage("GET", "/invite/{code}", invite_form),
        PublicPage("POST", "/invite/{code}", invite_accept),
    ],
)
