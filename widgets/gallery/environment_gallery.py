"""The environment gallery: every registered environment with a picture of it."""

from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import panel as pn
import param
from PIL import Image

from environments import ENVIRONMENTS, EnvironmentInfo


def preview_frame(info: EnvironmentInfo, seed: int = 0) -> np.ndarray:
    """RGB picture of an environment right after reset; point mazes are shown in goal
    mode so that the goal is drawn."""
    kwargs = {"reward_mode": "goal"} if "PointMaze" in info.id else {}
    env = gym.make(info.id, render_mode="rgb_array", **kwargs)
    try:
        env.reset(seed=seed)
        return env.render()
    finally:
        env.close()


def png_bytes(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


class EnvironmentCard(pn.viewable.Viewer):
    """One environment: its id, its one-line description and its picture."""

    env_id = param.Selector(objects=[info.id for info in ENVIRONMENTS], doc="Registered id.")
    image_width = param.Integer(default=220, bounds=(64, 1024), doc="Picture width in pixels.")

    def __panel__(self) -> pn.viewable.Viewable:
        info = next(i for i in ENVIRONMENTS if i.id == self.env_id)
        return pn.Column(
            pn.pane.Markdown(f"**`{info.id}`**", margin=(0, 5)),
            pn.pane.PNG(png_bytes(preview_frame(info)), width=self.image_width),
            pn.pane.Markdown(info.description, width=self.image_width, margin=(0, 5)),
            styles={"border": "1px solid #ddd", "border-radius": "6px"},
            css_classes=["environment-card"],
            margin=8,
        )


class EnvironmentGallery(pn.viewable.Viewer):
    """All registered environments as a grid of cards, with a table of ids first."""

    image_width = param.Integer(default=220, bounds=(64, 1024), doc="Card picture width.")

    def __panel__(self) -> pn.viewable.Viewable:
        # A "|" inside a description would end its Markdown table cell.
        rows = "\n".join(
            "| `{}` | {} |".format(info.id, info.description.replace("|", "\\|"))
            for info in ENVIRONMENTS
        )
        table = pn.pane.Markdown(
            "| id | description |\n|---|---|\n" + rows, css_classes=["environment-table"]
        )
        cards = [
            EnvironmentCard(env_id=info.id, image_width=self.image_width) for info in ENVIRONMENTS
        ]
        return pn.Column(
            pn.pane.Markdown("## Environments"),
            table,
            pn.FlexBox(*cards),
            sizing_mode="stretch_width",
        )
