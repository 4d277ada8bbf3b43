"""What one server runs with: the session (server-wide, never per request) and the limits per worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..limits import LIMITS
from ..session import SessionConfig


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
    body_idle_timeout: float = 15.0  # seconds without a body byte before 408 (a client that sent headers only)
    body_timeout: float = 120.0  # seconds for a whole request body
    body_budget_bytes: int = 0  # bodies held at once per worker (reading, waiting, running); 0: (K + Q + 2) × cap

    @property
    def body_budget(self) -> int:
        return self.body_budget_bytes or (self.max_inflight + self.max_queue + 2) * self.max_upload_bytes

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
        if self.body_idle_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("body timeouts must be positive")
