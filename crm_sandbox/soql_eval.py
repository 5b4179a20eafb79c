"""Evaluate a parsed SOQL :class:`~crm_sandbox.soql_parse.Query` over in-memory records.

The query is checked against a :class:`Schema` and compiled once -- the WHERE clause into one
Python closure, each ORDER BY entry into a key function, the SELECT list into a row builder --
and only then run over the records, so a million-record scan costs a few closure calls per record.
"""

from __future__ import annotations

import gc
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain
from typing import Any, Protocol, overload

from crm_sandbox.soql_parse import (
    INVALID_FIELD,
    INVALID_TYPE,
    MALFORMED_QUERY,
    BoolOp,
    Comparison,
    Condition,
    FieldRef,
    Literal,
    Not,
    Query,
    SoqlError,
    caret_message,
)

__all__ = ["LazyRows", "Schema", "execute", "execute_lazy", "format_datetime"]

Record = dict[str, Any]
Resolver = Callable[[str, str], "Record | None"]


class Schema(Protocol):
    """What :func:`execute` needs to know about the org's objects.

    An implementation may also offer two optional methods, used when present:
    ``object_name(sobject) -> str | None`` and ``field_name(sobject, name) -> str | None`` returning
    the canonical API spelling (``"opportunity"`` -> ``"Opportunity"``), so that output keys and
    ``attributes.type`` are canonical even when the query is written in another case. Without
    them the spelling is taken from the record dicts' keys, or else as written in the query.
    """

    def has_object(self, sobject: str) -> bool:
        """Whether ``sobject`` exists (case-insensitive)."""
        ...

    def field_type(self, sobject: str, field: str) -> str | None:
        """Salesforce type name of ``field`` on ``sobject`` (case-insensitive), or None.

        E.g. ``'id'``, ``'string'``, ``'boolean'``, ``'currency'``, ``'double'``, ``'percent'``,
        ``'date'``, ``'datetime'``, ``'reference'``, ``'picklist'``, ``'int'``, ``'address'``.
        """
        ...

    def relationship(self, sobject: str, rel_name: str) -> str | None:
        """Parent sObject type of relationship ``rel_name`` (``'Owner'`` -> ``'User'``), or None."""
        ...


_STRING_TYPES = frozenset(
    ("id", "reference", "string", "picklist", "multipicklist", "combobox", "textarea", "email",
     "phone", "url", "encryptedstring")
)  # fmt: skip
_FLOAT_TYPES = frozenset(("currency", "double", "percent"))
_INT_TYPES = frozenset(("int", "long"))
_COMPOUND_TYPES = frozenset(("address", "location"))
# The literal kind each field type accepts, and the type name Salesforce uses in its message.
_LITERAL_KIND = {"boolean": "boolean", "date": "date", "datetime": "datetime"}
_SF_TYPE_NAME = {"datetime": "dateTime", "currency": "double", "percent": "double",
                 "reference": "id", "picklist": "string", "textarea": "string"}  # fmt: skip
_ORDER_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_UTC = UTC


def format_datetime(value: datetime) -> str:
    """Write a datetime as the REST API does: ``2017-03-01T09:30:00.000+0000`` (UTC).

    Args:
        value: a tz-aware datetime (a naive one is taken as UTC).

    Returns:
        The Salesforce JSON text.
    """
    if value.tzinfo is not None and value.tzinfo is not _UTC:
        value = value.astimezone(_UTC)
    # %-formatting measured ~1.7x faster than isoformat(timespec="milliseconds") + slicing.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000" % (  # noqa: UP031
        value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond // 1000,
    )  # fmt: skip


def _literal_kind(ftype: str) -> str:
    """The kind of literal (see :class:`Literal`) a field of type ``ftype`` is compared with."""
    if ftype in _FLOAT_TYPES or ftype in _INT_TYPES:
        return "number"
    return _LITERAL_KIND.get(ftype, "string")


