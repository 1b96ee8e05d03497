"""The Sweeps page: one sweep's trials live, their curves, the knobs against the score,
the best configurations with seed statistics, and the population's lineage (PBT)."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.plotting import MARKDOWN_CODE_CSS
from widgets.common.scalar_chart import ScalarChart
from widgets.sweeps.lineage import LineageView
from widgets.sweeps.seed_statistics import SeedStatisticsView
from widgets.sweeps.trials import ParallelCoordinates, TrialsTable
from workbench.runs.sweeps import SweepSpec

# The header's own look (a 28 px heading on a first load, 14 px once the tab was revisited:
# see MARKDOWN_CODE_CSS).
HEADER_CSS = """
:host h3 { font-size: 1.5rem; font-weight: 500; margin: 0.2em 0 0.3em; }
:host h3 small { font-size: 0.6em; color: #666; }
"""

START_HINT = """**No sweep yet.** A sweep trains every configuration of a search, with several
seeds, as live runs on Ray Tune. Start one from a terminal, then pick it above:

```
workbench sweep regression --param learning_rate=loguniform:1e-3:1e-1 \\
    --samples 4 --seeds 3 --metric losses/mse --mode min
workbench sweep sb3 --set total_timesteps=40000 --param learning_rate=loguniform:1e-5:1e-3 \\
    --samples 4 --scheduler pbt
```"""


class SweepsView(pn.viewable.Viewer):
    """A sweep's trials appearing and training, with the statistics that compare them."""

    sweep_id = param.String(default="", doc="Sweep shown.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.header = pn.pane.Markdown(
            "", css_classes=["sweep-header"], stylesheets=[HEADER_CSS, MARKDOWN_CODE_CSS],
            sizing_mode="stretch_width",
        )  # fmt: skip
        self.trials = TrialsTable(session)
        self.curves = ScalarChart(session, height=280, smoothing=0.6)
        self.coordinates = ParallelCoordinates(session, width=560)
        self.statistics = SeedStatisticsView(session, width=560)
        self.lineage = LineageView(session, width=1160)
        self.hint = pn.pane.Markdown(START_HINT, css_classes=["sweep-hint"])
        self.body = pn.Column(
            self.header,
            self.trials,
            self.curves,
            pn.Row(self.coordinates, self.statistics),
            self.lineage,
            sizing_mode="stretch_width",
        )
        self._runs: list[str] = []
        self._show()
        session.register(self)

    @param.depends("sweep_id", watch=True)
    def _show(self) -> None:
        self._runs = []
        for view in (self.trials, self.coordinates, self.lineage):
            view.sweep_id = self.sweep_id
        self.hint.visible = not self.sweep_id
        self.body.visible = bool(self.sweep_id)
        if self.sweep_id:
            spec = SweepSpec(**self.session.store.get_sweep(self.sweep_id).spec)
            self.curves.metric = spec.metric
            self.statistics.param.update(metric=spec.metric, mode=spec.mode)
        self.refresh()

    def refresh(self) -> None:
        if not self.sweep_id:
            return
        store = self.session.store
        sweep = store.get_sweep(self.sweep_id)
        spec = SweepSpec(**sweep.spec)
        runs = [r.id for r in store.list_runs(self.sweep_id)]
        if runs != self._runs:  # trials appear: their curves and statistics with them
            self._runs = runs
            self.curves.run_ids = runs
            self.statistics.run_ids = runs
        self.header.object = _header(sweep, spec, len(runs))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.hint, self.body, sizing_mode="stretch_width")


def _header(sweep, spec: SweepSpec, runs: int) -> str:
    params = ", ".join(f"`{p}`" for p in spec.params)
    seeds = f" x {spec.seeds} seeds" if spec.seeds > 1 else ""
    message = f": {sweep.message}" if sweep.message else ""
    return (
        f"### {sweep.name} <small>({sweep.id})</small>\n"
        f"**{sweep.state}**{message} · {spec.trainer}, {spec.search} search over {params}, "
        f"{spec.samples} samples{seeds}, scheduler {spec.scheduler} · "
        f"`{spec.metric}` ({spec.mode}) · {runs} runs"
    )
