"""The `covenant-desk` command line against the test database (DATABASE_URL points it there)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.support import ROOT, settle


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


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
