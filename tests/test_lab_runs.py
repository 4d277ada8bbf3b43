"""Memory Lab's comparisons: only runs on the same image, max_size and repeats are put side by side."""

from __future__ import annotations

from rembg_core.dashboard.runs import LabRun, measured_effect, same_conditions
from rembg_core.memory import MB, MemoryFigures
from rembg_core.session import SessionConfig

ON, OFF = SessionConfig(), SessionConfig(enable_cpu_mem_arena=False)


def run(n: int, config: SessionConfig, image: str = "apple", max_size: int | None = None, repeats: int = 3,
        mode: str = "isolated") -> LabRun:
    return LabRun(n, mode, f"{image}.png", f"id:{image}", config, max_size, repeats, (0.2, 0.3, 0.25),
                  MemoryFigures(100 * MB, 400 * MB, 300 * MB))


def test_a_fair_pair_is_compared_with_its_conditions_named():
    text = measured_effect([run(1, ON), run(2, OFF)], "enable_cpu_mem_arena", "arena")
    assert text.startswith("Measured here (isolated runs #1 vs #2, apple.png, no cap, 3 image(s))")


def test_runs_on_different_images_sizes_or_repeats_are_not_compared():
    for other in (run(2, OFF, image="plants-1"), run(2, OFF, max_size=1600), run(2, OFF, repeats=5)):
        text = measured_effect([run(1, ON), other], "enable_cpu_mem_arena", "arena")
        assert text.startswith("Can't compare runs #1 and #2") and "Measured here" not in text
    assert "image" in same_conditions(run(1, ON), run(2, OFF, image="plants-1"))
    assert same_conditions(run(1, ON), run(2, OFF, mode="in-process")) is not None


def test_the_latest_fair_pair_wins_and_unrelated_flags_give_nothing():
    runs = [run(1, ON), run(2, OFF, image="plants-1"), run(3, OFF)]
    assert measured_effect(runs, "enable_cpu_mem_arena", "arena").startswith("Measured here (isolated runs #1 vs #3")
    assert measured_effect(runs, "enable_mem_pattern", "pattern") is None
