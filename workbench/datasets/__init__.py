"""Offline datasets (Minari format) for offline RL and representation learning."""

from workbench.datasets.behaviours import BEHAVIOURS
from workbench.datasets.offline import (
    DatasetError,
    OfflineData,
    build_dataset,
    collect,
    dataset_id,
    datasets_root,
    list_datasets,
    load_dataset,
)

__all__ = [
    "BEHAVIOURS",
    "DatasetError",
    "OfflineData",
    "build_dataset",
    "collect",
    "dataset_id",
    "datasets_root",
    "list_datasets",
    "load_dataset",
]
