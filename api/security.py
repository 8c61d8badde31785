"""Browser-facing protections: security headers on every response, a bound on every request body, JSON-only bodies."""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import HttpProblem, problem
from api.request_input import require_plain_body
from api.uploads import ENVELOPE_BYTES
from domain.shared.values import whole_number

# The portal has no script and no inline style; `script-src 'self'` leaves room for static files only.
PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Anything that is not a portal page (JSON, metrics, CSS) loads nothing when opened as a document.
RESOURCE_CSP = "default-src 'none'; frame-ancestors 'none'"
STATIC_PREFIX = "/static/"


class SecurityHeadersMiddleware:
    """CSP (no framing), X-Frame-Options, nosniff, Referrer-Policy and `Cache-Control: no-store` on every
    response but static files, unless the response set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                wanted = {
                    b"content-security-policy": (PORTAL_CSP if html else RESOURCE_CSP).encode(),
                    b"x-frame-options": b"DENY",
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"cross-origin-opener-policy": b"same-origin",
                }
                if not static:  # Pages and API answers carry personal data: never kept by a browser or proxy.
                    wanted[b"cache-control"] = b"no-store"
                headers.extend((name, value) for name, value in wanted.items() if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HttpProblem):
    """Raised when a request body grows past the limit while it is being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is over {limit} bytes", "too-large")


class BodyLimitMiddleware:
    """Refuse any request body over `limit` bytes with 413, portal forms included: a declared length is
    refused before reading, a streamed body as soon as it passes the limit. `uploads` name the file-upload
    operations (path pattern, method, their own larger limit), whose endpoints bound the file themselves."""

    def __init__(self, app: ASGIApp, limit: int, uploads: Sequence[tuple[re.Pattern[str], str, int]] = ()) -> None:
        self.app = app
        self.limit = limit
        self.uploads = tuple(uploads)

    def _limit(self, scope: Scope) -> int:
        path, method = str(scope.get("path", "")), scope.get("method")
        for pattern, upload_method, limit in self.uploads:
            if method == upload_method and pattern.match(path):
                return max(limit, self.limit)
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if (whole_number(length.decode("latin-1"), 4000) or 0) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"request body is over {limit} bytes"
        if limit > self.limit:  # an upload: say the file's own limit
            detail = f"the file is over {limit - ENVELOPE_BYTES} bytes (the upload limit)"
        response = problem(413, detail, "too-large", scope.get("path"))
        response.headers["Connection"] = "close"  # The rest of the body is not read.
        await response(scope, receive, send)


def require_json(request: Request) -> None:
    """A request body must be JSON (`application/json` or a `+json` type): 415 otherwise, so that no HTML form
    or `text/plain` request made by another site can reach a command; and not compressed (`require_plain_body`)."""
    require_plain_body(request)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    raise HttpProblem(
        415, f"send the request body as application/json (got '{media or 'no content type'}')", "unsupported-media"
    )
