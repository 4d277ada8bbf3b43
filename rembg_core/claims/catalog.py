"""The source article's claims: each one's words, how it is tested here, and the criterion.

The words are the article's advice, translated and condensed (the article is not shipped with
this project). `test` says what runs; `criterion` says which figures decide each verdict. The
verdict itself is never written here: verdicts.py computes it from the measured records.
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASE_TARGET = 0.95  # the article's release ratio for arena + pattern off
CAP = 1600  # the article's cap, px on the longest side
FOUR_K = (3840, 2160)
TEMPORARIES_CLAIMED = 1.5 * 1024 ** 3  # "over 1.5 GB of temporaries" for a 4K image


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    words: str  # the article's statement, in translation
    test: str  # what is measured, in fresh processes
    criterion: str  # how the verdict follows from the figures


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "arena_off_release", "Arena and memory pattern off release memory",
        "“With enable_cpu_mem_arena and enable_mem_pattern turned off, the process gives back at least 95 % "
        "of what it used after a single inference.”",
        "Fresh processes load the model and remove one image once (no warm-up), with arena + pattern off and, "
        "for contrast, on. Release ratio = (peak − after) / (peak − before).",
        "Holds when every run with both off releases ≥ 95 %; partly when some do; does not hold when none do."),
    Claim(
        "cap_bounds", "A 1600 px cap bounds intermediate memory",
        "“Cap the input at 1600 px on the longest side: it bounds the memory the intermediate buffers need.”",
        "A synthetic 4K image (3840×2160), removed once in fresh processes with no cap and with a 1600 px cap. "
        "Growth = peak − RSS with the model loaded.",
        "Holds when every capped run grows less than every uncapped run; partly when only the medians differ "
        "that way; does not hold when the cap does not lower the growth."),
    Claim(
        "four_k_temporaries", "A 4K image needs over 1.5 GB of temporaries",
        "“A 4K image may need more than 1.5 GB of temporary buffers.”",
        "The uncapped 4K runs of the previous claim: growth = peak − RSS with the model loaded.",
        "Holds when every uncapped run grows by more than 1.5 GB; partly when some do; does not hold when none do."),
    Claim(
        "shared_session", "One shared session, not one per request",
        "“Create one session and share it between requests instead of creating a session per request.”",
        "Fresh processes serve the same requests from 2 threads: one shared session, or a new session "
        "for every request. Latency per request includes loading the session where one is made.",
        "Holds when shared is faster (95 % intervals apart, five or more requests each) and peaks no higher "
        "(within 5 %); partly when only one of the two; does not hold when neither."),
    Claim(
        "stream_gc", "Streaming a batch with gc.collect() stops accumulation",
        "“Process a batch as a stream, one image at a time, and call gc.collect() after each: memory stops "
        "accumulating.”",
        "Fresh processes remove the same image N times: streaming with gc.collect() after each, streaming "
        "without it, and keeping every result (no streaming). RSS is read after each image.",
        "Growth per image after two warm-ups counts as accumulation above max(1 MB, a quarter of one RGBA "
        "copy). Holds when streaming + gc is flat while streaming without gc grows; partly when streaming is "
        "flat either way (gc adds nothing measurable); does not hold when streaming + gc grows."),
    Claim(
        "close_pillow", "Closing Pillow images matters",
        "“Close Pillow images explicitly (with-blocks or .close()), or memory and file handles pile up.”",
        "Fresh processes open, convert and drop the same image file N times, with and without closing it. "
        "RSS and open file descriptors are read after each image.",
        "Holds when not closing leaves more file descriptors open or accumulates memory while closing does "
        "not; does not hold when both behave the same."),
    Claim(
        "hash_cache", "A hash cache answers repeated images",
        "“Cache results by the hash of the input: repeated images are answered without running the model.”",
        "A fresh process runs a small batch twice through the on-disk result cache, then a re-saved copy "
        "(same pixels, other bytes).",
        "Holds when every identical image hits on the second pass and the hits are faster (95 % intervals "
        "apart); partly when they hit but are not clearly faster; does not hold when they miss."),
    Claim(
        "preload", "--preload shares the model between workers",
        "“Run the service under gunicorn with --preload so workers share the loaded model.”",
        "The real service (gunicorn, 2 workers, 127.0.0.1) is started with and without --preload in interleaved "
        "rounds (at least two each), each under the same bounded load and stopped after it; every worker's "
        "PSS and USS are read from /proc while the load runs, and the requests each worker answered are counted.",
        "Only runs where every worker served requests count. Holds when PSS per busy worker with --preload is "
        "below every run without it by more than the 1 MB noise floor; does not hold when it is not lower; "
        "could not tell with fewer than two such runs per arm or overlapping ranges."),
)

BY_ID = {c.id: c for c in CLAIMS}


def get(claim_id: str) -> Claim:
    try:
        return BY_ID[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim {claim_id!r}; known: {', '.join(BY_ID)}") from None
