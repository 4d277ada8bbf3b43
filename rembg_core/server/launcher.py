"""Run the app under gunicorn with uvicorn workers: one code path for 1..N workers.

    serve(ServerConfig(...), GunicornSettings(workers=2))     # blocks until SIGTERM/SIGINT

SIGTERM drains: gunicorn stops accepting, lets each worker finish its in-flight requests for up to
`graceful_timeout` seconds, then exits. `max_requests` (+ jitter, so workers do not all restart at
once) is the safety net for slow growth: a worker is replaced after that many requests.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass

from .config import MULTIPROC_ENV, ServerConfig

log = logging.getLogger("gunicorn.error")


@dataclass(frozen=True)
class GunicornSettings:
    host: str = "127.0.0.1"
    port: int = 7000
    workers: int = 1
    preload: bool = True
    max_requests: int = 0  # 0 = never recycle a worker
    max_requests_jitter: int = 0
    graceful_timeout: int = 30
    timeout: int = 120  # a worker silent this long (a stuck event loop) is killed and replaced
    loglevel: str = "warning"
    keepalive: int = 5  # seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive)
    head_timeout: float = 10.0  # seconds for a request line and headers to arrive, from connect or the last answer
    max_head_bytes: int = 16 * 1024  # request line + headers (h11's max incomplete event size)

    def __post_init__(self) -> None:
        if self.head_timeout <= 0 or self.keepalive < 1:
            raise ValueError("head_timeout and keepalive must be positive")

    def options(self) -> dict:
        from .worker import worker_class  # uvicorn and h11: only when a server really starts

        return {
            "bind": f"{self.host}:{self.port}", "workers": self.workers,
            "worker_class": worker_class(self.head_timeout, self.max_head_bytes, self.graceful_timeout),
            "keepalive": self.keepalive,
            "preload_app": self.preload, "max_requests": self.max_requests,
            "max_requests_jitter": self.max_requests_jitter, "graceful_timeout": self.graceful_timeout,
            "timeout": self.timeout, "loglevel": self.loglevel, "accesslog": None, "errorlog": "-",
            "child_exit": _child_exit, "when_ready": _when_ready, "proc_name": "rembg-lab-serve",
        }


def _child_exit(server, worker) -> None:
    from . import metrics

    metrics.worker_exited(worker.pid)


def _when_ready(server) -> None:
    from . import metrics

    metrics.worker_exited(server.pid)  # the master serves no requests: keep it out of per-pid gauges


def _application(config: ServerConfig, settings: GunicornSettings):
    from gunicorn.app.base import BaseApplication

    class Service(BaseApplication):
        def load_config(self) -> None:
            for key, value in settings.options().items():
                self.cfg.set(key, value)

        def load(self):
            from .app import create_app

            if self.cfg.preload_app:  # in the master, before fork
                from .runtime import preload

                reason = preload(config)
                if reason:
                    log.error("model not ready (workers start and report it on /readyz): %s", reason)
                else:
                    log.info("preload: %s verified and loaded in the master", config.session.model)
            return create_app(config)

    return Service()


def serve(config: ServerConfig, settings: GunicornSettings) -> int:
    """Blocks until gunicorn exits. Metrics files live in a fresh folder removed afterwards."""
    metrics_dir = tempfile.mkdtemp(prefix="rembg-lab-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir  # before prometheus_client is imported anywhere
    try:
        log.info("serving %s with %s", asdict(settings), config)
        _application(config, settings).run()
        return 0
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
