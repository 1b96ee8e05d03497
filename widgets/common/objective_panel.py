"""The objective panel, generated from a run's Config: hot knobs change the running run,
structural ones offer a fork."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.threads import on_next_tick
from workbench.runs import Config, KnobError, Run, RunError
from workbench.runs.config import describe, parse_knob
from workbench.runs.trainer import TrainerError


def _listed(changes: dict[str, Any]) -> str:
    """``a=1, b=x`` for a dict of knob changes."""
    return ", ".join(f"{knob}={value}" for knob, value in changes.items())


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
        # Each button's answer right below it, where the eye is after the click.
        self.apply_feedback = pn.widgets.StaticText(value="", css_classes=["objective-feedback"])
        self.fork_feedback = pn.widgets.StaticText(value="", css_classes=["objective-feedback"])
        self.apply_button.on_click(lambda _: self._apply())
        self.fork_button.on_click(lambda _: self._fork())
        self._hot = pn.Column()
        self._structural = pn.Column()
        self._build()

    def _config_class(self) -> type[Config]:
        return Run(self.session.store, self.run_id).trainer_class.Config

    def _run_values(self, config_class: type[Config]) -> dict[str, Any]:
        """The run's knobs, with the default of any it does not store (a run written by
        an older version, or by hand, must not break the page)."""
        stored = self.session.store.get_run(self.run_id).config
        return {
            knob: stored.get(knob, config_class.param[knob].default)
            for knob in config_class.knob_names()
        }

    @param.depends("run_id", watch=True)
    def _build(self) -> None:
        self.inputs = {}
        if not self.run_id:
            return
        try:
            config_class = self._config_class()
        except TrainerError as error:  # a notebook's own trainer, say: shown, not steered
            self._hot.objects = [
                pn.pane.Markdown(
                    f"The knobs of this run cannot be changed here: {error}",
                    css_classes=["objective-unavailable"],
                )
            ]
            self._structural.objects = []
            self.apply_button.disabled = self.fork_button.disabled = True
            return
        self.apply_button.disabled = self.fork_button.disabled = False
        values = self._run_values(config_class)
        shown: dict[str, pn.viewable.Viewable] = {}  # each knob's input, with its help
        for knob in config_class.knob_names():
            parameter = config_class.param[knob]
            label = f"{knob}{'' if config_class.is_hot(knob) else ' (fork)'}"
            if isinstance(parameter, param.Selector):
                widget = pn.widgets.Select(
                    label=label, options=list(parameter.objects), value=values[knob]
                )
            elif isinstance(parameter, param.Boolean):  # a box, not the text "False"
                widget = pn.widgets.Checkbox(label=label, value=bool(values[knob]))
            else:
                widget = pn.widgets.TextInput(label=label, value=str(values[knob]))
            help_text = f"{parameter.doc} {describe(config_class, knob)}."
            widget.css_classes = [f"knob-{knob}"]
            self.inputs[knob] = shown[knob] = widget
            if isinstance(widget, pn.widgets.Checkbox):
                # Panel draws a description's "?" only beside a labelled input's title.
                shown[knob] = pn.Row(widget, pn.widgets.TooltipIcon(value=help_text))
            else:
                widget.description = help_text
        self._hot.objects = [shown[k] for k in config_class.hot_knobs()]
        self._structural.objects = [shown[k] for k in config_class.structural_knobs()]

    def _changes(self, knobs: list[str]) -> dict[str, Any]:
        """The knobs whose inputs differ from the run's values, parsed and checked. A
        refused value goes back to the run's in its input, so that the box never shows
        a value the run is not using and the next click does not fail on it again."""
        config_class = self._config_class()
        current = self._run_values(config_class)
        changes = {}
        for knob in knobs:
            try:
                value = parse_knob(config_class, knob, str(self.inputs[knob].value))
                config_class.check({knob: value})
            except KnobError as error:
                widget = self.inputs[knob]
                is_box = isinstance(widget, pn.widgets.Checkbox)
                widget.value = bool(current[knob]) if is_box else str(current[knob])
                raise KnobError(f"{error}; kept {knob}={current[knob]}") from None
            if value != current[knob]:
                changes[knob] = value
        return changes

    def _apply(self) -> None:
        try:
            changes = self._changes(self._config_class().hot_knobs())
            if not changes:
                self.apply_feedback.value = "no hot knob changed"
                return
            Run(self.session.store, self.run_id).update(**changes)
            self.apply_feedback.value = f"applied at the next update: {_listed(changes)}"
        except KnobError as error:  # its message names the knob and says "refused"
            self.apply_feedback.value = str(error)
        except RunError as error:
            self.apply_feedback.value = f"Refused: {error}"

    def _fork(self) -> None:
        try:
            changes = self._changes(self._config_class().knob_names())
            parent = Run(self.session.store, self.run_id)
            # Named after its parent and its change, so legends and pickers tell them apart.
            name = f"{parent.record.name} · {_listed(changes) or 'copy'}"
            child = parent.fork(name=name, **changes)
            child.start(self.executor)
            self.fork_feedback.value = f"forked run {name!r} ({child.id})"
            if self.on_fork is not None:
                # The page adds the child to its charts: their Bokeh sources change in the
                # document's next tick, under its lock, not from this click's event.
                on_fork = self.on_fork
                on_next_tick(lambda: on_fork(child.id))
        except KnobError as error:
            self.fork_feedback.value = str(error)
        except (RunError, ValueError) as error:
            self.fork_feedback.value = f"Refused: {error}"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("**Hot knobs** (take effect at the next update)"),
            self._hot,
            self.apply_button,
            self.apply_feedback,
            pn.pane.Markdown("**Structural knobs** (need a new run)"),
            self._structural,
            self.fork_button,
            self.fork_feedback,
            width=320,
        )
