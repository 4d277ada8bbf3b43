"""A before/after view that keeps alpha: one self-contained HTML document (inline CSS and JS, the two
pictures as PNG/JPEG data URIs at preview size), no network, no Streamlit.

A slider (drag on the picture, or the range input) moves the divider between the photo (left) and
the cutout (right); the cutout sits over a checkerboard, a light or a dark background; zoom 1–16×
onto an edge (the softest stretch of the cutout's alpha, or a double-clicked point), with pixels
shown as pixels. The cutout is a PNG with its alpha: nothing is flattened. Pillow's global limits
are never touched: pictures arrive decoded, or are decoded here from our own encoded output.
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
import warnings

import numpy as np
from PIL import Image

PREVIEW_SIDE = 1200  # px: enough to judge an edge at 1280×800, small enough for a page
STAGE_HEIGHT = 520  # px, the picture's height at most
CONTROLS_HEIGHT = 44  # px
BACKGROUNDS = {"checker": "checkerboard", "light": "light", "dark": "dark"}
ZOOMS = (1, 2, 4, 8, 16)


def preview(image: Image.Image | bytes, max_side: int = PREVIEW_SIDE) -> Image.Image:
    """The picture at preview size; an RGBA one is scaled premultiplied, so transparent pixels'
    colour cannot bleed into the edge."""
    im: Image.Image
    if isinstance(image, bytes):
        with warnings.catch_warnings():  # our own output, already within the product's pixel limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(image))
            opened.load()
            im = opened
    else:
        im = image
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    im = im.convert("RGBA" if has_alpha else "RGB")
    if max(im.size) <= max_side:
        return im.copy()
    scale = max_side / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    if has_alpha:
        return im.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")
    return im.resize(size, Image.Resampling.LANCZOS)


def data_uri(im: Image.Image) -> str:
    """PNG when the picture has alpha (kept exactly), JPEG for an opaque photo (smaller)."""
    buf = io.BytesIO()
    if im.mode == "RGBA":
        im.save(buf, "PNG", compress_level=6)
        kind = "image/png"
    else:
        im.convert("RGB").save(buf, "JPEG", quality=88)
        kind = "image/jpeg"
    return f"data:{kind};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def edge_focus(cutout: Image.Image, side: int = 48) -> tuple[float, float]:
    """Where to zoom first: the centre of the square with the most soft alpha, as fractions of the
    width and height (the middle when the cutout has no soft edge)."""
    if cutout.mode != "RGBA":
        return 0.5, 0.5
    a = np.asarray(cutout.getchannel("A"), dtype=np.float32) / 255
    soft = ((a > 0.04) & (a < 0.96)).astype(np.float32)
    if not soft.any():
        return 0.5, 0.5
    from scipy.ndimage import uniform_filter

    density = uniform_filter(soft, size=min(side, *a.shape), mode="constant")
    y, x = np.unravel_index(int(density.argmax()), density.shape)
    return (x + 0.5) / a.shape[1], (y + 0.5) / a.shape[0]


def frame_height(stage_height: int = STAGE_HEIGHT) -> int:
    """The iframe height the document needs: the controls, the picture and a little margin."""
    return stage_height + CONTROLS_HEIGHT + 16


def compare_html(photo: Image.Image | bytes, cutout: Image.Image | bytes, *, max_side: int = PREVIEW_SIDE,
                 stage_height: int = STAGE_HEIGHT, background: str = "checker", start: float = 50.0,
                 labels: tuple[str, str] = ("photo", "cutout"), focus: tuple[float, float] | None = None) -> str:
    """The whole document. `start` is the divider's first position in percent of the width."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, not {background!r}")
    before, after = preview(photo, max_side), preview(cutout, max_side)
    if after.size != before.size:  # a cropped cutout: show the photo at the cutout's proportions
        before = before.resize(after.size, Image.Resampling.LANCZOS)
    fx, fy = focus or edge_focus(after)
    w, h = after.size
    uid = "c" + uuid.uuid4().hex[:8]
    conf = json.dumps({"start": max(0.0, min(100.0, float(start))), "fx": fx, "fy": fy, "bg": background})
    left, right = (html.escape(s) for s in labels)
    bg_buttons = "".join(f'<button type="button" data-bg="{k}">{v}</button>' for k, v in BACKGROUNDS.items())
    zoom_options = "".join(f'<option value="{z}">{z}×</option>' for z in ZOOMS)
    return _TEMPLATE.format(
        uid=uid, w=w, h=h, sh=stage_height, photo=data_uri(before), cutout=data_uri(after), conf=conf,
        left=left, right=right, bg_buttons=bg_buttons, zoom_options=zoom_options)


# The checkerboard is drawn by CSS gradients (no image file). Everything the view does is below;
# nothing is fetched.
_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body{{margin:0;font:13px system-ui,sans-serif;color:#31333f;background:transparent}}
#{uid} .bar{{display:flex;gap:8px;align-items:center;height:36px;flex-wrap:nowrap}}
#{uid} .bar button{{border:1px solid #ccc;background:#fff;border-radius:6px;padding:3px 8px;cursor:pointer}}
#{uid} .bar button.on{{border-color:#ff4b4b;color:#ff4b4b}}
#{uid} input[type=range]{{flex:1;min-width:80px}}
#{uid} .stage{{position:relative;height:min({sh}px, calc((100vw - 4px) * {h} / {w}));aspect-ratio:{w}/{h};
  max-width:100%;margin:4px auto 0;overflow:hidden;cursor:ew-resize;touch-action:none;user-select:none}}
