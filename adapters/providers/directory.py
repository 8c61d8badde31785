"""`ProviderDirectory`: the client of each service, configured from the environment; and the dev simulators' URLs.

Per service (sms, pan, digilocker, penny_drop, bureau, bsa, aa, esign, gateway; `domain.providers.calls.SERVICES`):

    PROVIDER_<SERVICE>_URL     base URL (a service without one is "not configured": its calls raise
                               ProviderUnavailable, logged like any other failure)
    PROVIDER_<SERVICE>_KEY     bearer API key (default "sim-key", the simulators' default)
    PROVIDER_<SERVICE>_VENDOR  the provider's name (default "simulator"); a brand's settings may name it later
    PROVIDER_TIMEOUT_SECONDS   per attempt (default 5), PROVIDER_MAX_RETRIES (default 2)

e.g. PROVIDER_PENNY_DROP_URL. More vendors of a service are added with `configure(..., default=False)`, and a
brand's choice (BrandSettings `providers`) picks among them through `for_brand`. `make run` points every service at its in-process simulator (`configure_url`).
A client taken from the directory is the same object for the life of the process and follows the service's
current configuration, so an application may keep the one it was built with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

from adapters.providers.bank_data import AaClient, BsaClient
from adapters.providers.call_log import CallRecord, CallRecorder
from adapters.providers.dialer import DialerClient
from adapters.providers.digilocker import DigilockerClient
from adapters.providers.http import ProviderCalls, ProviderConfig, ProviderHttp
from adapters.providers.kyc import BureauClient, PanClient, PennyDropClient
from adapters.providers.payments import EsignClient, GatewayClient
from adapters.providers.sms import SmsClient
from domain.providers.calls import SERVICES, Caller
from domain.providers.dialer import Dialer
from domain.providers.errors import ProviderUnavailable
from domain.providers.kyc import (
    AccountAggregator,
    BankAccountVerifier,
    CreditBureau,
    DigiLocker,
    PanVerifier,
    StatementAnalyser,
)
from domain.providers.messaging import EsignProvider, PaymentGateway, SmsSender
from domain.shared.clock import Clock, SystemClock

T = TypeVar("T")
C = TypeVar("C")

DEFAULT_KEY = "sim-key"
DEFAULT_VENDOR = "simulator"  # BrandSettings' default provider name for every service
#: BrandSettings `providers` names DigiLocker's service `aadhaar`.
SERVICE_ALIASES = {"aadhaar": "digilocker"}


class ProviderDirectory:
    """Service -> client (see the module doc); thread-safe.

    A service may have several providers (vendors), one of them its default: `sms()` is the default's client,
    `sms("msg91")` that vendor's, and `for_brand(settings.providers)` the clients of the vendors a brand chose
    (BrandSettings `providers`: service -> provider name). A vendor with no configuration here fails its calls
    with ProviderUnavailable, logged like any other failure."""

    def __init__(
        self,
        configs: Mapping[str, ProviderConfig],
        call_log: CallRecorder,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._configs: dict[tuple[str, str], ProviderConfig] = {}
        self._defaults: dict[str, str] = {}  # service -> its default vendor
        self._log = call_log
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._sleep = sleep if sleep is not None else time.sleep
        self._https: dict[tuple[str, str], ProviderHttp] = {}
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        for config in configs.values():
            self.configure(config)

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
                    env.get(prefix + "VENDOR", DEFAULT_VENDOR),
                    timeout=timeout,
                    max_retries=retries,
                )
        return cls(configs, call_log, clock=clock)

    def configure(self, config: ProviderConfig, *, default: bool = True) -> None:
        """Add or replace a vendor of a service (its old connections are closed); by default it becomes the
        service's default vendor (`default=False`: only when the service has none yet)."""
        if config.service not in SERVICES:
            raise ValueError(f"unknown service {config.service!r}; one of {SERVICES}")
        key = (config.service, config.vendor)
        with self._lock:
            self._configs[key] = config
            if default or config.service not in self._defaults:
                self._defaults[config.service] = config.vendor
            old = self._https.pop(key, None)
        if old is not None:
            old.close()

    def configure_url(self, service: str, base_url: str, api_key: str = DEFAULT_KEY) -> None:
        """Point a service's default vendor at `base_url`, keeping its other settings (or the defaults)."""
        current = self.config(service)
        base = current if current is not None else ProviderConfig(service, base_url, api_key)
        self.configure(replace(base, base_url=base_url, api_key=api_key))

    def config(self, service: str, vendor: str | None = None) -> ProviderConfig | None:
        """The configuration of a service's vendor (its default when None), None when it has none."""
        with self._lock:
            chosen = vendor if vendor is not None else self._defaults.get(service)
            return self._configs.get((service, chosen)) if chosen is not None else None

    def urls(self) -> dict[str, str]:
        """Each configured service's base URL (its default vendor's)."""
        with self._lock:
            return {service: self._configs[(service, vendor)].base_url for service, vendor in self._defaults.items()}

    def for_brand(self, providers: Mapping[str, str]) -> BrandProviders:
        """The clients of the vendors a brand chose (service -> provider name; `aadhaar` names DigiLocker's)."""
        return BrandProviders(self, providers)

    # The clients ------------------------------------------------------------------------------------------------

    def sms(self, vendor: str | None = None) -> SmsClient:
        """The SMS client (an `SmsSender`) of `vendor`, or of the service's default vendor."""
        return self._client("sms", vendor, SmsClient)

    def pan(self, vendor: str | None = None) -> PanClient:
        """The PAN verification client (a `PanVerifier`)."""
        return self._client("pan", vendor, PanClient)

    def penny_drop(self, vendor: str | None = None) -> PennyDropClient:
        """The penny-drop client (a `BankAccountVerifier`)."""
        return self._client("penny_drop", vendor, PennyDropClient)

    def bureau(self, vendor: str | None = None) -> BureauClient:
        """The credit bureau client (a `CreditBureau`)."""
        return self._client("bureau", vendor, BureauClient)

    def bsa(self, vendor: str | None = None) -> BsaClient:
        """The bank-statement analysis client (a `StatementAnalyser`)."""
        return self._client("bsa", vendor, BsaClient)

    def aa(self, vendor: str | None = None) -> AaClient:
        """The Account Aggregator client (an `AccountAggregator`)."""
        return self._client("aa", vendor, AaClient)

    def digilocker(self, vendor: str | None = None) -> DigilockerClient:
        """The DigiLocker client (a `DigiLocker`)."""
        return self._client("digilocker", vendor, DigilockerClient)

    def esign(self, vendor: str | None = None) -> EsignClient:
        """The e-sign client (an `EsignProvider`)."""
        return self._client("esign", vendor, EsignClient)

    def gateway(self, vendor: str | None = None) -> GatewayClient:
        """The payment gateway client (a `PaymentGateway`)."""
        return self._client("gateway", vendor, GatewayClient)

    def dialer(self, vendor: str | None = None) -> DialerClient:
        """The VoIP dialer client (a `Dialer`: click-to-call)."""
        return self._client("dialer", vendor, DialerClient)

    def close(self) -> None:
        """Close every connection (a later call opens new ones)."""
        with self._lock:
            https, self._https = list(self._https.values()), {}
        for http in https:
            http.close()

    def http(self, service: str, vendor: str | None = None) -> ProviderHttp | None:
        """The current HTTP side of a service's vendor (its default when None), None when it has none."""
        with self._lock:
            chosen = vendor if vendor is not None else self._defaults.get(service)
            if chosen is None:
                return None
            key = (service, chosen)
            http = self._https.get(key)
            if http is None:
                config = self._configs.get(key)
                if config is None:
                    return None
                http = self._https[key] = ProviderHttp(config, self._log, clock=self._clock, sleep=self._sleep)
            return http

    def unconfigured(self, service: str, kind: str, caller: Caller, vendor: str | None = None) -> ProviderUnavailable:
        """Log a call to a service (or vendor) without a configuration; the error to raise."""
        which = f"{service} provider {vendor!r}" if vendor else f"{service} provider"
        message = f"no {which} is configured (set PROVIDER_{service.upper()}_URL)"
        self._log.record(
            CallRecord(
                provider=service,
                vendor=vendor or "none",
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

    def _client(self, service: str, vendor: str | None, make: Callable[[ProviderCalls], C]) -> C:
        key = (service, vendor)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = make(_Link(self, service, vendor))
            return cast(C, client)


class BrandProviders:
    """The clients of the vendors one brand chose (`ProviderDirectory.for_brand`); a service the brand names no
    vendor for uses the service's default."""

    def __init__(self, directory: ProviderDirectory, providers: Mapping[str, str]) -> None:
        self._directory = directory
        self._choice = {SERVICE_ALIASES.get(service, service): vendor for service, vendor in providers.items()}

    def vendor(self, service: str) -> str | None:
        """The vendor the brand chose for `service`, None for the default."""
        return self._choice.get(service)

    def sms(self) -> SmsClient:
        """The brand's SMS client."""
        return self._directory.sms(self.vendor("sms"))

    def pan(self) -> PanClient:
        """The brand's PAN verification client."""
        return self._directory.pan(self.vendor("pan"))

    def penny_drop(self) -> PennyDropClient:
        """The brand's penny-drop client."""
        return self._directory.penny_drop(self.vendor("penny_drop"))

    def bureau(self) -> BureauClient:
        """The brand's bureau client."""
        return self._directory.bureau(self.vendor("bureau"))

    def bsa(self) -> BsaClient:
        """The brand's bank-statement analysis client."""
        return self._directory.bsa(self.vendor("bsa"))

    def aa(self) -> AaClient:
        """The brand's Account Aggregator client."""
        return self._directory.aa(self.vendor("aa"))

    def digilocker(self) -> DigilockerClient:
        """The brand's DigiLocker client (BrandSettings name it `aadhaar`)."""
        return self._directory.digilocker(self.vendor("digilocker"))

    def esign(self) -> EsignClient:
        """The brand's e-sign client."""
        return self._directory.esign(self.vendor("esign"))

    def gateway(self) -> GatewayClient:
        """The brand's payment gateway client."""
        return self._directory.gateway(self.vendor("gateway"))

    def dialer(self) -> DialerClient:
        """The brand's dialer client."""
        return self._directory.dialer(self.vendor("dialer"))


class _Link:
    """A client's way to its service's provider: whatever the directory has configured at the time of the call."""

    def __init__(self, directory: ProviderDirectory, service: str, vendor: str | None = None) -> None:
        self.directory, self.service, self.vendor = directory, service, vendor

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
        repeatable: bool = True,
    ) -> T:
        http = self.directory.http(self.service, self.vendor)
        if http is None:
            raise self.directory.unconfigured(self.service, kind, caller, self.vendor)
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
            repeatable=repeatable,
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

    def clear(self) -> None:
        """Forget them (the simulators were stopped)."""
        with self._lock:
            self._urls.clear()


def conforming(
    d: ProviderDirectory,
) -> tuple[
    SmsSender,
    PanVerifier,
    BankAccountVerifier,
    CreditBureau,
    StatementAnalyser,
    AccountAggregator,
    DigiLocker,
    EsignProvider,
    PaymentGateway,
]:
    """The directory's clients as the domain's protocols (mypy checks here that each client satisfies its protocol)."""
    return (d.sms(), d.pan(), d.penny_drop(), d.bureau(), d.bsa(), d.aa(), d.digilocker(), d.esign(), d.gateway())


def conforming_dialer(d: ProviderDirectory) -> Dialer:
    """The directory's dialer client as the domain's protocol (mypy checks the client satisfies it)."""
    return d.dialer()
