"""Per-request options of POST /api/remove: rembg 2.0.86's names (model, a, af, ab, ae, om, ppm, dc,
bgc) plus ours (max_size, crop, format, clean_haze). Session flags are server configuration and never
read from a request.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..colors import parse_color
from ..options import FORMATS, RemoveOptions
from .config import ServerConfig

TRUE, FALSE = {"true", "1", "yes", "on", "t", "y"}, {"false", "0", "no", "off", "f", "n", ""}
# rembg features this server does not implement: refuse loudly rather than answer without them
UNSUPPORTED = {"vm": "ViTMatte edge refinement"}
EDGE_INTS = {"af": ("alpha_matting_foreground_threshold", 240), "ab": ("alpha_matting_background_threshold", 10),
             "ae": ("alpha_matting_erode_size", 10)}


class OptionError(ValueError):
    """A request option we refuse (422); the message is one line."""


def _bool(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise OptionError(f"{name}={raw!r} is not true or false")


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise OptionError(f"{name}={raw!r} is not a whole number") from None


def parse(params: Mapping[str, str], config: ServerConfig) -> RemoveOptions:
    """Options from the merged query and form fields; OptionError says which one is wrong."""
    for name, feature in UNSUPPORTED.items():
        if _bool(params, name):
            raise OptionError(f"{name}=true asks for {feature}, which this server does not do; drop the field")
    if params.get("extras"):
        raise OptionError("extras are not accepted: session options are server configuration")
    model = params.get("model")
    if model and model != config.session.model:
        raise OptionError(f"model {model!r} is not served here; this server runs {config.session.model}")
    bgcolor = None
    if params.get("bgc"):
        try:
            bgcolor = parse_color(params["bgc"])
        except ValueError as exc:
            raise OptionError(f"bgc: {exc}") from None
    max_size = config.max_size
    if params.get("max_size"):
        try:
            asked = int(params["max_size"])
        except ValueError:
            raise OptionError(f"max_size={params['max_size']!r} is not a whole number") from None
        if asked < 1:
            raise OptionError("max_size must be 1 or more")
        max_size = asked if max_size is None else min(asked, max_size)  # the server's cap is a ceiling
    fmt = (params.get("format") or "png").lower()
    if fmt not in FORMATS:
        raise OptionError(f"format={fmt!r}: choose png or webp")
    edges = {field: _int(params, name, default) for name, (field, default) in EDGE_INTS.items()}
    try:
        return RemoveOptions(max_size=max_size, only_mask=_bool(params, "om"), post_process_mask=_bool(params, "ppm"),
                             bgcolor=bgcolor, crop=_bool(params, "crop"), format=fmt, alpha_matting=_bool(params, "a"),
                             decontaminate=_bool(params, "dc"), clean_haze=_bool(params, "clean_haze"), **edges)
    except ValueError as exc:  # thresholds out of 0-255, background at or above foreground
        raise OptionError(str(exc)) from None
