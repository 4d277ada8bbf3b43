"""The job's manifest: one JSON line per input, also the journal a killed job resumes from.

While a job runs, each finished input's row is appended and flushed (after its output file is
in place), so a job killed at any moment leaves every finished row behind, at worst plus one
torn last line, which `load` ignores. When the job ends the file is rewritten atomically with
exactly one row per input, in input order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..atomic import atomic_writer

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class ManifestRow:
    index: int  # position among the job's inputs
    input: str  # as the serial batch names it: the path given, or "archive.zip:member.png"
    status: str  # "ok" or "error"
    reason: str = ""  # one line, when status is "error"
    unwritable: bool = False  # the error was writing the output, not the input (the CLI's exit code tells them apart)
    output: str = ""  # relative to OUT, when ok
    key: str = ""  # the result cache's key: sha256(input) + options + model checksum ("" if unread)
    run: int = 1  # which run of this job produced the row (a resumed row keeps its first run)
    worker: str = ""  # node id (8 hex) / actor pid
    cached: bool = False  # taken from the result cache (--cache) instead of computed
    seconds: float = 0.0  # read, decode, inference and encode of this item on its actor
    timings: dict[str, float] = field(default_factory=dict)
    width: int = 0
    height: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    peak_rss: int = 0  # the actor's peak RSS (bytes) when it finished this item

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> ManifestRow:
        d = json.loads(line)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def load(path: str | os.PathLike) -> list[ManifestRow]:
    """Every readable row, in file order (a torn or foreign line is skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(ManifestRow.from_json(line))
        except (ValueError, TypeError):
            continue  # the line a killed job was writing
    return rows


@dataclass(frozen=True)
class Previous:
    """What earlier runs of the job finished, for resuming."""

    by_output: dict[str, ManifestRow]  # output name → its row (the file exists)
    by_key: dict[str, str]  # cache key → an existing output name with those bytes
    last_run: int

    @classmethod
    def from_rows(cls, rows: Iterable[ManifestRow], out: Path) -> Previous:
        by_output: dict[str, ManifestRow] = {}
        last_run = 0
        for r in rows:
            last_run = max(last_run, r.run)
            if r.ok and r.key and r.output and (out / r.output).is_file():
                by_output[r.output] = r
        return cls(by_output, {r.key: r.output for r in by_output.values()}, last_run)


class Journal:
    """Appends rows as they finish; `finish` rewrites the file with one row per input, in order."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, row: ManifestRow) -> None:
        self._f.write(row.to_json() + "\n")
        self._f.flush()  # in the page cache: survives the driver being killed

    def finish(self, rows: Iterable[ManifestRow]) -> None:
        self.close()
        with atomic_writer(self.path) as f:
            for row in sorted(rows, key=lambda r: r.index):
                f.write((row.to_json() + "\n").encode("utf-8"))

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def as_dicts(rows: Iterable[ManifestRow]) -> Iterator[dict[str, Any]]:
    for r in rows:
        yield asdict(r)
