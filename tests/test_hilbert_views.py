"""Hilbert views without a browser: the click and prompt answers, and the page assembles."""

from __future__ import annotations

import numpy as np
import pytest

from widgets import GoalDistance, HilbertView, LiveSession, RewardPrompt
from workbench.runs import Run, RunStore


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("hilbert-views"))
    run = Run.create(
        "hilp", store=store, env_id="workbench/PointMaze-UMaze-v0", episodes=4, hidden=16,
        layers=1, latent_dim=4, total_steps=40, eval_every=20, checkpoint_every=40, device="cpu",
    )  # fmt: skip
    run.start()
    assert run.wait(timeout=120) == "finished", run.record.message
    return store, run


def test_clicking_a_point_compares_learned_and_true_distance_and_rolls_out_to_it(tiny_run):
    store, run = tiny_run
    view = GoalDistance(LiveSession(store), run_id=run.id)
    view._holder.get_root()  # the figures exist before any click
    rho = view.show(np.array([1.5, 3.5]))
    assert -1.0 <= rho <= 1.0
    learned, true, path, goal = view._fields.data
    assert learned.shape == true.shape == (20, 20)  # the 5 x 5 U-maze, 4 x 4 per cell
    assert np.array_equal(np.isnan(learned), np.isnan(true))  # the same free sub-cells
    assert path.shape == (201, 2) and np.array_equal(goal, [1.5, 3.5])
    assert f"Spearman rho {rho:.3f}" in view.status.value
    view._tapped(x=0.5, y=0.5)  # a wall
    assert "is in a wall" in view.status.value


def test_prompting_a_reward_draws_the_rollout_and_bad_region_text_is_refused(tiny_run):
    store, run = tiny_run
    prompt = RewardPrompt(LiveSession(store), run_id=run.id)
    path = prompt.prompt(samples=500)
    assert path.shape == (201, 2)
    assert np.array_equal(prompt._path.data, path)
    assert "go right: z fitted on 500 transitions" in prompt.status.value
    prompt.reward.value, prompt.region.value = "reach region", "left"
    with pytest.raises(ValueError, match="region centre must be two numbers"):
        prompt.prompt(samples=500)


def test_the_hilbert_page_renders_for_a_run(tiny_run):
    store, run = tiny_run
    page = HilbertView(LiveSession(store), run_id=run.id)
    assert page.__panel__().get_root() is not None
    page.map.refresh()
    assert page.map.caption.value == "step 40"


def test_a_non_finite_phi_is_named_and_the_last_good_map_stays(tmp_path):
    from widgets import HilbertMap

    store = RunStore(tmp_path)
    record = store.create_run("views", "hilp", {"env_id": "workbench/PointMaze-UMaze-v0"})
    rng = np.random.default_rng(0)
    snapshot = {"grid": rng.uniform(0, 5, (30, 2)), "phi_grid": rng.normal(size=(30, 32))}
    store.add_snapshot(record.id, 10, "hilbert", snapshot)
    view = HilbertMap(LiveSession(store), run_id=record.id, min_interval=0)
    view.refresh()
    assert view.caption.value == "step 10"
    drawn = view._pipe.data
    store.add_snapshot(
        record.id, 20, "hilbert", {**snapshot, "phi_grid": np.full((30, 32), np.nan)}
    )
    view.refresh()  # a 32-D NaN grid would fail in the projection
    assert view.caption.value == "step 20: phi is not finite (NaN or inf in phi_grid); not drawn"
    assert view._pipe.data is drawn
