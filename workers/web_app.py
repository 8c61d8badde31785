"""The web app of the registered contexts: what `serve` runs and what the tests drive."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette

from api.app import BackgroundWork, create_app
from api.ports import Services
from workers.contexts import CONTEXTS
from workers.platform import Platform, compose_web


def build_app(
    open_platform: Callable[[], Platform],
    *,
    background: Callable[[Platform], BackgroundWork] | None = None,
    close_platform: bool = True,
) -> Starlette:
    """The Starlette app serving every registered context; the platform opens in the app's lifespan."""

    def start_background(services: Services) -> BackgroundWork:
        assert background is not None and isinstance(services, Platform)
        return background(services)

    return create_app(
        open_platform,
        compose_web(CONTEXTS),
        background=start_background if background is not None else None,
        close_services=close_platform,
    )
