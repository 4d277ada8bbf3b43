"""A short soak (benchmarks/soak.py, 60 removals): memory, file handles, threads and temp files settle."""

from __future__ import annotations

import pytest

from benchmarks.soak import RECOMMENDED, run_soak

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_short_soak_has_no_leaks(model_path):
    result = run_soak(count=60, warmup=12, config=RECOMMENDED, max_size=1600, trim_every=12)
    assert result.refused == 0
    assert result.temp_left == []
    assert result.fds_end <= result.fds_warm
    assert result.threads_end <= result.threads_warm and result.py_threads_end <= result.py_threads_warm
    assert result.drift <= 0.10, result
