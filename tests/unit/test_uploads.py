"""The multipart reader: a file bounded while it streams (no Content-Length needed), fields checked."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.requests import Request

from api.problems import HttpProblem
from api.uploads import Upload, read_multipart
from domain.shared.errors import InvalidInput

BOUNDARY = "b0undary"


def _run(coroutine: Any) -> Any:
    """The coroutine on a loop of its own thread: under `pytest -n 2` a worker may hold a session browser whose sync
    API keeps an event loop running on the main thread, where `asyncio.run` refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _request(body: bytes, chunk: int = 1000, content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> Any:
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    sent = {"n": 0}

    async def receive() -> dict[str, Any]:
        i = sent["n"]
        sent["n"] += 1
        return {"type": "http.request", "body": chunks[i], "more_body": i + 1 < len(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", content_type.encode())]}
    return Request(scope, receive), sent


def test_fields_and_the_file_are_read() -> None:
    request, _ = _request(_body(("kind", None, b"pan_card"), ("file", "pan.pdf", b"%PDF-1.7 x")))
    fields, file = _run(read_multipart(request, Upload(max_bytes=100)))
    assert fields == {"kind": "pan_card"}
    assert file is not None and file.filename == "pan.pdf" and file.data == b"%PDF-1.7 x"


def test_a_streamed_file_over_the_limit_is_refused_before_the_rest_is_read() -> None:
    request, sent = _request(_body(("file", "big.pdf", b"%PDF-" + bytes(50_000))), chunk=1000)
    with pytest.raises(HttpProblem) as refused:
        _run(read_multipart(request, Upload(max_bytes=5_000)))
    assert refused.value.status == 413 and "5000" in refused.value.detail
    assert sent["n"] < 10  # stopped after a few chunks of fifty


def test_another_content_type_is_415_and_a_repeated_or_unsafe_field_is_422() -> None:
    request, _ = _request(b'{"kind": "x"}', content_type="application/json")
    with pytest.raises(HttpProblem) as refused:
        _run(read_multipart(request, Upload(max_bytes=100)))
    assert refused.value.status == 415
    request, _ = _request(_body(("kind", None, b"a"), ("kind", None, b"b"), ("note", None, b"x\x00y")))
    with pytest.raises(InvalidInput) as invalid:
        _run(read_multipart(request, Upload(max_bytes=100)))
    assert {e.field for e in invalid.value.errors} == {"kind", "note"}


def _raw_part(disposition: bytes, data: bytes) -> bytes:
    return (
        f"--{BOUNDARY}\r\n".encode() + b"Content-Disposition: form-data; " + disposition + b"\r\n\r\n" + data + b"\r\n"
    )


def test_names_are_utf8_text_and_any_other_byte_is_422_naming_the_part() -> None:
    end = f"--{BOUNDARY}--\r\n".encode()
    body = _raw_part(b'name="ki\xe9nd"', b"pan_card") + _raw_part(b'name="file"; filename="p\xe1n.pdf"', b"%PDF") + end
    request, _ = _request(body)
    with pytest.raises(InvalidInput) as invalid:
        _run(read_multipart(request, Upload(max_bytes=100)))
    assert {e.field for e in invalid.value.errors} == {"form", "filename"}
    assert "not UTF-8" in " ".join(e.message for e in invalid.value.errors)
    # Characters beyond latin-1, sent as UTF-8, are read as they were sent.
    utf8 = _raw_part('name="note₹"'.encode(), b"x") + _raw_part('name="file"; filename="पैन.pdf"'.encode(), b"%PDF")
    request, _ = _request(utf8 + end)
    fields, file = _run(read_multipart(request, Upload(max_bytes=100)))
    assert fields == {"note₹": "x"} and file is not None and file.filename == "पैन.pdf"
