"""Reward surfaces: filter normalisation, batched evaluation against the one-policy-at-a-time
reference, the cliff rule, storage and trajectory projection."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

import environments  # noqa: F401  (registers the workbench/ ids)
from workbench.landscapes.surfaces import (
    SurfaceResult,
    evaluate_grid,
    evaluate_point_reference,
    find_cliffs,
    gradient_direction,
    gradient_line,
    grid_axis,
    make_vector_env,
    perturb,
    policy_parameters,
    project_trajectory,
    random_directions,
    surface_2d,
)

CARTPOLE = "CartPole-v1"
MAZE = "workbench/PointMaze-UMaze-v0"
MAZE_KWARGS = {"reward_mode": "dense"}
SMALL = {"net_arch": [16, 16]}


@pytest.fixture(scope="module")
def cartpole_model() -> PPO:
    return PPO("MlpPolicy", CARTPOLE, policy_kwargs=SMALL, seed=0, device="cpu")


@pytest.fixture(scope="module")
def maze_model() -> PPO:
    env = gym.make(MAZE, **MAZE_KWARGS)
    return PPO("MlpPolicy", env, policy_kwargs=SMALL, seed=0, device="cpu")


def row_norms(value: torch.Tensor) -> torch.Tensor:
    return value.double().reshape(value.shape[0], -1).norm(dim=1)


def reference_points(model, env, params, directions, coords, episodes, seed, **kwargs):
    """Mean and stderr of every point, one policy after another."""
    results = [
        evaluate_point_reference(
            model, env, perturb(params, directions, point), episodes, seed, **kwargs
        )
        for point in coords
    ]
    return np.array(results).T


# ---- Parameters and directions -----------------------------------------------------------


def test_policy_parameters_are_the_actors_in_policy_order(cartpole_model, maze_model):
    assert list(policy_parameters(cartpole_model)) == [
        "mlp_extractor.policy_net.0.weight",
        "mlp_extractor.policy_net.0.bias",
        "mlp_extractor.policy_net.2.weight",
        "mlp_extractor.policy_net.2.bias",
        "action_net.weight",
        "action_net.bias",
    ]
    assert "log_std" in policy_parameters(maze_model)  # Box actions: a 1-D log_std
    params = policy_parameters(cartpole_model)
    params["action_net.weight"] += 1.0  # a copy: the model keeps its own
    assert not torch.equal(cartpole_model.policy.action_net.weight, params["action_net.weight"])


def test_directions_are_filter_normalized_and_zero_on_one_dimensional_parameters(maze_model):
    params = policy_parameters(maze_model)
    for direction in random_directions(params, seed=3, n=2):
        assert list(direction) == list(params)
        for name, value in params.items():
            assert direction[name].shape == value.shape
            if value.dim() < 2:
                assert not direction[name].any(), name
            else:
                torch.testing.assert_close(
                    row_norms(direction[name]), row_norms(value), rtol=0, atol=1e-6
                )


def test_same_seed_same_directions_other_seed_other_directions(cartpole_model):
    params = policy_parameters(cartpole_model)
    first, again, other = (random_directions(params, s) for s in (7, 7, 8))
    for name in params:
        for i in range(2):
            assert torch.equal(first[i][name], again[i][name])
    assert not torch.equal(first[0]["action_net.weight"], other[0]["action_net.weight"])
    assert not torch.equal(first[0]["action_net.weight"], first[1]["action_net.weight"])


# ---- Batched evaluation ------------------------------------------------------------------


def test_batched_grid_equals_one_policy_at_a_time_on_cartpole(cartpole_model):
    params = policy_parameters(cartpole_model)
    directions = random_directions(params, seed=0)
    axis = grid_axis(3, 1.0)
    coords = np.array([(a, b) for a in axis for b in axis])
    streamed = []
    batched = evaluate_grid(
        cartpole_model,
        CARTPOLE,
        directions,
        coords,
        episodes=2,
        seed=5,
        max_steps=50,
        chunk_points=4,  # three chunks, the last one partly spare
        on_point=lambda i, m, s: streamed.append((i, m, s)),
    )
    means, stderrs = reference_points(
        cartpole_model, CARTPOLE, params, directions, coords, 2, 5, max_steps=50
    )
    np.testing.assert_array_equal(batched.returns_mean, means)
    np.testing.assert_array_equal(batched.returns_stderr, stderrs)
    assert [i for i, _, _ in streamed] == list(range(9))
    np.testing.assert_array_equal([m for _, m, _ in streamed], batched.returns_mean)
    assert batched.returns_mean.std() > 0  # the perturbations change the policy


def test_batched_grid_equals_one_policy_at_a_time_on_the_maze(maze_model):
    params = policy_parameters(maze_model)
    directions = random_directions(params, seed=1)
    axis = grid_axis(3, 1.0)
    coords = np.array([(a, b) for a in axis for b in axis])
    batched = evaluate_grid(
        maze_model, MAZE, directions, coords, 2, seed=0, max_steps=20, env_kwargs=MAZE_KWARGS
    )
    means, stderrs = reference_points(
        maze_model, MAZE, params, directions, coords, 2, 0, max_steps=20, env_kwargs=MAZE_KWARGS
    )
    # Continuous actions: a batched matmul may round differently from SB3's by one float32
    # ulp, so the returns agree to float32 precision, not bit for bit.
    np.testing.assert_allclose(batched.returns_mean, means, rtol=1e-6, atol=0)
    np.testing.assert_allclose(batched.returns_stderr, stderrs, atol=1e-5)
    assert batched.returns_mean.std() > 0


def test_batched_grid_equals_reference_for_sac_on_pendulum():
    model = SAC(
        "MlpPolicy", "Pendulum-v1", policy_kwargs=SMALL, buffer_size=100, seed=0, device="cpu"
    )
    params = policy_parameters(model)
    assert all(name.startswith("actor.") for name in params)
    directions = random_directions(params, seed=2, n=1)
    coords = np.array([[-0.5], [0.0], [1.0]])
    batched = evaluate_grid(model, "Pendulum-v1", directions, coords, 2, seed=3, max_steps=15)
    means, _ = reference_points(
        model, "Pendulum-v1", params, directions, coords, 2, 3, max_steps=15
    )
    np.testing.assert_allclose(batched.returns_mean, means, rtol=1e-6)


@pytest.mark.parametrize("which", ["cartpole_model", "maze_model"])
def test_mlp_policies_take_batched_products_equal_to_the_vmapped_call(which, request):
    """An MlpPolicy's head by batched matrix products gives the vmapped functional call's
    values (the call any other policy takes)."""
    from torch.func import functional_call

    from workbench.landscapes.surfaces import (
        _action_kind,
        _ActionHead,
        _batched_mlp_head,
        _perturbed_stack,
    )

    model = request.getfixturevalue(which)
    policy = model.policy
    kind = _action_kind(policy)
    params = policy_parameters(model)
    directions = random_directions(params, seed=3)
    coords = np.array([[0.0, 0.0], [0.5, -1.0], [1.0, 1.0]])
    stacked = {f"policy.{k}": v for k, v in _perturbed_stack(params, directions, coords).items()}
    obs = torch.as_tensor(
        np.stack([policy.observation_space.sample() for _ in range(3 * 4)]).reshape(3, 4, -1)
    )
    head = _ActionHead(policy, kind)
    vmapped = torch.vmap(lambda p, o: functional_call(head, p, (o,)))(stacked, obs)
    fast = _batched_mlp_head(policy, kind)
    assert fast is not None
    for ours, theirs in zip(fast(stacked, obs), vmapped, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
    sac = SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=SMALL, buffer_size=100, device="cpu")
    assert _batched_mlp_head(sac.policy, _action_kind(sac.policy)) is None


def test_autoresetting_vector_env_gives_the_same_returns(cartpole_model):
    """A vector env that is not a bare SyncVectorEnv is stepped whole: the copies that
    finished autoreset (gymnasium 1.x NEXT_STEP) and must be masked out."""

    def wrapped(num_envs: int) -> gym.vector.VectorEnv:
        return RecordEpisodeStatistics(make_vector_env(CARTPOLE, num_envs, max_steps=50))

    params = policy_parameters(cartpole_model)
    directions = random_directions(params, seed=4)
    coords = np.array([[0.0, 0.0], [0.8, -0.3], [-1.0, 1.0]])
    plain = evaluate_grid(cartpole_model, CARTPOLE, directions, coords, 3, seed=0, max_steps=50)
    through_wrapper = evaluate_grid(cartpole_model, wrapped, directions, coords, 3, seed=0)
    np.testing.assert_array_equal(plain.returns_mean, through_wrapper.returns_mean)


def test_surface_centre_is_the_unperturbed_policy_and_same_seed_same_surface(cartpole_model):
    surface = surface_2d(cartpole_model, CARTPOLE, grid=3, episodes=3, seed=11, max_steps=50)
    assert surface.coords.shape == (9, 2) and surface.grid().shape == (3, 3)
    np.testing.assert_array_equal(surface.coords[4], [0.0, 0.0])
    # A plain evaluate_policy of the model itself; copy e resets with seed 11 + e.
    vec_env = DummyVecEnv([lambda: gym.make(CARTPOLE, max_episode_steps=50)] * 3)
    vec_env.seed(11)
    returns, _ = evaluate_policy(
        cartpole_model, vec_env, n_eval_episodes=3, return_episode_rewards=True, warn=False
    )
    assert surface.grid()[1, 1] == np.mean(returns)
    again = surface_2d(cartpole_model, CARTPOLE, grid=3, episodes=3, seed=11, max_steps=50)
    np.testing.assert_array_equal(surface.returns_mean, again.returns_mean)
    assert (surface.direction_seed, surface.kind) == (11, "surface")


def test_maze_surface_centre_is_the_unperturbed_policy(maze_model):
    surface = surface_2d(
        maze_model, MAZE, grid=3, episodes=2, seed=0, max_steps=20, env_kwargs=MAZE_KWARGS
    )
    vec_env = DummyVecEnv([lambda: gym.make(MAZE, max_episode_steps=20, **MAZE_KWARGS)] * 2)
    vec_env.seed(0)
    returns, _ = evaluate_policy(
        maze_model, vec_env, n_eval_episodes=2, return_episode_rewards=True, warn=False
    )
    np.testing.assert_allclose(surface.grid()[1, 1], np.mean(returns), rtol=1e-6)


def test_stochastic_evaluation_is_reproducible(maze_model):
    params = policy_parameters(maze_model)
    directions = random_directions(params, seed=0)
    coords = np.array([[0.0, 0.0], [0.5, 0.5]])
    runs = [
        evaluate_grid(
            maze_model, MAZE, directions, coords, 2, 0, False, 10, env_kwargs=MAZE_KWARGS
        ).returns_mean
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


# ---- Gradient lines and cliffs -----------------------------------------------------------


def test_gradient_direction_is_filter_normalized_reproducible_and_ascending(cartpole_model):
    params = policy_parameters(cartpole_model)
    kwargs = {"steps": 64, "seed": 0, "num_envs": 4, "max_steps": 50}
    direction = gradient_direction(cartpole_model, CARTPOLE, **kwargs)
    again = gradient_direction(cartpole_model, CARTPOLE, **kwargs)
    raw = gradient_direction(cartpole_model, CARTPOLE, normalization="none", **kwargs)
    for name, value in params.items():
        assert torch.equal(direction[name], again[name])
        if value.dim() < 2:
            assert not direction[name].any()
        else:
            # Rows without gradient (a unit that did not fire) stay zero.
            norms = row_norms(direction[name])
            live = row_norms(raw[name]) > 0
            assert live.any() and not norms[~live].any()
            torch.testing.assert_close(norms[live], row_norms(value)[live], atol=1e-6, rtol=0)
    # Rows rescaled by positive factors: still an ascent direction of the raw gradient.
    assert sum(float((raw[n] * direction[n]).sum()) for n in params) > 0
    # The policy's distribution now holds autograd tensors: the reference still copies it.
    centre, _ = evaluate_point_reference(cartpole_model, CARTPOLE, params, 2, 0, max_steps=50)
    assert (
        centre
        == evaluate_grid(
            cartpole_model, CARTPOLE, [], np.zeros((1, 0)), 2, 0, max_steps=50
        ).returns_mean[0]
    )
    line = gradient_line(
        cartpole_model, CARTPOLE, points=12, episodes=2, direction=direction, max_steps=50
    )
    assert line.coords[0, 0] == 0.0 and line.coords[-1, 0] == pytest.approx(0.4)
    assert line.grid().shape == (12,) and line.kind == "gradient_line"


def test_cliff_rule_on_synthetic_lines():
    flat_then_cliff = [100.0] * 5 + [90, 70, 50, 30, 20] + [20.0] * 10
    check = find_cliffs(flat_then_cliff, surface_range=100.0)
    assert check.is_cliff and check.index == 9 and check.drop == pytest.approx(80.0)

    gentle = np.linspace(100, 80, 20)
    check = find_cliffs(gentle, surface_range=100.0)
    assert not check.is_cliff and check.index == -1
    assert check.drop == pytest.approx(100 - gentle[9])

    # Halved, but by less than a quarter of the surface's range.
    small_drop = [40.0] * 9 + [15.0] * 11
    assert not find_cliffs(small_drop, surface_range=200.0).is_cliff
    assert find_cliffs(small_drop, surface_range=80.0).is_cliff

    # The 11th point is compared with the start too: the first ten are one step.
    after_the_step = [100.0] + [60.0] * 9 + [40.0] + [40.0] * 9
    check = find_cliffs(after_the_step, surface_range=100.0)
    assert check.is_cliff and check.index == 10 and check.drop == pytest.approx(60.0)

    late_cliff = [100.0] * 14 + [10.0] * 6  # a fall between two later points
    check = find_cliffs(late_cliff, surface_range=100.0)
    assert check.is_cliff and check.index == 14 and check.drop == pytest.approx(90.0)


# ---- Storage and trajectories ------------------------------------------------------------


def test_save_and_load_round_trip_without_pickle(tmp_path):
    result = SurfaceResult(
        coords=np.array([[-1.0, 0.0], [0.0, 0.5]]),
        returns_mean=np.array([1.5, -2.25]),
        returns_stderr=np.array([0.1, 0.0]),
        episodes=4,
        seed=3,
        direction_seed=9,
        grid_shape=(1, 2),
        kind="surface",
    )
    path = result.save(tmp_path / "surface.npz")
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(result.to_dict())
    loaded = SurfaceResult.load(path)
    for field in ("coords", "returns_mean", "returns_stderr"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(result, field))
    assert (loaded.episodes, loaded.seed, loaded.direction_seed) == (4, 3, 9)
    assert (loaded.grid_shape, loaded.kind) == ((1, 2), "surface")
    line = SurfaceResult(np.zeros((2, 1)), np.zeros(2), np.zeros(2), 1, 0)
    assert SurfaceResult.load(line.save(tmp_path / "line.npz")).direction_seed is None


def test_projection_of_checkpoints_on_a_line_has_one_component():
    rng = np.random.default_rng(0)
    centre = {"w": torch.tensor(rng.normal(size=(3, 4))), "b": torch.tensor(rng.normal(size=3))}
    along = {name: torch.tensor(rng.normal(size=value.shape)) for name, value in centre.items()}
    steps = np.array([2.0, 1.5, 1.0, 0.4, 0.0])
    checkpoints = [{n: centre[n] + t * along[n] for n in centre} for t in steps]
    coords, explained = project_trajectory(checkpoints, centre)
    assert coords.shape == (5, 2) and explained.shape == (2,)
    assert explained[0] == pytest.approx(1.0, abs=1e-9)
    length = float(torch.sqrt(sum((v.double() ** 2).sum() for v in along.values())))
    np.testing.assert_allclose(np.abs(coords[:, 0]), steps * length, rtol=1e-9)
    np.testing.assert_allclose(coords[:, 1], 0.0, atol=1e-9)
    np.testing.assert_array_equal(coords[-1], [0.0, 0.0])
