"""The Horizon page: load an MDP (a grid world, a MiniGrid id or an uploaded BRIDGE
``.npz``, whose horizon T is read from the file or must be typed in) and show its figures,
the bound per k (deterministic MDPs only), where lookahead is needed, sweeps over T and
gamma, a state's picture and the learners' sample complexities.

Each figure is a DynamicMap fed by a Pipe: a new analysis is new data, not a new figure.
The definitions are shown as maths beside the figures, with the analysed MDP's values.
Rows wrap (``pn.FlexBox``) so that the page fits 1280 px and more without cutting a
figure off.
Loading and analysing run in a thread (:func:`widgets.common.run_in_thread`), so the
server keeps answering; the status line says what is computed now, how much of it is done
and how long is left (:class:`~widgets.horizon.progress.WorkProgress`), and bad input
ends as a message there: a corrupt file, a file over :data:`MAX_UPLOAD_BYTES`, or an MDP
and horizon whose analyses would not fit in memory (refused before allocating).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import panel as pn
import param

from widgets.common import run_in_thread
from widgets.common.formula import Formula
from widgets.horizon.bound_chart import BoundChart
from widgets.horizon.lookahead_map import LookaheadMap
from widgets.horizon.progress import WorkProgress
from widgets.horizon.sample_complexity import SampleComplexity
from widgets.horizon.sources import DEFAULT_SOURCE, all_sources
from widgets.horizon.state_picture import StatePicture
from widgets.horizon.sweeps import HorizonSweep
from workbench.horizon import (
    ANALYSIS_PARTS,
    PAGE_PARTS,
    HorizonAnalysis,
    MDPFormatError,
    NotEnoughMemory,
    analyze,
    load_mdp,
    value_functions,
)

MAX_UPLOAD_BYTES = 12 * 2**20
"""The largest npz file the page analyses (12 MiB). Whatever its size, what a file would
decompress to and what its analysis would allocate are checked before either happens
(:func:`~workbench.horizon.load_mdp`); this bounds what a session holds for an upload.
The browser sends a file base64-encoded in one websocket message, and Bokeh's server
drops messages over 20 MiB (``websocket_max_message_size``), about 15 MiB of file: a
larger file never reaches the page. Larger files: ``workbench horizon FILE``."""

# The effective horizon's definitions (Laidlaw, Russell and Dragan, NeurIPS 2023) as
# workbench/horizon computes them, in LaTeX; \knob{...} are the analysed MDP's values.
HORIZON_DEFINITIONS = r"""\begin{aligned}
&(BQ)_t(s,a) = R(s,a) + \max_{a'} Q_{t+1}(s',a')\\
&Q_k = B^{k-1} Q^{\mathrm{rand}}\\
&\mathrm{min}_k = \text{least } k \text{ whose greedy actions}\\
&\qquad \text{are optimal wherever they lead} = \knob{min_k}\\
&\mathrm{epw} = \text{the same on } B^{k-1} R = \knob{epw}\\[3pt]
&m_k = \max_{(t,s)} \Big\lceil \tfrac{16\,\mathrm{var}}{\Delta^2} \ln\big(2TA^k\big) \Big\rceil\\
&H_k = k + \log_A m_k\\
&H = \min\big(T,\ \min_k H_k\big) = \knob{H}\\[3pt]
&T = \knob{T},\ \ A = \knob{A},\ \ |S| = \knob{S}
\end{aligned}"""
HORIZON_CAPTION = (
    "Delta: how far the best action's Q_k lies above the best suboptimal one's at a "
    "state the greedy agent reaches; var bounds the random policy's return variance there. "
    "Telling the actions apart takes about m_k rollouts per action sequence, so A^(H_k) "
    "rollouts in all. Blue: the analysed MDP's values."
)


def figures_markdown(analysis: HorizonAnalysis) -> str:
    """The figure table of one analysis, as Markdown. A stochastic MDP's bound row says
    that the bound is defined for deterministic MDPs only."""
    if analysis.bound is None:
        bound = "none: defined for deterministic MDPs only"
    else:
        best = analysis.bound.best
        attained = "T itself" if best is None else f"k = {best.k} at (t, s) = ({best.t}, {best.s})"
        bound = f"{analysis.bound.effective_horizon:.2f} ({attained})"
    greedy = ", ".join(f"{value:.4g}" for value in analysis.greedy_returns)
    rows = [
        ("MDP", analysis.name),
        ("states / actions", f"{analysis.states} / {analysis.actions}"),
        ("horizon T", analysis.horizon),
        ("min_k", analysis.min_k.k),
        ("epw (planning window)", analysis.epw.k),
        ("effective horizon (bound)", bound),
        ("optimal return", f"{analysis.returns['optimal']:.4f}"),
        ("random return", f"{analysis.returns['random']:.4f}"),
        ("greedy returns J_1..J_5 on Q_k", greedy),
        ("deterministic", "yes" if analysis.deterministic else "no"),
    ]
    return "| figure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


class HorizonView(pn.viewable.Viewer):
    """Pick an MDP (a grid world, a MiniGrid environment or an uploaded BRIDGE ``.npz``)
    and a horizon T; see its figures, the bound per k, where lookahead is needed, and how
    the figures change with T."""

    source = param.String(default=DEFAULT_SOURCE, doc="Environment id analysed.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        options = all_sources()
        # Searchable: some 90 ids. Empty, it lists them all; "door" finds the DoorKeys.
        self.select = pn.widgets.AutocompleteInput(
            label="MDP (type to search)", options=options, restrict=True,
            case_sensitive=False, search_strategy="includes", min_characters=0,
            value=self.source if self.source in options else "",
            placeholder="a grid world or MiniGrid id", width=300,
            description=f"{len(options)} grid worlds and MiniGrid environments; "
            "large MiniGrid grids take minutes to enumerate, the largest are refused",
            css_classes=["horizon-source"],
        )  # fmt: skip
        self.upload = pn.widgets.FileInput(
            accept=".npz", css_classes=["horizon-upload"],
            description=f"A BRIDGE .npz of at most {MAX_UPLOAD_BYTES / 2**20:g} MiB; "
            "analyse larger ones with `workbench horizon FILE`.",
        )  # fmt: skip
        # A short label: a long one ran past its box into the next column.
        self.horizon = pn.widgets.IntInput(
            label="horizon T", value=None, placeholder="the MDP's own", width=160,
            description="Empty: the MDP's own horizon; an .npz without one needs it.",
            css_classes=["horizon-T"],
        )  # fmt: skip
        self.button = pn.widgets.Button(
            label="Analyse", color="primary", css_classes=["horizon-analyse"]
        )
        self.status = pn.widgets.StaticText(
            label="status", value="not analysed yet", css_classes=["horizon-status"]
        )
        self.progress = WorkProgress(self.status, css_class="horizon-progress")
        self.figures = pn.pane.Markdown("", css_classes=["horizon-figures"])
        self.bound = BoundChart()
        self.map = LookaheadMap()
        self.time = pn.widgets.IntSlider(label="map at time step t", start=0, end=1, value=0)
        self.time.link(self.map, value="t")
        self.sweep = HorizonSweep()
        self.complexity = SampleComplexity()
        self.picture = StatePicture()
        self.formula = Formula(
            template=HORIZON_DEFINITIONS, title="Definitions", caption=HORIZON_CAPTION,
            width=360,
        )  # fmt: skip
        self.analysis: HorizonAnalysis | None = None
        self._upload: tuple[bytes, str] | None = None
        self._lock = threading.Lock()
        self._started = False
        self.select.param.watch(self._source_chosen, "value")
        self.upload.param.watch(self._uploaded, "value")
        self.horizon.param.watch(lambda _: self.request(), "value")
        self.button.on_click(lambda _: self.request())

    def start(self) -> None:
        """Analyse the chosen source the first time the page is opened (idempotent)."""
        if not self._started:
            self._started = True
            self.request()

    def _source_chosen(self, event) -> None:
        if event.new:
            self._upload = None
            self.source = event.new
            self.request()

    def _uploaded(self, event) -> None:
        if event.new is not None:
            self._upload = (event.new, self.upload.filename or "upload.npz")
            self.request()

    def request(self) -> None:
        """Analyse the current choice (the upload if one is newer than the select) in a
        thread."""
        horizon, upload, source = self.horizon.value, self._upload, self.source
        if upload is not None:
            run_in_thread(self.status, lambda: self.show_upload(*upload, horizon=horizon))
        else:
            run_in_thread(self.status, lambda: self.show(source, horizon))

    def show_upload(
        self, data: bytes, filename: str, horizon: int | None = None
    ) -> HorizonAnalysis | None:
        """Analyse uploaded BRIDGE npz bytes (saved to a temporary file for
        :func:`load_mdp`); a file over :data:`MAX_UPLOAD_BYTES` is refused in the status
        line."""
        if len(data) > MAX_UPLOAD_BYTES:
            name = Path(filename).name
            with self._lock:
                self.progress.finish(
                    f"cannot load {name}: the file is {len(data) / 2**20:,.1f} MiB, more than "
                    f"the {MAX_UPLOAD_BYTES / 2**20:g} MiB the page accepts; analyse it with "
                    f"`workbench horizon {name}`"
                )
            return None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload.npz"
            path.write_bytes(data)
            return self.show(str(path), horizon, label=Path(filename).name)

    def show(
        self, source: str, horizon: int | None = None, label: str | None = None
    ) -> HorizonAnalysis | None:
        """Load ``source`` with horizon T (None: its own), analyse it and draw everything;
        returns the analysis, or None with the reason in the status line."""
        label = label or source
        with self._lock:
            start = time.perf_counter()
            self.progress.begin(label)
            try:
                return self._show(source, horizon, label, start)
            finally:
                self.progress.stop()  # after a failure: its message is written next

    def _show(
        self, source: str, horizon: int | None, label: str, start: float
    ) -> HorizonAnalysis | None:
        progress = self.progress
        try:
            if horizon is not None and (int(horizon) != horizon or horizon < 1):
                raise ValueError(f"horizon T must be a positive integer, got {horizon}")
            progress.report("loading")
            # Only a MiniGrid id not analysed before reports: its enumeration is the one
            # load that takes long (minutes for the larger grids).
            enumerate_states = progress.reporter(
                "enumerating MiniGrid states", unit="states expanded", kind="so far"
            )
            # Refused before allocating when the page's analyses would not fit in memory.
            mdp = load_mdp(source, horizon, progress=enumerate_states, parts=PAGE_PARTS)
        except ModuleNotFoundError as error:
            progress.finish(f"cannot load {label}: {error.msg} (is it installed?)")
            return None
        except NotEnoughMemory as error:
            message = str(error).replace(source, label).removeprefix(f"{label}: ")
            progress.finish(f"cannot analyse {label}: {message}")
            return None
        except (MDPFormatError, ValueError, OSError) as error:
            # BRIDGE errors name the (temporary) path: show the uploaded file's name.
            message = str(error).replace(source, label).removeprefix(f"{label}: ")
            progress.finish(f"cannot load {label}: {message}")
            return None
        if label != source:
            mdp.name = label
        progress.label = f"{label} ({mdp.num_states:,} states)"
        progress.report(ANALYSIS_PARTS["values"])
        values = value_functions(mdp)
        analysis = analyze(
            mdp,
            values,
            # Parts take unalike times (the bound most): no time left from their count.
            progress=lambda part, done, total: progress.report(
                ANALYSIS_PARTS.get(part, part), done, total, unit="parts", estimate=False
            ),
        )
        self.analysis = analysis
        self.figures.object = figures_markdown(analysis)
        self.bound.show(analysis)
        self.time.param.update(end=max(mdp.horizon - 1, 1), value=0)
        progress.report("drawing the lookahead map")
        self.map.show(mdp, values)
        self.sweep.show(mdp, progress=self.sweep.reporter(progress))
        self.complexity.target(mdp, analysis)
        progress.report("drawing a state")
        best = None if analysis.bound is None else analysis.bound.best
        self.picture.target(source if label == source else "", mdp, best.s if best else 0)
        effective = (
            "none (stochastic)" if analysis.bound is None else analysis.bound.effective_horizon
        )
        self.formula.values = {
            "min_k": analysis.min_k.k, "epw": analysis.epw.k, "H": effective,
            "T": mdp.horizon, "A": mdp.num_actions, "S": mdp.num_states,
        }  # fmt: skip
        progress.finish(
            f"{label}: {mdp.num_states} states, {mdp.num_actions} actions, "
            f"T = {mdp.horizon}; analysed in {time.perf_counter() - start:.2f} s"
        )
        return analysis

    def __panel__(self) -> pn.viewable.Viewable:
        intro = pn.pane.Markdown(
            "**min_k**: the least k such that acting greedily on k - 1 Bellman backups of the "
            "random policy's Q is optimal. **epw**: the same from the immediate reward. "
            "**Effective horizon**: the bound min(T, min_k H_k), which predicts how many "
            "samples GORP and SQIRL need; it is defined for deterministic MDPs only (a "
            "stochastic one shows min_k, epw and the greedy returns J_k instead). The map "
            "shows, per cell, the least k that is optimal there at time step t.",
            sizing_mode="stretch_width",
        )
        controls = pn.FlexBox(
            self.select,
            pn.Column(pn.pane.Markdown("or upload a BRIDGE `.npz`", margin=(0, 5)), self.upload),
            self.horizon,
            self.button,
            align_items="end",
        )
        return pn.Column(
            controls,
            self.status,
            self.progress,
            # The maths beside the figures; wraps below them on a narrow window.
            pn.FlexBox(self.figures, self.formula, self.bound, self.picture),
            intro,
            self.time,
            self.map,
            self.sweep,
            self.complexity,
            sizing_mode="stretch_width",
        )
