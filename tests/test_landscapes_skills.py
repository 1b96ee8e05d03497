"""Reward surfaces of our own agents: a skill policy (METRA, DIAYN, LSD on our SAC; HILP)
copied into an SB3 model of the same function, on its skill's reward."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from workbench.agents.hilp import HILP
from workbench.agents.metra import SkillDiscovery
from workbench.cli import main
from workbench.landscapes.agent_policies import (
    SkillRewardVectorEnv,
    SkillRewardWrapper,
    sb3_model_of,
    skill_reward_of,
)
from workbench.landscapes.run_surfaces import (
    policy_of_run,
    run_gradient_line,
    run_surface,
    stored_surface,
)
from workbench.landscapes.surfaces import (
    evaluate_point_reference,
    perturb,
    policy_parameters,
    random_directions,
)
from workbench.runs import Run, RunStore
from workbench.trainers.hilp import load_agent as load_hilp
from workbench.trainers.metra import env_kwargs, load_agent

PLANE = "workbench/Plane-v0"
UMAZE = "workbench/PointMaze-UMaze-v0"


@pytest.fixture(scope="module")
def metra_run(tmp_path_factory):
    """A small finished METRA run on the plane with three checkpoints."""
    store = RunStore(tmp_path_factory.mktemp("metra-surface"))
    run = Run.create(
        "metra", store=store, env_id=PLANE, hidden=32, total_steps=4_000, min_buffer=800,
        trajectories_per_epoch=4, updates_per_epoch=10, batch_size=64, eval_every=0,
        checkpoint_every=1_600, device="cpu",
    )  # fmt: skip
    run.start("thread")
    assert run.wait(timeout=300) == "finished", run.record.message
    return store, run


@pytest.fixture(scope="module")
def hilp_run(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("hilp-surface"))
    run = Run.create(
        "hilp", store=store, env_id=UMAZE, episodes=4, hidden=16, layers=1, latent_dim=4,
        total_steps=60, eval_every=0, checkpoint_every=20, device="cpu",
    )  # fmt: skip
    run.start("thread")
    assert run.wait(timeout=300) == "finished", run.record.message
    return store, run


def _with(obs: np.ndarray, skill: np.ndarray) -> np.ndarray:
    return np.concatenate([obs, np.broadcast_to(skill, (len(obs), len(skill)))], 1)


@pytest.mark.parametrize(
    ("objective", "skill_type"),
    [
        ("metra", "continuous"),
        ("diayn", "discrete"),
        ("diayn", "continuous"),
        ("lsd", "continuous"),
    ],
)
def test_the_sb3_copy_of_our_sac_acts_values_and_rewards_as_the_agent(objective, skill_type):
    torch.manual_seed(0)
    env = gym.make(PLANE)
    space = env.action_space
    agent = SkillDiscovery(
        2, torch.as_tensor(space.low), torch.as_tensor(space.high), skill_dim=3,
        skill_type=skill_type, objective=objective, hidden=24, device="cpu",
    )  # fmt: skip
    skill = np.eye(3, dtype=np.float32)[1] if skill_type == "discrete" else np.full(3, 0.6, "f")
    reward = skill_reward_of(agent, skill)
    model = sb3_model_of(agent, SkillRewardWrapper(env, skill, reward))
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(16, 2)).astype(np.float32)
    inputs = _with(obs, skill)
    ours = agent.act(obs, np.tile(skill, (16, 1)), deterministic=True).numpy()
    theirs, _ = model.predict(inputs, deterministic=True)
    np.testing.assert_allclose(theirs, ours, atol=1e-6)
    # Our critics read actions in the box, SB3's the squashed action in [-1, 1] (here the
    # box is [-0.2, 0.2]^2: a different scale, so a copy that forgot it would differ).
    actions = torch.as_tensor(rng.uniform(-0.2, 0.2, (16, 2)).astype(np.float32))
    q_ours = agent.sac.q_values(agent.sac.critic, torch.as_tensor(inputs), actions)
    with torch.no_grad():
        squashed = actions / 0.2
        q_theirs = torch.cat(model.policy.critic(torch.as_tensor(inputs), squashed), 1).T
        q_targets = torch.cat(model.policy.critic_target(torch.as_tensor(inputs), squashed), 1).T
    torch.testing.assert_close(q_theirs, q_ours.detach(), atol=1e-5, rtol=1e-5)
    q_ours_target = agent.sac.q_values(agent.sac.critic_target, torch.as_tensor(inputs), actions)
    torch.testing.assert_close(q_targets, q_ours_target, atol=1e-5, rtol=1e-5)
    assert model.log_ent_coef.item() == pytest.approx(agent.sac.log_alpha.item())
    # The reward is the agent's own, for the fixed skill.
    next_obs = obs + 0.1
    expected = agent.rewards(
        torch.as_tensor(obs), torch.as_tensor(next_obs), torch.as_tensor(np.tile(skill, (16, 1)))
    )
    np.testing.assert_allclose(reward(obs, next_obs), expected.detach().numpy(), rtol=1e-6)


def test_the_ppo_copy_of_hilps_skill_policy_acts_as_it():
    agent = HILP(obs_dim=2, action_dim=2, max_action=0.2, latent_dim=4, hidden=16, layers=2)
    with torch.no_grad():  # a policy whose clipping matters: outputs beyond [-1, 1]
        agent.actor.net.weights[-1].mul_(300.0)
    skill = np.array([0.5, -0.5, 0.5, 0.5], dtype=np.float32)
    env = SkillRewardWrapper(gym.make(UMAZE), skill, skill_reward_of(agent, skill))
    model = sb3_model_of(agent, env)
    obs = np.random.default_rng(0).uniform(0, 5, (32, 2)).astype(np.float32)
    ours = agent.act(obs, np.tile(skill, (32, 1)))
    theirs, _ = model.predict(_with(obs, skill), deterministic=True)
    assert np.abs(ours).max() == pytest.approx(0.2)  # some actions clipped at the box
    np.testing.assert_allclose(theirs, ours, atol=1e-6)


def test_the_vector_env_pays_each_transitions_skill_reward_and_nothing_at_a_reset():
    skill = np.array([1.0, 0.0], dtype=np.float32)

    def reward(obs, next_obs):  # progress along x: the METRA reward of phi = identity
        return (next_obs - obs) @ skill

    from workbench.landscapes.surfaces import make_vector_env

    env = SkillRewardVectorEnv(make_vector_env(PLANE, 2, max_steps=3), skill, reward)
    obs, _ = env.reset(seed=[0, 1])
    assert obs.shape == (2, 4) and np.all(obs[:, 2:] == skill)
    done = []
    for step in range(4):  # three steps to the time limit, then the reset step
        next_obs, rewards, terminated, truncated, _ = env.step(np.full((2, 2), 0.1, "f"))
        done.append(terminated | truncated)
        moved = next_obs[:, 0] - obs[:, 0]
        if step < 3:
            assert np.all(moved > 0)
            np.testing.assert_allclose(rewards, moved, rtol=1e-6)
        else:  # back at the start, a new episode: nothing paid for the jump
            assert np.all(moved < 0) and np.all(rewards == 0.0)
        obs = next_obs
    assert [bool(d.all()) for d in done] == [False, False, True, False]


def _own_return(agent, env_id: str, skill: np.ndarray, episodes: int, seed: int) -> float:
    """The agent's return on its skill reward, rolled out with its own act and rewards."""
    env = gym.make(env_id, **env_kwargs(env_id))
    reward = skill_reward_of(agent, skill)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            if isinstance(agent, HILP):
                action = agent.act(obs[None], skill[None])[0]
            else:
                action = agent.act(obs[None], skill[None], deterministic=True)[0].numpy()
            next_obs, _, terminated, truncated, _ = env.step(action)
            total += float(np.float32(reward(obs[None], next_obs[None])[0]))
            obs, done = next_obs, terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def test_a_metra_surface_is_centred_on_the_agents_own_return_on_its_skill(metra_run):
    store, run = metra_run
    result, step = run_surface(store, run.id, grid=3, episodes=2, skill=1)
    agent, _, _ = load_agent(store, run.id)
    policy = policy_of_run(store, run.id, skill=1)
    assert policy.reward == "skill 1's reward" and step == policy.step == 4_000
    own = _own_return(agent, PLANE, policy.skill, episodes=2, seed=0)
    assert result.grid()[1, 1] == pytest.approx(own, rel=1e-5, abs=1e-6)
    # A perturbed point, batched, equals the one-at-a-time evaluation.
    centre = policy_parameters(policy.model)
    corner = perturb(centre, random_directions(centre, seed=0), [-1.0, -1.0])
    mean, _ = evaluate_point_reference(policy.model, policy.single_env, corner, 2, seed=0)
    assert result.grid()[0, 0] == pytest.approx(mean, rel=1e-5, abs=1e-6)
    assert result.returns_range > 0  # the perturbations change where the skill goes
    stored = store.load_snapshot(run.id, "surface", step)
    assert str(stored["reward"]) == "skill 1's reward"
    np.testing.assert_array_equal(stored["skill"], policy.skill)


