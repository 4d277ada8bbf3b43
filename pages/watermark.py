"""Watermark studio: a logo (or photo) → a transparent watermark, previewed on real images, downloaded.

UI only; every image step is rembg_core.watermark. Works on its own (settings from session state
with defaults) or framed by app.py's sidebar (the model and session flags used by the model source).
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import replace

import streamlit as st
from PIL import Image

from pages import common
from rembg_core import colors, naming, samples
from rembg_core import watermark as W
from rembg_core.batch import zip_writer
from rembg_core.dashboard.glossary import WATERMARK_HELP
from rembg_core.errors import ImageLoadError, ModelError

PREVIEW_SIDE = 900  # px: what the browser gets for a stamped photo; downloads are full size
SWATCH_SIDE = 420  # px: the mark on checker / light / dark
LIGHT_BG, DARK_BG = (246, 246, 244), (28, 30, 34)
SOURCE_LABELS: dict[W.Source, str] = {"auto": "Auto", "key": "Colour key", "model": "Model (background removal)", "alpha": "Own transparency"}
EDGE_LABELS = ("As it is", "Hard (threshold)", "Feathered")
COLOR_LABELS = ("White", "Black", "Original colours", "Greyscale", "Custom tint")
POSITION_LABELS: dict[str, str] = {p: p.replace("-", " ").capitalize() for p in W.POSITIONS} | {W.TILE: "Tiled, all over"}
SAMPLE_PHOTOS = ("Coffee (scikit-image)", "Astronaut (scikit-image)", "Apple on a table (drawn)")
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


# --- inputs --------------------------------------------------------------------------------

@st.cache_data(max_entries=2, show_spinner=False)
def sample_logo_bytes() -> bytes:
    return W.encode_photo(W.sample_logo(), "png")


def logo_input() -> tuple[str, bytes]:
    files = common.uploads("Logo", "wm_logo", help=WATERMARK_HELP["logo"])
    if not files:
        st.caption("Using the **sample logo** (drawn on white). Upload your own to replace it.")
        return "sample-logo.png", sample_logo_bytes()
    return files[0].name, files[0].data


def photo_inputs() -> list[tuple[str, bytes]]:
    files = common.uploads("Photos to stamp (optional)", "wm_photos", multiple=True, help=WATERMARK_HELP["photos"])
    if files:
        return [(u.name, u.data) for u in files]
    available = samples.available()
    name = next((n for n in SAMPLE_PHOTOS if n in available), next(iter(available)))
    st.caption(f"Previewing on a sample photo: **{name}**. Upload photos to stamp your own.")
    return [(name.split(" (")[0].lower().replace(" ", "-") + ".png", common.sample_bytes(name))]


# --- controls --------------------------------------------------------------------------------

def watermark_controls(detected: W.RGB) -> W.WatermarkSpec:
    st.markdown("**Cut-out**")
    source = st.selectbox("Transparency from", list(SOURCE_LABELS), format_func=SOURCE_LABELS.__getitem__,
                          help=WATERMARK_HELP["source"], **common.kept("wm_source"))
    key_color, tolerance, softness = None, 16.0, 64.0
    if source in ("auto", "key"):
        with st.expander("Colour key", expanded=source == "key"):
            auto_key = st.checkbox(f"Detect background colour ({colors.to_hex(detected)})", value=True, **common.kept("wm_key_auto"))
            if not auto_key:
                key_color = colors.parse_rgb(st.color_picker("Background colour", colors.to_hex(detected), **common.kept("wm_key_color")))
            tolerance = float(st.slider("Tolerance", 0, 120, 16, **common.kept("wm_tolerance"),
                                        help="Colours this close to the background (RGB distance) become transparent."))
            softness = float(st.slider("Softness", 0, 200, 64, **common.kept("wm_softness"),
                                       help="Width of the soft ramp beyond the tolerance; 0 = a hard key."))
    matting = False
    if source in ("auto", "model"):
        matting = st.checkbox("Alpha matting", value=False,
                              **common.kept("wm_model_matting"),
                              help="Refine the model's edge. When the model cuts the logo out: closed-form matting in the uncertain band "
                                   "around its edge (rembg's -a rule), for thin strokes and soft shapes.")
    defringe = st.checkbox("Remove colour fringe", value=True, **common.kept("wm_defringe"),
                           help="Un-mix the background colour from soft edge pixels, so a logo cut from white "
                                "does not glow on dark photos.")
    edge = st.radio("Edge", EDGE_LABELS, horizontal=True, **common.kept("wm_edge"))
    threshold, feather = None, 0.0
    if edge == EDGE_LABELS[1]:
        threshold = st.slider("Threshold (alpha)", 1, 255, 128, **common.kept("wm_threshold"))
    elif edge == EDGE_LABELS[2]:
        feather = float(st.slider("Feather radius (px)", 0.5, 20.0, 2.0, 0.5, **common.kept("wm_feather")))

    st.markdown("**Look**")
    colour = st.radio("Colour", COLOR_LABELS, horizontal=True, **common.kept("wm_colour"))
    tint, grey = None, False
    if colour == "White":
        tint = (255, 255, 255)
    elif colour == "Black":
        tint = (0, 0, 0)
    elif colour == "Greyscale":
        grey = True
    elif colour == "Custom tint":
        tint = colors.parse_rgb(st.color_picker("Tint", "#1E40AF", **common.kept("wm_tint")))
    opacity = st.slider("Opacity", 0, 100, 30, format="%d %%", **common.kept("wm_opacity")) / 100

    st.markdown("**Canvas**")
    c1, c2 = st.columns(2)
    trim = c1.checkbox("Trim margins", value=True, **common.kept("wm_trim"))
    square = c2.checkbox("Square canvas", value=False, **common.kept("wm_square"))
    c1, c2 = st.columns(2)
    padding = int(c1.number_input("Padding (px)", 0, 2000, 0, step=4, **common.kept("wm_padding")))
    size = int(c2.number_input("Longest side (px, 0 = as is)", 0, 8000, 0, step=50, **common.kept("wm_size")))
    return W.WatermarkSpec(source=source, model_matting=matting, key_color=key_color, tolerance=tolerance,
                           softness=softness,
                           defringe=defringe, threshold=threshold, feather=feather, greyscale=grey, tint=tint,
                           trim=trim, size=size or None, padding=padding, square=square, opacity=opacity)


def placement_controls() -> W.PlacementSpec:
    st.markdown("**Placement on photos**")
    position = st.selectbox("Position", list(POSITION_LABELS), index=W.POSITIONS.index("bottom-right"),
                            format_func=POSITION_LABELS.__getitem__, **common.kept("wm_position"))
    scale = st.slider("Width (% of the photo's width)", 2, 100, 20, format="%d %%", **common.kept("wm_scale")) / 100
    tile = position == W.TILE
    c1, c2 = st.columns(2)
    # empty = automatic (3 % of the shorter side; the mark's height), so 0 stays a real choice
    margin = c1.number_input("Margin (px)", 0, 5000, None, step=4, disabled=tile, placeholder="auto",
                             help=WATERMARK_HELP["margin"], **common.kept("wm_margin"))
    spacing = c2.number_input("Tile spacing (px)", 0, 5000, None, step=10, disabled=not tile, placeholder="auto",
                              help=WATERMARK_HELP["spacing"], **common.kept("wm_spacing"))
    angle = float(st.slider("Rotation (°, counter-clockwise)", -180, 180, 30 if tile else 0,
                            **common.kept(f"wm_angle_{tile}")))
    return W.PlacementSpec(position=position, scale=scale, angle=angle,
                           margin=None if margin is None else int(margin),
                           spacing=None if spacing is None else int(spacing))


# --- work ------------------------------------------------------------------------------------

def model_extract(logo: Image.Image, ident: str, spec: W.WatermarkSpec) -> W.Watermark:
    """The model's cut-out, remembered per logo and session config (the slow step; the rest is instant)."""
    config = common.settings().config
    key = (ident, config, spec.model_matting)
    memo = st.session_state.get("wm_model_memo")
    if memo and memo[0] == key:
        return memo[1]
    if not common.ensure_model(config.model):  # only this cut-out needs the model: a colour key works without
        st.stop()
    with st.spinner("Cutting the logo out with the model…"), common.lease(config) as session:
        wm = W.extract(logo, replace(spec, source="model"), session=session)
    st.session_state["wm_model_memo"] = (key, wm)
    return wm