def _json_value(value: Any) -> Any:
    """Fallback converter for fields whose type gives no hint."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _converter(ftype: str) -> Callable[[Any], Any] | None:
    if ftype == "datetime":
        return format_datetime
    if ftype == "date":
        return date.isoformat
    if ftype in _FLOAT_TYPES:
        return float
    if ftype in _INT_TYPES:
        return int
    if ftype in _STRING_TYPES or ftype == "boolean" or ftype in _COMPOUND_TYPES:
        return None
    return _json_value


def _ci_get(rec: Record, key: str) -> Any:
    """``rec[key]`` with a case-insensitive fallback (for parents whose spelling is unknown)."""
    try:
        return rec[key]
    except KeyError:
        low = key.lower()
        for k, v in rec.items():
            if k.lower() == low:
                return v
        return None


@dataclass(frozen=True)
class _Hop:
    fk: str  # foreign-key field on the child, e.g. "OwnerId"
    rel: str  # output key, e.g. "Owner"
    parent_type: str


@dataclass(frozen=True)
class _Path:
    ref: FieldRef
    hops: tuple[_Hop, ...]
    key: str
    ftype: str


@dataclass
class _Node:
    """One object level of the SELECT list: plain fields and nested parents, in SELECT order."""

    sobject: str
    items: dict[str, tuple[str, Any]] = field(default_factory=dict)


class _Compiler:
    def __init__(self, query: Query, schema: Schema, sample: Record | None, resolve: Resolver):
        self.query = query
        self.schema = schema
        self.resolve = resolve
        self.sample_keys = {k.lower(): k for k in sample} if sample else {}
        self.cache: dict[tuple[str, str], Record | None] = {}
        object_name = getattr(schema, "object_name", None)
        self.object_name: Callable[[str], str | None] = object_name or (lambda s: None)
        self.field_name: Callable[[str, str], str | None] | None = getattr(
            schema, "field_name", None
        )

    def error(self, code: str, pos: int, text: str) -> SoqlError:
        return SoqlError(code, caret_message(self.query.soql, pos, text))

    # -- names and paths ----------------------------------------------------------------------
    def canonical(self, sobject: str, name: str, root: bool) -> str:
        if self.field_name is not None and (found := self.field_name(sobject, name)):
            return found
        if root:
            return self.sample_keys.get(name.lower(), name)
        return name

    def path(self, ref: FieldRef) -> _Path:
        sobject = self.query.sobject
        parts = ref.path.split(".")
        hops: list[_Hop] = []
        for rel in parts[:-1]:
            parent = self.schema.relationship(sobject, rel)
            fk = None
            if parent is not None:
                low = rel.lower()
                cand = rel[:-3] + "__c" if low.endswith("__r") else rel + "Id"
                fk = cand if self.schema.field_type(sobject, cand) else None
            if parent is None or fk is None:
                raise self.error(
                    INVALID_FIELD, ref.pos,
                    f"Didn't understand relationship '{rel}' in field path. If you are attempting "
                    "to use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                )  # fmt: skip
            fk = self.canonical(sobject, fk, root=not hops)
            # The output key is the relationship's canonical name, derived from the foreign key's.
            out = fk[:-3] + "__r" if fk.lower().endswith("__c") else fk[:-2]
            hops.append(_Hop(fk, out, self.object_name(parent) or parent))
            sobject = parent
        leaf = parts[-1]
        ftype = self.schema.field_type(sobject, leaf)
        if ftype is None:
            entity = self.object_name(sobject) or sobject
            raise self.error(
                INVALID_FIELD, ref.pos,
                f"No such column '{leaf}' on entity '{entity}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )  # fmt: skip
        return _Path(ref, tuple(hops), self.canonical(sobject, leaf, root=not hops), ftype.lower())

    def parent(self, parent_type: str, pid: str) -> Record | None:
        key = (parent_type, pid)
        try:
            return self.cache[key]
        except KeyError:
            rec = self.cache[key] = self.resolve(parent_type, pid)
            return rec

    def getter(self, path: _Path) -> Callable[[Record], Any]:
        key = path.key
        if not path.hops:
            return lambda r: r.get(key)
        hops = [(h.fk, h.parent_type) for h in path.hops]
        first_fk = hops[0][0]
        rest = hops[1:]
        parent = self.parent

        def get(rec: Record) -> Any:
            pid = rec.get(first_fk)
            if pid is None or (rec := parent(hops[0][1], pid)) is None:
                return None
            for fk, ptype in rest:
                pid = _ci_get(rec, fk)
                if pid is None or (rec := parent(ptype, pid)) is None:
                    return None
            return _ci_get(rec, key)

        return get

    # -- WHERE --------------------------------------------------------------------------------
    def condition(self, cond: Condition) -> Callable[[Record], bool]:
        if isinstance(cond, Not):
            inner = self.condition(cond.operand)
            return lambda r: not inner(r)
        if isinstance(cond, BoolOp):
            preds = [self.condition(c) for c in cond.operands]
            if len(preds) == 2:
                a, b = preds
                if cond.op == "AND":
                    return lambda r: a(r) and b(r)
                return lambda r: a(r) or b(r)
            if cond.op == "AND":
                return lambda r: all(p(r) for p in preds)
            return lambda r: any(p(r) for p in preds)
        return self.comparison(cond)

    def literal_value(self, path: _Path, lit: Literal) -> Any:
        """Check a literal against the field's type; return it normalised for comparison."""
        if lit.kind == "null":
            return None
        ftype = path.ftype
        expected = _literal_kind(ftype)
        if lit.kind != expected:
            # Salesforce answers e.g. "value of filter criterion for field 'SystemModstamp' must
            # be of type dateTime and should not be enclosed in quotes" (errorCode INVALID_FIELD).
            quotes = "should be" if expected == "string" else "should not be"
            raise self.error(
                INVALID_FIELD, lit.pos,
                f"value of filter criterion for field '{path.ref.path}' must be of type "
                f"{_SF_TYPE_NAME.get(ftype, ftype)} and {quotes} enclosed in quotes",
            )  # fmt: skip
        return lit.value.upper() if expected == "string" else lit.value

    def comparison(self, cmp: Comparison) -> Callable[[Record], bool]:
        path = self.path(cmp.field)
        get = self.getter(path)
        ftype = path.ftype
        if ftype in _COMPOUND_TYPES:
            raise self.error(
                INVALID_FIELD, cmp.field.pos,
                f"field '{cmp.field.path}' can not be filtered in a query call",
            )  # fmt: skip
        is_str = _literal_kind(ftype) == "string"
        op = cmp.op
        if op == "LIKE":
            assert isinstance(cmp.value, Literal)
            if not is_str:
                raise self.error(
                    INVALID_FIELD, cmp.field.pos,
                    f"invalid operator on field '{cmp.field.path}' of type {ftype}: LIKE",
                )  # fmt: skip
            match = cmp.value.value.fullmatch  # type: ignore[attr-defined]
            return lambda r: (v := get(r)) is not None and match(v) is not None
        if op in ("IN", "NOT IN"):
            assert isinstance(cmp.value, tuple)
            values = [self.literal_value(path, lit) for lit in cmp.value]
            has_null = None in values
            members = frozenset(v for v in values if v is not None)
            if is_str:

                def isin(r: Record) -> bool:
                    v = get(r)
                    return has_null if v is None else v.upper() in members

            else:

                def isin(r: Record) -> bool:
                    v = get(r)
                    return has_null if v is None else v in members

            return isin if op == "IN" else (lambda r: not isin(r))
        assert isinstance(cmp.value, Literal)
        lit = self.literal_value(path, cmp.value)
        if lit is None:
            if op == "=":
                return lambda r: get(r) is None
            if op == "!=":
                return lambda r: get(r) is not None
            return lambda r: False
        if op in ("=", "!="):
            if is_str:

                def eq(r: Record) -> bool:
                    v = get(r)
                    return v is not None and v.upper() == lit

            else:

                def eq(r: Record) -> bool:
                    v = get(r)
                    return v is not None and v == lit

            return eq if op == "=" else (lambda r: not eq(r))
        opf = _ORDER_OPS[op]
        if is_str:
            return lambda r: (v := get(r)) is not None and opf(v.upper(), lit)
        return lambda r: (v := get(r)) is not None and opf(v, lit)

    # -- SELECT -------------------------------------------------------------------------------
    def row_builder(self, base_url: str) -> Callable[[Record], Record]:
        root_type = self.object_name(self.query.sobject) or self.query.sobject
        root = _Node(root_type)
        for ref in self.query.select:
            path = self.path(ref)
            node = root
            for hop in path.hops:
                kind, child = node.items.setdefault(hop.rel, ("rel", (hop, _Node(hop.parent_type))))
                if kind != "rel":
                    raise self.error(
                        MALFORMED_QUERY, ref.pos, f"duplicate field selected: {ref.path}"
                    )
                node = child[1]
            node.items.setdefault(path.key, ("field", _converter(path.ftype)))
        return self._node_builder(root, base_url, root=True)

    def _node_builder(self, node: _Node, base_url: str, root: bool) -> Callable[..., Record]:
        """Generate ``build(rec, rid) -> row`` as one dict display (3x faster than a loop).

        Only ``repr()`` of field names (already checked against the schema) and generated
        identifiers go into the source; converters and sub-builders are passed as globals.
        """
        ns: dict[str, Any] = {"_parent": self.parent, "_ci_get": _ci_get}
        ns["_type"] = node.sobject
        ns["_url"] = f"{base_url}{node.sobject}/"
        get = "rec.get({})" if root else "_ci_get(rec, {})"
        parts = ['"attributes": {"type": _type, "url": f"{_url}{rid}"}']
        for n, (key, (kind, spec)) in enumerate(node.items.items()):
            if kind == "field":
                value = get.format(repr(key))
                if spec is not None:
                    ns[f"_c{n}"] = spec
                    value = f"(None if (v := {value}) is None else _c{n}(v))"
            else:
                hop, child = spec
                ns[f"_b{n}"] = self._node_builder(child, base_url, root=False)
                ns[f"_t{n}"] = hop.parent_type
                pid = get.format(repr(hop.fk))
                value = (
                    f"(None if (pid := {pid}) is None or (p := _parent(_t{n}, pid)) is None "
                    f"else _b{n}(p, pid))"
                )
            parts.append(f"{key!r}: {value}")
        body = ",\n        ".join(parts)
        source = f"def build(rec, rid):\n    return {{\n        {body},\n    }}\n"
        exec(compile(source, f"<soql row builder {node.sobject}>", "exec"), ns)
        return ns["build"]  # type: ignore[no-any-return]


