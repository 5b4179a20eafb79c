"""HubSpot CRM search semantics: validation, filters, sorts.

``POST /crm/v3/objects/{type}/search`` takes ``filterGroups`` (groups are ORed, filters inside a
group ANDed), ``sorts``, ``query``, ``properties``, ``limit`` and ``after`` (an offset). Values are
compared by property type: numbers as decimals, ``datetime``/``date`` properties as instants
whether the filter value is epoch milliseconds or ISO 8601, everything else as case-insensitive
text. Archived objects are never searched.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm_sandbox.hubspot_props import PropertyDef
from crm_sandbox.hubspot_store import HsRecord, parse_instant, parse_number

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS_TOTAL = 25
MAX_SEARCH_LIMIT = 200
MAX_SEARCH_RESULTS = 10_000

OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}


class SearchError(ValueError):
    """An invalid search request; ``message`` goes into the 400 VALIDATION_ERROR body."""


@dataclass(frozen=True)
class Sort:
    """One sort rule."""

    name: str
    descending: bool


def kind_of(prop: PropertyDef | None) -> str:
    """Comparison kind of a property: ``number``, ``instant`` or ``text``."""
    if prop is None:
        return "text"
    if prop.type == "number":
        return "number"
    if prop.type in ("datetime", "date"):
        return "instant"
    return "text"


def typed_value(kind: str, raw: Any) -> Any:
    """Typed form of a value for comparisons (``None`` = no value)."""
    if raw is None:
        return None
    if kind == "number":
        return parse_number(raw)
    if kind == "instant":
        return parse_instant(raw)
    text = str(raw)
    return text.lower() if text != "" else None


def record_value(record: HsRecord, name: str, kind: str) -> Any:
    """The record's typed value of a property, cached on the record."""
    cache = record.typed
    if name in cache:
        return cache[name]
    value = typed_value(kind, record.props.get(name))
    cache[name] = value
    return value


def _compile_filter(
    flt: dict[str, Any], properties: dict[str, PropertyDef]
) -> Callable[[HsRecord], bool]:
    if not isinstance(flt, dict):
        msg = "Invalid filter: each filter must be an object"
        raise SearchError(msg)
    name = flt.get("propertyName")
    operator = str(flt.get("operator") or "EQ").upper()
    if not name:
        msg = "Invalid filter: propertyName is required"
        raise SearchError(msg)
    if operator not in OPERATORS:
        msg = f"Invalid filter operator: {operator}"
        raise SearchError(msg)
    prop = properties.get(name)
    kind = kind_of(prop)

    if operator == "HAS_PROPERTY":
        return lambda r: record_value(r, name, kind) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: record_value(r, name, kind) is None
    if operator in ("IN", "NOT_IN"):
        values = flt.get("values")
        if not isinstance(values, list) or not values:
            msg = f"{operator} filter on {name} requires a non-empty 'values' list"
            raise SearchError(msg)
        wanted = {typed_value(kind, v) for v in values} - {None}
        if operator == "IN":
            return lambda r: record_value(r, name, kind) in wanted
        return lambda r: record_value(r, name, kind) not in wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value") or "").lower().replace("*", "")
        contains = operator == "CONTAINS_TOKEN"

        def token_match(r: HsRecord) -> bool:
            raw = r.props.get(name)
            found = raw is not None and token in str(raw).lower()
            return found if contains else not found

        return token_match

    low = typed_value(kind, flt.get("value"))
    if low is None:
        msg = f"Invalid value for {operator} filter on {name}: {flt.get('value')!r}"
        raise SearchError(msg)
    if operator == "BETWEEN":
        high = typed_value(kind, flt.get("highValue"))
        if high is None:
            msg = f"BETWEEN filter on {name} requires highValue"
            raise SearchError(msg)

        def between(r: HsRecord) -> bool:
            v = record_value(r, name, kind)
            return v is not None and low <= v <= high

        return between
    if operator == "EQ":
        return lambda r: record_value(r, name, kind) == low
    if operator == "NEQ":
        return lambda r: record_value(r, name, kind) != low

    compare = {
        "LT": lambda v: v < low,
        "LTE": lambda v: v <= low,
        "GT": lambda v: v > low,
        "GTE": lambda v: v >= low,
    }[operator]

    def ordered(r: HsRecord) -> bool:
        v = record_value(r, name, kind)
        return v is not None and compare(v)

    return ordered


def compile_filter_groups(
    groups: Any, properties: dict[str, PropertyDef]
) -> Callable[[HsRecord], bool] | None:
    """Compile ``filterGroups`` into one predicate (``None`` when there are no filters).

    Raises:
        SearchError: Too many groups/filters, unknown operator or missing values.
    """
    if not groups:
        return None
    if not isinstance(groups, list):
        msg = "filterGroups must be a list"
        raise SearchError(msg)
    if len(groups) > MAX_FILTER_GROUPS:
        msg = (
            f"Too many filter groups ({len(groups)}). "
            f"The maximum number of filter groups is {MAX_FILTER_GROUPS}."
        )
        raise SearchError(msg)
    total = 0
    compiled: list[list[Callable[[HsRecord], bool]]] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        filters = filters or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            msg = (
                f"Too many filters in a filter group ({len(filters)}). "
                f"The maximum number of filters per group is {MAX_FILTERS_PER_GROUP}."
            )
            raise SearchError(msg)
        total += len(filters)
        compiled.append([_compile_filter(f, properties) for f in filters])
    if total > MAX_FILTERS_TOTAL:
        msg = (
            f"Too many filters ({total}). The maximum number of filters across all groups "
            f"is {MAX_FILTERS_TOTAL}."
        )
        raise SearchError(msg)

    def predicate(record: HsRecord) -> bool:
        return any(all(f(record) for f in group) for group in compiled)

    return predicate


