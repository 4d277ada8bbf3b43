"""A probe child's peak must be its own, not its parent's (the Streamlit server is a big parent)."""

from __future__ import annotations

import numpy as np
import pytest

from rembg_core import SessionConfig
from rembg_core.measure.runner import run_isolated
from rembg_core.memory import MB, rss
from tests.conftest import subject_image


@pytest.mark.model
def test_isolated_peak_is_not_inherited_from_a_big_parent(model_path, tmp_path):
    image = tmp_path / "disc.png"
    subject_image((400, 300)).save(image)
    ballast = np.ones(1536 * MB // 8)  # 1.5 GB resident in the parent, as a busy dashboard might hold
    assert rss() > 1400 * MB
    record = run_isolated(SessionConfig(enable_cpu_mem_arena=False), image, repeats=1, warmups=0)
    del ballast
    assert record.ok, record.reason
    # Linux carries ru_maxrss across fork+exec: read naively, the child would "peak" above 1.5 GB.
    assert record.memory.peak < 1024 * MB
    assert record.memory.peak >= record.trace.peak - 1 * MB
