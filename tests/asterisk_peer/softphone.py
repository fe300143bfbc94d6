"""A real SIP softphone for tests against the real Asterisk peer: baresip, driven over its TCP control socket.

    from softphone import Softphone, baresip_or_skip

    async with Softphone("phone1", binary=baresip_or_skip()) as phone:   # registered once this returns
        ...originate PJSIP/phone1 over ARI...
        await phone.wait_for("CALL_ESTABLISHED")                         # answered on its own (auto)
        await phone.press("1")                                           # one whole RFC 4733 key press

baresip runs with a generated configuration in a temporary directory: SIP, RTP and the control socket on
127.0.0.1 only, no sound card (it sends a file, or silence, through the ``aufile`` module and plays into the
``aubridge`` null sink). ``phone1``/``phone2`` and their loopback-only test passwords are in ``pjsip.conf``.
Pure asyncio and the standard library (plus pytest for the skip line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import tempfile
import wave
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

#: The peer's SIP transport (pjsip.conf ``transport-udp``).
REGISTRAR = "127.0.0.1:5070"
#: Test-only passwords of the softphone endpoints in pjsip.conf (loopback only, not secrets).
PASSWORDS = {"phone1": "phone1-test-only", "phone2": "phone2-test-only"}
MODULES = "/usr/lib/baresip/modules"


class SoftphoneError(RuntimeError):
    """baresip did not start, register, answer or obey a command in time."""


def baresip_or_skip() -> str:
    """The baresip binary, or one clear skip line when it is not installed."""
    found = shutil.which("baresip")
    if found is None or not Path(MODULES, "ctrl_tcp.so").is_file():
        pytest.skip("softphone tests need baresip (Debian: apt-get install baresip)")
    return found


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_sip_port(avoid: int) -> int:
    """A port for ``sip_listen``: baresip binds it for UDP and TCP and the next one for TLS, and fails at
    start if any is taken (seen once: TLS on the port just picked for the control socket)."""
    while True:
        port = _free_port(socket.SOCK_DGRAM)
        if avoid not in (port, port + 1) and _bindable(port, socket.SOCK_STREAM):
            if _bindable(port + 1, socket.SOCK_STREAM):
                return port


def _write_silence(path: Path, seconds: int) -> None:
    """8 kHz 16-bit mono digital silence: the phone keeps sending RTP like a real one with its mic on."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 8000 * seconds)


