"""HubSpot rendering of a :class:`~crm_sandbox.world.World`: records, ids, properties, formats.

The HubSpot facade renders the World once, at construction, into :class:`HsRecord` objects whose
property values are already the strings HubSpot sends (``"1000.50"``, ``""`` for a deal without
amount, ``"2024-05-10T12:00:00.000Z"``), so serving a page is a dictionary lookup per property.
Changes made through the API or the control methods mutate these records, never the World.

Ids are numeric strings of fixed width per object type (companies ``50000000xx``, deals
``90000000xx``, ...), assigned in World order; new records continue after the largest id.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

#: Canonical object type names and the aliases HubSpot accepts in paths.
OBJECT_TYPES = {
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "goal_targets": "goal_targets",
}
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}

#: Properties a list / search / read returns when the request names none (as HubSpot does).
DEFAULT_PROPERTIES = {
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "goal_targets": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
}
#: Properties HubSpot returns on every object whatever was requested.
ALWAYS_PROPERTIES = {
    "deals": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": ("createdate", "lastmodifieddate", "hs_object_id"),
    "goal_targets": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
#: The property that plays hs_lastmodifieddate for each type.
MODIFIED_PROPERTY = {
    "deals": "hs_lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "goal_targets": "hs_lastmodifieddate",
}

ID_BASE = {"companies": 5_000_000_001, "deals": 9_000_000_001, "contacts": 3_000_000_001,
           "goal_targets": 87_504_620_001}
OWNER_ID_BASE = 100_000_001
USER_ID_BASE = 50_000_001
TEAM_ID_BASE = 7_000_001

#: Standard ids of HubSpot's default deal pipeline, in display order (open stages only).
STANDARD_OPEN_STAGE_IDS = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)
CUSTOM_STAGE_ID_BASE = 1_234_567

#: Association type ids (v4) used for deal <-> company and contact <-> company.
DEAL_TO_COMPANY_PRIMARY = 5
DEAL_TO_COMPANY_UNLABELED = 341
COMPANY_TO_DEAL_PRIMARY = 6
COMPANY_TO_DEAL_UNLABELED = 342
PARTNER_LABEL_TYPE_ID = 31
PARTNER_LABEL_REVERSE_TYPE_ID = 32
CONTACT_TO_COMPANY_PRIMARY = 1
CONTACT_TO_COMPANY_UNLABELED = 279
COMPANY_TO_CONTACT_PRIMARY = 2
COMPANY_TO_CONTACT_UNLABELED = 280

#: Fixed time of the portal's own objects (owners, pipelines, property definitions).
PORTAL_CREATED = datetime(2015, 3, 2, 14, 5, 11, 487000, tzinfo=UTC)


def iso_ms(value: datetime) -> str:
    """Format an aware datetime the way HubSpot does: UTC, milliseconds, ``Z``.

    Args:
        value: An aware datetime (naive values are taken as UTC).

    Returns:
        A string such as ``"2024-05-10T12:00:00.000Z"``.
    """
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 (3x faster than f-string)
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond // 1000,
    )


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


@lru_cache(maxsize=4096)
def date_iso(value: date) -> str:
    """A date-only value as HubSpot's datetime string at midnight UTC (cached: dates repeat)."""
    return iso_ms(date_midnight(value))


def date_midnight(value: date) -> datetime:
    """Midnight UTC of a date: how the sandbox stores a date-only close date as a datetime."""
    return datetime.combine(value, time(0, 0), tzinfo=UTC)


def number_string(value: Decimal | int | float) -> str:
    """A HubSpot number property value: plain notation, no exponent, no trailing zeros added.

    ``Decimal("1000.50")`` stays ``"1000.50"`` (HubSpot echoes what was written).
    """
    if isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
    else:
        text = str(value)
    return text


def normalized_number(value: Decimal) -> str:
    """A calculated number (like amount_in_home_currency): 2 decimals at most, zeros trimmed."""
    q = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_hs_string(value: Any) -> str:
    """Convert a Python value to the string HubSpot stores and returns.

    Args:
        value: ``None`` (cleared -> ``""``), str, bool, int, float, Decimal, datetime or date.

    Returns:
        The property value string.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, date):
        return date_iso(value)
    if isinstance(value, (int, float, Decimal)):
        return number_string(value)
    return str(value)


_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_instant(value: Any) -> int | None:
    """Parse a datetime filter/property value (epoch millis or ISO 8601) into epoch millis.

    Args:
        value: ``1714521600000``, ``"1714521600000"``, ``"2024-05-01T00:00:00Z"``,
            ``"2024-05-01T00:00:00.000+0000"`` or ``"2024-05-01"`` (midnight UTC).

    Returns:
        Epoch milliseconds, or ``None`` when empty or unparseable.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if not _ISO_RE.match(text):
        return None
    text = text.replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return epoch_ms(parsed)


