"""Schemathesis' state machine over the OpenAPI links of /openapi.json against the ASGI app on real PostgreSQL:
scenarios that create a resource (POST on a collection) and then read, change and act on what they created through
the links to the operations on `{x_id}` under it, with the checks of tests/e2e/test_api_schema.py (no 5xx, every
answer as documented, invalid input refused, credentials enforced) and the stateful ones (a created resource is
readable, a deleted one is gone)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, seed, settings
from schemathesis import GenerationMode
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi.checks import ignored_auth

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_api_schema import CHECKS, GENERATION, SCALE, SEED, _path_parameters, _seed, sms
from tests.support import account_number, mobile

__all__ = ["sms"]  # the SMS simulator fixture, used by name (borrowers sign in with its codes)

#: The stateless checks, and the two that need links: a resource a create answered is readable through the links
#: (not 404), and one deleted through them is gone.
#: Without `positive_data_acceptance`: its per-operation settings (test_api_schema's `ACCEPTANCE_BY_OPERATION`) are
#: the stateless run's, and chained scenarios send bodies no schema yet says are refused (a waiver of 0, a UPI id).
STATEFUL_CHECKS = CHECKS | {
    "use_after_free": {},
    "ensure_resource_availability": {},
    "positive_data_acceptance": {"enabled": False},
}

#: Scenarios (each a create and up to STEPS linked calls after it): about a minute on two quiet cores.
#: SCHEMATHESIS_SCALE=10 runs ten times as many, for a deeper search before a release; SCHEMATHESIS_STEPS=<n> makes
#: each scenario longer (deeper chains on what it created).
SCENARIOS = 60 * SCALE
STEPS = int(os.environ.get("SCHEMATHESIS_STEPS", "12"))
#: The scenarios run in this many suites, each with the creates in another order: Hypothesis starts with its simplest
#: scenarios, which begin with the first create it knows, so one order would start most of them with the same one.
SUITES = 15 * SCALE

#: Body fields that name another record: a positive case names the seeded one (a random id is only a 404, which the
#: stateless run already covers), so creates succeed and their links are followed.
BODY_REFERENCES = {"customer_id": "customer_id", "product_id": "product_id", "assignee_id": "staff_id"}


def _without_brand_header(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without the optional X-Brand-Id header: Schemathesis' dependency analysis reads it as a
    reference to an "XBrand" resource that no operation creates, and then takes no create needing it (all of the
    staff's) for a scenario's first step. The stateless run covers the header."""
    for operations in doc["paths"].values():
        for operation in operations.values():
            kept = [p for p in operation.get("parameters", []) if p["name"] != "X-Brand-Id"]
            operation["parameters"] = kept
    return doc


