"""The HTTP service for real: gunicorn, 2 uvicorn workers, --preload, on 127.0.0.1, with the u2netp model.

One server serves most tests (K=1 running, Q=1 waiting per worker, 1 MB upload cap); the fault
tests that need their own (a damaged model) start one. Every process started here is stopped here.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import socket
import threading
import time
import urllib.request

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from rembg_core import RemoveOptions, remove
from rembg_core.load import LoadRun, LoadSpec, run_load
from rembg_core.server.process import ServerProcess, get_json
from tests.conftest import png_bytes, subject_image
from tests.hostile import CASES, Accept, Refuse

pytestmark = [pytest.mark.model, pytest.mark.slow]

K, Q = 1, 1
PHOTO = png_bytes(subject_image((320, 240)))


@pytest.fixture(scope="module")
def tmpdir_server(tmp_path_factory):
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def service(model_path, tmpdir_server):
    server = ServerProcess(["--workers", "2", "--preload", "--max-inflight", str(K), "--max-queue", str(Q),
                            "--max-upload-mb", "1", "--max-size", "4096", "--idle-seconds", "30"],
                           env={"TMPDIR": str(tmpdir_server)})
    server.start(wait="/readyz")
    family = server.tree()
    yield server
    server.stop()
    assert not [pid for pid in family if psutil.pid_exists(pid)], "orphan processes"


def post(url: str, **kw) -> requests.Response:
    return requests.post(url + "/api/remove", timeout=60, **kw)


def one_line_error(resp: requests.Response) -> str:
    body = resp.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"], body
    assert "Traceback" not in body["error"]
    return body["error"]


def test_rembg_style_request_gives_the_library_mask_in_every_worker(service):
    """rembg's documented client call, unchanged; each worker (forked after preload) answers the same mask."""
    expected = np.asarray(remove(PHOTO, options=RemoveOptions(only_mask=True)).mask, dtype=np.int16)
    seen: dict[int, np.ndarray] = {}
    for _ in range(30):  # pairs of simultaneous requests, until both workers have answered
        answers: list[requests.Response] = []

        def ask(into: list[requests.Response] = answers) -> None:
            into.append(post(service.url, files={"file": ("photo.png", PHOTO)}, data={"model": "u2netp", "om": "true"}))

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for resp in answers:
            if resp.status_code == 503:
                continue
            assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
            seen[int(resp.headers["X-Worker-Pid"])] = np.asarray(Image.open(io.BytesIO(resp.content)), dtype=np.int16)
        if len(seen) == 2:
            break
    assert set(seen) == set(service.workers())
    for mask in seen.values():
        assert mask.shape == expected.shape and np.abs(mask - expected).max() <= 1


