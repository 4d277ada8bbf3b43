"""The pipelined worker for real (gunicorn, uvicorn workers, ONNX Runtime, u2netp on 127.0.0.1): one run
gate per worker, decode/encode overlapping the model, cost-aware admission, deadlines, balanced
workers, the allocator choice. Observed through /metrics and the response headers; no timing asserts.
Every server started here is stopped here.
"""

from __future__ import annotations

import io
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from rembg_core import allocator
from rembg_core.load import LoadSpec, run_load
from rembg_core.load.tree import TreeSampler, measure
from rembg_core.server.process import ServerProcess
from tests.conftest import png_bytes, subject_image

pytestmark = [pytest.mark.model, pytest.mark.slow]

MB = 1024 * 1024
STAGES = ("admit", "load", "preprocess", "gate", "inference", "postprocess", "compose", "encode")


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    """A photo-like JPEG (noise makes decode and encode do real work)."""
    w, h = size
    rng = np.random.default_rng(1)
    base = np.asarray(subject_image(size), dtype=np.int16)
    a = (base + rng.integers(-20, 20, (h, w, 3), dtype=np.int16)).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def post(url: str, data: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(url + "/api/remove", data=data, timeout=300,
                         headers={"Content-Type": "image/jpeg", **(headers or {})})


def metric_values(url: str, name: str) -> dict[str, float]:
    """{label string: value} of every sample of `name` on /metrics."""
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def wait_for(predicate, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def one_line_json(resp: requests.Response) -> str:
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"], body
    return body["error"]


@pytest.fixture(scope="module")
def pipelined(model_path):
    """1 worker, C = 3 runs in the model, 3 decode/encode threads beside them."""
    server = ServerProcess(["--workers", "1", "--max-inflight", "3", "--pipeline-threads", "3",
                            "--max-size", "4096", "--max-queue", "32"])
    server.start(wait="/readyz")
    family = server.tree()
    yield server
    server.stop()
    assert not [pid for pid in family if psutil.pid_exists(pid)], "orphan processes"


def test_one_gate_three_runs_in_the_model_and_a_fourth_waits(pipelined):
    config = metric_values(pipelined.url, "rembg_worker_config_info")
    assert len(config) == 1 and 'runs="3"' in next(iter(config)) and 'threads="1"' in next(iter(config))
    assert list(metric_values(pipelined.url, "rembg_gate_capacity").values()) == [3.0]
    small = png_bytes(subject_image((320, 240)))
    with ThreadPoolExecutor(12) as ex:
        answers = list(ex.map(lambda _: post(pipelined.url, small, {"Content-Type": "image/png"}), range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    # three in ORT at once through the one gate; a fourth waited for it, and the metrics say so
    assert list(metric_values(pipelined.url, "rembg_gate_peak_running").values()) == [3.0]
    assert list(metric_values(pipelined.url, "rembg_gate_peak_waiting").values())[0] >= 1
    waits = metric_values(pipelined.url, "rembg_gate_wait_seconds_bucket")
    assert waits['{le="+Inf"}'] >= 12 and waits['{le="0.001"}'] < waits['{le="+Inf"}']
    assert metric_values(pipelined.url, "rembg_admission_wait_seconds_count")[""] >= 12
    for a in answers:
        assert float(a.headers["X-Queue-Seconds"]) >= 0
        timing = dict(re.findall(r"(\w+);dur=([\d.]+)", a.headers["Server-Timing"]))
        assert tuple(timing) == STAGES
    assert any(float(a.headers["X-Queue-Seconds"]) > 0 for a in answers)


def test_decode_and_encode_overlap_a_run_in_the_model(pipelined):
    big = noisy_jpeg((2400, 1800))
    with ThreadPoolExecutor(10) as ex:
        codes = [r.status_code for r in ex.map(lambda _: post(pipelined.url, big), range(10))]
    assert codes == [200] * 10
    # at some moment two requests were decoding/encoding on the pool while a run was inside ORT
    assert list(metric_values(pipelined.url, "rembg_pipeline_overlap_peak").values())[0] >= 2
    stages = metric_values(pipelined.url, "rembg_stage_seconds_count")
    assert {f'{{stage="{s}"}}' for s in STAGES} <= set(stages)


def test_a_deadline_sheds_instead_of_serving_late(pipelined):
    big = noisy_jpeg((2400, 1800))
    shed_before = metric_values(pipelined.url, "rembg_shed_total").get('{reason="deadline"}', 0.0)
    with ThreadPoolExecutor(12) as ex:
        busy = [ex.submit(post, pipelined.url, big) for _ in range(12)]
        wait_for(lambda: sum(metric_values(pipelined.url, "rembg_queued_requests").values()) >= 2,
                 "requests queued behind the busy slots")
        late = post(pipelined.url, png_bytes(subject_image((320, 240))),
                    {"Content-Type": "image/png", "X-Deadline-Ms": "50"})
        assert late.status_code == 503, late.status_code
        assert "deadline" in one_line_json(late) and int(late.headers["Retry-After"]) >= 1
        assert [f.result().status_code for f in busy] == [200] * 12  # the server's own deadline is 300 s
    assert metric_values(pipelined.url, "rembg_shed_total")['{reason="deadline"}'] == shed_before + 1
    bad = post(pipelined.url, big, {"X-Deadline-Ms": "soon"})
    assert bad.status_code == 422 and "X-Deadline-Ms" in one_line_json(bad)


def test_the_memory_budget_bounds_a_burst_of_large_requests(model_path):
    """With the service's defaults (glibc with a fixed mmap threshold): RSS follows the admitted work."""
    budget_mb = 250  # an 8 MP request is estimated at ~100 MB: two at a time, though six slots are free
    big = noisy_jpeg((3464, 2309))
    with ServerProcess(["--workers", "1", "--max-inflight", "1", "--pipeline-threads", "5", "--max-size", "8000",
                        "--memory-budget-mb", str(budget_mb), "--max-queue", "16"]) as server:
        wait_for(lambda: requests.get(server.url + "/readyz", timeout=5).status_code == 200, "readiness")
        for pid in server.tree():  # the default tuning reached gunicorn's master and its worker
            assert b"MALLOC_MMAP_THRESHOLD_=131072" in Path(f"/proc/{pid}/environ").read_bytes()
        small = png_bytes(subject_image((320, 240)))
        with ThreadPoolExecutor(6) as ex:  # warm: the arena grows once, before the baseline
            list(ex.map(lambda _: post(server.url, small, {"Content-Type": "image/png"}), range(6)))
        time.sleep(0.5)
        warm = measure(server.pid, full=False).rss
        with TreeSampler(server.pid, interval=0.05, full=False) as sampler, ThreadPoolExecutor(6) as ex:
            codes = [r.status_code for r in ex.map(lambda _: post(server.url, big), range(6))]
        assert codes == [200] * 6
        assert (sampler.peak_rss() - warm) / MB <= budget_mb * 1.1, (sampler.peak_rss() - warm) / MB
        assert list(metric_values(server.url, "rembg_memory_budget_bytes").values()) == [budget_mb * MB]
        # one request whose cost alone is over the whole budget: 413, one line saying what to lower
        huge = png_bytes(Image.new("RGB", (6000, 4000), (200, 30, 30)))
        refused = post(server.url, huge, {"Content-Type": "image/png"})
        assert refused.status_code == 413
        message = one_line_json(refused)
        assert "budget" in message and "max_size" in message
        assert metric_values(server.url, "rembg_shed_total")['{reason="over_budget"}'] == 1
        assert post(server.url, huge, {"Content-Type": "image/png"}).status_code == 413
        lowered = requests.post(server.url + "/api/remove?max_size=1600", data=huge, timeout=300,
                                headers={"Content-Type": "image/png"})
        assert lowered.status_code == 200


@pytest.fixture(scope="module")
def jemalloc_pair(model_path):
    if not allocator.available()["jemalloc"]:
        pytest.skip("libjemalloc2 is not installed (make debian)")
    server = ServerProcess(["--workers", "2", "--allocator", "jemalloc", "--max-queue", "16"])
    server.start(wait="/readyz")
    family = server.tree()
    yield server
    server.stop()
    assert not [pid for pid in family if psutil.pid_exists(pid)], "orphan processes"


def test_jemalloc_is_really_loaded_in_every_worker(jemalloc_pair):
    workers = jemalloc_pair.workers()
    assert len(workers) == 2
    for pid in workers:
        assert "libjemalloc" in Path(f"/proc/{pid}/maps").read_text()
        assert allocator.active(pid) == "jemalloc"
    info = metric_values(jemalloc_pair.url, "rembg_allocator_info")
    assert {re.search(r'pid="(\d+)"', k).group(1) for k in info if 'allocator="jemalloc"' in k} == \
        {str(p) for p in workers}


def test_two_workers_both_serve_a_keep_alive_client_pool(jemalloc_pair):
    photo = png_bytes(subject_image((480, 360)))
    result = run_load(LoadSpec(jemalloc_pair.url + "/api/remove", (("p.png", photo),), concurrency=8, requests=40,
                               retry_503=True, timeout=300))
    assert result.status_counts == {"200": 40}, result.status_counts
    assert set(result.per_worker) == set(jemalloc_pair.workers()), result.per_worker
    served = metric_values(jemalloc_pair.url, "rembg_worker_requests")
    assert len(served) == 2 and all(v > 0 for v in served.values()), served


def test_a_missing_allocator_library_refuses_to_start(monkeypatch, capsys, tmp_path):
    from rembg_core.cli import main

    monkeypatch.setattr(allocator, "SEARCH_DIRS", (str(tmp_path / "nowhere"),))
    code = main(["serve", "--port", "1", "--allocator", "mimalloc"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "mimalloc is not installed" in err, err
