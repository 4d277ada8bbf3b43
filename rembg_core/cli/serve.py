"""`python -m rembg_core serve`: the HTTP service under gunicorn (rembg_core/server/launcher.py)."""

from __future__ import annotations

import argparse
import sys

from .common import ExitCode, add_session_flags, error, positive_int, session_config


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="run the HTTP service (gunicorn + uvicorn workers)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7000)
    p.add_argument("--workers", type=positive_int, default=1)
    p.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True,
                   help="verify and load the model in the master before forking workers (default: on)")
    add_session_flags(p)
    p.add_argument("--max-size", type=positive_int, default=1600, help="longest side fed to the model")
    p.add_argument("--max-inflight", type=positive_int, default=1, metavar="K", help="requests in inference per worker")
    p.add_argument("--max-queue", type=int, default=4, metavar="Q", help="requests waiting per worker; more get 503")
    p.add_argument("--max-upload-mb", type=positive_int, default=None, help="upload cap (default: REMBG_LAB_MAX_UPLOAD_MB)")
    p.add_argument("--idle-seconds", type=float, default=60.0, help="drop the session after this long idle")
    p.add_argument("--max-requests", type=int, default=0, help="replace a worker after this many requests (0: never)")
    p.add_argument("--graceful-timeout", type=positive_int, default=30, help="seconds SIGTERM waits for in-flight work")
    p.add_argument("--head-timeout", type=float, default=10.0, metavar="S",
                   help="close a connection whose request line and headers take longer (408)")
    p.add_argument("--body-timeout", type=float, default=15.0, metavar="S",
                   help="408 when a request body sends nothing for this long (it holds no admission slot meanwhile)")
    p.add_argument("--keep-alive", type=positive_int, default=5, metavar="S", help="close idle keep-alive connections")
    p.add_argument("--exit-with", type=int, default=None, help=argparse.SUPPRESS)  # parent pid to watch
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..server.config import ServerConfig
    from ..server.launcher import GunicornSettings, serve

    try:
        extra = {"max_upload_bytes": args.max_upload_mb * 1024 * 1024} if args.max_upload_mb else {}
        config = ServerConfig(session=session_config(args), max_size=args.max_size, max_inflight=args.max_inflight,
                              max_queue=args.max_queue, idle_seconds=args.idle_seconds,
                              body_idle_timeout=args.body_timeout, **extra)
        settings = GunicornSettings(host=args.host, port=args.port, workers=args.workers, preload=args.preload,
                                    max_requests=args.max_requests,
                                    max_requests_jitter=args.max_requests // 10 if args.max_requests else 0,
                                    graceful_timeout=args.graceful_timeout, loglevel=args.log_level,
                                    keepalive=args.keep_alive, head_timeout=args.head_timeout)
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
