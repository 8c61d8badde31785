"""OpenAPI 3.1 document generated from the declared endpoints and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.endpoint import ETAG_PATTERN, AcceptedOut, Endpoint
from api.idempotency import KEY_PATTERN, MAX_KEY_LENGTH
from api.request_input import free_text
from api.uploads import form_schema
from domain.identity.permissions import alternatives
from domain.shared.values import text_pattern

COMPONENTS = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details (members beyond these name the conflict, e.g. `existing_id`)",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

ERRORS = {
    400: "Malformed JSON body",
    401: "No, unknown or revoked credentials",
    403: "Missing permission, or another brand in X-Brand-Id",
    404: "Not found (or another brand's)",
    409: "Conflict: duplicate, stale If-Match, wrong state, or a request with this Idempotency-Key in flight",
    410: "Gone: withdrawn (a no-due certificate whose loan a reversed payment re-opened)",
    413: "Body over 1 MiB",
    422: "Invalid input (`errors` names each field)",
}

HEALTH_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "description": "ok, degraded or down"},
        "database": {"type": "string"},
        "projections": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "position": {"type": "integer"},
                    "head": {"type": "integer"},
                    "lag": {"type": "integer"},
                },
                "required": ["name"],
            },
        },
        "relay": {"type": "object"},
    },
    "required": ["status", "database", "projections"],
}

EXTRA_PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "operationId": "health",
            "summary": "Database reachability and projection lag",
            "tags": ["system"],
            "security": [],
            "responses": {
                "200": {
                    "description": "healthy or degraded",
                    "content": {"application/json": {"schema": HEALTH_SCHEMA}},
                },
                "503": {"description": "database down", "content": {"application/json": {"schema": HEALTH_SCHEMA}}},
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "tags": ["system"],
            "security": [],
            "responses": {
                "200": {
                    "description": "text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["system"],
            "security": [],
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    },
}

COMMANDS = ("POST", "PATCH", "PUT", "DELETE")


def error_statuses(ep: Endpoint[Any]) -> list[int]:
    """The error statuses an operation can answer, from what it declares."""
    statuses = set(ep.errors) | {503}  # every operation reads or writes the database: 503 + Retry-After in an outage
    if not ep.public:
        # Credentials (401); X-Brand-Id of another brand (403), of no brand (404) or malformed (422).
        statuses |= {401, 403, 404, 422}
        if ep.method in COMMANDS:
            statuses |= {409}  # the same Idempotency-Key still in flight; state conflicts
    if ep.body is not None:
        statuses |= {400, 413, 415, 422}  # 415: a body that is not JSON
    if ep.query is not None:
        statuses |= {422}
    if "{" in ep.path:
        statuses |= {404}
    if ep.if_match:
        statuses |= {409, 422}
    return sorted(statuses)


def _models(endpoints: list[Endpoint[Any]]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(AcceptedOut, "serialization"): None}
    for ep in endpoints:
        for model, mode in ((ep.body, "validation"), (ep.query, "validation"), (ep.response, "serialization")):
            if model is not None:
                models[(model, mode)] = None  # type: ignore[index]
    return list(models)


def _parameters(ep: Endpoint[Any], defs: dict[str, Any], refs: dict[Any, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in re.findall(r"{(\w+)}", ep.path):
        schema: dict[str, Any] = {"type": "string"}
        if name.endswith("id"):
            schema["format"] = "uuid"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if ep.query is not None:
        query_schema = defs[refs[(ep.query, "validation")]["$ref"].rsplit("/", 1)[1]]
        for name, f in ep.query.model_fields.items():
            public_name = f.alias or name
            schema = query_schema["properties"][public_name]
            if f.is_required() or not free_text(f):
                # An empty value is "not given" only for optional free text; elsewhere it is a 422 (`parse_query`).
                _non_empty(schema)
            params.append(
                {
                    "name": public_name,
                    "in": "query",
                    "required": f.is_required(),
                    "description": f.description or "",
                    "schema": schema,
                }
            )
    if not ep.public and not ep.borrower:
        params.append(
            {
                "name": "X-Brand-Id",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "format": "uuid"},
                "description": "A Super Admin acts within this brand; anyone else may name only their own.",
            }
        )
    if not ep.public and ep.method in COMMANDS:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
                "description": "Retry safely: the same key and body return the first response; another body is 422. "
                "1-200 characters on one line, not only whitespace, without control characters (else 422).",
            }
        )
    if ep.if_match:
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": ETAG_PATTERN},
                "description": 'The ETag ("<version>") of the record as you read it: 409 when it changed since.',
            }
        )
    return params


def _responses(ep: Endpoint[Any], refs: dict[Any, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": refs[(ep.response, "serialization")]}}
    for media in ep.media:
        content[media] = {"schema": {"type": "string"}}
    headers: dict[str, Any] = {}
    if ep.etag:
        headers["ETag"] = {
            "description": 'The record\'s version ("<version>"); send it back as If-Match',
            "required": True,
            "schema": {"type": "string"},
        }
    responses: dict[str, Any] = {}
    for status in (ep.status, *ep.statuses):
        ok: dict[str, Any] = {"description": "OK" if status < 300 else "Accepted", "content": content}
        if headers:
            ok["headers"] = headers
        responses[str(status)] = ok
    if ep.accepts:
        responses["202"] = {
            "description": "Recorded, but not readable yet: the resource appears at Location within seconds",
            "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": refs[(AcceptedOut, "serialization")]}},
        }
    for status in error_statuses(ep):
        error: dict[str, Any] = {
            "description": f"File over {ep.upload.max_bytes} bytes"
            if status == 413 and ep.upload
            else ERRORS.get(status, "Error"),
            "content": {"application/problem+json": {"schema": PROBLEM_REF}},
        }
        if status == 401:
            error["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
        responses[str(status)] = error
    return responses


def _item_parameter(collection: str, path: str) -> str | None:
    """The parameter naming one resource of `collection` when `path` is that collection + `/{x_id}...`."""
    found = re.match(r"/\{(\w+_id)\}(?:/|$)", path.removeprefix(collection)) if path.startswith(collection) else None
    return found.group(1) if found else None


def _collections(ep: Endpoint[Any]) -> list[str]:
    """Where the resource a POST creates lives: its own path, and - for one created under a parent
    (`/loans/{loan_id}/waivers`, `/borrower/callback-requests`) - the top-level collection of the same name
    (`/waivers`), where the actions on it are."""
    top = "/api/v1/" + ep.path.rsplit("/", 1)[1]
    return [ep.path] if top == ep.path else [ep.path, top]


def _answers_the_parent(ep: Endpoint[Any], by_route: dict[tuple[str, str], Endpoint[Any]]) -> bool:
    """A POST on `/x/{x_id}/sub` that answers the `x` it changed (the model of `GET /x/{x_id}`): its `id` is the
    parent's, not the id of anything it created."""
    parent = by_route.get(("GET", ep.path.rsplit("/", 1)[0]))
    return parent is not None and "{" in parent.path and parent.response is ep.response