def test_cutout_bgcolor_and_raw_body(service):
    resp = post(service.url, files={"file": ("photo.png", PHOTO)}, params={"bgc": "0,0,255,255"})
    assert resp.status_code == 200
    im = Image.open(io.BytesIO(resp.content))
    assert im.mode == "RGBA" and im.size == (320, 240) and np.asarray(im)[..., 3].min() == 255
    # curl --data-binary @photo.png -H "Content-Type: image/png" ...?format=webp&crop=true
    resp = post(service.url, data=PHOTO, headers={"Content-Type": "image/png"},
                params={"format": "webp", "crop": "true", "max_size": "160"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/webp"
    im = Image.open(io.BytesIO(resp.content))
    assert im.format == "WEBP" and max(im.size) < 160  # scaled to 160 then cropped to the disc


@pytest.mark.parametrize("kwargs, status, words", [
    ({"files": {"file": ("p.png", PHOTO)}, "data": {"vm": "true"}}, 422, "ViTMatte"),
    ({"files": {"file": ("p.png", PHOTO)}, "data": {"a": "true", "af": "300"}}, 422, "0-255"),
    ({"files": {"file": ("p.png", PHOTO)}, "params": {"a": "true", "af": "20", "ab": "20"}}, 422, "must be below"),
    ({"files": {"file": ("p.png", PHOTO)}, "data": {"ae": "big"}}, 422, "whole number"),
    ({"files": {"file": ("p.png", PHOTO)}, "data": {"model": "u2net"}}, 422, "runs u2netp"),
    ({"files": {"file": ("p.png", PHOTO)}, "params": {"bgc": "red"}}, 422, "bgc"),
    ({"files": {"file": ("p.png", PHOTO)}, "data": {"format": "gif"}}, 422, "png or webp"),
    ({"files": {"image": ("p.png", PHOTO)}}, 422, "file"),
    ({"data": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "not accepted"),
    ({"data": b"", "headers": {"Content-Type": "image/png"}}, 400, "empty"),
])
def test_bad_requests_get_a_4xx_with_one_line(service, kwargs, status, words):
    resp = post(service.url, **kwargs)
    assert resp.status_code == status
    assert words in one_line_error(resp)


def test_edge_fields_are_taken_as_rembg_sends_them(service):
    plain = post(service.url, files={"file": ("p.png", PHOTO)})
    for fields in ({"a": "true", "af": "230", "ab": "20", "ae": "5"}, {"dc": "true"}):
        resp = post(service.url, files={"file": ("p.png", PHOTO)}, data=fields)
        assert resp.status_code == 200, resp.text
        im = Image.open(io.BytesIO(resp.content))
        assert im.mode == "RGBA" and im.size == Image.open(io.BytesIO(plain.content)).size


def test_url_fetching_is_refused(service):
    resp = requests.get(service.url + "/api/remove", params={"url": "http://169.254.169.254/"}, timeout=10)
    assert resp.status_code == 400 and "request forgery" in one_line_error(resp)


def test_hostile_corpus_over_http(service):
    statuses = []
    for case in CASES:
        resp = post(service.url, files={"file": (case.filename, case.build())})
        statuses.append(resp.status_code)
        if isinstance(case.expect, Refuse):
            assert 400 <= resp.status_code < 500, (case.name, resp.status_code)
            message = one_line_error(resp)
            assert case.filename in message and case.expect.words.lower() in message.lower(), (case.name, message)
        else:
            assert isinstance(case.expect, Accept)
            assert resp.status_code == 200, (case.name, resp.text[:200])
            assert Image.open(io.BytesIO(resp.content)).size == case.expect.size, case.name
    assert not [s for s in statuses if s >= 500]


def test_upload_cap_is_enforced_while_streaming(service):
    big = os.urandom(3 * 1024 * 1024)
    resp = post(service.url, files={"file": ("big.png", big)})  # declared Content-Length over the cap
    assert resp.status_code == 413 and "limit of 1 MB" in one_line_error(resp)
    # chunked, no length: the server answers 413 long before the 3 MB are sent
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(b"POST /api/remove HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(big), 64 * 1024):
            if select.select([sock], [], [], 0)[0]:
                break
            chunk = big[i:i + 64 * 1024]
            try:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            time.sleep(0.01)
        sock.settimeout(10)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert sent < len(big)


def test_overload_gets_503_with_retry_after(service):
    spec = LoadSpec(service.url + "/api/remove", (("p.png", PHOTO),), concurrency=12, requests=36,
                    honour_retry_after=False)
    result = run_load(spec)
    assert set(result.status_counts) <= {"200", "503"}, result.status_counts
    assert result.status_counts.get("503", 0) > 0 and result.ok > 0
    assert result.rejected_without_retry_after == 0
    metrics = urllib.request.urlopen(service.url + "/metrics", timeout=10).read().decode()
    rejected = [line for line in metrics.splitlines() if line.startswith("rembg_admission_rejected_total")]
    assert rejected and float(rejected[0].split()[-1]) > 0


def test_metrics_readiness_and_docs(service):
    metrics = urllib.request.urlopen(service.url + "/metrics", timeout=10).read().decode()
    for name in ("rembg_requests_total", "rembg_request_seconds_bucket", "rembg_admission_wait_seconds",
                 "rembg_inflight_requests", "rembg_worker_rss_bytes", "rembg_sessions_loaded",
                 "rembg_idle_releases_total"):
        assert name in metrics, name
    ready = {line.split('"')[1] for line in metrics.splitlines() if line.startswith("rembg_ready{") and line.endswith(" 1.0")}
    assert ready == {str(pid) for pid in service.workers()}
    assert get_json(service.url + "/readyz")[1]["ready"] is True
    assert requests.get(service.url + "/docs", timeout=10).status_code == 200
    assert "/api/remove" in requests.get(service.url + "/openapi.json", timeout=10).json()["paths"]


def test_client_disconnect_mid_upload_leaves_nothing(service, tmpdir_server):
    workers = [psutil.Process(pid) for pid in service.workers()]
    fds_before = sum(w.num_fds() for w in workers)
    files_before = sorted(tmpdir_server.rglob("*"))  # ORT's .ses id and the metrics folder live here
    for _ in range(6):
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
            head = (b"POST /api/remove HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    b"Content-Length: 900000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; "
                    b"filename=\"half.png\"\r\n\r\n")
            sock.sendall(head + PHOTO[:2000])
        # closed with 890 KB still to come
    assert get_json(service.url + "/healthz")[0] == 200
    assert post(service.url, files={"file": ("p.png", PHOTO)}).status_code in (200, 503)
    deadline = time.monotonic() + 30  # the workers notice the closed sockets in their own time
    while sum(w.num_fds() for w in workers) > fds_before + 2:  # keep-alive sockets may come and go
        assert time.monotonic() < deadline, "the abandoned uploads' sockets stayed open"
        time.sleep(0.05)
    assert sorted(tmpdir_server.rglob("*")) == files_before


def test_load_cli(service, tmp_path):
    import subprocess
    import sys

    img = tmp_path / "p.png"
    img.write_bytes(PHOTO)
    out = subprocess.run([sys.executable, "-m", "rembg_core", "load", service.url + "/api/remove", str(img),
                          "-c", "2", "-n", "4", "--field", "model=u2netp", "--json", str(tmp_path / "s.json")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["requests"] == 4 and set(summary["status"]) <= {"200", "503"}
    refused = subprocess.run([sys.executable, "-m", "rembg_core", "load", "http://192.0.2.1/api/remove", str(img)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "loopback" in refused.stderr


def test_sigkill_of_a_worker_fails_only_its_inflight_requests(service):
    spec = LoadSpec(service.url + "/api/remove", (("p.png", PHOTO),), concurrency=3, requests=30)
    run = LoadRun(spec).start()
    while run.snapshot().ok < 2 and not run.done:
        time.sleep(0.05)
    victim = service.workers()[0]
    os.kill(victim, signal.SIGKILL)
    result = run.wait()
    failed = [s for s in result.samples if s.status == 0]
    assert len(failed) <= K + Q, [s.error for s in failed]
    assert set(result.status_counts) <= {"200", "503", "error"}
    assert [s for s in result.samples if s.started > 1 + max((f.started for f in failed), default=0) and s.status == 200]
    deadline = time.monotonic() + 60
    while not (len(service.workers()) == 2 and victim not in service.workers()) or \
            get_json(service.url + "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.2)


def test_sigterm_drains_inflight_requests(service):
    """Last test of the module: stops the shared server and checks nothing is left running."""
    big = png_bytes(subject_image((1600, 1200)))
    answers: list[int] = []
    t = threading.Thread(target=lambda: answers.append(post(service.url, files={"file": ("big.png", big)}).status_code))
    t.start()
    deadline = time.monotonic() + 10
    while b"rembg_inflight_requests 1.0" not in urllib.request.urlopen(service.url + "/metrics").read():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    family = service.tree()
    service.stop()
    t.join(60)
    assert answers == [200]
    assert not [pid for pid in family if psutil.pid_exists(pid)]


def test_damaged_model_is_not_ready_and_does_not_crash_loop(model_path, tmp_path):
    (tmp_path / "u2netp.onnx").write_bytes(model_path.read_bytes()[:1_000_000])
    with ServerProcess(["--workers", "1", "--preload"], env={"REMBG_LAB_MODELS": str(tmp_path)}) as server:
        status, body = get_json(server.url + "/readyz")
        assert status == 503 and body["ready"] is False and "truncated" in body["error"]
        workers = server.workers()
        resp = post(server.url, files={"file": ("p.png", PHOTO)})
        assert resp.status_code == 503 and "model not ready" in one_line_error(resp)
        assert resp.headers["Retry-After"]
        watch_until = time.monotonic() + 3  # long enough for a crashing worker to be replaced: watch it
        while time.monotonic() < watch_until:
            assert server.workers() == workers and server.proc.poll() is None  # no crash loop
            time.sleep(0.1)
        assert (tmp_path / "u2netp.onnx").stat().st_size == 1_000_000  # reported, not deleted or replaced
        family = server.tree()
    assert not [pid for pid in family if psutil.pid_exists(pid)]


def test_load_spec_is_bounded_to_loopback():
    with pytest.raises(ValueError, match="loopback"):
        LoadSpec("http://192.0.2.1:80/api/remove", (("p.png", PHOTO),))
    with pytest.raises(ValueError, match="concurrency"):
        LoadSpec("http://127.0.0.1:1/api/remove", (("p.png", PHOTO),), concurrency=10_000)
    with pytest.raises(ValueError, match="requests or a duration"):
        LoadSpec("http://127.0.0.1:1/api/remove", (("p.png", PHOTO),), requests=None)

