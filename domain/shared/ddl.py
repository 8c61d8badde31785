"""Idempotent DDL that takes no table lock when what it makes is there already (the text of the statements only: the
stores and projections run it).

PostgreSQL locks a statement's table before `IF NOT EXISTS` looks: `CREATE INDEX IF NOT EXISTS` of an index there
already waits for every transaction writing its table (a SHARE lock), `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` of a
column there already for every one reading it too (ACCESS EXCLUSIVE), and every later request on the table queues
behind the waiting lock. Each process runs the platform's setup as it starts (a `serve`, a worker, every CLI
command), beside the processes already running: `unless_present` wraps such a statement in a block that looks in the
catalogue first (which locks nothing) and runs it only when its index or a column is missing."""

from __future__ import annotations

import re

_NAME = r'(?:"[^"\']+"|\w+)'  # an identifier, plain or quoted (as psycopg's Identifier writes it)
_INDEX = re.compile(
    rf"\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\s+(?P<index>{_NAME})\s+ON\s+(?:ONLY\s+)?"
    rf"(?P<table>(?:(?P<schema>{_NAME})\.)?{_NAME})\s",
    re.IGNORECASE,
)
_ALTER = re.compile(
    rf"\s*ALTER\s+TABLE\s+(?P<table>(?:{_NAME}\.)?{_NAME})\s+(?P<clauses>.*)", re.IGNORECASE | re.DOTALL
)
_ADD_COLUMN = re.compile(r"ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+(\w+)\s", re.IGNORECASE)
#: A clause of the ALTER TABLE: split at the commas outside parentheses and quotes.
_CLAUSE_SPLIT = re.compile(r",(?![^()]*\))(?=(?:[^']*'[^']*')*[^']*$)")
_TAG = "$ddl$"


def unless_present(statement: str) -> str:
    """`statement`, run only when its index (a `CREATE [UNIQUE] INDEX IF NOT EXISTS`) or one of its columns (an `ALTER
    TABLE` of `ADD COLUMN IF NOT EXISTS` clauses only) is missing; any other statement as it is."""
    if _TAG in statement:
        return statement
    index = _INDEX.match(statement)
    if index is not None:
        schema = index["schema"]
        name = f"{schema}.{index['index']}" if schema else index["index"]
        return _guarded(f"to_regclass('{name}') IS NULL", statement)
    alter = _ALTER.match(statement)
    if alter is None:
        return statement
    clauses = [c.strip() for c in _CLAUSE_SPLIT.split(alter["clauses"].strip().rstrip(";"))]
    columns = [m[1] for c in clauses if (m := _ADD_COLUMN.match(c + " "))]
    if not columns or len(columns) != len(clauses):
        return statement
    names = ", ".join(f"'{c.lower()}'" for c in columns)
    missing = (
        f"EXISTS (SELECT FROM unnest(ARRAY[{names}]) AS c(name) WHERE NOT EXISTS (SELECT FROM pg_attribute a "
        f"WHERE a.attrelid = to_regclass('{alter['table']}') AND a.attname = c.name AND NOT a.attisdropped))"
    )
    return _guarded(missing, statement)


def _guarded(condition: str, statement: str) -> str:
    return f"DO {_TAG} BEGIN IF {condition} THEN {statement.strip().rstrip(';')}; END IF; END {_TAG}"
