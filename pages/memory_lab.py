"""Memory Lab: see what the sidebar's session flags cost, in this process or a fresh one, and check the
source article's claims by measurement."""

from __future__ import annotations

import streamlit as st

from pages import common
from rembg_core import memory, session
from rembg_core.allocator import AllocatorChoice, AllocatorError
from rembg_core.claims import CLAIMS, Plan, check_claims, load_run
from rembg_core.claims.catalog import BY_ID
from rembg_core.claims.records import ClaimsRun
from rembg_core.claims.report import rows as claim_rows
from rembg_core.dashboard import charts
from rembg_core.dashboard import runs as lab
from rembg_core.dashboard.glossary import FLAG_HELP, UNITS
from rembg_core.errors import ImageLoadError, ModelError
from rembg_core.measure import arena, layers, noise
from rembg_core.measure.configs import allocator_choices
from rembg_core.measure.holdings import HOLDINGS
from rembg_core.memory import MB

HISTORY = "lab_history"
CLAIMS_RUN = "lab_claims_run"
# what fits at 1280 px; before/after MB are in the metrics above, a note in its warning
HISTORY_WIDTHS = {"run": 40, "where": 80, "flags": 142, "max_size": 70, "images": 56, "median s": 66, "peak MB": 62,
                  "retained MB": 84, "released": 68, "allocator": 70, "image": 80}
CLAIM_WIDTHS = {"claim": 220, "verdict": 100, "because": 420, "runs": 50}
LIVE_POLL = 0.2  # s between live updates of the in-process chart
VERDICT_ICON = {"holds": ":material/check_circle:", "partly": ":material/adjust:",
                "does not hold": ":material/cancel:", "could not tell": ":material/help:"}


def allocator_missing(choice: AllocatorChoice) -> str:
    try:
        choice.env()
    except AllocatorError as exc:
        return str(exc)
    return ""


def history() -> list[lab.LabRun]:
    return st.session_state.setdefault(HISTORY, [])


def run_in_process(picked: common.Picked, settings: common.Settings, repeats: int) -> lab.LabRun:
    """The run works in a library thread; this script thread draws RSS live meanwhile."""
    status, live = st.empty(), st.empty()
    # The session comes from the script thread: st.cache_resource belongs to the script's context.
    with common.lease(settings.config) as session:
        job = lab.InProcessRun(session, picked.data, settings.max_size, repeats).start()
        points: list[tuple[float, int]] = []
        while job.alive:
            points.append((job.sampler.now(), memory.rss()))
            status.progress(job.done / repeats, text=f"Image {min(job.done + 1, repeats)} of {repeats} · RSS now "
                            f"{points[-1][1] / MB:.0f} MB · peak so far {job.sampler.current_peak() / MB:.0f} MB")
            live.plotly_chart(charts.live_rss(points), key=f"lab_live_{len(points)}")
            job.join(LIVE_POLL)
        status.empty()
        live.empty()
        return job.result(len(history()) + 1, picked.name, picked.ident)


