"""`RemoveOptions`: everything about one removal that is not the session. One type for the library,
the CLI, batches, Ray, the service and the dashboard; passed whole to `remove()`.

Field names are rembg's keywords, so a rembg user recognises them; the CLI's long options and the
HTTP fields (`a`, `af`, `ab`, `ae`, `dc`, `om`, `ppm`, `bgc`) map onto the same fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .colors import Color

FORMATS = {"png": "image/png", "webp": "image/webp"}
EDGE_MODES = ("none", "decontaminate", "matting")


@dataclass(frozen=True)
class RemoveOptions:
    max_size: int | None = None  # longest side before anything else; None = no cap
    only_mask: bool = False
    post_process_mask: bool = False
    bgcolor: Color | None = None
    crop: bool = False
    crop_padding: int = 0
    format: str = "png"
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = 240
    alpha_matting_background_threshold: int = 10
    alpha_matting_erode_size: int = 10
    decontaminate: bool = False
    clean_haze: bool = False  # clear faint background haze and stray specks (rembg_core.edges.haze)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be {' or '.join(FORMATS)}, not {self.format!r}")
        if self.max_size is not None and self.max_size < 1:
            raise ValueError("max_size must be 1 or more")
        if self.crop_padding < 0:
            raise ValueError("crop_padding must be 0 or more")
        fg, bg = self.alpha_matting_foreground_threshold, self.alpha_matting_background_threshold
        for name, value in (("foreground threshold", fg), ("background threshold", bg)):
            if not 0 <= value <= 255:
                raise ValueError(f"alpha matting {name} must be 0-255, not {value}")
        if bg >= fg:
            raise ValueError(f"alpha matting background threshold ({bg}) must be below the foreground threshold ({fg})")
        if not 0 <= self.alpha_matting_erode_size <= 255:
            raise ValueError(f"alpha matting erode size must be 0-255, not {self.alpha_matting_erode_size}")

    @property
    def edge_mode(self) -> str:
        """"matting" (refines alpha, then colour), "decontaminate" (colour only) or "none"."""
        return "matting" if self.alpha_matting else "decontaminate" if self.decontaminate else "none"

    @property
    def media_type(self) -> str:
        return FORMATS[self.format]

    def replace(self, **changes) -> RemoveOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RemoveOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        if values.get("bgcolor") is not None:
            values["bgcolor"] = tuple(values["bgcolor"])
        return cls(**values)
