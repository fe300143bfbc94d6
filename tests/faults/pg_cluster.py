"""A private PostgreSQL cluster a test can restart: ``initdb`` into a temporary directory, a free loopback
port, its own socket directory. Never the machine's shared server.

``initdb`` and ``pg_ctl`` refuse to run as root, so they run as the ``postgres`` user (``runuser``) when
the tests run as root; the directory then belongs to ``postgres``.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from faults_harness import free_port

_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def pg_bin() -> Path | None:
    found = sorted(glob.glob(f"{_BIN_GLOB}/initdb"))
    return Path(found[-1]).parent if found else None


class PgCluster:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cb-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.log = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        return ["runuser", "-u", "postgres", "--", *cmd] if self._as_postgres else cmd

    def _run(self, tool: str, *args: str, timeout: float = 60.0) -> None:
        done = subprocess.run(self._cmd(tool, *args), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}\n{self.tail()}"
            )

    def init(self) -> None:
        self.sock.mkdir()
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            for path in (self.root, self.sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        # Trust on loopback only; no fsync: the test's data need not survive a power cut.
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    @property
    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", *args, action)

    def start(self) -> None:
        self._pg_ctl("start", "-o", self._options)

    async def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is closed, the server is away for a moment."""
        await asyncio.to_thread(self._pg_ctl, "restart", "-o", self._options, "-m", "fast")

    def destroy(self) -> None:
        """Stop (immediately: nothing to keep) and remove the directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
