"""Provider endpoints: the outbound call log (admins) and, under `make run`, the running simulators' addresses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from adapters.providers.directory import DevSimulators
from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from domain.identity.permissions import Level, Permission
from domain.providers.calls import SERVICES
from domain.shared.errors import NotFound
from projections.provider_calls import ProviderCallQueries

READ = (Permission.BRAND_SETTINGS, Level.READ)

Service = Literal["sms", "pan", "digilocker", "penny_drop", "bureau", "bsa", "aa", "esign", "gateway", "dialer"]
assert set(get_args(Service)) == set(SERVICES), "Service must list domain.providers.calls.SERVICES"


@dataclass(frozen=True)
class ProvidersPort:
    """What the provider endpoints and pages use: the call log and the dev simulators."""

    calls: ProviderCallQueries
    simulators: DevSimulators


class ProviderCallQuery(BaseModel):
    """Call log filters and paging."""

    model_config = ConfigDict(extra="forbid")

    provider: Service | None = None
    status: Literal["ok", "error"] | None = None
    customer_id: UUID | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class ProviderCallOut(BaseModel):
    """One call to a provider: what, for whom, how it went, how long it took (no payload)."""

    id: UUID
    provider: str
    vendor: str
    kind: str
    customer_id: UUID | None
    status: Literal["ok", "error"]
    outcome: Literal["ok", "rejected", "unavailable"]
    http_status: int | None
    latency_ms: int
    attempts: int
    error: str | None
    at: InstantOut


class ProviderCallPageOut(BaseModel):
    """Calls, newest first."""

    items: list[ProviderCallOut]
    next_cursor: str | None


class SimulatorsOut(BaseModel):
    """The base URL of each simulator this process runs: `GET {base}/outbox?to=`, `POST {base}/faults`."""

    model_config = ConfigDict(extra="allow")

    sms: str | None = None
    pan: str | None = None
    digilocker: str | None = None
    penny_drop: str | None = None
    bureau: str | None = None
    bsa: str | None = None
    aa: str | None = None
    esign: str | None = None
    gateway: str | None = None


def list_provider_calls(ctx: Context[ProvidersPort]) -> Reply:
    q: ProviderCallQuery = ctx.query
    return json_response(ctx.port.calls.calls(ctx.brand_id, q.provider, q.status, q.cursor, q.limit, q.customer_id))


def dev_simulators(ctx: Context[ProvidersPort]) -> Reply:
    urls = ctx.port.simulators.urls()
    if not urls:
        raise NotFound("no simulators run in this process (they run under `make run`)")
    return json_response(SimulatorsOut(**urls))


ENDPOINTS = serve(
    ProvidersPort,
    "providers",
    [
        Endpoint(
            "GET",
            "/api/v1/provider-calls",
            list_provider_calls,
            "The brand's outbound provider calls, newest first (admins)",
            READ,
            query=ProviderCallQuery,
            response=ProviderCallPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/dev/simulators",
            dev_simulators,
            "The base URL of each provider simulator `make run` started (404 when none run)",
            READ,
            response=SimulatorsOut,
            errors=(404,),
        ),
    ],
)
