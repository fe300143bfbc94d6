"""The contacts CSV export: what a spreadsheet opens must never run a formula someone typed into a form."""

import csv
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from webkit import intake_body

from ari_app.web.export import safe_cell

API = "/api/v1/callback-requests"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ada", "Ada"),
        ("O'Brien = boss", "O'Brien = boss"),
        ("", ""),
        (None, ""),
    ],
)
def test_cells_that_would_be_formulas_get_an_apostrophe(value: object, shown: str) -> None:
    assert safe_cell(value) == shown


async def test_the_export_neutralises_formulas_typed_into_names(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    body = intake_body(first_name="=cmd|' /C calc'!A0", last_name='@SUM(1+1)*cmd|"x"')
    assert (await client.post(API, json=body, headers=auth)).status == 201
    assert (await client.get("/api/v1/contacts.csv")).status == 401
    answer = await client.get("/api/v1/contacts.csv", headers=auth)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await answer.text())))
    assert len(rows) == 1
    row = rows[0]
    assert row["first_name"] == "'=cmd|' /C calc'!A0"
    assert row["last_name"] == '\'@SUM(1+1)*cmd|"x"'
    assert row["phone"] == "'+12015550123"
    assert row["tags"] == "Request to Callback Pending" and row["sms_opted_out"] == "no"
    for cell in (c for r in rows for c in r.values()):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


async def test_the_export_of_many_contacts_is_complete(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    for n in range(3):
        body = intake_body(phone=f"+1201555{n:04d}")
        assert (await client.post(API, json=body, headers=auth)).status == 201
    answer = await client.get("/api/v1/contacts.csv", headers=auth)
    rows = list(csv.DictReader(io.StringIO(await answer.text())))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
