"""Every limit that protects the server, in one place; each can be overridden by an env var.

Read once when the library is imported (`LIMITS`); `Limits.from_env()` reads them again for tests
and tools. A value that is not a positive whole number is refused at start-up, naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

ENV_PREFIX = "REMBG_LAB_"


@dataclass(frozen=True)
class Limits:
    # Streamlit holds an upload in memory whole before the loader sees it: .streamlit/config.toml
    # server.maxUploadSize must equal this (a test checks). ~1 byte per pixel at max_pixels.
    max_upload_mb: int = 100
    # Checked from the header before decoding. A valid 140 KB PNG of 12000×12000 (144 MP) would
    # otherwise cost 2.5 GB and 16 s in rembg.
    max_pixels: int = 100_000_000
    # Batches (rembg_core.batch.BatchLimits takes its defaults from here).
    max_batch_items: int = 10_000  # CLI and library
    max_ui_batch_items: int = 500  # one batch on the dashboard's Batch page (a shared server)
    max_zip_entries: int = 10_000
    max_zip_bytes: int = 4 * 1024**3  # total uncompressed size an archive may declare
    max_item_bytes: int = 256 * 1024**2  # one file or zip member, before decoding
    # Model runs at once in this process; the rest queue (8 parallel runs on one u2netp session
    # took RSS from 209 to 670 MB). Each run already uses every core through intra-op threads.
    max_concurrent_runs: int = 2
    # The dashboard drops a session unused this long and trims its arena; the next request reloads
    # it (about 0.1 s for u2netp). The service has its own, shorter, per-server setting.
    idle_seconds: int = 300
    # The result cache (batch, Ray, dashboard): bytes of encoded cutouts kept on disk.
    cache_max_mb: int = 512
    # Edge refinement (alpha matting, decontamination) at full scale covers at most this many band
    # pixels per request; a larger band is refined at a reduced scale and upsampled (the result's notes
    # say so), and one over 64x this is refused. Time grows with the band, memory does not.
    max_edge_band_pixels: int = 1_000_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"limit {f.name} must be a whole number >= 1, not {value!r}")

    @staticmethod
    def env_name(field_name: str) -> str:
        return ENV_PREFIX + field_name.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by REMBG_LAB_MAX_PIXELS=50000000 and friends."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = environ.get(cls.env_name(f.name))
            if raw is None or raw.strip() == "":
                continue
            try:
                values[f.name] = int(raw.strip().replace("_", ""))
            except ValueError:
                raise ValueError(f"{cls.env_name(f.name)}={raw!r} is not a whole number") from None
            if values[f.name] < 1:
                raise ValueError(f"{cls.env_name(f.name)}={raw!r} must be 1 or more")
        return cls(**values)

    def describe(self) -> list[tuple[str, str, int]]:
        """(field, env var, value) rows, for the README and the UI."""
        return [(f.name, self.env_name(f.name), getattr(self, f.name)) for f in fields(self)]


LIMITS = Limits.from_env()
