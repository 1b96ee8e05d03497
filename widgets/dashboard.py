"""The served Panel dashboard (``workbench serve``, ``make serve``).

Pages: Live (one run: controls, chart, objective, rollout), Skills (METRA and kin),
Hilbert (HILP: distances, goals by click, reward prompts), Curricula (a teacher choosing
a student's tasks: the task space, learning progress, the test tasks mastered), Landscapes
(a reward run: the reward and values over the maze, the reward editor with its EPIC
distance, the reward surface around the policy), Runs (the table and an overlay
of the selected runs), Sweeps (Ray Tune sweeps and PBT populations: trials live, knobs
against the score, seed statistics, lineage), Environments (the foundation's gallery), Horizon (effective-horizon
analyses of tabular MDPs, and discount sweeps of live SB3 runs). Every browser session gets
its own widgets (each page's built the first time the session shows it) and refresh loop
over the one shared run store, so several pages see the same runs. Runs started here train in subprocesses: a crash or kill of a trainer never takes
the server down.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

import panel as pn
import param
from bokeh.server.views.auth_request_handler import AuthRequestHandler

from environments import ENVIRONMENTS
from widgets import (
    CurriculaView,
    EnvironmentGallery,
    HilbertView,
    LandscapesView,
    LiveRollout,
    LiveSession,
    RunsPage,
    RunView,
    SkillsView,
)
from widgets.common.patch_order import keep_patches_in_order
from widgets.common.tabulator_guard import TabulatorPatchGuard
from widgets.default_runs import (
    CURRICULUM_KNOBS,
    CURRICULUM_NAME,
    DEMO_KNOBS,
    DEMO_NAME,
    HILBERT_KNOBS,
    HILBERT_NAME,
    LANDSCAPE_KNOBS,
    LANDSCAPE_NAME,
    SKILLS_KNOBS,
    SKILLS_NAME,
    start_demo_run,
)
from widgets.horizon import DiscountSweepView, HorizonView
from widgets.login import PasswordAuthProvider
from widgets.sweeps import SweepsView
from workbench.runs import Run, RunStore
from workbench.runs.store import atomic_write

# No CDN: a classroom or cluster node may have no internet, so the server serves every
# resource from its own static routes (Panel's "server" mode). Not inline=True: Panel then
# switches a process-wide mode to "inline" while it bundles a page and leaves it there, so
# views drawn later (a tab opened after others) link their stylesheets (loading.css,
# katex.css) to cdn.holoviz.org. Tabulator (the runs table) and MathJax (the objectives)
# are named so their JavaScript is in the page from the start.
pn.extension("tabulator", "mathjax")


def keep_stylesheets_on_the_server() -> None:
    """Served pages take Panel's stylesheets from this server only, also for models kept
    out of their document. Panel (1.9) keeps the models of a hidden tab, detached, to show
    them again, and still updates them; a model without a document has Panel rewrite the
    stylesheets it shares with the rest of the page (loading.css, katex.css) to
    cdn.holoviz.org, and the browser then fetches them from there. Here that fallback is
    the server's own static route instead. Idempotent; for the serving process only."""
    import panel.io.resources as resources
    import panel.reactive as reactive

    original = resources.patch_stylesheet
    if getattr(original, "keeps_local", False):
        return

    def patch_stylesheet(stylesheet, dist_url: str) -> None:
        if dist_url == resources.CDN_DIST:
            dist_url = resources.LOCAL_DIST
        original(stylesheet, dist_url)

    patch_stylesheet.keeps_local = True
    # reactive imported the function by name; panel.theme imports it at each call.
    resources.patch_stylesheet = reactive.patch_stylesheet = patch_stylesheet


class AuthenticatedHandler(AuthRequestHandler):
    """Base of every route the dashboard adds to Panel's: with a password set, a request
    without the login cookie gets 401 and nothing else. (Panel guards its own pages; the
    routes added beside them are plain Tornado handlers, which it does not.)"""

    def prepare(self) -> Awaitable[None] | None:
        if not self.current_user:
            self.set_status(401)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": "log in first (the dashboard has a password)"}))
            return None
        return super().prepare()