def test_a_metra_run_has_a_pca_plane_and_a_gradient_line_on_its_skill(metra_run):
    store, run = metra_run
    run_surface(store, run.id, grid=3, episodes=1, directions="pca", skill=2)
    stored = stored_surface(store, run.id)
    trajectory = stored.trajectory
    assert stored.reward == "skill 2's reward"
    assert trajectory.shape == (len(store.checkpoints(run.id)), 2) and len(trajectory) >= 3
    np.testing.assert_allclose(trajectory[-1], 0.0, atol=1e-5)  # the latest is the centre
    line, _ = run_gradient_line(store, run.id, points=3, episodes=2, skill=2)
    centre = run_surface(store, run.id, grid=3, episodes=2, skill=2)[0].grid()[1, 1]
    assert line.returns_mean[0] == pytest.approx(centre)  # the line starts at the policy


def test_a_hilp_surface_is_centred_on_its_skill_policys_return(hilp_run):
    store, run = hilp_run
    result, _ = run_surface(store, run.id, grid=3, episodes=2, skill=2, magnitude=3.0)
    agent, _, _ = load_hilp(store, run.id)
    policy = policy_of_run(store, run.id, skill=2)
    assert np.linalg.norm(policy.skill) == pytest.approx(1.0) and len(policy.skill) == 4
    own = _own_return(agent, UMAZE, policy.skill, episodes=2, seed=0)
    assert result.grid()[1, 1] == pytest.approx(own, rel=1e-5, abs=1e-6)
    # Its gradient line: REINFORCE over whole episodes (the copy's value net is zero).
    assert policy.gradient_steps == 8 * gym.spec(UMAZE).max_episode_steps
    probe = torch.as_tensor(_with(np.ones((3, 2), "f"), policy.skill))
    assert torch.all(policy.model.policy.predict_values(probe) == 0)
    line, _ = run_gradient_line(store, run.id, points=3, magnitude=3.0, episodes=2, skill=2)
    # It starts at the policy. Its phi rewards come from batches of another size than the
    # surface's: equal to float32 rounding, as the surface's centre to the policy's return.
    assert line.returns_mean[0] == pytest.approx(result.grid()[1, 1], rel=1e-5, abs=1e-6)
    with pytest.raises(ValueError, match=r"skill must be in \[0, 1023\]"):
        policy_of_run(store, run.id, skill=10**9)  # refused, not drawn


