"""`covenant-desk` command line: serve, seed, projections, API keys, brands and staff."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from adapters.postgres import resolve_dsn
from domain.shared.errors import DomainError
from workers.logging_setup import configure_logging


def _platform() -> Any:
    from workers.platform import Platform

    return Platform.open(resolve_dsn())


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from workers.platform import Platform
    from workers.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    dsn = resolve_dsn()
    mail, sink_note = _mail_settings()
    platform = Platform.open(dsn, mail=mail)
    if args.seed:
        seed_demo(platform)
    from workers.runtime import Workers

    app = create_app(lambda: platform, background=None if args.no_workers else Workers)
    url = f"http://{args.host}:{args.port}"
    print(f"\nCovenant Desk is starting on {url}", flush=True)
    if args.seed:
        print(f"  portal login: {DEMO_EMAIL} / {DEMO_PASSWORD}", flush=True)
    print("  API key:      covenant-desk apikey create --brand demo --role admin", flush=True)
    print(f"  email:        {sink_note}\n", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
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

    platform = _platform()
    try:
        result = seed_demo(platform, borrowers=args.borrowers)
        print(
            f"demo brand {result['brand_id']}: {result['registered']} borrowers and {result['covenants']} covenants added now"
        )
        print(f"portal login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
    finally:
        platform.close()
    return 0


def cmd_projections_status(args: argparse.Namespace) -> int:
    platform = _platform()
    try:
        rows = platform.engine.status()
        print(f"{'projection':<22} {'source':<10} {'position':>10} {'head':>10} {'lag':>8}  updated")
        for s in rows:
            print(f"{s.name:<22} {s.source:<10} {s.position:>10} {s.head:>10} {s.lag:>8}  {s.updated_at or '-'}")
    finally:
        platform.close()
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    platform = _platform()
    try:
        platform.engine.projection(args.name)
        bar = tqdm(total=0, unit="ev", desc=f"rebuild {args.name}", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        count = platform.engine.rebuild(args.name, progress)
        bar.close()
        print(f"rebuilt {args.name}: replayed {count} notifications")
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    finally:
        platform.close()
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    platform = _platform()
    try:
        brand = platform.identity.brand_by_slug(args.brand)
        from domain.shared.aggregate import acting_as

        with acting_as("cli"):
            issued = platform.identity.issue_api_key(
                brand.id, args.role, args.label or f"cli {args.role}", may_grant_cross_brand=True
            )
        print(issued.secret)
        print(f"(key id {issued.id}, brand {brand.slug}, role {args.role}; shown once, store it now)", file=sys.stderr)
    finally:
        platform.close()
    return 0


def cmd_brand_create(args: argparse.Namespace) -> int:
    from domain.shared.aggregate import acting_as

    platform = _platform()
    try:
        with acting_as("cli"):
            result = platform.identity.create_brand(args.slug, args.name, args.timezone)
        print(f"brand {args.slug} created: {result.id}")
    finally:
        platform.close()
    return 0


def cmd_staff_create(args: argparse.Namespace) -> int:
    import getpass

    from domain.shared.aggregate import acting_as

    platform = _platform()
    try:
        brand = platform.identity.brand_by_slug(args.brand)
        password = args.password or getpass.getpass("Password: ")
        with acting_as("cli"):
            result = platform.identity.create_staff(brand.id, args.email, args.name, args.role, password)
        print(f"staff user {args.email} created: {result.id}")
    finally:
        platform.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="covenant-desk", description="Covenant Desk lending operations platform")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve API and portal (with workers) on one port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--seed", action="store_true", help="seed the demo brand first (idempotent)")
    serve.add_argument("--no-workers", action="store_true", help="API only: no projection runners or scheduler")
    serve.set_defaults(func=cmd_serve)

    seed = sub.add_parser("seed", help="create the demo brand, admin and borrowers (idempotent)")
    seed.add_argument("--borrowers", type=int, default=150)
    seed.set_defaults(func=cmd_seed)

    projections = sub.add_parser("projections", help="read model status and rebuilds")
    psub = projections.add_subparsers(dest="action", required=True)
    psub.add_parser("status", help="position and lag per projection").set_defaults(func=cmd_projections_status)
    rebuild = psub.add_parser("rebuild", help="drop and replay one projection")
    rebuild.add_argument("name")
    rebuild.set_defaults(func=cmd_projections_rebuild)

    apikey = sub.add_parser("apikey", help="API keys")
    asub = apikey.add_subparsers(dest="action", required=True)
    create_key = asub.add_parser("create", help="create a key (printed once)")
    create_key.add_argument("--brand", required=True, help="brand slug")
    create_key.add_argument("--role", required=True, help="role id, e.g. admin")
    create_key.add_argument("--label", default=None)
    create_key.set_defaults(func=cmd_apikey_create)

    brand = sub.add_parser("brand", help="brands")
    bsub = brand.add_subparsers(dest="action", required=True)
    create_brand = bsub.add_parser("create")
    create_brand.add_argument("--slug", required=True)
    create_brand.add_argument("--name", required=True)
    create_brand.add_argument("--timezone", default="Asia/Kolkata")
    create_brand.set_defaults(func=cmd_brand_create)

    staff = sub.add_parser("staff", help="staff users")
    ssub = staff.add_subparsers(dest="action", required=True)
    create_staff = ssub.add_parser("create")
    create_staff.add_argument("--brand", required=True)
    create_staff.add_argument("--email", required=True)
    create_staff.add_argument("--name", required=True)
    create_staff.add_argument("--role", action="append", required=True)
    create_staff.add_argument("--password", default=None, help="prompted when omitted")
    create_staff.set_defaults(func=cmd_staff_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        return int(args.func(args))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
