"""The two ways a provider call fails: the provider could not answer (retry later) or it refused the request."""

from __future__ import annotations

from domain.shared.errors import DomainError


class ProviderError(DomainError):
    """Raised when a call to an external provider does not give a result; `provider`, `kind` name the call."""

    def __init__(self, message: str, *, provider: str, kind: str, status: int | None = None, code: str = "") -> None:
        super().__init__(message, provider=provider, kind=kind)
        self.provider = provider
        self.kind = kind
        self.status = status  # the HTTP status of the last answer, None when none came (timeout, connection)
        self.code = code  # the provider's error code, when it gave one


class ProviderUnavailable(ProviderError):
    """Raised when the provider did not answer usefully after the bounded retries (timeouts, 429, 5xx, garbage,
    refused credentials): nothing is known about the subject, and the same call may be retried later (HTTP 503)."""


class ProviderRejected(ProviderError):
    """Raised when the provider answered and refused the request itself (a malformed or unknown number, an
    expired consent): retrying the same request will not help; `code` is the provider's reason (HTTP 422)."""
