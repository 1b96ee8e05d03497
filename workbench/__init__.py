"""RL Workbench engine: agents, trainers, analyses, runs, the run store, the CLI.

This package imports no panel and no ``widgets``: the served dashboard (``widgets.dashboard``)
sits above it; ``workbench serve`` finds it through its entry point, only when it serves.
"""

__version__ = "0.1.0"
