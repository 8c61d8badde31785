"""One rendered portal form, one submission: a double tap (or a reload that re-posts) replays the first answer.

Every staff form carries a `form_nonce`, new each time the page is rendered (`form_nonce()` in the templates). A post
that brings one reserves it, with a hash of what the form holds, in the idempotency store the API's
`Idempotency-Key` uses (under the staff member's principal, keyed `portal-form:<nonce>:<hash>`). When the handler answers with a
redirect (a write that succeeded, post/redirect/get), the redirect is kept: the same form posted again with the same
content is sent to the same page instead of doing the work twice (two field visits, two payment links, two calls
logged for one tap). A second post that arrives while the first is still running waits for it (up to
`WAIT_SECONDS`), so the page the browser ends up on is the first post's; when the first is still running after that
(a slow provider), the second is answered `busy` (409, "still being submitted") and runs nothing - it ran on its own
before, and a double tap during a provider slowdown made two payment links and sent two texts. A first post whose
process died is taken over once its reservation is stale, as the API's keys are. Any other answer (a refusal re-rendering the
form, an error) frees the key: correcting the form and posting it again runs. The same nonce with other content (a
page kept by the back button, edited and posted again; another form of a page whose forms share one nonce) is another
submission and runs as one.

A post without a nonce (a script posting the form fields itself) runs as it always did.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from adapters.operational import OperationalStore, StoredResponse

FIELD = "form_nonce"
KEY_PREFIX = "portal-form:"
#: How long a repeated post waits for the first one to finish before it is answered `busy` (longer than a write and its
#: read-your-writes wait take).
WAIT_SECONDS = 15.0
_POLL_SECONDS = 0.05
_NOT_HASHED = frozenset({FIELD, "csrf_token"})


def form_nonce() -> str:
    """A new nonce for one rendered form (the templates' global)."""
    return uuid4().hex


def _nonce(form: FormData) -> str | None:
    value = form.get(FIELD)
    if not isinstance(value, str):
        return None
    try:
        return UUID(hex=value).hex
    except ValueError:
        return None  # not one of ours: the post runs unguarded


def form_hash(method: str, path: str, form: FormData) -> str:
    """What makes two posts of one form the same submission: the address and every field but the nonce and the
    CSRF token, in order (a file by its name, type and size)."""
    digest = hashlib.sha256(f"{method} {path}".encode())
    for name, value in form.multi_items():
        if name in _NOT_HASHED:
            continue
        if isinstance(value, UploadFile):
            shown = f"file:{value.filename}:{value.content_type}:{value.size}"
        else:
            shown = f"text:{value}"
        digest.update(b"\0" + name.encode() + b"\0" + shown.encode())
    return digest.hexdigest()


def _replay(earlier: StoredResponse) -> Response | None:
    location = (earlier.headers or {}).get("location")
    if earlier.status == 303 and location:
        return RedirectResponse(location, status_code=303)
    return None


async def submit_once(
    request: Request,
    ops: OperationalStore,
    brand_id: UUID,
    principal: str,
    form: FormData,
    handle: Callable[[], Awaitable[Response]],
    busy: Callable[[], Response],
) -> Response:
    """Run the form's handler once per rendered form and content; `busy`'s answer for a repeat while the first post
    is still running after WAIT_SECONDS (see the module's docstring)."""
    nonce = _nonce(form)
    if nonce is None:
        return await handle()
    digest = form_hash(request.method, request.url.path, form)
    key = f"{KEY_PREFIX}{nonce}:{digest}"  # one key per form and content: one page's forms may share a nonce

    def reserve() -> StoredResponse | bool | None:
        """None: reserved for this post; a StoredResponse: the first post's answer; False: the first post did not
        finish within WAIT_SECONDS (still running)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            earlier = ops.begin_idempotent(brand_id, principal, key, digest)
            if earlier is None:
                return None
            if earlier.status is not None:
                return earlier
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)

    earlier = await run_in_threadpool(reserve)
    if earlier is False:
        return busy()
    if isinstance(earlier, StoredResponse):
        replayed = _replay(earlier)
        return replayed if replayed is not None else await handle()
    try:
        response = await handle()
    except BaseException:
        await run_in_threadpool(ops.abandon_idempotent, brand_id, principal, key)
        raise
    location = response.headers.get("location")
    if response.status_code == 303 and location:
        await run_in_threadpool(ops.finish_idempotent, brand_id, principal, key, 303, None, {"location": location})
    else:
        await run_in_threadpool(ops.abandon_idempotent, brand_id, principal, key)
    return response


def template_globals() -> dict[str, Any]:
    """What the templates call: `form_nonce()`."""
    return {"form_nonce": form_nonce}
