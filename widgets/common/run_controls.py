"""Start, pause, resume, stop and checkpoint one run, with its state and step."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.run_progress import RunProgress
from workbench.runs import Run, RunError


class RunControls(pn.viewable.Viewer):
    """Buttons that steer a run, and its live state, step and message."""

    run_id = param.String(default="", doc="Run shown.")
    executor = param.Selector(
        default="thread", objects=["thread", "subprocess"], doc="Where starts run."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.start_button = pn.widgets.Button(
            label="Start", color="success", css_classes=["run-start"]
        )
        self.pause_button = pn.widgets.Button(
            label="Pause", color="warning", css_classes=["run-pause"]
        )
        self.resume_button = pn.widgets.Button(
            label="Resume", color="primary", css_classes=["run-resume"]
        )
        self.stop_button = pn.widgets.Button(label="Stop", color="danger", css_classes=["run-stop"])
        self.checkpoint_button = pn.widgets.Button(
            label="Checkpoint", css_classes=["run-checkpoint"]
        )
        self.state_text = pn.widgets.StaticText(label="state", value="", css_classes=["run-state"])
        self.step_text = pn.widgets.StaticText(label="step", value="0", css_classes=["run-step"])
        self.message_text = pn.widgets.StaticText(
            label="message", value="", css_classes=["run-message"]
        )
        self.progress = RunProgress(session.store, run_id=self.run_id)
        for button, action in (
            (self.start_button, self._start),
            (self.pause_button, lambda: self._run().pause()),
            (self.resume_button, lambda: self._run().resume(self.executor)),
            (self.stop_button, lambda: self._run().stop(wait=None)),
            (self.checkpoint_button, lambda: self._run().checkpoint()),
        ):
            button.on_click(lambda _, action=action: self._act(action))
        session.register(self)
        self.refresh()

    def _run(self) -> Run:
        return Run(self.session.store, self.run_id)

    def _start(self) -> None:
        self._run().start(self.executor)

    def _act(self, action) -> None:
        try:
            action()
            self.message_text.value = ""
        except (RunError, ValueError) as error:
            self.message_text.value = str(error)
        self.refresh()

    @param.depends("run_id", watch=True)
    def refresh(self) -> None:
        if not self.run_id:
            return
        record = self.session.store.get_run(self.run_id)
        self.progress.run_id = self.run_id
        self.progress.show(record)
        self.state_text.value = record.state
        self.step_text.value = str(record.step)
        if record.message and record.state in ("paused", "failed", "stopped"):
            self.message_text.value = record.message
        self.message_text.visible = bool(self.message_text.value)
        active = record.state in ("running", "paused")
        self.start_button.disabled = active or record.state == "finished"
        self.pause_button.disabled = record.state != "running"
        self.resume_button.disabled = record.state not in ("paused", "stopped", "failed")
        self.stop_button.disabled = not active
        self.checkpoint_button.disabled = not active

    def __panel__(self) -> pn.viewable.Viewable:
        buttons = pn.Row(
            self.start_button,
            self.pause_button,
            self.resume_button,
            self.stop_button,
            self.checkpoint_button,
        )
        return pn.Column(
            buttons,
            pn.Row(self.state_text, self.step_text),
            self.progress,
            self.message_text,
            sizing_mode="stretch_width",
        )
