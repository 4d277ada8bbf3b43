"""The gunicorn worker: uvicorn's h11 protocol with a request-head timeout and JSON errors, and a
worker that exits when its master dies.

uvicorn arms its keep-alive timer only after a response, so a connection that never sends a byte,
or sends half a request head and stops, is held forever; and its own 400 for a malformed request is
plain text. `GuardedH11Protocol` closes a connection whose request head has not arrived within
`head_timeout` seconds (408 as one line of JSON when part of a head came), and answers h11's
protocol errors as one line of JSON with h11's own status hint (400, 431 for huge headers, 501).

A worker whose master is SIGKILLed would go on serving unsupervised and keep the port: the worker
asks the kernel for SIGTERM when its parent dies (Linux `PR_SET_PDEATHSIG`) and, on any platform,
a thread compares `os.getppid()` with the master's pid; either way it drains and exits, and a
worker still there after the graceful timeout exits hard.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

from .public import public

log = logging.getLogger("uvicorn.error")
PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.5


def json_error_bytes(status: int, message: str, reason: bytes = b"") -> bytes:
    """A whole HTTP/1.1 response, written straight to the transport: one line of JSON, then close."""
    body = (json.dumps({"error": public(message)}) + "\n").encode()
    head = (f"HTTP/1.1 {status} ".encode() + reason + b"\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n")
    return head + body


class GuardedH11Protocol(H11Protocol):
    head_timeout: float = 10.0  # set per server by `worker_class`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._protocol_error: h11.RemoteProtocolError | None = None
        self._max_head = self.config.h11_max_incomplete_event_size or 16 * 1024
        parse = self.conn.next_event

        def next_event() -> Any:  # keep h11's exception: uvicorn drops it and sends a fixed text
            try:
                return parse()
            except h11.RemoteProtocolError as exc:
                self._protocol_error = exc
                raise

        self.conn.next_event = next_event  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # h11 bounds a head only while it is incomplete; one that arrives whole in a single read
        # would pass at any size up to the read size, so count it here too
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            buffered = len(self.conn.trailing_data[0])
            end = data.find(b"\r\n\r\n")
            if buffered + (end if end >= 0 else len(data)) > self._max_head:
                self._cancel_head_timer()
                self.transport.write(json_error_bytes(
                    431, f"the request head is over {self._max_head // 1024} KB", b"Request Header Fields Too Large"))
                self.transport.close()
                return
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head is in: the body has its own timeout
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_timer()  # next request's head; the keep-alive timer covers plain idling

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is still being produced (a pipelined head waits behind it)
        partial, _ = self.conn.trailing_data
        if partial:
            self.transport.write(json_error_bytes(
                408, f"the request head did not arrive within {self.head_timeout:g} s", b"Request Timeout"))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        exc, self._protocol_error = self._protocol_error, None
        status = getattr(exc, "error_status_hint", 400) if exc is not None else 400
        detail = str(exc).splitlines()[0] if exc is not None and str(exc) else "parse error"
        reason = {400: b"Bad Request", 431: b"Request Header Fields Too Large", 501: b"Not Implemented"}.get(status, b"")
        self._cancel_head_timer()
        self.transport.write(json_error_bytes(status, f"malformed HTTP request: {detail}", reason))
        self.transport.close()


def _ask_for_sigterm_when_parent_dies() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the thread below covers it


def watch_parent(master: int, graceful: float) -> threading.Thread:
    """SIGTERM this process (uvicorn drains) once `master` is no longer our parent; exit hard if
    draining takes longer than `graceful` seconds."""

    def watch() -> None:
        while os.getppid() == master:
            time.sleep(PARENT_POLL_SECONDS)
        log.error("worker %d: the master (pid %d) is gone; exiting", os.getpid(), master)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(graceful + 1)
        os._exit(1)

    thread = threading.Thread(target=watch, name="master-watch", daemon=True)
    thread.start()
    return thread


def worker_class(head_timeout: float, max_head_bytes: int, graceful: float) -> type[UvicornWorker]:
    protocol = type("GuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout": head_timeout})

    class RembgWorker(UvicornWorker):
        CONFIG_KWARGS = {"loop": "asyncio", "http": protocol, "h11_max_incomplete_event_size": max_head_bytes}

        def init_process(self) -> None:  # in the worker, after fork
            _ask_for_sigterm_when_parent_dies()
            watch_parent(self.ppid, graceful)  # also covers a master that died before prctl ran
            super().init_process()

    return RembgWorker
