"""The child side of an isolated measurement: `python -m rembg_core.measure.child --result-fd N SPEC`.

Runs in a fresh interpreter spawned by runner.py, measures one configuration and writes one JSON
object to the pipe `N` (stdout is left to whatever prints). A failure the product knows
(a bad image, a damaged model) exits 1 with its one-line message as the last stderr line.

Test hook: REMBG_LAB_PROBE_FAULT=abort|hang|exit|garbage|chatty makes the child die, hang, exit
non-zero, write something that is not JSON, or print on stdout and carry on, so the parent's failure paths can be tested with
real processes.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..errors import RembgCoreError
from .configs import STRATEGIES, ProbeConfig

FAULT_ENV = "REMBG_LAB_PROBE_FAULT"


def open_session(config: ProbeConfig):
    """A ModelSession for `config`, with the env-registered arena when an extend strategy is set."""
    import onnxruntime as ort

    from .. import models
    from ..session import ModelSession

    cfg = config.session
    so = cfg.session_options()
    if config.arena_extend_strategy is not None:
        mem = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(
            mem, ort.OrtArenaCfg({"arena_extend_strategy": STRATEGIES[config.arena_extend_strategy]}))
        so.add_session_config_entry("session.use_env_allocators", "1")
    path = models.verify(cfg.model)
    t0 = time.perf_counter()
    inner = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    return ModelSession(cfg, models.get_spec(cfg.model), inner, inner.get_inputs()[0].name,
                        time.perf_counter() - t0)


def metadata(config: ProbeConfig, image_size: tuple[int, int] | None) -> dict:
    from .machine import cpu_model, cpus_usable, loadavg, versions

    v = versions(("onnxruntime", "numpy", "pillow"))
    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "machine": platform.machine(), "processor": cpu_model(), **v,
        "cpu_count": os.cpu_count(), "cpus_usable": cpus_usable(),
        "threads": config.session.intra_op_num_threads or "auto", "loadavg": loadavg(),
        "image_size": list(image_size) if image_size else None,
        "model": config.model, "flags": config.to_dict(),
        "malloc_env": {k: os.environ[k] for k in os.environ if k.startswith("MALLOC_")},
        "allocator": {"requested": config.allocator.label, "verified": _verified_allocator(config)},
    }


def _verified_allocator(config: ProbeConfig) -> str:
    """The allocator this process runs, read from /proc/self/maps; AllocatorError when not the one asked for."""
    from ..allocator import verify

    running = verify(config.allocator)
    knobs = [f"{k}={os.environ[k]}" for k in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_") if k in os.environ]
    return f"{running} ({', '.join(knobs)})" if knobs else running


def _fault(fd: int) -> None:
    fault = os.environ.get(FAULT_ENV)
    if fault == "abort":
        os.abort()
    elif fault == "hang":
        time.sleep(3600)
    elif fault == "exit":
        print("probe: asked to fail", file=sys.stderr)
        sys.exit(7)
    elif fault == "chatty":  # a library printing on stdout must not spoil the result
        print("chatter on stdout", flush=True)
    elif fault == "garbage":
        os.write(fd, b"this is not json")
        sys.exit(0)


def measure(spec: dict) -> dict:
    """Session load, warm-ups, measured repeats; RSS sampled throughout."""
    from ..memory import peak_rss, rss, trim
    from ..options import RemoveOptions
    from ..pipeline import remove
    from .sampling import RssSampler

    config = ProbeConfig.from_dict(spec["config"])
    _verified_allocator(config)  # before measuring anything: a silent glibc run would mislabel every figure
    if spec.get("layers"):
        import tracemalloc

        tracemalloc.start()  # the Python-heap layer; only when asked, as it slows Python allocations
    data = Path(spec["image"]).read_bytes()
    max_size = spec.get("max_size")
    sampler = RssSampler(interval=float(spec.get("interval", 0.005)), exact_peak=False).start()
    start_rss = rss()
    with sampler.stage("session"):
        session = open_session(config)
    baseline = rss()
    runs: list[dict[str, float]] = []
    image_size = None
    for i in range(int(spec.get("warmups", 2)) + int(spec.get("repeats", 5))):
        warm = i < int(spec.get("warmups", 2))
        with sampler.stage("warmup" if warm else "run"):
            result = remove(data, session=session, options=RemoveOptions(max_size=max_size), on_stage=sampler.mark)
        image_size = result.image.size
        if not warm:
            runs.append(result.timings)
        del result
    after = rss()
    trace = sampler.stop()
    from . import layers

    split = None
    if spec.get("layers"):
        from .. import models

        weights = layers.model_bytes(models.model_path(config.model))
        split = layers.split("a fresh child process", [layers.HeldSession(
            config.session.flags_label, weights, config.session.enable_cpu_mem_arena)])
    held = layers.free_held()  # a forked copy trims; this process keeps its state for after_trim below
    gc.collect()
    after_trim = trim().rss_after
    latencies = [r["total"] for r in runs]
    stages = {k: statistics.median(r[k] for r in runs) for k in runs[0]} if runs else {}
    return {
        "start_rss": start_rss, "baseline": baseline, "after": after, "after_trim": after_trim, "free_held": held,
        "layers": split.to_dict() if split else None,
        # the kernel's mark lags a few pages behind RSS read at the same moment: the peak is at least
        # every reading taken
        "peak": max(peak_rss(), trace.peak, after), "sampled_peak": trace.peak,
        "latencies": latencies, "stages": stages, "load_seconds": session.load_seconds,
        "trace": trace.to_dict(), "meta": metadata(config, image_size),
    }


def measure_idle(spec: dict) -> dict:
    """A burst of runs through an IdleReleaser, an idle stretch past its timeout, then one more run.

    Shows the policy keeps arena speed in the burst and gives the arena back when idle.
    """
    from ..idle import IdleReleaser
    from ..memory import peak_rss, rss
    from ..options import RemoveOptions
    from ..pipeline import remove
    from .sampling import RssSampler

    config = ProbeConfig.from_dict(spec["config"])
    cfg = config.session
    data = Path(spec["image"]).read_bytes()
    idle_after = float(spec.get("idle_after", 2.0))
    idle_wait = float(spec.get("idle_wait", idle_after * 2))
    burst = int(spec.get("burst", 6))
    sampler = RssSampler(interval=float(spec.get("interval", 0.01)), exact_peak=False).start()
    baseline = rss()
    latencies: list[float] = []
    with IdleReleaser(idle_after=idle_after) as policy:
        with sampler.stage("burst"):
            for _ in range(burst):
                t0 = time.perf_counter()
                with policy.lease(cfg) as session:
                    remove(data, session=session, options=RemoveOptions(max_size=spec.get("max_size")))
                del session  # a reference kept here would keep the arena alive past its release
                latencies.append(time.perf_counter() - t0)
        busy_rss = rss()
        with sampler.stage("idle"):
            time.sleep(idle_wait)
        idle_rss = rss()
        released = policy.releases
        with sampler.stage("after idle"):
            t0 = time.perf_counter()
            with policy.lease(cfg) as session:
                remove(data, session=session, options=RemoveOptions(max_size=spec.get("max_size")))
            first_after_idle = time.perf_counter() - t0
            del session
    trace = sampler.stop()
    return {
        "baseline": baseline, "busy_rss": busy_rss, "idle_rss": idle_rss, "peak": peak_rss(),
        "latencies": latencies, "first_after_idle": first_after_idle, "releases": released,
        "idle_after": idle_after, "idle_wait": idle_wait,
        "trace": trace.to_dict(), "meta": metadata(config, None),
    }


def serve(modes: Mapping[str, Callable[[dict], dict]], module: str, argv: list[str] | None = None) -> int:
    """A child's whole life: parse `--result-fd N SPEC`, run `modes[spec["mode"]]`, write its JSON to the
    pipe. A failure the product knows exits 1 with its one-line message as the last stderr line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != "--result-fd":
        print(f"usage: python -m {module} --result-fd N SPEC_JSON", file=sys.stderr)
        return 2
    fd, spec = int(args[1]), json.loads(args[2])
    _fault(fd)
    try:
        out = modes[spec.get("mode", "run")](spec)
    except RembgCoreError as exc:
        print(exc, file=sys.stderr)
        return 1
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    return serve({"run": measure, "idle": measure_idle}, "rembg_core.measure.child", argv)


if __name__ == "__main__":
    sys.exit(main())
