"""Verdicts computed from measured records: one function per claim, records in, ClaimResult out.

Each function reads only the records' values, applies the criterion written in catalog.py and
returns the figures it used, so the screen can show exactly what the verdict rests on.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from ..load.compare import ServedRun, WorkerFigures, compare_preload
from ..measure.analysis import MIN_COVERAGE, median_interval
from ..memory import MB
from .catalog import RELEASE_TARGET, TEMPORARIES_CLAIMED
from .child import WARM
from .records import ClaimResult, Figure, TrialRecord, figure

ARENA_OFF, ARENA_ON = "arena off, pattern off", "arena on, pattern on"
NO_CAP, CAPPED = "no cap", "1600 px"
SHARED, PER_REQUEST = "shared", "per request"
STREAM_GC, STREAM, KEEP = "stream+gc", "stream", "keep"
CLOSE, NO_CLOSE = "close", "no close"
PRELOAD, NO_PRELOAD = "--preload", "--no-preload"
PEAK_SLACK = 1.05  # "peaks no higher": within 5 %
ACCUMULATION_FLOOR = 1 * MB  # per image; RSS jitters by a few hundred KB between readings


def apart(low: Sequence[float], high: Sequence[float]) -> bool:
    """`low` is clearly below `high`: 95 % median intervals that do not overlap, each from enough runs
    to mean something (the sweep's rule: fewer than five timings are a tie)."""
    a, b = median_interval(low), median_interval(high)
    return min(a[2], b[2]) >= MIN_COVERAGE and a[1] < b[0]


def _ok(records: Sequence[TrialRecord], variant: str) -> list[dict]:
    return [r.values for r in records if r.ok and r.variant == variant]


def _failures(records: Sequence[TrialRecord]) -> str:
    bad = [r for r in records if not r.ok]
    return f"{len(bad)} of {len(records)} runs failed: {bad[0].reason}" if bad else "no runs"


def _figs(*figs: Figure | None) -> tuple[Figure, ...]:
    return tuple(f for f in figs if f is not None)


def _count(n: int, total: int) -> str:
    return "every run" if n == total else "no run" if n == 0 else f"{n} of {total} runs"


def _result(claim: str, records: Sequence[TrialRecord]) -> Callable[..., ClaimResult]:
    return lambda verdict, because, figures=(): ClaimResult(claim, verdict, because, tuple(figures), tuple(records))


def arena_off_release(records: Sequence[TrialRecord]) -> ClaimResult:
    done = _result("arena_off_release", records)
    off, on = _ok(records, ARENA_OFF), _ok(records, ARENA_ON)
    ratios = [v["release_ratio"] for v in off if v.get("release_ratio") is not None]
    if not ratios:
        return done("could not tell", "no run with both off rose above its baseline" if off else _failures(records))
    figs = _figs(figure("released, both off", ratios, "%"),
                 figure("kept after the run, both off", [v["retained"] for v in off], "MB", MB),
                 figure("released, both on", [v["release_ratio"] for v in on if v.get("release_ratio") is not None], "%"),
                 figure("kept after the run, both on", [v["retained"] for v in on], "MB", MB))
    n = sum(r >= RELEASE_TARGET for r in ratios)
    verdict = "holds" if n == len(ratios) else "partly" if n else "does not hold"
    return done(verdict, f"{_count(n, len(ratios))} with arena + pattern off released ≥ {RELEASE_TARGET:.0%} "
                         f"(median {statistics.median(ratios):.0%})", figs)


def cap_bounds(records: Sequence[TrialRecord]) -> ClaimResult:
    done = _result("cap_bounds", records)
    free, capped = [v["growth"] for v in _ok(records, NO_CAP)], [v["growth"] for v in _ok(records, CAPPED)]
    if not free or not capped:
        return done("could not tell", _failures(records))
    figs = _figs(figure("growth, no cap", free, "MB", MB), figure("growth, 1600 px cap", capped, "MB", MB),
                 figure("peak, no cap", [v["peak"] for v in _ok(records, NO_CAP)], "MB", MB),
                 figure("peak, 1600 px cap", [v["peak"] for v in _ok(records, CAPPED)], "MB", MB))
    m_free, m_cap = statistics.median(free), statistics.median(capped)
    if max(capped) < min(free):
        verdict = "holds"
    elif m_cap < m_free:
        verdict = "partly"
    else:
        verdict = "does not hold"
    return done(verdict, f"growth {m_cap / MB:.0f} MB with the cap vs {m_free / MB:.0f} MB without "
                         f"({'every' if verdict == 'holds' else 'not every'} capped run below every uncapped one)",
                figs)


def four_k_temporaries(records: Sequence[TrialRecord]) -> ClaimResult:
    done = _result("four_k_temporaries", records)
    free = _ok(records, NO_CAP)
    growth = [v["growth"] for v in free]
    if not growth:
        return done("could not tell", _failures(records))
    size = free[0].get("image_size")
    figs = _figs(figure("growth, 4K, no cap", growth, "MB", MB), figure("peak, 4K, no cap", [v["peak"] for v in free], "MB", MB))
    n = sum(g > TEMPORARIES_CLAIMED for g in growth)
    verdict = "holds" if n == len(growth) else "partly" if n else "does not hold"
    where = f" at {size[0]}×{size[1]}" if size else ""
    return done(verdict, f"{_count(n, len(growth))}{where} grew by more than {TEMPORARIES_CLAIMED / MB:.0f} MB "
                         f"(median {statistics.median(growth) / MB:.0f} MB)", figs)


def shared_session(records: Sequence[TrialRecord]) -> ClaimResult:
    done = _result("shared_session", records)
    shared, per = _ok(records, SHARED), _ok(records, PER_REQUEST)
    lat_s = [x for v in shared for x in v["latencies"]]
    lat_p = [x for v in per for x in v["latencies"]]
    if not lat_s or not lat_p:
        return done("could not tell", _failures(records))
    peak_s, peak_p = statistics.median(v["peak"] for v in shared), statistics.median(v["peak"] for v in per)
    figs = _figs(figure("s/request, shared", lat_s, "s"), figure("s/request, per request", lat_p, "s"),
                 figure("peak, shared", [v["peak"] for v in shared], "MB", MB),
                 figure("peak, per request", [v["peak"] for v in per], "MB", MB),
                 figure("sessions loaded, per request", [v["sessions_loaded"] for v in per], ""))
    faster = apart(lat_s, lat_p)
    leaner = peak_s <= peak_p * PEAK_SLACK
    verdict = "holds" if faster and leaner else "partly" if faster or leaner else "does not hold"
    speed = "faster (intervals apart)" if faster else "not clearly faster (intervals overlap, or too few runs)"
    mem = "no higher" if leaner else "higher"
    return done(verdict, f"shared: {statistics.median(lat_s):.3f} s/request vs {statistics.median(lat_p):.3f} s, "
                         f"{speed}; peak {peak_s / MB:.0f} vs {peak_p / MB:.0f} MB, {mem}", figs)


def growth_per_item(after_each: Sequence[int]) -> float | None:
    """RSS growth per image after the warm-up images; None when the batch is too short."""
    if len(after_each) <= WARM:
        return None
    return (after_each[-1] - after_each[WARM - 1]) / (len(after_each) - WARM)


def accumulates(slope: float, item_bytes: int) -> bool:
    return slope > max(ACCUMULATION_FLOOR, item_bytes / 4)


def _slopes(values: list[dict]) -> list[float]:
    return [s for s in (growth_per_item(v["after_each"]) for v in values) if s is not None]


def stream_gc(records: Sequence[TrialRecord]) -> ClaimResult:
    done = _result("stream_gc", records)
    by = {k: _ok(records, k) for k in (STREAM_GC, STREAM, KEEP)}
    slopes = {k: _slopes(v) for k, v in by.items()}
    if not all(slopes.values()):
        return done("could not tell", _failures(records) if any(not r.ok for r in records) else "batches too short")
    item = max(v["item_bytes"] for vs in by.values() for v in vs)
    grows = {k: accumulates(statistics.median(s), item) for k, s in slopes.items()}
    figs = _figs(*(figure(f"growth per image, {k}", s, "MB", MB) for k, s in slopes.items()))
    per = {k: f"{statistics.median(s) / MB:+.1f} MB" for k, s in slopes.items()}
    line = (f"per image after {WARM} warm-ups: stream+gc {per[STREAM_GC]}, stream {per[STREAM]}, keep {per[KEEP]} "
            f"(accumulation above {max(ACCUMULATION_FLOOR, item / 4) / MB:.1f} MB)")
    if not grows[KEEP]:
        return done("could not tell", "keeping every result did not grow either, so accumulation is not visible "
                                      "at this image size; " + line, figs)
    if grows[STREAM_GC]:
        return done("does not hold", "streaming with gc.collect() still accumulates; " + line, figs)
    if grows[STREAM]:
        return done("holds", "only the gc.collect() stream stays flat; " + line, figs)
    return done("partly", "streaming stops accumulation, gc.collect() adds nothing measurable; " + line, figs)


def close_pillow(records: Sequence[TrialRecord]) -> ClaimResult:
    done = _result("close_pillow", records)
    closed, open_ = _ok(records, CLOSE), _ok(records, NO_CLOSE)
    if not closed or not open_ or not _slopes(closed) or not _slopes(open_):
        return done("could not tell", _failures(records))
    item = max(v["item_bytes"] for v in closed + open_)

    def fds(vs: list[dict]) -> list[int]:
        return [v["fds_each"][-1] - v["fds_before"] for v in vs]

    fd_c, fd_o = statistics.median(fds(closed)), statistics.median(fds(open_))
    grow_c = accumulates(statistics.median(_slopes(closed)), item)
    grow_o = accumulates(statistics.median(_slopes(open_)), item)
    figs = _figs(figure("growth per image, closed", _slopes(closed), "MB", MB),
                 figure("growth per image, not closed", _slopes(open_), "MB", MB),
                 figure("files left open, closed", fds(closed), ""), figure("files left open, not closed", fds(open_), ""))
    matters = fd_o > fd_c or (grow_o and not grow_c)
    line = (f"not closing left {fd_o:.0f} more file(s) open vs {fd_c:.0f}, memory per image "
            f"{statistics.median(_slopes(open_)) / MB:+.1f} vs {statistics.median(_slopes(closed)) / MB:+.1f} MB")
    if matters:
        return done("holds", line, figs)
    return done("does not hold", line + ": dropping the last reference frees the image either way", figs)


def hash_cache(records: Sequence[TrialRecord]) -> ClaimResult:
    done = _result("hash_cache", records)
    runs = [r.values for r in records if r.ok and not r.values.get("errors")]
    if not runs:
        bad = next((r.values["errors"][0] for r in records if r.ok and r.values.get("errors")), None)
        return done("could not tell", f"the batch failed: {bad}" if bad else _failures(records))
    first = [x for v in runs for x in v["first_seconds"]]
    second = [x for v in runs for x in v["second_seconds"]]
    hits = sum(v["second_hits"] for v in runs)
    items = sum(v["items"] for v in runs)
    figs = _figs(figure("s/image, first pass", first, "s"), figure("s/image, second pass", second, "s"),
                 Figure("hits on the second pass", hits, "", runs=1),
                 Figure("re-saved copies that hit", sum(v["resaved_hit"] for v in runs), "", runs=1))
    faster = apart(second, first)
    line = (f"{hits} of {items} repeated images hit; {statistics.median(second):.3f} s vs "
            f"{statistics.median(first):.3f} s per image")
    if hits < items:
        return done("does not hold", line, figs)
    return done("holds" if faster else "partly", line + (" (intervals apart)" if faster else " (intervals overlap, or too few runs)"), figs)


def preload(records: Sequence[TrialRecord]) -> ClaimResult:
    """Per busy worker: PSS with --preload vs without, from runs where every worker served requests."""
    done = _result("preload", records)
    runs = [ServedRun(r.values["label"], bool(r.values["preload"]),
                      tuple(WorkerFigures(w["pid"], w["requests"], w["peak_pss"], w["peak_uss"])
                            for w in r.values["workers"]))
            for r in records if r.ok and r.values.get("workers") is not None]
    if not runs:
        return done("could not tell", _failures(records) if records else
                    "the service could not be started with and without --preload")
    cmp = compare_preload(runs)
    figs = _figs(*(figure(label, values, "MB") for label, values in cmp.figures().items()),
                 figure("requests per worker", [w.requests for run in runs for w in run.workers], ""))
    verdict = {"saves": "holds", "costs": "does not hold", "no difference": "does not hold"}.get(cmp.verdict,
                                                                                               "could not tell")
    return done(verdict, cmp.because, figs)


VERDICT_OF: dict[str, Callable[[Sequence[TrialRecord]], ClaimResult]] = {
    "arena_off_release": arena_off_release, "cap_bounds": cap_bounds, "four_k_temporaries": four_k_temporaries,
    "shared_session": shared_session, "stream_gc": stream_gc, "close_pillow": close_pillow,
    "hash_cache": hash_cache, "preload": preload,
}
