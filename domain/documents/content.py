"""What a document's bytes are: kinds of document, the content types we accept (sniffed from the bytes, never
taken from the name or the sender's header), size limits, and the content-addressed store they go into."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from domain.shared.errors import InvalidValue
from domain.shared.values import clean_text

#: The default largest document (10 MiB); `DOCUMENT_MAX_BYTES` changes it.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_FILENAME = 200


class DocumentKind(StrEnum):
    """The spec's KYC and supporting documents."""

    PAN_CARD = "pan_card"
    AADHAAR_FRONT = "aadhaar_front"
    AADHAAR_BACK = "aadhaar_back"
    AADHAAR_PHOTO = "aadhaar_photo"  # the photo DigiLocker returns with the Aadhaar details
    SELFIE = "selfie"
    BANK_STATEMENT = "bank_statement"
    PASSBOOK = "passbook"
    SALARY_SLIP = "salary_slip"
    FORM16_ITR = "form16_itr"
    EMPLOYER_CERTIFICATE = "employer_certificate"
    VOTER_ID = "voter_id"
    DRIVING_LICENSE = "driving_license"
    PASSPORT = "passport"
    UTILITY_BILL = "utility_bill"  # electricity, water, gas, wifi or postpaid bill: address proof
    RENT_AGREEMENT = "rent_agreement"
    COLLEGE_ID = "college_id"
    MARRIAGE_CERTIFICATE = "marriage_certificate"
    OTHER = "other"


#: How staff pages name a kind of document (`PAN card`, `Form 16 or ITR`); the borrower's pages have their own
#: (api/pages/borrower_documents.KIND_LABELS, written to the borrower).
DOCUMENT_WORDS: Mapping[DocumentKind, str] = MappingProxyType(
    {
        DocumentKind.PAN_CARD: "PAN card",
        DocumentKind.AADHAAR_FRONT: "Aadhaar (front)",
        DocumentKind.AADHAAR_BACK: "Aadhaar (back)",
        DocumentKind.AADHAAR_PHOTO: "Aadhaar photo",
        DocumentKind.SELFIE: "selfie",
        DocumentKind.BANK_STATEMENT: "bank statement",
        DocumentKind.PASSBOOK: "passbook",
        DocumentKind.SALARY_SLIP: "salary slip",
        DocumentKind.FORM16_ITR: "Form 16 or ITR",
        DocumentKind.EMPLOYER_CERTIFICATE: "employer certificate",
        DocumentKind.VOTER_ID: "voter ID",
        DocumentKind.DRIVING_LICENSE: "driving licence",
        DocumentKind.PASSPORT: "passport",
        DocumentKind.UTILITY_BILL: "utility bill",
        DocumentKind.RENT_AGREEMENT: "rent agreement",
        DocumentKind.COLLEGE_ID: "college ID",
        DocumentKind.MARRIAGE_CERTIFICATE: "marriage certificate",
        DocumentKind.OTHER: "other document",
    }
)


class ContentType(StrEnum):
    """The media types a document may have."""

    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


class Uploader(StrEnum):
    """Who put a document in: the borrower (borrower app), a staff member (portal, API) or a provider."""

    BORROWER = "borrower"
    STAFF = "staff"
    PROVIDER = "provider"  # fetched from a provider for the borrower (the Aadhaar photo from DigiLocker)


_ACCEPTED: tuple[tuple[bytes, ContentType], ...] = (
    (b"%PDF-", ContentType.PDF),
    (b"\xff\xd8\xff", ContentType.JPEG),
    (b"\x89PNG\r\n\x1a\n", ContentType.PNG),
)
# What other bytes commonly are, to say so when refusing them.
_KNOWN: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"Rar!", "a RAR archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"#!", "a script"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
)
_EXTENSIONS = {
    ".pdf": ContentType.PDF,
    ".jpg": ContentType.JPEG,
    ".jpeg": ContentType.JPEG,
    ".jfif": ContentType.JPEG,
    ".png": ContentType.PNG,
}
_NAMES = {ContentType.PDF: "a PDF", ContentType.JPEG: "a JPEG image", ContentType.PNG: "a PNG image"}


def max_document_bytes(env: Mapping[str, str]) -> int:
    """The largest document accepted: `DOCUMENT_MAX_BYTES` (bytes) or 10 MiB."""
    raw = env.get("DOCUMENT_MAX_BYTES", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BYTES


def describe(data: bytes) -> str:
    """What the bytes look like, for a refusal ("a Windows executable", "HTML or XML markup", ...)."""
    for magic, name in _KNOWN:
        if data.startswith(magic):
            return name
    head = data[:256].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype", b"<html", b"<script")):
        return "HTML, SVG or XML markup"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    if not data:
        return "empty"
    return "not a PDF, JPEG or PNG"


def sniff(data: bytes) -> ContentType | None:
    """The content type the bytes themselves say (their magic number), or None when not one we accept."""
    for magic, content_type in _ACCEPTED:
        if data.startswith(magic):
            return content_type
    return None


def clean_filename(raw: str) -> str:
    """The file's own name (no folders), single-line and at most 200 characters."""
    name = clean_text(raw.replace("\\", "/").rsplit("/", 1)[-1], "filename", missing="give the file a name")
    if len(name) > MAX_FILENAME:
        raise InvalidValue("filename", f"use at most {MAX_FILENAME} characters")
    return name


def checked_content(filename: str, data: bytes, max_bytes: int) -> ContentType:
    """The sniffed content type of an upload; InvalidValue naming `file` when it is empty, too large, not a PDF,
    JPEG or PNG, or named as another type than its bytes are (a PNG called .pdf, an executable called .jpg)."""
    if not data:
        raise InvalidValue("file", "the file is empty")
    if len(data) > max_bytes:
        raise InvalidValue("file", f"the file is {len(data)} bytes; the limit is {max_bytes}")
    found = sniff(data)
    if found is None:
        raise InvalidValue("file", f"only PDF, JPEG and PNG files are accepted; this file is {describe(data)}")
    stem, dot, extension = filename.rpartition(".")
    if dot and stem:
        named = _EXTENSIONS.get("." + extension.lower())
        if named is None:
            raise InvalidValue(
                "file", f"the file is named .{extension} but its bytes are {_NAMES[found]}; upload a .pdf, .jpg or .png"
            )
        if named is not found:
            raise InvalidValue(
                "file", f"the file is named .{extension} ({_NAMES[named]}) but its bytes are {_NAMES[found]}"
            )
    return found


def content_address(data: bytes) -> str:
    """The SHA-256 of the bytes (hex): the address the store keeps them under."""
    return hashlib.sha256(data).hexdigest()


class DocumentStore(Protocol):
    """Content-addressed storage of document bytes: the same bytes are stored once, under their SHA-256."""

    def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        """Store the bytes (True) unless already there (False)."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under the address; KeyError when none."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether bytes are stored under the address."""
        ...
