"""Runs measurements in fresh interpreters and reads their results from a dedicated pipe.

Each configuration runs in its own child (`python -m rembg_core.measure.child`), so one
configuration's arena and heap cannot colour the next one's figures. The child writes one JSON
object to a pipe of its own (as pyperf does), never to stdout, so a library that prints cannot
corrupt a result. A child that crashes, hangs or writes garbage comes back as a record with
ok=False and a one-line reason, never as an exception here.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..allocator import AllocatorError
from ..memory import MemoryFigures
from ..session import SessionConfig
from .configs import ProbeConfig, probe_config
from .layers import LayerSplit
from .records import IdleRecord, ProbeRecord
from .sampling import MemoryTrace

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
CHILD_MODULE = "rembg_core.measure.child"
TICK_SECONDS = 0.25
# Called every TICK_SECONDS while this thread waits for a child. A caller that wants to stop a long
# job raises from it (the dashboard's Stop does); the child is then killed before the error goes on.
_tick: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("rembg_lab_tick", default=None)


@contextlib.contextmanager
def ticking(tick: Callable[[], None]) -> Iterator[None]:
    """Every child spawned in this block (in this thread) calls `tick` while it runs."""
    token = _tick.set(tick)
    try:
        yield
    finally:
        _tick.reset(token)


def _wait(proc: subprocess.Popen, timeout: float) -> str:
    """The child's stderr once it exits; TimeoutExpired after `timeout` s. Whatever interrupts the
    wait (a tick that raises, KeyboardInterrupt), the child is killed and reaped first."""
    tick = _tick.get()
    if tick is None:
        return proc.communicate(timeout=timeout)[1]
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        while True:
            try:
                proc.wait(timeout=min(TICK_SECONDS, max(0.0, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
                tick()
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    reader.join(10)
    return "".join(err)


@dataclass(frozen=True)
class ChildOutcome:
    payload: dict | None  # the child's result, or None when it failed
    reason: str  # why there is no payload, in one line
    returncode: int | None
    wall: float  # seconds, spawn to exit


def child_reason(stderr: str) -> str:
    """The child's last stderr line, without Python's 'module.Class:' prefix: the same one-line
    message the rest of the product shows for that error."""
    last = next((line.strip() for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
    head, sep, rest = last.partition(": ")
    if sep and "." in head and " " not in head and head.rsplit(".", 1)[-1][:1].isupper():
        return rest
    return last


def _env(config: ProbeConfig, env: dict[str, str] | None) -> dict[str, str]:
    """The parent's environment, this package importable, then the config's and the caller's vars."""
    out = config.allocator.child_env(dict(os.environ))  # raises AllocatorError when its library is missing
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), out.get("PYTHONPATH", "")) if p)
    out.update(dict(config.env))
    out.update(env or {})
    return out


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def spawn(spec: dict, config: ProbeConfig, *, timeout: float, env: dict[str, str] | None = None,
          module: str = CHILD_MODULE) -> ChildOutcome:
    """Run one child (`python -m module --result-fd N SPEC`) on `spec`; its result arrives on a pipe
    whose write end only the child holds."""
    read_fd, write_fd = os.pipe()
    chunks: list[bytes] = []

    def drain() -> None:  # read while the child runs: a large trace would fill the pipe's buffer
        with os.fdopen(read_fd, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                chunks.append(chunk)

    cmd = [sys.executable, "-m", module, "--result-fd", str(write_fd), json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        child_env = _env(config, env)
    except AllocatorError as exc:
        os.close(read_fd)
        os.close(write_fd)
        return ChildOutcome(None, str(exc), None, 0.0)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=child_env, pass_fds=(write_fd,))
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        return ChildOutcome(None, f"could not start the child: {exc}", None, time.perf_counter() - t0)
    os.close(write_fd)  # the child's copy is now the only one: EOF when it exits
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        stderr = _wait(proc, timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        reader.join(5)
        return ChildOutcome(None, f"timed out after {timeout:g} s (child killed)", None, time.perf_counter() - t0)
    reader.join(10)
    wall = time.perf_counter() - t0
    why = child_reason(stderr)
    if proc.returncode < 0:
        return ChildOutcome(None, f"crashed ({_signal_name(proc.returncode)})" + (f": {why}" if why else ""),
                            proc.returncode, wall)
    if proc.returncode != 0:
        return ChildOutcome(None, why or f"exited with status {proc.returncode}", proc.returncode, wall)
    raw = b"".join(chunks)
    try:
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:
        return ChildOutcome(None, f"wrote no valid result ({raw[:60]!r})", proc.returncode, wall)
    return ChildOutcome(payload, "", proc.returncode, wall)


def run_isolated(config: ProbeConfig | SessionConfig, image_path: str | os.PathLike, *,
                 max_size: int | None = None, repeats: int = 5, warmups: int = 2, timeout: float = 120,
                 env: dict[str, str] | None = None, interval: float = 0.005, layers: bool = False) -> ProbeRecord:
    """Measure `config` on one image in a fresh interpreter. Never raises for a failing child.
    `layers`: the child traces its Python heap and splits its RSS into layers after the runs."""
    config = probe_config(config)
    image = str(Path(image_path).resolve())
    spec = {"mode": "run", "config": config.to_dict(), "image": image, "max_size": max_size,
            "repeats": repeats, "warmups": warmups, "interval": interval, "layers": layers}
    out = spawn(spec, config, timeout=timeout, env=env)
    common: dict[str, Any] = dict(config=config, image=image, max_size=max_size, repeats=repeats, warmups=warmups,
                  wall=out.wall, returncode=out.returncode)
    if out.payload is None:
        return ProbeRecord(ok=False, reason=out.reason, **common)
    p = out.payload
    try:
        return ProbeRecord(
            ok=True, latencies=tuple(p["latencies"]), stages=p["stages"], start_rss=p["start_rss"],
            memory=MemoryFigures(p["baseline"], p["peak"], p["after"]), after_trim=p["after_trim"],
            free_held=p.get("free_held"), layers=LayerSplit.from_dict(p["layers"]) if p.get("layers") else None,
            load_seconds=p["load_seconds"], trace=MemoryTrace.from_dict(p["trace"]), meta=p["meta"], **common)
    except (KeyError, TypeError, ValueError) as exc:
        return ProbeRecord(ok=False, reason=f"the child's result lacks {exc}", **common)


def run_idle_probe(config: ProbeConfig | SessionConfig, image_path: str | os.PathLike, *, idle_after: float = 2.0,
                   idle_wait: float | None = None, burst: int = 6, max_size: int | None = None,
                   timeout: float = 120, env: dict[str, str] | None = None) -> IdleRecord:
    """Burst → idle past `idle_after` → one more request, through IdleReleaser, in a fresh child."""
    config = probe_config(config)
    image = str(Path(image_path).resolve())
    idle_wait = idle_after * 2 + 0.5 if idle_wait is None else idle_wait
    spec = {"mode": "idle", "config": config.to_dict(), "image": image, "max_size": max_size,
            "idle_after": idle_after, "idle_wait": idle_wait, "burst": burst}
    out = spawn(spec, config, timeout=timeout, env=env)
    common: dict[str, Any] = dict(config=config, image=image, idle_after=idle_after, idle_wait=idle_wait)
    if out.payload is None:
        return IdleRecord(ok=False, reason=out.reason, **common)
    p = out.payload
    return IdleRecord(ok=True, latencies=tuple(p["latencies"]), first_after_idle=p["first_after_idle"],
                      baseline=p["baseline"], busy_rss=p["busy_rss"], idle_rss=p["idle_rss"], peak=p["peak"],
                      releases=p["releases"], trace=MemoryTrace.from_dict(p["trace"]), meta=p["meta"], **common)

