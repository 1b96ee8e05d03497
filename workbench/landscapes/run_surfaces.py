"""Reward surfaces of a run's policy, computed from its latest checkpoint and stored with it.

The surface is the return of the environment's own reward (not an edited one) around the
checkpoint's policy parameters, over two directions: filter-normalised random ones
(:func:`workbench.landscapes.surfaces.surface_2d`, Sullivan et al.'s picture), or the first
two PCA directions of the run's checkpoints (Li et al.'s), in whose plane the training
trajectory lies and is drawn. It is stored as the run's snapshot ``surface`` at the
checkpoint's step: the arrays of :meth:`SurfaceResult.to_dict`, ``magnitude``,
``directions`` (``random`` or ``pca``) and, for PCA, ``trajectory`` (the checkpoints' (a, b),
oldest first) with ``explained_variance``. ``workbench surface RUN_ID`` and the Landscapes
page both come here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from workbench.landscapes.agent_policies import (
    HILP_SURFACE_SKILL_STREAM,
    HILP_SURFACE_SKILLS,
    SkillRewardVectorEnv,
    SkillRewardWrapper,
    copy_policy,
    sb3_model_of,
    skill_reward_of,
)
from workbench.landscapes.surfaces import (
    EnvSource,
    PointCallback,
    SurfaceResult,
    evaluate_grid,
    gradient_line,
    grid_axis,
    make_vector_env,
    pca_directions,
    policy_parameters,
    project_trajectory,
    surface_2d,
)
from workbench.runs import RunStore
from workbench.runs.store import CheckpointError
from workbench.runs.trainer import resolve_trainer
from workbench.trainers.sb3 import SB3Trainer, build_model, env_kwargs

SURFACE_SNAPSHOT = "surface"
GRADIENT_LINE_SNAPSHOT = "gradient_line"


SKILL_TRAINERS = ("metra", "hilp")
"""Trainers whose runs' surfaces are of a skill policy's return (METRA, DIAYN, LSD; HILP)."""


@dataclass
class RunPolicy:
    """What a surface of a run needs: the policy as an SB3 model, where it acts, and how to
    read the policy parameters of the run's other checkpoints (for the PCA plane)."""

    model: BaseAlgorithm
    env: EnvSource
    """A registered id (SB3 runs) or a vector-env factory (skill runs: the skill reward)."""
    env_kwargs: dict[str, Any]
    step: int
    """The checkpoint's step."""
    reward: str
    """What a return sums, in words: ``"the environment's reward"`` or ``"skill 3's reward"``."""
    parameters_of: Callable[[Mapping[str, Any]], dict[str, Any]]
    """A checkpoint's state -> its policy's parameters, named as ``model.policy``'s."""
    skill: np.ndarray | None = None
    """The skill z appended to the observations (skill runs)."""
    single_env: Callable[[], gym.Env] | None = None
    """One environment of the same kind, for a one-at-a-time evaluation (skill runs)."""
    gradient_steps: int = 2048
    """Transitions of the rollout that estimates the policy gradient."""


def reward_label(trainer: str, skill: int = 0) -> str:
    """What the return of a surface of a ``trainer`` run sums, in words."""
    return f"skill {skill}'s reward" if trainer in SKILL_TRAINERS else "the environment's reward"


def policy_of_run(store: RunStore, run_id: str, skill: int = 0) -> RunPolicy:
    """The policy of a run's latest good checkpoint. SB3 runs ('sb3', 'reward'): the model
    itself, on the environment's reward. Skill runs ('metra': METRA, DIAYN, LSD; 'hilp'):
    the skill policy for skill number ``skill`` (METRA: the run's evaluation skill of that
    index; HILP: a unit-length draw of its own stream), on that skill's reward, see
    :mod:`workbench.landscapes.agent_policies`. A ValueError names what is missing (a run of
    another kind, no checkpoint yet, a skill out of range)."""
    record = store.get_run(run_id)
    trainer = resolve_trainer(record.trainer, run_id)
    skill_run = record.trainer in SKILL_TRAINERS
    # Curriculum runs change the observation (goals, gaps, levels): their policies are not
    # build_model's.
    if not skill_run and (not issubclass(trainer, SB3Trainer) or record.trainer == "curriculum"):
        raise ValueError(
            f"run {run_id} is a {record.trainer!r} run; reward surfaces take the policies of "
            "'sb3', 'reward', 'metra' and 'hilp' runs"
        )
    config = trainer.Config.from_dict(record.config)
    found = store.latest_good_checkpoint(run_id)
    if found is None:
        raise ValueError(
            f"run {run_id} has no checkpoint yet: press Checkpoint (or wait for checkpoint_every)"
        )
    step, state, _ = found
    if skill_run:
        return _skill_policy(record.trainer, config, state, step, skill)
    model = build_model(config.changed(n_envs=1, device="cpu"))
    model.set_parameters(dict(state["trainer"]["parameters"]), exact_match=True, device="cpu")
    return RunPolicy(
        model, config.env_id, env_kwargs(config), step, reward_label(record.trainer),
        parameters_of=lambda checkpoint: dict(checkpoint["trainer"]["parameters"]["policy"]),
    )  # fmt: skip


