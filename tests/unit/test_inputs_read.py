"""Every field of an endpoint's query or body model is read by its handler: an input the API takes (and the OpenAPI
document offers) but the handler never looks at is a fact dropped without a word. `GET /staff/{id}/activity` took
the activity log's `actor`, `aggregate_type` and `aggregate_id` filters and answered the whole activity: the model
was shared with `/activity`, whose handler reads them, and this one read only the dates and the page.

A handler reads a field as `<its variable>.<field>`, or hands the whole model on (`f(body)`, `body.model_dump()`,
`body.terms()`, ...), where what it calls takes over the reading."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any, Literal, get_args, get_origin

from workers.contexts import CONTEXTS
from workers.platform import compose_web


def _model_variable(tree: ast.AST, attribute: str) -> str | None:
    """The name the handler gives `ctx.<attribute>` (`q: Query = ctx.query`), None when it does not take it."""
    for node in ast.walk(tree):
        value = node.value if isinstance(node, ast.AnnAssign | ast.Assign) else None
        if isinstance(value, ast.Attribute) and value.attr == attribute:
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]  # type: ignore[union-attr]
            if isinstance(target, ast.Name):
                return target.id
    return None


def _delegates(handler: Any, tree: ast.AST) -> list[Any]:
    """The functions of the handler's module it hands its `ctx` to (`return _feed(ctx, "overdue")`)."""
    called = [
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and any(getattr(a, "id", None) == "ctx" for a in n.args)
    ]
    return [handler.__globals__[name] for name in called if inspect.isfunction(handler.__globals__.get(name))]


def _choices(model: type[Any]) -> set[str]:
    """The fields that can hold something: all but a `Literal` of one value (`method: Literal["digilocker"]`, a
    choice the API states for later, with nothing to read today)."""
    return {
        name
        for name, info in model.model_fields.items()
        if not (get_origin(info.annotation) is Literal and len(get_args(info.annotation)) == 1)
    }


def _unread(handler: Any, model: type[Any], attribute: str, depth: int = 0) -> list[str]:
    source = textwrap.dedent(inspect.getsource(handler))
    tree = ast.parse(source)
    variable = _model_variable(tree, attribute)
    if variable is None:
        inline = {  # `ctx.body.reason`
            n.attr
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute) and n.value.attr == attribute
        }
        if inline:
            return sorted(_choices(model) - inline) if not inline - set(model.model_fields) else []
        if f"ctx.{attribute}" in source or not _choices(model):  # handed on whole (`f(ctx.body)`), or nothing to read
            return []
        for delegate in _delegates(handler, tree) if depth < 2 else []:
            found = _unread(delegate, model, attribute, depth + 1)
            if not found or not found[0].startswith("("):
                return found
        return [f"(the handler does not take ctx.{attribute})"]
    read = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and getattr(n.value, "id", None) == variable}
    handed_on = any(
        isinstance(n, ast.Call)
        and any(isinstance(a, ast.Name) and a.id == variable for a in [*n.args, *(k.value for k in n.keywords)])
        for n in ast.walk(tree)
    ) or bool(read - set(model.model_fields))  # a method of the model (`terms()`, `given()`, `model_dump`) reads it
    if handed_on:
        return []
    return sorted(_choices(model) - read)


def test_every_query_and_body_field_is_read_by_its_handler() -> None:
    endpoints = compose_web(CONTEXTS).endpoints
    unread = {}
    for endpoint in endpoints:
        for attribute in ("query", "body"):
            model = getattr(endpoint, attribute)
            if model is None or endpoint.upload is not None:
                continue
            missing = _unread(endpoint.handler, model, attribute)
            if missing:
                unread[f"{endpoint.method} {endpoint.path} ({attribute} {model.__name__})"] = missing
    assert not unread, "inputs taken and never read:\n" + "\n".join(f"{k}: {v}" for k, v in unread.items())


def test_the_check_sees_a_field_left_unread() -> None:
    """The check itself: a handler reading one field of two is caught; one handing the model on is not."""
    from pydantic import BaseModel

    class Query(BaseModel):
        kept: int = 0
        dropped: int = 0

    def reads_one(ctx: Any) -> Any:
        q: Query = ctx.query
        return q.kept

    def hands_on(ctx: Any) -> Any:
        q: Query = ctx.query
        return print(q)

    assert _unread(reads_one, Query, "query") == ["dropped"]
    assert _unread(hands_on, Query, "query") == []
    assert re.search(r"does not take", _unread(hands_on, Query, "body")[0])
