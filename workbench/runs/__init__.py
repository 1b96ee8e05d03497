"""Live runs: configs, the run store, trainers and the Run handle (see DESIGN.md)."""

from workbench.runs.config import HOT, Config, KnobError
from workbench.runs.run import EXECUTORS, Run, RunError
from workbench.runs.store import CheckpointError, RunRecord, RunStore, StoreError, default_home
from workbench.runs.trainer import TRAINERS, RunContext, StopTraining, Trainer

__all__ = [
    "EXECUTORS",
    "HOT",
    "TRAINERS",
    "CheckpointError",
    "Config",
    "KnobError",
    "Run",
    "RunContext",
    "RunError",
    "RunRecord",
    "RunStore",
    "StopTraining",
    "StoreError",
    "Trainer",
    "default_home",
]
