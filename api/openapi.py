"""OpenAPI 3.1 document generated from the declared endpoints and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from api.endpoint import Endpoint

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
    "required": ["type", "title", "status", "detail"],
}

EXTRA_PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "operationId": "health",
            "summary": "Database reachability and projection lag",
            "tags": ["system"],
            "security": [],
            "responses": {"200": {"description": "healthy or degraded"}, "503": {"description": "database down"}},
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "tags": ["system"],
            "security": [],
            "responses": {"200": {"description": "text exposition format"}},
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["system"],
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    },
}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The OpenAPI document; `x-permission` on each operation states what it needs."""
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {"operationId": ep.operation_id, "summary": ep.summary, "tags": ep.tags}
        if ep.permission:
            op["x-permission"] = {"permission": ep.permission[0].value, "level": ep.permission[1].value}
        if ep.cross_brand:
            op["x-cross-brand"] = True
        if ep.public:
            op["security"] = []
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid" if name.endswith("id") else None},
            }
            for name in re.findall(r"{(\w+)}", ep.path)
        ]
        for p in params:
            if p["schema"]["format"] is None:
                del p["schema"]["format"]
        if ep.query is not None:
            query_schema = ep.query.model_json_schema(by_alias=True)
            for name, f in ep.query.model_fields.items():
                public_name = f.alias or name
                params.append(
                    {
                        "name": public_name,
                        "in": "query",
                        "required": f.is_required(),
                        "description": f.description or "",
                        "schema": query_schema["properties"][public_name],
                    }
                )
        if ep.method in ("POST", "PATCH", "PUT", "DELETE"):
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 200},
                    "description": "Retry safely: the same key and body return the first response; another body is 422.",
                }
            )
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(ep.body, components)}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if ep.response is not None:
            ok["content"] = {"application/json": {"schema": _schema(ep.response, components)}}
        problem_ref = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        responses = {str(ep.status): ok}
        for status, text in (
            ("400", "Malformed JSON"),
            ("401", "No or revoked credentials"),
            ("403", "Missing permission"),
            ("404", "Not found (or another brand's)"),
            ("409", "Conflict"),
            ("413", "Body over 1 MiB"),
            ("422", "Invalid input"),
        ):
            responses[status] = {"description": text, **problem_ref}
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    paths.update(EXTRA_PATHS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Covenant Desk API",
            "version": "1.0.0",
            "description": "Lending operations. Authenticate with `Authorization: Bearer <api key>` or a portal session.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cd_session"},
            },
        },
        "security": [{"apiKey": []}, {"session": []}],
    }
