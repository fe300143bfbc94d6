"""``callback config show`` prints the effective settings and no secret."""

import argparse
import json
from pathlib import Path
from typing import Any

from ari_app.cli import config as config_cli
from ari_app.cli.config import redact_url

SECRETS = {
    "ari-password-1",
    "pg-password-2",
    "sms-password-3",
    "inbound-secret-4",
    "webhook-secret-5",
    "api-token-6",
    "url-secret-7",
    "captcha-secret-8",
    "query-token-9",
}


def _show(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="callback")
    config_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = int(args.func(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_config_show_masks_every_secret(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    config = tmp_path / "callback.toml"
    config.write_text(
        """
[ari]
password = "ari-password-1"
[database]
url = "postgresql+asyncpg://callback:pg-password-2@db.internal:5432/callback"
[sms]
gateway = "kannel"
url = "http://kannel:13013/cgi-bin/sendsms?username=cb&password=sms-password-3&smsc=main"
inbound_secret = "inbound-secret-4"
[webhooks]
urls = ["https://crm.example.com/hook?token=query-token-9&x=1"]
secret = "webhook-secret-5"
[sounds]
url_secret = "url-secret-7"
[web]
captcha_provider = "turnstile"
captcha_secret = "captcha-secret-8"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("CALLBACK_API_TOKEN", "api-token-6")
    rc, out, err = _show(["config", "show", "--config", str(config)], capsys)
    assert rc == 0, err
    for secret in SECRETS:
        assert secret not in out, secret
    shown = json.loads(out)
    assert shown["ari"]["password"] == "****" and shown["api"]["token"] == "****"
    assert shown["database"]["url"] == "postgresql+asyncpg://callback:****@db.internal:5432/callback"
    assert "username=cb" in shown["sms"]["url"] and "smsc=main" in shown["sms"]["url"]
    assert shown["webhooks"]["urls"] == ["https://crm.example.com/hook?token=****&x=1"]
    assert shown["web"]["captcha_provider"] == "turnstile"
    assert shown["calls"]["max_attempts"] == 2  # the rest is shown as it is


def test_config_show_names_a_bad_key(tmp_path: Path, capsys: Any) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[calls]\nmax_attempts = "many"\n', encoding="utf-8")
    rc, out, err = _show(["config", "show", "--config", str(config)], capsys)
    assert rc == 1 and out == "" and "[calls] max_attempts: must be a whole number" in err


def test_redact_url_leaves_other_text_alone() -> None:
    assert redact_url("PJSIP/{number}@trunk") == "PJSIP/{number}@trunk"
    assert redact_url("sqlite+aiosqlite:///./callback.db") == "sqlite+aiosqlite:///./callback.db"
    assert redact_url("http://user@host/x") == "http://user@host/x"
    assert redact_url("http://a:b@host/x?api_key=k&q=1") == "http://a:****@host/x?api_key=****&q=1"
