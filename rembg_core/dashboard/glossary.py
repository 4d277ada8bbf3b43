"""The dashboard's words: what the memory figures mean (one line each), what the session flags do, the
first page's getting started, and what max_size did to an image."""

from __future__ import annotations

UNITS = {
    "rss": "RSS (resident set size): the memory of a process that sits in RAM right now, in MB.",
    "peak": "Peak: the highest RSS during the run (the kernel's high-water mark, so short spikes count).",
    "retained": "Retained: RSS after the run minus RSS before it — what the process keeps once the work is done.",
    "release": "Release ratio: (peak − after) / (peak − before); 100 % gave back everything the run took, "
               "0 % kept it all.",
    "before_isolated": "RSS with the model loaded: the fresh process after loading the model, before any image.",
    "before_in_process": "RSS before: the dashboard server's RSS when the run began (it holds every user's state).",
}

FLAG_HELP = {
    "arena": "ONNX Runtime's CPU arena keeps every buffer it frees for reuse. Runs skip malloc, but the "
             "process keeps the arena's high-water mark for as long as the session lives.",
    "pattern": "After the first run ORT plans every intermediate tensor and, from the second run, "
               "allocates them as one block.",
    "shrink": "RunOptions memory.enable_memory_arena_shrinkage: at the end of each run the arena gives its "
              "free chunks back. Only meaningful with the arena on.",
}

GETTING_STARTED = """
1. **Upload a photo** or **pick a sample** above: the cutout appears with what it cost in memory and time.
2. **Download** the PNG (transparent), WebP or the mask. Crop and background colour reuse the mask: the
   model does not run again.
3. The **sidebar** holds the session settings every page uses: the ONNX Runtime memory switches and
   **max_size** (1600 px by default; "no cap" works at full size and needs far more memory).
4. **Batch** does many files or a zip, **Watermark** makes transparent marks, **Memory Lab** measures what
   the switches cost and checks the source article's claims, **Benchmark** compares every configuration.
"""


def max_size_story(original: tuple[int, int], decoded: tuple[int, int], working: tuple[int, int],
                   max_size: int | None, s: int) -> list[str]:
    """What max_size did to one image, step by step (markdown lines); `s` is the model's input side."""
    (ow, oh), (dw, dh), (w, h) = original, decoded, working
    lines = [f"**Original** {ow}×{oh} px ({ow * oh / 1e6:.1f} MP)."]
    if max_size is None:
        lines.append("**max_size** is off: decode, mask and cutout all work at full size.")
    elif sorted((dw, dh)) != sorted((ow, oh)):
        then = f", then resized to {w}×{h}" if sorted((dw, dh)) != sorted((w, h)) else ""
        lines.append(f"**Decode**: the JPEG decoder scaled in the DCT domain to {dw}×{dh}{then} (max_size "
                     f"{max_size}) — the full-size bitmap never existed in memory.")
    elif (w, h) != (ow, oh):
        lines.append(f"**Decode**: decoded at full size, then resized to {w}×{h} (max_size {max_size}).")
    else:
        lines.append(f"**Decode**: already within max_size {max_size}; nothing scaled.")
    lines.append(f"**Model**: always sees {s}×{s} px, whatever max_size says.")
    lines.append(f"**Mask**: the {s}×{s} prediction is upscaled to {w}×{h}.")
    lines.append(f"**Compositing and download**: {w}×{h} px ({w * h * 4 / 1e6:.0f} MB as RGBA).")
    return lines

SIDEBAR_HELP = {
    "model": "On disk: ready. Can be fetched: downloaded (or built) on first use. Not reachable here: no "
             "source answers from this machine; u2netp is bundled.",
    "arena": "enable_cpu_mem_arena: ONNX Runtime keeps freed buffers in its own pool. Faster reruns, memory "
             "stays with the process.",
    "pattern": "enable_mem_pattern: plans all intermediate buffers after the first run and allocates them as "
               "one block from then on.",
    "shrink": "RunOptions memory.enable_memory_arena_shrinkage: gives the arena's free chunks back at the end "
              "of every run (only matters with the arena on).",
    "max_size": "Caps the image before decoding finishes; the mask and the cutout are made at this size. The "
                "model's own input is fixed. 1600 px by default; \"no cap\" (far right) works at full size and "
                "needs far more memory.",
}

STATUS_HELP = {
    "200": "answered with the cutout",
    "503": "turned away by admission (K running + Q waiting were full), with Retry-After",
    "error": "no HTTP answer at all: the connection was refused, reset or timed out on the client's side",
}

OPTION_HELP = {
    "only_mask": "The result is the greyscale mask itself (downloads are named -mask).",
    "post": "Opening, blur and threshold: a clean hard edge, loses fine hair.",
    "crop": "Trim the transparent margin around the subject.",
}

BATCH_HELP = {
    "upload": "Up to {n} images. Any file is taken; what is not an image is refused with its reason. In a zip, "
              "folders are walked; nested archives, unsafe paths and dotfiles are refused or skipped.",
    "cache": "Reuse results for identical input bytes, options and model (sha256 keys, on disk).",
    "pipelined": "Pipelined keeps up to {n} images in memory, serial one. On 2 cores with ONNX Runtime's default "
                 "thread spinning both are equally fast (docs/BENCHMARKS.md, Batch).",
    "engine": "Ray: Ray Data actors, one session each (docs/DISTRIBUTED.md); outputs are the same bytes as local.",
    "address": "Blank: a local cluster on this machine, started for the batch and shut down after.",
}

SERVING_HELP = {
    "preload": "Verify and load the model in the master before forking the workers.",
    "q": "Beyond K + Q: 503 with Retry-After.",
    "idle": "Drop the session after this long idle.",
    "amount": "A number of requests in total, or a time limit (at most 600 s).",
}

WATERMARK_HELP = {
    "logo": "A logo on a plain background, a transparent PNG, or any photo. Nothing uploaded: a sample logo is used.",
    "photos": "Previews are scaled down; downloads are stamped at full size. Nothing uploaded: a sample photo.",
    "source": "Auto: the logo's own transparency if it has some; a colour key when its border is one plain colour; "
              "otherwise the background-removal model.",
    "margin": "Distance from the photo's edges; empty = 3 % of its shorter side.",
    "spacing": "Gap between tiles; empty = the mark's height.",
}
