"""Batch engine: order, per-item errors, bounded memory, zip in/out and its safety, cache, CLI."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from rembg_core import cli
from rembg_core.batch import (
    BatchItem,
    BatchLimitError,
    BatchLimits,
    Gauge,
    RemoveOptions,
    collect,
    items_from_zip,
    run_batch,
    zip_writer,
)
from rembg_core.batch.cache import ResultCache
from rembg_core.batch.inputs import unsafe_member_name
from rembg_core.cli.common import ExitCode
from rembg_core.measure.analysis import rss_drift
from tests.conftest import png_bytes, subject_image

pytestmark = pytest.mark.model

SIZES = [(64, 48), (40, 56), (72, 40), (48, 48), (56, 64), (36, 60)]


def jpeg(size) -> bytes:
    return png_bytes(subject_image(size), "JPEG", quality=90)


CUT = jpeg((80, 60))[:-400]  # a download that stopped before the end


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def decoded_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


@pytest.fixture(autouse=True)
def _model(model_path):
    return model_path


# --- order, completeness, per-item errors ---------------------------------------

@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "serial"])
def test_one_result_per_input_in_order_with_errors_among_good(tmp_path, pipelined):
    good = [(f"img{i}.jpg", jpeg(s)) for i, s in enumerate(SIZES)]
    bad = {2: ("empty.png", b""), 4: ("notes.png", b"hello, not an image"), 5: ("cut.jpg", CUT)}
    inputs = list(good)
    for pos, upload in sorted(bad.items()):
        inputs.insert(pos, upload)
    missing = tmp_path / "missing.jpg"
    inputs.append(str(missing))
    seen: list[tuple[int, int]] = []
    results = list(run_batch(collect(inputs), progress=lambda done, total, r: seen.append((done, total)),
                             pipelined=pipelined))

    assert [r.index for r in results] == list(range(len(inputs)))
    assert [r.name for r in results] == [i if isinstance(i, str) else i[0] for i in inputs]
    assert seen == [(n, len(inputs)) for n in range(1, len(inputs) + 1)]
    errors = {r.name: r.error for r in results if not r.ok}
    assert set(errors) == {"empty.png", "notes.png", "cut.jpg", str(missing)}
    assert all(e and "\n" not in e for e in errors.values())
    assert "empty" in errors["empty.png"] and "truncated" in errors["cut.jpg"] and "no such file" in errors[str(missing)]
    oks = [r for r in results if r.ok]
    assert [decoded_size(r.data) for r in oks] == SIZES  # each output belongs to its input
    assert [r.size for r in oks] == SIZES
    assert all(r.rss > 0 and r.seconds > 0 and not r.cached for r in oks)
    assert all(r.data is None and r.output_name is None for r in results if not r.ok)


def test_output_names_are_unique():
    data = jpeg((32, 32))
    items = collect([("a.jpg", data), ("a.png", data), ("A.jpg", data),
                     ("pack.zip", zip_bytes({"a.jpg": data, "sub/a.jpg": data}))])
    names = [r.output_name for r in run_batch(items)]
    assert names == ["a.png", "a-2.png", "A-3.png", "a-4.png", "sub/a.png"]


def test_too_many_items_is_refused_up_front():
    with pytest.raises(BatchLimitError, match="more than 3"):
        collect([(f"{i}.png", b"x") for i in range(4)], BatchLimits(max_items=3))


# --- bounded memory (structural, not timing) -------------------------------------

@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "serial"])
def test_in_flight_images_are_bounded_with_a_slow_consumer(pipelined):
    limits = BatchLimits(max_in_flight=2)
    lock = threading.Lock()
    reads = [0]
    data = jpeg((64, 48))

    def reader() -> bytes:
        with lock:
            reads[0] += 1
        return data

    items = [BatchItem(f"{i}.jpg", f"{i}.jpg", read=reader) for i in range(6)]
    gauge = Gauge()
    ahead = []
    done = threading.Event()
    for consumed, r in enumerate(run_batch(items, limits=limits, gauge=gauge, pipelined=pipelined), 1):
        assert r.ok, r.error
        done.wait(0.05)  # a slow consumer: the stages would run ahead if nothing held them back
        with lock:
            ahead.append(reads[0] - consumed)
    assert reads[0] == 6
    # never more than max_in_flight items read but not yet consumed
    assert max(ahead) <= limits.max_in_flight
    if pipelined:
        assert max(ahead) >= 1  # and the pipeline does read ahead
    # decoded images actually alive at once (freed = collected by the interpreter)
    assert 1 <= gauge.peak <= limits.max_in_flight
    assert gauge.current == 0


def test_abandoned_batch_stops_its_threads():
    items = [BatchItem(f"{i}.jpg", f"{i}.jpg", read=lambda: jpeg((48, 48))) for i in range(20)]
    before = {t.name for t in threading.enumerate()}
    gen = run_batch(items, limits=BatchLimits(max_in_flight=2), pipelined=True)
    next(gen)
    gen.close()
    left = [t for t in threading.enumerate() if t.name.startswith("batch-") and t.name not in before and t.is_alive()]
    assert not left


# --- zip input safety -------------------------------------------------------------

def test_zip_members_safety():
    good = jpeg((40, 30))
    archive = zip_bytes({
        "photos/a.jpg": good,
        "photos/": b"",
        "__MACOSX/photos/._a.jpg": b"\0\5\26\7",
        ".DS_Store": b"junk",
        "photos/.hidden.jpg": good,
        "../escape.png": good,
        "/etc/abs.png": good,
        "C:\\win.png": good,
        "inner.zip": zip_bytes({"x.jpg": good}),
        "disguised.png": zip_bytes({"x.jpg": good}),
        "readme.txt": b"skipped: not an image name",
        "broken.png": b"\x89PNG\r\n\x1a\n garbage",
    })
    items = collect([("up.zip", archive)])
    assert [i.name for i in items] == [
        "up.zip:photos/a.jpg", "up.zip:../escape.png", "up.zip:/etc/abs.png", "up.zip:C:\\win.png",
        "up.zip:inner.zip", "up.zip:disguised.png", "up.zip:readme.txt", "up.zip:broken.png",
    ]
    results = {r.name: r for r in run_batch(items)}
    assert results["up.zip:photos/a.jpg"].ok and results["up.zip:photos/a.jpg"].output_name == "photos/a.png"
    assert "traversal" in results["up.zip:../escape.png"].error
    assert "absolute" in results["up.zip:/etc/abs.png"].error
    assert "absolute" in results["up.zip:C:\\win.png"].error
    assert "nested archive" in results["up.zip:inner.zip"].error
    assert "nested archive" in results["up.zip:disguised.png"].error
    assert not results["up.zip:broken.png"].ok
    assert results["up.zip:readme.txt"].error == "skipped: a '.txt' file is not an image"  # said, not dropped


def test_unsafe_member_names():
    assert unsafe_member_name("a/b.png") is None
    assert unsafe_member_name("a/../../b.png")
    assert unsafe_member_name("..\\b.png")
    assert unsafe_member_name("/b.png")
    assert unsafe_member_name("d:/b.png")
    assert unsafe_member_name("a..b.png") is None  # dots inside a name are fine


def test_zip_over_entry_or_size_limit_is_one_refusal():
    archive = zip_bytes({f"{i}.png": b"x" for i in range(6)})
    items = items_from_zip("big.zip", lambda: io.BytesIO(archive), BatchLimits(max_zip_entries=5))
    assert len(items) == 1 and "6 entries" in items[0].refused
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.png", b"\0" * 3_000_000)  # ~3 kB compressed, 3 MB unpacked
    items = items_from_zip("bomb.zip", lambda: io.BytesIO(bomb.getvalue()), BatchLimits(max_zip_bytes=1_000_000))
    assert len(items) == 1 and "unpacks to 3 MB" in items[0].refused
    items = items_from_zip("bomb.zip", lambda: io.BytesIO(bomb.getvalue()), BatchLimits(max_item_bytes=1_000_000))
    assert len(items) == 1 and "per-file limit" in items[0].refused


def test_not_a_zip_is_one_refusal(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not a zip")
    (item,) = collect([str(fake)])
    assert item.name == str(fake) and "not a readable zip" in item.refused


# --- zip output -------------------------------------------------------------------

def test_results_stream_into_a_zip(tmp_path):
    items = collect([(f"{i}.jpg", jpeg(s)) for i, s in enumerate(SIZES[:3])] + [("bad.jpg", b"nope")])
    dest = tmp_path / "out.zip"
    with zip_writer(dest) as add:
        for r in run_batch(items):
            if r.ok:
                add(r.output_name, r.data)
    with zipfile.ZipFile(dest) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["0.png", "1.png", "2.png"]
        assert [decoded_size(zf.read(n)) for n in zf.namelist()] == SIZES[:3]
    assert [p.name for p in tmp_path.iterdir()] == ["out.zip"]  # no temp file left behind


def test_failed_zip_write_leaves_no_file(tmp_path):
    dest = tmp_path / "out.zip"
    with pytest.raises(RuntimeError):
        with zip_writer(dest) as add:
            add("a.png", b"1")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


# --- cache through the batch ------------------------------------------------------

def test_second_pass_is_served_from_cache_and_options_change_misses(tmp_path):
    cache = ResultCache(tmp_path / "cache")
    items = collect([(f"{i}.jpg", jpeg(s)) for i, s in enumerate(SIZES[:3])] + [("bad.jpg", b"nope")])
    first = list(run_batch(items, cache=cache))
    second = list(run_batch(items, cache=cache))
    assert [r.cached for r in second] == [True, True, True, False]
    assert [r.data for r in second[:3]] == [r.data for r in first[:3]]
    assert [r.size for r in second[:3]] == SIZES[:3]
    assert not second[3].ok  # errors are not cached, and still reported
    masks = list(run_batch(items, options=RemoveOptions(only_mask=True), cache=cache))
    assert not any(r.cached for r in masks)
    assert Image.open(io.BytesIO(masks[0].data)).mode == "L"
    assert cache.stats.hits == 3


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    cache = ResultCache(tmp_path / "cache")
    items = collect([("a.jpg", jpeg((64, 48)))])
    (first,) = run_batch(items, cache=cache)
    entry = next((tmp_path / "cache").rglob("*.entry"))
    entry.write_bytes(entry.read_bytes()[:50])  # truncated
    (again,) = run_batch(items, cache=cache)
    assert again.ok and not again.cached and again.data == first.data
    assert cache.stats.corrupt == 1
    (third,) = run_batch(items, cache=cache)
    assert third.cached


def test_unusable_cache_never_fails_the_batch(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file where the cache folder should be")
    cache = ResultCache(blocker / "cache")
    results = list(run_batch(collect([("a.jpg", jpeg((64, 48))), ("b.jpg", jpeg((48, 64)))]), cache=cache))
    assert all(r.ok and not r.cached for r in results)
    assert cache.stats.errors >= 2


# --- CLI --------------------------------------------------------------------------

def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i, s in enumerate(SIZES[:3]):
        (src / f"good{i}.jpg").write_bytes(jpeg(s))
    (src / "bad.png").write_bytes(b"<html>not an image</html>")
    (src / "notes.txt").write_text("ignored: not an image name")
    return src


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_cli_folder_with_a_bad_file(tmp_path, capsys):
    src = _folder(tmp_path)
    out = tmp_path / "out"
    code = cli.main(["remove", str(src), "-o", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == ExitCode.REFUSED
    assert _error_lines(captured.err) == [f"error: {src / 'bad.png'}: not an image: this is an HTML page"]
    assert sorted(p.name for p in out.iterdir()) == ["good0.png", "good1.png", "good2.png"]
    assert decoded_size((out / "good1.png").read_bytes()) == SIZES[1]
    assert captured.out.count(" -> ") == 3


def test_cli_zip_to_zip_with_cache(tmp_path, capsys):
    good = {f"good{i}.jpg": jpeg(s) for i, s in enumerate(SIZES[:3])}
    archive = tmp_path / "archive.zip"
    archive.write_bytes(zip_bytes({**good, "sub/bad.png": b"\x89PNG\r\n\x1a\ndamaged"}))
    out = tmp_path / "result.zip"
    args = ["remove", str(archive), "-o", str(out), "--cache", str(tmp_path / "cache"), "--no-progress"]
    assert cli.main(args) == ExitCode.REFUSED
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {archive}:sub/bad.png: ")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["good0.png", "good1.png", "good2.png"]
    assert cli.main(args) == ExitCode.REFUSED  # second run: from the cache, same outcome
    captured = capsys.readouterr()
    assert captured.out.count("(cached)") == 3 and "cache: 3 hits" in captured.err


def test_cli_all_good_exits_0(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(jpeg((50, 40)))
    (src / "b.png").write_bytes(png_bytes(subject_image((40, 50))))
    assert cli.main(["remove", str(src), "-o", str(tmp_path / "o.zip"), "--no-progress"]) == ExitCode.OK
    assert not _error_lines(capsys.readouterr().err)


def test_cli_single_file_unchanged(tmp_path, capsys):
    src = tmp_path / "a.jpg"
    src.write_bytes(jpeg((50, 40)))
    dest = tmp_path / "a.webp"
    assert cli.main(["remove", str(src), "-o", str(dest)]) == ExitCode.OK
    assert decoded_size(dest.read_bytes()) == (50, 40) and Image.open(dest).format == "WEBP"
    assert capsys.readouterr().out.startswith(f"{src} -> {dest} (")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    assert cli.main(["remove", str(bad), "-o", str(tmp_path / "x.png")]) == ExitCode.REFUSED
    assert capsys.readouterr().err.strip() == f"error: {bad}: the file is empty (0 bytes)"


# --- drift figure -----------------------------------------------------------------

def test_rss_drift():
    flat = [100] * 5 + [200] * 40
    assert rss_drift(flat) == 0.0
    growing = [100] * 5 + list(range(200, 240))
    assert rss_drift(growing) == pytest.approx(235 / 205 - 1)
    assert rss_drift([1, 2, 3]) is None


def test_a_bug_inside_the_pipeline_raises_instead_of_hanging():
    class Bug(BaseException):  # not an Exception: escapes the per-item handlers, like a real bug would
        pass

    def explode() -> bytes:
        raise Bug("boom")

    items = [BatchItem("a.jpg", "a.jpg", read=lambda: jpeg((32, 32))), BatchItem("b.jpg", "b.jpg", read=explode)]
    with pytest.raises(RuntimeError, match="batch engine failed") as info:
        list(run_batch(items, pipelined=True))
    assert isinstance(info.value.__cause__, Bug)


def test_colour_profile_is_carried_into_the_output():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = png_bytes(subject_image((48, 40)), "JPEG", icc_profile=icc)
    (r,) = run_batch(collect([("tagged.jpg", data)]))
    assert Image.open(io.BytesIO(r.data)).info.get("icc_profile") == icc
