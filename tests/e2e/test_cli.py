"""The `covenant-desk` command line against the test database (DATABASE_URL points it there)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from adapters.mail_sink import free_port
from tests.conftest import make_tenant
from tests.support import ROOT, settle


def _cli(dsn: str, *args: str, stdin: Any = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "WARNING", **env}
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        **({"input": stdin} if isinstance(stdin, str) else {"stdin": stdin}),
    )


def _closed_database() -> str:
    """A DATABASE_URL whose port nothing listens on."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/covenant_desk"


def _refused(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """The command ended with `code`, one `error:` line naming `words` on stderr, and no traceback."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], done.stderr


def test_seed_is_idempotent_and_an_api_key_from_the_cli_works(dsn: str, client: Any, platform: Any) -> None:
    first = _cli(dsn, "seed", "--borrowers", "12")
    assert first.returncode == 0, first.stderr
    second = _cli(dsn, "seed", "--borrowers", "12")
    assert "0 borrowers and 0 covenants added now" in second.stdout

    created = _cli(dsn, "apikey", "create", "--brand", "demo", "--role", "admin")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("cdk_") and "shown once" in created.stderr
    settle(platform, "customers")
    page = client.get("/api/v1/customers", params={"limit": 100}, headers={"Authorization": f"Bearer {key}"})
    # 12 registered by staff, 15 demo borrowers who reached the onboarding's personal step (their own records).
    assert page.status_code == 200 and len(page.json()["items"]) == 12 + 15
    settle(platform, "onboarding")
    auth = {"Authorization": f"Bearer {key}"}
    conversion = client.get("/api/v1/onboarding/conversion", headers=auth).json()
    assert conversion["started"] == 21 and conversion["steps"][-1]["reached"] == 2  # two submitted
    settle(platform, "products")
    products = client.get("/api/v1/loan-products", headers={"Authorization": f"Bearer {key}"}).json()["items"]
    assert [(p["code"], p["version"]) for p in products] == [("CONSUMER-EMI", 1), ("PAYDAY-30", 1), ("SAL-EMI", 1)]
    coupons = client.get("/api/v1/coupons", headers={"Authorization": f"Bearer {key}"}).json()["items"]
    assert [(c["code"], c["product_code"]) for c in coupons] == [("WELCOME50", "SAL-EMI")]

    unknown_role = _cli(dsn, "apikey", "create", "--brand", "demo", "--role", "wizard")
    assert unknown_role.returncode != 0 and "unknown role" in unknown_role.stderr
    unknown_brand = _cli(dsn, "apikey", "create", "--brand", "nope", "--role", "admin")
    assert unknown_brand.returncode != 0 and "no brand" in unknown_brand.stderr


def test_projection_status_and_rebuild_from_the_cli(dsn: str, platform: Any) -> None:
    status = _cli(dsn, "projections", "status")
    assert status.returncode == 0
    assert "customer_directory" in status.stdout and "lag" in status.stdout
    rebuilt = _cli(dsn, "projections", "rebuild", "customer_timeline")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt customer_timeline: replayed" in rebuilt.stdout
    assert "rebuild customer_timeline" in rebuilt.stderr  # the progress bar
    missing = _cli(dsn, "projections", "rebuild", "nope")
    assert missing.returncode == 2 and "unknown projection" in missing.stderr


def test_an_unreachable_database_is_one_line_and_exit_3() -> None:
    dsn = _closed_database()
    port = str(free_port())
    for command in (
        ["projections", "status"],
        ["projections", "rebuild", "customer_timeline"],
        ["seed"],
        ["apikey", "create", "--brand", "demo", "--role", "admin"],
        ["customers", "number", "--brand", "demo"],
        ["replay", "customer", str(uuid.uuid4())],
        ["serve", "--no-workers", "--port", port],
    ):
        done = _cli(dsn, *command)
        _refused(done, 3, "cannot connect to the database at 127.0.0.1", "Connection refused", "DATABASE_URL")
    _refused(_cli("not a dsn", "projections", "status"), 3, "DATABASE_URL is not a valid connection string")
    missing = _cli(_closed_database(), "projections", "status", DATABASE_POOL_TIMEOUT="soon")
    _refused(missing, 2, "DATABASE_POOL_TIMEOUT")


def test_every_command_and_option_says_what_it_does() -> None:
    from workers.cli import build_parser

    def leaves(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
        found = [(path, parser)]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += leaves(child, f"{path} {name}")
        return found

    commands = leaves(build_parser(), "covenant-desk")
    assert len(commands) > 20
    for path, parser in commands:
        assert parser.description, f"`{path} --help` does not say what the command does"
        for action in parser._actions:
            if action.option_strings or not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"`{path} --help` does not explain {action.dest}"


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["serve", "--port", "99999"], "--port"),
        (["serve", "--port", "0"], "--port"),
        (["seed", "--borrowers", "-3"], "--borrowers"),
        (["relay", "--batch", "0"], "--batch"),
        (["consume", "--topic", "t", "--group", "g", "--max", "0"], "--max"),
        (["consume", "--topic", "t", "--group", "g", "--idle-exit", "-1"], "--idle-exit"),
    ],
)
def test_out_of_range_numbers_are_refused_before_anything_runs(
    command: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from workers.cli import build_parser

    with pytest.raises(SystemExit) as ended:
        build_parser().parse_args(command)
    assert ended.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def test_contradictory_or_empty_arguments_are_refused_before_the_database_is_asked() -> None:
    dsn = _closed_database()  # refused before it is needed: a command reaching it would exit 3
    some_id = str(uuid.uuid4())
    _refused(_cli(dsn, "replay", "customer", some_id, "--as-of", ""), 2, "--as-of ''", "ISO-8601")
    _refused(_cli(dsn, "replay", "customer", some_id, "--as-of", "2026-02-30"), 2, "--as-of '2026-02-30'")
    _refused(_cli(dsn, "replay", "customer", some_id, "--as-of", "2026-01-01", "--history"), 2, "--history")
    _refused(_cli(dsn, "replay", "customer", "not-an-id"), 2, "not a record id")
    _refused(_cli(dsn, "projections", "retry", "customer_timeline", "--all"), 2, "not both")


def test_staff_create_without_a_password_refuses_and_creates_nobody(dsn: str, platform: Any) -> None:
    tenant = make_tenant(platform)
    email = f"cli-{uuid.uuid4().hex[:6]}@lender.in"
    args = ("staff", "create", "--brand", tenant.slug, "--email", email, "--name", "Cli Staff", "--role", "admin")
    _refused(_cli(dsn, *args, stdin=subprocess.DEVNULL), 2, "no password given")
    # Nothing was written: the same email is free, and a password piped on stdin is taken.
    piped = _cli(dsn, *args, stdin="Piped-pass-2026\n")
    assert piped.returncode == 0, piped.stderr
    assert f"staff user {email} created" in piped.stdout


def test_consume_names_a_state_file_it_cannot_open(tmp_path: Any) -> None:
    broker = f"127.0.0.1:{free_port()}"
    topic = ("consume", "--topic", "t", "--group", "g", "--bootstrap", broker)
    done = _cli(_closed_database(), *topic, "--state", str(tmp_path / "missing" / "seen.db"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: --state" in done.stderr and "cannot use it as a SQLite file" in done.stderr
    (tmp_path / "text.db").write_text("not a database\n" * 100)
    done = _cli(_closed_database(), *topic, "--state", str(tmp_path / "text.db"))
    assert done.returncode == 2 and "file is not a database" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_ends_a_command_with_130_and_no_traceback() -> None:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    broker = f"127.0.0.1:{free_port()}"  # nothing listens: the consumer waits to bootstrap (30 s)
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "consume", "--topic", "t", "--group", "g", "--bootstrap", broker],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C would find it
    )
    assert process.stderr is not None
    started = process.stderr.readline()  # the command says what it is doing before it waits
    assert f"from {broker}" in started
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert (
        "Traceback" not in err
        and err.strip() == "error: interrupted; what the command had committed is kept, nothing after it"
    )


def test_an_interrupted_rebuild_says_how_far_it_got(dsn: str, platform: Any, monkeypatch: Any, capsys: Any) -> None:
    from projections.engine import ProjectionEngine
    from workers import cli

    def interrupted(self: Any, name: str, progress: Any = None, batch: int = 5000) -> int:
        progress(3, 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(ProjectionEngine, "rebuild", interrupted)
    monkeypatch.setattr(cli, "configure_logging", lambda: None)
    monkeypatch.setattr(cli, "handle_stop_signals", lambda: None)
    monkeypatch.setenv("DATABASE_URL", dsn)
    assert cli.main(["projections", "rebuild", "customer_timeline"]) == 130
    err = capsys.readouterr().err
    assert "error: rebuild of customer_timeline interrupted after 3 of 10 notifications; run it again" in err


def test_customers_number_shows_its_progress_on_stderr(dsn: str, platform: Any) -> None:
    tenant = make_tenant(platform)
    done = _cli(dsn, "customers", "number", "--brand", tenant.slug)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"0 borrower record(s) of {tenant.slug} numbered\n"
    assert f"number {tenant.slug}" in done.stderr  # the progress bar, off stdout


def test_a_database_lost_mid_command_is_one_line_and_exit_3(
    dsn: str, platform: Any, monkeypatch: Any, capsys: Any
) -> None:
    from eventsourcing import persistence

    from projections.engine import ProjectionEngine
    from workers import cli

    def lost(self: Any) -> Any:  # as eventsourcing wraps psycopg's error when the server ends the connection
        raise persistence.OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(ProjectionEngine, "status", lost)
    monkeypatch.setattr(cli, "configure_logging", lambda: None)
    monkeypatch.setattr(cli, "handle_stop_signals", lambda: None)
    monkeypatch.setenv("DATABASE_URL", dsn)
    assert cli.main(["projections", "status"]) == 3
    err = capsys.readouterr().err
    assert err == "error: lost the database while working: terminating connection due to administrator command\n"


def test_a_pool_that_gave_no_connection_is_one_line_and_exit_3(
    dsn: str, platform: Any, monkeypatch: Any, capsys: Any
) -> None:
    """eventsourcing's datastore raises its base PersistenceError for a pool that gave no connection (a server at its
    `max_connections` as the command started, say): that was a traceback and exit 1."""
    from eventsourcing import persistence

    from adapters.postgres import DatabaseUnavailable
    from projections.engine import ProjectionEngine
    from workers import cli

    def starved(self: Any) -> Any:  # as eventsourcing's get_connection wraps the pool's error
        cause = DatabaseUnavailable("the database is unavailable: no connection within 5.0 s: sorry, too many clients")
        raise persistence.PersistenceError(str(cause)) from cause

    monkeypatch.setattr(ProjectionEngine, "status", starved)
    monkeypatch.setattr(cli, "configure_logging", lambda: None)
    monkeypatch.setattr(cli, "handle_stop_signals", lambda: None)
    monkeypatch.setenv("DATABASE_URL", dsn)
    assert cli.main(["projections", "status"]) == 3
    err = capsys.readouterr().err
    assert err == (
        "error: lost the database while working: the database is unavailable: no connection within 5.0 s: "
        "sorry, too many clients\n"
    )

    def other(self: Any) -> Any:  # any other persistence error is a defect: its traceback is kept
        raise persistence.PersistenceError("something else")

    monkeypatch.setattr(ProjectionEngine, "status", other)
    with pytest.raises(persistence.PersistenceError, match="something else"):
        cli.main(["projections", "status"])
