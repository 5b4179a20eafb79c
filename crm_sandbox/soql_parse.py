"""Tokenizer and parser for the SOQL subset the sandbox's Salesforce facade understands.

The grammar (keywords are case-insensitive)::

    SELECT (COUNT() | path [, path ...]) FROM sobject
    [WHERE condition]
    [ORDER BY path [ASC|DESC] [NULLS FIRST|LAST] [, ...]]
    [LIMIT n] [OFFSET n]

    condition := term (AND term)* | term (OR term)*      -- mixing needs parentheses, as in SOQL
    term      := NOT term | '(' condition ')' | path op value
               | path [NOT] IN '(' value [, value ...] ')' | path LIKE 'pattern'

Literal formats follow Salesforce's "Date Formats and Date Literals" page
(https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-dateformats.md)
plus the ``.SSS`` / ``+hhmm`` variants the REST API writes; string escapes follow "Quoted String
Escape Sequences"
(https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-quotedstringescapes.md),
which is also what ``simple_salesforce.format.quote_soql_value`` emits.

Nothing here knows the schema: field and object names are checked by :mod:`crm_sandbox.soql_eval`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

__all__ = [
    "INVALID_FIELD",
    "INVALID_TYPE",
    "MALFORMED_QUERY",
    "BoolOp",
    "Comparison",
    "FieldRef",
    "Literal",
    "Not",
    "OrderItem",
    "Query",
    "SoqlError",
    "caret_message",
    "parse",
]


MALFORMED_QUERY = "MALFORMED_QUERY"
INVALID_FIELD = "INVALID_FIELD"
INVALID_TYPE = "INVALID_TYPE"


class SoqlError(Exception):
    """A query Salesforce would reject.

    Attributes:
        error_code: ``'MALFORMED_QUERY'``, ``'INVALID_FIELD'`` or ``'INVALID_TYPE'`` (the REST
            error body's ``errorCode``).
        message: the text Salesforce puts in the error body's ``message``.
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


def caret_message(soql: str, pos: int, text: str) -> str:
    """Format ``text`` the way Salesforce reports a query error at offset ``pos``.

    Salesforce echoes the offending line, a caret under the column, then
    ``ERROR at Row:r:Column:c`` (both 1-based) and the message.

    Args:
        soql: the query text.
        pos: 0-based character offset of the offending token.
        text: the explanation, e.g. ``"unexpected token: 'FROM'"``.

    Returns:
        The message string, starting with a newline like Salesforce's.
    """
    pos = max(0, min(pos, len(soql)))
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    row = soql.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{text}"


def _malformed(soql: str, pos: int, text: str) -> SoqlError:
    return SoqlError(MALFORMED_QUERY, caret_message(soql, pos, text))


# ---------------------------------------------------------------------------------------------
# AST
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    """A field path as written (``"Amount"``, ``"Owner.UserRole.Name"``) and its offset."""

    path: str
    pos: int


@dataclass(frozen=True)
class Literal:
    """A literal value.

    ``kind`` is ``'string'``, ``'number'`` (value ``Decimal``), ``'boolean'``, ``'null'``,
    ``'date'`` (``datetime.date``), ``'datetime'`` (tz-aware ``datetime``) or ``'like'``
    (value: a compiled case-insensitive regular expression for a LIKE pattern).
    """

    kind: str
    value: object
    pos: int


@dataclass(frozen=True)
class Comparison:
    """``field op value``; ``op`` is one of ``= != < <= > >= LIKE IN NOT IN``.

    For ``IN`` / ``NOT IN`` ``value`` is a tuple of literals.
    """

    field: FieldRef
    op: str
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    """``AND`` / ``OR`` over two or more operands."""

    op: str
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """``NOT operand``."""

    operand: Condition


Condition = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY entry; ``nulls_first`` already has Salesforce's default applied."""

    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    """A parsed SOQL query.

    Attributes:
        sobject: the FROM object as written.
        fields: selected field paths as written (empty for ``COUNT()``).
        is_count: ``SELECT COUNT()``.
        limit: LIMIT, or None.
        where: the WHERE condition tree, or None.
        order_by: ORDER BY entries.
        offset: OFFSET, or None.
        soql: the original text (used for error messages).
        sobject_pos: offset of the FROM object name.
        select: the selected fields with their offsets.
    """

    sobject: str
    fields: list[str]
    is_count: bool
    limit: int | None
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    offset: int | None = None
    soql: str = ""
    sobject_pos: int = 0
    select: tuple[FieldRef, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:.]))
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![\w.]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # string datetime date number ident op punct eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else self.text


