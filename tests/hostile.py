"""A corpus of hostile inputs, built in memory (no committed binaries), each with its expected outcome.

Used by tests/test_hostile.py (library, CLI) and benchmarks/hostile_vs_rembg.py (docs/HOSTILE.md).
Every case is a file name (its extension is part of the trick), a builder returning the bytes, and
either `Refuse(error type name, words the message must contain)` or `Accept(output size, note words)`.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Refuse:
    error: str  # class name in rembg_core.errors
    words: str  # must appear in the message (case-insensitive)


@dataclass(frozen=True)
class Accept:
    size: tuple[int, int]  # (w, h) of the cutout, displayed orientation
    note: str = ""  # must appear in one of the loader's notes, when set
    alpha: bool = False  # the input's own transparency must survive into the result


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    build: Callable[[], bytes]
    expect: Refuse | Accept
    why: str


# --- helpers ------------------------------------------------------------------

def save(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def photo(size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A red disc on light grey: something for the model to find."""
    im = Image.new("RGB", size, (235, 235, 235))
    w, h = size
    ImageDraw.Draw(im).ellipse((w * 0.25, h * 0.2, w * 0.75, h * 0.8), fill=(200, 30, 30))
    return im


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


def png_declaring(w: int, h: int, idat: bytes | None = None, bit_depth: int = 8, colour: int = 0) -> bytes:
    """A structurally valid PNG whose IHDR says w×h; IDAT holds one row at most."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * min(w, 64)) if idat is None else idat
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def replace_idat(data: bytes, payload: bytes | None = None, bad_crc: bool = False) -> bytes:
    """Rewrite the first IDAT chunk of a PNG: new payload and/or a wrong CRC."""
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    old = data[at + 8:at + 8 + length]
    new = old if payload is None else payload
    crc = zlib.crc32(b"IDAT" + new) ^ (0xDEADBEEF if bad_crc else 0)
    return data[:at] + png_chunk(b"IDAT", new, crc) + data[at + 12 + length:]


def gif_declaring(w: int, h: int) -> bytes:
    """GIF89a header + one 1×1 frame, but a logical screen of w×h."""
    header = b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b";"


def with_exif_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(photo((160, 120)), "JPEG", exif=exif.tobytes(), quality=90)


def frames(fmt: str, n: int = 3, **params) -> bytes:
    ims = [photo((96, 64)).rotate(30 * i) for i in range(n)]
    return save(ims[0], fmt, save_all=True, append_images=ims[1:], **params)


def grey16() -> bytes:
    a = np.full((64, 80), 20000, np.uint16)  # mid-dark grey: 20000/65535 ≈ 78 of 255
    a[16:48, 20:60] = 50000
    return save(Image.fromarray(a), "PNG")  # uint16 → mode I;16


def float_tiff() -> bytes:
    a = np.linspace(0.0, 1.0, 80 * 60, dtype=np.float32).reshape(60, 80)
    return save(Image.fromarray(a), "TIFF")  # float32 → mode F


def palette_with_transparency() -> bytes:
    p = Image.new("P", (80, 60), 0)
    p.putpalette([255, 0, 0, 0, 128, 255] + [0] * 762)
    p.paste(1, (20, 15, 60, 45))
    return save(p, "PNG", transparency=0)


def rgba() -> bytes:
    im = photo((80, 60)).convert("RGBA")
    im.putalpha(Image.linear_gradient("L").resize(im.size))
    return save(im, "PNG")


def la() -> bytes:
    im = photo((80, 60)).convert("LA")
    im.putalpha(Image.linear_gradient("L").resize(im.size))
    return save(im, "PNG")


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("photo.png", save(photo(), "PNG"))
    return buf.getvalue()


def random_bytes() -> bytes:
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    return b"\x93" + data  # 0x93 is never a valid UTF-8 start, so it cannot pass as text


def big_valid_png() -> bytes:
    """12000×12000 black: ~140 KB on disk, 432 MB decoded (rembg spends 2.5 GB and 16 s)."""
    return save(Image.new("L", (12000, 12000), 0), "PNG", optimize=True)


# --- the corpus -----------------------------------------------------------------

def _cases() -> list[Case]:
    jpeg = save(photo(), "JPEG", quality=90)
    png = save(photo(), "PNG")
    R, A = Refuse, Accept
    return [
        # not images at all
        Case("empty file", "empty.png", lambda: b"", R("EmptyImageError", "empty"), "0 bytes"),
        Case("random bytes", "noise.png", random_bytes, R("UnsupportedFormatError", "not a supported image"),
             "4 KB of noise named .png"),
        Case("text as .jpg", "notes.jpg", lambda: b"shopping list:\n- milk\n- eggs\n",
             R("NotAnImageError", "text file"), "plain text"),
        Case("HTML as .png", "download.png",
             lambda: b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body></body></html>",
             R("NotAnImageError", "HTML page"), "an error page saved by a browser"),
        Case("PDF as .jpg", "scan.jpg", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
             R("NotAnImageError", "PDF"), "a PDF"),
        Case("ZIP as .png", "photos.png", zip_bytes, R("NotAnImageError", "ZIP archive"),
             "a zip holding a PNG"),
        Case("SVG as .png", "logo.png",
             lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
             R("NotAnImageError", "SVG"), "vector image"),
        Case("Git LFS pointer as .png", "lfs.png",
             lambda: b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 12345\n",
             R("NotAnImageError", "Git LFS pointer"), "a clone without git-lfs"),
        Case("HEIC as .jpg", "iphone.jpg", lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
             R("NotAnImageError", "HEIC"), "a phone photo Pillow cannot read"),
        # damaged images
        Case("JPEG truncated mid-scan", "cut.jpg", lambda: jpeg[: len(jpeg) * 2 // 3],
             R("TruncatedImageError", "truncated"), "an interrupted download"),
        Case("PNG truncated in its header", "cut.png", lambda: png[:20],
             R("TruncatedImageError", "ends inside its header"), "20 bytes: signature + half an IHDR"),
        Case("PNG with bad IDAT CRC", "crc.png", lambda: replace_idat(png, bad_crc=True),
             R("CorruptImageError", "checksum"), "pixel data intact, chunk checksum wrong"),
        Case("PNG with garbage zlib in IDAT", "zlib.png",
             lambda: replace_idat(png, payload=b"\x78\x9c" + bytes(range(256)) * 4),
             R("CorruptImageError", "damaged"), "IDAT is not a zlib stream"),
        Case("PNG with zero width", "zero.png", lambda: png_declaring(0, 10),
             R("CorruptImageError", "damaged"), "IHDR says 0×10"),
        # declared sizes that would exhaust memory
        Case("tiny PNG declaring 60000×60000", "bomb.png", lambda: png_declaring(60000, 60000),
             R("TooManyPixelsError", "declares 3600 MP"), "~70 bytes that would decode to 3.6 GB"),
        Case("GIF declaring 65535×65535", "bomb.gif", lambda: gif_declaring(65535, 65535),
             R("TooManyPixelsError", "declares 4295 MP"), "logical screen of 4.3 gigapixels"),
        Case("valid 12000×12000 PNG", "huge.png", big_valid_png,
             R("TooManyPixelsError", "over the 100 MP limit"), "~140 KB; 144 MP"),
        # every pixel format
        Case("16-bit grey PNG", "grey16.png", grey16, A((80, 64), "16-bit"), "rembg turns it white"),
        Case("float TIFF", "float.tif", float_tiff, A((80, 60), "float"), "32-bit float, 0..1"),
        Case("1-bit PNG", "bilevel.png", lambda: save(photo().convert("1"), "PNG"), A((160, 120)), "mode 1"),
        Case("L PNG", "grey.png", lambda: save(photo().convert("L"), "PNG"), A((160, 120)), "greyscale"),
        Case("LA PNG", "grey-alpha.png", la, A((80, 60), alpha=True), "greyscale + alpha"),
        Case("P with transparency", "palette.png", palette_with_transparency, A((80, 60), alpha=True),
             "palette, index 0 transparent"),
        Case("RGBA PNG", "rgba.png", rgba, A((80, 60), alpha=True), "gradient alpha"),
        Case("CMYK JPEG", "cmyk.jpg", lambda: save(photo().convert("CMYK"), "JPEG"), A((160, 120)), "print file"),
        # orientation
        Case("EXIF orientation 3", "rot180.jpg", lambda: with_exif_orientation(3), A((160, 120)), "upside down"),
        Case("EXIF orientation 6", "rot270.jpg", lambda: with_exif_orientation(6), A((120, 160)), "portrait phone photo"),
        Case("EXIF orientation 8", "rot90.jpg", lambda: with_exif_orientation(8), A((120, 160)), "portrait, other way"),
        # degenerate content and shapes
        Case("solid colour", "solid.png", lambda: save(Image.new("RGB", (64, 48), (40, 90, 200)), "PNG"),
             A((64, 48)), "flat prediction: min == max"),
        Case("1×1", "1x1.png", lambda: save(Image.new("RGB", (1, 1), (255, 0, 0)), "PNG"), A((1, 1)), "one pixel"),
        Case("2×2", "2x2.png", lambda: save(photo((2, 2)), "PNG"), A((2, 2)), "four pixels"),
        Case("4000×3", "wide.png", lambda: save(photo((4000, 3)), "PNG"), A((4000, 3)), "a 1333:1 strip"),
        Case("3×4000", "tall.png", lambda: save(photo((3, 4000)), "PNG"), A((3, 4000)), "a 1:1333 strip"),
        # many frames
        Case("animated GIF", "anim.gif", lambda: frames("GIF", duration=100, loop=0), A((96, 64), "first"),
             "3 frames"),
        Case("animated WebP", "anim.webp", lambda: frames("WEBP", duration=100, loop=0, lossless=True),
             A((96, 64), "first"), "3 frames"),
        Case("multi-page TIFF", "pages.tif", lambda: frames("TIFF"), A((96, 64), "first"), "3 pages"),
        # wrong extension, right content
        Case("JPEG named .png", "really-a-jpeg.png", lambda: jpeg, A((160, 120)), "the extension lies"),
    ]


CASES: list[Case] = _cases()


def by_name(name: str) -> Case:
    return next(c for c in CASES if c.name == name)
