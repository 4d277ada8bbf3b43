"""Safe image loading and encoding.

Refuses what is not an image — or is too large — from the header, before pixels are decoded;
decodes capped JPEGs at reduced DCT scale; normalises every mode to 8-bit RGB plus the input's
own alpha.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import (
    CorruptImageError,
    EmptyImageError,
    ImageLoadError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    UnsupportedFormatError,
)
from .limits import LIMITS

DEFAULT_MAX_PIXELS = LIMITS.max_pixels  # 100 MP unless REMBG_LAB_MAX_PIXELS says otherwise
ImageSource = bytes | bytearray | memoryview | str | os.PathLike | Image.Image

# Formats a photo or logo arrives in. Pillow can open more (EPS runs Ghostscript, for one);
# anything else is refused rather than handed to a decoder nobody asked for.
Image.init()
FORMATS = tuple(f for f in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM", "TGA", "ICO", "AVIF")
                if f in Image.OPEN)  # MPO (phone photos) opens through JPEG
# File name endings taken as images when a folder or archive is expanded, and offered by upload widgets.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif", ".ppm",
                            ".tga", ".ico"})
UPLOAD_TYPES = sorted(s.lstrip(".") for s in IMAGE_SUFFIXES)

# Leading bytes of files people mistake for images, for an error that says what the file is.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript/EPS file"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"8BPS", "a Photoshop PSD file"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 file"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"GIF8", "a GIF"),
    (b"\x89PNG", "a PNG"),
    (b"\xff\xd8\xff", "a JPEG"),
)
_EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


@dataclass(frozen=True)
class LoadedImage:
    """An input ready for the pipeline."""

    rgb: Image.Image  # mode RGB, displayed orientation, scaled to fit max_size
    alpha: Image.Image | None  # the input's own transparency (mode L), None when fully opaque
    format: str  # e.g. "JPEG"
    original_size: tuple[int, int]  # (w, h) in displayed orientation, before any scaling
    decoded_size: tuple[int, int]  # what the decoder actually produced (smaller with JPEG draft)
    notes: tuple[str, ...] = ()  # facts worth telling the user: first frame of many, 16-bit scaled...
    icc_profile: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size


def describe(head: bytes) -> str | None:
    """What a non-image file looks like it is, from its first bytes."""
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in head.lower():
        return "an SVG vector image (only raster images are supported)"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page"
    if text.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file itself"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "a HEIC/HEIF photo (not supported here; export it as JPEG or PNG)"
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return None


def _open(source: ImageSource, max_pixels: int | None = None) -> tuple[Image.Image, BinaryIO | None]:
    """Open without decoding pixels. Returns the image and a file handle to close later."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyImageError("the file is empty (0 bytes)")
        fp: BinaryIO = io.BytesIO(source)
        owned = None
    else:
        path = Path(source)  # type: ignore[arg-type]  # an Image was handled above
        try:
            if path.is_dir():
                raise NotAnImageError("is a folder, not an image file")
            if path.stat().st_size == 0:
                raise EmptyImageError("the file is empty (0 bytes)")
            fp = owned = open(path, "rb")
        except FileNotFoundError:
            raise ImageLoadError("no such file") from None
        except PermissionError:
            raise ImageLoadError("permission denied") from None
    head = fp.read(64)
    fp.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=FORMATS)
        return im, owned
    except Image.DecompressionBombError as exc:
        # Pillow's own guard (2 × MAX_IMAGE_PIXELS) fired while reading the header; say it in our terms
        _close(owned)
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = _mp(int(found.group(1))) if found else "too many pixels"
        limit = max_pixels or 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise TooManyPixelsError(f"the header declares {declared}, over the {_mp(limit)} limit") from None
    except UnidentifiedImageError:
        _close(owned)
        what = describe(head)
        if what in ("a JPEG", "a PNG", "a GIF"):
            raise CorruptImageError(f"looks like {what} but its header is damaged") from None
        if what:
            raise NotAnImageError(f"not an image: this is {what}") from None
        raise UnsupportedFormatError(
            "not a supported image (expected JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF…)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        _close(owned)
        if "truncated" in str(exc).lower():
            raise TruncatedImageError("the file ends inside its header (incomplete download?)") from None
        raise CorruptImageError(f"damaged image header: {exc}") from None


def _mp(pixels: int) -> str:
    """144 MP, 0.04 MP: whole megapixels unless that would round to nothing."""
    mp = pixels / 1e6
    return f"{mp:.0f} MP" if mp >= 10 else f"{mp:.2g} MP"


def _check_png_chunks(fp: BinaryIO) -> None:
    """Verify every PNG chunk's CRC. Pillow skips the IDAT checksums, so a flipped bit in the
    pixel data would otherwise pass silently (libpng, and so browsers, refuse such files)."""
    start = fp.tell()
    try:
        fp.seek(8)
        while header := fp.read(8):
            if len(header) < 8:
                return  # truncated: the decoder will say so
            length, kind = struct.unpack(">I4s", header)
            crc = zlib.crc32(kind)
            left = length
            while left:
                chunk = fp.read(min(left, 1 << 16))
                if not chunk:
                    return
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
            stored = fp.read(4)
            if len(stored) < 4:
                return
            if struct.unpack(">I", stored)[0] != crc:
                name = kind.decode("latin-1")
                raise CorruptImageError(f"damaged PNG: the checksum of its {name} chunk does not match its data")
            if kind == b"IEND":
                return
    finally:
        fp.seek(start)


def _close(fp: BinaryIO | None) -> None:
    if fp is not None:
        fp.close()


def _fit(size: tuple[int, int], max_size: int | None) -> tuple[int, int]:
    """Scale (w, h) so the longest side is at most max_size; never upscale."""
    w, h = size
    if not max_size or max(w, h) <= max_size:
        return w, h
    scale = max_size / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _to_8bit(im: Image.Image) -> tuple[Image.Image, str | None]:
    """Scale 16-bit, 32-bit and float greyscale to 0..255 (Pillow's convert would clip them)."""
    a = np.asarray(im)
    if im.mode.startswith("I;16"):
        return Image.fromarray((a.astype(np.float32) / 257.0 + 0.5).astype(np.uint8), "L"), "16-bit image scaled to 8 bits"
    a = a.astype(np.float32)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0)
    lo, hi = float(a.min()), float(a.max())
    note: str | None
    if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
        out, note = a * 255.0, "float image (0..1) scaled to 8 bits"
    elif im.mode == "I" and lo >= 0 and hi <= 65535:
        out, note = a / (257.0 if hi > 255 else 1.0), "16-bit image scaled to 8 bits" if hi > 255 else None
    else:
        span = hi - lo
        out = (a - lo) * (255.0 / span) if span > 0 else np.zeros_like(a)
        note = f"{im.mode} image stretched from [{lo:g}, {hi:g}] to 8 bits"
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "L"), note