def build(logo: Image.Image, ident: str, spec: W.WatermarkSpec) -> W.Watermark:
    """The watermark, remembered for the last (logo, settings): moving a placement control costs nothing."""
    key = (ident, spec, common.settings().config)
    memo = st.session_state.get("wm_memo")
    if memo and memo[0] == key:
        return memo[1]
    if W.choose_source(logo, spec.source) == "model":
        wm = W.finish(model_extract(logo, ident, spec), spec)
    else:
        wm = W.make_watermark(logo, spec)
    st.session_state["wm_memo"] = (key, wm)
    return wm


def preview_placement(placement: W.PlacementSpec, factor: float) -> W.PlacementSpec:
    """The same placement on a photo shrunk by `factor`: pixel-valued settings shrink with it."""
    def shrink(v: int | None) -> int | None:
        return None if v is None else max(0, round(v * factor))

    return replace(placement, margin=shrink(placement.margin), spacing=shrink(placement.spacing))


def stamped_file(data: bytes, mark: Image.Image, placement: W.PlacementSpec) -> bytes:
    """Full size, decoded only when the download is asked for (previews use a capped decode)."""
    photo = W.load_photo(data)
    return W.encode_photo(W.stamp(photo, mark, placement), W.photo_format(photo))


def zip_of(items: list[tuple[str, bytes]], mark: Image.Image, placement: W.PlacementSpec) -> bytes:
    buf = io.BytesIO()
    with zip_writer(buf) as add:
        for name, data in items:  # one photo in memory at a time
            add(name, stamped_file(data, mark, placement))
    return buf.getvalue()