def _netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class Softphone:
    """One baresip user agent registered as ``endpoint`` on the peer; owns its process and control link."""

    def __init__(
        self,
        endpoint: str = "phone1",
        *,
        password: str | None = None,
        binary: str = "baresip",
        registrar: str = REGISTRAR,
        audio: Path | None = None,
        auto_answer: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self._password = password if password is not None else PASSWORDS[endpoint]
        self._binary = binary
        self._registrar = registrar
        self._audio = audio
        self._auto_answer = auto_answer
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tokens = 0
        #: Every event baresip reported, in order (``type`` is e.g. CALL_INCOMING, CALL_ESTABLISHED), with
        #: ``at``, the event loop's time it arrived.
        self.events: list[dict[str, Any]] = []
        self._new_event = asyncio.Event()

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self, within: float = 15.0) -> None:
        """Start baresip and return once the peer accepted its registration."""
        self._dir = tempfile.TemporaryDirectory(prefix=f"baresip-{self.endpoint}-")
        home = Path(self._dir.name)
        audio = self._audio
        if audio is None:
            audio = home / "silence.wav"
            _write_silence(audio, 300)
        ctrl = _free_port(socket.SOCK_STREAM)
        sip = _free_sip_port(avoid=ctrl)
        answer = "auto" if self._auto_answer else "manual"
        (home / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{sip}",
                    "net_interface 127.0.0.1",
                    "rtp_ports 32000-32999",
                    f"audio_source aufile,{audio}",
                    "audio_player aubridge,nil",
                    "audio_alert aubridge,nil",
                    "call_max_calls 4",
                    f"module_path {MODULES}",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module ctrl_tcp.so",
                    "module_app account.so",
                    "module_app menu.so",
                    f"ctrl_tcp_listen 127.0.0.1:{ctrl}",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        (home / "accounts").write_text(
            f"<sip:{self.endpoint}@{self._registrar}>;auth_pass={self._password};answermode={answer}"
            ";regint=600;audio_codecs=PCMU,PCMA\n",
            encoding="utf-8",
        )
        (home / "contacts").write_text("", encoding="utf-8")
        with (home / "baresip.log").open("wb") as printout:
            self._proc = await asyncio.create_subprocess_exec(
                self._binary,
                "-v",
                "-f",
                str(home),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=printout,
                stderr=asyncio.subprocess.STDOUT,
            )
        try:
            async with asyncio.timeout(within):
                await self._connect(ctrl)
                await self._wait_registered()
        except TimeoutError:
            printed = self.log()
            await self.stop()
            message = f"{self.endpoint} did not register on {self._registrar}:\n{printed}"
            raise SoftphoneError(message) from None
        except BaseException:
            await self.stop()  # baresip exited at start: its folder goes too, not at interpreter exit
            raise

    async def stop(self, within: float = 5.0) -> None:
        """Quit baresip (unregistering), then end the process we started if it lingers."""
        if self._writer is not None and self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(OSError, SoftphoneError, TimeoutError):
                await self.command("quit", within=1.0)
        if self._proc is not None and self._proc.returncode is None:
            try:
                await asyncio.wait_for(self._proc.wait(), within)
            except TimeoutError:
                self._proc.terminate()
                await self._proc.wait()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._proc = self._writer = self._reader = self._pump = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    async def __aenter__(self) -> Softphone:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -------------------------------------------------------------------------------------- actions

    async def answer(self) -> None:
        """Answer the ringing call (when started with ``auto_answer=False``)."""
        await self.command("accept")

    async def press(self, keys: str) -> None:
        """Press each key once on the current call: a whole RFC 4733 event (start, end), like a finger."""
        for key in keys:
            await self.command("sndcode", key)

    async def dial(self, uri: str) -> None:
        """Call ``uri``, e.g. ``sip:sim-answer@127.0.0.1:5070``."""
        await self.command("dial", uri)

    async def hangup(self) -> None:
        await self.command("hangup")

    async def wait_for(self, kind: str, within: float = 20.0) -> dict[str, Any]:
        """The first event of this type (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED…) not yet waited for."""
        seen = 0
        try:
            async with asyncio.timeout(within):
                while True:
                    for index in range(seen, len(self.events)):
                        event = self.events[index]
                        if event.get("type") == kind and not event.get("_taken"):
                            event["_taken"] = True
                            return event
                    seen = len(self.events)
                    self._new_event.clear()
                    await self._new_event.wait()
        except TimeoutError:
            got = [e.get("type") for e in self.events]
            raise SoftphoneError(f"{self.endpoint}: no {kind} within {within:g} s (events: {got})") from None

    async def command(self, name: str, params: str = "", within: float = 5.0) -> dict[str, Any]:
        """Send one control command: its answer (``ok``, ``data``); SoftphoneError if baresip refuses it."""
        if self._writer is None:
            raise SoftphoneError(f"{self.endpoint} is not running")
        self._tokens += 1
        token = str(self._tokens)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        message = {"command": name, "params": params, "token": token}
        self._writer.write(_netstring(json.dumps(message).encode()))
        await self._writer.drain()
        try:
            answer = await asyncio.wait_for(future, within)
        except TimeoutError:
            raise SoftphoneError(f"{self.endpoint}: no answer to {name!r} within {within:g} s") from None
        finally:
            self._pending.pop(token, None)
        if not answer.get("ok", False):
            raise SoftphoneError(f"{self.endpoint}: {name} {params!r} refused: {answer.get('data')!r}")
        return answer

    def log(self) -> str:
        """What baresip printed so far (for failure messages)."""
        if self._dir is None:
            return ""
        path = Path(self._dir.name, "baresip.log")
        return path.read_text(errors="replace")[-4000:] if path.is_file() else ""

    # ------------------------------------------------------------------------------------- internals

    async def _connect(self, port: int) -> None:
        while True:  # the control socket opens a moment after the process starts
            if self._proc is not None and self._proc.returncode is not None:
                raise SoftphoneError(f"baresip exited with {self._proc.returncode}:\n{self.log()}")
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        self._pump = asyncio.create_task(self._read_messages(self._reader))

    async def _wait_registered(self) -> None:
        # The REGISTER_OK event may come before the control link is up, so ask.
        while True:
            info = await self.command("reginfo")
            # e.g. "> sip:phone1@127.0.0.1:5070   \x1b[32mOK \x1b[;m callback-test-peer Expires 599s"
            plain = re.sub(r"\x1b\[[0-9;]*m", "", str(info.get("data", "")))
            if re.search(r"\bOK\b", plain):
                return
            await asyncio.sleep(0.2)

    async def _read_messages(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                length = int((await reader.readuntil(b":"))[:-1])
                payload = await reader.readexactly(length + 1)
            except (asyncio.IncompleteReadError, ValueError, OSError):
                return
            message: dict[str, Any] = json.loads(payload[:-1])
            if message.get("response"):
                future = self._pending.get(str(message.get("token")))
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("event"):
                message["at"] = asyncio.get_running_loop().time()  # when it arrived, on the loop's clock
                self.events.append(message)
                self._new_event.set()
