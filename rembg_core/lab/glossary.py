"""What the dashboard's memory words mean, one line each, and what the session flags do."""

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
