"""An endpoint answers through its declared response model: what leaves is what /openapi.json documents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.testclient import TestClient

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response


class ThingOut(BaseModel):
    """A record with a version."""

    id: uuid.UUID
    amount: Decimal
    at: InstantOut
    version: int


@dataclass(frozen=True)
class ThingRow:
    id: uuid.UUID
    amount: Decimal
    at: datetime
    version: int
    secret: str  # a column the response model does not declare


ROW = ThingRow(uuid.uuid4(), Decimal("12.50"), datetime(2026, 11, 30, 8, 15, tzinfo=UTC), 3, "do not leak")


def _client(answer: Any, **declared: Any) -> TestClient:
    def handler(ctx: Context) -> Reply | Response:
        return answer if isinstance(answer, Reply | Response) else json_response(answer)

    endpoint = Endpoint("GET", "/thing", handler, "A thing", None, response=ThingOut, public=True, **declared)
    app = Starlette(routes=[endpoint.route()])
    app.state.services = None  # a public endpoint without a port reads no services
    return TestClient(app)


def test_an_answer_is_serialised_through_the_declared_model_and_nothing_else_leaves() -> None:
    answer = _client(ROW, etag=True).get("/thing")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "id": str(ROW.id),
        "amount": "12.50",
        "at": "2026-11-30T08:15:00+00:00",  # the offset as the portal writes it, not pydantic's "Z"
        "version": 3,
    }
    assert answer.headers["etag"] == '"3"'


def test_an_answer_that_does_not_fit_the_declared_model_is_a_logged_500_not_a_422() -> None:
    answer = _client({"id": "not-a-uuid", "amount": "1", "at": ROW.at, "version": 1}).get("/thing")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "not-a-uuid" not in answer.text


def test_an_undeclared_success_status_is_a_500() -> None:
    assert _client(Reply(ROW, 201)).get("/thing").status_code == 500
    assert _client(Reply(ROW, 201), statuses=(201,)).get("/thing").status_code == 201


def test_every_endpoint_must_declare_its_response_model() -> None:
    with pytest.raises(TypeError, match="declares no response model"):
        Endpoint("GET", "/thing", lambda ctx: json_response({}), "A thing", None)
    with pytest.raises(TypeError, match="has no version"):

        class NoVersion(BaseModel):
            id: uuid.UUID

        Endpoint("GET", "/thing", lambda ctx: json_response({}), "A thing", None, response=NoVersion, etag=True)


def test_a_raw_response_must_be_of_a_declared_media_type() -> None:
    csv = Response("a,b\n", media_type="text/csv; charset=utf-8")
    assert _client(csv).get("/thing").status_code == 500
    assert _client(csv, media=("text/csv",)).get("/thing").text == "a,b\n"
