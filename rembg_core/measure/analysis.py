"""From records to conclusions: per-config summaries with intervals, Pareto front, a recommendation
that calls ties, and warnings as data."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..memory import MB
from .configs import ProbeConfig
from .noise import NOISE_FLOOR, percent
from .records import SPREAD_WARN, ProbeRecord


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(low, high, coverage): a distribution-free interval for the median from order statistics.

    The widest symmetric pair x(k), x(n−k+1) whose binomial coverage is still ≥ `level`; with too
    few values to reach `level` it is (min, max) and `coverage` says what it really is.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values")
    if n == 1:
        return xs[0], xs[0], 0.0

    def coverage(k: int) -> float:  # P(x(k) <= median <= x(n-k+1)), k 1-based
        tail = sum(math.comb(n, i) for i in range(k)) / 2 ** n
        return 1.0 - 2.0 * tail

    k = 1
    while k + 1 <= n // 2 and coverage(k + 1) >= level:
        k += 1
    return xs[k - 1], xs[n - k], coverage(k)


@dataclass(frozen=True)
class ConfigSummary:
    """One configuration over all its rounds: pooled latencies, medians of the memory figures."""

    config: ProbeConfig
    records: tuple[ProbeRecord, ...]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def ok_records(self) -> tuple[ProbeRecord, ...]:
        return tuple(r for r in self.records if r.ok and r.latencies)

    @property
    def ok(self) -> bool:
        return bool(self.ok_records)

    @property
    def reason(self) -> str:
        return next((r.reason for r in self.records if not r.ok), "")

    @property
    def latencies(self) -> tuple[float, ...]:
        return tuple(x for r in self.ok_records for x in r.latencies)

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def interval(self) -> tuple[float, float, float] | None:
        return median_interval(self.latencies) if self.latencies else None

    @property
    def spread(self) -> float | None:
        """(max − min) / median over every measured run; ≥ 0.10 means the figures are shaky."""
        xs = self.latencies
        if len(xs) < 2:
            return None
        return (max(xs) - min(xs)) / statistics.median(xs)

    def _median(self, value: Callable[[ProbeRecord], float]) -> float:
        values = [value(r) for r in self.ok_records]
        return float(statistics.median(values)) if values else 0.0

    @property
    def retained(self) -> float:
        return self._median(lambda r: r.memory.retained)

    @property
    def peak(self) -> float:
        return self._median(lambda r: r.memory.peak)

    @property
    def baseline(self) -> float:
        return self._median(lambda r: r.memory.before)

    @property
    def after(self) -> float:
        return self._median(lambda r: r.memory.after)

    @property
    def after_trim(self) -> float:
        return self._median(lambda r: r.after_trim)

    @property
    def release_ratio(self) -> float | None:
        values = [r.memory.release_ratio for r in self.ok_records if r.memory.release_ratio is not None]
        return statistics.median(values) if values else None


def summarize(records: Sequence[ProbeRecord]) -> tuple[ConfigSummary, ...]:
    """Group records by configuration, in the order configurations first appear."""
    groups: dict[ProbeConfig, list[ProbeRecord]] = {}
    for r in records:
        groups.setdefault(r.config, []).append(r)
    return tuple(ConfigSummary(c, tuple(rs)) for c, rs in groups.items())


def pareto_flags(summaries: Sequence[ConfigSummary]) -> tuple[bool, ...]:
    """True for configs no other config beats on all of latency, retained and peak (lower is better)."""
    def key(s: ConfigSummary) -> tuple[float, float, float]:
        return (s.median_latency or 0.0, s.retained, s.peak)

    ok = [s for s in summaries if s.ok]
    out = []
    for s in summaries:
        k = key(s)
        dominated = any(all(a <= b for a, b in zip(key(o), k)) and key(o) != k for o in ok if o is not s)
        out.append(s.ok and not dominated)
    return tuple(out)


MIN_COVERAGE = 0.9  # an interval this unsure of the median (fewer than 5 runs) cannot separate two configs


def runs_needed(level: float = MIN_COVERAGE) -> int:
    """The fewest timings whose (min, max) covers the median with probability ≥ `level` (5 at 0.9)."""
    n = 2
    while 1.0 - 2.0 / 2 ** n < level:
        n += 1
    return n


MIN_RUNS = runs_needed()
MIN_ROUNDS = 2  # memory figures of one fresh process per config carry no spread to compare


def faster(a: ConfigSummary, b: ConfigSummary) -> bool:
    """`a` is faster than `b` only when their median intervals do not overlap, and both intervals
    mean something: one or two timings each are a tie, however far apart."""
    ia, ib = a.interval, b.interval
    return (ia is not None and ib is not None and min(ia[2], ib[2]) >= MIN_COVERAGE and ia[1] < ib[0])


def leaner(a: ConfigSummary, b: ConfigSummary) -> bool:
    """`a` retains less than `b` beyond the noise floor and beyond the spread of their rounds."""
    ra = [r.memory.retained for r in a.ok_records]
    rb = [r.memory.retained for r in b.ok_records]
    return bool(ra and rb) and max(ra) + NOISE_FLOOR <= min(rb)


def insufficient(summaries: Sequence[ConfigSummary], rounds: int) -> str:
    """Why these summaries cannot carry a verdict ("" when they can): too few timings for an interval,
    one round, or nothing that tells the configurations apart."""
    ok = [s for s in summaries if s.ok]
    if not ok:
        return "no configuration completed"
    if len(ok) < 2:
        return "only one configuration completed: nothing to compare it with"
    fewest = min(ok, key=lambda s: len(s.latencies))
    if len(fewest.latencies) < MIN_RUNS:
        n = len(fewest.latencies)
        return (f"{'one sample' if n == 1 else f'{n} samples'} per configuration ({fewest.name}); a 95 % interval "
                f"of the median needs at least {MIN_RUNS} (raise rounds × measured images)")
    if rounds < MIN_ROUNDS:
        return ("one round: each configuration ran in a single process, so its memory figures have no spread "
                f"to compare (use at least {MIN_ROUNDS} rounds)")
    fastest = min(ok, key=lambda s: s.median_latency or 0.0)
    if all(not faster(fastest, s) for s in ok) and all(not leaner(a, b) for a in ok for b in ok):
        return ("every latency interval overlaps and retained memory differs by less than the noise floor "
                "or the spread between rounds: the configurations cannot be told apart here")
    return ""


@dataclass(frozen=True)
class Recommendation:
    """The pick and why, or `why` there is none. `tied` are the configs whose speed could not be told
    from the fastest's."""

    pick: ConfigSummary | None
    fastest: ConfigSummary | None
    leanest: ConfigSummary | None
    tied: tuple[str, ...] = ()
    why: str = ""  # set when there is no verdict: "could not tell" and this reason
    memory_tied: tuple[str, ...] = ()  # tied on speed and within noise of the pick's retained memory

    @property
    def name(self) -> str | None:
        return self.pick.name if self.pick and not self.why else None

    @property
    def text(self) -> str:
        if self.why:
            return f"could not tell: {self.why}"
        p = self.pick
        if p is None or p.median_latency is None:
            return "no configuration completed; nothing to recommend"
        line = (f"recommended: {p.name} — {p.median_latency:.3f} s/image, retains {p.retained / MB:.0f} MB, "
                f"peak {p.peak / MB:.0f} MB")
        f = self.fastest
        if f is not None and f is not p and f.median_latency is not None:
            if p.name in self.tied:
                line += f" (a tie on speed with the fastest, {f.name}, which retains {f.retained / MB:.0f} MB)"
            else:
                line += f" (faster: {f.name}, {f.median_latency:.3f} s, retains {f.retained / MB:.0f} MB)"
        elif len(self.tied) > 1:
            line += f" ({len(self.tied) - 1} other config(s) tie on speed; it keeps the least memory of them)"
        others = [n for n in self.memory_tied if n != p.name]
        if others:
            line += f"; on memory it cannot be told from {', '.join(others)}"
        return line


