"""The RSS sampler, its marks and the trace arithmetic; trim()."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from rembg_core.measure.sampling import Mark, MemoryTrace, RssSampler, Sample
from rembg_core.memory import MB, TrimReport, trim


def test_sampler_records_samples_and_marks_in_order():
    with RssSampler(interval=0.005) as sampler:
        sampler.mark("inference", "start")
        deadline = time.monotonic() + 10  # a busy machine may starve the thread: poll, don't guess
        while sampler.sample_count() < 8 and time.monotonic() < deadline:
            time.sleep(0.005)
        sampler.mark("inference", "end")
        sampler.mark("encode")
    trace = sampler.trace
    assert len(trace.samples) >= 8  # the thread sampled while we waited (2 of them are the marks)
    times = [s.t for s in trace.samples]
    assert times == sorted(times) and times[0] == 0.0
    assert [(m.label, m.phase) for m in trace.marks] == [("inference", "start"), ("inference", "end"), ("encode", "point")]
    assert all(0 <= m.t <= trace.duration for m in trace.marks)
    assert trace.spans()[0][0] == "inference"
    assert trace.stage_seconds()["inference"] > 0


def test_sampler_sees_a_big_allocation_as_peak_and_its_release():
    size = 200 * MB
    with RssSampler(interval=0.005) as sampler:
        with sampler.stage("alloc"):
            block = np.ones(size // 8)  # touched, so resident
            time.sleep(0.03)
        del block
    trace = sampler.trace
    assert trace.growth >= 0.9 * size
    assert trace.peak >= trace.before + 0.9 * size
    assert trace.retained < 0.25 * size  # numpy hands a block this big back (mmap) when freed
    assert trace.release_ratio is not None and trace.release_ratio > 0.75
    assert trace.stage_peaks()["alloc"] >= trace.before + 180 * MB


def test_exact_peak_catches_a_spike_between_samples():
    with RssSampler(interval=0.5) as sampler:  # far too slow to sample the spike
        block = np.ones(100 * MB // 8)
        del block
    trace = sampler.trace
    if not trace.exact_peak:
        pytest.skip("kernel high-water mark cannot be reset here")
    assert trace.growth >= 90 * MB


def test_mark_fits_the_pipeline_hook_and_rejects_unknown_phases():
    sampler = RssSampler().start()
    with pytest.raises(ValueError):
        sampler.mark("load", "middle")
    sampler.stop()


def test_python_heap_split():
    with RssSampler(python_heap=True) as sampler:
        blob = [bytes(1000) for _ in range(20_000)]  # ~20 MB of Python objects
        del blob
    trace = sampler.trace
    assert trace.py_heap_peak is not None and trace.py_heap_peak >= 15 * MB
    assert trace.native_peak == max(0, trace.peak - trace.py_heap_peak)
    assert all(s.py_heap is not None for s in trace.samples)


def test_trace_arithmetic():
    t = MemoryTrace(samples=(Sample(0, 100), Sample(1, 300), Sample(2, 150)), marks=(), before=100, after=150,
                    peak=300, duration=2.0, interval=0.005)
    assert t.retained == 50
    assert t.growth == 200
    assert t.release_ratio == pytest.approx(0.75)
    flat = MemoryTrace(samples=(Sample(0, 100),), marks=(), before=100, after=90, peak=100, duration=0.1, interval=0.005)
    assert flat.release_ratio is None  # peak == before: nothing to release
    assert flat.retained == -10


def test_trace_json_round_trip():
    with RssSampler(python_heap=True) as sampler:
        sampler.mark("load", "start")
        sampler.mark("load", "end")
    trace = sampler.trace
    again = MemoryTrace.from_dict(json.loads(json.dumps(trace.to_dict())))
    assert again == trace
    assert isinstance(again.marks[0], Mark) and isinstance(again.samples[0], Sample)


def test_marks_from_several_threads_are_kept():
    with RssSampler() as sampler:
        threads = [threading.Thread(target=lambda i=i: [sampler.mark(f"t{i}") for _ in range(50)]) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert len(sampler.trace.marks) == 200


@pytest.mark.model
def test_sampler_marks_every_pipeline_stage(model_path):
    from rembg_core import remove
    from tests.conftest import png_bytes, subject_image

    data = png_bytes(subject_image((300, 200)))
    with RssSampler() as sampler:
        remove(data, on_stage=sampler.mark)
    labels = {label for label, _, _ in sampler.trace.spans()}
    assert {"load", "session", "preprocess", "inference", "postprocess", "compose"} <= labels


def test_trim_gives_freed_heap_back():
    """200 MB of 2 KB blocks (malloc, below the mmap threshold), freed with every 64th kept: the heap
    cannot shrink from its top, so RSS stays up until malloc_trim hands the free pages back."""
    blocks = [bytes(2048) for _ in range(100_000)]
    pinned = blocks[::64]
    del blocks
    report = trim()
    assert isinstance(report, TrimReport) and report.malloc_trim  # glibc: the tests run on it
    assert report.freed == max(0, report.rss_before - report.rss_after)
    assert report.freed > 100 * MB  # without malloc_trim this is 0 (free() alone keeps the pages)
    assert len(pinned) == -(-100_000 // 64)
