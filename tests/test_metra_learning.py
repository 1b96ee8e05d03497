"""Skill discovery learns (small seeded settings, with margins)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.agents.metra import coverage
from workbench.runs import Run, RunStore

QUICK = {
    "hidden": 128,
    "min_buffer": 1_600,
    "checkpoint_every": 0,
    "learning_rate": 1e-3,
    "dual_lr": 1e-3,
    "device": "cpu",
}


def random_policy_coverage(env_id: str, n: int = 48, seed: int = 0) -> int:
    import gymnasium as gym

    env = gym.make_vec(
        env_id, num_envs=n, **({} if env_id.endswith("Plane-v0") else {"reward_mode": "none"})
    )
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    paths, done = [obs[:, :2]], np.zeros(n, bool)
    while not done.all():
        obs, _, terminated, truncated, _ = env.step(rng.uniform(-0.2, 0.2, (n, 2)))
        paths.append(obs[:, :2])
        done |= terminated | truncated
    return coverage(np.stack(paths, 1))


def train(store: RunStore, **knobs) -> Run:
    run = Run.create("metra", store=store, **{**QUICK, **knobs})
    run.start()
    assert run.wait(timeout=900) == "finished", run.record.message
    return run


def test_metra_on_the_plane_covers_far_more_cells_than_a_random_policy(tmp_path):
    store = RunStore(tmp_path)
    run = train(store, total_steps=1_600 * 15, eval_every=15)
    _, cells = run.scalars("eval/coverage")
    random_cells = random_policy_coverage("workbench/Plane-v0")
    assert cells[-1] > 5 * random_cells, (cells, random_cells)
    # The 48 evaluation skills fan out in several directions (early in training: not yet all).
    paths = store.load_snapshot(run.id, "trajectories")["paths"]
    ends = paths[:, -1] - paths[:, 0]
    angles = np.arctan2(ends[:, 1], ends[:, 0])
    assert (np.histogram(angles, bins=8, range=(-np.pi, np.pi))[0] > 0).sum() >= 4


@pytest.mark.slow
# Six runs: about 110 s on two idle cores, but 406 s on a slow shared VM (2026-12-02),
# past the suite's 300 s hang guard; 900 s for all six.
@pytest.mark.timeout(900)
def test_metra_covers_more_of_a_maze_than_diayn_at_equal_steps(tmp_path):
    """In the large maze (46 free cells, 500-step episodes) METRA's skills travel along
    the maze's corridors, while DIAYN's need only end in distinguishable places: over
    three seeds METRA covers clearly more cells (measured: about 1.5x at 160,000 steps)."""
    store = RunStore(tmp_path)
    knobs = {
        "env_id": "workbench/PointMaze-Large-v0",
        "total_steps": 8 * 500 * 40,
        "eval_every": 40,
    }
    cells = {}
    for objective in ("metra", "diayn"):
        cells[objective] = [
            train(store, objective=objective, seed=seed, **knobs).scalars("eval/coverage")[1][-1]
            for seed in (0, 1, 2)
        ]
    assert np.mean(cells["metra"]) > 1.2 * np.mean(cells["diayn"]), cells
