"""One measurement in a fresh process, as a mode of the library's child runner: run_all.py spawns
`python -m benchmarks.worker --result-fd N SPEC` through rembg_core.measure.runner.spawn and reads the
result from that pipe (SPEC: {"mode": IMPL, "image": PATH, "max_size": N | null, "warmups": 2}).

IMPL is `ours` (rembg_core.remove), `rembg` (rembg.remove on the same u2netp file and session
options) or `bare` (session.run alone on a pre-made input tensor: the floor remove() is held to).
The timed call is bytes in → RGBA image out; neither side encodes. Peak is the RSS growth during
the timed call (kernel high-water mark reset just before it), after the warm-ups.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path


def measure(spec: dict) -> dict:
    from PIL import Image

    from rembg_core import models
    from rembg_core.measure.sampling import RssSampler
    from rembg_core.memory import rss
    from rembg_core.session import SessionConfig, load_session

    config = SessionConfig()  # arena on, mem pattern on, threads auto: ORT's defaults, as rembg's
    impl, image, cap = spec["mode"], spec["image"], spec.get("max_size")
    data = Path(image).read_bytes()

    if impl == "ours":
        from rembg_core.options import RemoveOptions
        from rembg_core.pipeline import remove

        session = load_session(config)

        def call():
            return remove(data, session=session, options=RemoveOptions(max_size=cap)).image

    elif impl == "rembg":
        os.environ["U2NET_HOME"] = str(models.models_dir())  # rembg finds <U2NET_HOME>/u2netp.onnx
        os.environ.pop("OMP_NUM_THREADS", None)  # rembg would turn it into thread counts
        import rembg

        session = rembg.new_session("u2netp", sess_opts=config.session_options(),
                                    providers=["CPUExecutionProvider"])
        if Path(session.inner_session._model_path).resolve() != models.model_path("u2netp").resolve():
            raise SystemExit("rembg did not load our u2netp file")

        def call():
            img = Image.open(io.BytesIO(data))
            if cap:
                img.thumbnail((cap, cap))  # how a rembg user caps input (Pillow drafts JPEGs here)
            return rembg.remove(img, session=session)

    else:
        from rembg_core.pipeline import preprocess

        session = load_session(config)
        batch = preprocess(Image.open(io.BytesIO(data)).convert("RGB"), session.spec)

        def call():
            return session.run(batch)

    for _ in range(int(spec.get("warmups", 2))):
        out = call()
        del out
    with RssSampler(interval=0.005) as sampler:
        t0 = time.perf_counter()
        out = call()
        seconds = time.perf_counter() - t0
    trace = sampler.trace
    size = list(out.shape) if hasattr(out, "shape") else list(out.size)
    return {"impl": impl, "image": image, "max_size": cap, "seconds": seconds, "growth": trace.growth,
            "before": trace.before, "peak": trace.peak, "exact_peak": trace.exact_peak, "out_size": size,
            "rss_end": rss()}


def main(argv: list[str] | None = None) -> int:
    from rembg_core.measure.child import serve

    return serve({"ours": measure, "rembg": measure, "bare": measure}, "benchmarks.worker", argv)


if __name__ == "__main__":
    sys.exit(main())
