"""The sync reads and prepares a source's next pages while it records this one (`workers.notice_sync._prefetching`):
pages come in order, two are prepared at once, a fetch's or a preparation's error is raised where its page would
have been, and a caller that stops early does not wait for the work in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.softmedia import NoticePage, SoftmediaUnavailable
from workers.notice_sync import _prefetching


def _page(number: int) -> NoticePage:
    return NoticePage(items=[], malformed=0, errors=[], page=number, page_size=500, total_pages=3, total=0)


def _as_is(page: NoticePage) -> NoticePage:
    return page


def test_pages_come_in_order_and_the_next_is_fetched_while_this_one_is_recorded() -> None:
    fetched: list[int] = []
    asked = threading.Event()

    def source() -> Iterator[NoticePage]:
        for number in (1, 2, 3):
            fetched.append(number)
            if number == 2:
                asked.set()
            yield _page(number)

    seen = []
    for page in _prefetching(source(), _as_is):
        if page.page == 1:
            assert asked.wait(5), "page 2 was not asked for while page 1 was being recorded"
        seen.append(page.page)
    assert seen == [1, 2, 3] and fetched == [1, 2, 3]


def test_a_fetch_error_is_raised_after_the_pages_before_it() -> None:
    def source() -> Iterator[NoticePage]:
        yield _page(1)
        raise SoftmediaUnavailable("page 2 still failing")

    seen = []
    with pytest.raises(SoftmediaUnavailable, match="page 2"):
        for page in _prefetching(source(), _as_is):
            seen.append(page.page)
    assert seen == [1]


def test_a_preparation_error_is_raised_where_its_page_would_have_been() -> None:
    prepared: list[int] = []

    def prepare(page: NoticePage) -> NoticePage:
        if page.page == 2:
            raise RuntimeError("page 2's lookups failed")
        prepared.append(page.page)
        return page

    seen = []
    with pytest.raises(RuntimeError, match="page 2"):
        for page in _prefetching(iter([_page(1), _page(2), _page(3)]), prepare):
            seen.append(page.page)
    assert seen == [1] and prepared[0] == 1  # page 3 may have been prepared too: it is never yielded


def test_pages_are_prepared_two_at_a_time_and_yielded_in_order() -> None:
    both = threading.Barrier(2, timeout=5)  # pages 1 and 2 are prepared at once, or this times out

    def prepare(page: NoticePage) -> NoticePage:
        if page.page in (1, 2):
            both.wait()
            time.sleep(0.05 if page.page == 1 else 0)  # page 2 is ready first
        return page

    seen = [page.page for page in _prefetching(iter([_page(1), _page(2), _page(3)]), prepare, ahead=2)]
    assert seen == [1, 2, 3]


def test_stopping_early_does_not_wait_for_the_fetch_in_flight() -> None:
    release = threading.Event()

    def source() -> Iterator[NoticePage]:
        yield _page(1)
        release.wait(10)  # a slow source (retrying with backoff)
        yield _page(2)

    pages: Any = _prefetching(source(), _as_is)
    assert next(pages).page == 1
    began = time.monotonic()
    pages.close()  # the caller failed recording page 1
    assert time.monotonic() - began < 1
    release.set()
