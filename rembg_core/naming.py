"""Output names: one rule for every command, so two inputs never write the same file."""

from __future__ import annotations

from pathlib import PurePosixPath

EXTENSIONS = {"jpeg": "jpg", "jpg": "jpg", "png": "png", "webp": "webp"}


class OutputNames:
    """Relative output names, unique within one run (case-insensitively: macOS and Windows folders).

    `a/x.jpg` and `b/x.jpg` flattened into one folder become `x.png` and `x-2.png`; a nested
    relative path keeps its folders. `suffix` is added to the stem (e.g. "-watermarked").
    """

    def __init__(self, fmt: str = "png", suffix: str = "") -> None:
        self.fmt = fmt
        self.suffix = suffix
        self.used: set[str] = set()

    def __call__(self, rel: str, fmt: str | None = None) -> str:
        ext = EXTENSIONS.get((fmt or self.fmt).lower(), (fmt or self.fmt).lower())
        base = PurePosixPath(rel.replace("\\", "/"))
        stem, parent = (base.stem or "image") + self.suffix, base.parent
        candidate = str(parent / f"{stem}.{ext}")
        n = 1
        while candidate.casefold() in self.used:
            n += 1
            candidate = str(parent / f"{stem}-{n}.{ext}")
        self.used.add(candidate.casefold())
        return candidate
