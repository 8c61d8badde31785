"""Every portal page's filters -- the query parameters its GET forms and its links send -- given values they do not
take answer without a server error: a date beyond the house's 1900-2200 (the reminders page turned `9999-12-31` and
`0001-01-01` into instants of the brand's day and failed with a 500), a number too large for any column, a very long
or invisible text, an undecodable byte, a name given twice."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

from starlette.testclient import TestClient

from tests.e2e.conftest import PASSWORD
from tests.e2e.test_brand_leak_sweep import _links, _page_templates

#: Values no filter takes as given (or takes only as a text to search for).
NASTY = ("0001-01-01", "9999-12-31", "2026-02-30", "99999999999999999999", "1e400", "-1", "x" * 2000, "\u200b")
#: Raw query values: an undecodable byte, and an empty value.
RAW = ("%FF%FE", "")


def _filters(base: str, page: str) -> set[str]:
    """The names the page's GET forms send, and the query names of its links to itself."""
    names: set[str] = set()
    for attributes, body in re.findall(r"<form([^>]*)>(.*?)</form>", page, flags=re.S):
        method = re.search(r'method="(\w+)"', attributes)
        action = re.search(r'action="([^"]*)"', attributes)
        target = urlsplit(urljoin(base, action.group(1) if action else base)).path
        if (method is None or method.group(1).lower() == "get") and target == base:
            names.update(re.findall(r'name="([^"]+)"', body))
    for link in _links(base, page):
        parts = urlsplit(link)
        if parts.path == base:
            names.update(name for name, _ in parse_qsl(parts.query))
    return names - {"csrf_token"}


def test_no_filter_value_of_any_page_is_a_server_error(app: Any, staff: tuple[Any, str]) -> None:
    _, email = staff
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as browser:
        assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        filters: dict[str, set[str]] = {}
        for path in _page_templates():
            if "{" in path or path in ("/", "/login"):
                continue  # pages of one record are reached with their ids (the leak sweep opens them)
            answer = browser.get(path)
            if answer.status_code == 200 and "html" in answer.headers.get("content-type", ""):
                filters[path] = _filters(path, answer.text)
        failures = []
        asked = 0
        for path, names in sorted(filters.items()):
            for name in sorted(names):
                asked_here = [f"{path}?{name}={quote(value)}" for value in NASTY]
                asked_here += [f"{path}?{name}={value}" for value in RAW] + [f"{path}?{name}=1&{name}=2"]
                for url in asked_here:
                    asked += 1
                    status = browser.get(url).status_code
                    if status >= 500:
                        failures.append((url[:120], status))
        assert failures == []
        # The sweep reached the lists and their filters (not vacuous): the reminders page's date filters among them.
        assert len(filters) >= 40 and asked >= 500, (len(filters), asked)
        assert {"created_from", "created_to", "scheduled_from", "scheduled_to"} <= filters["/reminders"]
        # A date beyond the house's range is dropped and named, as any value not of its kind, and the list shows.
        beyond = browser.get("/reminders?created_from=9999-12-31&scheduled_to=0001-01-01")
        assert beyond.status_code == 200
        assert "ignored: created from, scheduled to (not a valid value)" in beyond.text
