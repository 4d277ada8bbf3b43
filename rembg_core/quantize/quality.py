"""How far the int8 model's masks are from the float model's, photo by photo.

IoU of the two masks thresholded at 0.5, and mean |Δα| in 8-bit alpha levels, both at the photo's
own size after the same post-processing `remove()` applies. Photos are held out from calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..models import get_spec
from ..pipeline import predict_mask
from ..session import ModelSession, SessionConfig, get_session

GetSession = Callable[[SessionConfig], ModelSession]

GATE_MEAN_IOU = 0.98
GATE_WORST_IOU = 0.95
GATE_MEAN_ABS_DELTA = 1.0  # alpha levels (of 255)


@dataclass(frozen=True)
class PhotoQuality:
    name: str
    size: tuple[int, int]
    iou: float  # masks thresholded at 0.5 (alpha ≥ 128)
    mean_abs_delta: float  # mean |α_int8 − α_fp32| in levels
    max_abs_delta: int


@dataclass(frozen=True)
class QualityReport:
    reference: str
    candidate: str
    photos: tuple[PhotoQuality, ...]

    @property
    def mean_iou(self) -> float:
        return float(np.mean([p.iou for p in self.photos]))

    @property
    def worst(self) -> PhotoQuality:
        return min(self.photos, key=lambda p: p.iou)

    @property
    def mean_abs_delta(self) -> float:
        return float(np.mean([p.mean_abs_delta for p in self.photos]))

    def failures(self) -> tuple[str, ...]:
        """The gate's verdict: empty when the candidate is good enough."""
        out = []
        if self.mean_iou < GATE_MEAN_IOU:
            out.append(f"mean IoU {self.mean_iou:.4f} < {GATE_MEAN_IOU}")
        if self.worst.iou < GATE_WORST_IOU:
            out.append(f"worst IoU {self.worst.iou:.4f} ({self.worst.name}) < {GATE_WORST_IOU}")
        if self.mean_abs_delta > GATE_MEAN_ABS_DELTA:
            out.append(f"mean |Δα| {self.mean_abs_delta:.3f} > {GATE_MEAN_ABS_DELTA} level")
        return tuple(out)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "candidate": self.candidate,
                "mean_iou": self.mean_iou, "worst": self.worst.name, "worst_iou": self.worst.iou,
                "mean_abs_delta": self.mean_abs_delta, "failures": list(self.failures()),
                "photos": [asdict(p) for p in self.photos]}

    def table(self) -> str:
        lines = [f"{'photo':<24} {'size':>11} {'IoU@0.5':>8} {'mean |Δα|':>10} {'max |Δα|':>9}"]
        for p in self.photos:
            lines.append(f"{p.name:<24} {p.size[0]:>5}×{p.size[1]:<5} {p.iou:>8.4f} {p.mean_abs_delta:>10.3f} "
                         f"{p.max_abs_delta:>9}")
        lines.append(f"{'mean':<24} {'':>11} {self.mean_iou:>8.4f} {self.mean_abs_delta:>10.3f}")
        lines.append(f"worst: {self.worst.name} (IoU {self.worst.iou:.4f})")
        return "\n".join(lines)


def compare_masks(name: str, reference: Image.Image, candidate: Image.Image) -> PhotoQuality:
    a = np.asarray(reference, dtype=np.int16)
    b = np.asarray(candidate, dtype=np.int16)
    fa, fb = a >= 128, b >= 128
    union = int(np.count_nonzero(fa | fb))
    iou = 1.0 if union == 0 else int(np.count_nonzero(fa & fb)) / union
    diff = np.abs(a - b)
    return PhotoQuality(name, reference.size, iou, float(diff.mean()), int(diff.max()))


def masks(rgb: Image.Image, reference: ModelSession, candidate: ModelSession) -> tuple[Image.Image, Image.Image]:
    return predict_mask(rgb, reference), predict_mask(rgb, candidate)


def difference_image(reference: Image.Image, candidate: Image.Image, gain: float = 4.0) -> Image.Image:
    """|Δα| as a greyscale picture, amplified so small drifts are visible."""
    diff = np.abs(np.asarray(reference, np.int16) - np.asarray(candidate, np.int16)) * gain
    return Image.fromarray(np.clip(diff, 0, 255).astype(np.uint8), "L")


def measure(photos: Sequence[tuple[str, Callable[[], Image.Image]]], *, reference: str = "u2netp",
            candidate: str = "u2netp-int8", threads: int = 0,
            progress: Callable[[int, int, str], None] | None = None,
            get: GetSession = get_session) -> QualityReport:
    """Compare `candidate` against `reference` on `photos` ((name, loader) pairs). Sessions come from
    `get`: the process's one cache by default; a caller with an idle policy passes its `get`."""
    get_spec(candidate)
    ref = get(SessionConfig(model=reference, intra_op_num_threads=threads))
    cand = get(SessionConfig(model=candidate, intra_op_num_threads=threads))
    rows = []
    for i, (name, load) in enumerate(photos):
        if progress:
            progress(i, len(photos), name)
        rgb = load()
        rows.append(compare_masks(name, *masks(rgb, ref, cand)))
    if progress:
        progress(len(photos), len(photos), "")
    return QualityReport(reference, candidate, tuple(rows))


def default_photos() -> list[tuple[str, Callable[[], Image.Image]]]:
    """Photos calibration never saw: the held-out bundled photos, the two drawn scenes, and rembg's
    test fixtures when they are beside the project (samples.peer_suite)."""
    from .. import samples
    from .calibration import held_out_photos

    photos: list[tuple[str, Callable[[], Image.Image]]] = [(p.name, p.load) for p in held_out_photos()]
    photos += [("apple (drawn)", samples.apple_scene), ("robot (drawn)", samples.robot_scene)]
    peer = samples.peer_suite()
    if peer is not None:
        photos += [(path.name, _file_loader(path)) for path in sorted((peer / "fixtures").glob("*.jpg"))]
    return photos


def _file_loader(path: Path) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        with Image.open(path) as im:
            return im.convert("RGB")
    return load


def side_by_side(rgb: Image.Image, *, reference: str = "u2netp", candidate: str = "u2netp-int8",
                 threads: int = 0, get: GetSession = get_session,
                 ) -> tuple[Image.Image, Image.Image, Image.Image, PhotoQuality]:
    """The reference mask, the candidate mask, their amplified difference, and the figures for one photo."""
    ref = get(SessionConfig(model=reference, intra_op_num_threads=threads))
    cand = get(SessionConfig(model=candidate, intra_op_num_threads=threads))
    a, b = masks(rgb, ref, cand)
    return a, b, difference_image(a, b), compare_masks("", a, b)