def _sort_keys(
    records: list[Record], key: Callable[[Record], Any], desc: bool, nulls_first: bool, upper: bool
) -> list[Any]:
    """One ORDER BY entry's keys; nulls placed per ``nulls_first`` whatever the direction."""
    keys = list(map(key, records))
    if upper:
        keys = [None if k is None else k.upper() for k in keys]
    if None in keys:
        low = nulls_first != desc  # nulls must sort low in the ascending key order
        null_key = (0,) if low else (2,)
        keys = [null_key if k is None else (1, k) for k in keys]
    return keys


def _sort(
    records: list[Record], sorters: list[tuple[Callable[[Record], Any], bool, bool, bool]]
) -> list[Record]:
    """Stable multi-key sort: one pass on tuples when all directions agree, else one per key."""
    if not sorters or len(records) < 2:
        return records
    directions = {desc for _, desc, _, _ in sorters}
    if len(directions) == 1:
        keys = [_sort_keys(records, *s) for s in sorters]
        flat = keys[0] if len(keys) == 1 else list(zip(*keys, strict=True))
        order = sorted(range(len(records)), key=flat.__getitem__, reverse=directions.pop())
        return [records[i] for i in order]
    for sorter in reversed(sorters):
        keys = _sort_keys(records, *sorter)
        order = sorted(range(len(records)), key=keys.__getitem__, reverse=sorter[1])
        records = [records[i] for i in order]
    return records