def _skill_policy(
    trainer: str, config: Any, state: Mapping[str, Any], step: int, index: int
) -> RunPolicy:
    from workbench.trainers import hilp, metra

    module = metra if trainer == "metra" else hilp
    if trainer == "metra":
        skills = metra.run_evaluation_skills(config)
    else:  # a fixed list of unit-length draws from a stream of their own
        rng = np.random.default_rng([config.seed, HILP_SURFACE_SKILL_STREAM])
        draws = rng.standard_normal((HILP_SURFACE_SKILLS, config.latent_dim))
        skills = (draws / np.linalg.norm(draws, axis=1, keepdims=True)).astype(np.float32)
    if not 0 <= index < len(skills):
        raise ValueError(f"skill must be in [0, {len(skills) - 1}] for this run, got {index}")
    skill = np.asarray(skills[index], dtype=np.float32)
    agent = module.agent_of_checkpoint(config, state)
    reward = skill_reward_of(agent, skill)
    kwargs = metra.env_kwargs(config.env_id)  # the mazes without their goal reward

    def single_env() -> gym.Env:
        return SkillRewardWrapper(gym.make(config.env_id, **kwargs), skill, reward)

    def vector_env(num_envs: int) -> SkillRewardVectorEnv:
        return SkillRewardVectorEnv(
            make_vector_env(config.env_id, num_envs, env_kwargs=kwargs), skill, reward
        )

    model = sb3_model_of(agent, single_env())
    # Other checkpoints go through a second agent and model: the first ones are the surface's.
    scratch: dict[str, Any] = {}

    def parameters_of(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        if not scratch:
            scratch["agent"] = module.agent_of_checkpoint(config, checkpoint)
            scratch["model"] = sb3_model_of(scratch["agent"], single_env())
        else:
            scratch["agent"].load_state_dict(checkpoint["trainer"]["agent"])
            copy_policy(scratch["agent"], scratch["model"])
        policy = scratch["model"].policy
        return {name: value.detach().clone() for name, value in policy.state_dict().items()}

    # HILP's gradient is REINFORCE's (see agent_policies): its rollout holds whole episodes
    # of 8 copies, so no return-to-go is cut short where a value would have to stand in.
    gradient_steps = 8 * gym.spec(config.env_id).max_episode_steps if trainer == "hilp" else 2048
    return RunPolicy(
        model, vector_env, {}, step, reward_label(trainer, index), parameters_of, skill,
        single_env, gradient_steps,
    )  # fmt: skip


def run_surface(
    store: RunStore,
    run_id: str,
    grid: int = 11,
    magnitude: float = 1.0,
    episodes: int = 4,
    seed: int = 0,
    on_point: PointCallback | None = None,
    directions: str = "random",
    on_plane: Callable[[float, np.ndarray | None], None] | None = None,
    skill: int = 0,
) -> tuple[SurfaceResult, int]:
    """Compute the surface around the run's latest checkpoint, store it as the run's
    ``surface`` snapshot at the checkpoint's step, and return it with that step.

    ``directions="pca"`` spans the plane of the run's checkpoints (at least 3); there
    ``magnitude`` is a multiple of the trajectory's extent (1.0: the farthest checkpoint
    at the grid's edge), not a length in parameter space. ``on_plane(magnitude,
    trajectory)`` is called before the first point, with the grid's extent along each
    direction and the trajectory's (a, b) (None for random directions). ``skill``: which
    skill's policy, for skill runs (see :func:`policy_of_run`)."""
    if grid < 3 or grid % 2 == 0:
        raise ValueError(
            f"grid must be odd and at least 3 (its middle point is the policy itself), got {grid}"
        )
    _check_episodes_and_magnitude(episodes, magnitude)
    if directions not in ("random", "pca"):
        raise ValueError(f"directions must be 'random' or 'pca', got {directions!r}")
    policy = policy_of_run(store, run_id, skill)
    model, step = policy.model, policy.step
    extra: dict[str, Any] = {"directions": directions, **_reward_of(policy)}
    if directions == "random":
        if on_plane is not None:
            on_plane(magnitude, None)
        result = surface_2d(
            model, policy.env, grid=grid, magnitude=magnitude, episodes=episodes, seed=seed,
            env_kwargs=policy.env_kwargs, on_point=on_point,
        )  # fmt: skip
    else:
        checkpoints = checkpoint_policies(store, run_id, policy)
        if len(checkpoints) < 3:
            raise ValueError(
                f"run {run_id} has {len(checkpoints)} checkpoint(s); the PCA plane of a "
                "trajectory needs at least 3"
            )
        centre = policy_parameters(model)
        trajectory, explained = project_trajectory(checkpoints, centre)
        planes, _ = pca_directions(checkpoints, centre)
        # Grid coordinates in units of the trajectory's extent: its farthest checkpoint
        # sits at magnitude 1.
        extent = float(np.abs(trajectory).max()) or 1.0
        magnitude = magnitude * extent
        if on_plane is not None:
            on_plane(magnitude, trajectory)
        axis = grid_axis(grid, magnitude)
        coords = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
        result = evaluate_grid(
            model, policy.env, planes, coords, episodes, seed, on_point=on_point,
            env_kwargs=policy.env_kwargs,
        )  # fmt: skip
        result.grid_shape, result.kind = (grid, grid), "surface"
        extra.update(trajectory=trajectory, explained_variance=explained)
    store.add_snapshot(
        run_id, step, SURFACE_SNAPSHOT, {**result.to_dict(), "magnitude": magnitude, **extra}
    )
    return result, step


def _check_episodes_and_magnitude(episodes: int, magnitude: float) -> None:
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if not magnitude > 0:
        raise ValueError(f"magnitude must be positive, got {magnitude}")


def _reward_of(policy: RunPolicy) -> dict[str, Any]:
    """What a stored surface or line records of the return it measures."""
    extra: dict[str, Any] = {"reward": policy.reward}
    if policy.skill is not None:
        extra["skill"] = policy.skill
    return extra


def checkpoint_policies(
    store: RunStore, run_id: str, policy: RunPolicy | None = None
) -> list[dict[str, Any]]:
    """The policy parameters of each of the run's checkpoints that loads, oldest first;
    ``policy`` (:func:`policy_of_run`'s) reads them, by default as an SB3 run's."""
    policy = policy or policy_of_run(store, run_id)
    policies = []
    for _, path in store.checkpoints(run_id):
        try:
            state = store.load_checkpoint(path)
        except CheckpointError:  # a damaged checkpoint: left out of the trajectory
            continue
        policies.append(policy.parameters_of(state))
    return policies


def run_gradient_line(
    store: RunStore,
    run_id: str,
    points: int = 20,
    magnitude: float = 0.4,
    episodes: int = 8,
    seed: int = 0,
    on_point: PointCallback | None = None,
    skill: int = 0,
) -> tuple[SurfaceResult, int]:
    """The return along the normalised policy gradient of the run's latest checkpoint
    (Sullivan et al.'s line: 20 points up to 0.4), stored as its ``gradient_line``
    snapshot at the checkpoint's step. METRA, DIAYN and LSD runs: the gradient of their
    SAC actor's objective; HILP runs: REINFORCE's over whole episodes (no critic of the
    policy's own return)."""
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    _check_episodes_and_magnitude(episodes, magnitude)
    policy = policy_of_run(store, run_id, skill)
    result = gradient_line(
        policy.model, policy.env, points=points, magnitude=magnitude, episodes=episodes,
        seed=seed, env_kwargs=policy.env_kwargs, on_point=on_point,
        gradient_steps=policy.gradient_steps,
    )  # fmt: skip
    step = policy.step
    store.add_snapshot(
        run_id, step, GRADIENT_LINE_SNAPSHOT,
        {**result.to_dict(), "magnitude": magnitude, **_reward_of(policy)},
    )  # fmt: skip
    return result, step


class StoredSurface(NamedTuple):
    """A run's stored surface: the grid's returns, its extent along each direction, the
    checkpoint's step, the training trajectory in the plane (PCA plane; else None) and
    what the returns sum (:func:`reward_label`)."""

    result: SurfaceResult
    magnitude: float
    step: int
    trajectory: np.ndarray | None
    reward: str


def stored_surface(store: RunStore, run_id: str) -> StoredSurface | None:
    """The run's latest stored surface; None when there is none."""
    rows = store.snapshots(run_id, SURFACE_SNAPSHOT)
    if not rows:
        return None
    step = rows[-1][1]
    values = store.load_snapshot(run_id, SURFACE_SNAPSHOT, step)
    # Surfaces stored before skill runs had them were all of the environment's reward.
    reward = str(values["reward"]) if "reward" in values else reward_label("sb3")
    return StoredSurface(
        SurfaceResult.from_dict(values), float(values["magnitude"]), step,
        values.get("trajectory"), reward,
    )  # fmt: skip
