"""The objective panel, generated from a run's Config: hot knobs change the running run,
structural ones offer a fork."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import param

from widgets.common.live import LiveSession
from workbench.runs import Config, KnobError, Run, RunError
from workbench.runs.config import describe, parse_knob


class ObjectivePanel(pn.viewable.Viewer):
    """One input per knob, built from the run's Config class; typed text is parsed by the
    knob's type (never evaluated) and range-checked by the Config before anything changes."""

    run_id = param.String(default="", doc="Run steered.")
    executor = param.Selector(
        default="thread", objects=["thread", "subprocess"], doc="Where forks run."
    )

    def __init__(
        self, session: LiveSession, on_fork: Callable[[str], None] | None = None, **params
    ) -> None:
        super().__init__(**params)
        self.session = session
        self.on_fork = on_fork
        self.inputs: dict[str, pn.widgets.Widget] = {}
        self.apply_button = pn.widgets.Button(
            label="Apply hot changes", color="primary", css_classes=["apply-knobs"]
        )
        self.fork_button = pn.widgets.Button(
            label="Fork with these knobs", css_classes=["fork-run"]
        )
        self.feedback = pn.widgets.StaticText(
            label="", value="", css_classes=["objective-feedback"]
        )
        self.apply_button.on_click(lambda _: self._apply())
        self.fork_button.on_click(lambda _: self._fork())
        self._hot = pn.Column()
        self._structural = pn.Column()
        self._build()

    def _config_class(self) -> type[Config]:
        return Run(self.session.store, self.run_id).trainer_class.Config

    @param.depends("run_id", watch=True)
    def _build(self) -> None:
        self.inputs = {}
        if not self.run_id:
            return
        config_class = self._config_class()
        values = self.session.store.get_run(self.run_id).config
        for knob in config_class.knob_names():
            parameter = config_class.param[knob]
            label = f"{knob}{'' if config_class.is_hot(knob) else ' (fork)'}"
            if isinstance(parameter, param.Selector):
                widget = pn.widgets.Select(
                    label=label, options=list(parameter.objects), value=values[knob]
                )
            else:
                widget = pn.widgets.TextInput(label=label, value=str(values[knob]))
            widget.description = f"{parameter.doc} {describe(config_class, knob)}."
            widget.css_classes = [f"knob-{knob}"]
            self.inputs[knob] = widget
        self._hot.objects = [self.inputs[k] for k in config_class.hot_knobs()]
        self._structural.objects = [self.inputs[k] for k in config_class.structural_knobs()]

    def _changes(self, knobs: list[str]) -> dict[str, Any]:
        config_class = self._config_class()
        current = self.session.store.get_run(self.run_id).config
        changes = {}
        for knob in knobs:
            value = parse_knob(config_class, knob, self.inputs[knob].value)
            if value != current[knob]:
                changes[knob] = value
        return config_class.check(changes)

    def _apply(self) -> None:
        try:
            changes = self._changes(self._config_class().hot_knobs())
            if not changes:
                self.feedback.value = "no hot knob changed"
                return
            Run(self.session.store, self.run_id).update(**changes)
            self.feedback.value = "applied at the next update: " + ", ".join(
                f"{k}={v}" for k, v in changes.items()
            )
        except (KnobError, RunError) as error:
            self.feedback.value = f"refused: {error}"

    def _fork(self) -> None:
        try:
            changes = self._changes(self._config_class().knob_names())
            child = Run(self.session.store, self.run_id).fork(**changes)
            child.start(self.executor)
            self.feedback.value = f"forked run {child.id}" + (f" with {changes}" if changes else "")
            if self.on_fork is not None:
                self.on_fork(child.id)
        except (KnobError, RunError, ValueError) as error:
            self.feedback.value = f"refused: {error}"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("**Hot knobs** (take effect at the next update)"),
            self._hot,
            self.apply_button,
            pn.pane.Markdown("**Structural knobs** (need a new run)"),
            self._structural,
            self.fork_button,
            self.feedback,
            width=320,
        )