def parse_number(value: Any) -> Decimal | None:
    """Parse a number property / filter value, ``None`` when empty or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def slug(text: str) -> str:
    """ASCII slug of a name, for domains and e-mail addresses."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@dataclass(slots=True)
class HsRecord:
    """One rendered HubSpot object.

    ``props`` holds the string values (``None`` = never set, rendered as JSON null);
    ``history`` maps a property to its ``propertiesWithHistory`` entries, newest first (only
    properties that changed are stored; others get one synthesized entry); ``stage_source``
    holds the World's stage history until ``dealstage`` history is first needed (see
    :func:`stage_history`); ``assoc`` maps the associated object type to
    ``{to_id: ((category, type_id, label, v3_type), ...)}``.
    """

    id: int
    props: dict[str, str | None]
    created_at: str
    updated_at: str
    archived: bool = False
    archived_at: str | None = None
    history: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    assoc: dict[str, dict[int, tuple[tuple[str, int, str | None, str], ...]]] = field(
        default_factory=dict
    )
    stage_source: tuple[list[tuple[str, datetime]], dict[str, str], str | None] | None = None
    typed: dict[str, Any] = field(default_factory=dict)  # search cache: name -> typed value


class ObjectStore:
    """Records of one object type, indexed by id, with sorted id lists for paging.

    ``active`` and ``archived`` are sorted lists of ids; ``merged`` maps a merged-away id to the
    id that absorbed it; ``version`` increments on every change (search cache key).
    """

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.by_id: dict[int, HsRecord] = {}
        self.active: list[int] = []
        self.archived: list[int] = []
        self.merged: dict[int, int] = {}
        self.version = 0
        self.next_id = ID_BASE[object_type]

    def add(self, record: HsRecord) -> None:
        """Add a record (ids arrive in increasing order at render time)."""
        self.by_id[record.id] = record
        target = self.archived if record.archived else self.active
        if not target or target[-1] < record.id:
            target.append(record.id)
        else:
            insort(target, record.id)
        self.next_id = max(self.next_id, record.id + 1)
        self.version += 1

    def new_id(self) -> int:
        """Reserve the next id."""
        new = self.next_id
        self.next_id += 1
        return new

    def resolve(self, record_id: int) -> int:
        """Follow merges: the id that now stands for ``record_id``."""
        seen = 0
        while record_id in self.merged and seen < 100:
            record_id = self.merged[record_id]
            seen += 1
        return record_id

    def set_archived(self, record: HsRecord, archived: bool) -> None:
        """Move a record between the active and archived id lists."""
        if record.archived == archived:
            return
        source, target = (self.active, self.archived) if archived else (self.archived, self.active)
        index = bisect_left(source, record.id)
        if index < len(source) and source[index] == record.id:
            source.pop(index)
        insort(target, record.id)
        record.archived = archived
        self.version += 1

    def remove(self, record: HsRecord) -> None:
        """Drop a record from both id lists (merged away) but keep it in ``by_id``."""
        for ids in (self.active, self.archived):
            index = bisect_left(ids, record.id)
            if index < len(ids) and ids[index] == record.id:
                ids.pop(index)
        self.version += 1

    def page(
        self, archived: bool, after: int | None, limit: int
    ) -> tuple[list[HsRecord], int | None]:
        """One page in id order.

        Args:
            archived: List archived records instead of active ones.
            after: The cursor: first id to include (``None`` = from the start).
            limit: Page size.

        Returns:
            The records and the next cursor (the id of the first record not returned), or
            ``None`` when this is the last page.
        """
        ids = self.archived if archived else self.active
        start = 0 if after is None else bisect_left(ids, after)
        chunk = ids[start : start + limit + 1]
        records = [self.by_id[i] for i in chunk[:limit]]
        next_after = chunk[limit] if len(chunk) > limit else None
        return records, next_after


@dataclass
class OwnerRecord:
    """One HubSpot owner."""

    id: int
    email: str
    first_name: str
    last_name: str
    user_id: int
    created_at: str
    updated_at: str
    archived: bool
    team: tuple[int, str] | None

    def to_json(self) -> dict[str, Any]:
        """The owner's JSON body (archived owners: names blank, ``userId`` null, as C-13)."""
        body: dict[str, Any] = {
            "id": str(self.id),
            "email": self.email,
            "type": "PERSON",
            "firstName": "" if self.archived else self.first_name,
            "lastName": "" if self.archived else self.last_name,
            "userId": None if self.archived else self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }
        if self.team is not None:
            body["teams"] = [{"id": str(self.team[0]), "name": self.team[1], "primary": True}]
        return body
