"""Request bodies read in memory, capped while they stream in: no temp files, ever.

Starlette's own form parsing spools large parts to temporary files; an aborted upload can leave
one behind until the process cleans up. Here a multipart body is parsed as its chunks arrive
(python-multipart's push parser) into bytes, and the byte count is checked on every chunk, so an
oversized upload is refused (413) after at most one chunk past the cap, never held whole.

A hostile body is bounded three more ways: the number of parts and file parts (a million tiny
fields would otherwise cost seconds of CPU and hundreds of MB of dicts), the size of each part's
headers, and time: a body that stops arriving (a client that sent its headers and then nothing)
gets 408 after `idle` seconds without a byte, or after `total` seconds in all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header


class BodyError(Exception):
    """A body we refuse; `status` is the HTTP status, the message one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


MAX_PARTS = 32  # rembg's form has a file and a handful of fields; Starlette's default is 1000
MAX_FILES = 1
MAX_PART_HEADER_BYTES = 8 * 1024


@dataclass(frozen=True)
class BodyLimits:
    cap: int  # bytes
    idle: float = 15.0  # seconds without a byte before 408
    total: float = 120.0  # seconds for the whole body
    max_parts: int = MAX_PARTS
    max_files: int = MAX_FILES


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name → (filename, content)


def too_large(cap: int) -> BodyError:
    return BodyError(413, f"upload is larger than this server's limit of {cap / 1024 / 1024:g} MB")


def check_length(header: str | None, cap: int) -> None:
    """Refuse a declared Content-Length over the cap before reading a byte."""
    if header is None:
        return
    try:
        declared = int(header)
    except ValueError:
        raise BodyError(400, "Content-Length is not a number") from None
    if declared > cap:
        raise too_large(cap)


async def timed(stream: AsyncIterator[bytes], limits: BodyLimits) -> AsyncIterator[bytes]:
    """The chunks of `stream`, or BodyError(408) when the next one takes longer than `idle` seconds
    or the whole body longer than `total`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.total
    chunks = stream.__aiter__()
    while True:
        wait = min(limits.idle, deadline - loop.time())
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), max(wait, 0.0))
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyError(408, f"the request body did not arrive in time (nothing for {limits.idle:g} s, "
                                 f"or over {limits.total:g} s in all)") from None
        yield chunk


async def read_raw(stream: AsyncIterator[bytes], cap: int) -> bytes:
    chunks, total = [], 0
    async for chunk in stream:
        total += len(chunk)
        if total > cap:
            raise too_large(cap)
        chunks.append(chunk)
    return b"".join(chunks)


class _Collector:
    """python-multipart callbacks that keep each part in memory."""

    def __init__(self, form: Form, max_parts: int = MAX_PARTS, max_files: int = MAX_FILES) -> None:
        self.form = form
        self.max_parts, self.max_files = max_parts, max_files
        self.parts = self.files = self.header_bytes = 0
        self.header_name = self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.data = bytearray()

    def callbacks(self) -> Any:  # python-multipart types these as a TypedDict
        return {
            "on_part_begin": self.part_begin, "on_part_data": self.part_data, "on_part_end": self.part_end,
            "on_header_field": self.header_field, "on_header_value": self.header_val,
            "on_header_end": self.header_end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise BodyError(413, f"the form has more than {self.max_parts} parts (send the file and a few fields)")
        self.headers, self.data, self.header_bytes = {}, bytearray(), 0

    def part_data(self, data: bytes, start: int, end: int) -> None:
        self.data += data[start:end]

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self.header_name += data[start:end]

    def header_val(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self.header_value += data[start:end]

    def _count(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > MAX_PART_HEADER_BYTES:
            raise BodyError(431, f"a form part's headers are over {MAX_PART_HEADER_BYTES // 1024} KB")

    def header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def part_end(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in params:
            self.files += 1
            if self.files > self.max_files:
                raise BodyError(413, f"the form has more than {self.max_files} file part{'s' * (self.max_files > 1)} "
                                     "(send one image per request)")
            self.form.files[name] = (params[b"filename"].decode("utf-8", "replace"), bytes(self.data))
        else:
            self.form.fields[name] = self.data.decode("utf-8", "replace")
        self.data = bytearray()


async def read_multipart(stream: AsyncIterator[bytes], content_type: str, cap: int, *,
                         max_parts: int = MAX_PARTS, max_files: int = MAX_FILES) -> Form:
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BodyError(400, "multipart body without a boundary in its Content-Type")
    form = Form()
    parser = MultipartParser(boundary, _Collector(form, max_parts, max_files).callbacks())
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > cap:
                raise too_large(cap)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise BodyError(400, f"malformed multipart body: {str(exc).splitlines()[0] if str(exc) else 'parse error'}") from None
    return form


class BodyBudget:
    """Bytes of request bodies one worker holds at once, counted as they arrive (event loop only).

    Bodies are read before a request takes its admission slot (so a client that sends headers and
    then nothing holds no slot), which leaves the bytes themselves to bound: past the budget a
    body is refused with 503 as it streams in. A connection that sends nothing holds nothing.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def ticket(self) -> BodyTicket:
        return BodyTicket(self)


class BodyTicket:
    """One request's share of the budget; `release()` when the request ends."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget, self.held = budget, 0

    async def count(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in stream:
            if self.budget.held + len(chunk) > self.budget.limit:
                raise BodyError(503, f"busy: uploads in progress hold {self.budget.held / 1024 / 1024:.0f} MB "
                                     "of this worker's body budget; retry later")
            self.budget.held += len(chunk)
            self.held += len(chunk)
            yield chunk

    def release(self) -> None:
        self.budget.held -= self.held
        self.held = 0
