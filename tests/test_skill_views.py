"""Skill views without a browser: colours, latent projection, the skill picker's rollout."""

from __future__ import annotations

import numpy as np

from widgets import LiveSession
from widgets.skill_views import SkillPicker, skill_colors, to_2d
from workbench.runs import Run, RunStore


def test_skill_colours_follow_the_skill_kind():
    wheel = skill_colors(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]))
    assert len(set(wheel)) == 3
    assert skill_colors(np.eye(3)) == skill_colors(np.eye(3))  # categorical, stable
    assert len(skill_colors(np.random.default_rng(0).standard_normal((5, 6)))) == 5
    assert to_2d(np.random.default_rng(0).standard_normal((10, 4, 5))).shape == (10, 4, 2)


def test_skill_picker_rolls_out_the_chosen_skill_from_the_latest_checkpoint(tmp_path):
    store = RunStore(tmp_path)
    run = Run.create(
        "metra", store=store, env_id="workbench/PointMaze-UMaze-v0", hidden=32, min_buffer=800,
        total_steps=1_600, eval_every=0, checkpoint_every=0, device="cpu",
    )  # fmt: skip
    run.start()
    assert run.wait(timeout=120) == "finished"
    picker = SkillPicker(LiveSession(store), run_id=run.id)
    picker.angle.value = 90
    picker.roll_out()
    assert "z = [0.0, 1.0] from the checkpoint at step 1600: 200 steps" in picker.status.value
    assert picker._pane.object is not None
