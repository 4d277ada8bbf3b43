"""What a message may say to an HTTP client: one line, and no filesystem path.

The library's errors name paths for the person at the terminal ("model file /srv/models/u2netp.onnx
is damaged"); a client of the service learns nothing useful from them and an attacker learns the
layout of the machine. The server logs the full message and answers with this one.
"""

from __future__ import annotations

import re

# an absolute path of two or more components, or a home-relative one; the last component is kept
_PATH = re.compile(r"(?<![\w:/.])(?:~|\.{1,2})?(?:/[^\s/'\"():;,<>|]+){2,}/?|(?<![\w:/.])~/[^\s'\"():;,<>|]+")
_MAX = 300


def one_line(text: str, limit: int = _MAX) -> str:
    """Control characters escaped (a newline in a file name never cuts the message), long text shortened."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def redact(text: str) -> str:
    """`text` with every filesystem path replaced by its last component."""
    return _PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "…", text)


def public(text: str) -> str:
    return one_line(redact(text))
