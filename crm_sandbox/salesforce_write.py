"""Record updates through the Salesforce facade: sObject Collections and single-record PATCH.

``PATCH /services/data/vXX.X/composite/sobjects`` (docs: "Update Records Using sObject
Collections", https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html)
takes ``{"allOrNone": bool, "records": [{"attributes": {"type": T}, "id": ..., field: value}]}``
(at most 200 records, else 400 ``EXCEEDED_ID_LIMIT``) and answers HTTP 200 with one result per
input record, in input order: ``{"id", "success": true, "errors": []}`` or
``{"success": false, "errors": [{"statusCode", "message", "fields"}]}`` (no ``id``, exactly like
``fixtures/api-samples/salesforce-collections-update-response-*.json``). With
``allOrNone=true`` nothing is written if any record fails, and the valid records report
``ALL_OR_NONE_OPERATION_ROLLED_BACK``.

Per-record checks: a concrete known type, an ``Id`` of that type (``MALFORMED_ID``), an existing
record (``ENTITY_IS_DELETED`` / ``INVALID_CROSS_REFERENCE_KEY``), only existing updateable fields
(``INVALID_FIELD_FOR_INSERT_UPDATE``), values of the field's type
(``INVALID_TYPE_ON_FIELD_IN_RECORD``), and failures injected with :meth:`Writer.fail_record`
(``FIELD_CUSTOM_VALIDATION_EXCEPTION``, case C-10).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from werkzeug import Request, Response

from crm_sandbox.core import json_response
from crm_sandbox.salesforce_schema import KEY_PREFIXES, SCHEMA, FieldDef
from crm_sandbox.salesforce_store import SalesforceStore

__all__ = ["MAX_COLLECTION_RECORDS", "Writer"]

MAX_COLLECTION_RECORDS = 200
_ID_RE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    "fields": [],
}


@dataclass
class _Failure:
    status_code: str
    message: str
    times: int | None


def _err(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields or []}


def _coerce(f: FieldDef, value: Any) -> Any:
    """JSON value -> typed store value; raises ValueError when of the wrong type."""
    if value is None:
        return None
    t = f.type
    if t in ("currency", "percent", "double", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        return int(value) if t == "int" else Decimal(str(value))
    if t == "boolean":
        if not isinstance(value, bool):
            raise ValueError
        return value
    if not isinstance(value, str):
        raise ValueError
    if t == "date":
        return date.fromisoformat(value)
    if t == "datetime":
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            raise ValueError
        return dt
    return value


class Writer:
    """Validates and applies API updates to a :class:`SalesforceStore`."""

    def __init__(self, store: SalesforceStore) -> None:
        self.store = store
        self.failures: dict[str, _Failure] = {}
        self._lock = threading.Lock()

    def fail_record(
        self, record_id: str, message: str, status_code: str, times: int | None
    ) -> None:
        """Make the next ``times`` (None: all) updates of ``record_id`` fail."""
        with self._lock:
            self.failures[record_id[:15]] = _Failure(status_code, message, times)

    def _injected(self, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            failure = self.failures.get(record_id[:15])
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self.failures[record_id[:15]]
            return _err(failure.status_code, failure.message)

    def _check(self, item: Any, forced_type: str | None = None) -> tuple[Any, ...]:
        """Validate one record -> ``(sobject, id, typed values, error or None)``."""
        if not isinstance(item, dict):
            return None, None, {}, _err("INVALID_TYPE", "Must send a concrete entity type.")
        attrs = item.get("attributes") or {}
        sobject = forced_type or (attrs.get("type") if isinstance(attrs, dict) else None)
        if not sobject:
            return None, None, {}, _err("INVALID_TYPE", "Must send a concrete entity type.")
        canon = self.store.schema.canonical_object(sobject)
        if canon is None:
            return (
                None,
                None,
                {},
                _err("INVALID_TYPE", f"sObject type '{sobject}' is not supported."),
            )
        rid = item.get("Id", item.get("id"))
        if forced_type is None and not rid:
            return canon, None, {}, _err("MISSING_ARGUMENT", "Id not specified in an update call")
        if rid is not None and (
            not isinstance(rid, str) or not _ID_RE.match(rid) or rid[:3] != KEY_PREFIXES[canon]
        ):
            label = SCHEMA[canon].label
            msg = f"{label} ID: id value of incorrect type: {rid}"
            return canon, None, {}, _err("MALFORMED_ID", msg, ["Id"])
        rec = self.store.get(canon, rid) if rid else None
        if rec is None:
            return canon, rid, {}, _err("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if rec.get("IsDeleted"):
            return canon, rid, {}, _err("ENTITY_IS_DELETED", "entity is deleted")
        values: dict[str, Any] = {}
        for name, value in item.items():
            if name in ("attributes", "Id", "id"):
                continue
            f = self.store.schema.field(canon, name)
            if f is None or not f.updateable:
                msg = (
                    f"Unable to create/update fields: {name}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or "
                    "permission set."
                )
                return canon, rid, {}, _err("INVALID_FIELD_FOR_INSERT_UPDATE", msg, [name])
            try:
                values[f.name] = _coerce(f, value)
            except ValueError:
                msg = f"{f.label}: value not of required type: {value}"
                return canon, rid, {}, _err("INVALID_TYPE_ON_FIELD_IN_RECORD", msg, [f.name])
        injected = self._injected(rec["Id"])
        return canon, rec["Id"], values, injected

    def composite_update(self, request: Request) -> Response:
        """``PATCH /composite/sobjects``."""
        from crm_sandbox.salesforce import ApiError

        try:
            payload = json.loads(request.get_data() or b"null")
        except ValueError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list):
            raise ApiError(400, "INVALID_FIELD", "No records were provided in the request")
        if len(records) > MAX_COLLECTION_RECORDS:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = bool(payload.get("allOrNone", False))
        with self.store.lock:
            checked = [self._check(item) for item in records]
            failed = any(error is not None for *_, error in checked)
            results: list[dict[str, Any]] = []
            for sobject, rid, values, error in checked:
                if error is not None:
                    results.append({"success": False, "errors": [error]})
                elif all_or_none and failed:
                    results.append({"success": False, "errors": [dict(_ROLLED_BACK)]})
                else:
                    self.store.update(sobject, rid, values)
                    results.append({"id": rid, "success": True, "errors": []})
        return json_response(results)

    def single_update(self, request: Request, sobject: str, record_id: str) -> Response:
        """``PATCH /sobjects/{Type}/{Id}``: 204 on success, else 400/404 with an error list."""
        try:
            payload = json.loads(request.get_data() or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            body = [{"message": "Unexpected request body", "errorCode": "JSON_PARSER_ERROR"}]
            return json_response(body, 400)
        with self.store.lock:
            item = dict(payload, Id=record_id)
            canon, rid, values, error = self._check(item, forced_type=sobject)
            if error is None:
                self.store.update(canon, rid, values)
                return Response(status=204)
        status = 404 if error["statusCode"] == "INVALID_CROSS_REFERENCE_KEY" else 400
        if status == 404:
            body = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
            return json_response(body, 404)
        return json_response(
            [
                {
                    "message": error["message"],
                    "errorCode": error["statusCode"],
                    "fields": error["fields"],
                }
            ],
            status,
        )
