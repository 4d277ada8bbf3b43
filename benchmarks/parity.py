"""Alpha parity and edge colour against rembg on the peer-suite fixtures (same u2netp file).

    .venv/bin/python benchmarks/parity.py [FIXTURES_DIR]
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from rembg_core import models, remove, samples

ROOT = Path(__file__).resolve().parents[1]
PEER = samples.peer_suite_path()


def edge_error(cutout: np.ndarray, source: np.ndarray) -> float:
    """Mean |RGB out − RGB source| over half-transparent pixels (0 < α < 255)."""
    edge = (cutout[..., 3] > 0) & (cutout[..., 3] < 255)
    return float(np.abs(cutout[..., :3].astype(int) - source.astype(int))[edge].mean())


def main() -> None:
    fixtures = Path(sys.argv[1]) if len(sys.argv) > 1 else PEER / "fixtures"
    os.environ["U2NET_HOME"] = str(models.fetch("u2netp").parent)  # rembg loads the very same file
    from rembg import new_session
    from rembg import remove as rembg_remove

    session = new_session("u2netp")
    print("| fixture | size | mean abs Δα | max abs Δα | edge colour error, rembg_core | edge colour error, rembg |")
    print("|---|---|---|---|---|---|")
    for path in sorted(fixtures.glob("*.jpg")):
        data = path.read_bytes()
        ours = np.asarray(remove(data).image)
        theirs = np.asarray(Image.open(io.BytesIO(rembg_remove(data, session=session))))
        source = np.asarray(Image.open(path).convert("RGB"))
        delta = np.abs(ours[..., 3].astype(int) - theirs[..., 3].astype(int))
        print(f"| {path.name} | {ours.shape[1]}×{ours.shape[0]} | {delta.mean():.4f} | {delta.max()} "
              f"| {edge_error(ours, source):.2f} | {edge_error(theirs, source):.2f} |")
    golden = Image.open(PEER / "expected" / "anime-girl-1.u2netp.png")
    ours = remove(fixtures / "anime-girl-1.jpg").image
    black = Image.alpha_composite(Image.new("RGBA", ours.size, (0, 0, 0, 255)), ours)
    print(f"\nphash over black: rembg_core {imagehash.phash(black)}, rembg golden {imagehash.phash(golden)}")


if __name__ == "__main__":
    main()
