"""Isolated measurements and the config sweep.

Each configuration runs in a fresh interpreter (`python -m rembg_core probe`, JSON on stdout),
so one configuration's arena and heap cannot colour the next one's figures; the child's
ru_maxrss is the exact peak. A child that crashes, hangs or prints garbage comes back as a
record with ok=False and a reason, never as an exception here.
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .memory import MB, MemoryTrace, release_ratio

SCHEMA = "rembg-lab/bench/1"
SPREAD_WARN = 0.10  # (max - min) / median of the repeats
STRATEGIES = {"next_power_of_two": 0, "same_as_requested": 1}


@dataclass(frozen=True)
class BenchConfig:
    """One point of a sweep: a SessionConfig plus what SessionConfig does not carry.

    `arena_extend_strategy` (None = ORT's default, kNextPowerOfTwo) is applied through a shared
    CPU arena registered on ORT's environment (OrtArenaCfg + create_and_register_allocator)
    and the session entry `session.use_env_allocators=1`; it is process-wide, which is fine in
    a child that measures one configuration. `env` is set in the child's environment before
    Python starts (glibc reads MALLOC_ARENA_MAX and friends once, at start-up).
    """

    model: str = "u2netp"
    enable_cpu_mem_arena: bool = True
    enable_mem_pattern: bool = True
    arena_shrinkage: bool = False
    intra_op_num_threads: int = 0
    arena_extend_strategy: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    name: str = ""  # short label; derived from the flags when empty

    def __post_init__(self) -> None:
        if not self.enable_cpu_mem_arena and self.arena_shrinkage:
            object.__setattr__(self, "arena_shrinkage", False)  # as SessionConfig: no arena, nothing to shrink
        if self.arena_extend_strategy is not None:
            if self.arena_extend_strategy not in STRATEGIES:
                raise ValueError(f"arena_extend_strategy must be one of {', '.join(STRATEGIES)}")
            if not self.enable_cpu_mem_arena:
                raise ValueError("arena_extend_strategy needs the arena on")
        if not self.name:
            object.__setattr__(self, "name", self._derive_name())

    def _derive_name(self) -> str:
        parts = [f"arena {'on' if self.enable_cpu_mem_arena else 'off'}",
                 f"pattern {'on' if self.enable_mem_pattern else 'off'}"]
        if self.arena_shrinkage:
            parts.append("shrink")
        if self.intra_op_num_threads:
            parts.append(f"{self.intra_op_num_threads} thr")
        if self.arena_extend_strategy:
            parts.append(f"extend {self.arena_extend_strategy}")
        parts += [f"{k}={v}" for k, v in self.env]
        return ", ".join(parts)

    def session_config(self):
        from .session import SessionConfig

        return SessionConfig(model=self.model, enable_cpu_mem_arena=self.enable_cpu_mem_arena,
                             enable_mem_pattern=self.enable_mem_pattern, arena_shrinkage=self.arena_shrinkage,
                             intra_op_num_threads=self.intra_op_num_threads)

    def to_dict(self) -> dict:
        return {"model": self.model, "enable_cpu_mem_arena": self.enable_cpu_mem_arena,
                "enable_mem_pattern": self.enable_mem_pattern, "arena_shrinkage": self.arena_shrinkage,
                "intra_op_num_threads": self.intra_op_num_threads,
                "arena_extend_strategy": self.arena_extend_strategy,
                "env": dict(self.env), "name": self.name}

    @classmethod
    def from_dict(cls, d: dict) -> "BenchConfig":
        return cls(model=d.get("model", "u2netp"), enable_cpu_mem_arena=bool(d.get("enable_cpu_mem_arena", True)),
                   enable_mem_pattern=bool(d.get("enable_mem_pattern", True)),
                   arena_shrinkage=bool(d.get("arena_shrinkage", False)),
                   intra_op_num_threads=int(d.get("intra_op_num_threads", 0)),
                   arena_extend_strategy=d.get("arena_extend_strategy"),
                   env=tuple(sorted((str(k), str(v)) for k, v in (d.get("env") or {}).items())),
                   name=d.get("name", ""))

    @classmethod
    def from_session_config(cls, cfg, **extra) -> "BenchConfig":
        return cls(model=cfg.model, enable_cpu_mem_arena=cfg.enable_cpu_mem_arena,
                   enable_mem_pattern=cfg.enable_mem_pattern, arena_shrinkage=cfg.arena_shrinkage,
                   intra_op_num_threads=cfg.intra_op_num_threads, **extra)



# --- records --------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeRecord:
    """One configuration measured in one fresh child process.

    RSS figures are bytes. `baseline` is RSS after the session loaded and before any image;
    `after` is RSS after the last repeat; `peak` is the child's ru_maxrss (exact).
    """

    config: BenchConfig
    image: str
    ok: bool
    reason: str = ""
    max_size: int | None = None
    repeats: int = 0
    warmups: int = 0
    latencies: tuple[float, ...] = ()  # seconds, bytes in → RGBA image out, per measured repeat
    stages: dict[str, float] = field(default_factory=dict, compare=False)  # median seconds per stage
    start_rss: int = 0  # after imports, before the session
    baseline: int = 0
    after: int = 0
    after_trim: int = 0  # after gc + malloc_trim: what the process could give back without dropping the session
    peak: int = 0
    load_seconds: float = 0.0
    wall: float = 0.0  # the child's whole life, seconds
    returncode: int | None = None
    trace: MemoryTrace | None = field(default=None, compare=False, repr=False)
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def spread(self) -> float | None:
        """(max − min) / median of the repeats; ≥ 0.10 means the figures are shaky."""
        if len(self.latencies) < 2:
            return None
        return (max(self.latencies) - min(self.latencies)) / statistics.median(self.latencies)

    @property
    def retained(self) -> int:
        """after − baseline: what the runs left resident (the arena, mostly)."""
        return self.after - self.baseline

    @property
    def growth(self) -> int:
        """peak − baseline."""
        return self.peak - self.baseline

    @property
    def release_ratio(self) -> float | None:
        return release_ratio(self.baseline, self.peak, self.after)

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(), "image": self.image, "ok": self.ok, "reason": self.reason,
            "max_size": self.max_size, "repeats": self.repeats, "warmups": self.warmups,
            "latencies": list(self.latencies), "median_latency": self.median_latency, "spread": self.spread,
            "stages": dict(self.stages), "start_rss": self.start_rss, "baseline": self.baseline,
            "after": self.after, "after_trim": self.after_trim, "peak": self.peak,
            "retained": self.retained, "growth": self.growth, "release_ratio": self.release_ratio,
            "load_seconds": self.load_seconds, "wall": self.wall, "returncode": self.returncode,
            "trace": self.trace.to_dict() if self.trace else None, "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ProbeRecord":
        return cls(
            config=BenchConfig.from_dict(d["config"]), image=d["image"], ok=bool(d["ok"]),
            reason=d.get("reason", ""), max_size=d.get("max_size"), repeats=int(d.get("repeats", 0)),
            warmups=int(d.get("warmups", 0)), latencies=tuple(d.get("latencies", ())),
            stages=dict(d.get("stages") or {}), start_rss=int(d.get("start_rss", 0)),
            baseline=int(d.get("baseline", 0)), after=int(d.get("after", 0)),
            after_trim=int(d.get("after_trim", 0)), peak=int(d.get("peak", 0)),
            load_seconds=float(d.get("load_seconds", 0.0)), wall=float(d.get("wall", 0.0)),
            returncode=d.get("returncode"),
            trace=MemoryTrace.from_dict(d["trace"]) if d.get("trace") else None, meta=dict(d.get("meta") or {}),
        )


@dataclass(frozen=True)
class IdleRecord:
    """A burst through IdleReleaser, an idle stretch past its limit, then one more request."""

    config: BenchConfig
    image: str
    ok: bool
    reason: str = ""
    idle_after: float = 0.0
    idle_wait: float = 0.0
    latencies: tuple[float, ...] = ()  # the burst
    first_after_idle: float = 0.0  # includes re-creating the session
    baseline: int = 0
    busy_rss: int = 0  # at the end of the burst
    idle_rss: int = 0  # after idling past the limit
    peak: int = 0
    releases: int = 0
    trace: MemoryTrace | None = field(default=None, compare=False, repr=False)
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def burst_latency(self) -> float | None:
        """Median of the burst after its first request (which builds the session)."""
        steady = self.latencies[2:] or self.latencies
        return statistics.median(steady) if steady else None

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "image": self.image, "ok": self.ok, "reason": self.reason,
                "idle_after": self.idle_after, "idle_wait": self.idle_wait, "latencies": list(self.latencies),
                "burst_latency": self.burst_latency, "first_after_idle": self.first_after_idle,
                "baseline": self.baseline, "busy_rss": self.busy_rss, "idle_rss": self.idle_rss,
                "peak": self.peak, "releases": self.releases,
                "trace": self.trace.to_dict() if self.trace else None, "meta": self.meta}


# --- the child ------------------------------------------------------------------

def _child_env(config: BenchConfig, env: dict[str, str] | None) -> dict[str, str]:
    """The parent's environment, this package importable, then the config's and the caller's vars."""
    out = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (root, out.get("PYTHONPATH", "")) if p)
    out.update(dict(config.env))
    out.update(env or {})
    return out


