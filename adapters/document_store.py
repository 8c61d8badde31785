"""Where document bytes live, content-addressed by SHA-256: a folder (the default, under `var/documents/`) or any
S3-compatible object store (`DOCUMENT_STORE_URL=s3://bucket/prefix`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import structlog

from domain.documents.content import DocumentStore

log = structlog.get_logger(__name__)

DEFAULT_FOLDER = Path("var/documents")


def _checked_address(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("a document address is a lower-case hex SHA-256")
    return sha256


class FolderDocumentStore:
    """Bytes in files named by their SHA-256 (`ab/cd/abcd…`), written atomically (temporary file, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        address = _checked_address(sha256)
        return self.root / address[:2] / address[2:4] / address

    def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        """Store the bytes unless already there."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("the bytes do not match their address")
        path = self._path(sha256)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        log.info("documents.stored", store="folder", sha256=sha256, size=len(data))
        return True

    def get(self, sha256: str) -> bytes:
        """The stored bytes; KeyError when none."""
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None

    def exists(self, sha256: str) -> bool:
        """Whether the bytes are stored."""
        return self._path(sha256).exists()


class S3DocumentStore:
    """Bytes as objects `<prefix><sha256>` of a bucket in any S3-compatible store (AWS, MinIO, Ceph, ...)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str]) -> S3DocumentStore:
        """A store for `s3://bucket/prefix`, its endpoint and credentials from `DOCUMENT_STORE_ENDPOINT`,
        `DOCUMENT_STORE_ACCESS_KEY`, `DOCUMENT_STORE_SECRET_KEY`, `DOCUMENT_STORE_REGION` (else boto3's own
        chain: AWS_* variables, profiles, instance roles)."""
        import boto3
        from botocore.config import Config

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError("DOCUMENT_STORE_URL must look like s3://bucket or s3://bucket/prefix")
        prefix = parsed.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        client = boto3.client(
            "s3",
            endpoint_url=env.get("DOCUMENT_STORE_ENDPOINT") or None,
            aws_access_key_id=env.get("DOCUMENT_STORE_ACCESS_KEY") or None,
            aws_secret_access_key=env.get("DOCUMENT_STORE_SECRET_KEY") or None,
            region_name=env.get("DOCUMENT_STORE_REGION") or "us-east-1",
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}),
        )
        return cls(client, parsed.netloc, prefix)

    def _key(self, sha256: str) -> str:
        return self.prefix + _checked_address(sha256)

    def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        """Store the bytes unless already there."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("the bytes do not match their address")
        if self.exists(sha256):
            return False
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(sha256), Body=data, ContentType=content_type, Metadata={"sha256": sha256}
        )
        log.info("documents.stored", store="s3", bucket=self.bucket, sha256=sha256, size=len(data))
        return True

    def get(self, sha256: str) -> bytes:
        """The stored bytes; KeyError when none."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(sha256) from None
            raise
        body: bytes = answer["Body"].read()
        return body

    def exists(self, sha256: str) -> bool:
        """Whether the bytes are stored."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise
        return True


def document_store_from_env(env: Mapping[str, str]) -> DocumentStore:
    """The store `DOCUMENT_STORE_URL` names (`s3://bucket/prefix`, or a folder path); `var/documents` unset."""
    url = (env.get("DOCUMENT_STORE_URL") or "").strip()
    if url.startswith("s3://"):
        return S3DocumentStore.from_url(url, env)
    if url.startswith("file://"):
        url = urlparse(url).path
    return FolderDocumentStore(Path(url) if url else DEFAULT_FOLDER)