class LazyRows(Sequence[Record]):
    """The rows of a query result, each built (JSON-ready) only when accessed.

    Slicing returns a plain ``list`` of row dicts, so ``rows[i : i + 2000]`` is a ready page;
    ``len()``, indexing and iteration work as for a list. Rows are rebuilt on every access.
    """

    def __init__(self, records: list[Record], build: Callable[[Record, Any], Record]) -> None:
        self._records = records
        self._build = build

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...
    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        build = self._build
        if isinstance(index, slice):
            return [build(r, r.get("Id")) for r in self._records[index]]
        rec = self._records[index]
        return build(rec, rec.get("Id"))

    def __iter__(self) -> Iterator[Record]:
        build = self._build
        return (build(r, r.get("Id")) for r in self._records)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRows | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def execute(
    query: Query,
    schema: Schema,
    records: Iterable[Record],
    resolve: Resolver,
    include_deleted: bool,
    *,
    api_version: str = "60.0",
) -> tuple[list[Record], int]:
    """Run ``query`` over ``records``.

    Args:
        query: the parsed query.
        schema: field/object/relationship metadata.
        records: the FROM object's records, dicts keyed by field API name with typed values
            (``str``, ``bool``, ``int``, ``Decimal``, ``date``, tz-aware ``datetime``, None); each
            has ``IsDeleted``.
        resolve: ``resolve(sobject, id)`` returns a parent record dict, or None.
        include_deleted: False for ``/query`` (records with ``IsDeleted`` true are skipped),
            True for ``/queryAll``.
        api_version: version used in ``attributes.url``, e.g. ``"60.0"``.

    Returns:
        ``(rows, total_size)``: rows are JSON-ready Salesforce records (``attributes`` first,
        then the selected fields in SELECT order, parents nested, datetimes as
        ``2017-03-01T09:30:00.000+0000``); for ``COUNT()`` rows is ``[]`` and total_size the count.

    Raises:
        SoqlError: ``INVALID_TYPE`` for an unknown object, ``INVALID_FIELD`` for an unknown field
            or relationship or a literal of the wrong type, ``MALFORMED_QUERY`` otherwise.
    """
    rows, total = execute_lazy(
        query, schema, records, resolve, include_deleted, api_version=api_version
    )
    with _gc_paused():
        return list(rows), total