def _signal_name(code: int) -> str:
    import signal

    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def spawn_probe(spec: dict, config: BenchConfig, *, timeout: float,
                env: dict[str, str] | None = None) -> tuple[dict | None, str, int | None, float]:
    """Run one probe child. Returns (payload or None, reason when None, returncode, wall seconds)."""
    import time

    cmd = [sys.executable, "-m", "rembg_core", "probe", "--spec", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=_child_env(config, env), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:g} s (child killed)", None, time.perf_counter() - t0
    except OSError as exc:
        return None, f"could not start the child: {exc}", None, time.perf_counter() - t0
    wall = time.perf_counter() - t0
    last_err = next((line for line in reversed(proc.stderr.strip().splitlines()) if line.strip()), "")
    if proc.returncode < 0:
        return None, f"crashed ({_signal_name(proc.returncode)})" + (f": {last_err}" if last_err else ""), \
            proc.returncode, wall
    if proc.returncode != 0:
        return None, f"exited with status {proc.returncode}" + (f": {last_err}" if last_err else ""), \
            proc.returncode, wall
    try:
        payload = json.loads(proc.stdout)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:
        return None, f"printed no valid JSON ({proc.stdout[:60]!r})", proc.returncode, wall
    return payload, "", proc.returncode, wall


def run_isolated(config: BenchConfig, image_path: str | os.PathLike, *, max_size: int | None = None,
                 repeats: int = 5, warmups: int = 2, timeout: float = 120, env: dict[str, str] | None = None,
                 interval: float = 0.005) -> ProbeRecord:
    """Measure `config` on one image in a fresh interpreter. Never raises for a failing child."""
    if not isinstance(config, BenchConfig):  # a SessionConfig is welcome too
        config = BenchConfig.from_session_config(config)
    image = str(Path(image_path).resolve())
    spec = {"mode": "run", "config": config.to_dict(), "image": image, "max_size": max_size,
            "repeats": repeats, "warmups": warmups, "interval": interval}
    payload, reason, code, wall = spawn_probe(spec, config, timeout=timeout, env=env)
    common = dict(config=config, image=image, max_size=max_size, repeats=repeats, warmups=warmups,
                  wall=wall, returncode=code)
    if payload is None:
        return ProbeRecord(ok=False, reason=reason, **common)
    try:
        return ProbeRecord(
            ok=True, latencies=tuple(payload["latencies"]), stages=payload["stages"],
            start_rss=payload["start_rss"], baseline=payload["baseline"], after=payload["after"],
            after_trim=payload["after_trim"], peak=payload["peak"], load_seconds=payload["load_seconds"],
            trace=MemoryTrace.from_dict(payload["trace"]), meta=payload["meta"], **common)
    except (KeyError, TypeError, ValueError) as exc:
        return ProbeRecord(ok=False, reason=f"child's JSON lacks {exc}", **common)