def parse_sorts(sorts: Any) -> list[Sort]:
    """Parse ``sorts``: objects ``{propertyName, direction}`` or strings (``-name`` = desc)."""
    if not sorts:
        return []
    if not isinstance(sorts, list):
        msg = "sorts must be a list"
        raise SearchError(msg)
    parsed: list[Sort] = []
    for item in sorts:
        if isinstance(item, str):
            descending = item.startswith("-")
            parsed.append(Sort(item.lstrip("-"), descending))
        elif isinstance(item, dict) and item.get("propertyName"):
            direction = str(item.get("direction") or "ASCENDING").upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                msg = f"Invalid sort direction: {direction}"
                raise SearchError(msg)
            parsed.append(Sort(str(item["propertyName"]), direction == "DESCENDING"))
        else:
            msg = "Invalid sort: propertyName is required"
            raise SearchError(msg)
    return parsed


def sort_records(
    records: list[HsRecord], sorts: list[Sort], properties: dict[str, PropertyDef]
) -> list[HsRecord]:
    """Sort records by the rules (stable, id ascending as the final tie-break).

    Records without a value sort after those with one, in either direction.
    """
    result = sorted(records, key=lambda r: r.id)
    for rule in reversed(sorts):
        kind = kind_of(properties.get(rule.name))
        present = [r for r in result if record_value(r, rule.name, kind) is not None]
        missing = [r for r in result if record_value(r, rule.name, kind) is None]
        present.sort(key=lambda r: record_value(r, rule.name, kind), reverse=rule.descending)
        result = present + missing
    return result


def query_predicate(query: Any, searchable: tuple[str, ...]) -> Callable[[HsRecord], bool] | None:
    """Free-text ``query``: a case-insensitive prefix/substring match on searchable properties."""
    if query is None or str(query).strip() == "":
        return None
    needle = str(query).strip().lower().replace("*", "")

    def match(record: HsRecord) -> bool:
        for name in searchable:
            raw = record.props.get(name)
            if raw and needle in str(raw).lower():
                return True
        return str(record.id) == needle

    return match


#: The keyset order a connector pages a search by (modified time, then object id).
KEYSET_MODIFIED, KEYSET_ID = "hs_lastmodifieddate", "hs_object_id"


def keyset_start(
    body: dict[str, Any], properties: dict[str, PropertyDef]
) -> tuple[Any, ...] | None:
    """The search's lower bound when it is a keyset page, else None.

    A keyset page sorts by ``hs_lastmodifieddate`` then ``hs_object_id`` ascending, has no
    ``query``, and filters ``[ts >= L]`` (first page: returns ``(L,)``) or
    ``[ts > T] OR [ts = T AND id > I]`` (later pages: returns ``(T, I, None)``, meaning strictly
    after ``(T, I)``). Such a search is answered from a sorted index by bisection
    (:func:`keyset_index`) with exactly the records and order the general path would give.
    """
    sorts = body.get("sorts")
    asc = [{"propertyName": KEYSET_MODIFIED, "direction": "ASCENDING"},
           {"propertyName": KEYSET_ID, "direction": "ASCENDING"}]
    if sorts != asc or body.get("query") not in (None, ""):
        return None
    groups = body.get("filterGroups")
    mod_kind = kind_of(properties.get(KEYSET_MODIFIED))
    id_kind = kind_of(properties.get(KEYSET_ID))
    try:
        if (isinstance(groups, list) and len(groups) == 1
                and groups[0].get("filters") and len(groups[0]["filters"]) == 1):
            (f,) = groups[0]["filters"]
            if f.get("propertyName") == KEYSET_MODIFIED and f.get("operator") == "GTE":
                low = typed_value(mod_kind, f.get("value"))
                return None if low is None else (low,)
        if isinstance(groups, list) and len(groups) == 2:
            (gt,) = groups[0]["filters"]
            eq, after = groups[1]["filters"]
            if (gt.get("propertyName") == eq.get("propertyName") == KEYSET_MODIFIED
                    and after.get("propertyName") == KEYSET_ID
                    and (gt.get("operator"), eq.get("operator"), after.get("operator"))
                    == ("GT", "EQ", "GT") and gt.get("value") == eq.get("value")):
                stamp = typed_value(mod_kind, gt.get("value"))
                last = typed_value(id_kind, after.get("value"))
                return None if stamp is None or last is None else (stamp, last, None)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return None


def keyset_index(
    records: list[HsRecord], properties: dict[str, PropertyDef]
) -> tuple[list[tuple[Any, Any]], list[HsRecord]] | None:
    """``(keys, records)`` sorted by (modified, object id), or None when a record lacks either
    value (the general path then decides where it goes)."""
    mod_kind = kind_of(properties.get(KEYSET_MODIFIED))
    id_kind = kind_of(properties.get(KEYSET_ID))
    keyed = []
    for r in records:
        mod, oid = record_value(r, KEYSET_MODIFIED, mod_kind), record_value(r, KEYSET_ID, id_kind)
        if mod is None or oid is None:
            return None
        keyed.append(((mod, oid), r.id, r))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k for k, _, _ in keyed], [r for _, _, r in keyed]


def keyset_slice(index: tuple[list[tuple[Any, Any]], list[HsRecord]],
                 start: tuple[Any, ...]) -> list[HsRecord]:
    """The records of a keyset search from its :func:`keyset_start` bound."""
    keys, records = index
    if len(start) == 1:  # ts >= L
        pos = bisect.bisect_left(keys, (start[0],))
    else:  # (ts, id) > (T, I)
        pos = bisect.bisect_right(keys, (start[0], start[1]))
    return records[pos:]
