"""The document stores: a folder and an S3-compatible server (moto's, over HTTP), content-addressed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.document_store import FolderDocumentStore, S3DocumentStore, document_store_from_env
from domain.documents.content import content_address

DATA = b"%PDF-1.7\nsome statement\n%%EOF\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str) -> S3DocumentStore:
    env = {
        "DOCUMENT_STORE_URL": "s3://kyc-docs/brand-a",
        "DOCUMENT_STORE_ENDPOINT": s3_endpoint,
        "DOCUMENT_STORE_ACCESS_KEY": "test-key",
        "DOCUMENT_STORE_SECRET_KEY": "test-secret",
    }
    store = document_store_from_env(env)
    assert isinstance(store, S3DocumentStore)
    try:
        store.client.create_bucket(Bucket="kyc-docs")
    except store.client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return store


def _round_trip(store: Any) -> None:
    address = content_address(DATA)
    assert not store.exists(address)
    with pytest.raises(KeyError):
        store.get(address)
    assert store.put(address, DATA, "application/pdf") is True
    assert store.put(address, DATA, "application/pdf") is False  # the same bytes are stored once
    assert store.exists(address) and store.get(address) == DATA
    with pytest.raises(ValueError):
        store.put(content_address(b"other"), DATA, "application/pdf")  # bytes that are not at their address


def test_the_folder_store_keeps_bytes_under_their_sha256(tmp_path: Path) -> None:
    store = FolderDocumentStore(tmp_path)
    _round_trip(store)
    address = content_address(DATA)
    assert (tmp_path / address[:2] / address[2:4] / address).read_bytes() == DATA
    assert not list(tmp_path.rglob(".upload-*"))  # no temporary file left behind
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


def test_the_s3_store_keeps_bytes_under_their_sha256(s3_store: S3DocumentStore) -> None:
    _round_trip(s3_store)
    address = content_address(DATA)
    head = s3_store.client.head_object(Bucket="kyc-docs", Key=f"brand-a/{address}")
    assert head["ContentType"] == "application/pdf" and head["Metadata"]["sha256"] == address


def test_the_store_is_chosen_by_the_environment(tmp_path: Path) -> None:
    assert isinstance(document_store_from_env({}), FolderDocumentStore)
    folder = document_store_from_env({"DOCUMENT_STORE_URL": f"file://{tmp_path}"})
    assert isinstance(folder, FolderDocumentStore) and folder.root == tmp_path
    with pytest.raises(ValueError):
        S3DocumentStore.from_url("s3://", {})
