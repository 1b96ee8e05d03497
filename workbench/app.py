"""The served Panel dashboard (``workbench serve``, ``make serve``)."""

from __future__ import annotations

import json

import panel as pn
from tornado.web import RequestHandler

from environments import ENVIRONMENTS
from widgets import EnvironmentGallery, LiveRollout

# No CDN: a classroom or cluster node may have no internet, so every resource is inlined.
pn.config.inline = True


def create_app() -> pn.template.BaseTemplate:
    """One dashboard page per browser session."""
    template = pn.template.BootstrapTemplate(title="RL Workbench")
    intro = pn.pane.Markdown(
        "## Live\n\nEight points take smoothed random steps through Sutton's four rooms; "
        "their trails stream into the plot as they go. Training runs will stream the same way.",
        width=320,
    )
    template.main.append(pn.Row(LiveRollout(), intro))
    template.main.append(EnvironmentGallery())
    return template


class EnvironmentsHandler(RequestHandler):
    """``GET /api/environments``: the registered environments as JSON, for scripts and
    for checking a served dashboard without a browser."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps([{"id": e.id, "description": e.description} for e in ENVIRONMENTS]))


def serve(host: str = "127.0.0.1", port: int = 5006, show: bool = False) -> None:
    """Serve the dashboard; binds to 127.0.0.1 unless told otherwise."""
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    print(f"RL Workbench dashboard on http://{host}:{port}/", flush=True)
    pn.serve(
        {"/": create_app},
        address=host,
        port=port,
        show=show,
        title="RL Workbench",
        websocket_origin=origins,
        extra_patterns=[(r"/api/environments", EnvironmentsHandler)],
    )
