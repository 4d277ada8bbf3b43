"""Watermarks: from a logo or photo to a transparent mark, and that mark stamped onto photos.

Every step is a pure function on PIL images; `make_watermark` and `stamp` chain them from two
small frozen specs (spec.py). Colours stay straight (never premultiplied) in everything handed back.
"""

from ..colors import RGB, parse_rgb
from .alpha import (
                    MODEL_HAZE,
                    OPAQUE_SNAP,
                    UNIFORM_DISTANCE,
                    UNIFORM_SHARE,
                    border_pixels,
                    choose_source,
                    color_key,
                    detect_background,
                    model_alpha,
                    own_alpha,
)
from .build import Watermark, extract, finish, make_watermark
from .preview import on_background, sample_logo
from .shaping import (
                    alpha_bbox,
                    apply_opacity,
                    as_rgba,
                    defringe,
                    feather_alpha,
                    fit_longest,
                    greyscale,
                    pad,
                    rotate,
                    square_canvas,
                    threshold_alpha,
                    tint,
                    trim,
)
from .spec import POSITIONS, SOURCES, TILE, PlacementSpec, Source, WatermarkSpec
from .stamp import (
                    encode_photo,
                    load_logo,
                    load_photo,
                    margin_for,
                    mark_for,
                    photo_format,
                    position_xy,
                    stamp,
                    tile_positions,
)

__all__ = [
    "MODEL_HAZE", "OPAQUE_SNAP", "POSITIONS", "PlacementSpec", "SOURCES", "RGB", "Source", "TILE", "UNIFORM_DISTANCE",
    "UNIFORM_SHARE", "Watermark", "WatermarkSpec", "alpha_bbox", "apply_opacity", "as_rgba", "border_pixels",
    "choose_source", "color_key", "defringe", "detect_background", "encode_photo", "extract", "feather_alpha",
    "finish", "fit_longest", "greyscale", "load_logo", "load_photo", "make_watermark", "margin_for",
    "mark_for", "model_alpha", "on_background", "own_alpha", "pad", "parse_rgb", "photo_format",
    "position_xy", "rotate", "sample_logo", "square_canvas", "stamp", "threshold_alpha", "tile_positions",
    "tint", "trim",
]
