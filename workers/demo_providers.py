"""The demo's providers: a simulator of each (SMS, PAN, DigiLocker, penny drop, bureau, BSA, AA, e-sign, payment
gateway) in the `make run` process, on loopback, and every service not configured by PROVIDER_<SERVICE>_URL
pointed at its simulator. `GET /api/v1/dev/simulators` lists them (docs/providers.md)."""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING

import structlog

from adapters.providers.directory import DevSimulators, ProviderDirectory
from adapters.simulators.aa import AaSimulator
from adapters.simulators.bsa import BsaSimulator
from adapters.simulators.bureau import BureauSimulator
from adapters.simulators.dialer import DialerSimulator
from adapters.simulators.digilocker import DigilockerSimulator
from adapters.simulators.esign import EsignSimulator
from adapters.simulators.gateway import GatewaySimulator
from adapters.simulators.pan import PanSimulator
from adapters.simulators.penny_drop import PennyDropSimulator
from adapters.simulators.provider import DEFAULT_KEY, ProviderSimulator
from adapters.simulators.sms import SmsSimulator

if TYPE_CHECKING:
    from workers.platform import Platform

log = structlog.get_logger(__name__)

#: service -> simulator, in port order from PROVIDER_SIM_PORT_BASE (default 8201: sms 8201 ... gateway 8209, dialer 8210).
SIMULATORS: dict[str, type[ProviderSimulator]] = {
    "sms": SmsSimulator,
    "pan": PanSimulator,
    "digilocker": DigilockerSimulator,
    "penny_drop": PennyDropSimulator,
    "bureau": BureauSimulator,
    "bsa": BsaSimulator,
    "aa": AaSimulator,
    "esign": EsignSimulator,
    "gateway": GatewaySimulator,
    "dialer": DialerSimulator,
}
DEFAULT_PORT_BASE = 8201
WEBHOOK_SECRET_ENV = "PROVIDER_WEBHOOK_SECRET"
DEFAULT_WEBHOOK_SECRET = "whsec_demo_providers"


def start_demo_providers(platform: Platform) -> dict[str, str]:
    """Start every simulator (each on its usual port, or any free one when taken), point the unconfigured services
    at them, and announce them to the dev API; they stop with the process. Returns service -> base URL."""
    base = int(os.environ.get("PROVIDER_SIM_PORT_BASE", DEFAULT_PORT_BASE))
    secret = os.environ.get(WEBHOOK_SECRET_ENV, DEFAULT_WEBHOOK_SECRET)
    directory, announced = platform.get(ProviderDirectory), platform.get(DevSimulators)
    started: dict[str, str] = {}
    running: list[ProviderSimulator] = []
    for offset, (service, kind) in enumerate(SIMULATORS.items()):
        url = None
        for port in (base + offset, 0):
            simulator = kind(port=port, webhook_secret=secret)
            try:
                url = simulator.start()
                break
            except OSError:
                continue
        if url is None:  # pragma: no cover - port 0 always binds on loopback
            continue
        running.append(simulator)
        started[service] = url
        announced.add(service, url)
        if os.environ.get(f"PROVIDER_{service.upper()}_URL"):
            continue  # an operator's provider wins over the demo's simulator
        directory.configure_url(service, url, DEFAULT_KEY)
    atexit.register(_stop_all, running)
    log.info("demo.providers_started", simulators=started)
    return started


def _stop_all(running: list[ProviderSimulator]) -> None:
    for simulator in running:
        simulator.stop()
