"""What a message may say to an HTTP client: one line, and no filesystem path.

The library's errors name paths for the person at the terminal ("model file /srv/models/u2netp.onnx
is damaged"); a client of the service learns nothing useful from them and an attacker learns the
layout of the machine. The server logs the full message and answers with this one.
"""

from __future__ import annotations

import os
import re

_MAX = 300
_COMMON_ROOTS = ("home", "root", "tmp", "var", "srv", "opt", "usr", "etc", "mnt", "data", "work", "app", "Users")


def _roots() -> list[str]:
    """The top-level names a filesystem path here starts with; URL paths such as /api/remove don't."""
    try:
        names = set(os.listdir("/"))
    except OSError:
        names = set()
    return sorted(names | set(_COMMON_ROOTS), key=len, reverse=True)


_SEGMENT = r"[^\s/'\"():;,<>|]+"
# an absolute path under a real top-level folder or of three components or more, a home-relative or a
# relative one; the last component is kept
_PATH = re.compile(
    rf"(?<![\w:/.])(?:/(?:{'|'.join(re.escape(r) for r in _roots())})(?:/{_SEGMENT})*|(?:/{_SEGMENT}){{3,}}"
    rf"|~(?:/{_SEGMENT})+|\.{{1,2}}(?:/{_SEGMENT})+)/?(?![\w.-])")


def one_line(text: str, limit: int = _MAX) -> str:
    """Control characters escaped (a newline in a file name never cuts the message), long text shortened."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _known_dirs() -> list[str]:
    """Folders this process uses, which may not exist yet (a models folder still to be created)."""
    from ..models import models_dir

    dirs = {str(models_dir()), os.path.expanduser("~"), os.getcwd()}
    return sorted((d for d in dirs if len(d) > 1), key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every filesystem path replaced by its last component."""
    text = _PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "…", text)
    for known in _known_dirs():
        text = text.replace(known, os.path.basename(known))
    return text


def public(text: str) -> str:
    return one_line(redact(text))
