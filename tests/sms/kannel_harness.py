"""Real Kannel for tests: bearerbox + smsbox + the fake SMSC, on free loopback ports in a temp dir.

fakesmsc plays the phone network: what smsbox sends reaches it (it logs ``Got message N: <from to type
text>`` on stderr, which we read), and lines written to its stdin (a FIFO) are messages typed on a phone.
Every daemon is stopped on `close()`, first politely, then with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes

import aiohttp

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0

_GOT = re.compile(r"Got message \d+: <(.*)>\s*$")
_SENT = re.compile(r"fakesmsc: sent message (\d+)")


@dataclass(frozen=True, slots=True)
class SmscMessage:
    """One message as the fake SMSC received it from Kannel."""

    sender: str
    receiver: str
    kind: str  # "text" or "ucs-2" (fakesmsc's names)
    text: str


def free_port() -> int:
    # Kannel's config needs numbers; the tiny race with another process is acceptable on loopback.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binaries() -> dict[str, str]:
    """The Kannel binaries, or an error: the Kannel tests must fail, not skip, without them."""
    found = {name: shutil.which(name) or "" for name in ("bearerbox", "smsbox")}
    found["fakesmsc"] = FAKESMSC if os.access(FAKESMSC, os.X_OK) else ""
    missing = [name for name, path in found.items() if not path]
    if missing:
        raise RuntimeError(f"Kannel binaries missing: {missing} (apt-get install kannel kannel-extras)")
    return found


def _decode_smsc_text(kind: str, data: str) -> str:
    if kind == "ucs-2":
        return unquote_to_bytes(data.replace("+", "%20")).decode("utf-16-be", "replace")
    return data


class KannelHarness:
    def __init__(self, workdir: Path, *, get_url: str, user: str, password: str) -> None:
        self.binaries = require_binaries()
        self.dir = workdir
        self.user = user
        self.password = password
        self.admin_password = os.urandom(8).hex()
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.smsc_port = free_port()
        self.sendsms_port = free_port()
        self.get_url = get_url
        self.conf = workdir / "kannel.conf"
        self.fifo = workdir / "smsc-in.fifo"
        self.smsc_log = workdir / "fakesmsc.err"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._fifo_fd: int | None = None
        self._typed = 0

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}"

    def write_config(self) -> None:
        d = self.dir
        # get-url is quoted for Kannel's config; max-messages = 0 keeps our HTTP answer off the phone.
        self.conf.write_text(
            f"""
group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = {self.admin_password}
status-password = {self.admin_password}
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{d}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 1

group = sendsms-user
username = {self.user}
password = {self.password}

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{self.get_url}"
"""
        )

    def _spawn(
        self, name: str, args: list[str], *, stdin: int | None = None, stderr_path: Path | None = None
    ) -> None:
        # The children keep their own copies of these descriptors.
        with (
            open(self.dir / f"{name}.out", "ab") as out,
            open(stderr_path or os.devnull, "ab") as err,
        ):
            self._procs[name] = subprocess.Popen(
                args,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err if stderr_path else subprocess.STDOUT,
                start_new_session=True,
            )

    async def start(self, within: float = START_TIMEOUT) -> None:
        self.write_config()
        os.mkfifo(self.fifo)
        # Read-write: we hold a writer, so fakesmsc never sees end of file on its stdin.
        self._fifo_fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
        deadline = time.monotonic() + within
        self._spawn("bearerbox", [self.binaries["bearerbox"], str(self.conf)])
        await self._wait(deadline, lambda s: "Status: running" in s, "bearerbox admin page")
        self._spawn(
            "fakesmsc",
            [self.binaries["fakesmsc"], "-H", "127.0.0.1", "-r", str(self.smsc_port)],
            stdin=self._fifo_fd,
            stderr_path=self.smsc_log,
        )
        await self.start_smsbox(deadline - time.monotonic())
        await self._wait(deadline, self._smsc_online, "fake SMSC online")

    async def start_smsbox(self, within: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + within
        self._spawn("smsbox", [self.binaries["smsbox"], str(self.conf)])
        await self._wait(deadline, lambda s: "smsbox:" in s, "smsbox connected to bearerbox")
        while True:  # sendsms listens a moment after the box connects
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.sendsms_port), timeout=1.0
                )
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("smsbox sendsms port did not open") from None
                await asyncio.sleep(0.05)

    async def stop_smsbox(self) -> None:
        await self._stop("smsbox")

    @staticmethod
    def _smsc_online(status: str) -> bool:
        return any("FAKE:" in line and "(online" in line for line in status.splitlines())

    async def status(self) -> str:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={self.admin_password}"
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response,
        ):
            return await response.text()

    async def _wait(self, deadline: float, ready: Callable[[str], bool], what: str) -> None:
        while True:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.dir}")
            try:
                if ready(await self.status()):
                    return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kannel not ready: {what} (logs in {self.dir})")
            await asyncio.sleep(0.05)

    # The phone network side.

    def smsc_received(self) -> list[SmscMessage]:
        messages = []
        for line in self._smsc_lines():
            match = _GOT.search(line)
            if match:
                sender, receiver, kind, data = (match.group(1).split(" ", 3) + ["", "", "", ""])[:4]
                messages.append(SmscMessage(sender, receiver, kind, _decode_smsc_text(kind, data)))
        return messages

    def _smsc_lines(self) -> list[str]:
        if not self.smsc_log.exists():
            return []
        return self.smsc_log.read_bytes().decode("utf-8", "replace").splitlines()

    async def wait_for_smsc(
        self, predicate: Callable[[SmscMessage], bool], within: float = 10.0
    ) -> SmscMessage:
        deadline = time.monotonic() + within
        while True:
            for message in self.smsc_received():
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake SMSC did not receive it; it got {self.smsc_received()}")
            await asyncio.sleep(0.05)

    async def type_on_phone(self, sender: str, receiver: str, text: str, within: float = 10.0) -> None:
        """A phone sends ``text``: one line into fakesmsc, then wait until it passed it to bearerbox.

        fakesmsc handles one line per read, so lines are written one at a time.
        """
        assert self._fifo_fd is not None, "start() first"
        if text.isascii() and "\n" not in text:
            line = f"{sender} {receiver} text {text}\n"
        else:
            line = f"{sender} {receiver} ucs2 {quote_from_bytes(text.encode('utf-16-be'))}\n"
        self._typed += 1
        os.write(self._fifo_fd, line.encode())
        deadline = time.monotonic() + within
        while not any(
            (m := _SENT.search(line)) and int(m.group(1)) >= self._typed for line in self._smsc_lines()
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("fakesmsc did not send the typed message")
            await asyncio.sleep(0.05)

    # Shutdown.

    async def _stop(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, STOP_TIMEOUT)

    async def close(self) -> None:
        try:
            for name in ("smsbox", "fakesmsc", "bearerbox"):
                await self._stop(name)
        finally:
            for proc in self._procs.values():  # anything left from a failed stop
                if proc.poll() is None:
                    proc.kill()
            self._procs.clear()
            if self._fifo_fd is not None:
                os.close(self._fifo_fd)
                self._fifo_fd = None
