"""The Sweeps page: Ray Tune sweeps and PBT populations, live, with seed statistics."""

from widgets.sweeps.lineage import LineageView
from widgets.sweeps.page import SweepsView
from widgets.sweeps.seed_statistics import SeedStatisticsView
from widgets.sweeps.trials import ParallelCoordinates, TrialsTable

__all__ = ["LineageView", "ParallelCoordinates", "SeedStatisticsView", "SweepsView", "TrialsTable"]
