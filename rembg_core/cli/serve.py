"""`python -m rembg_core serve`: the HTTP service under gunicorn (rembg_core/server/launcher.py)."""

from __future__ import annotations

import argparse
import sys

from ..server.config import ServerConfig
from ..server.launcher import GunicornSettings
from .common import ExitCode, add_session_flags, error, positive_int, session_config

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
    p.add_argument("--max-inflight", type=positive_int, default=CONFIG.max_inflight, metavar="K",
                   help="requests in inference per worker")
    p.add_argument("--max-queue", type=int, default=CONFIG.max_queue, metavar="Q",
                   help="requests waiting per worker; more get 503")
    p.add_argument("--max-upload-mb", type=positive_int, default=None, help="upload cap (default: REMBG_LAB_MAX_UPLOAD_MB)")
    p.add_argument("--idle-seconds", type=float, default=CONFIG.idle_seconds, help="drop the session after this long idle")
    p.add_argument("--max-requests", type=int, default=SETTINGS.max_requests,
                   help="replace a worker after this many requests (0: never)")
    p.add_argument("--graceful-timeout", type=positive_int, default=SETTINGS.graceful_timeout,
                   help="seconds SIGTERM waits for in-flight work")
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
            "--max-size", str(config.max_size)]
    if config.max_upload_bytes != CONFIG.max_upload_bytes:
        args += ["--max-upload-mb", str(-(-config.max_upload_bytes // (1024 * 1024)))]
    return args


def configs(args: argparse.Namespace) -> tuple[ServerConfig, GunicornSettings]:
    """What the parsed flags ask for; raises ValueError for values the dataclasses refuse."""
    extra = {"max_upload_bytes": args.max_upload_mb * 1024 * 1024} if args.max_upload_mb else {}
    config = ServerConfig(session=session_config(args), max_size=args.max_size, max_inflight=args.max_inflight,
                          max_queue=args.max_queue, idle_seconds=args.idle_seconds, **extra)
    settings = GunicornSettings(host=args.host, port=args.port, workers=args.workers, preload=args.preload,
                                max_requests=args.max_requests,
                                max_requests_jitter=args.max_requests // 10 if args.max_requests else 0,
                                graceful_timeout=args.graceful_timeout, loglevel=args.log_level)
    return config, settings


def run(args: argparse.Namespace) -> int:
    from ..server.launcher import serve

    try:
        config, settings = configs(args)
    except ValueError as exc:
        error("serve", exc)
        return ExitCode.USAGE
    print(f"serving {config.session.label()} on http://{args.host}:{args.port} "
          f"({args.workers} worker{'s' if args.workers > 1 else ''}, preload {'on' if args.preload else 'off'})",
          file=sys.stderr, flush=True)
    if args.exit_with:
        _exit_with(args.exit_with)
    return serve(config, settings)


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