def show_last(last: lab.LabRun) -> None:
    st.subheader(f"Run #{last.number}: {last.mode}")
    before_help = UNITS["before_in_process" if last.mode == "in-process" else "before_isolated"]
    m, mem = st.columns(5), last.memory
    m[0].metric("Median per image", "–" if last.latency is None else f"{last.latency:.3f} s")
    m[1].metric("RSS before" if last.mode == "in-process" else "RSS, model loaded", common.mb(mem.before),
                help=before_help)
    grew = noise.growth(mem.before, mem.peak)
    kept_ = noise.retained(mem.before, mem.after)
    released = noise.release(mem.before, mem.peak, mem.after)
    m[2].metric("Peak", common.mb(mem.peak), None if grew.noise else grew.text, delta_color="off",
                help=UNITS["peak"] + (f" Growth: {grew.why}." if grew.noise else ""))
    # delta_color off: more memory kept is not an error, and "+0 MB" must not show red
    m[3].metric("After", common.mb(mem.after), None if kept_.noise else f"{kept_.text} retained", delta_color="off",
                help=UNITS["retained"] + (f" {kept_.why}." if kept_.noise else ""))
    m[4].metric("Released after peak", released.text, help=UNITS["release"])
    why = [f"{name}: {x.why}" for name, x in (("growth", grew), ("retained", kept_), ("released", released)) if x.why]
    st.caption(f"{UNITS['rss']}  \n{before_help}" + "".join(f"  \n– {w}" for w in why)
               + (f"  \nAllocator: **{last.allocator}** (verified in the child from /proc/self/maps)."
                  if last.mode == "isolated" and last.allocator else ""))
    if last.trace is not None:
        where = "the dashboard's server process" if last.mode == "in-process" else "a fresh child process"
        name = "before" if last.mode == "in-process" else "model loaded"
        st.plotly_chart(charts.rss_timeline(last.trace, title=f"RSS of {where}, run #{last.number}",
                                            before=(name, last.before_t, mem.before)), key="lab_timeline")
    if last.note:
        st.warning(last.note)
    if last.layers is not None:
        show_layers(last.layers, key=f"lab_layers_run_{last.number}")


def show_layers(split: layers.LayerSplit, key: str) -> None:
    """The split as a table (MB, share, how measured) and one stacked bar; the rows add up to RSS."""
    st.markdown(f"**Where the memory is: {split.where}**, RSS {split.rss / MB:.1f} MB")
    rows = split.rows()
    # a plain table: eight short rows, read whole (and by the browser test), no scrolling grid
    with st.container(key=key):
        st.table([{"layer": r["layer"], "MB": "–" if r["MB"] is None else f"{r['MB']:.1f}",
                   "share": "–" if r["share_pct"] is None else f"{r['share_pct']:.0f} %",
                   "how it was measured": r["how it was measured"]} for r in rows], hide_index=True)
    total = sum(layer.bytes or 0 for layer in split.all_layers())
    st.caption(f"Layers + unattributed = **{total / MB:.1f} MB** = RSS {split.rss / MB:.1f} MB "
               "(one reading of /proc/self/smaps_rollup). A layer marked – was not measured and is inside the "
               "unattributed remainder." + "".join(f"  \n{n}" for n in split.notes))


def server_layers_section(picked: common.Picked | None, settings: common.Settings) -> None:
    st.subheader("Where the server's memory is, layer by layer")
    st.caption("The dashboard's own process (every visitor's sessions, uploads and results), split into the layers "
               "that can be measured. The ORT arena of each arena-on session held is measured in fresh processes "
               "(the same config on the chosen image at the sidebar's max_size, arena on vs off), once per config.")
    c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
    go_split = c1.button("Split the server's memory", icon=":material/stacked_bar_chart:", key="lab_split",
                         width="stretch")
    measure_arena = c2.toggle("Measure held sessions' arenas first", value=False, **common.kept("lab_split_arena"),
                              help="In fresh processes, arena on vs off, on the chosen image at the sidebar's "
                                   "max_size: about a minute per config. Otherwise the arena is unattributed.")
    if go_split:
        if measure_arena:
            known = HOLDINGS.arenas()
            todo = [h for h in session.cached_configs() if h.enable_cpu_mem_arena and h not in known]
            if todo and picked is None:
                st.warning("Pick a sample or upload an image first: the arena is measured on it.")
            elif todo and picked is not None and common.valid_image(picked):
                for cfg in todo:
                    with st.spinner(f"Measuring the arena of {cfg.flags_label} (arena on vs off)…"):
                        got = arena.arena_by_pair(cfg, common.as_file(picked), settings.max_size)
                    if isinstance(got, str):
                        common.refuse(picked.name, got)
                    else:
                        HOLDINGS.note_arena(cfg, got)
        st.session_state["lab_server_split"] = common.server_split()
    split = st.session_state.get("lab_server_split")
    if split is not None:
        show_layers(split, key="lab_layers_server")


