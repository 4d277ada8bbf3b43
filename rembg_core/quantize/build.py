"""Build the int8 u2netp from the verified float model: opset 13, calibrate, quantize, correct, quantize again.

QDQ with per-channel int8 weights and uint8 activations, MinMax ranges from the calibration photos;
every conv is int8 except the output head (a 6→1 channel 1×1 conv and its Sigmoid, negligible
work), which would otherwise round the mask to 8 bits before `remove()` normalises it.
Deterministic by construction: fixed photos in sorted order, seeded augmentations, every ONNX
Runtime run on one thread with graph rewrites off, the same calibration ranges for both passes.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

from .. import models
from ..atomic import atomic_writer
from . import bias, calibration

Say = Callable[[str], None]
TARGET_OPSET = 13  # per-channel QDQ needs DequantizeLinear's axis attribute (opset 13)


def _quiet(_: str) -> None:
    pass


def convert_opset(model: onnx.ModelProto, opset: int = TARGET_OPSET) -> onnx.ModelProto:
    converted = version_converter.convert_version(model, opset)
    return onnx.shape_inference.infer_shapes(converted)


def calibrate(model_path: Path, batches: list, cache: Path, workdir: Path) -> None:
    """MinMax ranges of every tensor over `batches`, saved as onnxruntime's calibration cache."""
    calibrator = create_calibrator(model_path, augmented_model_path=str(workdir / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.MinMax)
    # the library's session uses every core; one thread keeps the float reductions reproducible
    calibrator.infer_session = ort.InferenceSession(
        calibrator.augmented_model_path, sess_options=bias.single_thread_options(),
        providers=["CPUExecutionProvider"])
    input_name = calibrator.infer_session.get_inputs()[0].name
    calibrator.collect_data(calibration.BatchReader(input_name, batches))
    save_tensors_data(calibrator.compute_data(), cache)


def output_head(model: onnx.ModelProto) -> list[str]:
    """The nodes that make the mask output from the last feature map: its Sigmoid and the 1×1 conv
    before it. Quantized, they would round the mask to 8 bits twice (logit, then probability)."""
    producers = {out: n for n in model.graph.node for out in n.output}
    head: list[str] = []
    node = producers.get(model.graph.output[0].name)
    while node is not None and node.op_type in ("Sigmoid", "Conv") and len(head) < 2:
        head.append(node.name)
        node = producers.get(node.input[0])
    return head


def quantize(model_path: Path, out: Path, cache: Path, exclude: list[str] | None = None) -> None:
    # quantize_static logs a root-level warning to run its pre-processing, which would not change
    # this graph (shapes are inferred after the opset conversion); keep the progress output readable
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        _quantize(model_path, out, cache, exclude)
    finally:
        root.setLevel(level)


def _quantize(model_path: Path, out: Path, cache: Path, exclude: list[str] | None) -> None:
    quantize_static(str(model_path), str(out), None, quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=exclude,
                    calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=str(cache))


def build_int8(source: Path, dest: Path, say: Say = _quiet) -> Path:
    """Write the int8 model built from the float model at `source` to `dest` (atomically)."""
    t0 = time.perf_counter()

    def step(message: str) -> None:
        say(f"[{time.perf_counter() - t0:5.1f} s] {message}")

    spec = models.get_spec("u2netp")
    with tempfile.TemporaryDirectory(prefix="rembg-lab-int8-") as tmp:
        work = Path(tmp)
        step(f"converting {source.name} to opset {TARGET_OPSET}")
        float13 = convert_opset(onnx.load(str(source)))
        float13_path = work / "float13.onnx"
        onnx.save(float13, str(float13_path))

        photos = calibration.calibration_photos()
        step(f"preparing {len(photos)} calibration photos and {calibration.AUGMENTATIONS_PER_PHOTO - 1} "
             f"seeded variants of each (seed {calibration.SEED})")
        batches = calibration.calibration_batches(spec, photos, per_photo=1)
        variants = calibration.calibration_batches(spec, photos)
        head = output_head(float13)

        step(f"calibrating (MinMax over {len(batches)} photos, 1 thread)")
        cache = work / "ranges.json"
        calibrate(float13_path, batches, cache, work)

        step(f"quantizing (QDQ, per-channel int8 weights, uint8 activations; fp32 head: {', '.join(head)})")
        first = work / "first.onnx"
        quantize(float13_path, first, cache, head)

        step(f"measuring conv input means over {len(variants)} inputs for weight-rounding bias correction")
        means = bias.conv_input_means(float13, variants)
        fixed, count = bias.corrected(float13, onnx.load(str(first)), means)
        fixed_path = work / "corrected.onnx"
        onnx.save(fixed, str(fixed_path))

        step(f"re-quantizing with {count} corrected conv biases")
        final = work / "final.onnx"
        quantize(fixed_path, final, cache, head)
        with atomic_writer(dest) as out, open(final, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
    step(f"wrote {dest} ({dest.stat().st_size / 1e6:.2f} MB, sha256 {models.file_digest(dest, 'sha256')})")
    return dest
