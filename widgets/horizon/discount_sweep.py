"""Return against discount for an SB3 learner on a continuous environment: one live run
per discount, drawn while they train."""

from __future__ import annotations

import holoviews as hv
import panel as pn

from widgets.common import LiveSession
from widgets.common.plotting import figure_pane
from widgets.common.run_progress import StepRate, duration
from workbench.horizon.discount_sweep import (
    SweepProgress,
    start_discount_sweep,
    sweep_progress,
    sweep_returns,
)
from workbench.runs import Run
from workbench.runs.run import FINAL_STATES


def parse_discounts(text: str) -> list[float]:
    """Discounts from a comma- or space-separated list (numbers only, nothing evaluated);
    a ValueError names the entry that is not a discount in [0, 1]."""
    discounts = []
    for entry in text.replace(",", " ").split():
        try:
            gamma = float(entry)
        except ValueError:
            raise ValueError(f"{entry!r} is not a number") from None
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"discount {entry} is outside [0, 1]")
        discounts.append(gamma)
    if not discounts:
        raise ValueError("give at least one discount, e.g. 0.9, 0.99")
    return sorted(set(discounts))


def describe_sweep(progress: SweepProgress) -> str:
    """One line: runs ended of all, the slowest running run's percent and the time left
    (the runs train side by side: until the last one ends)."""
    ended = f"{progress.ended} of {progress.runs} runs ended"
    if progress.failed:
        ended += f" ({progress.failed} failed)"
    if progress.slowest is None:
        return f"{ended} · done"
    fraction, gamma = progress.slowest
    parts = [ended, f"slowest: gamma {gamma:g} at {100 * fraction:.0f}%"]
    if progress.seconds_left is None:
        parts.append("estimating time left")
    else:
        parts.append(f"about {duration(progress.seconds_left)} left")
    return " · ".join(parts)


def _returns_against_discount(data: dict[str, list[float]] | None) -> hv.Overlay:
    data = data or {"gamma": [], "return": []}
    return hv.Curve(data, "gamma", "return") * hv.Scatter(data, "gamma", "return").opts(size=8)


class DiscountSweepView(pn.viewable.Viewer):
    """Return against discount for an SB3 learner on a continuous environment: one live
    ``sb3`` run per discount in the run store (each also on the Runs page), and their
    latest evaluation returns, redrawn while they train, with the sweep's progress: runs
    ended, the slowest run's percent and the time left."""

    def __init__(
        self,
        session: LiveSession,
        executor: str = "subprocess",
        knobs: dict | None = None,
        **params,
    ) -> None:
        """``knobs``: further ``sb3`` knobs every run of a sweep gets (e.g. ``n_envs``)."""
        super().__init__(**params)
        from workbench.trainers.sb3 import ALGORITHMS, SB3Config  # imports SB3: only when built

        self.session, self.executor, self.knobs = session, executor, dict(knobs or {})
        self.env = pn.widgets.Select(
            label="environment", options=list(SB3Config.param.env_id.objects),
            value="workbench/Plane-v0", css_classes=["sweep-env"],
        )  # fmt: skip
        self.algorithm = pn.widgets.Select(
            label="learner", options=list(ALGORITHMS), value="PPO", width=100
        )
        self.discounts = pn.widgets.TextInput(
            label="discounts", value="0.5, 0.9, 0.99", css_classes=["sweep-discounts"]
        )
        self.steps = pn.widgets.IntInput(
            label="steps per run", value=20_000, start=1_000, end=10**7, step=1_000,
            css_classes=["sweep-steps"],
        )  # fmt: skip
        self.button = pn.widgets.Button(
            label="Start sweep", color="primary", css_classes=["sweep-start"]
        )
        self.status = pn.widgets.StaticText(value="", css_classes=["sweep-status"])
        self.progress = pn.widgets.StaticText(value="", css_classes=["sweep-progress"])
        self.bar = pn.indicators.Progress(
            value=0, max=1000, bar_color="info", height=8,
            sizing_mode="stretch_width", css_classes=["sweep-progress-bar"],
        )  # fmt: skip
        self._rates: dict[str, StepRate] = {}  # per run id: its steps per second
        self.runs: list[Run] = []
        self.data: dict[str, list[float]] | None = None
        self._watching = False  # some run of the sweep has not ended yet
        self._pipe = hv.streams.Pipe(data=None)
        chart = hv.DynamicMap(_returns_against_discount, streams=[self._pipe]).opts(
            hv.opts.Curve(framewise=True, frame_width=360, frame_height=220, toolbar=None),
            hv.opts.Overlay(title="latest evaluation return against discount"),
        )
        self._chart = figure_pane(chart, css_classes=["sweep-chart"])
        self.button.on_click(lambda _: self.start())
        session.register(self)

    def start(self) -> list[Run]:
        """Start one run per discount with the chosen knobs; a bad entry is named in the
        status line and starts nothing."""
        try:
            discounts = parse_discounts(self.discounts.value)
            steps = int(self.steps.value or 0)
            if steps < 1_000:
                raise ValueError(f"steps per run must be at least 1,000, got {steps}")
        except ValueError as error:
            self.status.value = f"cannot start: {error}"
            return []
        self.runs = start_discount_sweep(
            discounts, store=self.session.store, executor=self.executor,
            env_id=self.env.value, algorithm=self.algorithm.value, total_timesteps=steps,
            eval_every=max(steps // 5, 1), checkpoint_every=0, **self.knobs,
        )  # fmt: skip
        self.data, self._watching = None, True
        self._rates = {run.id: StepRate() for run in self.runs}
        self.bar.value = 0
        self.status.value = f"started {len(self.runs)} runs of {self.algorithm.value}"
        self.refresh()
        return self.runs

    def refresh(self) -> None:
        """Redraw when a run has a new evaluation (called by the session); once every run
        has ended, stop reading the store."""
        if not self._watching:
            return
        rows = sweep_returns(self.runs)
        ended = all(row["state"] in FINAL_STATES for row in rows)
        data = {
            "gamma": [row["gamma"] for row in rows if row["evaluations"]],
            "return": [row["return"] for row in rows if row["evaluations"]],
        }
        if data != self.data:
            self.data = data
            self._pipe.send(data)
        steps = ", ".join(f"gamma {row['gamma']:g}: step {row['step']:,}" for row in rows)
        self.status.value = (
            f"{self.algorithm.value} on {self.env.value}: {steps}{' (ended)' if ended else ''}"
        )
        speeds = []
        for run, row in zip(self.runs, rows, strict=True):
            rate = self._rates.setdefault(run.id, StepRate())
            rate.observe(row["step"])
            speeds.append(rate.per_second)
        summary = sweep_progress(rows, speeds)
        self.progress.value = describe_sweep(summary)
        self.bar.value = round(1000 * summary.done)  # the mean of the runs' fractions
        self._watching = not ended

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "**Return against discount** for a deep RL learner on a continuous "
                "environment: one live run per discount (each also on the Runs page)."
            ),
            # Wraps on a narrow window instead of running past the page's edge.
            pn.FlexBox(
                self.env,
                self.algorithm,
                self.discounts,
                self.steps,
                self.button,
                align_items="end",
            ),
            self.status,
            self.progress,
            self.bar,
            self._chart,
        )
