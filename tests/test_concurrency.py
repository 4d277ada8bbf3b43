"""Threads sharing one process: one cached session, eight users, identical answers, bounded runs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageDraw

from rembg_core import SessionConfig, get_session, load_image, models, remove
from rembg_core import session as session_mod
from rembg_core.gate import RunGate
from tests.conftest import png_bytes

pytestmark = pytest.mark.model
THREADS = 8


def varied_images() -> list[bytes]:
    """Eight different inputs: sizes, shapes, formats, one with its own alpha."""
    out = []
    for i, size in enumerate([(320, 240), (200, 300), (640, 120), (90, 90), (500, 375), (33, 700), (256, 256), (411, 233)]):
        im = Image.new("RGB", size, (230 - 20 * i, 230, 210 + 5 * i))
        w, h = size
        ImageDraw.Draw(im).ellipse((w * 0.2, h * 0.15, w * 0.8, h * (0.6 + 0.04 * i)), fill=(30 * i, 40, 200 - 20 * i))
        if i == 3:
            im = im.convert("RGBA")
            im.putalpha(Image.linear_gradient("L").resize(size))
        out.append(png_bytes(im, "JPEG" if i % 3 == 1 else "PNG"))
    return out


def fingerprint(result) -> tuple:
    return result.image.size, np.asarray(result.mask).tobytes(), np.asarray(result.image).tobytes()


@pytest.mark.slow
def test_eight_threads_on_one_session_match_sequential_runs(model_path):
    config = SessionConfig()
    session = get_session(config)
    images = varied_images()
    sequential = [fingerprint(remove(data, config)) for data in images]
    barrier = threading.Barrier(THREADS)

    def worker(k: int) -> list[tuple]:
        barrier.wait()  # all start together
        # each thread does every image, starting at a different one, so runs overlap in every pairing
        order = [(k + j) % len(images) for j in range(len(images))]
        return [(i, fingerprint(remove(images[i], config))) for i in order]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    assert get_session(config) is session  # still the one cached session
    for per_thread in results:
        for i, fp in per_thread:
            assert fp == sequential[i], f"image {i} differs when run concurrently"


def test_run_gate_queues_the_rest_and_report_the_wait(model_path, monkeypatch):
    slots = RunGate(1)
    monkeypatch.setattr(session_mod, "GATE", slots)
    data = varied_images()[4]
    barrier = threading.Barrier(THREADS)

    def worker(_: int) -> dict[str, float]:
        barrier.wait()
        return remove(data).timings

    with ThreadPoolExecutor(THREADS) as pool:
        timings = list(pool.map(worker, range(THREADS)))
    stats = slots.stats()
    assert stats.peak_running == 1  # never more than the capacity inside ORT
    assert stats.running == 0 and stats.waiting == 0  # everything handed back
    assert stats.peak_waiting >= 1 and stats.waits >= 1
    assert all("queue" in t for t in timings)
    assert sum(t["queue"] > 0 for t in timings) == stats.waits
    assert abs(sum(t["queue"] for t in timings) - stats.wait_seconds) < 1e-6
    assert all(t["inference"] >= 0 for t in timings)  # the wait is not counted as inference


def test_run_gate_is_released_when_a_run_fails(model_path, monkeypatch):
    slots = RunGate(1)
    monkeypatch.setattr(session_mod, "GATE", slots)
    session = get_session(SessionConfig())
    with pytest.raises(Exception, match="."):  # ORT raises its own plain exception types
        session.run(np.zeros((1, 3, 7, 7), np.float32))  # wrong shape
    assert slots.stats().running == 0
    assert session.run(np.zeros((1, 3, 320, 320), np.float32)).shape == (1, 1, 320, 320)


def test_session_cache_under_churn(model_path):
    """Gets, releases and clears from many threads: no error, one session per config, bounded."""
    configs = [SessionConfig(enable_cpu_mem_arena=a, enable_mem_pattern=p) for a in (True, False) for p in (True, False)]
    cache = session_mod.SessionCache(max_entries=2)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for j in range(6):
                cfg = configs[(k + j) % len(configs)]
                s = cache.get(cfg)
                assert s.config == cfg
                if j % 5 == 4:
                    cache.release(cfg)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(cache.configs()) <= 2
    cache.clear()


def test_model_verification_is_thread_safe(model_path):
    spec = models.get_spec("u2netp")
    with models.store._verified_lock:
        models.store._verified.clear()
    with ThreadPoolExecutor(THREADS) as pool:
        assert all(pool.map(lambda _: models.is_valid(spec, model_path), range(32)))


def test_loader_is_thread_safe():
    images = varied_images()
    expected = [np.asarray(load_image(d).rgb).tobytes() for d in images]
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(lambda i: np.asarray(load_image(images[i % 8]).rgb).tobytes(), range(64)))
    assert all(g == expected[i % 8] for i, g in enumerate(got))
