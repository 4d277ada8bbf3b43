"""A real multi-node run: `ray.cluster_utils.Cluster` with a head and a worker node on this
machine, one CPU each, so each node hosts one actor. ~30 inputs, bad files among them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rembg_core import RemoveOptions
from rembg_core.batch import collect, run_batch
from rembg_core.distributed import MANIFEST_NAME, JobSpec, manifest, run_job
from rembg_core.session import SessionConfig
from tests.conftest import png_bytes, subject_image

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster_address():
    from tests.ray_support import two_node_cluster

    with two_node_cluster() as address:
        yield address


def test_two_node_cluster_job_with_bad_files(tmp_path, model_path, cluster_address):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(26):
        im = subject_image((36 + (i * 7) % 40, 30 + (i * 11) % 40))
        (folder / f"p{i:02d}.png").write_bytes(png_bytes(im))
    (folder / "p03.jpg").write_bytes(b"")  # empty, and it shares a name with p03.png
    (folder / "text.png").write_bytes(b"plain text, not a picture")
    (folder / "cut.png").write_bytes(png_bytes(subject_image((40, 40)))[:-30])
    (folder / "odd.jpg").write_bytes(b"\xff\xd8\xff\xe0 this JPEG stops here")
    inputs = [str(folder)]
    n = len(collect(inputs))
    assert n == 30

    config = SessionConfig(enable_mem_pattern=False, intra_op_num_threads=1)
    summary = run_job(inputs, JobSpec(out=tmp_path / "out", config=config, address=cluster_address, batch_size=2))
    assert summary.cluster.nodes == 2 and summary.plan.actors == 2
    rows = manifest.load(tmp_path / "out" / MANIFEST_NAME)
    assert [r.index for r in rows] == list(range(n))  # a manifest row per input
    bad = {Path(r.input).name: r.reason for r in rows if not r.ok}
    assert set(bad) == {"p03.jpg", "text.png", "cut.png", "odd.jpg"}
    assert all(reason and "\n" not in reason for reason in bad.values())
    assert len({r.worker.split("/")[0] for r in rows}) == 2  # both nodes ran items

    # correct outputs: the serial batch's bytes, in-process, same session flags
    serial = {r.output_name: r.data for r in run_batch(collect(inputs), config, RemoveOptions()) if r.ok}
    written = {r.output: (tmp_path / "out" / r.output).read_bytes() for r in rows if r.ok}
    assert len(written) == 26 and written == serial
