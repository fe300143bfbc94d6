"""The internal do-not-call list: API, CSV import, CLI, and STOP by SMS."""

import argparse
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from webkit import INBOUND_SECRET, intake_body, make_settings, start_client

from ari_app.cli import dnc as dnc_cli
from ari_app.store.models import CallbackRequest, Dnc

API = "/api/v1/callback-requests"
DNC = "/api/v1/dnc"


async def _listed(client: TestClient[Any, Any], auth: dict[str, str]) -> list[str]:
    answer = await client.get(DNC, headers=auth)
    assert answer.status == 200
    return [e["phone"] for e in (await answer.json())["items"]]


async def test_a_number_added_by_api_is_listed_normalised_and_refused_at_intake(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    added = await client.post(DNC, json={"phone": "(201) 555-0123", "reason": "asked\x00 us"}, headers=auth)
    assert added.status == 201
    entry = await added.json()
    assert entry["phone"] == "+12015550123" and entry["reason"] == "asked us" and entry["source"] == "api"
    again = await client.post(DNC, json={"phone": "+1 201 555 0123"}, headers=auth)
    assert again.status == 200 and (await again.json())["reason"] == "asked us"
    assert await _listed(client, auth) == ["+12015550123"]

    refused = await client.post(API, json=intake_body(), headers=auth)
    assert refused.status == 422
    assert (await refused.json())["details"]["code"] == "do_not_call"
    async with db_sessionmaker() as session:
        assert (await session.scalars(select(CallbackRequest))).all() == []


async def test_removing_a_number_lets_it_request_again(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    await client.post(DNC, json={"phone": "+12015550123"}, headers=auth)
    gone = await client.delete(f"{DNC}/{quote('+12015550123')}", headers=auth)
    assert gone.status == 204
    assert (await client.delete(f"{DNC}/{quote('+12015550123')}", headers=auth)).status == 404
    assert await _listed(client, auth) == []
    assert (await client.post(API, json=intake_body(), headers=auth)).status == 201


async def test_bad_numbers_are_named(client: TestClient[Any, Any], auth: dict[str, str]) -> None:
    for phone in ("1234&Local/evil", "+1 201 555 0123,1", "", "12"):
        answer = await client.post(DNC, json={"phone": phone}, headers=auth)
        assert answer.status == 422, phone
        assert "phone" in (await answer.json())["details"]["fields"]
    assert (await client.delete(f"{DNC}/{quote('x/../1')}", headers=auth)).status in (404, 422)
    assert await _listed(client, auth) == []


async def test_a_csv_import_adds_good_rows_and_reports_each_bad_one(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    csv_text = (
        "\ufeffPhone,Reason\r\n"
        "(201) 555-0123,asked by phone\r\n"
        "'+12025550145,from our own export\r\n"
        "\r\n"
        "1234&Local/evil,\r\n"
        "+44 20 7946 0958,UK is fine on the list\r\n"
        "+1 201 555 0123,duplicate\r\n"
        "not a number,\r\n"
    )
    answer = await client.post(
        f"{DNC}/import", data=csv_text.encode(), headers={**auth, "Content-Type": "text/csv"}
    )
    assert answer.status == 200, await answer.text()
    report = await answer.json()
    assert (report["added"], report["already"], report["error_count"]) == (3, 1, 2)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [(5, "invalid_chars"), (8, "invalid_chars")]
    assert sorted(await _listed(client, auth)) == ["+12015550123", "+12025550145", "+442079460958"]


async def test_an_import_is_csv_and_bounded(client: TestClient[Any, Any], auth: dict[str, str]) -> None:
    as_json = await client.post(f"{DNC}/import", json={"phone": "+12015550123"}, headers=auth)
    assert as_json.status == 415
    huge = ("+12015550123\n" * 90_000).encode()  # over 1 MiB
    too_big = await client.post(
        f"{DNC}/import", data=io.BytesIO(huge), headers={**auth, "Content-Type": "text/csv"}
    )
    assert too_big.status == 413
    latin1 = await client.post(
        f"{DNC}/import",
        data="+12015550123,caf\xe9\n".encode("latin-1"),
        headers={**auth, "Content-Type": "text/csv"},
    )
    assert latin1.status == 422
    assert await _listed(client, auth) == []


async def test_a_stop_by_sms_lists_the_number_when_configured(
    make_services: Any, auth: dict[str, str], db_sessionmaker: Any
) -> None:
    services = make_services(make_settings(sms={"dnc_on_stop": True}))
    client = await start_client(services)
    try:
        assert (await client.post(API, json=intake_body(), headers=auth)).status == 201
        query = urlencode({"secret": INBOUND_SECRET, "from": "+12015550123", "text": "STOP"})
        assert (await client.get(f"/hooks/kannel/inbound?{query}")).status == 200
        async with db_sessionmaker() as session:
            entry = await session.get(Dnc, "+12015550123")
        assert entry is not None and entry.source == "sms-stop"
    finally:
        await client.close()


async def test_a_stop_by_sms_does_not_list_the_number_by_default(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    assert (await client.post(API, json=intake_body(), headers=auth)).status == 201
    query = urlencode({"secret": INBOUND_SECRET, "from": "+12015550123", "text": "STOP"})
    assert (await client.get(f"/hooks/kannel/inbound?{query}")).status == 200
    assert await _listed(client, auth) == []


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="callback")
    dnc_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_the_cli_adds_imports_lists_and_removes(
    migrated_db_url: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CALLBACK_DATABASE_URL", migrated_db_url)
    monkeypatch.setenv("CALLBACK_BUSINESS_REGION", "US")
    assert _cli(["dnc", "add", "(201) 555-0123", "--reason", "asked"]) == 0
    assert "+12015550123 added" in capsys.readouterr().out
    csv_file = tmp_path / "dnc.csv"
    csv_file.write_text("phone\n+12025550145\nevil;1\n", encoding="utf-8")
    assert _cli(["dnc", "import", str(csv_file)]) == 1  # one row refused
    out = capsys.readouterr()
    assert "added 1, already listed 0, refused 1" in out.out and f"{csv_file}:3:" in out.err
    assert _cli(["dnc", "list"]) == 0
    listed = capsys.readouterr().out
    assert "+12015550123" in listed and "+12025550145" in listed and "asked" in listed
    assert _cli(["dnc", "remove", "+12015550123"]) == 0
    assert _cli(["dnc", "remove", "+12015550123"]) == 1
    assert _cli(["dnc", "add", "1234&Local/evil"]) == 1
    assert "error:" in capsys.readouterr().err