class EnvironmentsHandler(AuthenticatedHandler):
    """``GET /api/environments``: the registered environments as JSON, for scripts and
    for checking a served dashboard without a browser."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps([{"id": e.id, "description": e.description} for e in ENVIRONMENTS]))


# Every route beside Panel's pages; each handler must be an AuthenticatedHandler (a test
# checks it), so that a route added later cannot open a way around the password.
EXTRA_ROUTES = [(r"/api/environments", EnvironmentsHandler)]


RUN_PICKER_WIDTH = 460  # wide enough for a run's name, state and start time


def _started(created_at: float) -> str:
    return time.strftime("%b %d %H:%M", time.localtime(created_at))


def _picker_options(labels: list[str], ids: list[str]) -> dict[str, str]:
    """A picker's {label: id}, a label followed by its id only where two are alike."""
    counts = Counter(labels)
    return {
        label if counts[label] == 1 else f"{label} ({id_})": id_
        for label, id_ in zip(labels, ids, strict=True)
    }


PAGES = (
    "live", "skills", "hilbert", "curricula", "landscapes", "runs", "sweeps", "environments",
    "horizon",
)  # fmt: skip


# The pages that show one run of a trainer: (trainer, picker label, view class, URL key).
RUN_PAGES: dict[str, tuple[str, str, type, str]] = {
    "skills": ("metra", "skill run", SkillsView, "skills_run"),
    "hilbert": ("hilp", "HILP run", HilbertView, "hilbert_run"),
    "curricula": ("curriculum", "curriculum run", CurriculaView, "curricula_run"),
    "landscapes": ("reward", "reward run", LandscapesView, "landscapes_run"),
}


# The run each of those pages starts the first time anyone opens it: (name, knobs).
DEFAULT_RUNS: dict[str, tuple[str, dict]] = {
    "skills": (SKILLS_NAME, SKILLS_KNOBS),
    "hilbert": (HILBERT_NAME, HILBERT_KNOBS),
    "curricula": (CURRICULUM_NAME, CURRICULUM_KNOBS),
    "landscapes": (LANDSCAPE_NAME, LANDSCAPE_KNOBS),
}


class ViewState(param.Parameterized):
    """What a page's URL keeps (``?page=skills&skills_run=...``): a reload or a shared link
    returns to the same tab and runs."""

    page = param.Selector(default="live", objects=list(PAGES), doc="Tab shown.")
    run = param.String(default="", doc="Run on the Live page.")
    skills_run = param.String(default="", doc="Run on the Skills page.")
    hilbert_run = param.String(default="", doc="Run on the Hilbert page.")
    curricula_run = param.String(default="", doc="Run on the Curricula page.")
    landscapes_run = param.String(default="", doc="Run on the Landscapes page.")
    sweep = param.String(default="", doc="Sweep on the Sweeps page.")


class LastRun:
    """The run last chosen on the Live page, remembered in the store's home so that a fresh
    page (a new tab, a restart of the server) opens it rather than whatever ran last."""

    def __init__(self, store: RunStore) -> None:
        self.path = Path(store.home) / "dashboard.json"

    def get(self) -> str:
        try:
            return str(json.loads(self.path.read_text()).get("live_run", ""))
        except (OSError, ValueError, AttributeError):
            return ""  # never chosen, or the file was damaged: fall back to the demo

    def set(self, run_id: str) -> None:
        if run_id and run_id != self.get():
            atomic_write(self.path, json.dumps({"live_run": run_id}).encode())


