"""`python -m rembg_core serve`: the HTTP service under gunicorn (rembg_core/server/launcher.py)."""

from __future__ import annotations

import argparse
import sys

from ..allocator import AllocatorChoice, AllocatorError
from ..server.config import ServerConfig
from ..server.launcher import GunicornSettings
from .common import ExitCode, add_session_flags, error, non_negative_int, positive_int, session_config

REEXEC_ENV = "REMBG_LAB_SERVE_ALLOCATOR"  # set on the re-executed server: its allocator is already in place

CONFIG, SETTINGS = ServerConfig(), GunicornSettings()  # every default below is read from these


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="run the HTTP service (gunicorn + uvicorn workers)")
    p.add_argument("--host", default=SETTINGS.host)
    p.add_argument("--port", type=int, default=SETTINGS.port)
    p.add_argument("--workers", type=positive_int, default=SETTINGS.workers)
    p.add_argument("--preload", action=argparse.BooleanOptionalAction, default=SETTINGS.preload,
                   help="verify and load the model in the master before forking workers (default: on)")
    add_session_flags(p)
    p.add_argument("--max-size", type=positive_int, default=CONFIG.max_size, help="longest side fed to the model")
    p.add_argument("--max-inflight", type=non_negative_int, default=CONFIG.max_inflight, metavar="C",
                   help="runs inside the model at once per worker (the run gate; 0: one, with the worker's cores as threads)")
    p.add_argument("--max-queue", type=non_negative_int, default=CONFIG.max_queue, metavar="Q",
                   help="requests waiting per worker; more get 503")
    p.add_argument("--pipeline-threads", type=non_negative_int, default=CONFIG.pipeline_threads,
                   help="decode/encode threads per worker beside the C model runs")
    p.add_argument("--memory-budget-mb", type=positive_int, default=CONFIG.memory_budget_mb,
                   help="per worker: estimated working memory of requests in process (more waits or gets 503)")
    p.add_argument("--deadline", type=float, default=CONFIG.deadline_seconds, metavar="SECONDS",
                   help="a request that cannot start within this gets 503 (clients may ask less: X-Deadline-Ms)")
    p.add_argument("--allocator", choices=("glibc", "jemalloc", "mimalloc"), default=CONFIG.allocator.name,
                   help="malloc for the server processes (jemalloc/mimalloc preloaded from Debian's packages)")
    p.add_argument("--malloc-mmap-threshold", type=non_negative_int, default=CONFIG.allocator.mmap_threshold,
                   metavar="BYTES", help="glibc: blocks this large go to mmap and return to the system when freed "
                   "(default %(default)s, so a worker's RSS follows its live memory; 0: glibc's own sliding threshold)")
    p.add_argument("--malloc-arena-max", type=positive_int, default=CONFIG.allocator.arena_max, metavar="N",
                   help="glibc: at most N malloc arenas")
    p.add_argument("--max-upload-mb", type=positive_int, default=None, help="upload cap (default: REMBG_LAB_MAX_UPLOAD_MB)")
    p.add_argument("--idle-seconds", type=float, default=CONFIG.idle_seconds, help="drop the session after this long idle")
    p.add_argument("--max-requests", type=int, default=SETTINGS.max_requests,
                   help="replace a worker after this many requests (0: never)")
    p.add_argument("--graceful-timeout", type=positive_int, default=SETTINGS.graceful_timeout,
                   help="seconds SIGTERM waits for in-flight work")
    p.add_argument("--head-timeout", type=float, default=SETTINGS.head_timeout, metavar="S",
                   help="close a connection whose request line and headers take longer (408)")
    p.add_argument("--body-timeout", type=float, default=CONFIG.body_idle_timeout, metavar="S",
                   help="408 when a request body sends nothing for this long (it holds no admission slot meanwhile)")
    p.add_argument("--keep-alive", type=positive_int, default=SETTINGS.keepalive, metavar="S",
                   help="close idle keep-alive connections")
    p.add_argument("--exit-with", type=int, default=None, help=argparse.SUPPRESS)  # parent pid to watch
    p.add_argument("--log-level", default=SETTINGS.loglevel, choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)
    return p


