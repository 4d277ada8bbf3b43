"""The claims engine: verdicts computed from records (hand-made ones for every branch, and one real
quick run in fresh processes whose verdicts must follow from its own records), saved runs, the CLI."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest

from rembg_core.claims import CLAIMS, ClaimsRun, Plan, TrialRecord, check_claims, load_run
from rembg_core.claims import verdicts as v
from rembg_core.claims.catalog import RELEASE_TARGET, TEMPORARIES_CLAIMED
from rembg_core.claims.report import rows, table
from rembg_core.measure.analysis import median_interval
from rembg_core.memory import MB
from tests.conftest import ROOT, png_bytes, subject_image


def rec(kind: str, variant: str, ok: bool = True, reason: str = "", round: int = 0, **values) -> TrialRecord:
    return TrialRecord(kind, variant, round, ok, reason, "x.png", values)


# --- every branch of every verdict, from hand-made records ----------------------------------

def arena(*ratios: float) -> list[TrialRecord]:
    return [rec("arena", v.ARENA_OFF, release_ratio=r, retained=10 * MB, round=i) for i, r in enumerate(ratios)]


@pytest.mark.parametrize("ratios, verdict", [((0.97, 0.99), "holds"), ((0.97, 0.90), "partly"),
                                             ((0.80, 0.90), "does not hold")])
def test_arena_release_verdicts(ratios, verdict):
    result = v.arena_off_release(arena(*ratios))
    assert result.verdict == verdict
    assert result.figures[0].label == "released, both off" and result.figures[0].runs == len(ratios)


def test_a_failed_child_means_could_not_tell_with_its_reason():
    result = v.arena_off_release([rec("arena", v.ARENA_OFF, ok=False, reason="crashed (SIGKILL)")])
    assert result.verdict == "could not tell" and "crashed (SIGKILL)" in result.because and not result.figures


@pytest.mark.parametrize("free, capped, verdict", [
    ((500, 520), (200, 210), "holds"), ((500, 300), (310, 200), "partly"), ((200, 210), (220, 230), "does not hold")])
def test_cap_verdicts(free, capped, verdict):
    records = [rec("cap", v.NO_CAP, growth=g * MB, peak=g * MB) for g in free]
    records += [rec("cap", v.CAPPED, growth=g * MB, peak=g * MB) for g in capped]
    assert v.cap_bounds(records).verdict == verdict


@pytest.mark.parametrize("growths, verdict", [((1600, 1700), "holds"), ((1600, 1400), "partly"),
                                              ((300, 400), "does not hold"), ((), "could not tell")])
def test_four_k_verdicts(growths, verdict):
    records = [rec("cap", v.NO_CAP, growth=g * MB, peak=g * MB, image_size=[3840, 2160]) for g in growths]
    assert v.four_k_temporaries(records).verdict == verdict


@pytest.mark.parametrize("shared_s, per_s, shared_peak, per_peak, verdict", [
    ((0.2, 0.21, 0.22, 0.2, 0.21), (0.5, 0.55, 0.6, 0.5, 0.55), 300, 600, "holds"),
    ((0.2, 0.21, 0.22, 0.2, 0.21), (0.5, 0.55, 0.6, 0.5, 0.55), 900, 600, "partly"),  # faster, peaks higher
    ((0.2, 0.21, 0.22), (0.5, 0.55, 0.6), 300, 600, "partly"),  # leaner; three timings each: a tie
    ((0.2, 0.5, 0.3, 0.3, 0.2), (0.25, 0.45, 0.35, 0.3, 0.4), 900, 600, "does not hold")])
def test_shared_session_verdicts(shared_s, per_s, shared_peak, per_peak, verdict):
    records = [rec("sessions", v.SHARED, latencies=list(shared_s), peak=shared_peak * MB, sessions_loaded=1),
               rec("sessions", v.PER_REQUEST, latencies=list(per_s), peak=per_peak * MB, sessions_loaded=3)]
    assert v.shared_session(records).verdict == verdict


def flat(n: int = 6) -> list[int]:
    return [100 * MB] * n


def growing(per: float, n: int = 6) -> list[int]:
    return [int(100 * MB + i * per * MB) for i in range(n)]


@pytest.mark.parametrize("gc_, nogc, keep, verdict", [
    (flat(), growing(5), growing(5), "holds"), (flat(), flat(), growing(5), "partly"),
    (growing(5), growing(5), growing(5), "does not hold"), (flat(), flat(), flat(), "could not tell")])
def test_stream_verdicts(gc_, nogc, keep, verdict):
    records = [rec("stream", name, after_each=series, item_bytes=MB)
               for name, series in ((v.STREAM_GC, gc_), (v.STREAM, nogc), (v.KEEP, keep))]
    result = v.stream_gc(records)
    assert result.verdict == verdict
    if verdict == "could not tell":  # the control that keeps every result must show accumulation
        assert "keeping every result did not grow" in result.because


@pytest.mark.parametrize("open_fds, open_rss, verdict", [(3, flat(), "holds"), (0, growing(4), "holds"),
                                                         (0, flat(), "does not hold")])
def test_pillow_verdicts(open_fds, open_rss, verdict):
    records = [rec("pillow", v.CLOSE, after_each=flat(), fds_each=[5] * 6, fds_before=5, item_bytes=MB),
               rec("pillow", v.NO_CLOSE, after_each=open_rss, fds_each=[5] * 5 + [5 + open_fds], fds_before=5,
                   item_bytes=MB)]
    assert v.close_pillow(records).verdict == verdict


@pytest.mark.parametrize("hits, second, verdict", [(5, [0.001] * 5, "holds"), (5, [0.2, 0.5, 0.3, 0.4, 0.3], "partly"),
                                                   (1, [0.001] * 5, "does not hold")])
def test_cache_verdicts(hits, second, verdict):
    records = [rec("cache", "two passes", first_seconds=[0.3, 0.35, 0.4, 0.3, 0.35], second_seconds=second,
                   second_hits=hits, items=5, errors=[], resaved_hit=False)]
    assert v.hash_cache(records).verdict == verdict


def served(preload: bool, round_: int, *pss_and_requests) -> TrialRecord:
    workers = [{"pid": 100 + i, "requests": n, "peak_pss": pss * MB, "peak_uss": (pss - 20) * MB}
               for i, (pss, n) in enumerate(pss_and_requests)]
    return TrialRecord("preload", v.PRELOAD if preload else v.NO_PRELOAD, round_, True, "", "x.png",
                       {"label": f"round {round_ + 1}", "preload": preload, "workers": workers})


def test_preload_is_never_claimed_without_a_measurement():
    assert v.preload([]).verdict == "could not tell" and v.preload([]).figures == ()


def test_preload_verdict_counts_busy_workers_only():
    both_busy = [served(True, 0, (200, 4), (202, 4)), served(False, 0, (240, 4), (238, 4)),
                 served(True, 1, (201, 3), (203, 5)), served(False, 1, (241, 5), (239, 3))]
    r = v.preload(both_busy)
    assert r.verdict == "holds" and "per busy worker" in r.because
    assert any(f.label == "PSS per busy worker, preload" and f.value == pytest.approx(201.5) for f in r.figures)
    # the case: without preload one of two workers sat idle at a small PSS, which looks like a saving
    idle = both_busy[:3] + [served(False, 1, (90, 0), (330, 8))]
    r = v.preload(idle)
    assert r.verdict == "could not tell" and "served no request" in r.because and "1 without" in r.because
    assert v.preload(both_busy[:2]).verdict == "could not tell"  # one run per arm has no spread


# --- saved runs -----------------------------------------------------------------------------

def test_a_saved_run_round_trips_and_must_say_where_and_when():
    run = ClaimsRun((v.arena_off_release(arena(0.97, 0.99)), v.preload([])),
                    {"when": "2026-01-01T00:00:00+00:00", "where": "host", "machine": {"summary": "cpu"},
                     "command": "python -m rembg_core claims", "loadavg_start": [0.5, 0.4, 0.3]})
    back = load_run(run.to_json())
    assert back.results == run.results and back.meta == run.meta
    assert "2026-01-01" in back.provenance and "host" in back.provenance
    anonymous = json.loads(run.to_json())
    del anonymous["meta"]["when"]
    with pytest.raises(ValueError, match="does not say its when"):
        load_run(json.dumps(anonymous))
    with pytest.raises(ValueError, match="not a saved claims run"):
        load_run(b'{"schema": "something else"}')
    with pytest.raises(ValueError, match="not JSON"):
        load_run(b"\x89PNG")


def test_the_documented_run_loads_and_says_where_and_when():
    run = load_run(ROOT / "docs" / "claims-run.json")
    assert [r.claim for r in run.results] == [c.id for c in CLAIMS]
    assert run.meta["when"].startswith("2026-") and "claims --json" in run.meta["command"]


# --- one real quick run: fresh processes, and each verdict must follow from its records -------

@pytest.fixture(scope="module")
def real_run(tmp_path_factory, model_path) -> ClaimsRun:
    path = tmp_path_factory.mktemp("claims") / "photo.png"
    path.write_bytes(png_bytes(subject_image((640, 480))))
    plan = Plan(rounds=1, items=5, cache_items=2, requests=2, threads=2, big_size=(2400, 1350), timeout=240)
    return check_claims(path, plan=plan, command="pytest tests/test_claims.py")


def values(result, variant):
    return [r.values for r in result.records if r.ok and r.variant == variant]


@pytest.mark.model
@pytest.mark.slow
def test_real_run_covers_every_claim_with_provenance(real_run):
    assert [r.claim for r in real_run.results] == [c.id for c in CLAIMS]
    assert {"when", "where", "machine", "command", "loadavg_start"} <= set(real_run.meta)
    assert all(not rec.image.startswith("/") for r in real_run.results for rec in r.records)  # names, not paths
    measured = real_run.results
    assert all(r.figures for r in measured), [r.claim for r in measured if not r.figures]
    assert all(r.records and all(rec.ok for rec in r.records) for r in measured), [
        (r.claim, [rec.reason for rec in r.records if not rec.ok]) for r in measured]
    assert load_run(real_run.to_json()).results == real_run.results
    assert len(rows(real_run)) == len(CLAIMS) and real_run.meta["command"] in table(real_run)


@pytest.mark.model
@pytest.mark.slow
def test_real_verdicts_follow_from_their_records(real_run):
    r = real_run.result("arena_off_release")
    ratios = [x["release_ratio"] for x in values(r, v.ARENA_OFF)]
    assert r.verdict == ("holds" if all(x >= RELEASE_TARGET for x in ratios) else
                         "partly" if any(x >= RELEASE_TARGET for x in ratios) else "does not hold")
    assert f"{statistics.median(ratios):.0%}" in r.because

    r = real_run.result("cap_bounds")
    free = [x["growth"] for x in values(r, v.NO_CAP)]
    capped = [x["growth"] for x in values(r, v.CAPPED)]
    assert [x["image_size"] for x in values(r, v.CAPPED)] == [[1600, 900]]
    assert (r.verdict == "holds") == (max(capped) < min(free))

    r = real_run.result("four_k_temporaries")
    assert (r.verdict == "does not hold") == all(g <= TEMPORARIES_CLAIMED for g in free)

    r = real_run.result("shared_session")
    shared, per = values(r, v.SHARED)[0], values(r, v.PER_REQUEST)[0]
    assert shared["sessions_loaded"] == 1 and per["sessions_loaded"] == 2
    s_int, p_int = median_interval(shared["latencies"]), median_interval(per["latencies"])
    faster = min(s_int[2], p_int[2]) >= 0.9 and s_int[1] < p_int[0]
    leaner = shared["peak"] <= per["peak"] * v.PEAK_SLACK
    assert r.verdict == {(True, True): "holds", (False, False): "does not hold"}.get((faster, leaner), "partly")

    r = real_run.result("stream_gc")
    keep = v.growth_per_item(values(r, v.KEEP)[0]["after_each"])
    item = values(r, v.KEEP)[0]["item_bytes"]
    assert item == 4 * 640 * 480 and v.accumulates(keep, item)  # the control sees results piling up
    assert r.verdict != "could not tell"

    r = real_run.result("close_pillow")
    left_open = [x["fds_each"][-1] - x["fds_before"] for x in values(r, v.NO_CLOSE)]
    assert (r.verdict == "holds") == (left_open[0] > 0 or v.accumulates(
        v.growth_per_item(values(r, v.NO_CLOSE)[0]["after_each"]), item)), r.because

    r = real_run.result("hash_cache")
    run = r.records[0].values
    assert run["first_hits"] == 0 and not run["resaved_hit"]
    assert (r.verdict == "does not hold") == (run["second_hits"] < run["items"])


# --- the CLI --------------------------------------------------------------------------------

def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rembg_core", "claims", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_refuses_a_bad_image_in_one_line(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = cli("--image", str(bad))
    assert out.returncode == 3 and out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith(f"error: {bad}: ") and "Traceback" not in out.stderr


@pytest.mark.model
def test_cli_saves_a_run_that_says_where_and_when(tmp_path, model_path):
    saved = tmp_path / "claims.json"
    out = cli("--only", "close_pillow", "--only", "preload", "--json", str(saved), timeout=600)
    assert out.returncode == 0, out.stderr
    run = load_run(saved)
    assert [r.claim for r in run.results] == ["close_pillow", "preload"]
    assert "claims --only close_pillow" in run.meta["command"] and run.provenance in out.stdout
    assert run.result("close_pillow").verdict in ("holds", "does not hold")
    pre = run.result("preload")  # the real service, started with and without --preload, two rounds each
    assert len(pre.records) >= 4 and pre.figures, pre.because
    assert pre.verdict != "could not tell" or "served no request" in pre.because or "overlap" in pre.because
    assert {f.label for f in pre.figures} >= {"PSS per busy worker, preload", "requests per worker"}


def test_the_cache_batch_is_six_different_pictures():
    import io

    import numpy as np
    from PIL import Image

    from rembg_core.claims.child import _variants

    blobs = _variants(png_bytes(subject_image((64, 48)).rotate(10)), 6)
    pixels = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs]
    assert len({(p.shape, p.tobytes()) for p in pixels}) == 6  # none repeats: a first pass has no hits
