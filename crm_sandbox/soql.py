"""SOQL for the sandbox's Salesforce facade: parse a query, then run it over in-memory records.

Usage by the ``/query`` and ``/queryAll`` handlers::

    query = soql.parse(q)                      # SoqlError(MALFORMED_QUERY) on bad syntax
    rows, total = soql.execute(query, schema, records, resolve, include_deleted=False)
    # or, for big results, build each 2,000-row page only when it is served:
    rows, total = soql.execute_lazy(query, schema, records, resolve, include_deleted=False)
    page = rows[start : start + 2000]          # a plain list of JSON-ready dicts

Supported: ``SELECT f, Rel.f, Rel.Rel2.f | COUNT() FROM Obj [WHERE ...] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`` with ``AND`` / ``OR`` / ``NOT`` / parentheses,
``= != <> < <= > >=``, ``[NOT] IN (...)``, ``LIKE``, and string, number, boolean, null, date and
dateTime literals. The parser lives in :mod:`crm_sandbox.soql_parse`, the evaluator in
:mod:`crm_sandbox.soql_eval`; this module is the public surface.
"""

from __future__ import annotations

from crm_sandbox.soql_eval import LazyRows, Schema, execute, execute_lazy, format_datetime
from crm_sandbox.soql_parse import (
    BoolOp,
    Comparison,
    FieldRef,
    Literal,
    Not,
    OrderItem,
    Query,
    SoqlError,
    parse,
)

__all__ = [
    "BoolOp",
    "Comparison",
    "FieldRef",
    "LazyRows",
    "Literal",
    "Not",
    "OrderItem",
    "Query",
    "Schema",
    "SoqlError",
    "execute",
    "execute_lazy",
    "format_datetime",
    "parse",
]