#{uid} .layer{{position:absolute;inset:0}}
#{uid} .zoom{{position:absolute;inset:0;transform-origin:50% 50%}}
#{uid} .zoom img{{width:100%;height:100%;display:block;-webkit-user-drag:none}}
#{uid} .px img{{image-rendering:pixelated}}
#{uid} .bg-checker{{background-color:#fff;background-image:linear-gradient(45deg,#ccc 25%,transparent 25%),
  linear-gradient(-45deg,#ccc 25%,transparent 25%),linear-gradient(45deg,transparent 75%,#ccc 75%),
  linear-gradient(-45deg,transparent 75%,#ccc 75%);background-size:16px 16px;
  background-position:0 0,0 8px,8px -8px,-8px 0}}
#{uid} .bg-light{{background:#f2f2f2}}
#{uid} .bg-dark{{background:#18181c}}
#{uid} .divider{{position:absolute;top:0;bottom:0;width:2px;margin-left:-1px;background:#ff4b4b;pointer-events:none}}
#{uid} .tag{{position:absolute;top:6px;padding:1px 6px;border-radius:4px;background:rgba(0,0,0,.55);color:#fff;
  font-size:12px;pointer-events:none}}
</style></head><body>
<div id="{uid}" class="compare">
 <div class="bar">{bg_buttons}
  <input type="range" class="slider" min="0" max="100" step="0.5" aria-label="divider position">
  <label>zoom <select class="zoomsel">{zoom_options}</select></label>
  <button type="button" class="edge" title="zoom onto the softest stretch of the edge">edge</button>
 </div>
 <div class="stage">
  <div class="layer under"><div class="zoom"><img class="photo" alt="{left}" src="{photo}"></div></div>
  <div class="layer over"><div class="zoom"><img class="cutout" alt="{right}" src="{cutout}"></div></div>
  <div class="divider"></div>
  <span class="tag" style="left:6px">{left}</span><span class="tag" style="right:6px">{right}</span>
 </div>
</div>
<script>
(function() {{
  const conf = {conf};
  const root = document.getElementById("{uid}");
  const stage = root.querySelector(".stage"), over = root.querySelector(".over");
  const slider = root.querySelector(".slider"), divider = root.querySelector(".divider");
  const zoomSel = root.querySelector(".zoomsel"), zooms = root.querySelectorAll(".zoom");
  let origin = [50, 50];
  function setPos(p) {{
    p = Math.max(0, Math.min(100, p));
    slider.value = p;
    over.style.clipPath = "inset(0 0 0 " + p + "%)";
    divider.style.left = p + "%";
    root.dataset.pos = p;
  }}
  function setBg(name) {{
    over.className = "layer over bg-" + name;
    root.querySelectorAll("[data-bg]").forEach(b => b.classList.toggle("on", b.dataset.bg === name));
    root.dataset.bg = name;
  }}
  function setZoom(z) {{
    zoomSel.value = String(z);
    zooms.forEach(el => {{
      el.style.transformOrigin = origin[0] + "% " + origin[1] + "%";
      el.style.transform = "scale(" + z + ")";
    }});
    stage.classList.toggle("px", z >= 2);
    root.dataset.zoom = z;
  }}
  function fromEvent(e) {{
    const r = stage.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width * 100, (e.clientY - r.top) / r.height * 100];
  }}
  slider.addEventListener("input", () => setPos(parseFloat(slider.value)));
  root.querySelectorAll("[data-bg]").forEach(b => b.addEventListener("click", () => setBg(b.dataset.bg)));
  zoomSel.addEventListener("change", () => setZoom(parseInt(zoomSel.value, 10)));
  root.querySelector(".edge").addEventListener("click", () => {{
    origin = [conf.fx * 100, conf.fy * 100];
    setZoom(Math.max(4, parseInt(zoomSel.value, 10)));
  }});
  // Where the divider sits on screen when zoomed: screen = origin + (content - origin) * z.
  function toContent(px) {{
    const z = parseInt(zoomSel.value, 10);
    return origin[0] + (px - origin[0]) / z;
  }}
  let dragging = false;
  stage.addEventListener("pointerdown", e => {{ dragging = true; stage.setPointerCapture(e.pointerId);
    setPos(fromEvent(e)[0]); }});
  stage.addEventListener("pointermove", e => {{ if (dragging) setPos(fromEvent(e)[0]); }});
  stage.addEventListener("pointerup", () => {{ dragging = false; }});
  stage.addEventListener("dblclick", e => {{
    const p = fromEvent(e);
    origin = [toContent(p[0]), origin[1] + (p[1] - origin[1]) / parseInt(zoomSel.value, 10)];
    setZoom(Math.max(4, parseInt(zoomSel.value, 10)));
  }});
  setBg(conf.bg); setPos(conf.start); setZoom(1);
}})();
</script></body></html>
"""
