"""HILP learns (one small seeded run in the U-maze, with margins).

Measured on this setting (seed 0, 3,000 updates): Spearman 0.96, goals reached 13/16
(seeds 1 and 2: 0.94 and 0.93; 9/16 and 12/16).
"""

from __future__ import annotations

import numpy as np
import pytest

from environments.maze import get_layout
from environments.point import PointTask
from workbench.datasets import load_dataset
from workbench.runs import Run, RunStore
from workbench.trainers.hilp import load_agent

# One 3,000-update run, set up by the first test: about 100 s on two idle cores, but past
# the suite's 300 s hang guard on a shared VM under load (2026-12-02, issue 14); the run's
# own wait allows 900 s.
pytestmark = pytest.mark.timeout(900)

SETTINGS = {
    "env_id": "workbench/PointMaze-UMaze-v0",
    "episodes": 100,
    "hidden": 128,
    "layers": 2,
    "latent_dim": 16,
    "total_steps": 3_000,
    "eval_every": 1_000,
    "checkpoint_every": 3_000,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("hilp"))
    run = Run.create("hilp", store=store, **SETTINGS)
    run.start()
    assert run.wait(timeout=900) == "finished", run.record.message
    return store, run


@pytest.mark.slow
def test_learned_distance_ranks_held_out_pairs_like_the_geodesic(trained):
    _, run = trained
    _, rho = run.scalars("eval/spearman")
    assert rho[-1] > 0.8, rho  # measured 0.96
    assert rho[-1] > rho[0] - 0.05  # it does not get worse with training


@pytest.mark.slow
def test_zero_shot_goal_reaching_reaches_most_goals(trained):
    store, run = trained
    _, success = run.scalars("eval/goal_success")
    assert success[-1] >= 0.6, success  # measured 13/16
    paths = store.load_snapshot(run.id, "hilbert")["goal_paths"]
    assert paths.shape[0] == 16 and get_layout("umaze").is_free(paths.reshape(-1, 2)).all()


@pytest.mark.slow
def test_prompting_a_velocity_moves_that_way(trained):
    """Prompt the rewards "go right" and "go left" (x velocity and its opposite) and roll
    each out for 100 steps from every free cell: the first moves further right on average.

    Measured (mean x displacement, right minus left, in cells): 1.34 on seed 0 (this test);
    1.31 and 0.29 on seeds 1 and 2: at 3,000 updates the prompted policy is still rough."""
    store, run = trained
    agent, _, _ = load_agent(store, run.id)
    data = load_dataset("umaze-play", home=store.home)
    sample = np.random.default_rng(0).integers(len(data), size=10_000)
    s, s2 = data.observations[sample], data.next_observations[sample]
    maze = get_layout("umaze")
    task, starts = PointTask(maze), maze.free_cell_centers.astype(np.float64)
    moved = {}
    for name, velocity in (("right", s2[:, 0] - s[:, 0]), ("left", s[:, 0] - s2[:, 0])):
        z = agent.reward_skill(s, s2, velocity, features="diff")
        positions = starts.copy()
        for _ in range(100):
            actions = agent.act(positions.astype(np.float32), np.repeat(z[None], len(starts), 0))
            positions = task.move(positions, np.clip(actions, -0.2, 0.2))
        moved[name] = (positions - starts)[:, 0].mean()
    assert moved["right"] - moved["left"] > 0.5, moved