def explanations(runs: list[lab.LabRun]) -> None:
    st.subheader("What the flags do")
    for flag, key, name in (("enable_cpu_mem_arena", "arena", "enable_cpu_mem_arena"),
                            ("enable_mem_pattern", "pattern", "enable_mem_pattern"),
                            ("arena_shrinkage", "shrink", "arena shrinkage")):
        measured = lab.measured_effect(runs, flag, name)
        text = f"**{name}** — {FLAG_HELP[key]}"
        text += f"  \n{measured}" if measured else ("  \n*Flip it in the sidebar and run isolated on the same "
                                                    "image both ways to see it measured here.*")
        st.markdown(text)


def claims_section(picked: common.Picked | None, settings: common.Settings) -> None:
    st.subheader("The source article's claims, checked here")
    st.caption("Each claim is measured in fresh Python processes on this machine when you ask; its verdict "
               "is computed from those figures. Nothing below comes from another machine unless you load a "
               "saved run, which says where and when it was made.")
    c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
    quick = c1.toggle("Quick (one round, about a minute)", value=True, **common.kept("lab_claims_quick"),
                      help="Off: three interleaved rounds, so the figures carry a spread (several minutes).")
    check = c1.button("Check the claims", icon=":material/fact_check:", key="lab_claims_check", width="stretch")
    saved = c2.file_uploader("…or load a saved claims run (JSON)", type=["json"], key="lab_claims_upload")
    common.stopped_notice("lab_claims")
    if check:
        bar = st.progress(0.0, text="Starting fresh processes…")
        image = common.as_file(picked) if picked is not None else None
        with common.stoppable("lab_claims", "the claims check") as job:

            def progress(done: int, total: int, what: str) -> None:
                job.step(done, total, what)
                bar.progress(done / total, text=f"{done}/{total} · {what}")

            st.session_state[CLAIMS_RUN] = check_claims(
                image, plan=Plan.quick() if quick else Plan(), config=settings.config,
                command="Memory Lab: Check the claims" + (" (quick)" if quick else ""), progress=progress)
        bar.empty()
    elif saved is not None and st.session_state.get(f"{CLAIMS_RUN}_file") != saved.file_id:
        try:
            st.session_state[CLAIMS_RUN] = load_run(saved.getvalue())
            st.session_state[f"{CLAIMS_RUN}_file"] = saved.file_id
        except ValueError as exc:
            st.error(f"**{saved.name}**: {exc}", icon=":material/error:")
    run = st.session_state.get(CLAIMS_RUN)
    if not isinstance(run, ClaimsRun):
        for listed in CLAIMS:
            st.markdown(f"- **{listed.title}** — {listed.words}")
        return
    st.info(run.provenance[:1].upper() + run.provenance[1:], icon=":material/history:")
    # what fits at 1280 px; each claim's figures are in its expander below
    st.dataframe(claim_rows(run), hide_index=True, width="stretch", column_order=list(CLAIM_WIDTHS),
                 column_config={k: st.column_config.Column(width=w) for k, w in CLAIM_WIDTHS.items()})
    for result in run.results:
        claim = BY_ID.get(result.claim)
        if claim is None:
            continue
        with st.expander(f"{claim.title}: {result.verdict}", icon=VERDICT_ICON[result.verdict]):
            st.markdown(f"*{claim.words}*  \n**Test:** {claim.test}  \n**Criterion:** {claim.criterion}  \n"
                        f"**Verdict: {result.verdict}** — {result.because}")
            for f in result.figures:
                st.markdown(f"- {f.text}")
    st.download_button("Download this run (JSON)", run.to_json(), "rembg-lab-claims.json", "application/json",
                       key="lab_claims_download", icon=":material/download:", on_click="ignore")


# --- the page -----------------------------------------------------------------------------

