"""Reward surfaces of a run's checkpoint, stored with the run: the API, the CLI and their
refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.cli import main
from workbench.landscapes.run_surfaces import run_surface, stored_surface
from workbench.landscapes.surfaces import evaluate_point_reference, policy_parameters
from workbench.runs import Run, RunStore


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A small finished reward run with a checkpoint, and its store."""
    store = RunStore(tmp_path_factory.mktemp("home"))
    run = Run.create(
        "reward", store=store, total_timesteps=1_500, eval_every=0, checkpoint_every=500,
        n_envs=2, net_width=16,
    )  # fmt: skip
    run.start("thread")
    assert run.wait(timeout=120) == "finished", run.record.message
    return store, run


def test_a_surface_is_stored_with_its_run_and_its_centre_is_the_checkpoints_policy(finished):
    store, run = finished
    arrived = []
    result, step = run_surface(
        store, run.id, grid=3, episodes=2, on_point=lambda *a: arrived.append(a)
    )
    assert step == 1_500 and sorted(i for i, _, _ in arrived) == list(range(9))
    again, magnitude, stored_step, trajectory, reward = stored_surface(store, run.id)
    assert reward == "the environment's reward"
    assert trajectory is None  # random directions: the trajectory is not in their plane
    np.testing.assert_array_equal(again.returns_mean, result.returns_mean)
    assert (magnitude, stored_step, again.grid_shape) == (1.0, 1_500, (3, 3))
    # The centre is the unperturbed policy, evaluated one episode after another.
    from workbench.landscapes.run_surfaces import policy_of_run

    policy = policy_of_run(store, run.id)
    assert policy.reward == "the environment's reward" and policy.skill is None
    mean, _ = evaluate_point_reference(
        policy.model, policy.env, policy_parameters(policy.model), episodes=2, seed=0,
        env_kwargs=policy.env_kwargs,
    )  # fmt: skip
    assert result.grid()[1, 1] == pytest.approx(mean, rel=1e-6)


def test_the_cli_computes_a_surface_and_refuses_what_has_none(finished, tmp_path, capsys):
    store, run = finished
    home = str(store.home)
    assert (
        main(["--home", home, "surface", run.id, "--grid", "3", "--episodes", "1", "--json"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["checkpoint_step"] == 1_500 and summary["grid"] == 3
    stored = stored_surface(store, run.id).result  # the CLI's surface, stored with the run
    assert summary["centre_return"] == pytest.approx(stored.grid()[1, 1])
    assert (summary["min_return"], summary["max_return"]) == (
        pytest.approx(stored.returns_mean.min()),
        pytest.approx(stored.returns_mean.max()),
    )
    assert main(["--home", home, "surface", "no-such-run"]) == 2
    assert "no-such-run" in capsys.readouterr().err
    assert main(["--home", home, "surface", run.id, "--grid", "4"]) == 2
    assert "grid must be odd" in capsys.readouterr().err
    fresh = Run.create("reward", store=store, total_timesteps=10)  # never started
    assert main(["--home", home, "surface", fresh.id]) == 2
    assert "no checkpoint yet" in capsys.readouterr().err
    levels = Run.create("curriculum", store=store, tasks="grid-levels")
    assert main(["--home", home, "surface", levels.id]) == 2
    assert "'curriculum' run" in capsys.readouterr().err


def test_the_pca_plane_holds_the_training_trajectory_and_ends_at_the_centre(finished):
    store, run = finished
    planes = []
    result, _ = run_surface(
        store, run.id, grid=3, episodes=1, directions="pca",
        on_plane=lambda extent, trajectory: planes.append((extent, trajectory)),
    )  # fmt: skip
    _, magnitude, _, trajectory, _ = stored_surface(store, run.id)
    checkpoints = store.checkpoints(run.id)  # every 500 steps, and at the end
    assert len(checkpoints) >= 3 and trajectory.shape == (len(checkpoints), 2)
    np.testing.assert_allclose(trajectory[-1], 0.0, atol=1e-5)  # the latest is the centre
    assert magnitude == pytest.approx(np.abs(trajectory).max())
    assert planes[0][0] == pytest.approx(magnitude)
    assert result.grid_shape == (3, 3)