class Dashboard:
    """The page of one browser session."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        # One refresh loop per page, and only the shown page's runs: a hidden tab's views
        # read nothing and send nothing (a classroom's sessions cost the trainer less).
        self.sessions = {page: LiveSession(store) for page in PAGES}
        self.session = LiveSession(store)  # the run pickers, on every page
        self.state = ViewState()
        self.last_run = LastRun(store)
        if pn.state.location is not None:  # a served page (not a test's bare Dashboard)
            pn.state.location.sync(self.state)
            # sync() writes changes only: write the opening state too, once the page is up.
            pn.state.onload(self._write_url)
        first = self._first_live_run()
        self.run_select = pn.widgets.Select(
            label="run",
            options=self._options(),
            value=first or None,
            width=RUN_PICKER_WIDTH,
            css_classes=["run-select"],
        )
        self.state.run = first
        self.run_select.param.watch(self._live_run_chosen, "value")
        self.new_button = pn.widgets.Button(
            label="New PPO run", color="success", css_classes=["new-run"], align="end"
        )
        self.new_button.on_click(lambda _: self._new_run())
        self.run_pickers = {page: self._run_picker(page) for page in RUN_PAGES}
        sweeps = [sweep.id for sweep in self.store.list_sweeps()]
        first_sweep = self.state.sweep if self.state.sweep in sweeps else (sweeps or [""])[-1]
        self.state.sweep = first_sweep
        self.sweep_select = pn.widgets.Select(
            label="sweep", options=self._sweep_options(), value=first_sweep or None,
            width=RUN_PICKER_WIDTH, css_classes=["sweep-select"],
        )  # fmt: skip
        self.sweep_select.param.watch(self._sweep_chosen, "value")
        # A page's views are built the first time it is shown (`_build`): a session pays
        # only for the pages it opens, and a classroom's page loads got slower with every
        # page added when each session built them all.
        self.contents = {page: pn.Column(sizing_mode="stretch_width") for page in PAGES}
        self.run_view: RunView | None = None
        self.run_views: dict[str, pn.viewable.Viewer] = {}  # Skills ... Landscapes pages
        self.runs_page: RunsPage | None = None
        self.sweeps_view: SweepsView | None = None
        self.horizon_view: HorizonView | None = None
        self.discount_sweep: DiscountSweepView | None = None
        self.session.register(self)

    def _write_url(self) -> None:
        values = self.state.param.values()
        pn.state.location.update_query(**{k: v for k, v in values.items() if k != "name" and v})

    def _first_live_run(self) -> str:
        """The URL's run, else the run last chosen here, else the demo, else the newest."""
        runs = {r.id: r for r in self.store.list_runs()}
        for candidate in (self.state.run, self.last_run.get()):
            if candidate in runs:
                return candidate
        demos = [r for r in runs.values() if r.name == DEMO_NAME]
        newest = (demos or list(runs.values()) or [None])[-1]
        return newest.id if newest is not None else ""

    def _sweep_chosen(self, event: param.parameterized.Event) -> None:
        self.state.sweep = event.new or ""
        if self.sweeps_view is not None:
            self.sweeps_view.sweep_id = event.new or ""

    def _sweep_options(self) -> dict[str, str]:
        """Newest first, each as "name · state · started Dec 03 04:20" (the id only where
        that still leaves two sweeps alike)."""
        sweeps = list(reversed(self.store.list_sweeps()))
        return _picker_options(
            [f"{s.name} · {s.state} · started {_started(s.created_at)}" for s in sweeps],
            [s.id for s in sweeps],
        )

    def _live_run_chosen(self, event: param.parameterized.Event) -> None:
        self.state.run = event.new or ""
        if self.run_view is not None:
            self.run_view.run_id = event.new or ""
        self.last_run.set(event.new or "")

    def _run_picker(self, page: str) -> pn.widgets.Select:
        """The run picker of one of ``RUN_PAGES``: the URL's run, else the newest."""
        trainer, label, _, url_key = RUN_PAGES[page]
        runs = [r.id for r in self.store.list_runs() if r.trainer == trainer]
        wanted = getattr(self.state, url_key)
        first = wanted if wanted in runs else (runs or [""])[-1]
        setattr(self.state, url_key, first)
        select = pn.widgets.Select(
            label=label,
            options=self._options(trainer),
            value=first or None,
            width=RUN_PICKER_WIDTH,
            css_classes=[f"{trainer}-select"],
        )

        def chosen(event: param.parameterized.Event) -> None:
            setattr(self.state, url_key, event.new or "")
            if page in self.run_views:
                self.run_views[page].run_id = event.new or ""

        select.param.watch(chosen, "value")
        return select

    def _build(self, page: str) -> None:
        """Build ``page``'s views into its tab, the first time it is shown."""
        content = self.contents[page]
        if content.objects:
            return
        session = self.sessions[page]
        if page == "live":
            self.run_view = RunView(session=session, run_id=self.state.run, executor="subprocess")
            objects = [self._page_bar(self.run_select, self.new_button), self.run_view]
        elif page in RUN_PAGES:
            _, _, view_class, url_key = RUN_PAGES[page]
            view = view_class(session, run_id=getattr(self.state, url_key), executor="subprocess")
            self.run_views[page] = view
            objects = [self._page_bar(self.run_pickers[page]), view]
        elif page == "runs":
            self.runs_page = RunsPage(session)
            objects = [self.runs_page]
        elif page == "sweeps":
            self.sweeps_view = SweepsView(session, sweep_id=self.state.sweep)
            objects = [self._page_bar(self.sweep_select), self.sweeps_view]
        elif page == "environments":
            intro = pn.pane.Markdown(
                "Press Walk: eight points take smoothed random steps through Sutton's four "
                "rooms, and their trails stream into the plot as they go.",
                width=320,
            )
            # The walkers wait for their Walk button: a hidden tab should cost nothing.
            objects = [pn.Row(LiveRollout(autostart=False), intro), EnvironmentGallery()]
        else:
            self.horizon_view = HorizonView()  # analyses its default MDP when first shown
            self.discount_sweep = DiscountSweepView(session, executor="subprocess")
            objects = [self.horizon_view, self.discount_sweep]
        content.objects = objects

    def _start_default_run(
        self, trainer: str, name: str, knobs: dict, select: pn.widgets.Select
    ) -> None:
        """A page's default run, started the first time anyone opens the page."""
        if any(r.trainer == trainer for r in self.store.list_runs()):
            return
        run = Run.create(trainer, store=self.store, name=name, **knobs).start("subprocess")
        self.refresh()
        select.value = run.id

    def _options(self, trainer: str | None = None, runs: list | None = None) -> dict[str, str]:
        """Newest first, each as "name · state · started Dec 03 04:20" (the id only where
        that still leaves two runs alike)."""
        runs = [
            r
            for r in reversed(self.store.list_runs() if runs is None else runs)
            if trainer is None or r.trainer == trainer
        ]
        return _picker_options(
            [f"{r.name} · {r.state} · started {_started(r.created_at)}" for r in runs],
            [r.id for r in runs],
        )

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
        runs = self.store.list_runs()  # read once for all the pickers
        pickers = [(self.run_select, None)]
        pickers += [(self.run_pickers[page], RUN_PAGES[page][0]) for page in RUN_PAGES]
        for select, trainer in pickers:
            options = self._options(trainer, runs)
            if options != select.options:
                select.options = options
        sweeps = self._sweep_options()
        if sweeps != self.sweep_select.options:
            self.sweep_select.options = sweeps
            if self.sweep_select.value is None and sweeps:  # the first sweep appears
                self.sweep_select.value = next(iter(sweeps.values()))

    def _page_bar(self, *widgets: pn.viewable.Viewable) -> pn.Row:
        """The run picker of one page, at its top: it belongs to that page only."""
        return pn.Row(*widgets, css_classes=["page-bar"], styles={"flex-wrap": "wrap"})

    def page(self) -> pn.template.BaseTemplate:
        template = pn.template.BootstrapTemplate(title="RL Workbench", collapsed_sidebar=True)
        self._build(self.state.page)  # the page opened: in the first response, no round trip
        tabs = pn.Tabs(
            *((page.capitalize(), self.contents[page]) for page in PAGES),
            active=PAGES.index(self.state.page),
            dynamic=True,
            sizing_mode="stretch_width",
        )
        tabs.param.watch(lambda e: self._page_shown(PAGES[e.new]), "active")
        self.state.param.watch(lambda e: setattr(tabs, "active", PAGES.index(e.new)), "page")
        # Once the page is up: work started while the page is still being built (the
        # Horizon page's first analysis, say) would update views that have no document yet.
        pn.state.onload(lambda: self._page_shown(self.state.page))
        template.main.append(tabs)
        # Loaded with the page, before any table of a dynamic tab is patched.
        template.header.append(TabulatorPatchGuard())
        return template

    def _page_shown(self, page: str) -> None:
        """Refresh the shown page's views only; start what a page needs the first time it
        is shown (in this session or any)."""
        self.state.page = page
        self._build(page)
        for name, session in self.sessions.items():
            if name != page:
                session.hide()
        self.sessions[page].show()
        if page in DEFAULT_RUNS:
            name, knobs = DEFAULT_RUNS[page]
            self._start_default_run(RUN_PAGES[page][0], name, knobs, self.run_pickers[page])
        elif page == "horizon" and self.horizon_view is not None:
            self.horizon_view.start()


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
    keep_stylesheets_on_the_server()
    keep_patches_in_order()  # Panel's queued messages before Bokeh's later ones
    demo_run = start_demo_run(store) if demo else None
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    # Panel's basic auth, with a login page that needs no CDN and slows down guessing.
    auth = (
        {"auth_provider": PasswordAuthProvider(password), "cookie_secret": secrets.token_hex(32)}
        if password
        else {}
    )
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
            extra_patterns=EXTRA_ROUTES,
            **auth,
        )
    finally:
        stop_demo()