def _valid_bodies(records: dict[str, str]) -> dict[str, Callable[[], dict[str, Any]]]:
    """A valid body (fresh where a value must be unique) for the main creates: generated bodies rarely pass the
    rules beyond the schema (a mobile number, a product's limits), and a scenario whose create fails has nothing to
    follow. Every other positive create of these takes one, so the operations on what it creates run."""

    def unique() -> str:
        return uuid.uuid4().hex[:8].upper()

    return {
        "POST /api/v1/customers": lambda: {"name": "Asha Rao", "phone": mobile("9"), "email": "asha@example.in"},
        "POST /api/v1/loans": lambda: {
            "customer_id": records["customer_id"], "product_id": records["product_id"], "amount": "50000",
            "tenure": 12,
        },
        "POST /api/v1/covenants": lambda: {
            "customer_id": records["customer_id"], "application_ref": f"APP-{unique()}", "title": "DSCR floor",
            "type": "financial", "metric": "DSCR", "operator": ">=", "threshold": "1.25", "frequency": "monthly",
            "start_date": "2024-01-01", "first_due_date": "2024-01-31", "expiry_date": "2024-12-31",
        },
        "POST /api/v1/staff": lambda: {
            "name": "Ravi Ops", "email": f"r{unique().lower()}@lender.in", "roles": ["loan_ops"],
        },
        "POST /api/v1/loan-products": lambda: {
            "code": f"P{unique()}", "name": "Personal loan", "type": "emi", "min_amount": "10000",
            "max_amount": "200000", "min_tenure": 3, "max_tenure": 24, "annual_percent": "24",
            "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
            "convenience_fee": {"kind": "fixed", "value": "500", "gst_inclusive": True}, "gst_percent": "18",
            "penal": {"kind": "simple", "daily_percent": "0.1"}, "max_active_loans": 50, "bre_rules": [],
        },
        "POST /api/v1/coupons": lambda: {
            "code": f"C{unique()}", "product_id": records["product_id"], "kind": "percent", "value": "10",
            "valid_from": "2026-01-01", "valid_to": "2027-12-31",
        },
        "POST /api/v1/blocklist": lambda: {"kind": "pincode", "value": f"5{uuid.uuid4().int % 10**5:05d}",
                                           "reason": "fraud ring"},
        "POST /api/v1/api-keys": lambda: {"label": f"key {unique()}", "role": "sales"},
        "POST /api/v1/notice-sources": lambda: {
            "company": f"S{unique()}", "base_url": "http://127.0.0.1:9/api", "token": "t0ken-t0ken",
            "schedule": "0 * * * *",
        },
        "POST /api/v1/message-templates": lambda: {
            "name": f"Note {unique()}", "channel": "sms", "body": "Hi {{borrower_name}}",
        },
        "POST /api/v1/staff-notifications": lambda: {
            "title": "A notice", "body": "For admins", "priority": "LOW", "roles": ["admin"],
        },
        "POST /api/v1/reminders": lambda: {
            "customer_id": records["customer_id"], "channel": "sms", "template_id": records["template_id"],
            "scheduled_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        "POST /api/v1/loans/{loan_id}/contacts": lambda: {"outcome": "connected", "remarks": "called"},
        "POST /api/v1/loans/{loan_id}/field-visits": lambda: {"assignee_id": records["staff_id"],
                                                              "reason": "a visit"},
        "POST /api/v1/customers/{customer_id}/bank-accounts": lambda: {
            "account_number": account_number(), "ifsc": "HDFC0001234", "holder_name": "Suresh Menon",
        },
    }  # fmt: skip


@pytest.fixture
def stateful_schema(app: Any, platform: Any, client: Any, sms: Any) -> tuple[Any, Tenant, dict[str, str]]:
    """The app's own OpenAPI document with its links only (Schemathesis' own link inference off: the document's
    links are what this tests), called with an admin key of a fresh brand that has records of each kind."""
    tenant = make_tenant(platform)
    records = {**_seed(client, platform, tenant, sms), "authorization": tenant.auth["Authorization"]}
    config = schemathesis.Config.from_dict(
        {
            "headers": tenant.auth,
            "generation": GENERATION,
            "checks": STATEFUL_CHECKS,
            "phases": {"stateful": {"inference": {"algorithms": []}}},
        }
    )
    schema = schemathesis.openapi.from_dict(_without_brand_header(client.get("/openapi.json").json()), config=config)
    schema.app = app  # called in-process, as schemathesis.openapi.from_asgi does
    return schema, tenant, records


def _workflow(schema: Any, records: dict[str, str], failures: dict[str, str], tally: dict[str, Any]) -> Any:
    """The state machine of `schema`, calling as the seeded brand and collecting failures (the first of each kind
    per operation) instead of stopping at the first, so one run reports every defect it meets."""

    bodies = _valid_bodies(records)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: StepInput) -> StepOutput:
            case = input.case
            positive = case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE
            if positive:
                # Path parameters no link filled (a root create's parent, a deeper `{x_id}`) name seeded records.
                applied = {name for _, name in input.applied_parameters}
                for name, value in _path_parameters(case.operation, records).items():
                    if name not in applied:
                        case.path_parameters = {**(case.path_parameters or {}), name: value}
                if isinstance(case.body, dict):
                    for field, record in BODY_REFERENCES.items():
                        if field in case.body:
                            case.body[field] = records[record]
            tally["steps"] += 1
            valid = bodies.get(case.operation.label)
            if positive and valid is not None and tally["steps"] % 2:
                case.body = valid()
            tally["linked"] += input.transition is not None
            return super().step(input)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            # As in the stateless run: the credentials go with each call, so the checks know them for ours.
            headers = {"Authorization": records["authorization"]}
            if case.operation.definition.raw.get("x-borrower"):
                spare = case.operation.method.upper() == "DELETE"  # signing out ends a token of its own
                headers = {"Authorization": f"Bearer {records['spare_borrower_token' if spare else 'borrower_token']}"}
            return {"headers": headers}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            label = case.operation.label
            # ignored_auth re-sends an operation's first 2xx case without credentials and with invalid ones: once per
            # operation is enough (whether it enforces them does not depend on the case).
            excluded = [ignored_auth] if label in tally["probed"] else []
            try:
                case.validate_response(
                    response,
                    excluded_checks=excluded,
                    headers=kwargs.get("headers"),
                    transport_kwargs=kwargs,
                    recorder=self.recorder,
                )
            except (AssertionError, BaseExceptionGroup) as exc:
                title = str(exc).split("\n", 1)[0]
                failures.setdefault(f"{label}: {title}", f"{label}:\n{exc}")
            if 200 <= response.status_code < 300:
                tally["probed"].add(label)
                tally["succeeded"].add(label)

    return Workflow


