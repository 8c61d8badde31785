"""The Starlette application: API, portal, health, metrics, OpenAPI; resources live in the lifespan."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import psycopg
import structlog
from eventsourcing.persistence import PersistenceError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from api.health import HealthProbe
from api.openapi import build_openapi
from api.ports import Services, WebComposition
from api.problems import RETRY_AFTER_SECONDS, database_unavailable, problem, unavailable_problem
from api.request_input import MAX_BODY_BYTES
from api.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from api.uploads import ENVELOPE_BYTES
from api.web import STATIC_DIR, Page, PublicPage, not_found, render

log = structlog.get_logger(__name__)

#: The secrets that fall back to a published demo value when unset: anyone could then sign provider webhooks (a
#: payout confirmed, a payment captured) or a borrower's pay and no-due links. Fine for `make run`; said loudly at
#: start, so a deployment that forgot them is seen (docs/operations.md).
DEMO_SECRETS = ("PROVIDER_WEBHOOK_SECRET", "SHARE_LINK_SECRET")


def demo_secrets_in_use(environ: Mapping[str, str]) -> list[str]:
    """The secrets of DEMO_SECRETS left unset (or blank), which their published demo values stand in for."""
    return [name for name in DEMO_SECRETS if not environ.get(name, "").strip(", ")]


_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


class BackgroundWork(Protocol):
    """The in-process workers of `make run` (projection runners, scheduler, relay), started with the app."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Metrics:
    """Prometheus collectors of one app instance."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )
        self.lag = Gauge(
            "projection_lag_events", "Events a projection is behind its source", ["projection"], registry=self.registry
        )
        self.position = Gauge(
            "projection_position", "Tracking position of a projection", ["projection"], registry=self.registry
        )
        self.failed = Gauge(
            "projection_failed_events",
            "Events a projection could not apply (recorded in ops.projection_failures, skipped)",
            ["projection"],
            registry=self.registry,
        )
        self.parked = Gauge(
            "projection_parked_events",
            "Later events of failed events' aggregates, held until the failed event applies",
            ["projection"],
            registry=self.registry,
        )
        self.stopped = Gauge(
            "projection_stopped", "1 while a projection is stopped (too many failing events)", ["projection"],
            registry=self.registry,
        )  # fmt: skip
        self.database_up = Gauge(
            "covenant_desk_database_up", "1 when the database answered the last check", registry=self.registry
        )
        self.relay_lag = Gauge(
            "covenant_desk_relay_lag_events",
            "Events of a source not yet acknowledged by the Kafka broker",
            ["source"],
            registry=self.registry,
        )
        self.relay_up = Gauge(
            "covenant_desk_relay_up",
            "1 while the relay publishes, 0 while the broker is unavailable",
            registry=self.registry,
        )
        self.relay_published = Gauge(
            "covenant_desk_relay_published_events", "Events published since the process started", registry=self.registry
        )


class RequestContextMiddleware:
    """Request id (X-Request-ID), structured access log and request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        if given and not _REQUEST_ID.fullmatch(given):
            # Logged, echoed in a response header and stored with each event's trace: printable ASCII only.
            refused = problem(
                422,
                "X-Request-ID: use 1-200 printable ASCII characters",
                "invalid-input",
                scope["path"],
                errors=[{"field": "X-Request-ID", "message": "use 1-200 printable ASCII characters"}],
            )
            await refused(scope, receive, send)
            return
        request_id = given[:64] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(elapsed)
            log.info(
                "http.request", method=scope["method"], path=scope["path"], status=status, ms=round(elapsed * 1000, 1)
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _allowed_methods(app: Starlette, path: str) -> str:
    """The methods of the resource at `path`: those of the most specific routes matching it (a literal
    `/blocklist/check` over `/blocklist/{entry_id}`), since one path's methods can be spread over routes."""
    matching = [r for r in app.routes if isinstance(r, Route) and r.methods and r.path_regex.fullmatch(path)]
    fewest = min((len(r.param_convertors) for r in matching), default=0)
    methods = {m for r in matching if len(r.param_convertors) == fewest for m in r.methods or ()}
    return ", ".join(sorted(methods))


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


def create_app(
    open_services: Callable[[], Services],
    web: WebComposition,
    *,
    background: Callable[[Services], BackgroundWork] | None = None,
    close_services: bool = True,
) -> Starlette:
    """Build the app serving `web`'s endpoints and pages; `open_services` runs in the lifespan (never at import
    time), then `background(services)` returns the in-process workers, started and stopped with the app."""
    metrics = Metrics()
    openapi_doc = build_openapi(list(web.endpoints))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await run_in_threadpool(open_services)
        app.state.services = services
        unset = demo_secrets_in_use(os.environ)
        if unset:
            log.warning("secrets.demo_defaults", unset=unset,
                        detail="signed with published demo values: set them outside a demo")  # fmt: skip
        # One probe per app, shared by overlapping lifespans (tests serve one app from several clients).
        if getattr(app.state, "health_users", 0) == 0:
            app.state.health = HealthProbe(services.dsn, services.engine)
        app.state.health_users = getattr(app.state, "health_users", 0) + 1
        workers = background(services) if background is not None else None
        if workers is not None:
            workers.start()
        try:
            yield
        finally:
            if workers is not None:
                workers.stop()
            app.state.health_users -= 1
            if app.state.health_users == 0:
                app.state.health.close()
            if close_services:
                await run_in_threadpool(services.close)

    async def health(request: Request) -> Response:
        # Never the request thread pool or the shared connection pools: they are what hangs in an outage.
        services: Services = request.app.state.services
        report = await request.app.state.health.check()
        if not report.database_up:
            return JSONResponse(
                {"status": "down", "database": "unreachable", "error": report.error, "projections": []},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        statuses = report.projections
        body: dict[str, Any] = {
            "status": "degraded" if report.degraded else "ok",
            "database": "up",
            "projections": [
                {
                    "name": s.name,
                    "position": s.position,
                    "head": s.head,
                    "lag": s.lag,
                    "failed": s.failed,
                    "parked": s.parked,
                    "stopped": _stopped(s.error),
                }
                for s in statuses
            ],
            "failing": [
                {"name": s.name, "failed": s.failed, "parked": s.parked, "stopped": _stopped(s.error)}
                for s in report.failing
            ],
        }
        st = services.relay_report()
        if st is not None:
            body["relay"] = {
                "state": st.state,
                "leader": st.leader,
                "error": st.error,
                "since": st.since.isoformat() if st.since else None,
                "published": st.published,
                "lag": dict(st.lag),
            }
            if st.state == "degraded":
                body["status"] = "degraded"
        return JSONResponse(body)

    async def metrics_endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        report = await request.app.state.health.check()
        metrics.database_up.set(1 if report.database_up else 0)
        for s in report.projections:
            metrics.lag.labels(s.name).set(s.lag)
            metrics.position.labels(s.name).set(s.position)
            metrics.failed.labels(s.name).set(s.failed)
            metrics.parked.labels(s.name).set(s.parked)
            metrics.stopped.labels(s.name).set(1 if s.error else 0)
        relay = services.relay_report()
        if relay is not None:
            for source, lag in relay.lag.items():
                metrics.relay_lag.labels(source).set(lag)
            metrics.relay_up.set(1 if relay.state == "ok" else 0)
            metrics.relay_published.set(relay.published)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_doc)

    async def database_error(request: Request, exc: Exception) -> Response:
        """Outside the API's own handling (portal pages): an unreachable database is a 503 page, not a 500."""
        if not database_unavailable(exc):
            raise exc
        log.warning("request.database_unavailable", path=request.url.path, error=type(exc).__name__)
        if request.url.path.startswith("/api/"):
            return unavailable_problem(request.url.path)
        response = render(
            request,
            "error.html",
            503,
            title="Temporarily unavailable",
            message="The database cannot be reached just now. Try again in a few seconds.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/") or exc.status_code != 404:
            response = problem(exc.status_code, exc.detail or "", "http-" + str(exc.status_code), request.url.path)
            response.headers.update(exc.headers or {})
            if exc.status_code == 405:
                response.headers["Allow"] = _allowed_methods(request.app, request.url.path)
            return response
        return await not_found(request)

    routes: list[Any] = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *[ep.route() for ep in web.endpoints],
        *[page.route() for page in web.pages],
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_error,
            psycopg.Error: database_error,
            PersistenceError: database_error,
        },
    )
    uploads = [(ep.route().path_regex, ep.method, ep.upload.max_request_bytes) for ep in web.endpoints if ep.upload]
    uploads += [
        (page.route().path_regex, page.method, page.upload_bytes + ENVELOPE_BYTES)
        for page in web.pages
        if isinstance(page, Page | PublicPage) and page.upload_bytes
    ]
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES, uploads=uploads)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.state.endpoints = list(web.endpoints)
    app.state.nav = list(web.nav)
    return app


#: What `/health` (public: no sign-in) says of a stopped projection. Its error names the first failing event's
#: fault, which may quote the event's values (a name, a phone, a loan number): that is read with
#: `covenant-desk projections status` and `failures`, not on the open endpoint.
STOPPED = "stopped: too many failing events (covenant-desk projections status names the error)"


def _stopped(error: str | None) -> str | None:
    return STOPPED if error else None