def serve_args(config: ServerConfig, settings: GunicornSettings) -> list[str]:
    """The `serve` flags that make this parser build exactly `config` and `settings` (the address
    aside: whoever starts the process picks it). The Serving Lab starts its servers with these."""
    if config.max_size is None:
        raise ValueError("serve has no flag for an uncapped max_size")
    s = config.session
    args = ["--workers", str(settings.workers), "--preload" if settings.preload else "--no-preload",
            "--model", s.model, "--arena" if s.enable_cpu_mem_arena else "--no-arena",
            "--mem-pattern" if s.enable_mem_pattern else "--no-mem-pattern",
            *(["--arena-shrinkage"] if s.arena_shrinkage else []), "--threads", str(s.intra_op_num_threads),
            "--max-inflight", str(config.max_inflight), "--max-queue", str(config.max_queue),
            "--idle-seconds", repr(config.idle_seconds), "--max-requests", str(settings.max_requests),
            "--graceful-timeout", str(settings.graceful_timeout), "--log-level", settings.loglevel,
            "--max-size", str(config.max_size), "--pipeline-threads", str(config.pipeline_threads),
            "--memory-budget-mb", str(config.memory_budget_mb), "--deadline", repr(config.deadline_seconds),
            "--allocator", config.allocator.name, "--head-timeout", repr(settings.head_timeout),
            "--body-timeout", repr(config.body_idle_timeout), "--keep-alive", str(settings.keepalive)]
    if config.allocator.name == "glibc":  # 0: glibc's sliding threshold, not the service's default
        args += ["--malloc-mmap-threshold", str(config.allocator.mmap_threshold or 0)]
    if config.allocator.arena_max is not None:
        args += ["--malloc-arena-max", str(config.allocator.arena_max)]
    if config.max_upload_bytes != CONFIG.max_upload_bytes:
        args += ["--max-upload-mb", str(-(-config.max_upload_bytes // (1024 * 1024)))]
    return args


def configs(args: argparse.Namespace) -> tuple[ServerConfig, GunicornSettings]:
    """What the parsed flags ask for (C and threads not yet resolved); raises ValueError for values the
    dataclasses refuse."""
    threshold = args.malloc_mmap_threshold
    if args.allocator != "glibc" and threshold == CONFIG.allocator.mmap_threshold:
        threshold = None  # the default tunes glibc only
    choice = AllocatorChoice(args.allocator, arena_max=args.malloc_arena_max, mmap_threshold=threshold or None)
    extra = {"max_upload_bytes": args.max_upload_mb * 1024 * 1024} if args.max_upload_mb else {}
    config = ServerConfig(session=session_config(args), max_size=args.max_size, max_inflight=args.max_inflight,
                          max_queue=args.max_queue, idle_seconds=args.idle_seconds, workers=args.workers,
                          pipeline_threads=args.pipeline_threads, memory_budget_mb=args.memory_budget_mb,
                          deadline_seconds=args.deadline, allocator=choice, body_idle_timeout=args.body_timeout,
                          **extra)
    settings = GunicornSettings(host=args.host, port=args.port, workers=args.workers, preload=args.preload,
                                max_requests=args.max_requests,
                                max_requests_jitter=args.max_requests // 10 if args.max_requests else 0,
                                graceful_timeout=args.graceful_timeout, loglevel=args.log_level,
                                keepalive=args.keep_alive, head_timeout=args.head_timeout)
    return config, settings


def run(args: argparse.Namespace) -> int:
    from ..server.launcher import serve

    try:
        config, settings = configs(args)
        config = config.resolved()
        choice = config.allocator
        child_env = choice.child_env()  # AllocatorError (one line) when the library is not installed
    except (ValueError, AllocatorError) as exc:
        error("serve", exc)
        return ExitCode.USAGE
    if _needs_reexec(choice):
        # malloc is chosen when a process starts: run this same command again with the allocator's
        # environment, so gunicorn's master and every worker it forks use it
        import os

        env = {**child_env, REEXEC_ENV: choice.label}
        os.execve(sys.executable, [sys.executable, "-m", "rembg_core", *args.argv], env)
    print(f"serving {config.session.label()} on http://{args.host}:{args.port} "
          f"({args.workers} worker{'s' if args.workers > 1 else ''}, preload {'on' if args.preload else 'off'}, "
          f"C={config.max_inflight} runs × {config.session.intra_op_num_threads} thread(s), {choice.label})",
          file=sys.stderr, flush=True)
    if args.exit_with:
        _exit_with(args.exit_with)
    return serve(config, settings)


def _needs_reexec(choice) -> bool:
    import os

    if os.environ.get(REEXEC_ENV) == choice.label:
        return False
    wanted = choice.env()
    current = {k: os.environ.get(k) for k in ("LD_PRELOAD", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")}
    return any(current[k] != wanted.get(k) for k in current)


def _exit_with(parent: int) -> None:
    """SIGTERM ourselves (a graceful gunicorn stop) when `parent` is gone."""
    import os
    import signal
    import threading
    import time

    import psutil

    def alive() -> bool:
        try:
            return psutil.Process(parent).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def watch() -> None:
        while alive():
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with", daemon=True).start()