def _run_suite(workflow: Any) -> None:
    """SCENARIOS // SUITES scenarios of `workflow` (one order of its creates)."""
    workflow.run(
        settings=settings(
            max_examples=max(1, SCENARIOS // SUITES),
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=SEED is None,  # the same scenarios every run, unless SCHEMATHESIS_SEED asks for others
            database=None,
            phases=[Phase.generate],  # failures are collected, not raised: nothing to shrink
            suppress_health_check=list(HealthCheck),
        )
    )


@pytest.mark.timeout(900 * SCALE)  # about a minute quiet; a loaded 2-CPU machine needs more
def test_linked_operations_answer_as_documented(stateful_schema: Any, client: Any, platform: Any) -> None:
    schema, tenant, records = stateful_schema
    failed_before = {(f.projection, f.position) for f in platform.engine.failures()}
    started = time.monotonic()
    failures: dict[str, str] = {}
    tally: dict[str, Any] = {"steps": 0, "linked": 0, "probed": set(), "succeeded": set()}
    workflow = _workflow(schema, records, failures, tally)
    if SEED:
        workflow = seed(int(SEED))(workflow)
    for suite in range(SUITES):
        workflow.rule_order_seed = suite + int(SEED or 0) * SUITES
        _run_suite(workflow)
    print(
        f"schemathesis stateful: {SCENARIOS} scenarios, {tally['steps']} calls ({tally['linked']} through links) in "
        f"{time.monotonic() - started:.1f} s; {len(tally['succeeded'])} operations answered 2xx"
    )
    # An answer can be as documented (202: the read model is behind) while a read model failed on what the command
    # recorded: no event of the run may have failed a projection (a callback's offset PostgreSQL does not store did).
    failed = [f for f in platform.engine.failures() if (f.projection, f.position) not in failed_before]
    failures.update({f"{f.projection} at {f.position}": f"read model failed: {f}" for f in failed})
    assert not failures, "\n\n".join(failures.values())
    assert tally["linked"] > 0  # the links were followed: not only the creates ran
    # The run kept its credentials to the end (no case revoked or disabled them), so every case was authorised.
    assert client.get("/api/v1/me", headers=tenant.auth).status_code == 200