def recommend(summaries: Sequence[ConfigSummary], rounds: int = MIN_ROUNDS) -> Recommendation:
    """The config that retains least among those whose speed ties with the fastest's.

    "Faster" needs non-overlapping intervals; everything that overlaps the fastest config's
    interval is a tie, and among ties less retained memory wins (then the lower peak). No pick at
    all when the data cannot carry one (see `insufficient`).
    """
    ok = [s for s in summaries if s.ok]
    if not ok:
        return Recommendation(None, None, None, why="no configuration completed")
    fastest = min(ok, key=lambda s: s.median_latency or 0.0)
    tied = [s for s in ok if not faster(fastest, s)]
    pick = min(tied, key=lambda s: (s.retained, s.peak, s.median_latency or 0.0))
    leanest = min(ok, key=lambda s: (s.retained, s.median_latency or 0.0))
    memory_tied = tuple(s.name for s in tied if s is pick or not leaner(pick, s))
    return Recommendation(pick, fastest, leanest, tuple(s.name for s in tied), insufficient(summaries, rounds),
                          memory_tied)


WarningKind = Literal["failed", "noisy", "load"]


@dataclass(frozen=True)
class SweepWarning:
    kind: WarningKind
    message: str
    configs: tuple[str, ...] = ()


def sweep_warnings(summaries: Sequence[ConfigSummary], records: Sequence[ProbeRecord]) -> tuple[SweepWarning, ...]:
    out = [SweepWarning("failed", f"{s.name}: failed — {s.reason}", (s.name,)) for s in summaries if not s.ok]
    noisy = [s for s in summaries if s.ok and s.spread is not None and s.spread >= SPREAD_WARN]
    if noisy:
        worst = max(noisy, key=lambda s: s.spread or 0.0)
        out.append(SweepWarning(
            "noisy", f"latencies varied by {percent(SPREAD_WARN)} or more in {len(noisy)} of {len(summaries)} configs "
            f"(worst {percent(worst.spread)}, {worst.name}): speed differences inside the intervals are ties",
            tuple(s.name for s in noisy)))
    loads = [r.meta["loadavg"][0] for r in records if r.ok and r.meta.get("loadavg")]
    cpus = next((r.meta.get("cpu_count") for r in records if r.ok and r.meta.get("cpu_count")), None)
    if loads and cpus and max(loads) > 0.5 * cpus:
        out.append(SweepWarning("load", f"load average up to {max(loads):.1f} on {cpus} CPUs while measuring: "
                                        "latencies include contention"))
    return tuple(out)


def rss_drift(rss_values: Sequence[int], warmup: int = 5, window: int = 10) -> float | None:
    """Relative RSS growth over a batch after warm-up: median of the last `window` values over
    the median of the first `window` after `warmup`, minus 1. Near 0 means no leak; None when
    the batch is too short to tell."""
    values = list(rss_values)[warmup:]
    if len(values) < 2 * min(window, 2):
        return None
    window = min(window, len(values) // 2)
    first = sorted(values[:window])[window // 2]
    last = sorted(values[-window:])[window // 2]
    return last / first - 1.0 if first else None
