"""Drawing over a run's environment: the maze picture under trajectories, sized to it."""

from __future__ import annotations

import gymnasium as gym
import holoviews as hv
from bokeh.plotting import figure as BokehFigure

from environments.maze import MazeLayout
from environments.rendering import draw_cells
from widgets.common.plotting import rgba_image
from workbench.runs import RunStore


def maze_of_run(store: RunStore, run_id: str) -> MazeLayout | None:
    """The maze of a run's ``env_id`` knob; ``None`` for the plane or a non-maze env."""
    env_id = store.get_run(run_id).config.get("env_id", "")
    if env_id not in gym.registry:
        return None
    return getattr(getattr(gym.make(env_id).unwrapped, "task", None), "maze", None)


def over_maze(
    layers: hv.Overlay | hv.Element | hv.DynamicMap, maze: MazeLayout | None, size: int
) -> hv.Overlay | hv.DynamicMap:
    """``layers`` on top of the maze picture (if any), ``size`` pixels wide, no axes."""
    height = size
    if maze is not None:
        picture = hv.RGB(draw_cells(maze.free, 16), bounds=(0, 0, maze.width, maze.height))
        layers = picture * layers
        height = round(size * maze.height / maze.width)
    overlay = layers if isinstance(layers, hv.Overlay | hv.DynamicMap) else hv.Overlay([layers])
    return overlay.opts(
        hv.opts.Overlay(frame_width=size, frame_height=height, xaxis=None, yaxis=None, toolbar=None)
    )


def maze_figure(maze: MazeLayout | None, size: int) -> BokehFigure:
    """A plain Bokeh figure ``size`` pixels wide with the maze picture (if any) filling it,
    no axes, no toolbar; without a maze (the plane) its ranges follow what is drawn."""
    if maze is None:
        figure = BokehFigure(frame_width=size, frame_height=size, toolbar_location=None)
    else:
        figure = BokehFigure(
            frame_width=size,
            frame_height=round(size * maze.height / maze.width),
            x_range=(0, maze.width),
            y_range=(0, maze.height),
            toolbar_location=None,
        )
        picture = rgba_image(draw_cells(maze.free, 16))
        figure.image_rgba(image=[picture], x=0, y=0, dw=maze.width, dh=maze.height)
    figure.axis.visible = False
    figure.grid.visible = False
    return figure
