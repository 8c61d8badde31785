"""`ProviderDirectory`: the client of each service, configured from the environment; and the dev simulators' URLs.

Per service (sms, pan, digilocker, penny_drop, bureau, bsa, aa, esign, gateway; `domain.providers.calls.SERVICES`):

    PROVIDER_<SERVICE>_URL     base URL (a service without one is "not configured": its calls raise
                               ProviderUnavailable, logged like any other failure)
    PROVIDER_<SERVICE>_KEY     bearer API key (default "sim-key", the simulators' default)
    PROVIDER_<SERVICE>_VENDOR  the provider's name (default "simulator"); a brand's settings may name it later
    PROVIDER_TIMEOUT_SECONDS   per attempt (default 5), PROVIDER_MAX_RETRIES (default 2)

e.g. PROVIDER_PENNY_DROP_URL. `make run` points every service at its in-process simulator (`configure_url`).
A client taken from the directory is the same object for the life of the process and follows the service's
current configuration, so an application may keep the one it was built with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from adapters.providers.bank_data import AaClient, BsaClient
from adapters.providers.call_log import CallRecord, CallRecorder
from adapters.providers.digilocker import DigilockerClient
from adapters.providers.http import ProviderConfig, ProviderHttp
from adapters.providers.kyc import BureauClient, PanClient, PennyDropClient
from adapters.providers.sms import SmsClient
from domain.providers.calls import SERVICES, Caller
from domain.providers.errors import ProviderUnavailable
from domain.providers.kyc import (
    AccountAggregator,
    BankAccountVerifier,
    CreditBureau,
    DigiLocker,
    PanVerifier,
    StatementAnalyser,
)
from domain.providers.messaging import SmsSender
from domain.shared.clock import Clock, SystemClock

T = TypeVar("T")

DEFAULT_KEY = "sim-key"


class ProviderDirectory:
    """Service -> client (see the module doc); thread-safe."""

    def __init__(
        self,
        configs: Mapping[str, ProviderConfig],
        call_log: CallRecorder,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._configs = dict(configs)
        self._log = call_log
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._sleep = sleep if sleep is not None else time.sleep
        self._https: dict[str, ProviderHttp] = {}
        self._lock = threading.Lock()
        self._sms = SmsClient(_Link(self, "sms"))
        self._pan = PanClient(_Link(self, "pan"))
        self._penny_drop = PennyDropClient(_Link(self, "penny_drop"))
        self._bureau = BureauClient(_Link(self, "bureau"))
        self._bsa = BsaClient(_Link(self, "bsa"))
        self._aa = AaClient(_Link(self, "aa"))
        self._digilocker = DigilockerClient(_Link(self, "digilocker"))

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], call_log: CallRecorder, *, clock: Clock | None = None
    ) -> ProviderDirectory:
        """The services configured by PROVIDER_<SERVICE>_URL (see the module doc)."""
        timeout = float(env.get("PROVIDER_TIMEOUT_SECONDS", "5"))
        retries = int(env.get("PROVIDER_MAX_RETRIES", "2"))
        configs = {}
        for service in SERVICES:
            prefix = f"PROVIDER_{service.upper()}_"
            url = env.get(prefix + "URL", "").strip()
            if url:
                configs[service] = ProviderConfig(
                    service,
                    url,
                    env.get(prefix + "KEY", DEFAULT_KEY),
                    env.get(prefix + "VENDOR", "simulator"),
                    timeout=timeout,
                    max_retries=retries,
                )
        return cls(configs, call_log, clock=clock)

    def configure(self, config: ProviderConfig) -> None:
        """Point a service at a provider (its old connections are closed)."""
        if config.service not in SERVICES:
            raise ValueError(f"unknown service {config.service!r}; one of {SERVICES}")
        with self._lock:
            self._configs[config.service] = config
            old = self._https.pop(config.service, None)
        if old is not None:
            old.close()

    def configure_url(self, service: str, base_url: str, api_key: str = DEFAULT_KEY) -> None:
        """Point a service at `base_url`, keeping its other settings (or the defaults)."""
        current = self._configs.get(service)
        base = current if current is not None else ProviderConfig(service, base_url, api_key)
        self.configure(replace(base, base_url=base_url, api_key=api_key))

    def config(self, service: str) -> ProviderConfig | None:
        """The service's configuration, None when it has none."""
        return self._configs.get(service)

    def urls(self) -> dict[str, str]:
        """Each configured service's base URL."""
        return {service: config.base_url for service, config in self._configs.items()}

    # The clients ------------------------------------------------------------------------------------------------

    def sms(self) -> SmsClient:
        """The SMS client (an `SmsSender`)."""
        return self._sms

    def pan(self) -> PanClient:
        """The PAN verification client (a `PanVerifier`)."""
        return self._pan

    def penny_drop(self) -> PennyDropClient:
        """The penny-drop client (a `BankAccountVerifier`)."""
        return self._penny_drop

    def bureau(self) -> BureauClient:
        """The credit bureau client (a `CreditBureau`)."""
        return self._bureau

    def bsa(self) -> BsaClient:
        """The bank-statement analysis client (a `StatementAnalyser`)."""
        return self._bsa

    def aa(self) -> AaClient:
        """The Account Aggregator client (an `AccountAggregator`)."""
        return self._aa

    def digilocker(self) -> DigilockerClient:
        """The DigiLocker client (a `DigiLocker`)."""
        return self._digilocker

    def close(self) -> None:
        """Close every connection (a later call opens new ones)."""
        with self._lock:
            https, self._https = list(self._https.values()), {}
        for http in https:
            http.close()

    def http(self, service: str) -> ProviderHttp | None:
        """The service's current HTTP side, None when it has no provider."""
        with self._lock:
            http = self._https.get(service)
            if http is None:
                config = self._configs.get(service)
                if config is None:
                    return None
                http = self._https[service] = ProviderHttp(config, self._log, clock=self._clock, sleep=self._sleep)
            return http

    def unconfigured(self, service: str, kind: str, caller: Caller) -> ProviderUnavailable:
        """Log a call to a service without a provider; the error to raise."""
        message = f"no {service} provider is configured (set PROVIDER_{service.upper()}_URL)"
        self._log.record(
            CallRecord(
                provider=service,
                vendor="none",
                kind=kind,
                brand_id=caller.brand_id,
                customer_id=caller.customer_id,
                outcome="unavailable",
                http_status=None,
                latency_ms=0,
                attempts=0,
                error=message,
                at=self._clock.now(),
            )
        )
        return ProviderUnavailable(message, provider=service, kind=kind)


