"""Reading a multipart/form-data request strictly: one file part (bounded while it streams in, so an oversize
upload is refused before it is all read) and a few small text fields, checked like any other input."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from api.problems import HttpProblem
from api.request_input import require_plain_body
from domain.shared.errors import FieldError, InvalidInput
from domain.shared.values import text_problem, whole_number

#: Room for the multipart envelope (boundaries, part headers, the text fields) beyond the file itself.
ENVELOPE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """An endpoint taking multipart/form-data: a file of at most `max_bytes` in part `file_field`, and text fields
    (its `body` model) of at most `max_field_bytes` each."""

    max_bytes: int
    file_field: str = "file"
    max_field_bytes: int = 4096
    max_parts: int = 16

    @property
    def max_request_bytes(self) -> int:
        """The largest request body such an endpoint reads."""
        return self.max_bytes + ENVELOPE_BYTES


@dataclass(frozen=True)
class UploadedFile:
    """The file of an upload: its name and declared type as the sender gave them (neither is trusted) and bytes."""

    filename: str
    declared_type: str
    data: bytes


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    disposition: bytes = b""  # the raw Content-Disposition value: its names are bytes until checked as UTF-8
    name: str = ""
    name_is_text: bool = True
    filename: str | None = None
    filename_is_text: bool = True


def _utf8(raw: bytes) -> tuple[str, bool]:
    """The text of raw header bytes and whether they were UTF-8 (if not, a shown form with replacement marks)."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), False


class _Collector:
    """Callbacks of python-multipart's streaming parser, keeping the parts within their limits."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.parts: list[_Part] = []
        self.part = _Part()
        self.header_field = b""
        self.header_value = b""

    def on_part_begin(self) -> None:
        if len(self.parts) >= self.upload.max_parts:
            raise HttpProblem(400, f"a form of at most {self.upload.max_parts} parts is expected", "malformed-form")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        header = self.header_field.decode("latin-1").lower()
        self.part.headers[header] = self.header_value.decode("utf-8", "replace")
        if header == "content-disposition":
            self.part.disposition = self.header_value
        self.header_field = self.header_value = b""

    def on_headers_finished(self) -> None:
        # Parsed as bytes (read as latin-1, every byte round-trips), then each name decoded strictly: a part name or
        # filename that is not UTF-8 is refused by `_fields_and_file` (422), never a server error.
        _, options = parse_options_header(self.part.disposition)
        self.part.name, self.part.name_is_text = _utf8(options.get(b"name", b""))
        filename = options.get(b"filename")
        if filename is not None:
            self.part.filename, self.part.filename_is_text = _utf8(filename)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.size += end - start
        is_file = part.name == self.upload.file_field
        limit = self.upload.max_bytes if is_file else self.upload.max_field_bytes
        if part.size > limit:
            what = "the file" if is_file else f"form field '{part.name}'"
            raise HttpProblem(413, f"{what} is over {limit} bytes", "too-large", limit=limit)
        part.chunks.append(data[start:end])

    def on_part_end(self) -> None:
        self.parts.append(self.part)


async def read_multipart(request: Request, upload: Upload) -> tuple[dict[str, str], UploadedFile | None]:
    """The text fields and the file of a multipart/form-data body: 415 for another content type, 413 as soon as
    the body or the file passes its limit (a declared length is refused before reading), 400 when malformed, 422
    naming a field given twice, a second file, or text no input may hold."""
    require_plain_body(request)
    media, options = parse_options_header(request.headers.get("content-type", ""))
    if media != b"multipart/form-data":
        shown = media.decode("latin-1") or "no content type"
        raise HttpProblem(415, f"send the file as multipart/form-data (got '{shown}')", "unsupported-media")
    boundary = options.get(b"boundary")
    if not boundary:
        raise HttpProblem(400, "the multipart content type has no boundary", "malformed-form")
    length = request.headers.get("content-length")
    limit = upload.max_request_bytes
    if length is not None and (whole_number(length, 4000) or 0) > limit:
        raise HttpProblem(413, f"the file is over {upload.max_bytes} bytes", "too-large", limit=upload.max_bytes)
    collector = _Collector(upload)
    callbacks: Any = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
            "on_part_data", "on_part_end",
        )
    }  # fmt: skip
    parser = MultipartParser(boundary, callbacks)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise HttpProblem(
                    413, f"the file is over {upload.max_bytes} bytes", "too-large", limit=upload.max_bytes
                )
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise HttpProblem(400, f"the multipart body is malformed: {exc}", "malformed-form") from None
    return _fields_and_file(collector.parts, upload)


def _fields_and_file(parts: list[_Part], upload: Upload) -> tuple[dict[str, str], UploadedFile | None]:
    fields: dict[str, str] = {}
    file: UploadedFile | None = None
    errors: list[FieldError] = []
    seen: set[str] = set()
    for part in parts:
        name = part.name
        if not part.name_is_text:
            errors.append(FieldError("form", "a part without a usable name (its name is not UTF-8)"))
            continue
        if (problem := text_problem(name, multiline=False)) is not None or not name:
            errors.append(FieldError("form", f"a part without a usable name ({problem or 'no name'})"))
            continue
        if name in seen:
            errors.append(FieldError(name, "given more than once"))
            continue
        seen.add(name)
        data = b"".join(part.chunks)
        if name == upload.file_field:
            filename = part.filename or ""
            if not part.filename_is_text:
                errors.append(FieldError("filename", "is not UTF-8 text"))
                continue
            if (problem := text_problem(filename, multiline=False)) is not None:
                errors.append(FieldError("filename", problem))
                continue
            file = UploadedFile(filename, part.headers.get("content-type", ""), data)
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            errors.append(FieldError(name, "is not UTF-8 text"))
            continue
        if (problem := text_problem(text)) is not None:
            errors.append(FieldError(name, problem))
            continue
        fields[name] = text
    if errors:
        raise InvalidInput(errors)
    return fields, file


def parse_form(model: type[BaseModel], fields: dict[str, str], file: UploadedFile | None, upload: Upload) -> Any:
    """The text fields into `model` (422 naming each bad field); 422 naming the file part when it is missing."""
    if file is None:
        raise InvalidInput([FieldError(upload.file_field, "attach the file (a multipart part with a filename)")])
    return model.model_validate(fields)


def fingerprint(fields: dict[str, str], file: UploadedFile | None) -> bytes:
    """What identifies an upload request for Idempotency-Key: its fields and its file's name and SHA-256."""
    described = {
        "fields": fields,
        "file": None if file is None else [file.filename, hashlib.sha256(file.data).hexdigest()],
    }
    return json.dumps(described, sort_keys=True).encode()


def form_schema(model_schema: dict[str, Any], upload: Upload) -> dict[str, Any]:
    """The OpenAPI schema of the multipart body: the model's text fields plus the binary file part. A form field
    holds text, never null: an optional one is left out (its `null` option and null default are dropped; the text
    "null" is no date or amount)."""
    schema = dict(model_schema)
    properties = {
        **{name: _no_null(field) for name, field in schema.get("properties", {}).items()},
        upload.file_field: {
            "type": "string",
            "format": "binary",
            "description": f"The file: PDF, JPEG or PNG, at most {upload.max_bytes} bytes",
        },
    }
    schema["properties"] = properties
    schema["required"] = [*schema.get("required", []), upload.file_field]
    return schema


def _no_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A form field's schema without a `null` option or a null default."""
    options = schema.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options:
        return schema
    kept = [option for option in options if option != {"type": "null"}]
    rest = {key: value for key, value in schema.items() if key != "anyOf" and not (key == "default" and value is None)}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}