def run_idle_probe(config: BenchConfig, image_path: str | os.PathLike, *, idle_after: float = 2.0,
                   idle_wait: float | None = None, burst: int = 6, max_size: int | None = None,
                   timeout: float = 120, env: dict[str, str] | None = None) -> IdleRecord:
    """Burst → idle past `idle_after` → one more request, through IdleReleaser, in a fresh child."""
    if not isinstance(config, BenchConfig):
        config = BenchConfig.from_session_config(config)
    image = str(Path(image_path).resolve())
    idle_wait = idle_after * 2 + 0.5 if idle_wait is None else idle_wait
    spec = {"mode": "idle", "config": config.to_dict(), "image": image, "max_size": max_size,
            "idle_after": idle_after, "idle_wait": idle_wait, "burst": burst}
    payload, reason, _, _ = spawn_probe(spec, config, timeout=timeout, env=env)
    common = dict(config=config, image=image, idle_after=idle_after, idle_wait=idle_wait)
    if payload is None:
        return IdleRecord(ok=False, reason=reason, **common)
    return IdleRecord(ok=True, latencies=tuple(payload["latencies"]),
                      first_after_idle=payload["first_after_idle"], baseline=payload["baseline"],
                      busy_rss=payload["busy_rss"], idle_rss=payload["idle_rss"], peak=payload["peak"],
                      releases=payload["releases"], trace=MemoryTrace.from_dict(payload["trace"]),
                      meta=payload["meta"], **common)


