"""`serve`'s defaults come from the service's dataclasses, and serve_args() gives back flags that
rebuild exactly the config they were made from (the Serving Lab starts its servers with them)."""

from __future__ import annotations

import dataclasses

import pytest

from rembg_core.cli import build_parser
from rembg_core.cli.serve import configs, serve_args
from rembg_core.dashboard.serving import LabServer
from rembg_core.server.config import ServerConfig
from rembg_core.server.launcher import GunicornSettings
from rembg_core.session import SessionConfig


def parsed(argv: list[str]) -> tuple[ServerConfig, GunicornSettings]:
    return configs(build_parser().parse_args(["serve", *argv]))


def test_no_flags_give_the_dataclass_defaults():
    assert parsed([]) == (ServerConfig(), GunicornSettings())


@pytest.mark.parametrize("config, settings", [
    (ServerConfig(), GunicornSettings()),
    (ServerConfig(session=SessionConfig(enable_cpu_mem_arena=False, intra_op_num_threads=2), max_size=4096,
                  max_inflight=3, max_queue=0, idle_seconds=2.5, max_upload_bytes=7 * 1024 * 1024),
     GunicornSettings(workers=2, preload=False, max_requests=50, max_requests_jitter=5, graceful_timeout=9,
                      loglevel="info")),
    (ServerConfig(session=SessionConfig(arena_shrinkage=True, enable_mem_pattern=False), max_size=640),
     GunicornSettings(workers=3)),
])
def test_serve_args_round_trip(config, settings):
    config = dataclasses.replace(config, workers=settings.workers)  # each worker's share of cores follows --workers
    assert parsed(serve_args(config, settings)) == (config, settings)


def test_an_uncapped_max_size_has_no_flag():
    with pytest.raises(ValueError, match="max_size"):
        serve_args(ServerConfig(max_size=None), GunicornSettings())


def test_the_serving_lab_starts_servers_with_the_services_defaults():
    lab = LabServer()
    assert parsed(lab.args()) == (ServerConfig(), GunicornSettings())
    assert f"C=auto Q={ServerConfig().max_queue}" in lab.label() and "MALLOC_MMAP_THRESHOLD_=131072" in lab.label()


@pytest.mark.parametrize("argv, name, threshold", [
    ([], "glibc", 131072),  # the service's default: a fixed mmap threshold
    (["--malloc-mmap-threshold", "0"], "glibc", None),  # glibc's own sliding threshold
    (["--allocator", "jemalloc"], "jemalloc", None),  # the default tunes glibc only
])
def test_allocator_flags(argv, name, threshold):
    allocator = parsed(argv)[0].allocator
    assert (allocator.name, allocator.mmap_threshold) == (name, threshold)
    assert parsed(serve_args(parsed(argv)[0], GunicornSettings()))[0].allocator == allocator
