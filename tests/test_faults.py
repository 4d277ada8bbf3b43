"""Faults while the app runs: model file damaged or deleted, flags toggled for a long time, a
CLI batch killed half-way. Real ONNX Runtime, real model, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime as ort
import pytest
from PIL import Image

from rembg_core import RembgCoreError, SessionConfig, get_session, models, remove
from rembg_core import session as session_mod
from rembg_core.errors import ModelChecksumError
from rembg_core.memory import MB, rss, trim
from tests.conftest import png_bytes, subject_image

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]


def damaged_kinds(good: bytes) -> dict[str, tuple[bytes, str]]:
    """The four ways a model file arrives broken, and the words that must explain each."""
    return {
        "zero-byte": (b"", "empty (0 bytes"),
        "truncated": (good[: len(good) // 2], "truncated (2.3 MB of 4.4 MB"),
        "html": (b"<!DOCTYPE html><html><body>Please sign in</body></html>\n", "web page"),
        "git-lfs": (b"version https://git-lfs.github.com/spec/v1\noid sha256:309c8469258dda742793dce0ebea8e6dd"
                    b"393174f89934733ecc8b14c76f4ddd8\nsize 4574861\n", "Git LFS pointer"),
    }


@pytest.fixture
def store(tmp_path, model_path, monkeypatch):
    """An empty model store of our own, and a good copy where rembg keeps its models (U2NET_HOME),
    so fetching is real (the library's copy-and-verify path) yet needs no network."""
    store = tmp_path / "store"
    store.mkdir()
    rembg_home = tmp_path / "u2net"
    rembg_home.mkdir()
    (rembg_home / "u2netp.onnx").write_bytes(model_path.read_bytes())
    monkeypatch.setenv("REMBG_LAB_MODELS", str(store))
    monkeypatch.setenv("U2NET_HOME", str(rembg_home))
    session_mod.clear()
    yield store
    session_mod.clear()


@pytest.mark.parametrize("kind", ["zero-byte", "truncated", "html", "git-lfs"])
def test_ort_raw_error_is_opaque_ours_is_typed_then_the_next_request_recovers(kind, store, model_path):
    data, words = damaged_kinds(model_path.read_bytes())[kind]
    bad = store / "u2netp.onnx"
    bad.write_bytes(data)
    # ONNX Runtime on its own: a plain Exception subclass saying "Protobuf parsing failed" or similar
    with pytest.raises(Exception) as raw:
        ort.InferenceSession(str(bad), providers=["CPUExecutionProvider"])
    assert not isinstance(raw.value, RembgCoreError)
    assert "ONNXRuntimeError" in str(raw.value)
    # through the library: the hash is checked first, and the error says what the file is
    with pytest.raises(ModelChecksumError) as ours:
        remove(png_bytes(subject_image()))
    message = str(ours.value)
    assert words in message and "next request fetches a fresh copy" in message and "\n" not in message
    assert not bad.exists()  # the damaged copy is gone...
    result = remove(png_bytes(subject_image()))  # ...and the next request fetches, verifies and works
    assert result.image.size == (400, 300)
    assert models.checksum(models.get_spec("u2netp"), bad) == models.expected_checksum(models.get_spec("u2netp"))


def test_model_deleted_while_serving(store):
    cfg = SessionConfig()
    first = remove(png_bytes(subject_image()), cfg)  # fetched into the empty store, then loaded
    (store / "u2netp.onnx").unlink()
    # the cached session lives in memory: the file going away does not stop it
    assert remove(png_bytes(subject_image()), cfg).mask.tobytes() == first.mask.tobytes()
    # a new configuration needs the file: it is fetched again, verified, and works
    other = SessionConfig(enable_cpu_mem_arena=False)
    assert remove(png_bytes(subject_image()), other).image.size == (400, 300)
    assert (store / "u2netp.onnx").exists()


def test_model_replaced_by_garbage_while_serving(store, model_path):
    remove(png_bytes(subject_image()))
    (store / "u2netp.onnx").write_bytes(model_path.read_bytes()[:100_000])
    with pytest.raises(ModelChecksumError, match="truncated"):
        get_session(SessionConfig(enable_mem_pattern=False))
    assert get_session(SessionConfig(enable_mem_pattern=False)).spec.name == "u2netp"


def test_toggling_session_flags_50_times_keeps_rss_bounded(model_path):
    """Sessions are cached per configuration: toggling reuses them instead of rebuilding."""
    session_mod.clear()
    configs = [SessionConfig(enable_cpu_mem_arena=a, enable_mem_pattern=p) for a in (True, False) for p in (True, False)]
    data = png_bytes(subject_image((320, 240)))
    seen: dict[SessionConfig, int] = {}
    samples = []
    for i in range(50):
        cfg = configs[i % len(configs)]
        remove(data, cfg)
        sid = id(get_session(cfg))
        assert seen.setdefault(cfg, sid) == sid, "session rebuilt on toggle"
        if i % len(configs) == len(configs) - 1:
            trim()
            samples.append(rss())
    assert len(session_mod.cached_configs()) == 4
    warm = samples[2]  # after three full rounds (mem pattern allocates on the second run)
    assert max(samples[2:]) - warm < 0.10 * warm + 20 * MB, [s // MB for s in samples]
    session_mod.clear()


# --- a batch killed half-way ----------------------------------------------------

def test_cli_batch_killed_mid_way_leaves_only_complete_files_and_resumes_from_cache(tmp_path, model_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(40):
        (src / f"img-{i:02d}.png").write_bytes(png_bytes(subject_image((900 + 7 * i, 700))))
    out, cache = tmp_path / "out", tmp_path / "cache"
    cmd = [sys.executable, "-m", "rembg_core", "remove", str(src), "-o", str(out), "--cache", str(cache),
           "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("*.png"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    written = sorted(out.glob("*.png"))
    assert 3 <= len(written) < 40, "the kill should land mid-batch"
    for path in written:  # every visible output is a whole PNG
        with Image.open(path) as im:
            im.load()
            assert im.mode == "RGBA" and im.height == 700
    # a killed writer can leave only its hidden temporary behind, never a half file under the real name
    leftovers = [p.name for p in out.iterdir() if p not in written]
    assert all(name.startswith(".") and name.endswith(".part") for name in leftovers), leftovers
    # the same command again: what was finished comes from the cache, the rest is computed
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    cached = [ln for ln in again.stdout.splitlines() if ln.endswith("(cached)")]
    assert len(cached) >= len(written), again.stdout
    assert len(list(out.glob("*.png"))) == 40
    for path in out.glob("*.png"):
        with Image.open(path) as im:
            im.load()


# --- the result cache on a full disk ---------------------------------------------

FULL_DISK_CHILD = r"""
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like ENOSPC
from rembg_core.batch import collect, run_batch
from rembg_core.batch.cache import ResultCache
sys.path.insert(0, "tests")
from tests.conftest import png_bytes, subject_image
cache = ResultCache(Path(sys.argv[1]))
items = collect([(f"{i}.png", png_bytes(subject_image((300 + 40 * i, 200)))) for i in range(4)])
resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))  # every cache entry is bigger than this
results = list(run_batch(items, cache=cache))
print(sum(r.ok for r in results), sum(bool(r.cached) for r in results), cache.stats.errors)
"""


def test_full_disk_under_the_cache_never_fails_the_batch_nor_leaves_half_entries(tmp_path, model_path):
    cache_dir = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(cache_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ok, cached, errors = map(int, proc.stdout.split())
    assert ok == 4 and cached == 0 and errors >= 1
    assert "Traceback" not in proc.stderr
    assert [p for p in cache_dir.rglob("*") if p.is_file()] == []  # no half-written entry, no temp file
