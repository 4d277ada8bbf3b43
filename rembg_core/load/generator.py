"""A bounded HTTP load generator for loopback servers: N clients, each a keep-alive connection
posting images one after another (rembg's multipart shape), until a request count or a time limit.

Bounded on purpose: loopback addresses only, at most MAX_CLIENTS clients, MAX_REQUESTS requests
and MAX_SECONDS seconds, so it cannot be pointed at someone else's server or left running.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from .results import LoadResult, RequestSample

MAX_CLIENTS, MAX_REQUESTS, MAX_SECONDS = 256, 100_000, 3600.0


@dataclass(frozen=True)
class LoadSpec:
    url: str  # http://127.0.0.1:PORT/api/remove?...
    images: tuple[tuple[str, bytes], ...]  # (file name, content), sent round-robin
    concurrency: int = 1
    requests: int | None = 10  # total across clients; None = until `duration`
    duration: float | None = None  # seconds; None = until `requests`
    timeout: float = 120.0  # per request
    fields: tuple[tuple[str, str], ...] = ()  # extra form fields, e.g. (("model", "u2netp"),)
    honour_retry_after: bool = True  # a client told 503 + Retry-After waits that long before its next request
    retry_503: bool = False  # retry the same request after Retry-After until it is answered otherwise (real clients)
    headers: tuple[tuple[str, str], ...] = ()  # extra request headers, e.g. (("X-Deadline-Ms", "2000"),)

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError("give at least one image")
        if not 1 <= self.concurrency <= MAX_CLIENTS:
            raise ValueError(f"concurrency must be 1..{MAX_CLIENTS}")
        if self.requests is None and self.duration is None:
            raise ValueError("give a number of requests or a duration")
        if self.requests is not None and not 1 <= self.requests <= MAX_REQUESTS:
            raise ValueError(f"requests must be 1..{MAX_REQUESTS}")
        if self.duration is not None and not 0 < self.duration <= MAX_SECONDS:
            raise ValueError(f"duration must be in (0, {MAX_SECONDS:g}] seconds")
        check_loopback(self.url)


def check_loopback(url: str) -> tuple[str, int, str]:
    """(host, port, path+query) of an http URL whose host is a loopback address; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{url!r}: give an http://127.0.0.1:PORT/... URL")
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    except socket.gaierror as exc:
        raise ValueError(f"{parts.hostname}: cannot resolve ({exc.strerror})") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ValueError(f"{parts.hostname} is not a loopback address: this load generator only targets this machine")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or 80, path


def multipart(name: str, content: bytes, fields: tuple[tuple[str, str], ...]) -> tuple[bytes, str]:
    """The body rembg's own clients send: `file` part plus form fields."""
    boundary = uuid.uuid4().hex
    out = []
    for key, value in fields:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
               f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


class LoadRun:
    """One run in background threads: start(), watch snapshot(), wait() for the LoadResult; stop() ends early."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.host, self.port, self.path = check_loopback(spec.url)
        self._bodies = [multipart(name, data, spec.fields) for name, data in spec.images]
        self._samples: list[RequestSample] = []
        self._lock = threading.Lock()
        self._issued = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = self._t_end = 0.0

    def start(self) -> LoadRun:
        self._t0 = time.perf_counter()
        self._threads = [threading.Thread(target=self._client, args=(i,), name=f"load-{i}", daemon=True)
                         for i in range(self.spec.concurrency)]
        for t in self._threads:
            t.start()
        return self

    def _next(self) -> int | None:
        """The index of the next request to send, or None when the run is over."""
        with self._lock:
            if self._stop.is_set():
                return None
            if self.spec.requests is not None and self._issued >= self.spec.requests:
                return None
            if self.spec.duration is not None and time.perf_counter() - self._t0 >= self.spec.duration:
                return None
            self._issued += 1
            return self._issued - 1

    def _client(self, client: int) -> None:
        conn: http.client.HTTPConnection | None = None
        while (i := self._next()) is not None:
            body, ctype = self._bodies[i % len(self._bodies)]
            first = time.perf_counter()
            attempts = 0
            while True:
                attempts += 1
                sample, conn = self._send(conn, body, ctype, first, attempts, client)
                if not (self.spec.retry_503 and sample.status == 503 and sample.retry_after) \
                        or self._stop.is_set():
                    break
                self._stop.wait(min(_int(sample.retry_after) or 1, 10))
            with self._lock:
                self._samples.append(sample)
            if sample.status == 503 and sample.retry_after and self.spec.honour_retry_after:
                self._stop.wait(min(_int(sample.retry_after) or 1, 10))
        if conn is not None:
            conn.close()

    def _send(self, conn: http.client.HTTPConnection | None, body: bytes, ctype: str, first: float,
              attempts: int, client: int) -> tuple[RequestSample, http.client.HTTPConnection | None]:
        """One try; the sample's latency runs from the request's first try (`first`)."""
        try:
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.spec.timeout)
            conn.request("POST", self.path, body, {"Content-Type": ctype, **dict(self.spec.headers)})
            resp = conn.getresponse()
            payload = resp.read()
            sample = RequestSample(first - self._t0, time.perf_counter() - first, resp.status,
                                   _int(resp.getheader("X-Worker-Pid")), resp.getheader("Retry-After"),
                                   "" if resp.status == 200 else _error_text(payload), attempts, client)
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            sample = RequestSample(first - self._t0, time.perf_counter() - first, 0,
                                   error=f"{type(exc).__name__}: {exc}", attempts=attempts, client=client)
            if conn is not None:
                conn.close()
            conn = None
        return sample, conn

    def snapshot(self) -> LoadResult:
        with self._lock:
            samples = tuple(self._samples)
        end = self._t_end or time.perf_counter()
        return LoadResult(self.spec.concurrency, end - self._t0 if self._t0 else 0.0, samples)

    @property
    def done(self) -> bool:
        return bool(self._threads) and not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()

    def wait(self) -> LoadResult:
        limit = (self.spec.duration or MAX_SECONDS) + self.spec.timeout + 5
        for t in self._threads:
            t.join(timeout=max(0.0, limit - (time.perf_counter() - self._t0)))
        self._stop.set()
        self._t_end = time.perf_counter()
        return self.snapshot()


def run_load(spec: LoadSpec) -> LoadResult:
    return LoadRun(spec).start().wait()


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _error_text(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("error", ""))[:200]
    except (ValueError, AttributeError):
        return payload[:200].decode("utf-8", "replace")
