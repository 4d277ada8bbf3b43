"""What one server runs with: the session (server-wide, never per request) and the limits per worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..limits import LIMITS
from ..session import SessionConfig

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when imported: set it first


@dataclass(frozen=True)
class ServerConfig:
    session: SessionConfig = field(default_factory=SessionConfig)
    max_size: int | None = 1600  # longest side fed to the pipeline; bounds per-request memory
    max_inflight: int = 1  # K: requests in inference at once, per worker (each run already uses every core)
    max_queue: int = 4  # Q: admitted requests waiting for a slot, per worker; beyond K + Q → 503
    max_upload_bytes: int = LIMITS.max_upload_mb * 1024 * 1024
    idle_seconds: float = 60.0  # drop the session (arena and all) after this long without a request
    retry_after: int = 1  # seconds, in the 503's Retry-After header
    max_pixels: int = LIMITS.max_pixels

    def __post_init__(self) -> None:
        for name in ("max_inflight", "max_upload_bytes", "retry_after", "max_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more")
        if self.max_queue < 0:
            raise ValueError("max_queue must be 0 or more")
        if self.max_size is not None and self.max_size < 1:
            raise ValueError("max_size must be 1 or more")
        if self.idle_seconds <= 0:
            raise ValueError("idle_seconds must be positive")
