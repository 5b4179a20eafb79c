"""Tests for the sandbox's SOQL subset: crm_sandbox.soql (parse + execute)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from simple_salesforce.format import format_soql

from crm_sandbox.soql import (
    LazyRows,
    Query,
    SoqlError,
    execute,
    execute_lazy,
    format_datetime,
    parse,
)

# ---------------------------------------------------------------------------------------------
# A small org: schema + records
# ---------------------------------------------------------------------------------------------

FIELDS: dict[str, dict[str, str]] = {
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "Amount": "currency",
        "Probability": "percent",
        "TotalOpportunityQuantity": "double",
        "Lines__c": "int",
        "CloseDate": "date",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "StageName": "picklist",
        "IsWon": "boolean",
        "IsDeleted": "boolean",
        "OwnerId": "reference",
        "AccountId": "reference",
        "Partner_Account__c": "reference",
    },
    "User": {"Id": "id", "Name": "string", "Email": "string", "UserRoleId": "reference"},
    "UserRole": {"Id": "id", "Name": "string"},
    "Account": {"Id": "id", "Name": "string", "BillingAddress": "address", "IsDeleted": "boolean"},
}
RELATIONSHIPS = {
    ("opportunity", "owner"): "User",
    ("opportunity", "account"): "Account",
    ("opportunity", "partner_account__r"): "Account",
    ("user", "userrole"): "UserRole",
}


class FakeSchema:
    """Implements only the required Schema protocol (case-insensitive)."""

    def has_object(self, sobject: str) -> bool:
        return any(o.lower() == sobject.lower() for o in FIELDS)

    def _fields(self, sobject: str) -> dict[str, str]:
        return next(f for o, f in FIELDS.items() if o.lower() == sobject.lower())

    def field_type(self, sobject: str, field: str) -> str | None:
        return next(
            (t for f, t in self._fields(sobject).items() if f.lower() == field.lower()), None
        )

    def relationship(self, sobject: str, rel_name: str) -> str | None:
        return RELATIONSHIPS.get((sobject.lower(), rel_name.lower()))


class CanonicalSchema(FakeSchema):
    """Also offers the optional canonical-name hooks."""

    def object_name(self, sobject: str) -> str | None:
        return next((o for o in FIELDS if o.lower() == sobject.lower()), None)

    def field_name(self, sobject: str, name: str) -> str | None:
        return next((f for f in self._fields(sobject) if f.lower() == name.lower()), None)


def dt(*args: int, tz: timezone = UTC) -> datetime:
    return datetime(*args, tzinfo=tz)  # type: ignore[misc]


def opp(oid: str, **values: Any) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(FIELDS["Opportunity"])
    rec.update(Id=oid, IsDeleted=False, IsWon=False)
    rec.update(values)
    return rec


PARENTS: dict[tuple[str, str], dict[str, Any]] = {
    ("User", "005A"): {"Id": "005A", "Name": "Ann Rep", "Email": "ann@x.io", "UserRoleId": "00EA"},
    ("User", "005B"): {"Id": "005B", "Name": "Bob Rep", "Email": "bob@x.io", "UserRoleId": None},
    ("UserRole", "00EA"): {"Id": "00EA", "Name": "EMEA Sales"},
    ("Account", "001P"): {
        "Id": "001P",
        "Name": "Partner Co",
        "IsDeleted": False,
        "BillingAddress": {"city": "Oslo", "country": "NO", "street": None},
    },
    ("Account", "001C"): {"Id": "001C", "Name": "Customer Inc", "IsDeleted": False},
}

RECORDS = [
    opp(
        "006A",
        Name="Alpha Deal",
        Amount=Decimal("1000"),
        Probability=Decimal("10"),
        TotalOpportunityQuantity=Decimal("2.5"),
        Lines__c=3,
        CloseDate=date(2024, 3, 31),
        CreatedDate=dt(2023, 12, 1, 8, 0, 0),
        SystemModstamp=dt(2024, 1, 1, 0, 0, 0),
        StageName="Prospecting",
        OwnerId="005A",
        AccountId="001C",
        Partner_Account__c="001P",
    ),
    opp(
        "006B",
        Name="beta deal",
        Amount=Decimal("250.50"),
        CloseDate=date(2024, 1, 15),
        SystemModstamp=datetime(
            2023, 12, 31, 18, 59, 59, 999999, tzinfo=timezone(-timedelta(hours=5))
        ),
        StageName="Closed Won",
        IsWon=True,
        OwnerId="005B",
        AccountId="001C",
    ),
    opp(
        "006C",
        Name="Gamma_Deal 50%",
        Amount=None,
        CloseDate=None,
        SystemModstamp=dt(2024, 2, 1, 12, 30, 15),
        StageName="Closed Lost",
        OwnerId="005A",
    ),
    opp(
        "006D",
        Name="O'Brien \\ deal",
        Amount=Decimal("-5"),
        CloseDate=date(2024, 1, 15),
        SystemModstamp=dt(2024, 1, 1, 0, 0, 1),
        StageName="Prospecting",
        OwnerId="005B",
        Partner_Account__c="001P",
    ),
    opp(
        "006E",
        Name="Deleted Deal",
        Amount=Decimal("99"),
        SystemModstamp=dt(2024, 3, 1),
        IsDeleted=True,
        StageName="Prospecting",
        OwnerId="005A",
    ),
]


class Resolver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, sobject: str, rid: str) -> dict[str, Any] | None:
        self.calls.append((sobject, rid))
        return PARENTS.get((sobject, rid))


def run(
    soql: str, include_deleted: bool = False, schema: Any = None, **kw: Any
) -> tuple[list[dict[str, Any]], int]:
    return execute(parse(soql), schema or FakeSchema(), RECORDS, Resolver(), include_deleted, **kw)


def ids(soql: str, include_deleted: bool = False) -> list[str]:
    rows, total = run(soql, include_deleted)
    assert total == len(rows)
    return [r["Id"] for r in rows]


def error_of(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        run(soql)
    return info.value


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def test_parse_shape() -> None:
    q = parse(
        "select Id, Owner.Name, Owner.UserRole.Name from Opportunity "
        "where Amount > 0 order by CloseDate desc nulls last, Id limit 10"
    )
    assert isinstance(q, Query)
    assert q.sobject == "Opportunity"
    assert q.fields == ["Id", "Owner.Name", "Owner.UserRole.Name"]
    assert q.is_count is False
    assert q.limit == 10
    assert [(o.field.path, o.descending, o.nulls_first) for o in q.order_by] == [
        ("CloseDate", True, False),
        ("Id", False, True),
    ]
    count = parse("SELECT COUNT() FROM Opportunity")
    assert (count.is_count, count.fields, count.limit) == (True, [], None)


# ---------------------------------------------------------------------------------------------
# Row shape
# ---------------------------------------------------------------------------------------------


def test_row_json_with_nested_parents_and_types() -> None:
    rows, total = run(
        "SELECT Id, Name, Amount, Probability, TotalOpportunityQuantity, Lines__c, CloseDate, "
        "CreatedDate, SystemModstamp, IsWon, Owner.Name, Owner.UserRole.Name, Account.Name, "
        "Partner_Account__r.BillingAddress, OwnerId FROM Opportunity WHERE Id = '006A'"
    )
    assert total == 1
    assert json.dumps(rows) == (
        '[{"attributes": {"type": "Opportunity", "url": '
        '"/services/data/v60.0/sobjects/Opportunity/006A"}, '
        '"Id": "006A", "Name": "Alpha Deal", "Amount": 1000.0, "Probability": 10.0, '
        '"TotalOpportunityQuantity": 2.5, "Lines__c": 3, "CloseDate": "2024-03-31", '
        '"CreatedDate": "2023-12-01T08:00:00.000+0000", '
        '"SystemModstamp": "2024-01-01T00:00:00.000+0000", "IsWon": false, '
        '"Owner": {"attributes": {"type": "User", '
        '"url": "/services/data/v60.0/sobjects/User/005A"}, '
        '"Name": "Ann Rep", "UserRole": {"attributes": {"type": "UserRole", '
        '"url": "/services/data/v60.0/sobjects/UserRole/00EA"}, "Name": "EMEA Sales"}}, '
        '"Account": {"attributes": {"type": "Account", '
        '"url": "/services/data/v60.0/sobjects/Account/001C"}, "Name": "Customer Inc"}, '
        '"Partner_Account__r": {"attributes": {"type": "Account", '
        '"url": "/services/data/v60.0/sobjects/Account/001P"}, '
        '"BillingAddress": {"city": "Oslo", "country": "NO", "street": null}}, '
        '"OwnerId": "005A"}]'
    )


def test_null_parents_and_api_version() -> None:
    rows, _ = run(
        "SELECT Id, Owner.UserRole.Name, Account.Name, Amount, CloseDate FROM Opportunity "
        "WHERE Id = '006C' OR Id = '006B' ORDER BY Id",
        api_version="59.0",
    )
    assert json.dumps(rows) == (
        '[{"attributes": {"type": "Opportunity", '
        '"url": "/services/data/v59.0/sobjects/Opportunity/006B"}, "Id": "006B", '
        '"Owner": {"attributes": {"type": "User", '
        '"url": "/services/data/v59.0/sobjects/User/005B"}, '
        '"UserRole": null}, '
        '"Account": {"attributes": {"type": "Account", '
        '"url": "/services/data/v59.0/sobjects/Account/001C"}, "Name": "Customer Inc"}, '
        '"Amount": 250.5, "CloseDate": "2024-01-15"}, '
        '{"attributes": {"type": "Opportunity", '
        '"url": "/services/data/v59.0/sobjects/Opportunity/006C"}, "Id": "006C", '
        '"Owner": {"attributes": {"type": "User", '
        '"url": "/services/data/v59.0/sobjects/User/005A"}, '
        '"UserRole": {"attributes": {"type": "UserRole", '
        '"url": "/services/data/v59.0/sobjects/UserRole/00EA"}, "Name": "EMEA Sales"}}, '
        '"Account": null, "Amount": null, "CloseDate": null}]'
    )


def test_datetime_serialisation_is_utc_with_milliseconds() -> None:
    rows, _ = run("SELECT SystemModstamp FROM Opportunity WHERE Id = '006B'")
    assert rows[0]["SystemModstamp"] == "2023-12-31T23:59:59.999+0000"
    assert format_datetime(dt(2017, 3, 1, 9, 30)) == "2017-03-01T09:30:00.000+0000"
    assert format_datetime(datetime(2017, 3, 1, 9, 30, 5, 123456)) == "2017-03-01T09:30:05.123+0000"  # noqa: DTZ001


def test_canonical_names_from_records_and_optional_schema_hooks() -> None:
    rows, _ = run("select id, name, owner.name from opportunity where id = '006a'")
    assert list(rows[0]) == ["attributes", "Id", "Name", "Owner"]
    assert rows[0]["Owner"]["name"] == "Ann Rep"  # parent spelling unknown without field_name
    rows, _ = run(
        "select id, owner.name from opportunity where id = '006A'", schema=CanonicalSchema()
    )
    assert rows[0]["attributes"]["type"] == "Opportunity"
    assert rows[0]["Owner"] == {
        "attributes": {"type": "User", "url": "/services/data/v60.0/sobjects/User/005A"},
        "Name": "Ann Rep",
    }


def test_parent_lookups_are_cached() -> None:
    resolver = Resolver()
    execute(
        parse("SELECT Owner.Name, Owner.Email FROM Opportunity WHERE Owner.Name != null"),
        FakeSchema(),
        RECORDS,
        resolver,
        True,
    )
    assert sorted(resolver.calls) == [("User", "005A"), ("User", "005B")]


# ---------------------------------------------------------------------------------------------
# WHERE
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.000Z",
        "2024-01-01T00:00:00.000+0000",
        "2024-01-01T00:00:00+00:00",
        "2023-12-31T19:00:00-05:00",
        "2024-01-01T05:30:00+05:30",
    ],
)
def test_datetime_literal_variants(literal: str) -> None:
    q = f"SELECT Id FROM Opportunity WHERE SystemModstamp >= {literal} ORDER BY SystemModstamp, Id"
    assert ids(q) == ["006A", "006D", "006C"]
    assert ids(f"SELECT Id FROM Opportunity WHERE SystemModstamp = {literal}") == ["006A"]
    assert ids(f"SELECT Id FROM Opportunity WHERE SystemModstamp < {literal}") == ["006B"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CloseDate = 2024-01-15", ["006B", "006D"]),
        ("CloseDate > 2024-01-15", ["006A"]),
        ("CloseDate <= 2024-03-31", ["006A", "006B", "006D"]),
        ("Amount > 250", ["006A", "006B"]),
        ("Amount >= 250.50", ["006A", "006B"]),
        ("Amount < 0", ["006D"]),
        ("Amount = -5", ["006D"]),
        ("Amount = 1000.00", ["006A"]),
        ("Amount != 1000", ["006B", "006C", "006D"]),
        ("Lines__c = 3", ["006A"]),
        ("IsWon = true", ["006B"]),
        ("IsWon = FALSE", ["006A", "006C", "006D"]),
        ("Name = 'ALPHA deal'", ["006A"]),
        ("Name <> 'alpha deal'", ["006B", "006C", "006D"]),
        ("Name > 'b'", ["006B", "006C", "006D"]),
        ("StageName IN ('closed won', 'Closed Lost')", ["006B", "006C"]),
        ("StageName NOT IN ('Prospecting')", ["006B", "006C"]),
        ("CloseDate IN (2024-01-15, null)", ["006B", "006C", "006D"]),
        ("Amount NOT IN (1000, -5, null)", ["006B"]),
        ("Partner_Account__c NOT IN ('001P')", ["006B", "006C"]),
        ("Name LIKE 'a%'", ["006A"]),
        ("Name LIKE '%DEAL'", ["006A", "006B", "006D"]),
        ("Name LIKE 'b_ta%'", ["006B"]),
        ("Name LIKE '%\\_%'", ["006C"]),
        ("Name LIKE '%50\\%'", ["006C"]),
        ("Name LIKE '%\\'%'", ["006D"]),
        ("Amount = null", ["006C"]),
        ("Amount != null", ["006A", "006B", "006D"]),
        ("Account.Name = 'customer inc'", ["006A", "006B"]),
        ("Owner.UserRole.Name = null", ["006B", "006D"]),
        ("Partner_Account__r.Name LIKE 'Partner%'", ["006A", "006D"]),
        ("NOT IsWon = true", ["006A", "006C", "006D"]),
        ("NOT (Amount > 0 OR Amount = null)", ["006D"]),
        ("IsWon = false AND (Amount > 500 OR CloseDate = null)", ["006A", "006C"]),
        ("(StageName = 'Prospecting' OR IsWon = true) AND Amount < 500", ["006B", "006D"]),
        ("Amount > 0 AND Amount < 2000 AND CloseDate != null", ["006A", "006B"]),
        ("Id IN ('006a', '006C')", ["006A", "006C"]),
    ],
)
def test_where(where: str, expected: list[str]) -> None:
    assert ids(f"SELECT Id FROM Opportunity WHERE {where} ORDER BY Id") == expected


def test_query_excludes_deleted_query_all_includes_them() -> None:
    assert ids("SELECT Id FROM Opportunity ORDER BY Id") == ["006A", "006B", "006C", "006D"]
    assert ids("SELECT Id FROM Opportunity ORDER BY Id", include_deleted=True) == [
        "006A", "006B", "006C", "006D", "006E",
    ]  # fmt: skip
    assert ids("SELECT Id FROM Opportunity WHERE IsDeleted = true", include_deleted=True) == [
        "006E"
    ]
    assert ids("SELECT Id FROM Opportunity WHERE IsDeleted = true") == []


def test_simple_salesforce_format_soql_round_trip() -> None:
    name = "O'Brien \\ deal"
    q = format_soql(
        "SELECT Id FROM Opportunity WHERE Name = {} AND SystemModstamp >= {}",
        name,
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert q == (
        "SELECT Id FROM Opportunity WHERE Name = 'O\\'Brien \\\\ deal' "
        "AND SystemModstamp >= 2024-01-01T00:00:00+00:00"
    )
    parsed = parse(q)
    assert parsed.where.operands[0].value.value == name  # type: ignore[union-attr]
    assert ids(q) == ["006D"]
    # every value type quote_soql_value emits, and the :like spec
    q = format_soql(
        "SELECT Id FROM Opportunity WHERE Name IN {} AND CloseDate = {} AND IsWon = {} "
        "AND Partner_Account__c != {} AND Amount < {} AND Name LIKE '{:like}%'",
        [name, 'x"y\n\t\r\b\f'],
        date(2024, 1, 15),
        False,
        None,
        0.5,
        "O'Brien \\ d",
    )
    assert ids(q) == ["006D"]


# ---------------------------------------------------------------------------------------------
# ORDER BY / LIMIT / OFFSET / COUNT()
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("Amount", ["006C", "006D", "006B", "006A"]),  # nulls first by default
        ("Amount ASC NULLS LAST", ["006D", "006B", "006A", "006C"]),
        ("Amount DESC", ["006A", "006B", "006D", "006C"]),  # nulls last by default
        ("Amount DESC NULLS FIRST", ["006C", "006A", "006B", "006D"]),
        ("CloseDate DESC, Id DESC", ["006A", "006D", "006B", "006C"]),
        ("CloseDate, Name DESC", ["006C", "006D", "006B", "006A"]),
        ("StageName, Id", ["006C", "006B", "006A", "006D"]),
        ("StageName DESC, Id DESC", ["006D", "006A", "006B", "006C"]),
        ("Name", ["006A", "006B", "006C", "006D"]),  # case-insensitive: beta < Gamma
        ("Owner.Name DESC, SystemModstamp", ["006B", "006D", "006A", "006C"]),
        ("IsWon DESC, Id", ["006B", "006A", "006C", "006D"]),
        ("SystemModstamp", ["006B", "006A", "006D", "006C"]),
    ],
)
def test_order_by(order: str, expected: list[str]) -> None:
    assert ids(f"SELECT Id FROM Opportunity ORDER BY {order}") == expected


def test_order_by_is_stable_without_tiebreaker() -> None:
    assert ids("SELECT Id FROM Opportunity ORDER BY StageName") == ["006C", "006B", "006A", "006D"]
    assert ids("SELECT Id FROM Opportunity ORDER BY IsDeleted DESC") == [
        "006A", "006B", "006C", "006D",
    ]  # fmt: skip


def test_limit_and_offset() -> None:
    assert ids("SELECT Id FROM Opportunity ORDER BY Id DESC LIMIT 2") == ["006D", "006C"]
    assert ids("SELECT Id FROM Opportunity ORDER BY Id LIMIT 2 OFFSET 1") == ["006B", "006C"]
    assert ids("SELECT Id FROM Opportunity LIMIT 0") == []
    assert run("SELECT Id FROM Opportunity ORDER BY Id LIMIT 100")[1] == 4


def test_count() -> None:
    assert run("SELECT COUNT() FROM Opportunity") == ([], 4)
    assert run("SELECT count() FROM Opportunity", include_deleted=True) == ([], 5)
    assert run("SELECT COUNT() FROM Opportunity WHERE Amount > 0") == ([], 2)
    assert run("SELECT COUNT() FROM Opportunity LIMIT 3") == ([], 3)
    assert run("SELECT COUNT() FROM Opportunity WHERE Name = 'nope'") == ([], 0)


def test_empty_records() -> None:
    q = parse("SELECT Id FROM Opportunity WHERE Amount > 0 ORDER BY Id")
    assert execute(q, FakeSchema(), [], Resolver(), False) == ([], 0)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_invalid_field_message_matches_salesforce() -> None:
    err = error_of("SELECT Id, Foo FROM Opportunity")
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Id, Foo FROM Opportunity\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Foo' on entity 'Opportunity'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names."
    )


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Owner.Foo FROM Opportunity",
        "SELECT Id FROM Opportunity WHERE Nope = 1",
        "SELECT Id FROM Opportunity ORDER BY Nope",
        "SELECT Id FROM Opportunity WHERE Owner.UserRole.Nope = 'x'",
    ],
)
def test_invalid_field(soql: str) -> None:
    assert error_of(soql).error_code == "INVALID_FIELD"


def test_invalid_field_on_parent_names_the_parent_entity() -> None:
    assert (
        "No such column 'Foo' on entity 'User'"
        in error_of("SELECT Owner.Foo FROM Opportunity").message
    )


def test_invalid_relationship() -> None:
    err = error_of("SELECT Bogus.Name FROM Opportunity")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith(
        "Didn't understand relationship 'Bogus' in field path. If you are attempting to use a "
        "custom relationship, be sure to append the '__r' after the custom relationship name. "
        "Please reference your WSDL or the describe call for the appropriate names."
    )


def test_invalid_type() -> None:
    err = error_of("SELECT Id FROM Foo")
    assert err.error_code == "INVALID_TYPE"
    assert err.message == (
        "\nSELECT Id FROM Foo\n               ^\nERROR at Row:1:Column:16\n"
        "sObject type 'Foo' is not supported. If you are attempting to use a custom object, be "
        "sure to append the '__c' after the entity name. Please reference your WSDL or the "
        "describe call for the appropriate names."
    )
    assert str(err) == f"INVALID_TYPE: {err.message}"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            "SystemModstamp >= '2024-01-01T00:00:00Z'",
            "value of filter criterion for field 'SystemModstamp' must be of type dateTime and "
            "should not be enclosed in quotes",
        ),
        ("SystemModstamp >= 2024-01-01", "must be of type dateTime"),
        ("CloseDate = '2024-01-15'", "field 'CloseDate' must be of type date and should not"),
        ("Amount > '5'", "field 'Amount' must be of type double and should not"),
        ("IsWon = 'true'", "field 'IsWon' must be of type boolean"),
        ("Name = 5", "field 'Name' must be of type string and should be enclosed in quotes"),
        ("StageName IN ('a', 1)", "field 'StageName' must be of type string"),
        ("Partner_Account__r.BillingAddress = 'x'", "can not be filtered"),
        ("Amount LIKE '5%'", "LIKE"),
    ],
)
def test_literal_type_mismatch(where: str, message: str) -> None:
    err = error_of(f"SELECT Id FROM Opportunity WHERE {where}")
    assert err.error_code == "INVALID_FIELD"
    assert message in err.message


def test_type_mismatch_caret_points_at_value() -> None:
    err = error_of("SELECT Id FROM Opportunity WHERE SystemModstamp >= '2024'")
    assert err.message.startswith(
        "\nSELECT Id FROM Opportunity WHERE SystemModstamp >= '2024'\n"
        + " " * 51
        + "^\nERROR at Row:1:Column:52\n"
    )


@pytest.mark.parametrize(
    ("soql", "tail"),
    [
        ("SELECT Id Opportunity", "unexpected token: 'Opportunity'"),
        ("SELECT FROM Opportunity", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Opportunity WHERE", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Opportunity WHERE Amount > 1 AND Amount < 5 OR IsWon = true", "'OR'"),
        ("SELECT Id FROM Opportunity WHERE Amount >", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Opportunity WHERE Amount = 1 LIMIT", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Opportunity LIMIT -1", "unexpected token: '-1'"),
        ("SELECT Id FROM Opportunity GROUP BY Name", "unexpected token: 'GROUP'"),
        ("SELECT Id, Id FROM Opportunity", "duplicate field selected: Id"),
        ("SELECT Id FROM Opportunity WHERE Name = 'a\\qb'", "Illegal character sequence '\\q'"),
        ("SELECT Id FROM Opportunity WHERE Name = 'open", "mismatched character '<EOF>'"),
        (
            "SELECT Id FROM Opportunity WHERE SystemModstamp > 2024-01-01T00:00:00",
            "unexpected token: '2024-01-01T00:00:00'",
        ),
        ("SELECT Id FROM Opportunity WHERE CloseDate > 2024-13-01", "'2024-13-01'"),
        ("SELECT Id FROM Opportunity WHERE Name IN ()", "unexpected token: ')'"),
        ("SELECT Id FROM Opportunity WHERE Name = 'x' ORDER Id", "unexpected token: 'Id'"),
        ("SELECT Id FROM Opportunity ORDER BY Id NULLS", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Opportunity; DROP", "unexpected token: ';'"),
        ("", "unexpected token: '<EOF>'"),
    ],
)
def test_malformed(soql: str, tail: str) -> None:
    with pytest.raises(SoqlError) as info:
        parse(soql)
    assert info.value.error_code == "MALFORMED_QUERY"
    assert tail in info.value.message
    assert "ERROR at Row:1:Column:" in info.value.message


def test_malformed_caret_on_second_line() -> None:
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id\nFROM Opportunity\nWHERE Name = = 'x'")
    assert info.value.message == (
        "\nWHERE Name = = 'x'\n             ^\nERROR at Row:3:Column:14\nunexpected token: '='"
    )


def test_execute_lazy_pages_match_execute() -> None:
    soql = "SELECT Id, Owner.Name, SystemModstamp FROM Opportunity ORDER BY SystemModstamp DESC"
    eager, total = run(soql)
    lazy, lazy_total = execute_lazy(parse(soql), FakeSchema(), RECORDS, Resolver(), False)
    assert isinstance(lazy, LazyRows)
    assert (len(lazy), lazy_total) == (4, total)
    assert lazy[0:2] == eager[0:2]
    assert isinstance(lazy[2:], list)
    assert lazy[2:] == eager[2:]
    assert lazy[-1] == eager[-1]
    assert list(lazy) == eager
    assert lazy == eager
    assert json.dumps(lazy[:]) == json.dumps(eager)
    count_rows, count = execute_lazy(
        parse("SELECT COUNT() FROM Opportunity"), FakeSchema(), RECORDS, Resolver(), True
    )
    assert (len(count_rows), count) == (0, 5)