def out_names(photos: list[tuple[str, Image.Image]]) -> list[str]:
    """`<stem>-watermarked.<ext>`, numbered when two uploads share a name (a zip cannot hold both)."""
    names = naming.OutputNames(suffix="-watermarked")
    return [names(common.stem(name), W.photo_format(photo)) for name, photo in photos]


# --- page ------------------------------------------------------------------------------------

common.require_app_frame()
st.title("Watermark studio")
st.caption("Turn a logo into a transparent watermark, see it on light, dark and your own photos, "
           "and download the mark, its mask and the stamped photos.")

controls, view = st.columns([1, 2], gap="large")
with controls:
    logo_name, logo_data = logo_input()
    refused = False
    try:
        logo = W.load_logo(logo_data)
    except ImageLoadError as exc:  # say why; the controls stay drawn (and set) for the next logo
        common.show_error(logo_name, exc)
        refused = True
        logo = W.load_logo(sample_logo_bytes())
    detected, plain = W.detect_background(logo)
    spec_error = None
    try:
        spec = watermark_controls(detected)
    except ValueError as exc:
        spec_error = exc
    placement = placement_controls()

with view:
    if refused:
        st.info(f"No watermark from **{logo_name}**: upload another logo, or clear it to use the sample logo.",
                icon=":material/upload:")
        st.stop()
    if spec_error is not None:
        st.error(f"**Settings**: {spec_error}")
        st.stop()
    ident = hashlib.sha256(logo_data).hexdigest()[:16]
    try:
        wm = build(logo, ident, spec)
    except (ModelError, ImageLoadError) as exc:
        common.show_error(logo_name, exc)
        st.stop()
    mark = wm.image
    how = {"key": f"colour key on {colors.to_hex(wm.background)}" if wm.background else "colour key",
           "model": "the background-removal model", "alpha": "the logo's own transparency"}[wm.source]
    st.markdown(f"**{logo_name}** → {mark.width}×{mark.height} px watermark; transparency from {how}.")
    for note in wm.notes:
        st.warning(note, icon=":material/warning:")
    if spec.source == "auto" and wm.source == "model" and not plain:
        st.caption("The logo's border is not one plain colour, so the model cut it out.")

    small = mark.copy()
    small.thumbnail((SWATCH_SIDE, SWATCH_SIDE), Image.Resampling.LANCZOS)
    border = max(8, min(small.size) // 10)
    c1, c2, c3 = st.columns(3)
    c1.image(W.on_background(small, "checker", border), caption="Transparent", width="stretch")
    c2.image(W.on_background(small, LIGHT_BG, border), caption="On light", width="stretch")
    c3.image(W.on_background(small, DARK_BG, border), caption="On dark", width="stretch")
    if wm.image.getchannel("A").getbbox() is None:
        st.warning("The watermark is fully transparent: lower the tolerance, or raise the opacity.")

    base = common.stem(logo_name)
    # a wrapping row of natural-width buttons: in three equal columns the labels were clipped at 1280 px
    row = st.container(horizontal=True)
    row.download_button("Watermark PNG", functools.partial(W.encode_photo, mark, "png"), f"{base}-watermark.png",
                        "image/png", key="wm_dl_png", on_click="ignore", icon=":material/download:")
    row.download_button("Watermark WebP", functools.partial(W.encode_photo, mark, "webp"), f"{base}-watermark.webp",
                        "image/webp", key="wm_dl_webp", on_click="ignore", icon=":material/download:")
    row.download_button("Mask PNG", functools.partial(W.encode_photo, wm.mask, "png"), f"{base}-watermark-mask.png",
                        "image/png", key="wm_dl_mask", on_click="ignore", icon=":material/download:")

    st.divider()
    photos: list[tuple[str, bytes, Image.Image]] = []  # name, file, preview-sized photo
    for name, data in photo_inputs():
        try:
            photos.append((name, data, W.load_photo(data, max_size=PREVIEW_SIDE)))
        except ImageLoadError as exc:
            common.show_error(name, exc)  # the other photos still go through
    names = out_names([(name, shown) for name, _, shown in photos])
    if len(photos) > 1:  # above the previews, which can run long
        st.download_button(f"Download all {len(photos)} stamped photos (zip)",
                           functools.partial(zip_of, [(out, data) for out, (_, data, _) in zip(names, photos)],
                                             mark, placement),
                           f"{base}-watermarked.zip", "application/zip", key="wm_dl_zip", on_click="ignore",
                           icon=":material/folder_zip:", type="primary")
    grid = st.columns(2 if len(photos) > 1 else 1)
    for i, ((name, data, shown), out) in enumerate(zip(photos, names)):
        with grid[i % len(grid)]:
            w, h = shown.info["original_size"]
            factor = shown.width / w
            st.image(W.stamp(shown, mark, preview_placement(placement, factor)),
                     caption=f"{name} — {w}×{h} {shown.mode}", width="stretch")
            st.download_button(f"Download {out}", functools.partial(stamped_file, data, mark, placement), out,
                               MIME[W.photo_format(shown)], key=f"wm_dl_photo_{i}", on_click="ignore",
                               icon=":material/download:")
