"""Hostile clients against the real service: gunicorn + uvicorn workers + ONNX Runtime on 127.0.0.1.

Slow and silent connections, clients that leave, a master killed outright, a broken model path,
huge forms, malformed HTTP. Outcomes are counted, never timed; every process started here is
stopped here.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import requests

from rembg_core.load import LoadRun, LoadSpec
from rembg_core.server.process import ServerProcess, get_json
from tests.conftest import png_bytes, subject_image

pytestmark = [pytest.mark.model, pytest.mark.slow]

PHOTO = png_bytes(subject_image((320, 240)))
TIMEOUT = 2  # the head, body and keep-alive timeouts of the shared server, seconds
K, Q, PIPELINE = 1, 3, 1
SLOTS = K + PIPELINE  # requests processed at once (model runs plus decode/encode)
# root reads a mode-000 file anyway; without these two capabilities the kernel says no, as to anyone
AS_ROOT_BOUND_BY_FILE_MODES = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")


@pytest.fixture(scope="module")
def service(model_path):
    server = ServerProcess(["--workers", "1", "--preload", "--max-inflight", str(K), "--max-queue", str(Q),
                            "--pipeline-threads", str(PIPELINE),
                            "--max-size", "4096", "--head-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT),
                            "--keep-alive", str(TIMEOUT)])
    server.start(wait="/readyz")
    family = server.tree()
    yield server
    server.stop()
    assert not [pid for pid in family if psutil.pid_exists(pid)], "orphan processes"


def metric(url: str, name: str, labels: str = "") -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + ("{" if labels else "")) or line.startswith(name + " "):
            if labels and not all(label in line for label in labels.split(",")):
                continue
            total += float(line.split()[-1])
    return total


def read_response(sock: socket.socket, limit: float = 30.0) -> bytes:
    """Everything the server sends until it closes (or `limit` seconds pass: a bound, not an assertion)."""
    sock.settimeout(limit)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def assert_one_line_json(status: int, headers: dict[str, str], body: bytes) -> str:
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:200])
    assert body.rstrip(b"\n").count(b"\n") == 0, body
    payload = json.loads(body)
    assert set(payload) == {"error"} and payload["error"], payload
    assert "Traceback" not in payload["error"]
    return payload["error"]


PATH_RE = re.compile(r"(?<![\w:/.])/(?:[\w.@+-]+/)+[\w.@+-]*")


def assert_no_path(text: str, *secrets: Path) -> None:
    for secret in secrets:
        assert str(secret) not in text, text
    assert not PATH_RE.search(text.replace("/api/remove", "")), text


def multipart_head(length: int) -> bytes:
    return (b"POST /api/remove HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\n\r\n" % length)


# --- slow and silent clients ---------------------------------------------------

def test_header_only_connections_do_not_block_uploads(service):
    """Ten connections send a request head and then nothing, reopened as the server closes them;
    meanwhile two real clients upload. Before, the ten took every admission slot (15/15 got 503)."""
    stop = threading.Event()
    timed_out: list[int] = []

    def attacker() -> None:
        socks: list[socket.socket] = []
        try:
            while not stop.is_set():
                while len(socks) < 10:
                    s = socket.create_connection(("127.0.0.1", service.port), timeout=10)
                    s.sendall(multipart_head(200_000))
                    socks.append(s)
                ready, _, _ = select.select(socks, [], [], 0.2)
                for s in ready:  # the server answered (408) or closed: open another
                    raw = read_response(s, 5)
                    if raw.startswith(b"HTTP/1.1 408"):
                        timed_out.append(1)
                    s.close()
                    socks.remove(s)
        finally:
            for s in socks:
                s.close()

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the ten are in before the first real upload
        result = LoadRun(LoadSpec(service.url + "/api/remove", (("p.png", PHOTO),), concurrency=2, requests=24)).start()
        load = result.wait()
        deadline = time.monotonic() + 30  # a bound, not an assertion: let at least one round time out
        while not timed_out and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(30)
    assert len(load.samples) == 24
    assert load.ok >= 0.9 * 24, load.status_counts
    assert timed_out, "the header-only connections were never answered 408"


def test_an_incomplete_head_or_none_at_all_is_closed(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as silent, \
            socket.create_connection(("127.0.0.1", service.port), timeout=10) as partial:
        partial.sendall(b"POST /api/remove HTTP/1.1\r\nHost: x\r\nContent-Ty")
        got_partial, got_silent = read_response(partial), read_response(silent)
    status, headers, body = split_response(got_partial)
    assert status == 408 and "request head" in assert_one_line_json(status, headers, body)
    assert got_silent == b""  # closed without a word: nothing was asked
    # a keep-alive connection idle after its answer is closed too
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as idle:
        idle.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = read_response(idle)
    assert raw.startswith(b"HTTP/1.1 200") and raw.count(b"HTTP/1.1") == 1


def test_a_body_that_stops_gets_408_and_frees_its_bytes(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(multipart_head(50_000) + b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                     b"filename=\"slow.png\"\r\n\r\n" + PHOTO[:1000])
        status, headers, body = split_response(read_response(sock))
    assert status == 408 and "did not arrive in time" in assert_one_line_json(status, headers, body)
    assert requests.post(service.url + "/api/remove", files={"file": ("p.png", PHOTO)}, timeout=60).status_code == 200


# --- clients that leave -------------------------------------------------------

def test_requests_whose_client_left_never_reach_the_model(service):
    """Large requests fill every processing slot and one more waits; two more arrive, queue behind
    them, and their clients hang up. When their turn comes they are dropped (counted), so the
    model runs for the large ones only."""
    big = png_bytes(subject_image((3200, 2400)))
    route = 'route="/api/remove",'
    ok_before = metric(service.url, "rembg_requests_total", route + 'status="200"')
    gone_before = metric(service.url, "rembg_client_gone_total")
    answers: list[int] = []
    blockers = [threading.Thread(target=lambda: answers.append(requests.post(
        service.url + "/api/remove", files={"file": ("big.png", big)}, timeout=300).status_code))
        for _ in range(SLOTS + 1)]
    for t in blockers:
        t.start()
    deadline = time.monotonic() + 60
    while metric(service.url, "rembg_inflight_requests") < len(blockers):
        assert time.monotonic() < deadline, "the large requests were not admitted"
        time.sleep(0.05)
    leavers = []
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gone.png\"\r\n\r\n" + PHOTO
            + b"\r\n--b--\r\n")
    for _ in range(Q - 1):
        s = socket.create_connection(("127.0.0.1", service.port), timeout=10)
        s.sendall(multipart_head(len(body)) + body)
        leavers.append(s)
    deadline = time.monotonic() + 60
    while metric(service.url, "rembg_inflight_requests") < len(blockers) + len(leavers):
        assert time.monotonic() < deadline, "the leavers were not admitted"
        time.sleep(0.05)
    assert len(blockers) + len(leavers) == SLOTS + Q
    status, ready = get_json(service.url + "/readyz")  # the queue is full: a balancer should look elsewhere
    assert status == 503 and ready["ready"] is False and "queue is full" in ready["error"], ready
    for s in leavers:
        s.close()
    for t in blockers:
        t.join(300)
    assert answers == [200] * len(blockers)
    deadline = time.monotonic() + 60
    while metric(service.url, "rembg_inflight_requests") > 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert metric(service.url, "rembg_client_gone_total") - gone_before == len(leavers)
    assert get_json(service.url + "/readyz")[0] == 200
    assert metric(service.url, "rembg_requests_total", route + 'status="200"') - ok_before == len(blockers)


# --- huge forms --------------------------------------------------------------------

def test_a_million_field_form_is_refused_early(service):
    part = b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n"
    chunk = part * 2000
    total = len(part) * 1_000_000 + len(b"--b--\r\n")
    sent = 0
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(multipart_head(total))
        while sent < total - len(chunk):
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, headers, body = split_response(read_response(sock))
    assert status == 413 and "more than 32 parts" in assert_one_line_json(status, headers, body)
    assert sent < total // 10, "the server read most of the million fields before refusing"


def test_two_file_parts_are_refused(service):
    resp = requests.post(service.url + "/api/remove", files=[("file", ("a.png", PHOTO)), ("x", ("b.png", PHOTO))],
                         timeout=60)
    assert resp.status_code == 413 and "one image per request" in resp.json()["error"]


# --- malformed HTTP and odd names: one line of JSON, always ---------------------------

RAW = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "header without a colon": b"GET /livez HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
    "bad Content-Length": b"POST /api/remove HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "two Content-Lengths": b"POST /api/remove HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
    "unknown Transfer-Encoding": b"POST /api/remove HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /livez HTTP/1.1\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bad chunk size": b"POST /api/remove HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "unknown route": b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "wrong method": b"DELETE /api/remove HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "newline in a file name": b"",  # built below
}


def newline_filename_request() -> bytes:
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"evil\nname.png\"\r\n\r\n"
            b"not an image at all\r\n--b--\r\n")
    return multipart_head(len(body)).replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n") + body


@pytest.mark.parametrize("name", list(RAW))
def test_every_error_is_one_line_of_json(service, name):
    request = newline_filename_request() if name == "newline in a file name" else RAW[name]
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(request)
        raw = read_response(sock)
    status, headers, body = split_response(raw)
    assert 400 <= status < 600, raw[:200]
    message = assert_one_line_json(status, headers, body)
    assert_no_path(message)
    if name == "newline in a file name":
        assert status == 400 and "evil" in message and "name.png" in message and "not an image" in message


def test_head_larger_than_the_limit_arriving_whole_gets_431(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40_000 + b"\r\n\r\n")
        raw = read_response(sock)
    status, headers, body = split_response(raw)
    assert status == 431 and "request head" in assert_one_line_json(status, headers, body)


def test_head_larger_than_the_limit_arriving_slowly_gets_431(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        for _ in range(40):  # 40 KB of headers, 1 KB at a time: over the 16 KB limit while incomplete
            try:
                sock.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
        raw = read_response(sock)
    status, headers, body = split_response(raw)
    assert status == 431 and "request head" in assert_one_line_json(status, headers, body)


# --- fairness under overload ---------------------------------------------------------

FAIR_CLIENTS, FAIR_LIMIT = 64, 600.0
FAIR_ANSWERS = FAIR_CLIENTS + FAIR_CLIENTS // 4


def test_no_client_starves_at_64_clients(model_path):
    """64 clients, each waiting out Retry-After on a 503, against one worker whose queue can hold
    them all: admission is first come, first served, so a client that was just answered queues
    behind the others instead of overtaking them, and every client has its 200 by the time the
    server has answered 80 requests. Ending on a count of answers rather than at a time keeps the
    test about order, not speed; the time limit is only a bound. With the default queue, refused
    clients retry in no particular order and some starved on a loaded machine (docs/SERVING.md,
    "Fairness under overload, measured")."""
    flags = ["--workers", "1", "--max-queue", str(FAIR_CLIENTS), "--deadline", str(int(FAIR_LIMIT))]
    with ServerProcess(flags) as server:
        spec = LoadSpec(server.url + "/api/remove", (("p.png", PHOTO),), concurrency=FAIR_CLIENTS, requests=None,
                        duration=FAIR_LIMIT, timeout=FAIR_LIMIT)
        run = LoadRun(spec).start()
        while run.snapshot().ok < FAIR_ANSWERS and not run.done:
            time.sleep(0.5)
        run.stop()
        result = run.wait()
    per_client = result.ok_per_client()
    summary = (result.status_counts, round(result.wall_seconds), sorted(per_client.values()))
    assert result.ok >= FAIR_ANSWERS, f"the run hit its {FAIR_LIMIT:g} s bound: {summary}"
    assert set(result.status_counts) <= {"200", "503"}, summary
    assert result.starved_clients == 0, summary


# --- the master killed outright -------------------------------------------------------

def test_workers_exit_when_the_master_is_sigkilled_and_the_port_is_reusable(model_path):
    server = ServerProcess(["--workers", "2", "--preload"]).start(wait="/readyz")
    try:
        workers = server.workers()
        assert len(workers) == 2
        os.kill(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60  # a bound: they drain first
        while [pid for pid in workers if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]:
            assert time.monotonic() < deadline, "orphaned workers kept running"
            time.sleep(0.2)
        server.proc.wait(10)
        with ServerProcess(["--workers", "1", "--preload"], port=server.port) as again:
            assert get_json(again.url + "/readyz")[0] == 200
    finally:
        server.stop()


# --- a broken model path -------------------------------------------------------------

def break_model(kind: str, store: Path, good: bytes) -> str:
    """Put `kind` of breakage where the model belongs; returns the words /readyz must say."""
    target = store / "u2netp.onnx"
    if kind == "directory":
        target.mkdir()
        return "is a directory"
    if kind == "named pipe":
        os.mkfifo(target)
        return "named pipe"
    if kind == "no permission":
        target.write_bytes(good)
        target.chmod(0)
        return "Permission denied"
    if kind == "damaged":
        target.write_bytes(good[:1_000_000])
        return "truncated"
    raise ValueError(kind)


@pytest.mark.parametrize("preload", [True, False], ids=["preload", "no-preload"])
@pytest.mark.parametrize("kind", ["directory", "named pipe", "no permission", "damaged"])
def test_a_broken_model_path_means_not_ready_not_a_crash(kind, preload, model_path):
    """Root reads a mode-000 file regardless, so under root the permission case runs the server
    without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv): the refusal then comes from the
    kernel, as it would for a service user."""
    store = Path(tempfile.mkdtemp(prefix="rembg-store-"))
    try:
        store.chmod(0o755)
        words = break_model(kind, store, model_path.read_bytes())
        prefix = AS_ROOT_BOUND_BY_FILE_MODES if kind == "no permission" and os.geteuid() == 0 else ()
        if prefix and not shutil.which("setpriv"):
            pytest.skip("running as root and setpriv (util-linux) is missing: cannot make a file unreadable")
        flags = ["--workers", "1", "--preload" if preload else "--no-preload"]
        with ServerProcess(flags, env={"REMBG_LAB_MODELS": str(store)}, prefix=prefix) as server:
            status, payload = get_json(server.url + "/readyz", timeout=30)
            assert status == 503 and payload["ready"] is False, payload
            assert words in payload["error"] and "\n" not in payload["error"], payload
            bodies = [json.dumps(payload)]
            resp = requests.post(server.url + "/api/remove", files={"file": ("p.png", PHOTO)}, timeout=60)
            assert resp.status_code == 503 and "model not ready" in resp.json()["error"] and resp.headers["Retry-After"]
            bodies.append(resp.text)
            workers = server.workers()
            time.sleep(3)  # no crash loop: the same worker, the master still there
            assert server.workers() == workers and server.proc.poll() is None
            assert get_json(server.url + "/livez")[0] == 200
            log = server.output()
            family = server.tree()
        assert "Traceback" not in log, log[-3000:]
        for text in bodies:
            assert_no_path(text, store)
        assert not [pid for pid in family if psutil.pid_exists(pid)]
    finally:
        target = store / "u2netp.onnx"
        if target.is_dir():
            target.rmdir()
        target.unlink(missing_ok=True)
        store.rmdir()


def test_no_path_in_any_response_of_a_healthy_server(service):
    bodies = [requests.get(service.url + p, timeout=10).text for p in ("/readyz", "/livez", "/nope")]
    for files in ({"file": ("x.png", b"")}, {"file": ("x.png", b"<html>")}, {"image": ("x.png", PHOTO)}):
        bodies.append(requests.post(service.url + "/api/remove", files=files, timeout=30).text)
    bodies.append(requests.post(service.url + "/api/remove", files={"file": ("x.png", PHOTO)},
                                data={"model": "../../etc/passwd"}, timeout=30).text)
    for text in bodies:
        assert_no_path(text, Path(tempfile.gettempdir()), Path.home(), Path(__file__).resolve().parents[1])