def create_links(endpoints: list[Endpoint[Any]]) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """OpenAPI links from each create to the operations on what it created, by one rule: a POST on a collection
    whose answer carries the new resource's `id` links to every operation whose path is that collection +
    `/{x_id}...` (`x_id` from the answer's `x_id` field when it has one, else its `id`; the collection's own path
    parameters passed through), from each success status and from the 202 Accepted answer (whose `id` is the
    resource's). Keyed by (method, path) of the create, then response status; named by target operationId."""
    by_route = {(ep.method, ep.path): ep for ep in endpoints}
    links: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for ep in endpoints:
        assert ep.response is not None
        if ep.method != "POST" or ep.path.endswith("}") or _answers_the_parent(ep, by_route):
            continue
        fields = ep.response.model_fields
        own: dict[str, dict[str, Any]] = {}
        accepted: dict[str, dict[str, Any]] = {}
        for collection in _collections(ep):
            for target in endpoints:
                item = _item_parameter(collection, target.path)
                field = item if item in fields else "id"
                if item is None or target is ep or field not in fields:
                    continue
                passed = {f"path.{name}": f"$request.path.{name}" for name in re.findall(r"{(\w+)}", collection)}
                description = f"The {item} of what this created, for {target.method} {target.path}"
                own[target.operation_id] = {
                    "operationId": target.operation_id,
                    "parameters": passed | {f"path.{item}": f"$response.body#/{field}"},
                    "description": description,
                }
                accepted[target.operation_id] = {  # AcceptedOut's `id` is the created resource's
                    "operationId": target.operation_id,
                    "parameters": passed | {f"path.{item}": "$response.body#/id"},
                    "description": description,
                }
        statuses: dict[str, dict[str, Any]] = {}
        if own:
            statuses |= {str(status): own for status in (ep.status, *ep.statuses) if 200 <= status < 300}
        if own and ep.accepts:
            statuses["202"] = accepted
        if statuses:
            links[(ep.method, ep.path)] = statuses
    return links


