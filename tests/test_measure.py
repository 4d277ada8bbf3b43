"""Isolated runs in real child processes, the sweep and its JSON, the idle policy."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from rembg_core import session as sessions
from rembg_core.idle import IdleReleaser
from rembg_core.measure import report
from rembg_core.measure.analysis import median_interval, pareto_flags, recommend, summarize
from rembg_core.measure.child import FAULT_ENV
from rembg_core.measure.configs import ProbeConfig, config_set
from rembg_core.measure.records import SCHEMA, ProbeRecord
from rembg_core.measure.runner import child_reason, run_idle_probe, run_isolated
from rembg_core.measure.sweep import SweepResult, sweep
from rembg_core.memory import MB, MemoryFigures
from rembg_core.session import SessionConfig
from tests.conftest import ROOT, png_bytes, subject_image

ARENA_OFF = ProbeConfig(SessionConfig(enable_cpu_mem_arena=False))

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory, model_path):
    path = tmp_path_factory.mktemp("bench") / "tiny.png"
    path.write_bytes(png_bytes(subject_image((160, 120))))
    return path


def test_run_isolated_returns_a_full_record(tiny_image):
    record = run_isolated(SessionConfig(), tiny_image, repeats=2, warmups=2)
    assert record.ok, record.reason
    assert len(record.latencies) == 2 and record.median_latency > 0
    m = record.memory
    assert m.peak >= m.after > m.before > record.start_rss > 0
    assert record.to_dict()["baseline"] == m.before and record.to_dict()["retained"] == m.after - m.before
    assert {"load", "preprocess", "inference", "postprocess", "compose", "total"} <= set(record.stages)
    assert record.meta["onnxruntime"] and record.meta["numpy"] and record.meta["pillow"]
    assert record.meta["image_size"] == [160, 120] and record.meta["cpu_count"] >= 1
    labels = {m.label for m in record.trace.marks}
    assert {"session", "warmup", "run", "inference"} <= labels
    assert ProbeRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


@pytest.mark.parametrize("fault, expected", [
    ("abort", "crashed (SIGABRT)"),
    ("exit", "probe: asked to fail"),
    ("garbage", "wrote no valid result"),
])
def test_a_failing_child_comes_back_as_a_record(tiny_image, fault, expected):
    record = run_isolated(ProbeConfig(), tiny_image, repeats=1, warmups=0, env={FAULT_ENV: fault})
    assert not record.ok
    assert record.reason.startswith(expected), record.reason
    assert record.latencies == () and record.median_latency is None


def test_a_hanging_child_is_killed_at_the_timeout(tiny_image):
    t0 = time.monotonic()
    record = run_isolated(ProbeConfig(), tiny_image, repeats=1, timeout=2, env={FAULT_ENV: "hang"})
    assert not record.ok and record.reason.startswith("timed out after 2 s")
    assert time.monotonic() - t0 < 30


def test_child_gets_the_configs_environment(tiny_image):
    config = ProbeConfig(ARENA_OFF.session, env=(("MALLOC_ARENA_MAX", "2"),))
    record = run_isolated(config, tiny_image, repeats=1, warmups=0)
    assert record.ok, record.reason
    assert record.meta["malloc_env"] == {"MALLOC_ARENA_MAX": "2"}
    assert "MALLOC_ARENA_MAX=2" in record.config.name


def test_arena_extend_strategy_runs(tiny_image):
    record = run_isolated(ProbeConfig(arena_extend_strategy="same_as_requested"), tiny_image, repeats=1, warmups=1)
    assert record.ok, record.reason
    with pytest.raises(ValueError):
        ProbeConfig(ARENA_OFF.session, arena_extend_strategy="same_as_requested")


def test_stdout_chatter_does_not_spoil_the_result(tiny_image):
    record = run_isolated(ProbeConfig(), tiny_image, repeats=1, warmups=0, env={FAULT_ENV: "chatty"})
    assert record.ok, record.reason


def test_a_bad_image_fails_with_the_products_one_line_message(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    record = run_isolated(ProbeConfig(), bad, repeats=1, warmups=0)
    assert not record.ok
    assert record.reason == "not an image: this is a text file"


def test_child_reason_drops_the_exception_class():
    assert child_reason("Traceback...\nrembg_core.errors.NotAnImageError: not an image: x\n") == "not an image: x"
    assert child_reason("plain words: kept as they are") == "plain words: kept as they are"


def test_config_sets():
    assert len(config_set("flags")) == 4
    full = config_set("full")
    assert len(full) > 4 and len({c.name for c in full}) == len(full)
    assert ProbeConfig.from_dict(json.loads(json.dumps(full[-1].to_dict()))) == full[-1]
    with pytest.raises(ValueError):
        config_set("everything")


def test_probe_config_keeps_every_session_field():
    cfg = SessionConfig(enable_mem_pattern=False, intra_op_num_threads=1, graph_optimization_level="basic")
    assert ProbeConfig.from_dict(ProbeConfig(cfg).to_dict()).session == cfg
    assert ProbeConfig(cfg).name == "arena on, pattern off, 1 threads, graph basic"


@pytest.mark.parametrize("n, low_rank, coverage", [(5, 1, 0.9375), (9, 2, 0.9609), (20, 6, 0.9586)])
def test_median_interval_is_the_order_statistic_interval(n, low_rank, coverage):
    values = [float(v) for v in range(1, n + 1)]
    low, high, cov = median_interval(values)
    assert (low, high) == (low_rank, n - low_rank + 1)
    assert cov == pytest.approx(coverage, abs=1e-4)


def _record(name, latencies, retained, peak):
    return ProbeRecord(ProbeConfig(name=name), "x.png", True, latencies=tuple(latencies),
                       memory=MemoryFigures(100 * MB, 100 * MB + peak * MB, 100 * MB + retained * MB))


def test_pareto_and_a_clear_speed_win():
    fast = _record("fast", [0.20, 0.21, 0.20, 0.22, 0.21], 400, 500)
    lean = _record("lean", [0.30, 0.31, 0.30, 0.32, 0.31], 30, 300)
    worse = _record("worse", [0.35, 0.36, 0.35, 0.37, 0.36], 40, 350)  # slower, fatter and higher than lean
    failed = ProbeRecord(ProbeConfig(name="broken"), "x.png", False, reason="crashed")
    summaries = summarize([fast, lean, worse, failed])
    assert pareto_flags(summaries) == (True, True, False, False)
    rec = recommend(summaries)
    assert rec.name == "fast" and rec.tied == ("fast",) and rec.leanest.name == "lean"
    assert rec.text.startswith("recommended: fast")


def test_too_few_timings_give_no_verdict_however_far_apart():
    fast = _record("fast", [0.20, 0.21], 400, 500)
    lean = _record("lean", [0.40, 0.41], 30, 300)
    rec = recommend(summarize([fast, lean]))
    assert rec.name is None and rec.text.startswith("could not tell: 2 samples per configuration")
    assert "at least 5" in rec.why


def test_one_round_gives_no_verdict_even_with_enough_timings():
    fast = _record("fast", [0.20, 0.21, 0.20, 0.22, 0.21], 400, 500)
    lean = _record("lean", [0.30, 0.31, 0.30, 0.32, 0.31], 30, 300)
    rec = recommend(summarize([fast, lean]), rounds=1)
    assert rec.name is None and "one round" in rec.why


def test_configs_alike_in_speed_and_memory_cannot_be_told_apart():
    a = _record("a", [0.20, 0.26, 0.21, 0.30, 0.22], 30.2, 300)
    b = _record("b", [0.22, 0.29, 0.23, 0.24, 0.31], 30.0, 300)  # 0.2 MB apart: inside the noise floor
    rec = recommend(summarize([a, b]))
    assert rec.name is None and "cannot be told apart" in rec.why


def test_overlapping_intervals_are_a_tie_and_the_leaner_config_wins():
    fast = _record("fast", [0.20, 0.26, 0.21, 0.30, 0.22], 400, 500)
    lean = _record("lean", [0.22, 0.29, 0.23, 0.24, 0.31], 30, 300)  # median higher, intervals overlap
    rec = recommend(summarize([fast, lean]))
    assert rec.fastest.name == "fast" and set(rec.tied) == {"fast", "lean"}
    assert rec.name == "lean" and "tie" in rec.text


def test_rounds_pool_into_one_summary_per_config():
    a1, a2 = _record("a", [0.2, 0.3], 100, 200), _record("a", [0.25], 120, 210)
    (s,) = summarize([a1, a2])
    assert s.latencies == (0.2, 0.3, 0.25) and s.retained == 110 * MB


def test_noise_is_flagged_once_for_all_configs():
    noisy = [_record(n, [0.2, 0.4, 0.3], 10, 20) for n in "abc"]
    result = SweepResult(tuple(noisy), "x.png", None, 3, 0, 1)
    kinds = [w.kind for w in result.warnings]
    assert kinds.count("noisy") == 1 and result.noisy
    assert result.warnings[0].configs == ("a", "b", "c")


def test_sweep_interleaves_rounds_and_saves_no_paths(tiny_image):
    seen = []
    configs = [ProbeConfig(), ARENA_OFF]
    result = sweep(tiny_image, configs, repeats=1, warmups=1, rounds=2,
                   progress=lambda d, t, r: seen.append((d, t, r.config.name)))
    names = [c.name for c in configs]
    assert seen == [(1, 4, names[0]), (2, 4, names[1]), (3, 4, names[0]), (4, 4, names[1])]
    assert [len(s.latencies) for s in result.summaries] == [2, 2]
    # two timings per config: no interval, so no recommendation, and the JSON says why
    assert result.recommendation.text.startswith("could not tell:")
    doc = result.to_dict()
    assert doc["recommended"] is None and "2 samples" in doc["could_not_tell"]
    assert str(tiny_image.parent) not in json.dumps(doc)
    assert SweepResult.from_dict(json.loads(json.dumps(doc))).records[0].latencies == result.records[0].latencies
    assert report.table(result).count("\n") == 3


@pytest.mark.slow
def test_bench_cli_writes_records_and_arena_off_retains_less(tiny_image, tmp_path):
    out, csv_out = tmp_path / "out.json", tmp_path / "out.csv"
    p = subprocess.run([sys.executable, "-m", "rembg_core", "bench", "--image", str(tiny_image), "--configs", "flags",
                        "--repeats", "1", "--rounds", "1", "--json", str(out), "--csv", str(csv_out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "recommended:" not in p.stdout and "could not tell: one sample" in p.stdout and "s/image" in p.stdout
    assert "None" not in p.stdout
    assert p.stderr.count("[") >= 4  # one progress line per config
    doc = json.loads(out.read_text())
    assert doc["schema"] == SCHEMA
    assert {"image", "max_size", "repeats", "warmups", "rounds", "recommendation", "recommended", "warnings",
            "records"} <= set(doc)
    assert doc["recommended"] is None and doc["could_not_tell"].startswith("one sample per configuration")
    assert len(doc["records"]) == 4
    for r in doc["records"]:
        assert r["ok"], r["reason"]
        assert {"config", "latencies", "median_latency", "spread", "stages", "baseline", "after", "peak",
                "retained", "release_ratio", "trace", "meta"} <= set(r)
        assert {"samples", "marks", "before", "after", "peak"} <= set(r["trace"])
    by = {(r["config"]["session"]["enable_cpu_mem_arena"], r["config"]["session"]["enable_mem_pattern"]): r
          for r in doc["records"]}
    # the arena keeps what it grew to; without it most is handed back (hundreds of MB apart for u2netp)
    for pattern in (True, False):
        assert by[(False, pattern)]["retained"] < by[(True, pattern)]["retained"]
    header = csv_out.read_text().splitlines()[0].split(",")
    assert header[:7] == ["config", "ok", "pareto", "runs", "median_s", "ci_low_s", "ci_high_s"]
    assert {"spread_pct", "release_pct", "retained_mb", "peak_mb"} <= set(header)  # every column names its unit


def test_bench_cli_refuses_a_bad_image_in_one_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    p = subprocess.run([sys.executable, "-m", "rembg_core", "bench", "--image", str(bad)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 3  # ExitCode.REFUSED
    assert p.stderr.strip().splitlines() == [f"error: {bad}: not an image: this is a text file"]


# --- idle policy -------------------------------------------------------------------

def test_idle_releaser_drops_an_idle_session_and_rebuilds_it(model_path):
    config = SessionConfig(enable_mem_pattern=False, intra_op_num_threads=1)  # its own cache entry
    sessions.release(config)
    with IdleReleaser(idle_after=0.3) as policy:
        with policy.lease(config) as first:
            assert config in sessions.cached_configs()
            held_until = time.monotonic() + 2 * policy.idle_after  # past idle_after, but leased: must stay
            while time.monotonic() < held_until:
                assert config in sessions.cached_configs() and policy.releases == 0
                time.sleep(0.05)
        deadline = time.monotonic() + 10
        while policy.releases == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert policy.releases == 1
        assert config not in sessions.cached_configs()
        assert policy.events()[0].idle_seconds >= 0.3
        assert policy.watched() == []
        with policy.lease(config) as again:
            assert config in sessions.cached_configs()
            assert again is not first  # re-created, not the dropped one
        assert policy.idle_seconds(config) is not None
    sessions.release(config)


def test_idle_releaser_leaves_a_busy_config_alone(model_path):
    config = SessionConfig(enable_mem_pattern=False, intra_op_num_threads=1)
    sessions.get_session(config)  # loaded beforehand: only the gaps between uses count
    with IdleReleaser(idle_after=2.0) as policy:
        for _ in range(6):  # used far more often than idle_after
            policy.get(config)
            time.sleep(0.05)
        assert policy.releases == 0
    sessions.release(config)
    with pytest.raises(ValueError):
        IdleReleaser(idle_after=0)


@pytest.mark.slow
def test_idle_probe_gives_the_arena_back(tiny_image):
    record = run_idle_probe(ProbeConfig(), tiny_image, idle_after=0.5, idle_wait=1.5, burst=3)
    assert record.ok, record.reason
    assert record.releases == 1
    assert len(record.latencies) == 3 and record.first_after_idle > 0
    # structural: the session and its arena are gone while idle
    assert record.idle_rss < record.busy_rss - 100 * MB