def _tokenize(soql: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos, end = 0, len(soql)
    while pos < end:
        m = _TOKEN_RE.match(soql, pos)
        if m is None:
            if soql[pos] == "'":
                raise _malformed(
                    soql, pos, f"line 1:{end} mismatched character '<EOF>' expecting '''"
                )
            bad = re.match(r"\S+", soql[pos:])
            raise _malformed(soql, pos, f"unexpected token: '{bad.group() if bad else soql[pos]}'")
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    toks.append(_Tok("eof", "<EOF>", end))
    return toks


_ESCAPES = {
    "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t",
    "b": "\b", "B": "\b", "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\",
}  # fmt: skip


def _decode_string(soql: str, tok: _Tok, like: bool) -> str:
    """Decode a quoted literal; with ``like`` return a regular expression for the pattern."""
    raw = tok.text[1:-1]
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1] if i + 1 < n else ""
            if nxt in _ESCAPES:
                text = _ESCAPES[nxt]
                out.append(re.escape(text) if like else text)
                i += 2
                continue
            if nxt in ("%", "_") and like:
                out.append(re.escape(nxt))
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
                text = chr(int(raw[i + 2 : i + 6], 16))
                out.append(re.escape(text) if like else text)
                i += 6
                continue
            raise _malformed(
                soql,
                tok.pos,
                f"Invalid string literal '{tok.text}'. Illegal character sequence "
                f"'\\{nxt}' in string literal.",
            )
        if like and ch == "%":
            out.append(".*")
        elif like and ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch) if like else ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------