def _normalise(im: Image.Image) -> tuple[Image.Image, list[str]]:
    """Any mode → RGB, or RGBA when the input carries transparency."""
    notes: list[str] = []
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im, note = _to_8bit(im)
        notes += [note] if note else []
    has_alpha = "A" in im.getbands() or "transparency" in im.info
    target = "RGBA" if has_alpha else "RGB"
    return (im if im.mode == target else im.convert(target)), notes


def _split_alpha(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if im.mode == "RGB":
        return im, None
    alpha = im.getchannel("A")
    return im.convert("RGB"), (None if alpha.getextrema() == (255, 255) else alpha)


def _checked_size(im: Image.Image, max_pixels: int | None) -> tuple[int, int]:
    """The header's (w, h); refused when empty or over `max_pixels`, before any pixel is decoded."""
    w, h = im.size
    if w < 1 or h < 1:
        raise CorruptImageError(f"the header declares an empty {w}×{h} image")
    if max_pixels and w * h > max_pixels:
        raise TooManyPixelsError(f"{w}×{h} is {_mp(w * h)}, over the {_mp(max_pixels)} limit")
    return w, h


def probe(source: ImageSource, max_size: int | None = None,
          max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[tuple[int, int], tuple[int, int]]:
    """((w, h) declared by the header, (w, h) after the max_size cap), without decoding pixels;
    raises the same ImageLoadError subclasses as load_image for what the header already shows."""
    im, owned = _open(source, max_pixels)
    try:
        w, h = _checked_size(im, max_pixels)
        return (w, h), _fit((w, h), max_size)
    finally:
        _close(owned)


def load_image(source: ImageSource, max_size: int | None = None,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Open, check, decode and normalise an image.

    `max_size` caps the longest side (JPEGs are decoded at reduced scale when it allows, so
    the full-size image never exists in memory). `max_pixels` refuses images whose header
    declares more pixels, before any pixel is decoded.
    """
    if max_size is not None and max_size < 1:
        raise ValueError("max_size must be a positive number of pixels")
    if isinstance(source, Image.Image):
        im, owned = source, None
        fmt = source.format or "image"
    else:
        im, owned = _open(source, max_pixels)
        fmt = im.format or "image"
    try:
        w, h = _checked_size(im, max_pixels)
        notes: list[str] = []
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            notes.append(f"{frames} frames: the first is used")
        target = _fit((w, h), max_size)
        if im.format in ("JPEG", "MPO") and target != (w, h):
            # DCT-domain downscale: decodes at 1/2, 1/4 or 1/8 while staying >= target
            im.draft("RGB" if im.mode == "RGB" else im.mode, target)
        png_fp = getattr(im, "fp", None) if im.format == "PNG" else None
        if png_fp is not None:
            _check_png_chunks(png_fp)
        try:
            im.load()
        except OSError as exc:
            if "truncated" in str(exc).lower():
                raise TruncatedImageError("the file is truncated (incomplete download?)") from None
            raise CorruptImageError(f"damaged image data: {exc}") from None
        except (SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise CorruptImageError(f"damaged image data: {exc}") from None
        decoded_size = im.size
        # Read after load(): a PNG's getexif() decodes the pixels itself, and a damaged IDAT must
        # surface as an error above, not be swallowed here.
        orientation = 1
        try:
            orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
        except Exception:  # a broken EXIF block is no reason to refuse a photo
            orientation = 1
        icc = im.info.get("icc_profile")
        norm, mode_notes = _normalise(im)
        notes += mode_notes
        if norm.size != target:
            # RGBA resizes premultiplied, so transparent pixels' colours do not bleed into edges
            norm = norm.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
            notes.append(f"scaled from {w}×{h} to {target[0]}×{target[1]} (max_size {max_size})")
        rgb, alpha = _split_alpha(norm)
        if orientation in _TRANSPOSE:
            for op in _TRANSPOSE[orientation]:
                rgb = rgb.transpose(op)
                alpha = alpha.transpose(op) if alpha is not None else None
            if orientation in (5, 6, 7, 8):
                w, h = h, w
        if rgb is source:
            rgb = rgb.copy()  # never hand the caller's own image back to be mutated
        return LoadedImage(rgb, alpha, fmt, (w, h), decoded_size, tuple(notes), icc)
    finally:
        _close(owned)


def encode(image: Image.Image, fmt: str = "png", icc_profile: bytes | None = None, *, png_level: int = 4) -> bytes:
    """PNG, lossless WebP (straight alpha kept exactly: exact=True) or JPEG (quality 92; L stays L).

    JPEG refuses an image with transparency instead of flattening it silently.
    """
    buf = io.BytesIO()
    fmt = fmt.lower()
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    if fmt == "png":
        image.save(buf, "PNG", compress_level=png_level, **extra)
    elif fmt == "webp":
        image.save(buf, "WEBP", lossless=True, exact=True, method=4, **extra)
    elif fmt in ("jpg", "jpeg"):
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            raise ValueError("JPEG cannot hold transparency; save it as PNG or WebP")
        (image if image.mode in ("RGB", "L") else image.convert("RGB")).save(buf, "JPEG", quality=92, **extra)
    else:
        raise ValueError(f"unsupported output format {fmt!r} (png, webp or jpeg)")
    return buf.getvalue()
