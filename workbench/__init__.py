"""RL Workbench engine: planning and analyses, runs, the run store, the served app, the CLI.

Training code in this package imports no panel; only :mod:`workbench.app` does, lazily.
"""

__version__ = "0.1.0"
