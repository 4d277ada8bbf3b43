"""rembg's edge modes in a fresh process, for `python -m rembg_core edges`:
`python -m benchmarks.edges_peer --result-fd N SPEC` (spawned through rembg_core.measure.runner).

Lives outside the library because rembg_core never imports rembg (a test and benchmark peer only).
The same loop as our own child (rembg_core.edgequality.child.measure_calls) times each call and
reads its peak, on the same u2netp file and ORT session options. SPEC's "options" are rembg's
keywords: alpha_matting, decontaminate (and the alpha-matting thresholds).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rembg_core.edgequality.child import measure_calls  # noqa: E402
from rembg_core.measure.child import serve  # noqa: E402

REMBG_KEYWORDS = ("alpha_matting", "alpha_matting_foreground_threshold", "alpha_matting_background_threshold",
                  "alpha_matting_erode_size", "decontaminate")


def peer(spec: dict) -> dict:
    from PIL import Image

    from rembg_core import models
    from rembg_core.session import SessionConfig

    os.environ["U2NET_HOME"] = str(models.models_dir())  # rembg finds <U2NET_HOME>/u2netp.onnx
    os.environ.pop("OMP_NUM_THREADS", None)  # rembg would turn it into thread counts
    import rembg

    session = rembg.new_session("u2netp", sess_opts=SessionConfig().session_options(),
                                providers=["CPUExecutionProvider"])
    if Path(session.inner_session._model_path).resolve() != models.model_path("u2netp").resolve():
        raise SystemExit("rembg did not load our u2netp file")
    kwargs = {k: v for k, v in spec.get("options", {}).items() if k in REMBG_KEYWORDS}

    def call(data: bytes) -> Image.Image:
        return rembg.remove(Image.open(io.BytesIO(data)), session=session, **kwargs)

    return measure_calls(spec, call)


def main(argv: list[str] | None = None) -> int:
    return serve({"edges": peer}, "benchmarks.edges_peer", argv)


if __name__ == "__main__":
    sys.exit(main())
