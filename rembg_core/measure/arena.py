"""The ORT arena of a session config, measured the one way ONNX Runtime allows from Python: the same
config on the same image in two fresh processes, arena on and arena off (no arena statistics are exposed)."""

from __future__ import annotations

import os
from dataclasses import replace

from ..session import SessionConfig
from .layers import Layer, LayerSplit
from .runner import run_isolated


def arena_by_pair(config: SessionConfig, image: str | os.PathLike, max_size: int | None, repeats: int = 1,
                  timeout: float = 300) -> tuple[int, str] | str:
    """The arena of `config` on `image`: two fresh processes, the same config with the arena on and off,
    each after two warm-ups and `repeats` images; arena = (RSS after − free-but-held) on − the same off.
    Returns (bytes, how) or the one-line reason it could not be measured."""
    if not config.enable_cpu_mem_arena:
        return 0, "the arena is off"
    on = run_isolated(config, image, max_size=max_size, repeats=repeats, warmups=2, timeout=timeout)
    off = run_isolated(replace(config, enable_cpu_mem_arena=False, arena_shrinkage=False), image, max_size=max_size,
                       repeats=repeats, warmups=2, timeout=timeout)
    bad = next((r for r in (on, off) if not r.ok), None)
    if bad is not None:
        return bad.reason
    if on.free_held is None or off.free_held is None:
        return "free-but-held memory could not be measured in the children (not glibc)"
    arena = (on.memory.after - on.free_held) - (off.memory.after - off.free_held)
    name = os.path.basename(str(image))
    return max(0, arena), (f"{config.flags_label}: fresh processes on {name} "
                           f"({'no cap' if max_size is None else f'{max_size} px'}), arena on vs off, RSS after the "
                           "runs less free-but-held in each")


def with_arena(split: LayerSplit, arena: tuple[int, str] | str) -> LayerSplit:
    """`split` with its ORT arena layer set from arena_by_pair (or the reason it is not measured)."""
    measured = not isinstance(arena, str)
    layer = Layer("ORT arena", arena[0] if not isinstance(arena, str) else None,
                  arena[1] if not isinstance(arena, str) else f"not measured: {arena}")
    layers = tuple(layer if x.name == "ORT arena" else x for x in split.layers)
    return LayerSplit(split.where, split.rss, layers, split.notes + (() if measured else (layer.how,)))


