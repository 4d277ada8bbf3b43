"""The edge modes an edge-quality run can score: ours (the library's edge stage) and rembg's, and which
of ours is held to which of rembg's (the quality targets)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..measure.runner import PACKAGE_ROOT


@dataclass(frozen=True)
class Mode:
    name: str
    impl: str  # "ours" or "rembg"
    options: tuple[tuple[str, object], ...]
    label: str


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("none", "ours", (), "ours: straight colour (no edge stage)"),
    Mode("decontaminate", "ours", (("decontaminate", True),), "ours: foreground colour estimated in the soft band"),
    Mode("matting", "ours", (("alpha_matting", True),), "ours: alpha refined in the unknown band, then colour"),
    Mode("rembg", "rembg", (), "rembg 2.0.86 plain cutout"),
    Mode("rembg-dc", "rembg", (("decontaminate", True),), "rembg 2.0.86 -dc"),
    Mode("rembg-a", "rembg", (("alpha_matting", True),), "rembg 2.0.86 -a (-af 240 -ab 10 -ae 10)"),
)}
# Which of ours is held to which of rembg's, and on which figures (the quality targets).
PAIRS = (("matting", "rembg-a", ("band.sad", "band.mse", "band.grad", "band.conn", "band.composite")),
         ("decontaminate", "rembg-dc", ("band.composite",)),
         ("matting", "none", ("band.sad", "band.composite")),
         ("decontaminate", "none", ("band.composite",)))


def peer_available() -> bool:
    return (importlib.util.find_spec("rembg") is not None
            and (PACKAGE_ROOT / "benchmarks" / "edges_peer.py").is_file())


def available_modes() -> tuple[str, ...]:
    return tuple(n for n, m in MODES.items() if (m.impl == "ours" and ours_offered(n)) or
                 (m.impl == "rembg" and peer_available()))


def ours_offered(mode: str) -> bool:
    """Whether this build has the edge stage a mode of ours needs (`none` needs none)."""
    if MODES[mode].impl != "ours" or not MODES[mode].options:
        return True
    return importlib.util.find_spec("rembg_core.edges") is not None