def _non_empty(schema: dict[str, Any]) -> None:
    """A string (or a string of `anyOf`) at least one character long where it says no more."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string" and "enum" not in option and "format" not in option:
            option["minLength"] = max(1, option.get("minLength", 0))


#: The keywords that already say what a string holds (a pattern, a choice, a uuid, a date): the text rule adds nothing.
_SAYS_WHAT = ("pattern", "enum", "const", "format")


def _state_text_rule(paths: dict[str, Any], components: dict[str, Any]) -> None:
    """Every request string that says nothing else of what it holds gets the text rule's pattern (`text_pattern`):
    the edge refuses a control or bidi-override character in any string of a JSON body and any text field of a
    multipart form (api/uploads.py), and also a tab or line break in a query, path or header value
    (api/request_input.py), so a schema-valid request is not refused for it. JSON bodies' components are shared with
    the answers that reuse their models, which hold only text that passed it."""
    multiline, one_line = text_pattern(multiline=True), text_pattern(multiline=False)
    done: set[tuple[str, str]] = set()

    def state(schema: Any, pattern: str) -> None:
        if isinstance(schema, list):
            for item in schema:
                state(item, pattern)
            return
        if not isinstance(schema, dict):
            return
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENTS.split("{", 1)[0]):
            name = ref.rsplit("/", 1)[1]
            if (name, pattern) not in done:
                done.add((name, pattern))
                state(components.get(name), pattern)
        if schema.get("type") == "string" and not any(key in schema for key in _SAYS_WHAT):
            schema["pattern"] = pattern
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            state(schema.get(key), pattern)
        for key in ("items", "additionalProperties"):
            state(schema.get(key), pattern)
        if schema.get("type") == "object" and schema.get("additionalProperties", True) is not False:
            schema.setdefault("propertyNames", {"pattern": pattern})  # a key is text too
        properties = schema.get("properties")
        if isinstance(properties, dict):
            state(list(properties.values()), pattern)

    for operations in paths.values():
        for op in operations.values():
            for param in op.get("parameters", []):
                state(param.get("schema"), one_line)
            content = op.get("requestBody", {}).get("content", {})
            # A multipart form's text fields are read as any JSON body's strings are (api/uploads.py: the
            # multi-line rule); its file part says `format: binary`.
            for media in ("application/json", "multipart/form-data"):
                if media in content:
                    state(content[media].get("schema"), multiline)


#: pydantic's names of numeric bounds, as it writes them for a number whose type has a validator of its own before it
#: (`WholeNumber`, optional: `integer | null`), and JSON Schema's names for them.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _json_bounds(schema: Any) -> None:
    """Every number's bounds in `schema` under JSON Schema's names (`minimum`, not pydantic's `ge`), in place: pydantic
    writes a bound it cannot set on the number's own core schema under the bound's own name, which JSON Schema ignores
    (an optional `WholeNumber` of 1-20 was stated as any integer)."""
    if isinstance(schema, list):
        for item in schema:
            _json_bounds(item)
    elif isinstance(schema, dict):
        if schema.get("type") in ("integer", "number"):
            for name, keyword in _BOUNDS.items():
                if name in schema:
                    schema.setdefault(keyword, schema.pop(name))
        for value in schema.values():
            _json_bounds(value)


def build_openapi(endpoints: list[Endpoint[Any]]) -> dict[str, Any]:
    """The OpenAPI document; `x-permission` on each operation states what it needs."""
    refs, defs = models_json_schema(_models(endpoints), ref_template=COMPONENTS)
    components: dict[str, Any] = {**defs.get("$defs", {}), "Problem": PROBLEM_SCHEMA}
    _json_bounds(components)
    paths: dict[str, Any] = {}
    links = create_links(endpoints)
    for ep in endpoints:
        op: dict[str, Any] = {"operationId": ep.operation_id, "summary": ep.summary, "tags": ep.tags}
        if ep.permission:
            # `permission` the first of several when any one of them will do (`any_of`: the collections desk's)
            permissions = alternatives(ep.permission)
            op["x-permission"] = {"permission": permissions[0].value, "level": ep.permission[1].value}
            if len(permissions) > 1:
                op["x-permission"]["any_of"] = [p.value for p in permissions]
        if ep.cross_brand:
            op["x-cross-brand"] = True
        if ep.public:
            op["security"] = []
        if ep.borrower:
            op["security"] = [{"borrowerToken": []}]
            op["x-borrower"] = True
        params = _parameters(ep, components, refs)
        if params:
            op["parameters"] = params
        if ep.body is not None and ep.upload is not None:
            form = components[refs[(ep.body, "validation")]["$ref"].rsplit("/", 1)[1]]
            op["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": form_schema(form, ep.upload)}},
            }
        elif ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(ep.body, "validation")]}},
            }
        op["responses"] = _responses(ep, refs)
        for status, status_links in links.get((ep.method, ep.path), {}).items():
            op["responses"][status]["links"] = status_links
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    _state_text_rule(paths, components)
    paths.update(EXTRA_PATHS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Covenant Desk API",
            "version": "1.0.0",
            "description": "Lending operations. Authenticate with `Authorization: Bearer <api key>` or a portal session. "
            "A method a path does not support answers 405 with `Allow`.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cd_session"},
                "borrowerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A borrower's token from POST /api/v1/borrower/session (borrower endpoints only)",
                },
            },
        },
        "security": [{"apiKey": []}, {"session": []}],
    }
