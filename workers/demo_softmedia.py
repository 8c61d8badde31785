"""The demo's Softmedia: a simulator in the `make run` process, and the demo brand's sources connected to it."""

from __future__ import annotations

import os
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import structlog

from adapters.outbound import OutboundPolicy
from adapters.simulators.softmedia import Dataset, SimBorrower, SoftmediaSimulator
from api.services.notice_syncs import SyncRequests
from domain.identity.application import Identity
from domain.notices.application import Notices
from domain.notices.source import SyncAlreadyRunning, source_id_for
from domain.shared.aggregate import acting_as
from domain.shared.clock import business_date
from workers.seed import demo_borrowers

if TYPE_CHECKING:
    from workers.platform import Platform

log = structlog.get_logger(__name__)

DEMO_TOKEN = "demo-softmedia-token-2026"
DEMO_COMPANIES = ("SML", "KFL")
DEMO_SCHEDULE = "*/15 * * * *"
DEMO_PORT = 8100


def start_demo_softmedia(platform: Platform, brand_id: Any, borrowers: int = 150, per_company: int = 1500) -> str:
    """Serve realistic notices for the demo brand's two companies (about 60% of them belonging to the demo's
    borrowers) and point the brand's sources at them; the first time, ask for a sync of each. Returns the URL."""
    today = business_date(platform.clock.now(), platform.get(Identity).timezone(brand_id))
    known = [SimBorrower(p["name"], p["phone"], list(p["loan_numbers"])) for p in demo_borrowers(borrowers)]
    dataset = Dataset.generate(7, list(DEMO_COMPANIES), per_company, today, borrowers=known, known_share=0.6)
    port = int(os.environ.get("SOFTMEDIA_SIM_PORT", DEMO_PORT))
    simulator = SoftmediaSimulator(dataset, token=DEMO_TOKEN, port=port)
    try:
        url = simulator.start()
    except OSError:  # The usual port is taken: any free one will do, the sources follow it.
        simulator = SoftmediaSimulator(dataset, token=DEMO_TOKEN, port=0)
        url = simulator.start()
    # The demo's own simulator listens on loopback, which notice sources may not point at unless allowed.
    platform.get(OutboundPolicy).allow(url)
    with acting_as("seed"):
        for company in DEMO_COMPANIES:
            source_id = source_id_for(brand_id, company)
            if platform.get(Notices).find(source_id) is None:
                platform.get(Notices).connect_source(
                    brand_id, company=company, base_url=url, token=DEMO_TOKEN, schedule=DEMO_SCHEDULE
                )
                with suppress(SyncAlreadyRunning):
                    platform.port(SyncRequests).request(brand_id, source_id, trigger="manual", requested_by="seed")
            elif platform.get(Notices).source(brand_id, source_id).base_url != url:
                platform.get(Notices).reconfigure_source(brand_id, source_id, base_url=url)
    log.info("demo.softmedia_started", url=url, notices=len(dataset), companies=list(DEMO_COMPANIES))
    return url