# --- the sweep --------------------------------------------------------------------

def config_set(kind: str = "flags", model: str = "u2netp") -> list[BenchConfig]:
    """`flags`: arena × mem pattern. `full`: those plus shrinkage, threads, the arena's extend
    strategy and glibc allocator settings for the child."""
    if kind not in ("flags", "full"):
        raise ValueError("configs must be 'flags' or 'full'")
    flags = [BenchConfig(model=model, enable_cpu_mem_arena=a, enable_mem_pattern=p)
             for a in (True, False) for p in (True, False)]
    if kind == "flags":
        return flags
    cpus = os.cpu_count() or 1
    extra = [
        BenchConfig(model=model, arena_shrinkage=True),
        BenchConfig(model=model, enable_mem_pattern=False, arena_shrinkage=True),
        BenchConfig(model=model, intra_op_num_threads=1),
        *([BenchConfig(model=model, intra_op_num_threads=cpus)] if cpus > 1 else []),
        BenchConfig(model=model, arena_extend_strategy="same_as_requested"),
        BenchConfig(model=model, env=(("MALLOC_ARENA_MAX", "2"),)),
        BenchConfig(model=model, enable_cpu_mem_arena=False, enable_mem_pattern=False,
                    env=(("MALLOC_ARENA_MAX", "2"),)),
        BenchConfig(model=model, enable_cpu_mem_arena=False, enable_mem_pattern=False,
                    env=(("MALLOC_ARENA_MAX", "2"), ("MALLOC_TRIM_THRESHOLD_", str(16 * MB)))),
    ]
    return flags + extra


def pareto_flags(records: Sequence[ProbeRecord]) -> tuple[bool, ...]:
    """True for records no other record beats on all of latency, retained and peak (lower is better)."""
    def key(r: ProbeRecord) -> tuple[float, float, float]:
        return (r.median_latency or 0.0, float(r.retained), float(r.peak))

    ok = [r for r in records if r.ok and r.latencies]
    out = []
    for r in records:
        if not (r.ok and r.latencies):
            out.append(False)
            continue
        k = key(r)
        dominated = any(all(a <= b for a, b in zip(key(o), k)) and key(o) != k for o in ok if o is not r)
        out.append(not dominated)
    return tuple(out)