_KEYWORDS = frozenset(
    ("SELECT", "FROM", "WHERE", "ORDER", "BY", "ASC", "DESC", "NULLS", "FIRST", "LAST", "LIMIT",
     "OFFSET", "AND", "OR", "NOT", "IN", "LIKE", "NULL", "TRUE", "FALSE", "GROUP", "HAVING")
)  # fmt: skip
_COMPARE_OPS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.toks = _tokenize(soql)
        self.i = 0

    # -- token helpers ------------------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, tok: _Tok | None = None) -> SoqlError:
        tok = tok or self.peek()
        return _malformed(self.soql, tok.pos, f"unexpected token: '{tok.text}'")

    def is_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.text.upper() in words

    def expect_kw(self, word: str) -> _Tok:
        if not self.is_kw(word):
            raise self.error()
        return self.next()

    def expect_punct(self, text: str) -> _Tok:
        tok = self.peek()
        if tok.kind != "punct" or tok.text != text:
            raise self.error()
        return self.next()

    def field_ref(self) -> FieldRef:
        tok = self.peek()
        if tok.kind != "ident" or tok.text.upper() in _KEYWORDS:
            raise self.error()
        self.next()
        return FieldRef(tok.text, tok.pos)

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.error(tok)
        return int(tok.text)

    # -- grammar ------------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_kw("SELECT")
        is_count = False
        select: list[FieldRef] = []
        if self.is_kw("COUNT") and self.toks[self.i + 1].text == "(":
            self.next()
            self.expect_punct("(")
            self.expect_punct(")")
            is_count = True
        else:
            seen: set[str] = set()
            while True:
                ref = self.field_ref()
                if ref.path.lower() in seen:
                    raise _malformed(self.soql, ref.pos, f"duplicate field selected: {ref.path}")
                seen.add(ref.path.lower())
                select.append(ref)
                if self.peek().text != ",":
                    break
                self.next()
        self.expect_kw("FROM")
        obj = self.peek()
        if obj.kind != "ident" or "." in obj.text or obj.text.upper() in _KEYWORDS:
            raise self.error()
        self.next()
        where = None
        if self.is_kw("WHERE"):
            self.next()
            where = self.condition()
        order_by: list[OrderItem] = []
        if self.is_kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            order_by.append(self.order_item())
            while self.peek().text == ",":
                self.next()
                order_by.append(self.order_item())
        limit = offset = None
        if self.is_kw("LIMIT"):
            self.next()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            self.next()
            offset = self.integer()
        if self.peek().kind != "eof":
            raise self.error()
        return Query(
            sobject=obj.text,
            fields=[r.path for r in select],
            is_count=is_count,
            limit=limit,
            where=where,
            order_by=tuple(order_by),
            offset=offset,
            soql=self.soql,
            sobject_pos=obj.pos,
            select=tuple(select),
        )

    def order_item(self) -> OrderItem:
        ref = self.field_ref()
        descending = False
        if self.is_kw("ASC", "DESC"):
            descending = self.next().text.upper() == "DESC"
        # Salesforce treats null as the lowest value: first when ascending, last when
        # descending, unless NULLS FIRST/LAST says otherwise (ORDER BY page:
        # https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_orderby.htm
        # "By default, null values are sorted first" -- documented for the ascending default).
        nulls_first = not descending
        if self.is_kw("NULLS"):
            self.next()
            if not self.is_kw("FIRST", "LAST"):
                raise self.error()
            nulls_first = self.next().text.upper() == "FIRST"
        return OrderItem(ref, descending, nulls_first)

    def condition(self) -> Condition:
        first = self.term()
        if not self.is_kw("AND", "OR"):
            return first
        op = self.peek().text.upper()
        operands = [first]
        while self.is_kw("AND", "OR"):
            if self.peek().text.upper() != op:
                # SOQL requires parentheses when AND and OR are mixed.
                raise self.error()
            self.next()
            operands.append(self.term())
        return BoolOp(op, tuple(operands))

    def term(self) -> Condition:
        if self.is_kw("NOT"):
            self.next()
            return Not(self.term())
        if self.peek().text == "(":
            self.next()
            cond = self.condition()
            self.expect_punct(")")
            return cond
        ref = self.field_ref()
        tok = self.peek()
        if tok.kind == "op":
            self.next()
            return Comparison(ref, _COMPARE_OPS[tok.text], self.literal())
        if self.is_kw("LIKE"):
            self.next()
            pat = self.next()
            if pat.kind != "string":
                raise self.error(pat)
            regex = re.compile(_decode_string(self.soql, pat, like=True), re.I | re.S)
            return Comparison(ref, "LIKE", Literal("like", regex, pat.pos))
        op = "IN"
        if self.is_kw("NOT"):
            self.next()
            op = "NOT IN"
        if not self.is_kw("IN"):
            raise self.error()
        self.next()
        self.expect_punct("(")
        values = [self.literal()]
        while self.peek().text == ",":
            self.next()
            values.append(self.literal())
        self.expect_punct(")")
        return Comparison(ref, op, tuple(values))

    def literal(self) -> Literal:
        tok = self.next()
        try:
            if tok.kind == "string":
                return Literal("string", _decode_string(self.soql, tok, like=False), tok.pos)
            if tok.kind == "number":
                return Literal("number", Decimal(tok.text), tok.pos)
            if tok.kind == "date":
                return Literal("date", date.fromisoformat(tok.text), tok.pos)
            if tok.kind == "datetime":
                value = datetime.fromisoformat(tok.text)
                if value.tzinfo is not None:  # SOQL requires the zone (Z or an offset)
                    return Literal("datetime", value, tok.pos)
        except (ValueError, InvalidOperation):
            raise _malformed(self.soql, tok.pos, f"unexpected token: '{tok.text}'") from None
        if tok.kind == "ident":
            word = tok.text.upper()
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE", tok.pos)
            if word == "NULL":
                return Literal("null", None, tok.pos)
        raise self.error(tok)


def parse(soql: str) -> Query:
    """Parse a SOQL query of the supported subset.

    Args:
        soql: the query text, e.g. the ``q`` parameter of ``/services/data/vXX.X/query``.

    Returns:
        The parsed :class:`Query` (not yet checked against any schema).

    Raises:
        SoqlError: ``MALFORMED_QUERY`` for anything outside the grammar.
    """
    return _Parser(soql).query()