common.require_app_frame()
st.title("Memory Lab")
st.caption("Run the sidebar's session settings and watch resident memory (RSS). *In this process* runs inside the "
           "dashboard's own server — live, but coloured by everything already loaded. *Isolated* runs in a fresh "
           "Python process: slower to start, clean numbers.")
picked = common.pick_image("lab", default_sample=True)
settings = common.settings()
c0, c1 = st.columns([3, 2], vertical_alignment="bottom")
c0.caption(f"Settings from the sidebar: **{settings.config.flags_label}**, max_size "
           f"**{common.max_size_label(settings.max_size or 0)}**. Change them there.")
repeats = c1.slider("Images per run", 1, 8, 3, **common.kept("lab_repeats"),
                    help="In-process: the image is processed this many times in a row. Isolated: measured repeats "
                         "after two warm-ups (the second warm-up is where the memory pattern allocates).")
a1, a2 = st.columns([2, 3], vertical_alignment="bottom")
choices = allocator_choices()
alloc_i = a1.selectbox("Allocator for isolated runs", range(len(choices)), format_func=lambda i: choices[i].label,
                       **common.kept("lab_allocator"),
                       help="The fresh process's malloc: glibc as it comes, glibc tuned, or Debian's jemalloc / "
                            "mimalloc preloaded. The child checks /proc/self/maps and refuses to run on another.")
split_iso = a2.toggle("Split isolated runs into layers", value=False, **common.kept("lab_iso_layers"),
                      help="The child splits its RSS into layers after the runs; a second fresh process with the "
                           "arena off measures the arena layer.")
b1, b2, b3 = st.columns([2, 2, 1])
run_here = b1.button("Run in this process", type="primary", icon=":material/play_arrow:", key="lab_run_here",
                     width="stretch")
run_iso = b2.button("Run isolated (fresh process)", icon=":material/science:", key="lab_run_iso", width="stretch")
if b3.button("Clear history", key="lab_clear", width="stretch"):
    st.session_state[HISTORY] = []
r1, _ = st.columns([2, 3])
with r1:
    common.release_control("lab_release")

common.stopped_notice("lab_iso")
if picked is None:
    if run_here or run_iso:
        st.warning("Pick a sample or upload an image first.")
elif (run_here or run_iso) and not common.valid_image(picked):
    pass  # refused with its name and reason before any process starts
elif run_iso and (missing := allocator_missing(choices[alloc_i])):
    common.refuse(choices[alloc_i].name, missing)
elif run_here and common.ensure_model(settings.config.model):
    try:
        history().append(run_in_process(picked, settings, repeats))
    except (ImageLoadError, ModelError) as exc:
        common.show_error(picked.name, exc)
elif run_iso and common.ensure_model(settings.config.model):
    with st.spinner("Measuring in a fresh Python process (start-up, model load, two warm-ups, then the repeats)…"), \
            common.stoppable("lab_iso", "the isolated run"):
        outcome = lab.isolated(len(history()) + 1, common.as_file(picked), picked.name, picked.ident,
                               settings.config, settings.max_size, repeats, choices[alloc_i], split_iso)
    if isinstance(outcome, lab.IsolatedFailure):
        st.error(f"**{picked.name}**: {outcome.reason}", icon=":material/broken_image:")
    else:
        history().append(outcome)

runs = history()
if runs:
    show_last(runs[-1])
    st.subheader("History")
    st.dataframe([r.row() for r in reversed(runs)], hide_index=True, width="stretch", column_order=list(HISTORY_WIDTHS),
                 column_config={k: st.column_config.Column(width=w) for k, w in HISTORY_WIDTHS.items()})
    traced = {r.label: r.trace for r in runs[-8:] if r.trace is not None}
    if len(traced) > 1:
        st.plotly_chart(charts.rss_overlay(traced), key="lab_overlay")
else:
    st.info("Press **Run**. To see a flag's cost, run isolated, flip the flag in the sidebar, and run isolated "
            "again on the same image.", icon=":material/science:")

server_layers_section(picked, settings)
explanations(runs)
claims_section(picked, settings)
