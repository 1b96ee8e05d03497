"""The served Panel dashboard (``workbench serve``, ``make serve``).

Pages: Live (one run: controls, chart, objective, rollout), Skills (METRA and kin),
Hilbert (HILP: distances, goals by click, reward prompts), Runs (the table and an overlay
of the selected runs), Environments (the foundation's gallery), Horizon (effective-horizon
analyses of tabular MDPs, and discount sweeps of live SB3 runs). Every browser session gets
its own widgets and refresh loop over the one shared run store, so several pages see the
same runs. Runs started here train in subprocesses: a crash or kill of a trainer never takes
the server down.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from pathlib import Path

import panel as pn
from tornado.web import RequestHandler

from environments import ENVIRONMENTS
from widgets import (
    EnvironmentGallery,
    HilbertView,
    LiveRollout,
    LiveSession,
    RunsPage,
    RunView,
    SkillsView,
)
from widgets.default_runs import (
    DEMO_KNOBS,
    HILBERT_KNOBS,
    HILBERT_NAME,
    SKILLS_KNOBS,
    SKILLS_NAME,
    start_demo_run,
)
from widgets.horizon import DiscountSweepView, HorizonView
from workbench.runs import Run, RunStore

# No CDN: a classroom or cluster node may have no internet, so every resource is inlined.
# Tabulator (the runs table) is named so its JavaScript is in the page from the start.
pn.extension("tabulator", inline=True)


class EnvironmentsHandler(RequestHandler):
    """``GET /api/environments``: the registered environments as JSON, for scripts and
    for checking a served dashboard without a browser."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps([{"id": e.id, "description": e.description} for e in ENVIRONMENTS]))


class Dashboard:
    """The page of one browser session."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.session = LiveSession(store)
        runs = store.list_runs()
        live = [r for r in runs if r.state in ("running", "paused")]
        first = (live or runs or [None])[-1]
        self.run_select = pn.widgets.Select(
            label="run", options=self._options(), css_classes=["run-select"]
        )
        if first is not None:
            self.run_select.value = first.id
        self.run_view = RunView(
            session=self.session, run_id=first.id if first else "", executor="subprocess"
        )
        self.run_select.param.watch(
            lambda e: setattr(self.run_view, "run_id", e.new or ""), "value"
        )
        self.new_button = pn.widgets.Button(
            label="New PPO run", color="success", css_classes=["new-run"]
        )
        self.new_button.on_click(lambda _: self._new_run())
        self.runs_page = RunsPage(self.session)
        self.skills_select, self.skills_view = self._page_of("metra", "skill run", SkillsView)
        self.hilbert_select, self.hilbert_view = self._page_of("hilp", "HILP run", HilbertView)
        self.horizon_view = HorizonView()  # analyses its default MDP when first opened
        self.discount_sweep = DiscountSweepView(self.session, executor="subprocess")
        self.session.register(self)

    def _page_of(self, trainer: str, label: str, view_class: type) -> tuple:
        """A run selector and the view of ``trainer``'s runs (the newest shown first)."""
        runs = [r for r in self.store.list_runs() if r.trainer == trainer]
        select = pn.widgets.Select(
            label=label, options=self._options(trainer), css_classes=[f"{trainer}-select"]
        )
        if runs:
            select.value = runs[-1].id
        view = view_class(self.session, run_id=runs[-1].id if runs else "", executor="subprocess")
        select.param.watch(lambda e: setattr(view, "run_id", e.new or ""), "value")
        return select, view

    def _start_default_run(
        self, trainer: str, name: str, knobs: dict, select: pn.widgets.Select
    ) -> None:
        """A page's default run, started the first time anyone opens the page."""
        if any(r.trainer == trainer for r in self.store.list_runs()):
            return
        run = Run.create(trainer, store=self.store, name=name, **knobs).start("subprocess")
        self.refresh()
        select.value = run.id

    def _options(self, trainer: str | None = None) -> dict[str, str]:
        runs = [
            r for r in reversed(self.store.list_runs()) if trainer is None or r.trainer == trainer
        ]
        return {f"{r.name} ({r.id})": r.id for r in runs}

    def _new_run(self) -> None:
        run = Run.create(
            "sb3",
            store=self.store,
            name="PPO in the U-maze",
            **{**DEMO_KNOBS, "total_timesteps": 200_000},
        )
        run.start("subprocess")
        self.refresh()
        self.run_select.value = run.id

    def refresh(self) -> None:
        for select, trainer in (
            (self.run_select, None),
            (self.skills_select, "metra"),
            (self.hilbert_select, "hilp"),
        ):
            options = self._options(trainer)
            if options != select.options:
                select.options = options

    def page(self) -> pn.template.BaseTemplate:
        template = pn.template.BootstrapTemplate(title="RL Workbench")
        template.sidebar.extend([self.run_select, self.new_button])
        intro = pn.pane.Markdown(
            "Press Walk: eight points take smoothed random steps through Sutton's four rooms, "
            "and their trails stream into the plot as they go.",
            width=320,
        )
        tabs = pn.Tabs(
            ("Live", self.run_view),
            (
                "Skills",
                pn.Column(self.skills_select, self.skills_view, sizing_mode="stretch_width"),
            ),
            (
                "Hilbert",
                pn.Column(self.hilbert_select, self.hilbert_view, sizing_mode="stretch_width"),
            ),
            ("Runs", self.runs_page),
            # The walkers wait for their Walk button: a hidden tab should cost nothing.
            (
                "Environments",
                pn.Column(pn.Row(LiveRollout(autostart=False), intro), EnvironmentGallery()),
            ),
            (
                "Horizon",
                pn.Column(self.horizon_view, self.discount_sweep, sizing_mode="stretch_width"),
            ),
            dynamic=True,
            sizing_mode="stretch_width",
        )
        defaults = {
            1: ("metra", SKILLS_NAME, SKILLS_KNOBS, self.skills_select),
            2: ("hilp", HILBERT_NAME, HILBERT_KNOBS, self.hilbert_select),
        }
        tabs.param.watch(
            lambda e: self._start_default_run(*defaults[e.new]) if e.new in defaults else None,
            "active",
        )
        tabs.param.watch(lambda e: self.horizon_view.start() if e.new == 5 else None, "active")
        template.main.append(tabs)
        return template


def serve(
    host: str = "127.0.0.1",
    port: int = 5006,
    show: bool = False,
    home: str | Path | None = None,
    password: str | None = None,
    demo: bool = True,
) -> None:
    """Serve the dashboard; binds to 127.0.0.1 unless told otherwise. With ``password``,
    every page asks for it (basic auth)."""
    store = RunStore(home)
    demo_run = start_demo_run(store) if demo else None
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    auth = {"basic_auth": password, "cookie_secret": secrets.token_hex(32)} if password else {}
    print(f"RL Workbench dashboard on http://{host}:{port}/ (runs in {store.home})", flush=True)

    def stop_demo() -> None:
        if demo_run is not None and demo_run.state in ("running", "paused"):
            demo_run.stop(wait=10)  # it checkpoints; resumable on the next start

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds into `finally`
    try:
        pn.serve(
            {"/": lambda: Dashboard(store).page()},
            address=host,
            port=port,
            show=show,
            title="RL Workbench",
            websocket_origin=origins,
            extra_patterns=[(r"/api/environments", EnvironmentsHandler)],
            **auth,
        )
    finally:
        stop_demo()
