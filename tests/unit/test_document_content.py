"""Documents' bytes: the content type is sniffed from them, names that lie about it are refused, sizes bounded."""

from __future__ import annotations

import pytest

from domain.documents.content import (
    ContentType,
    DocumentKind,
    checked_content,
    clean_filename,
    content_address,
    max_document_bytes,
    sniff,
)
from domain.documents.requirements import missing_kinds, required_kinds
from domain.shared.errors import InvalidInput

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60


@pytest.mark.parametrize(
    ("data", "expected"), [(PDF, ContentType.PDF), (PNG, ContentType.PNG), (JPEG, ContentType.JPEG)]
)
def test_the_type_comes_from_the_bytes(data: bytes, expected: ContentType) -> None:
    assert sniff(data) is expected
    assert checked_content("upload", data, 1000) is expected  # no extension: the bytes decide


def test_a_png_named_pdf_is_refused_naming_both_types() -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_content("statement.pdf", PNG, 1000)
    error = refused.value.errors[0]
    assert error.field == "file" and "named .pdf" in error.message and "PNG image" in error.message


def test_an_executable_named_jpg_is_refused_as_an_executable() -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_content("selfie.jpg", EXE, 1000)
    assert "Windows executable" in refused.value.errors[0].message


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "markup"),
        (b"  <!DOCTYPE html><html></html>", "markup"),
        (b"PK\x03\x04zipzip", "ZIP"),
        (b"GIF89a......", "GIF"),
        (b"plain text, nothing else", "not a PDF, JPEG or PNG"),
    ],
)
def test_other_files_are_refused_saying_what_they_are(data: bytes, said: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_content("file", data, 1000)
    assert said in refused.value.errors[0].message


def test_a_right_type_under_another_extension_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_content("payslip.exe", PDF, 1000)
    assert ".exe" in refused.value.errors[0].message
    assert checked_content("PAYSLIP.PDF", PDF, 1000) is ContentType.PDF
    assert checked_content("photo.jpeg", JPEG, 1000) is ContentType.JPEG


def test_empty_and_oversize_files_are_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        checked_content("a.pdf", b"", 1000)
    with pytest.raises(InvalidInput, match="limit is 40"):
        checked_content("a.pdf", PDF, 40)


def test_the_filename_loses_its_folders_and_control_characters_are_refused() -> None:
    assert clean_filename("C:\\Users\\asha\\pan.pdf") == "pan.pdf"
    assert clean_filename("../../etc/passwd.png") == "passwd.png"
    with pytest.raises(InvalidInput):
        clean_filename("pan\x00.pdf")
    with pytest.raises(InvalidInput):
        clean_filename("x" * 201)


def test_the_size_limit_is_configurable() -> None:
    assert max_document_bytes({}) == 10 * 1024 * 1024
    assert max_document_bytes({"DOCUMENT_MAX_BYTES": "2048"}) == 2048
    assert max_document_bytes({"DOCUMENT_MAX_BYTES": "lots"}) == 10 * 1024 * 1024


def test_the_address_is_the_sha256() -> None:
    assert content_address(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_required_kinds_follow_the_brand_settings_and_satisfied_kinds_are_not_missing() -> None:
    base = required_kinds(require_selfie=False, require_employment=False)
    assert DocumentKind.SELFIE not in base and DocumentKind.SALARY_SLIP not in base
    full = required_kinds(require_selfie=True, require_employment=True)
    assert {DocumentKind.SELFIE, DocumentKind.SALARY_SLIP} <= set(full)
    missing = missing_kinds(full, {DocumentKind.PAN_CARD}, (DocumentKind.AADHAAR_FRONT, DocumentKind.AADHAAR_BACK))
    assert missing == [DocumentKind.BANK_STATEMENT, DocumentKind.SELFIE, DocumentKind.SALARY_SLIP]
