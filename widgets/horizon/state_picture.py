"""The picture of one state of the analysed MDP: grid worlds draw it, MiniGrid states are
replayed in the real environment."""

from __future__ import annotations

import io

import numpy as np
import panel as pn

from widgets.horizon.sources import GRIDWORLD_PREFIX
from workbench.horizon import HorizonMDP


def state_picture(source: str, mdp: HorizonMDP, state: int) -> np.ndarray:
    """An RGB picture of one state: a grid world draws it, a MiniGrid state is replayed
    in the real environment and rendered."""
    if not 0 <= state < mdp.num_states:
        raise ValueError(f"{mdp.name} has states 0..{mdp.num_states - 1}, not {state}")
    if source.startswith(GRIDWORLD_PREFIX):
        import gymnasium as gym

        return gym.make(source).unwrapped.mdp.render_state(state)
    if source.startswith("MiniGrid-"):
        from workbench.horizon.minigrid import state_picture as minigrid_picture

        return minigrid_picture(source, state, mdp.horizon)
    raise ValueError(f"no picture of {mdp.name}'s states (only grid worlds and MiniGrid)")


def _blank_png() -> bytes:

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), "white").save(buffer, format="PNG")
    return buffer.getvalue()


class StatePicture(pn.viewable.Viewer):
    """The picture of a chosen state (by index; the page proposes the state where the
    bound is attained)."""

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.state = pn.widgets.IntInput(label="picture of state", value=0, start=0,
                                         css_classes=["horizon-state"])  # fmt: skip
        # Never None: a pane going from no image to an image builds a new Bokeh model, and
        # the browser's events for the old one then fail. Hidden instead.
        self.image = pn.pane.PNG(_blank_png(), width=220, visible=False,
                                 css_classes=["horizon-picture"])  # fmt: skip
        self.message = pn.pane.Markdown("", css_classes=["horizon-picture-message"])
        self._target: tuple[str, HorizonMDP] | None = None
        self.state.param.watch(lambda _: self._draw(), "value")

    def target(self, source: str, mdp: HorizonMDP, state: int = 0) -> None:
        self._target = (source, mdp)
        self.state.end = mdp.num_states - 1
        if self.state.value == state:
            self._draw()
        else:
            self.state.value = state

    def _draw(self) -> None:
        if self._target is None:
            return
        source, mdp = self._target
        try:
            picture = state_picture(source, mdp, int(self.state.value))
        except ValueError as error:
            self.image.visible, self.message.object = False, str(error)
            return

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        self.image.param.update(object=buffer.getvalue(), visible=True)
        where = (
            "" if mdp.positions is None else f" at cell {tuple(mdp.positions[self.state.value])}"
        )
        self.message.object = f"state {self.state.value}{where}"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.state, self.image, self.message)
