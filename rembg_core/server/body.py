"""Request bodies read in memory, capped while they stream in: no temp files, ever.

Starlette's own form parsing spools large parts to temporary files; an aborted upload can leave
one behind until the process cleans up. Here a multipart body is parsed as its chunks arrive
(python-multipart's push parser) into bytes, and the byte count is checked on every chunk, so an
oversized upload is refused (413) after at most one chunk past the cap, never held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header


class BodyError(Exception):
    """A body we refuse; `status` is the HTTP status, the message one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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

    def __init__(self, form: Form) -> None:
        self.form = form
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
        self.headers, self.data = {}, bytearray()

    def part_data(self, data: bytes, start: int, end: int) -> None:
        self.data += data[start:end]

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def header_val(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def part_end(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in params:
            self.form.files[name] = (params[b"filename"].decode("utf-8", "replace"), bytes(self.data))
        else:
            self.form.fields[name] = self.data.decode("utf-8", "replace")
        self.data = bytearray()


async def read_multipart(stream: AsyncIterator[bytes], content_type: str, cap: int) -> Form:
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BodyError(400, "multipart body without a boundary in its Content-Type")
    form = Form()
    parser = MultipartParser(boundary, _Collector(form).callbacks())
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
