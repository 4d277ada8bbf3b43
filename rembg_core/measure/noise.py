"""The noise floor of memory figures, and how a figure is shown when it is below it.

RSS read twice over the same state differs a little: pages the allocator touches, a thread's stack,
the sampler itself. Measured on the reference machine (2 cores; u2netp, the apple sample, 3 warm-ups,
then RSS read after each of 12 identical runs, arena on and arena off): the readings varied by at most
0.44 MB, and an idle process's readings 5 ms apart by 12 KB. A change smaller than NOISE_FLOOR
(over twice that range) is not told apart from jitter, so growth, retained and the release ratio
computed from it are shown as "–" with the reason, never as a figure. `jitter()` repeats the idle
measurement on the machine at hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..memory import MB, rss

NOISE_FLOOR = 1 * MB
FLOOR_TEXT = "1 MB"
# A ratio divides by the rise: with readings up to 0.44 MB apart, a rise under 10 MB could move the
# ratio by several points, so below this the release is not given as a percentage at all.
RATIO_MIN_RISE = 10 * MB
MIN_Y_SPAN = 20 * MB  # charts of RSS span at least this much, so sub-MB jitter is not drawn as a trend
DASH = "–"


@dataclass(frozen=True)
class Shown:
    """A memory figure as a person sees it: `text` ("–" when it is noise) and, then, `why` in one line."""

    text: str
    why: str = ""
    value: float | None = None  # the figure behind `text` (MB or a fraction), None when it is noise

    @property
    def noise(self) -> bool:
        return self.value is None


def within_noise(delta: int | float) -> bool:
    return abs(delta) < NOISE_FLOOR


def growth(before: int, peak: int) -> Shown:
    d = peak - before
    if within_noise(d):
        return Shown(DASH, f"RSS rose {d / MB:+.1f} MB: within the {FLOOR_TEXT} noise floor")
    return Shown(f"+{d / MB:.0f} MB", value=d / MB)


def retained(before: int, after: int) -> Shown:
    d = after - before
    if within_noise(d):
        return Shown(DASH, f"RSS after is {d / MB:+.1f} MB from before: within the {FLOOR_TEXT} noise floor")
    return Shown(f"{d / MB:+.0f} MB", value=d / MB)


def release(before: int, peak: int, after: int) -> Shown:
    """(peak − after) / (peak − before) in percent, or "–" when the rise it divides by is noise."""
    rise = peak - before
    if within_noise(rise) or rise <= 0:
        return Shown(DASH, f"RSS rose {rise / MB:+.1f} MB over the run: within the {FLOOR_TEXT} noise floor, "
                           "so there is no release to measure")
    if rise < RATIO_MIN_RISE:
        return Shown(DASH, f"RSS rose only {rise / MB:.1f} MB over the run: too little for the share released "
                           f"to be told from noise (needs {RATIO_MIN_RISE // MB} MB)")
    ratio = (peak - after) / rise
    if ratio > 1:
        return Shown("100 %", "RSS ended below where it began (something else freed memory meanwhile)", 1.0)
    if ratio < 0:
        return Shown("0 %", "RSS ended above its peak reading", 0.0)
    return Shown(f"{ratio:.0%}".replace("%", " %"), value=ratio)


def percent(ratio: float | None, digits: int = 0) -> str:
    """A ratio for people: '87 %'; '–' for None."""
    return DASH if ratio is None else f"{ratio * 100:.{digits}f} %"


def y_range(low: int, high: int, span: int = MIN_Y_SPAN) -> tuple[float, float]:
    """A y-axis range in MB around [low, high] bytes, at least `span` wide, centred on the data."""
    if high - low >= span:
        pad = (high - low) * 0.05
        return (low - pad) / MB, (high + pad) / MB
    mid = (low + high) / 2
    return (mid - span / 2) / MB, (mid + span / 2) / MB


def jitter(readings: int = 200, interval: float = 0.005) -> int:
    """The range of this process's RSS over `readings` readings `interval` apart while idle, bytes."""
    values = []
    for _ in range(readings):
        values.append(rss())
        time.sleep(interval)
    return max(values) - min(values)
