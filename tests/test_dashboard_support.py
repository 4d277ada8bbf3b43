"""Library pieces behind the dashboard's long-lived pages: thumbnails that fit one box, where a model can
come from, a Stop that kills a measuring child, and the Serving Lab's owner."""

from __future__ import annotations

import io
import time

import psutil
import pytest
from PIL import Image

from rembg_core import models, preview
from rembg_core.dashboard.serving import ServingLab
from rembg_core.measure import runner
from rembg_core.measure.configs import probe_config
from rembg_core.session import SessionConfig
from tests.conftest import png_bytes


@pytest.mark.parametrize("size", [(3, 4000), (4000, 3), (640, 480), (1, 1)])
def test_a_thumbnail_fills_one_box_whatever_the_shape(size):
    data = png_bytes(Image.new("RGBA", size, (200, 30, 30, 128)))
    thumb = Image.open(io.BytesIO(preview.boxed_thumbnail(data, 160)))
    assert thumb.size == (160, 160) and thumb.format == "JPEG"


def test_model_availability_says_on_disk_or_why_not(model_path):
    assert models.availability("u2netp").state == "on disk"
    for name in models.REGISTRY:
        a = models.availability(name, timeout=1.0)
        assert a.state in ("on disk", "can be fetched", "not reachable here") and a.how
    assert models.reach.host_reachable("127.0.0.1", port=1, timeout=1.0) is not None  # nothing listens there
    assert "does not resolve" in (models.reach.host_reachable("no-such-host.invalid", timeout=1.0) or "")


class Stop(Exception):
    pass


def test_a_tick_that_raises_kills_the_child_before_the_error_goes_on():
    me = psutil.Process()
    ticks = []

    def tick():
        ticks.append(time.monotonic())
        if len(ticks) == 3:
            assert [c for c in me.children() if "tests.sleeper" in " ".join(c.cmdline())]  # it was running
            raise Stop

    with runner.ticking(tick), pytest.raises(Stop):
        runner.spawn({}, probe_config(SessionConfig()), timeout=60, module="tests.sleeper")
    assert not [c for c in me.children() if c.status() != psutil.STATUS_ZOMBIE]
    assert runner._tick.get() is None  # the hook ends with its block


def test_without_a_server_anyone_may_start_the_serving_lab():
    lab = ServingLab()
    assert lab.may_control("a") and lab.may_control("b") and lab.owner is None
    lab.stop(visitor="b")  # nothing runs: nothing to refuse