class _Link:
    """A client's way to its service's provider: whatever the directory has configured at the time of the call."""

    def __init__(self, directory: ProviderDirectory, service: str) -> None:
        self.directory, self.service = directory, service

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        caller: Caller,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> T:
        http = self.directory.http(self.service)
        if http is None:
            raise self.directory.unconfigured(self.service, kind, caller)
        return http.call(
            kind,
            method,
            path,
            parse,
            caller=caller,
            json=json,
            content=content,
            content_type=content_type,
            params=params,
        )


class DevSimulators:
    """The base URL of each simulator `make run` started in this process (empty: none run, the dev API is a 404)."""

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, service: str, base_url: str) -> None:
        """Announce a running simulator."""
        with self._lock:
            self._urls[service] = base_url

    def urls(self) -> dict[str, str]:
        """service -> base URL."""
        with self._lock:
            return dict(self._urls)


def conforming(
    d: ProviderDirectory,
) -> tuple[SmsSender, PanVerifier, BankAccountVerifier, CreditBureau, StatementAnalyser, AccountAggregator, DigiLocker]:
    """The directory's clients as the domain's protocols (mypy checks here that each client satisfies its protocol)."""
    return (d.sms(), d.pan(), d.penny_drop(), d.bureau(), d.bsa(), d.aa(), d.digilocker())
