"""The Ray engine on a real local Ray (one cluster shared by the module): the CLI end to end,
bytes identical to the serial batch, resuming after the driver is SIGKILLed, the Batch page.
Inputs are tiny synthetic images; the model's own input is 320×320 whatever their size."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from rembg_core import cli
from rembg_core.batch import collect
from rembg_core.distributed import MANIFEST_NAME, JobSpec, expand, manifest, plan
from rembg_core.distributed.sources import read_source
from rembg_core.session import SessionConfig
from tests.conftest import ROOT, png_bytes, subject_image

SIZES = [(64, 48), (40, 56), (72, 40), (48, 48), (56, 64), (36, 60), (60, 36), (44, 44)]


def jpeg(size, seed: int = 0) -> bytes:
    im = subject_image(size)
    im.putpixel((seed % size[0], 0), (seed % 256, 7, 7))  # distinct bytes per image
    return png_bytes(im, "JPEG", quality=90)


def make_inputs(root: Path, n_good: int = 6) -> list[str]:
    """A folder of good and bad files (one name twice: img0.jpg and img0.png), a zip with an unsafe
    and a nested member, and a missing file."""
    folder = root / "photos"
    folder.mkdir(parents=True)
    for i in range(n_good):
        (folder / f"img{i}.jpg").write_bytes(jpeg(SIZES[i % len(SIZES)], i))
    (folder / "img0.png").write_bytes(png_bytes(subject_image((50, 50))))
    (folder / "notes.png").write_bytes(b"hello, not an image")
    (folder / "cut.jpg").write_bytes(jpeg((80, 60))[:-400])
    (folder / "empty.png").write_bytes(b"")
    archive = root / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("sub/a.jpg", jpeg((52, 40), 99))
        zf.writestr("../evil.jpg", jpeg((30, 30)))
        zf.writestr("inner.zip", b"PK\x03\x04")
    return [str(folder), str(archive), str(root / "missing.jpg")]


def run_cli(argv: list[str], capsys) -> tuple[int, list[str], list[str]]:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    return rc, captured.out.splitlines(), [line for line in captured.err.splitlines() if line.startswith("error: ")]


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST_NAME}


# --- without a cluster ------------------------------------------------------------

def test_sources_match_the_serial_batch_items(tmp_path):
    inputs = make_inputs(tmp_path)
    glob_input = str(tmp_path / "photos" / "img[12].jpg")
    uri_input = (tmp_path / "photos" / "img3.jpg").as_uri()
    sources = expand(inputs + [glob_input, uri_input, ("up.png", png_bytes(subject_image((20, 20))))])
    items = collect(inputs + [str(tmp_path / "photos" / "img1.jpg"), str(tmp_path / "photos" / "img2.jpg")])
    assert [(s.name, s.rel, s.refused or None) for s in sources[:len(items)]] == \
           [(i.name, i.rel, i.refused) for i in items]
    uri, upload = sources[-2], sources[-1]
    assert uri.name == uri_input and uri.rel == "img3.jpg"
    assert read_source(uri, JobSpec(out=tmp_path / "o").limits) == (tmp_path / "photos" / "img3.jpg").read_bytes()
    assert upload.data and upload.rel == "up.png"
    member = next(s for s in sources if s.name.endswith(":sub/a.jpg"))
    assert member.member == "sub/a.jpg" and read_source(member, JobSpec(out=tmp_path / "o").limits) == jpeg((52, 40), 99)
    assert all(s.index == i for i, s in enumerate(sources))


def test_manifest_load_skips_a_torn_last_line(tmp_path):
    path = tmp_path / MANIFEST_NAME
    journal = manifest.Journal(path)
    journal.append(manifest.ManifestRow(0, "a.jpg", "ok", output="a.png", key="k0"))
    journal.append(manifest.ManifestRow(1, "b.jpg", "error", reason="not an image"))
    journal.close()
    with open(path, "a") as f:
        f.write('{"index": 2, "input": "c.j')  # the driver was killed mid-write
    rows = manifest.load(path)
    assert [r.input for r in rows] == ["a.jpg", "b.jpg"]
    (tmp_path / "a.png").write_bytes(b"x")
    prev = manifest.Previous.from_rows(rows, tmp_path)
    assert prev.by_key == {"k0": "a.png"} and prev.last_run == 1


def test_actors_times_threads_never_oversubscribe_the_cluster(tmp_path):
    assert plan(JobSpec(out=tmp_path), 2).actors == 2 and plan(JobSpec(out=tmp_path), 2).threads == 1
    two = JobSpec(out=tmp_path, config=SessionConfig(intra_op_num_threads=2))
    assert (plan(two, 8).actors, plan(two, 8).threads, plan(two, 8).cpus_per_actor) == (4, 2, 2)
    assert plan(JobSpec(out=tmp_path, actors=3), 2).actors == 3
    with pytest.raises(ValueError):
        JobSpec(out=tmp_path / "out.zip")


def test_without_ray_the_engine_is_one_error_line_and_exit_2(tmp_path):
    """`sys.modules['ray'] = None` makes `import ray` fail as it does where Ray is not installed."""
    code = ("import sys; sys.modules['ray'] = None; import rembg_core.distributed as d; "
            "assert not d.ray_available(); from rembg_core import cli; "
            f"sys.exit(cli.main(['remove', {str(tmp_path)!r}, '-o', {str(tmp_path / 'out')!r}, '--engine', 'ray']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["error: --engine ray: Ray is not installed; install it with: pip install -e .[ray]"]


# --- on a real local Ray -------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_address():
    from tests.ray_support import local_ray

    with local_ray(num_cpus=2) as address:
        yield address


@pytest.mark.model
@pytest.mark.slow
def test_cli_engine_ray_end_to_end_matches_the_serial_batch(tmp_path, capsys, model_path):
    """A fresh driver process without --address: it starts its own local cluster and stops it."""
    from tests.ray_support import run_watched, wait_gone

    inputs = make_inputs(tmp_path)
    proc, started = run_watched([sys.executable, "-m", "rembg_core", "remove", *inputs, "-o", str(tmp_path / "ray"),
                                 "--engine", "ray", "--batch-size", "3", "--object-store-mb", "80"],
                                timeout=300, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    rc, out = proc.returncode, proc.stdout.splitlines()
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert started and not wait_gone(started), "the driver's local cluster outlived it"
    assert "Traceback" not in proc.stderr and "1 node(s)" in proc.stderr
    # no error-level line from Ray's core worker ("[date E pid tid] core_worker.cc: ...") on a good batch
    assert not [line for line in proc.stderr.splitlines() if re.match(r"\[[^]]* E \d+ \d+\]", line)], proc.stderr
    assert "RayDeprecationWarning" not in proc.stderr
    # the serial batch with the same session flags (the Ray engine's lean default: pattern off, 1 thread)
    rc_serial, _, serial_errors = run_cli(["remove", *inputs, "-o", str(tmp_path / "serial"), "--no-mem-pattern",
                                           "--threads", "1"], capsys)
    assert rc == rc_serial == 3
    assert errors == serial_errors and len(errors) == 6  # notes, cut, empty, ../evil, inner.zip, missing
    ray_out, serial_out = outputs(tmp_path / "ray"), outputs(tmp_path / "serial")
    assert set(ray_out) == set(serial_out) == {"img0.png", "img0-2.png", "img1.png", "img2.png", "img3.png",
                                                "img4.png", "img5.png", "sub/a.png"}
    assert ray_out == serial_out  # byte for byte
    rows = manifest.load(tmp_path / "ray" / MANIFEST_NAME)
    assert [r.index for r in rows] == list(range(len(collect(inputs))))
    assert sum(r.ok for r in rows) == 8 and all(r.output in ray_out for r in rows if r.ok)
    bad = [r for r in rows if not r.ok]
    assert all(r.reason and "\n" not in r.reason and not r.output for r in bad)
    assert all(r.worker and r.run == 1 for r in rows)
    assert all(r.timings.get("inference", 0) > 0 and r.width and r.peak_rss > 0 for r in rows if r.ok)
    assert sum(line.endswith("s)") and " -> " in line for line in out) == 8


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--max-size", "40", "--crop", "--post-process-mask", "--bgcolor", "20,40,60,255"],
                                   ["--only-mask", "--format", "webp", "--threads", "2", "--mem-pattern"],
                                   ["-a", "-ae", "5", "-af", "230"]],
                         ids=["crop-bgcolor", "mask-webp", "edges"])
def test_outputs_are_the_serial_bytes_with_other_flags(tmp_path, capsys, model_path, ray_address, flags):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, size in enumerate(SIZES[:4]):
        (folder / f"p{i}.jpg").write_bytes(jpeg(size, i))
    session = [] if "--threads" in flags else ["--no-mem-pattern", "--threads", "1"]
    assert run_cli(["remove", str(folder), "-o", str(tmp_path / "ray"), "--engine", "ray", *flags], capsys)[0] == 0
    assert run_cli(["remove", str(folder), "-o", str(tmp_path / "serial"), *flags, *session], capsys)[0] == 0
    ray_out = outputs(tmp_path / "ray")
    assert len(ray_out) == 4 and ray_out == outputs(tmp_path / "serial")


@pytest.mark.model
@pytest.mark.slow
def test_a_killed_job_resumes_with_only_the_remainder(tmp_path, capsys, model_path, ray_address):
    folder = tmp_path / "in"
    folder.mkdir()
    n = 14
    for i in range(n):
        (folder / f"p{i:02d}.jpg").write_bytes(jpeg(SIZES[i % len(SIZES)], i))
    (folder / "p07.png").write_bytes(b"not an image either")  # one bad file among them
    out = tmp_path / "out"
    journal = out / MANIFEST_NAME
    argv = ["remove", str(folder), "-o", str(out), "--engine", "ray", "--address", ray_address,
            "--actors", "1", "--batch-size", "1", "--no-progress"]
    from tests.ray_support import descendants, wait_gone

    started: set[int] = set()
    driver = subprocess.Popen([sys.executable, "-m", "rembg_core", *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        deadline = time.monotonic() + 120
        while len(manifest.load(journal)) < 5:  # halfway-ish: some rows are in, most are not
            started |= descendants(driver.pid)
            assert driver.poll() is None, "the driver finished before it could be killed"
            assert time.monotonic() < deadline, "no progress from the driver"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait(timeout=30)
    assert not wait_gone(started), "processes of the killed driver outlived it"
    first = manifest.load(journal)  # read after the kill: every row the dead driver wrote
    done_first = {r.output: (out / r.output).stat().st_mtime_ns for r in first if r.ok}
    assert 4 <= len(first) < n + 1 and done_first

    rc, lines, errors = run_cli(argv, capsys)  # the same job again, on the same cluster
    assert rc == 3 and errors == [f"error: {folder / 'p07.png'}: not an image: this is a text file"]
    final = manifest.load(journal)
    assert [r.index for r in final] == list(range(n + 1))  # compacted: one row per input, in order
    resumed = [r for r in final if r.run == 1]
    assert {r.output for r in resumed if r.ok} == set(done_first)
    assert all(r.run == 2 for r in final if r.output not in done_first)
    assert sum(line.endswith("(done earlier)") for line in lines) == len(done_first)
    # the first run's files were not rewritten; the second run's rows were computed by it
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in done_first.items())
    assert all(r.timings.get("inference", 0) > 0 for r in final if r.ok and r.run == 2)
    assert run_cli(["remove", str(folder), "-o", str(tmp_path / "serial"), "--no-mem-pattern", "--threads", "1"],
                   capsys)[0] == 3
    assert outputs(out) == outputs(tmp_path / "serial") and len(outputs(out)) == n


@pytest.mark.model
@pytest.mark.slow
def test_batch_page_engine_ray_shows_the_same_status_table(model_path, ray_address):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/batch.py").run()
    at.radio(key="batch_source").set_value("Sample set").run()
    at.toggle(key="batch_cache").set_value(False).run()
    at.button(key="batch_run").click().run()
    assert not at.exception
    local = at.session_state["batch_last"]
    at.radio(key="batch_engine").set_value("Ray").run()
    at.button(key="batch_run").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "**damaged.jpg**" in errors[0]
    run = at.session_state["batch_last"]
    assert run.engine == "Ray" and "on Ray" in run.label
    drop = ("time (ms)", "RSS (MB)", "worker")
    assert [{k: v for k, v in r.items() if k not in drop} for r in run.rows] == \
           [{k: v for k, v in r.items() if k not in drop} for r in local.rows]
    assert all(r["worker"] for r in run.rows)
    with zipfile.ZipFile(run.zip_path) as zf:
        assert len(zf.namelist()) == len(run.rows) - 1 and zf.testzip() is None
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images out"] == f"{len(run.rows) - 1} / {len(run.rows)}" and metrics["Refused"] == "1"