def execute_lazy(
    query: Query,
    schema: Schema,
    records: Iterable[Record],
    resolve: Resolver,
    include_deleted: bool,
    *,
    api_version: str = "60.0",
) -> tuple[LazyRows, int]:
    """Like :func:`execute`, but rows are built only when read (see :class:`LazyRows`).

    Filtering, sorting, LIMIT/OFFSET and all error checks happen here, eagerly; building the
    JSON-ready dicts (most of the cost for big results) is deferred to page reads.

    Args:
        query: the parsed query.
        schema: field/object/relationship metadata.
        records: the FROM object's records (see :func:`execute`).
        resolve: ``resolve(sobject, id)`` returns a parent record dict, or None.
        include_deleted: True for ``/queryAll``.
        api_version: version used in ``attributes.url``.

    Returns:
        ``(rows, total_size)``; rows is empty for ``COUNT()``.

    Raises:
        SoqlError: as :func:`execute`.
    """
    if not schema.has_object(query.sobject):
        raise SoqlError(INVALID_TYPE, caret_message(
            query.soql, query.sobject_pos,
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        ))  # fmt: skip
    it = iter(records)
    first = next(it, None)
    comp = _Compiler(query, schema, first, resolve)
    build = comp.row_builder(f"/services/data/v{api_version}/sobjects/")
    where = None if query.where is None else comp.condition(query.where)
    sorters = []
    for item in query.order_by:
        path = comp.path(item.field)
        upper = path.ftype in _STRING_TYPES
        sorters.append((comp.getter(path), item.descending, item.nulls_first, upper))

    stream = it if first is None else chain((first,), it)
    if not include_deleted:
        if where is None:
            where = lambda r: not r.get("IsDeleted")  # noqa: E731
        else:
            cond = where
            where = lambda r: not r.get("IsDeleted") and cond(r)  # noqa: E731
    with _gc_paused():
        matched = list(stream) if where is None else list(filter(where, stream))
        offset, limit = query.offset or 0, query.limit
        if query.is_count:
            total = max(0, len(matched) - offset)
            return LazyRows([], build), total if limit is None else min(total, limit)
        matched = _sort(matched, sorters)
    if offset or limit is not None:
        matched = matched[offset : None if limit is None else offset + limit]
    return LazyRows(matched, build), len(matched)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while allocating many objects.

    Building hundreds of thousands of row dicts otherwise triggers repeated full collections over
    every live record (measured 3x slower); nothing allocated here is cyclic garbage.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
