"""Start `python -m rembg_core serve ...` as a child process, wait until it answers, stop it cleanly.

Used by the tests, the benchmark and the Serving Lab page. The server is told the parent's pid
(`--exit-with`): its master watches it and shuts down when the parent dies, so a server started
by a dashboard cannot outlive the dashboard, even when that is killed outright.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import IO

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    """(status, JSON body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


@dataclass
class ServerProcess:
    args: list[str]  # serve flags (without --host/--port)
    port: int = field(default_factory=free_port)
    env: dict[str, str] | None = None
    prefix: tuple[str, ...] = ()  # a command the server runs under (tests: setpriv, to drop root's privileges)
    proc: subprocess.Popen | None = None
    log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, wait: str | None = "/livez", timeout: float = 90.0) -> ServerProcess:
        """Launch; then wait until `wait` answers 200 (None: do not wait)."""
        self.log = tempfile.TemporaryFile()
        cmd = [*self.prefix, sys.executable, "-m", "rembg_core", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--exit-with", str(os.getpid()), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(self.env or {})}, start_new_session=True)
        if wait:
            deadline = time.monotonic() + timeout
            while get_json(self.url + wait, timeout=2)[0] != 200:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    output = self.output()
                    self.stop()
                    raise RuntimeError(f"server did not come up on {self.url}: {output[-1500:]}")
                time.sleep(0.2)
        return self

    def workers(self) -> list[int]:
        if not self.proc:
            return []
        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def tree(self) -> list[int]:
        if not self.proc:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root.pid] + [c.pid for c in root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def output(self) -> str:
        if not self.log:
            return ""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (gunicorn drains in-flight requests), then SIGKILL the group if it lingers."""
        if not self.proc:
            return None
        family = self.tree()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # workers of a master that died abruptly would be reparented: make sure none is left
        for pid in family[1:]:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
        if self.log:
            self.log.close()
            self.log = None
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
