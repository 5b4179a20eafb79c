"""The KPI SQL steps as text in other SQL dialects: DuckDB, Spark, Snowflake, BigQuery.

The steps (:func:`kpi_engine.kpis.steps`) are portable SQL around the macros of
``sql/macros/duckdb.sql``. For another dialect, ``sql/macros/<dialect>.sql`` gives each macro
its equivalent in that dialect, and since none of those engines has DuckDB's macros (table
macros with table arguments above all), :func:`transpile` expands every call at transpile time
on sqlglot's expression tree: a scalar macro's parameters are replaced by the call's arguments;
a table macro becomes a subquery (``LATERAL``, or in BigQuery ``UNNEST(ARRAY(SELECT AS STRUCT
...))``, when its arguments read another table's columns); a table parameter, passed as a
string (``member_rollup('att_closed_sets')``), names the table; ``rest_columns`` in a body
stands for every column of that table the body does not name (DuckDB's ``COLUMNS(* EXCLUDE
...)``), read from the statement that created it. The rest is sqlglot's DuckDB-to-target
transpiler (https://sqlglot.com), with unsupported syntax an error.

A macro file holds, per macro, a ``-- macro: name(param, ...)`` line and the body up to the
next ``;``: an expression (scalar macro) or a SELECT (table macro). The period macro
``period_of(d)``, defined per grain by ``kpis.py``, becomes ``period_start_of(d, months,
fiscal_offset)`` with the grain's numbers. Date semantics are pinned in each macro file's
header (UTC day, period bucketing); the output is text: only the DuckDB text is run here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from kpi_engine.errors import ComputeError
from kpi_engine.kpis import GRAINS, Step, steps

__all__ = ["DIALECTS", "Macro", "duckdb_macro_names", "expand_macros", "macros", "render",
           "statements", "transpile"]

#: The dialects ``partnerkpi sql`` prints (sqlglot's names); DuckDB is the source.
DIALECTS = ("duckdb", "spark", "snowflake", "bigquery")
#: A body's stand-in for the table argument's columns it does not name.
REST = "rest_columns"

_MACRO_LINE = re.compile(r"^--\s*macro:\s*([a-z_][a-z0-9_]*)\s*\(([^)]*)\)\s*$")
_DUCKDB_MACRO = re.compile(r"CREATE OR REPLACE TEMP MACRO\s+([a-z_][a-z0-9_]*)\s*\(", re.I)


@dataclass(frozen=True)
class Macro:
    """One macro's definition in one dialect.

    Attributes:
        name: the name the steps call (``utc_day``).
        params: its parameters, in order.
        body: the parsed body: an expression, or a query for a table macro.
        table: True for a table macro (its body is a SELECT / UNION).
    """

    name: str
    params: tuple[str, ...]
    body: exp.Expr
    table: bool


def _macro_text(dialect: str) -> str:
    return (resources.files("kpi_engine") / "sql" / "macros" / f"{dialect}.sql").read_text("utf-8")


def duckdb_macro_names() -> list[str]:
    """The names of the macros ``sql/macros/duckdb.sql`` defines, in file order."""
    return _DUCKDB_MACRO.findall(_macro_text("duckdb"))


def macros(dialect: str) -> dict[str, Macro]:
    """The macro layer of a dialect other than DuckDB, by name.

    Raises:
        ComputeError: an unknown dialect, or a body sqlglot cannot parse in that dialect.
    """
    _check(dialect)
    if dialect == "duckdb":
        msg = "the DuckDB macros are DuckDB SQL (sql/macros/duckdb.sql), run as they are"
        raise ComputeError(msg)
    found: dict[str, Macro] = {}
    name: str | None = None
    params: tuple[str, ...] = ()
    lines: list[str] = []
    for line in [*_macro_text(dialect).splitlines(), "-- macro: end_()"]:
        head = _MACRO_LINE.match(line)
        if head:
            if name is not None:
                found[name] = _parse_macro(dialect, name, params, "\n".join(lines))
            name = head.group(1)
            params = tuple(p.strip() for p in head.group(2).split(",") if p.strip())
            lines = []
        elif name is not None and not line.lstrip().startswith("--"):
            lines.append(line)
    return found


def _parse_macro(dialect: str, name: str, params: tuple[str, ...], text: str) -> Macro:
    try:
        body = sqlglot.parse_one(text.strip().rstrip(";"), read=dialect)
    except SqlglotError as exc:
        msg = f"sql/macros/{dialect}.sql: macro {name}: {str(exc).splitlines()[0]}"
        raise ComputeError(msg) from exc
    return Macro(name, params, body, isinstance(body, exp.Query))


def _check(dialect: str) -> None:
    if dialect not in DIALECTS:
        msg = f"unknown SQL dialect {dialect!r}: choose one of {', '.join(DIALECTS)}"
        raise ComputeError(msg)


def _func_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_names()[0].lower()
    return None


def _args(node: exp.Func) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [a for a in node.args.values() if isinstance(a, exp.Expr)]


class _Expander:
    """Expands the macro calls of one dialect in DuckDB-parsed statements."""

    def __init__(self, dialect: str, period: tuple[int, int]) -> None:
        self.dialect = dialect
        self.macros = macros(dialect)
        self.period = period
        #: the output columns of each table a statement created (None: not known, a ``*``)
        self.columns: dict[str, list[str] | None] = {}

    def statement(self, tree: exp.Expr) -> exp.Expr:
        spark = self.dialect == "spark"
        if spark:  # the steps' own divisions, DuckDB's; not the macro bodies, Spark's
            tree = tree.copy()
            _double_division(tree)
        out = self.expand(tree)
        if spark and isinstance(out, exp.Create | exp.Drop) and out.kind == "TABLE":
            # Spark has no temporary tables: sqlglot writes a temporary view but drops the OR
            # REPLACE a per-grain step needs; a scratch table's DROP becomes DROP VIEW
            out.set("kind", "VIEW")
        if isinstance(out, exp.Create) and isinstance(out.expression, exp.Query):
            names = out.expression.named_selects
            self.columns[out.this.name] = None if "*" in names else names
        return out

    def expand(self, tree: exp.Expr) -> exp.Expr:
        return tree.transform(self._node, copy=True)

    def _node(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
            table = str(node.this.name).lower()
            if table in self.macros:
                return self._table_call(node, self.macros[table])
        name = _func_name(node)
        if name == "period_of" and isinstance(node, exp.Func):
            months, offset = self.period
            call = exp.Anonymous(this="period_start_of", expressions=[
                *_args(node), exp.Literal.number(months), exp.Literal.number(offset)])
            return self._node(call)
        if name in self.macros and isinstance(node, exp.Func) and not self.macros[name].table:
            macro = self.macros[name]
            return self._substitute(macro, [self.expand(a) for a in _args(node)], node)
        return node

    def _substitute(self, macro: Macro, args: list[exp.Expr],
                    call: exp.Expr) -> exp.Expr:
        if len(args) != len(macro.params):
            msg = (f"{call.sql('duckdb')}: macro {macro.name} takes {len(macro.params)} "
                   f"argument(s) ({', '.join(macro.params)})")
            raise ComputeError(msg)
        values = dict(zip(macro.params, args, strict=True))

        def put(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column) and not node.table and node.name in values:
                value = values[node.name]
                if isinstance(value, exp.Literal) and value.is_string and macro.table:
                    return node  # a table parameter read as a column: left for _tables
                return value.copy()
            return node

        return macro.body.transform(put, copy=True)

    def _table_call(self, node: exp.Table, macro: Macro) -> exp.Expr:
        func = node.this
        args = [self.expand(a) for a in func.expressions]
        body = self._substitute(macro, args, func)
        tables = {p: str(a.this) for p, a in zip(macro.params, args, strict=True)
                  if isinstance(a, exp.Literal) and a.is_string}
        for table in list(body.find_all(exp.Table)):
            if not table.db and table.name in tables:
                table.set("this", exp.to_identifier(tables[table.name]))
        if any(c.name == REST for c in body.find_all(exp.Column)):
            body = self._rest(body, macro, tables)
        correlated = any(not (isinstance(a, exp.Literal)) for a in args)
        alias = node.alias or macro.name
        text = body.sql(dialect=self.dialect)
        if not correlated:
            wrapper = f"({text}) AS {alias}"
        elif self.dialect == "bigquery":
            struct = re.sub(r"^SELECT\b", "SELECT AS STRUCT", text)
            wrapper = f"UNNEST(ARRAY({struct})) AS {alias}"
        else:
            wrapper = f"LATERAL ({text}) AS {alias}"
        outer = sqlglot.parse_one(f"SELECT * FROM x CROSS JOIN {wrapper}", read=self.dialect)
        return outer.args["joins"][0].this

    def _rest(self, body: exp.Expr, macro: Macro, tables: dict[str, str]) -> exp.Expr:
        names = sorted(set(tables.values()))
        table = names[0] if len(names) == 1 else None
        known = self.columns.get(table) if table else None
        if known is None:
            msg = (f"macro {macro.name}({table!r}): the columns of {table!r} are not known "
                   "(no earlier statement creates it with named columns)")
            raise ComputeError(msg)
        named = {c.name for c in body.find_all(exp.Column)} - {REST}
        rest = [c for c in known if c not in named]
        for select in body.find_all(exp.Select):
            projections: list[exp.Expr] = []
            for e in select.expressions:
                if isinstance(e, exp.Column) and e.name == REST:
                    projections.extend(exp.column(c) for c in rest)
                elif (isinstance(e, exp.Sum) and isinstance(e.this, exp.Column)
                      and e.this.name == REST):
                    projections.extend(exp.alias_(exp.Sum(this=exp.column(c)), c) for c in rest)
                else:
                    projections.append(e)
            select.set("expressions", projections)
        return body


def _double_division(tree: exp.Expr) -> None:
    # DuckDB's ``/`` divides as DOUBLE, DECIMALs too; Spark's keeps a DECIMAL, rounded to 6
    # decimals when the exact type is too wide (a ratio's 7th digit would differ)
    for div in reversed(list(tree.find_all(exp.Div))):  # inner first: cast copies
        for side in ("this", "expression"):
            operand = div.args[side]
            if not (isinstance(operand, exp.Cast) and operand.to.this == exp.DataType.Type.DOUBLE):
                div.set(side, exp.cast(operand, exp.DataType.Type.DOUBLE))


def expand_macros(tree: exp.Expr, dialect: str, months: int = 1,
                  fiscal_offset: int = 0) -> exp.Expr:
    """A copy of a DuckDB-parsed statement with every macro call expanded for ``dialect``.

    Args:
        tree: a statement parsed by sqlglot as DuckDB SQL.
        dialect: one of :data:`DIALECTS` but ``duckdb``.
        months: months per period for ``period_of`` (1, 3 or 12).
        fiscal_offset: fiscal_year_start_month - 1.

    Raises:
        ComputeError: as :func:`transpile`.
    """
    return _Expander(dialect, (months, fiscal_offset)).statement(tree)


def transpile(dialect: str, grain: str = "month", step: str | None = None,
              fiscal_year_start_month: int = 1) -> list[tuple[Step, str]]:
    """The KPI steps in run order, each as SQL text of ``dialect``.

    Args:
        dialect: one of :data:`DIALECTS`.
        grain: the grain the per-grain steps are written for (``month``, ``quarter``, ``year``):
            their ``period_of`` is that grain's period, aligned on the fiscal year.
        step: only this step (its name, as ``-- step:`` declares it); None = every step.
        fiscal_year_start_month: 1..12, the first month of quarters and years.

    Returns:
        ``(step, text)`` pairs: the statements of the step, each ending in ``;``, pretty-printed.
        DuckDB's text is the step as sqlglot reads and writes it, calling the macros of
        ``sql/macros/duckdb.sql`` (see :func:`render`); another dialect's calls none.

    Raises:
        ComputeError: an unknown dialect, grain or step; a construct sqlglot cannot write in
            the target dialect (named with the step).
    """
    chain = statements(dialect, grain, fiscal_year_start_month)
    if step is not None and step not in {s.name for s, _ in chain}:
        msg = f"unknown step {step!r}: choose one of {', '.join(s.name for s, _ in chain)}"
        raise ComputeError(msg)
    out = []
    for s, trees in chain:
        if step is not None and s.name != step:
            continue
        texts = []
        for tree in trees:
            try:
                sql = tree.sql(dialect=dialect, pretty=True, comments=False,
                               unsupported_level=ErrorLevel.RAISE)
            except SqlglotError as exc:
                msg = f"step {s.name} ({s.source}) in {dialect}: {str(exc).splitlines()[0]}"
                raise ComputeError(msg) from exc
            texts.append(sql + ";")
        out.append((s, "\n\n".join(texts) + "\n"))
    return out


def statements(dialect: str, grain: str = "month",
               fiscal_year_start_month: int = 1) -> list[tuple[Step, list[exp.Expr]]]:
    """The KPI steps in run order, each as its statements' sqlglot trees for ``dialect``.

    The trees are what :func:`transpile` writes as text (another dialect's with every macro
    expanded); a runner (:mod:`kpi_engine.spark_engine`) executes them one by one.

    Args:
        dialect: one of :data:`DIALECTS`.
        grain: the grain the per-grain steps' ``period_of`` is written for.
        fiscal_year_start_month: 1..12, the first month of quarters and years.

    Raises:
        ComputeError: an unknown dialect or grain; a macro call that cannot be expanded.
    """
    _check(dialect)
    if grain not in GRAINS:
        msg = f"unknown grain {grain!r}: choose one of {', '.join(GRAINS)}"
        raise ComputeError(msg)
    period = (GRAINS[grain], int(fiscal_year_start_month) - 1)
    expander = None if dialect == "duckdb" else _Expander(dialect, period)
    out = []
    for s in steps():
        trees = [expander.statement(t) if expander else t
                 for t in sqlglot.parse(s.sql, read="duckdb") if t is not None]
        out.append((s, trees))
    return out


def render(dialect: str, grain: str = "month", step: str | None = None,
           fiscal_year_start_month: int = 1) -> str:
    """The text ``partnerkpi sql`` prints: each step under a ``-- step:`` header, in run order.

    For DuckDB (all steps), the macro layer and the grain's ``period_of`` come first, so the
    text runs as it is in a DuckDB session holding the canonical tables and the parameter
    tables ``kpis.py`` writes (``kpi_params``, ``kpi_sources``, ...). Arguments and errors as
    :func:`transpile`.
    """
    pairs = transpile(dialect, grain, step, fiscal_year_start_month)
    parts = []
    if dialect == "duckdb" and step is None:
        months, offset = GRAINS[grain], int(fiscal_year_start_month) - 1
        parts.append(_macro_text("duckdb").rstrip() + "\n\n"
                     f"CREATE OR REPLACE TEMP MACRO period_of(d) AS "
                     f"period_start_of(d, {months}, {offset});\n")
    for s, text in pairs:
        scope = f", once per grain ({grain})" if s.grain else ""
        parts.append(f"-- step: {s.name} ({s.source}{scope})\n{text}")
    return "\n".join(parts)
