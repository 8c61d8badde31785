"""`covenant-desk` command line: serve, seed, projections, API keys, brands and staff."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

import psycopg
from eventsourcing import persistence

from adapters.postgres import DatabaseUnavailable, DatabaseUnreachable, check_reachable, pool_timeout, resolve_dsn
from domain.shared.errors import DomainError
from domain.shared.values import whole_number
from workers import customer_numbers
from workers.logging_setup import configure_logging

if TYPE_CHECKING:
    from workers.platform import Platform


class StopSignal(SystemExit):
    """Raised in the main thread when the process is told to stop (SIGTERM, SIGHUP), as Ctrl-C raises
    KeyboardInterrupt: the stack unwinds and atexit handlers run, so the embedded PostgreSQL stops when its last
    user goes. (Python's default for SIGTERM ends the process at once, skipping atexit.)"""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)  # the shell's convention for "ended by signal N"
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopSignal(signum)


def handle_stop_signals() -> None:
    """Make SIGTERM and SIGHUP unwind the main thread (StopSignal) instead of killing the process outright."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)


class CommandError(Exception):
    """Raised for a mistake in a command's input or settings: `main` prints its message on stderr and exits with
    its code, having changed nothing."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message, self.code = message, code


#: Exit code when the database or the broker cannot be reached (2: a mistake in the command line; 130: Ctrl-C).
UNREACHABLE = 3


def database_dsn() -> str:
    """DATABASE_URL (or the embedded server's DSN) once one connection to it worked, and DATABASE_POOL_TIMEOUT valid;
    otherwise DatabaseUnreachable or CommandError, before any pool starts retrying and logging in the background."""
    try:
        pool_timeout()
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    dsn = resolve_dsn()
    check_reachable(dsn)
    return dsn


def _platform(**options: Any) -> Platform:
    from workers.platform import Platform

    return Platform.open(database_dsn(), **options)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from adapters.http_server import QuietServer
    from workers.platform import Platform
    from workers.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    dsn = database_dsn()
    mail, sink_note = _mail_settings()
    platform = Platform.open(dsn, mail=mail)
    softmedia_note = None
    providers_note: dict[str, str] = {}
    if args.seed:
        seeded = seed_demo(platform)
        if os.environ.get("SOFTMEDIA_DEMO", "1") != "0":
            from workers.demo_softmedia import start_demo_softmedia

            softmedia_note = start_demo_softmedia(platform, seeded["brand_id"])
        if os.environ.get("PROVIDER_SIMULATORS", "1") != "0":
            from workers.demo_providers import start_demo_providers

            providers_note = start_demo_providers(platform)
            if seeded["created_brand"]:  # KYC of the first demo borrowers, through the simulators just started
                from workers.demo_verification import seed_verification

                seed_verification(platform, seeded["brand_id"])
    from workers.runtime import Workers
    from workers.web_app import build_app

    app = build_app(lambda: platform, background=None if args.no_workers else Workers)
    url = f"http://{args.host}:{args.port}"
    # Providers (the e-sign simulator's webhook) call us back here unless the deployment says otherwise.
    os.environ.setdefault("PUBLIC_BASE_URL", url.replace("://0.0.0.0:", "://127.0.0.1:"))
    print(f"\nCovenant Desk is starting on {url}", flush=True)
    if args.seed:
        print(f"  portal login: {DEMO_EMAIL} / {DEMO_PASSWORD}", flush=True)
    print("  API key:      covenant-desk apikey create --brand demo --role admin", flush=True)
    print(f"  email:        {sink_note}", flush=True)
    if softmedia_note:
        print(f"  softmedia:    demo simulator at {softmedia_note} (companies SML, KFL)", flush=True)
    if providers_note:
        print(
            "  providers:    simulators (GET /api/v1/dev/simulators; {base}/outbox?to= shows what they sent)",
            flush=True,
        )
        for service, base_url in providers_note.items():
            print(f"                {service:<11} {base_url}", flush=True)
    print("", flush=True)
    try:
        # uvicorn catches SIGTERM and SIGINT itself, shuts down gracefully (the lifespan closes the platform),
        # then raises the signal again for the handler it found: ours for SIGTERM, Python's KeyboardInterrupt
        # for SIGINT. Either way the stop is complete: exit normally, running atexit.
        server = QuietServer(uvicorn.Config(app, host=args.host, port=args.port, log_config=None, access_log=False))
        server.run()
    except (StopSignal, KeyboardInterrupt):
        print("Covenant Desk stopped", flush=True)
        return 0
    if not server.started:  # it could not listen (the port is taken, say): uvicorn has logged why
        print(f"Covenant Desk could not start on {url}", file=sys.stderr, flush=True)
        return 3
    return 0


def _mail_settings() -> tuple[Any, str]:
    """SMTP_HOST's server when set; otherwise a local sink on 127.0.0.1 that keeps every email under var/mail."""
    import os
    from pathlib import Path

    from adapters.mail_sink import MailSink, free_port
    from adapters.mailer import MailSettings

    if os.environ.get("SMTP_HOST"):
        settings = MailSettings.from_env()
        return settings, f"SMTP {settings.host}:{settings.port}"
    folder = Path(os.environ.get("COVENANT_DESK_VAR", "var")) / "mail"
    try:
        sink = MailSink(port=1025, folder=folder).start()
    except OSError:
        sink = MailSink(port=free_port(), folder=folder).start()
    return MailSettings(port=sink.port), f"local SMTP sink on 127.0.0.1:{sink.port}, messages saved in {folder}/"


def cmd_seed(args: argparse.Namespace) -> int:
    from workers.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    with _platform() as platform:
        result = seed_demo(platform, borrowers=args.borrowers)
        print(
            f"demo brand {result['brand_id']}: {result['registered']} borrowers and {result['covenants']} covenants added now"
        )
        print(f"portal login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
    return 0


def cmd_projections_status(args: argparse.Namespace) -> int:
    with _platform() as platform:
        rows = platform.engine.status()
        print(
            f"{'projection':<22} {'source':<10} {'position':>10} {'head':>10} {'lag':>8} {'failed':>7} {'parked':>7}"
            "  updated"
        )
        for s in rows:
            print(
                f"{s.name:<22} {s.source:<10} {s.position:>10} {s.head:>10} {s.lag:>8} {s.failed:>7} {s.parked:>7}"
                f"  {s.updated_at or '-'}"
            )
            if s.error:
                print(f"  STOPPED: {s.error}")
    return 0


def cmd_projections_failures(args: argparse.Namespace) -> int:
    with _platform() as platform:
        try:
            failures = platform.engine.failures(args.name)
            if not failures:
                print(f"no failed events{f' in {args.name}' if args.name else ''}")
                return 0
            print(
                f"{'projection':<22} {'position':>9} {'status':<7} {'tries':>5}  {'event':<34} {'aggregate':<36} brand"
            )
            for f in failures:
                event = f.topic.rpartition(":")[2]
                print(
                    f"{f.projection:<22} {f.position:>9} {f.status:<7} {f.attempts:>5}  {event:<34} {f.aggregate_id!s:<36}"
                    f" {f.brand_id or '-'}"
                )
                print(f"  first seen {f.first_seen:%Y-%m-%d %H:%M:%S}, last {f.last_seen:%Y-%m-%d %H:%M:%S}: {f.error}")
            failed = sum(f.status == "failed" for f in failures)
            print(f"{failed} failed, {len(failures) - failed} parked behind them")
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
    return 0


def cmd_projections_retry(args: argparse.Namespace) -> int:
    from projections.failures import NoSuchFailure

    if args.name is not None and args.all:
        print("error: name a projection or give --all, not both", file=sys.stderr)
        return 2
    if args.name is None and not args.all:
        print("error: name a projection, or give --all", file=sys.stderr)
        return 2
    if args.position is not None and args.name is None:
        print("error: --position needs a projection name", file=sys.stderr)
        return 2
    with _platform() as platform:
        try:
            names = [args.name] if args.name else sorted({f.projection for f in platform.engine.failures()})
            still_failing = 0
            for name in names:
                outcome = platform.engine.retry(name, args.position)
                applied = ", ".join(str(p) for p in outcome.applied) or "none"
                print(f"{name}: applied {len(outcome.applied)} ({applied}); still failing {len(outcome.still_failing)}")
                for position, error in sorted(outcome.still_failing.items()):
                    print(f"  position {position}: {error}")
                still_failing += len(outcome.still_failing)
            if not names:
                print("no failed events")
        except (KeyError, NoSuchFailure) as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
    return 1 if still_failing else 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with _platform() as platform:
        try:
            platform.engine.projection(args.name)
            bar = tqdm(total=0, unit="ev", desc=f"rebuild {args.name}", file=sys.stderr)

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                count = platform.engine.rebuild(args.name, progress)
            except KeyboardInterrupt:
                bar.close()
                print(
                    f"error: rebuild of {args.name} interrupted after {bar.n} of {bar.total} notifications;"
                    " run it again to finish it",
                    file=sys.stderr,
                )
                return 130
            bar.close()
            print(f"rebuilt {args.name}: replayed {count} notifications")
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from domain.identity.application import Identity
    from domain.identity.principal import OPERATOR

    with _platform() as platform:
        brand = platform.get(Identity).brand_by_slug(args.brand)
        from domain.shared.aggregate import acting_as

        with acting_as("cli"):
            # The operator's CLI may make any key, a Super Admin's included (the portal and the API: only within
            # what the caller holds).
            issued = platform.get(Identity).issue_api_key(
                brand.id, args.role, args.label or f"cli {args.role}", granter=OPERATOR
            )
        print(issued.secret)
        print(f"(key id {issued.id}, brand {brand.slug}, role {args.role}; shown once, store it now)", file=sys.stderr)
    return 0


def cmd_brand_create(args: argparse.Namespace) -> int:
    from domain.identity.application import Identity
    from domain.shared.aggregate import acting_as

    with _platform() as platform:
        with acting_as("cli"):
            result = platform.get(Identity).create_brand(args.slug, args.name, args.timezone)
        print(f"brand {args.slug} created: {result.id}")
    return 0


def cmd_staff_create(args: argparse.Namespace) -> int:
    import getpass

    from domain.identity.application import Identity
    from domain.identity.principal import OPERATOR
    from domain.shared.aggregate import acting_as

    with _platform() as platform:
        brand = platform.get(Identity).brand_by_slug(args.brand)
        password = args.password or _read_password(getpass.getpass)
        with acting_as("cli"):
            # The operator's CLI may make a Super Admin (the portal and the API let only a Super Admin do it).
            result = platform.get(Identity).create_staff(
                brand.id, args.email, args.name, args.role, password, granter=OPERATOR
            )
        print(f"staff user {args.email} created: {result.id}")
    return 0


def _read_password(prompt: Callable[[str], str]) -> str:
    """The password typed at a prompt (not echoed), or the first line of stdin when that is not a terminal (a
    script's pipe): CommandError when there is none."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise CommandError("no password given: pass --password, or pipe one line to stdin")
        return line.rstrip("\r\n")
    try:
        return prompt("Password: ")
    except (EOFError, KeyboardInterrupt) as exc:
        print(file=sys.stderr)  # end the prompt's line
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise CommandError("no password given: pass --password, or type one at the prompt") from None


def cmd_events_write(args: argparse.Namespace) -> int:
    from workers import event_catalogue

    written = event_catalogue.write()
    for path in written:
        print(f"wrote {path.relative_to(event_catalogue.CATALOGUE.parent.parent)}")
    problems = [p for p in event_catalogue.check() if p.breaking]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(written)} schema file(s) written; {len(problems)} breaking change(s)")
    return 1 if problems else 0


def cmd_events_check(args: argparse.Namespace) -> int:
    from workers import event_catalogue

    problems = event_catalogue.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"event catalogue matches the code ({len(event_catalogue.event_classes())} event types)")
    return 1 if problems else 0


def cmd_relay(args: argparse.Namespace) -> int:
    import signal

    from adapters.kafka import KafkaSettings
    from workers.platform import Platform
    from workers.relay import Relay

    settings = KafkaSettings.from_env()
    if settings is None:
        print(
            "error: set KAFKA_BOOTSTRAP_SERVERS (e.g. 127.0.0.1:9092; `make kafka` starts a broker there)",
            file=sys.stderr,
        )
        return 2
    with Platform.open(database_dsn()) as platform:
        relay = Relay(platform, settings, batch=args.batch)
        signal.signal(signal.SIGTERM, lambda *_: relay.stop())
        print(f"relaying events to {settings.bootstrap_servers} (topics {settings.topic_prefix}.*)", flush=True)
        relay.start()
        try:
            while relay.is_alive():
                relay.join(timeout=1)
        except KeyboardInterrupt:
            relay.stop()
            relay.join(timeout=10)
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    import sqlite3

    from kafka.errors import KafkaError

    from workers.consumer import main as consume_main

    if not args.bootstrap:
        print("error: give --bootstrap or set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    print(f"consuming {', '.join(args.topic)} from {args.bootstrap} as group {args.group}", file=sys.stderr, flush=True)
    try:
        return consume_main(args)
    except sqlite3.Error as exc:
        raise CommandError(f"--state {args.state}: cannot use it as a SQLite file of event ids ({exc})") from None
    except KafkaError as exc:
        raise CommandError(f"Kafka at {args.bootstrap}: {exc}", UNREACHABLE) from None


def cmd_replay(args: argparse.Namespace) -> int:
    import json
    import uuid
    from datetime import UTC, datetime

    from domain.audit.replay import AuditReplay
    from workers.platform import Platform

    try:
        aggregate_id = uuid.UUID(args.id)
    except ValueError:
        print(f"error: '{args.id}' is not a record id (a UUID)", file=sys.stderr)
        return 2
    as_of = datetime.now(UTC)
    if args.as_of is not None and args.history:
        print("error: --history prints every event; --as-of is for the state (give one of them)", file=sys.stderr)
        return 2
    if args.as_of is not None:
        try:
            as_of = datetime.fromisoformat(args.as_of)
        except ValueError:
            print(
                f"error: --as-of '{args.as_of}' is not an ISO-8601 instant (e.g. 2026-03-31T18:30:00+05:30)",
                file=sys.stderr,
            )
            return 2
        as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    with Platform.open(database_dsn()) as platform:
        replay = platform.get(AuditReplay)
        out: object
        if args.history:
            out = [e.__dict__ for e in replay.history(args.type, aggregate_id, None)]
        else:
            out = replay.state_as_of(args.type, aggregate_id, None, as_of)
    print(json.dumps(out, indent=2, default=str))
    return 0


def _whole_number(least: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number in ASCII digits (`whole_number`, as the API reads one) of at least `least`
    (`what` names the range in the message)."""

    def parse(text: str) -> int:
        value = whole_number(text)
        if value is None or value < least:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}")
        return value

    return parse


def _port(text: str) -> int:
    value = _whole_number(1, "a port (1-65535)")(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds (0 or more)")
    return value


def command(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose `text` is both its line in the parent's list and the description its own --help shows."""
    return cast(argparse.ArgumentParser, sub.add_parser(name, help=text, description=text))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covenant-desk",
        description="Covenant Desk lending operations platform. Commands that use the database read DATABASE_URL "
        "(unset: the embedded PostgreSQL under ./var). Exit codes: 0 done, 1 done with failures the command names, "
        "2 a mistake in the command, 3 the database or broker cannot be reached, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = command(sub, "serve", "serve API and portal (with workers) on one port")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument("--seed", action="store_true", help="seed the demo brand first (idempotent)")
    serve.add_argument("--no-workers", action="store_true", help="API only: no projection runners or scheduler")
    serve.set_defaults(func=cmd_serve)

    seed = command(sub, "seed", "create the demo brand, admin and borrowers (idempotent)")
    seed.add_argument(
        "--borrowers",
        type=_whole_number(0, "a number of borrowers (0 or more)"),
        default=150,
        help="demo borrowers to register (default: 150; those already there are kept)",
    )
    seed.set_defaults(func=cmd_seed)

    projections = command(sub, "projections", "read model status, failures, retries and rebuilds")
    psub = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    command(psub, "status", "position, head and lag per projection").set_defaults(func=cmd_projections_status)
    rebuild = command(psub, "rebuild", "drop and replay one projection (progress bar on stderr)")
    rebuild.add_argument("name", help="the projection (`projections status` lists them)")
    rebuild.set_defaults(func=cmd_projections_rebuild)
    failures = command(psub, "failures", "events a projection could not apply, and those parked behind them")
    failures.add_argument("name", nargs="?", help="one projection (default: all)")
    failures.set_defaults(func=cmd_projections_failures)
    retry = command(
        psub, "retry", "apply failed events again with the current code; clear those that apply (exit 1 if any fail)"
    )
    retry.add_argument("name", nargs="?", help="the projection")
    retry.add_argument("--position", type=int, help="only the failed event at this position (and those behind it)")
    retry.add_argument("--all", action="store_true", help="every projection's failed events")
    retry.set_defaults(func=cmd_projections_retry)

    apikey = command(sub, "apikey", "API keys")
    asub = apikey.add_subparsers(dest="action", required=True, metavar="ACTION")
    create_key = command(asub, "create", "create an API key for a brand and role; the secret is printed once")
    create_key.add_argument("--brand", required=True, help="brand slug")
    create_key.add_argument("--role", required=True, help="role id, e.g. admin")
    create_key.add_argument("--label", default=None, help="a name for the key (default: 'cli ROLE')")
    create_key.set_defaults(func=cmd_apikey_create)

    brand = command(sub, "brand", "brands (lenders)")
    bsub = brand.add_subparsers(dest="action", required=True, metavar="ACTION")
    create_brand = command(bsub, "create", "create a brand")
    create_brand.add_argument("--slug", required=True, help="short id: lower-case letters, digits, dashes")
    create_brand.add_argument("--name", required=True, help="display name")
    create_brand.add_argument("--timezone", default="Asia/Kolkata", help="IANA timezone (default: Asia/Kolkata)")
    create_brand.set_defaults(func=cmd_brand_create)

    relay = command(sub, "relay", "publish every event to Kafka (KAFKA_BOOTSTRAP_SERVERS) until stopped")
    relay.add_argument(
        "--batch",
        type=_whole_number(1, "a batch size (1 or more)"),
        default=1000,
        help="events per acknowledged batch (default: 1000)",
    )
    relay.set_defaults(func=cmd_relay)
    consume = command(sub, "consume", "a worked example consumer: print each new event once (JSON lines on stdout)")
    consume.add_argument("--topic", action="append", required=True, help="a topic (repeat for several)")
    consume.add_argument("--group", required=True, help="consumer group id")
    consume.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="broker host:port (default: KAFKA_BOOTSTRAP_SERVERS)",
    )
    consume.add_argument("--state", help="SQLite file of processed event ids (dedupe across restarts)")
    consume.add_argument("--latest", action="store_true", help="start at the end for a new group (default: beginning)")
    consume.add_argument(
        "--max", type=_whole_number(1, "a number of events (1 or more)"), help="stop after this many new events"
    )
    consume.add_argument("--idle-exit", type=_seconds, help="stop after this many seconds without a record")
    consume.set_defaults(func=cmd_consume)

    replay = command(sub, "replay", "an aggregate's state as of an instant, replayed from its events (JSON on stdout)")
    replay.add_argument("type", help="aggregate type, e.g. customer, covenant, notice, staff_user")
    replay.add_argument("id", help="the aggregate's id (a UUID)")
    replay.add_argument("--as-of", help="ISO-8601 instant (default: now; without an offset: UTC)")
    replay.add_argument("--history", action="store_true", help="print every event instead of the state")
    replay.set_defaults(func=cmd_replay)

    events = command(sub, "events", "the event catalogue (JSON Schemas in docs/events/)")
    esub = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    command(esub, "write", "regenerate the schemas from the event models").set_defaults(func=cmd_events_write)
    command(esub, "check", "fail when code and committed schemas disagree or a change breaks consumers").set_defaults(
        func=cmd_events_check
    )

    staff = command(sub, "staff", "staff users")
    ssub = staff.add_subparsers(dest="action", required=True, metavar="ACTION")
    create_staff = command(ssub, "create", "create a staff login in a brand (super_admin too: the operator may)")
    create_staff.add_argument("--brand", required=True, help="brand slug")
    create_staff.add_argument("--email", required=True, help="login email (unique across the platform)")
    create_staff.add_argument("--name", required=True, help="the person's name")
    create_staff.add_argument("--role", action="append", required=True, help="role id, e.g. admin (repeat for several)")
    create_staff.add_argument(
        "--password",
        default=None,
        help="at least 10 characters; when omitted: prompted, or the first line of stdin when it is not a terminal",
    )
    create_staff.set_defaults(func=cmd_staff_create)
    customer_numbers.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    handle_stop_signals()
    try:
        return int(args.func(args))
    except (DomainError, CommandError) as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.code if isinstance(exc, CommandError) else 2
    except DatabaseUnreachable as exc:
        hint = "" if "DATABASE_URL" in str(exc) else " (check DATABASE_URL)"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return UNREACHABLE
    except (
        DatabaseUnavailable,
        psycopg.OperationalError,
        persistence.OperationalError,  # eventsourcing's, wrapping psycopg's
        persistence.InterfaceError,
    ) as exc:
        return _lost_the_database(exc)
    except persistence.PersistenceError as exc:
        # eventsourcing's datastore raises its base error for a pool that gave no connection (a server at its
        # `max_connections`, say): a traceback and exit 1 before.
        if not isinstance(exc.__cause__, DatabaseUnavailable):
            raise
        return _lost_the_database(exc.__cause__)
    except KeyboardInterrupt:
        print("error: interrupted; what the command had committed is kept, nothing after it", file=sys.stderr)
        return 130


def _lost_the_database(exc: BaseException) -> int:
    """The database went away (or gave no connection) while the command ran: what it had committed stays, the rest
    was not written."""
    reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    print(f"error: lost the database while working: {reason}", file=sys.stderr)
    return UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