def recommend(records: Sequence[ProbeRecord], pareto: Sequence[bool], slack: float = 0.15) -> str:
    """One line: the config that retains least among those within `slack` of the fastest."""
    good = [r for r, p in zip(records, pareto) if p]
    if not good:
        return "no configuration completed; nothing to recommend"
    fastest = min(good, key=lambda r: r.median_latency)
    near = [r for r in good if r.median_latency <= fastest.median_latency * (1 + slack)]
    pick = min(near, key=lambda r: (r.retained, r.median_latency))
    leanest = min(good, key=lambda r: (r.retained, r.median_latency))
    line = (f"recommended: {pick.config.name} — {pick.median_latency:.3f} s/image, retains "
            f"{pick.retained / MB:.0f} MB, peak {pick.peak / MB:.0f} MB")
    if pick is not fastest:
        line += f" (fastest: {fastest.config.name}, {fastest.median_latency:.3f} s, retains {fastest.retained / MB:.0f} MB)"
    if leanest is not pick:
        line += (f"; leanest: {leanest.config.name}, retains {leanest.retained / MB:.0f} MB at "
                 f"{leanest.median_latency:.3f} s")
    return line


def sweep_warnings(records: Sequence[ProbeRecord]) -> tuple[str, ...]:
    out = []
    for r in records:
        if not r.ok:
            out.append(f"{r.config.name}: failed — {r.reason}")
        elif r.spread is not None and r.spread >= SPREAD_WARN:
            out.append(f"{r.config.name}: latency spread {r.spread:.0%} over {len(r.latencies)} repeats "
                       "(machine busy?) — compare its latency with care")
    load = next((r.meta.get("loadavg") for r in records if r.ok and r.meta.get("loadavg")), None)
    cpus = next((r.meta.get("cpu_count") for r in records if r.ok and r.meta.get("cpu_count")), None)
    if load and cpus and load[0] > 0.5 * cpus:
        out.append(f"load average {load[0]:.1f} on {cpus} CPUs when measuring: latencies include contention")
    return tuple(out)


@dataclass(frozen=True)
class SweepResult:
    records: tuple[ProbeRecord, ...]
    pareto: tuple[bool, ...]
    recommendation: str
    warnings: tuple[str, ...]
    image: str
    max_size: int | None
    repeats: int
    warmups: int

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "image": self.image, "max_size": self.max_size, "repeats": self.repeats,
                "warmups": self.warmups, "recommendation": self.recommendation, "warnings": list(self.warnings),
                "records": [dict(r.to_dict(), pareto=p) for r, p in zip(self.records, self.pareto)]}

    @classmethod
    def from_dict(cls, d: dict) -> "SweepResult":
        records = tuple(ProbeRecord.from_dict(r) for r in d["records"])
        return cls(records, tuple(bool(r.get("pareto")) for r in d["records"]), d["recommendation"],
                   tuple(d.get("warnings", ())), d["image"], d.get("max_size"), int(d["repeats"]),
                   int(d["warmups"]))

    def rows(self) -> list[dict]:
        """One flat row per record: what the table, the CSV and the dashboard show."""
        out = []
        for r, p in zip(self.records, self.pareto):
            out.append({
                "config": r.config.name, "ok": r.ok, "pareto": p,
                "median_s": round(r.median_latency, 4) if r.median_latency is not None else None,
                "spread": round(r.spread, 3) if r.spread is not None else None,
                "baseline_mb": round(r.baseline / MB, 1), "peak_mb": round(r.peak / MB, 1),
                "after_mb": round(r.after / MB, 1), "retained_mb": round(r.retained / MB, 1),
                "after_trim_mb": round(r.after_trim / MB, 1),
                "release_ratio": round(r.release_ratio, 3) if r.release_ratio is not None else None,
                "reason": r.reason,
            })
        return out

    def table(self) -> str:
        w = max([44] + [len(r.config.name) for r in self.records])
        head = f"{'config':<{w}} {'s/image':>8} {'spread':>7} {'peak MB':>8} {'retained':>9} {'release':>8}  pareto"
        lines = [head, "-" * len(head)]
        for row in self.rows():
            if not row["ok"]:
                lines.append(f"{row['config']:<{w}} failed: {row['reason']}")
                continue
            rr = "-" if row["release_ratio"] is None else f"{row['release_ratio']:.2f}"
            sp = "-" if row["spread"] is None else f"{row['spread']:.0%}"
            lines.append(f"{row['config']:<{w}} {row['median_s']:>8.3f} {sp:>7} {row['peak_mb']:>8.0f} "
                         f"{row['retained_mb']:>9.0f} {rr:>8}  {'*' if row['pareto'] else ''}")
        return "\n".join(lines)

    def to_csv(self) -> str:
        rows = self.rows()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["config"])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()