def test_the_cli_computes_a_skill_surface_and_refuses_a_skill_out_of_range(metra_run, capsys):
    store, run = metra_run
    home = str(store.home)
    args = ["--home", home, "surface", run.id, "--grid", "3", "--episodes", "1", "--skill", "3"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reward"] == "skill 3's reward" and summary["grid"] == 3
    assert main(["--home", home, "surface", run.id, "--skill", "48"]) == 2
    assert "skill must be in [0, 47]" in capsys.readouterr().err


def _wait_until_done(view, timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view.refresh()
        if not view._busy and not view.compute_button.disabled:
            return
        time.sleep(0.05)
    raise AssertionError(f"the surface did not finish: {view.status.value}")


def test_the_surface_view_of_a_skill_run_asks_for_the_skill_and_names_its_reward(
    metra_run, hilp_run
):
    from widgets import LiveSession, SkillsView
    from widgets.common.surface_view import SurfaceView

    store, run = metra_run
    page = SkillsView(LiveSession(store), run_id=run.id)
    view = page.surface
    assert view.run_id == run.id and view.skill_input.visible and view.line_button.visible
    assert "log q(z | s')" in view.caption.object  # the skill return, explained
    view.skill_input.value = 4
    view.grid_input.value, view.episodes_input.value = 3, 1
    view.compute()
    _wait_until_done(view)
    assert view.status.value.startswith("done: 9 points"), view.status.value
    assert view.figure.title.text == "return around the policy (skill 4's reward)"
    assert len(view.points.data["value"]) == 9
    assert str(store.load_snapshot(run.id, "surface")["reward"]) == "skill 4's reward"

    hilp_store, hilp = hilp_run
    hilp_view = SurfaceView(LiveSession(hilp_store), run_id=hilp.id)
    assert hilp_view.skill_input.visible and hilp_view.line_button.visible


def test_a_skill_value_map_is_the_sac_critics_value_of_the_skill_policy(metra_run, hilp_run):
    from workbench.landscapes.state_maps import StateGrid, skill_value_map

    store, run = metra_run
    agent, _, _ = load_agent(store, run.id)
    policy = policy_of_run(store, run.id, skill=3)
    grid = StateGrid.plane(x_range=(-3, 3), y_range=(-2, 2), resolution=(7, 5))
    values = skill_value_map(agent, grid, policy.skill)
    assert values.shape == (5, 7) and np.isfinite(values).all()
    # The same number through the SB3 copy: its critics, at its deterministic action.
    inputs = torch.as_tensor(_with(grid.free_observations(), policy.skill))
    sb3 = policy.model.policy
    with torch.no_grad():
        actions = sb3._predict(inputs, deterministic=True)
        q = torch.cat(sb3.critic(inputs, actions), 1).min(1).values.double().numpy()
    np.testing.assert_allclose(values[grid.mask], q, rtol=1e-5, atol=1e-5)

    hilp_store, hilp = hilp_run
    hilp_agent, _, _ = load_hilp(hilp_store, hilp.id)
    maze = StateGrid.maze(gym.make(UMAZE), points_per_cell=2)
    skill = np.array([0.5, 0.5, -0.5, 0.5], dtype=np.float32)
    hilp_values = skill_value_map(hilp_agent, maze, skill)
    inputs = torch.as_tensor(_with(maze.free_observations(), skill))
    np.testing.assert_allclose(
        hilp_values[maze.mask], hilp_agent.v(inputs)[0, :, 0].detach().double().numpy(), rtol=1e-6
    )
    assert np.isnan(hilp_values[~maze.mask]).all()  # walls
    with pytest.raises(ValueError, match=r"skill must have shape \(4,\)"):
        skill_value_map(hilp_agent, maze, np.ones(3))
    with pytest.raises(ValueError, match="agent must be a SkillDiscovery"):
        skill_value_map(policy.model, maze, skill)


def test_a_skill_advantage_map_is_the_td_error_of_the_skill_policys_own_step(metra_run, hilp_run):
    from workbench.landscapes.state_maps import StateGrid, skill_advantage_map, skill_value_map

    cases = [
        (*metra_run, PLANE, StateGrid.plane(x_range=(-2, 2), y_range=(-1, 1), resolution=(5, 3))),
        (*hilp_run, UMAZE, StateGrid.maze(gym.make(UMAZE), points_per_cell=1)),
    ]
    for store, run, env_id, grid in cases:
        policy = policy_of_run(store, run.id, skill=1)
        agent = (load_agent if env_id == PLANE else load_hilp)(store, run.id)[0]
        skill, gamma = policy.skill, 0.9
        advantages = skill_advantage_map(agent, grid, skill, gamma=gamma)
        values = skill_value_map(agent, grid, skill)
        assert np.isnan(advantages[~grid.mask]).all() and np.isfinite(advantages[grid.mask]).all()
        # Each free state's step taken in the real environment, from that state.
        env = gym.make(env_id, **env_kwargs(env_id))
        reward = skill_reward_of(agent, skill)
        start = grid.free_observations()[-1]
        obs, _ = env.reset(seed=0, options={"start": start})
        if isinstance(agent, HILP):
            action = agent.act(obs[None], skill[None])[0]
        else:
            action = agent.act(obs[None], skill[None], deterministic=True)[0].numpy()
        next_obs, *_ = env.step(action)
        next_value = float(skill_value_map(agent, _one_state(grid, next_obs), skill)[0, 0])
        expected = reward(obs[None], next_obs[None])[0] + gamma * next_value - values[grid.mask][-1]
        assert advantages[grid.mask][-1] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    with pytest.raises(ValueError, match="point-world grid"):
        slice_grid = StateGrid.box_slice(gym.make("Pendulum-v1"), dims=(0, 1), resolution=3)
        skill_advantage_map(agent, slice_grid, skill)


def test_an_lsd_advantage_map_pays_the_scaled_reward_and_leaves_phi_as_it_was():
    from workbench.landscapes.state_maps import StateGrid, skill_advantage_map, skill_value_map

    torch.manual_seed(0)
    space = gym.make(PLANE).action_space
    agent = SkillDiscovery(
        2, torch.as_tensor(space.low), torch.as_tensor(space.high), skill_dim=2,
        objective="lsd", hidden=16, reward_scale=3.0, device="cpu",
    )  # fmt: skip
    grid = StateGrid.plane(x_range=(-1, 1), y_range=(-1, 1), resolution=(4, 3))
    skill, gamma = np.array([0.6, -0.8], dtype=np.float32), 0.9
    agent.phi.train()  # as after training: spectral normalisation iterates on every call
    weights = {k: v.clone() for k, v in agent.phi.state_dict().items()}
    first = skill_advantage_map(agent, grid, skill, gamma=gamma)
    # Eval mode: the power iteration's vectors are not nudged, so the map is one function.
    for name, value in agent.phi.state_dict().items():
        torch.testing.assert_close(value, weights[name], rtol=0, atol=0)
    np.testing.assert_array_equal(skill_advantage_map(agent, grid, skill, gamma=gamma), first)
    # The reward term is the scaled one the critics learned: A - (gamma V' - V) / r = 3.
    obs = grid.free_observations()
    actions = agent.act(obs, np.tile(skill, (len(obs), 1)), deterministic=True).numpy()
    next_obs = obs + actions  # the plane's dynamics, far from its edges
    next_values = np.array([
        skill_value_map(agent, _one_state(grid, o), skill)[0, 0] for o in next_obs
    ])  # fmt: skip
    values = skill_value_map(agent, grid, skill)[grid.mask]
    rewards = skill_reward_of(agent, skill)(obs, next_obs)
    np.testing.assert_allclose(
        first[grid.mask] - gamma * next_values + values, 3.0 * rewards, rtol=1e-4, atol=1e-5
    )


def _one_state(grid, observation: np.ndarray):
    """A one-state grid at ``observation`` (for a value there)."""
    import dataclasses

    return dataclasses.replace(
        grid,
        xs=np.array([observation[0]]),
        ys=np.array([observation[1]]),
        mask=np.ones((1, 1), dtype=bool),
        base_observation=np.asarray(observation, dtype=np.float32),
    )
