"""`callback demo` as a newcomer starts it, outside the repository: its first lines say where the form, the
dashboard and the API are, and the login, the token and the `curl` line it prints work."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import sys
from pathlib import Path

import aiohttp
from e2ekit import free_port

REPO = Path(__file__).resolve().parents[2]


async def _banner(proc: asyncio.subprocess.Process) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or "Ctrl-C to stop" not in lines[-1]:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, f"the demo stopped early; printed {lines}"
        lines.append(line.decode().rstrip())
    return lines


async def test_the_demo_says_where_everything_is_and_its_logins_work(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBACK_")}
    env["PYTHONPATH"] = str(REPO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ari_app.cli",
        "demo",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        banner = await _banner(proc)
        text = "\n".join(banner)
        web = f"http://127.0.0.1:{port}"
        assert f"form       {web}/" in text
        login = re.search(rf"dashboard  {re.escape(web)}/admin/\s+user (\S+), password (\S+)", text)
        token = re.search(rf"API        {re.escape(web)}/api/v1/\s+bearer token (\S+)", text)
        curl = re.search(r"try:\s+(curl .*)$", text, re.MULTILINE)
        assert login and token and curl, text
        assert f"OpenAPI    {web}/api/v1/openapi.json" in text
        assert f'<script src="{web}/embed.js" async></script>' in text

        # unsafe: keep cookies set by an IP address (127.0.0.1), as a browser does
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            # The curl line, as printed (run by curl itself when the machine has it).
            argv = shlex.split(curl.group(1))
            if shutil.which("curl"):
                run = await asyncio.create_subprocess_exec(
                    *argv, "-sf", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
                )
                out, err = await run.communicate()
                assert run.returncode == 0, err
                assert out.startswith(b'{"items": [')
            header = argv[argv.index("-H") + 1].split(": ", 1)
            async with http.get(argv[-1], headers={header[0]: header[1]}) as resp:
                assert resp.status == 200
            bearer = {"Authorization": f"Bearer {token.group(1)}"}
            async with http.get(f"{web}/api/v1/openapi.json", headers=bearer) as resp:
                assert resp.status == 200 and (await resp.json())["openapi"].startswith("3.")
            async with http.get(f"{web}/api/v1/openapi.json") as resp:
                assert resp.status == 401  # the token is what the banner's "(same token)" is for

            # The dashboard login made for this run.
            async with http.get(f"{web}/admin/login") as resp:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
            assert csrf
            form = {"username": login.group(1), "password": login.group(2), "csrf": csrf.group(1)}
            async with http.post(f"{web}/admin/login", data=form, allow_redirects=False) as resp:
                assert resp.status in (302, 303), await resp.text()
            async with http.get(f"{web}/admin/", allow_redirects=False) as resp:
                assert resp.status == 200

            # A request shows up in the log at once.
            body = {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "phone": "+12025550123",
                "reason": "roof",
                "consent": True,
            }
            async with http.post(f"{web}/api/v1/callback-requests", json=body, headers=bearer) as resp:
                assert resp.status == 201
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "request from Ada Lovelace (+12025550123): first call planned for" in log
    assert "prompts" not in log  # run outside the repository, the shipped prompts are found
    assert token.group(1) not in log and login.group(2) not in log
