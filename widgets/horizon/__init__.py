"""The Horizon page (effective-horizon analyses of tabular MDPs): the page view and its
parts, the bound chart, lookahead map, sweeps, state picture, sample complexity, and the
discount sweep of live runs."""

from widgets.horizon.bound_chart import BoundChart, bound_entries
from widgets.horizon.discount_sweep import DiscountSweepView, parse_discounts
from widgets.horizon.lookahead_map import GridLayout, LookaheadMap, grid_layout, on_grid
from widgets.horizon.page import HorizonView, figures_markdown
from widgets.horizon.sample_complexity import SampleComplexity
from widgets.horizon.state_picture import StatePicture, state_picture
from widgets.horizon.sweeps import HorizonSweep

__all__ = [
    "BoundChart",
    "DiscountSweepView",
    "GridLayout",
    "HorizonSweep",
    "HorizonView",
    "LookaheadMap",
    "SampleComplexity",
    "StatePicture",
    "bound_entries",
    "figures_markdown",
    "grid_layout",
    "on_grid",
    "parse_discounts",
    "state_picture",
]
