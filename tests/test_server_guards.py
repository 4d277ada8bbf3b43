"""The service's guards without a server: what a message may say, form limits, body timeouts and
budget, model files that are not regular files. The same guards run for real in test_serve_hostile.py."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from rembg_core.errors import ModelLoadError
from rembg_core.models import store
from rembg_core.server import body
from rembg_core.server.public import one_line, public, redact


@pytest.mark.parametrize("text, expected", [
    ("model file /srv/models/u2netp.onnx is damaged", "model file u2netp.onnx is damaged"),
    ("model u2netp is not in /home/app/.cache/rembg-lab/models (run: ...)", "model u2netp is not in models (run: ...)"),
    ("Load model from /a/b/c.onnx failed", "Load model from c.onnx failed"),
    ("cannot read ~/models/x.onnx", "cannot read x.onnx"),
    ("see https://example.org/a/b and 1/2/3", "see https://example.org/a/b and 1/2/3"),  # URLs and ratios stay
    ("POST the image to /api/remove instead", "POST the image to /api/remove instead"),  # a URL path
    ("under /tmp and ../../etc/passwd", "under tmp and passwd"),
])
def test_redact_keeps_the_last_component_of_every_path(text, expected):
    assert redact(text) == expected


def test_one_line_escapes_control_characters_instead_of_cutting():
    assert one_line("evil\nname.png: not an image") == "evil\\nname.png: not an image"
    assert one_line("a\r\n\tb\x00") == "a\\r\\n\\tb\\x00"
    assert len(one_line("x" * 5000)) == 300
    assert "\n" not in public("first\nsecond /tmp/a/b")


async def _chunks(*parts: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if pause:
            await asyncio.sleep(pause)
        yield part


def _collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    async def go() -> list[bytes]:
        return [c async for c in stream]

    return asyncio.run(go())


def test_a_body_that_stalls_gets_408():
    limits = body.BodyLimits(cap=1000, idle=0.05, total=10)
    assert _collect(body.timed(_chunks(b"a", b"b"), limits)) == [b"a", b"b"]
    with pytest.raises(body.BodyError) as err:
        _collect(body.timed(_chunks(b"a", b"b", pause=1.0), limits))
    assert err.value.status == 408


def test_the_body_budget_refuses_bytes_past_it_and_frees_them():
    budget = body.BodyBudget(limit=10)
    first, second = budget.ticket(), budget.ticket()
    assert _collect(first.count(_chunks(b"12345", b"678"))) == [b"12345", b"678"]
    assert budget.held == 8
    with pytest.raises(body.BodyError) as err:
        _collect(second.count(_chunks(b"123")))
    assert err.value.status == 503 and "busy" in str(err.value)
    first.release()
    second.release()
    assert budget.held == 0
    assert _collect(budget.ticket().count(_chunks(b"0123456789"))) == [b"0123456789"]


def _form(parts: int, files: int = 0) -> bytes:
    out = [b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(parts - files)]
    out += [b'--b\r\nContent-Disposition: form-data; name="file%d"; filename="a.png"\r\n\r\nPNG\r\n' % i
            for i in range(files)]
    return b"".join(out) + b"--b--\r\n"


def _parse(data: bytes) -> body.Form:
    return asyncio.run(body.read_multipart(_chunks(data), "multipart/form-data; boundary=b", cap=10**9))


def test_form_limits():
    form = _parse(_form(body.MAX_PARTS, files=1))
    assert len(form.fields) == body.MAX_PARTS - 1 and len(form.files) == 1
    with pytest.raises(body.BodyError, match="more than 32 parts") as err:
        _parse(_form(100_000))
    assert err.value.status == 413
    with pytest.raises(body.BodyError, match="one image per request"):
        _parse(_form(3, files=2))
    huge_header = b'--b\r\nContent-Disposition: form-data; name="' + b"n" * 20_000 + b'"\r\n\r\nx\r\n--b--\r\n'
    with pytest.raises(body.BodyError) as err:
        _parse(huge_header)
    assert err.value.status in (400, 431) and "header" in str(err.value)


def test_model_paths_that_are_not_regular_files_fail_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("REMBG_LAB_MODELS", str(tmp_path))
    target = tmp_path / "u2netp.onnx"
    os.mkfifo(target)  # a plain open() would block here until a writer came
    with pytest.raises(ModelLoadError, match="named pipe"):
        store.verify("u2netp")
    target.unlink()
    target.mkdir()
    with pytest.raises(ModelLoadError, match="directory"):
        store.verify("u2netp")
