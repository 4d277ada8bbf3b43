"""The chain from a logo to a mark.

Order of the steps in `make_watermark`, and why:
  alpha source (own alpha | colour key | model) → defringe → threshold → feather → colour
  → trim → size → padding / square canvas → opacity.
Opacity comes last so that it is exact on the final pixels (alpha' = round(alpha × opacity));
padding comes after sizing so that it is measured in output pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PIL import Image

from ..colors import RGB
from ..compose import combine_alpha
from .alpha import MODEL_HAZE, choose_source, color_key, detect_background, model_alpha, own_alpha
from .shaping import (
    apply_opacity,
    defringe,
    feather_alpha,
    fit_longest,
    greyscale,
    pad,
    square_canvas,
    threshold_alpha,
    tint,
    trim,
)
from .spec import WatermarkSpec


@dataclass(frozen=True)
class Watermark:
    image: Image.Image  # RGBA, straight colour
    source: str  # the alpha source actually used: alpha | key | model
    background: RGB | None  # the key / detected background colour, when there was one
    notes: tuple[str, ...] = ()  # what the user should know about the result (one line each)

    @property
    def mask(self) -> Image.Image:
        return self.image.getchannel("A")


def extract(logo: Image.Image, spec: WatermarkSpec, config=None, session=None) -> Watermark:
    """Logo → RGBA with alpha from the chosen source (and its own transparency kept)."""
    source = choose_source(logo, spec.source)
    rgb = logo.convert("RGB")
    own = own_alpha(logo)
    background: RGB | None = None
    notes: tuple[str, ...] = ()
    if source == "alpha":
        alpha = own if own is not None else Image.new("L", logo.size, 255)
        if own is None:
            notes = ("The logo has no transparency of its own, so “own transparency” makes a solid rectangle: "
                     "choose Auto, a colour key or the model instead.",)
    elif source == "key":
        background = spec.key_color or detect_background(logo)[0]
        alpha = combine_alpha(color_key(rgb, background, spec.tolerance, spec.softness), own)
    else:
        mask = model_alpha(rgb, config, session, spec.model_matting).point(lambda v: 0 if v <= MODEL_HAZE else v)
        alpha = combine_alpha(mask, own)
        color, plain = detect_background(logo)
        background = spec.key_color or (color if plain else None)
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return Watermark(out, source, background, notes)


def finish(wm: Watermark, spec: WatermarkSpec) -> Watermark:
    """Every step after the alpha source, in the order the module docstring gives."""
    im = wm.image
    if spec.defringe and wm.background is not None and spec.tint is None:  # a tint replaces colour anyway
        im = defringe(im, wm.background)
    if spec.threshold is not None:
        im = threshold_alpha(im, spec.threshold)
    if spec.feather > 0:
        im = feather_alpha(im, spec.feather)
    if spec.tint is not None:
        im = tint(im, spec.tint)
    elif spec.greyscale:
        im = greyscale(im)
    if spec.trim:
        im = trim(im)
    if spec.size is not None:
        im = fit_longest(im, spec.size)
    if spec.padding:
        im = pad(im, spec.padding)
    if spec.square:
        im = square_canvas(im)
    if spec.opacity != 1.0:
        im = apply_opacity(im, spec.opacity)
    return replace(wm, image=im)


def make_watermark(logo: Image.Image, spec: WatermarkSpec = WatermarkSpec(), config=None,
                   session=None) -> Watermark:
    """Logo → watermark: `extract` then `finish`. `config`/`session` are only used by the model source."""
    return finish(extract(logo, spec, config, session), spec)