Progress = Callable[[int, int, ProbeRecord], None]


def sweep(image_path: str | os.PathLike, configs: Sequence[BenchConfig] | str = "flags", *,
          max_size: int | None = None, repeats: int = 5, warmups: int = 2, timeout: float = 180,
          progress: Progress | None = None, env: dict[str, str] | None = None) -> SweepResult:
    """Measure every config in its own child, one after another; `progress(done, total, record)` after each."""
    configs = config_set(configs) if isinstance(configs, str) else list(configs)
    records = []
    for i, config in enumerate(configs):
        record = run_isolated(config, image_path, max_size=max_size, repeats=repeats, warmups=warmups,
                              timeout=timeout, env=env)
        records.append(record)
        if progress:
            progress(i + 1, len(configs), record)
    pareto = pareto_flags(records)
    warnings = sweep_warnings(records)
    line = recommend(records, pareto)
    if any("spread" in w or "load average" in w for w in warnings):
        line += " (latencies were noisy: see the warnings)"
    return SweepResult(tuple(records), pareto, line, warnings,
                       str(Path(image_path).resolve()), max_size, repeats, warmups)


# --- CLI handlers (wired in cli.py) --------------------------------------------------

def cmd_bench(args) -> int:
    from .atomic import atomic_write_bytes
    from .cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ensure_model, error
    from .imageio import load_image
    from .errors import ImageLoadError, ModelError

    try:
        load_image(args.image, max_size=64)  # refuse a bad image here, not in every child
    except ImageLoadError as exc:
        error(args.image, exc)
        return EXIT_USAGE
    try:
        ensure_model(args.model)
    except ModelError as exc:
        error(args.model, exc)
        return EXIT_FAILED
    configs = config_set(args.configs, args.model)
    print(f"{len(configs)} configs × ({args.warmups} warm-up + {args.repeats} repeats), each in a fresh process",
          file=sys.stderr)

    def progress(done: int, total: int, r: ProbeRecord) -> None:
        status = (f"{r.median_latency:.3f} s, peak {r.peak / MB:.0f} MB, retained {r.retained / MB:.0f} MB"
                  if r.ok else f"failed: {r.reason}")
        print(f"[{done}/{total}] {r.config.name}: {status}", file=sys.stderr, flush=True)

    result = sweep(args.image, configs, max_size=args.max_size, repeats=args.repeats, warmups=args.warmups,
                   timeout=args.timeout, progress=progress)
    print(result.table())
    print(result.recommendation)
    for w in result.warnings:
        print(f"warning: {w}")
    try:
        if args.json:
            atomic_write_bytes(args.json, json.dumps(result.to_dict(), indent=1).encode())
        if args.csv:
            atomic_write_bytes(args.csv, result.to_csv().encode())
    except OSError as exc:
        error(args.json or args.csv, f"cannot write: {exc.strerror or exc}")
        return EXIT_FAILED
    return EXIT_OK if any(r.ok for r in result.records) else EXIT_FAILED
