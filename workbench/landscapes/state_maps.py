"""Values over a dense grid of states, for heat maps: rewards, values, advantages, phi.

A :class:`StateGrid` is a regular grid over two observation coordinates with the others
held fixed: the (x, y) positions of a point maze (walls masked out) or of the open plane,
or a 2-D slice through the observation box of any gymnasium env. Maps are arrays of shape
``grid.shape == (H, W)``, row i at ``ys[i]``, column j at ``xs[j]`` (draw them with
``origin="lower"``), NaN where the grid's mask is False (inside walls). Functions only
evaluate the masked-in states: a maze's reward may not even be defined inside a wall.

What each map shows:

- :func:`reward_map`: the expected immediate reward of a random action at each state,
  ``E_a R(s, a, s')``, with s' from the point world's dynamics (``task.move``); generic
  envs have no batched dynamics, so there s' = s (exact for rewards of the state alone);
- :func:`env_reward_map`: the same for a point env's own reward (``task.reward``);
- :func:`value_map`: a stable-baselines3 agent's V(s) (PPO, A2C), Q(s, pi(s)) (SAC, TD3:
  the minimum over the critics) or max_a Q(s, a) (DQN);
- :func:`advantage_map`: for PPO and A2C, the one-step advantage of the policy's
  deterministic action, ``r + gamma V(s') - V(s)``, through the point dynamics;
- :func:`goal_value_map`: HILP's goal-conditioned value ``-||phi(s) - phi(g)||``;
- :func:`skill_reward_map`: METRA's (and HILP's) skill reward ``(phi(s') - phi(s)) . z``
  averaged over random actions;
- :func:`skill_value_map`: a skill policy's learned value for one skill (METRA, DIAYN,
  LSD: its SAC critics; HILP: its IQL value); :func:`skill_advantage_map`: the one-step
  advantage of its deterministic action, through the point dynamics.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from environments.point import PLANE_TASK, PointTask
from workbench.agents.hilp import HILP
from workbench.agents.metra import SkillDiscovery
from workbench.landscapes.agent_policies import skill_reward_of

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]
# A batched transition model: next observations from observations and actions.
Dynamics = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Observation bounds at or beyond this size are "unbounded" (gymnasium writes some infinite
# bounds as float32's largest value): a slice along them uses DEFAULT_RANGE instead.
_UNBOUNDED = 1e6
DEFAULT_RANGE = (-3.0, 3.0)


# eq=False: the fields are arrays, whose == is elementwise.
@dataclass(frozen=True, eq=False)
class StateGrid:
    """A grid over two observation coordinates, the others fixed.

    Build one with :meth:`maze`, :meth:`plane`, :meth:`box_slice` or :meth:`from_env`.

    Attributes:
        xs: (W,) values of observation coordinate ``dims[0]``, the columns.
        ys: (H,) values of observation coordinate ``dims[1]``, the rows.
        mask: (H, W) True at valid states (free space); maps are NaN elsewhere.
        base_observation: (obs_dim,) the observation every grid state starts from; its
            coordinates ``dims`` are replaced by the grid's.
        dims: the two observation indices the grid varies.
        action_space: the env's action space, for sampling actions.
        task: the point world (dynamics and reward), ``None`` for other envs.
        goal: the point world's goal (2,) for rewards that use one, else ``None``.
    """

    xs: np.ndarray
    ys: np.ndarray
    mask: np.ndarray
    base_observation: np.ndarray
    dims: tuple[int, int]
    action_space: spaces.Space
    task: PointTask | None = None
    goal: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W): rows along ``ys``, columns along ``xs``."""
        return len(self.ys), len(self.xs)

    @property
    def obs_dim(self) -> int:
        return len(self.base_observation)

    def coordinates(self) -> np.ndarray:
        """(H*W, 2) float64 ``(x, y)`` of every grid state, row-major (row i = ys[i])."""
        x, y = np.meshgrid(self.xs, self.ys)  # (H, W) each
        return np.stack([x.ravel(), y.ravel()], axis=1)

    def observations(self) -> np.ndarray:
        """(H*W, obs_dim) float32 observations of every grid state, row-major."""
        observations = np.tile(self.base_observation, (len(self.ys) * len(self.xs), 1))
        observations[:, list(self.dims)] = self.coordinates()
        return observations.astype(np.float32)

    def free_observations(self) -> np.ndarray:
        """The observations where ``mask`` is True, in row-major order."""
        return self.observations()[self.mask.ravel()]

    def to_map(self, values: np.ndarray) -> np.ndarray:
        """(H, W) float64 map from one value per masked-in state, NaN elsewhere."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (int(self.mask.sum()),):
            raise ValueError(
                f"values must have shape ({int(self.mask.sum())},), one per free state, "
                f"got {values.shape}"
            )
        result = np.full(self.shape, np.nan)
        result[self.mask] = values
        return result

    # ---- constructors --------------------------------------------------------------------

    @classmethod
    def maze(cls, env: Any, points_per_cell: int = 8) -> StateGrid:
        """The positions of a point maze: ``points_per_cell`` squared points per 1 x 1 cell,
        at sub-cell centres (none on a wall's edge), over the whole ``width x height``.

        Args:
            env: a point maze env (``workbench/PointMaze-*``, :class:`PointEnv`, its vector
                env) or its :class:`PointTask`.
            points_per_cell: grid points along each side of a cell.
        """
        task = point_task_of(env)
        if task.maze is None:
            raise ValueError("env is the open plane, not a maze: use StateGrid.plane")
        if not isinstance(points_per_cell, int | np.integer) or points_per_cell < 1:
            raise ValueError(f"points_per_cell must be a positive integer, got {points_per_cell!r}")
        k = int(points_per_cell)
        # World coordinates: cell (ix, iy) covers [ix, ix + 1) x [iy, iy + 1), y upwards.
        xs = (np.arange(task.maze.width * k) + 0.5) / k
        ys = (np.arange(task.maze.height * k) + 0.5) / k
        x, y = np.meshgrid(xs, ys)
        mask = task.maze.is_free(np.stack([x, y], axis=-1))
        return cls._point_grid(env, task, xs, ys, mask)

    @classmethod
    def plane(
        cls,
        env: Any = None,
        x_range: tuple[float, float] = (-10.0, 10.0),
        y_range: tuple[float, float] = (-10.0, 10.0),
        resolution: int | tuple[int, int] = 81,
    ) -> StateGrid:
        """Positions in a box of the open plane (``workbench/Plane-v0``).

        Args:
            env: the plane env or its task; ``None``: the registered plane.
            x_range, y_range: the box, ``(low, high)`` each.
            resolution: grid points along x and y, one number for both or ``(W, H)``.
        """
        task = PLANE_TASK if env is None else point_task_of(env)
        if task.maze is not None:
            raise ValueError("env is a point maze, not the plane: use StateGrid.maze")
        width, height = _check_resolution(resolution)
        xs = np.linspace(*_check_range(x_range, "x_range"), width)
        ys = np.linspace(*_check_range(y_range, "y_range"), height)
        mask = np.ones((height, width), dtype=bool)
        return cls._point_grid(env, task, xs, ys, mask)

    @classmethod
    def _point_grid(
        cls, env: Any, task: PointTask, xs: np.ndarray, ys: np.ndarray, mask: np.ndarray
    ) -> StateGrid:
        goal = env_goal(env, task) if task.uses_goal else None
        goals = None if goal is None else goal[None]
        base = task.observe(np.zeros((1, 2)), goals)[0].astype(np.float64)
        return cls(xs, ys, mask, base, (0, 1), task.action_space(), task, goal)

    @classmethod
    def box_slice(
        cls,
        env: gym.Env | str,
        dims: tuple[int, int] = (0, 1),
        ranges: Sequence[tuple[float, float] | None] | None = None,
        fixed: np.ndarray | None = None,
        resolution: int | tuple[int, int] = 64,
        seed: int = 0,
    ) -> StateGrid:
        """A 2-D slice through the observation box of any env with a flat Box observation.

        Args:
            env: a gymnasium env or its id (then made here and closed again).
            dims: the two observation indices to vary: ``dims[0]`` along x (columns),
                ``dims[1]`` along y (rows).
            ranges: ``(low, high)`` for each of the two dims; ``None`` (or a ``None``
                entry): the observation space's bounds, or :data:`DEFAULT_RANGE` where
                they are unbounded.
            fixed: the whole observation (obs_dim,) the other coordinates are taken from;
                ``None``: the observation of ``env.reset(seed=seed)`` (which resets ``env``).
            resolution: grid points along x and y, one number for both or ``(W, H)``.
            seed: seed of that reset.
        """
        made = isinstance(env, str)
        env_ = gym.make(env) if made else env
        try:
            space = env_.observation_space
            if not isinstance(space, spaces.Box) or len(space.shape) != 1:
                raise ValueError(
                    f"env must have a flat Box observation space for a slice, got {space}"
                )
            obs_dim = space.shape[0]
            dims = _check_dims(dims, obs_dim)
            if fixed is None:
                base = np.asarray(env_.reset(seed=seed)[0], dtype=np.float64)
            else:
                base = np.asarray(fixed, dtype=np.float64)
                if base.shape != (obs_dim,):
                    raise ValueError(f"fixed must have shape ({obs_dim},), got {base.shape}")
            if ranges is None:
                ranges = (None, None)
            if len(ranges) != 2:
                raise ValueError(f"ranges must hold two (low, high) pairs, got {ranges!r}")
            width, height = _check_resolution(resolution)
            axes = []
            for index, (dim, given, points) in enumerate(
                zip(dims, ranges, (width, height), strict=True)
            ):
                if given is None:
                    low, high = float(space.low[dim]), float(space.high[dim])
                    given = (
                        low if abs(low) < _UNBOUNDED else DEFAULT_RANGE[0],
                        high if abs(high) < _UNBOUNDED else DEFAULT_RANGE[1],
                    )
                axes.append(np.linspace(*_check_range(given, f"ranges[{index}]"), points))
            mask = np.ones((height, width), dtype=bool)
            return cls(axes[0], axes[1], mask, base, dims, env_.action_space)
        finally:
            if made:
                env_.close()

    @classmethod
    def from_env(cls, env: Any, **kwargs: Any) -> StateGrid:
        """:meth:`maze` for a point maze, :meth:`plane` for the plane, else
        :meth:`box_slice`; ``kwargs`` go to that constructor."""
        task = _point_task_or_none(env)
        if task is None:
            return cls.box_slice(env, **kwargs)
        if task.maze is None:
            return cls.plane(env, **kwargs)
        return cls.maze(env, **kwargs)


def _check_resolution(resolution: int | tuple[int, int]) -> tuple[int, int]:
    pair = (resolution, resolution) if isinstance(resolution, int | np.integer) else resolution
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or not all(isinstance(p, int | np.integer) and p >= 2 for p in pair)
    ):
        raise ValueError(
            f"resolution must be an integer >= 2 or a pair (W, H) of them, got {resolution!r}"
        )
    return int(pair[0]), int(pair[1])


def _check_range(given: Any, name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in given)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {given!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"{name} must be (low, high) with finite low < high, got {given!r}")
    return low, high


def _check_dims(dims: Any, obs_dim: int) -> tuple[int, int]:
    valid = (
        isinstance(dims, tuple | list)
        and len(dims) == 2
        and all(isinstance(d, int | np.integer) and 0 <= d < obs_dim for d in dims)
        and dims[0] != dims[1]
    )
    if not valid:
        raise ValueError(
            f"dims must be two different observation indices in [0, {obs_dim}), got {dims!r}"
        )
    return int(dims[0]), int(dims[1])


def _point_task_or_none(env: Any) -> PointTask | None:
    if isinstance(env, PointTask):
        return env
    task = getattr(getattr(env, "unwrapped", env), "task", None)
    return task if isinstance(task, PointTask) else None


def point_task_of(env: Any) -> PointTask:
    """The :class:`PointTask` of a point env (through wrappers), or the task itself."""
    task = _point_task_or_none(env)
    if task is None:
        raise ValueError(f"env must be a point env (maze or plane) or its PointTask, got {env!r}")
    return task


def env_goal(env: Any, task: PointTask) -> np.ndarray:
    """A point env's current goal (after a reset), else its task's fixed or layout goal,
    else the task's first drawn goal (seed 0)."""
    goal = getattr(getattr(env, "unwrapped", env), "goal", None)
    if goal is not None and np.ndim(goal) == 1:
        return np.asarray(goal, dtype=np.float64)
    return task.sample_goal(np.random.default_rng(0))


# ---- actions and one-step transitions ----------------------------------------------------


def sample_actions(space: spaces.Space, n: int, seed: int = 0) -> np.ndarray:
    """``n`` actions drawn from ``space`` with its own seeded generator, (n, *shape)."""
    own = copy.deepcopy(space)  # the env's space keeps its own generator state
    own.seed(seed)
    return np.stack([own.sample() for _ in range(n)])


def _grid_actions(
    grid: StateGrid, actions: np.ndarray | None, n_actions: int, seed: int
) -> np.ndarray:
    """The K actions to average over: given ones (one action or K), or K sampled."""
    shape = grid.action_space.shape or ()
    if actions is None:
        if not isinstance(n_actions, int | np.integer) or n_actions < 1:
            raise ValueError(f"n_actions must be a positive integer, got {n_actions!r}")
        return sample_actions(grid.action_space, int(n_actions), seed)
    given = np.asarray(actions)
    if given.shape == tuple(shape):
        return given[None]
    if given.ndim == len(shape) + 1 and given.shape[1:] == tuple(shape) and len(given):
        return given
    raise ValueError(
        f"actions must have shape {tuple(shape)} or (K, *{tuple(shape)}), got {given.shape}"
    )


@dataclass(frozen=True)
class _Steps:
    """Every free grid state with each of K actions, repeated state-major: row i*K + k is
    state i with action k."""

    obs: np.ndarray  # (N*K, obs_dim) float32
    actions: np.ndarray  # (N*K, ...)
    next_obs: np.ndarray  # (N*K, obs_dim) float32
    positions: np.ndarray | None  # (N*K, 2) float64, point worlds only
    next_positions: np.ndarray | None
    n_actions: int

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Average of one value per row over the K actions: (N,)."""
        return np.asarray(values, dtype=np.float64).reshape(-1, self.n_actions).mean(axis=1)


def _one_steps(
    grid: StateGrid,
    actions: np.ndarray | None,
    n_actions: int,
    seed: int,
    dynamics: Dynamics | None,
) -> _Steps:
    """One step from every free state with every action: by ``dynamics`` if given, else by
    the point world's ``task.move``, else s' = s."""
    chosen = _grid_actions(grid, actions, n_actions, seed)
    k = len(chosen)
    obs = np.repeat(grid.free_observations(), k, axis=0)
    tiled = np.tile(chosen, (len(obs) // k,) + (1,) * (chosen.ndim - 1))
    positions = next_positions = None
    if dynamics is not None:
        next_obs = np.asarray(dynamics(obs, tiled), dtype=np.float32)
        if next_obs.shape != obs.shape:
            raise ValueError(f"dynamics returned shape {next_obs.shape}; expected {obs.shape}")
    elif grid.task is not None:
        task = grid.task
        # Positions in float64, as the env keeps them (the float32 observation rounds).
        positions = np.repeat(grid.coordinates()[grid.mask.ravel()], k, axis=0)
        next_positions = task.move(positions, task.check_actions(tiled))
        goals = None if grid.goal is None else np.tile(grid.goal, (len(obs), 1))
        next_obs = task.observe(next_positions, goals)
    else:
        next_obs = obs.copy()
    return _Steps(obs, tiled, next_obs, positions, next_positions, k)


# ---- reward maps -------------------------------------------------------------------------


def reward_map(
    grid: StateGrid,
    reward_fn: RewardFn,
    actions: np.ndarray | None = None,
    n_actions: int = 8,
    seed: int = 0,
    dynamics: Dynamics | None = None,
) -> np.ndarray:
    """``E_a R(s, a, s')`` at every grid state: (H, W), NaN at walls.

    Args:
        grid: the states.
        reward_fn: ``reward_fn(obs, actions, next_obs) -> (N,)``, batched.
        actions: one action (used everywhere) or K actions to average over; ``None``:
            ``n_actions`` drawn from the action space with ``seed`` (the expected reward
            of a uniformly random action).
        n_actions: K when sampling.
        seed: seed of the sampled actions.
        dynamics: ``dynamics(obs, actions) -> next_obs``, batched. ``None``: the point
            world's dynamics on point grids; on other grids s' = s, which is exact for a
            reward of the state alone and ignores any dependence on s' otherwise (generic
            envs have no batched model of their dynamics).
    """
    steps = _one_steps(grid, actions, n_actions, seed, dynamics)
    rewards = np.asarray(reward_fn(steps.obs, steps.actions, steps.next_obs), dtype=np.float64)
    if rewards.shape == (len(steps.obs), 1):
        rewards = rewards[:, 0]
    if rewards.shape != (len(steps.obs),):
        raise ValueError(f"reward_fn returned shape {rewards.shape}; expected ({len(steps.obs)},)")
    return grid.to_map(steps.mean(rewards))


def env_reward_map(
    env: Any,
    grid: StateGrid,
    actions: np.ndarray | None = None,
    n_actions: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """A point env's own reward, ``E_a task.reward(s, s')``, at every grid state: (H, W).

    Args:
        env: the point env (its task and current goal are used) or its task.
        grid: a grid of that world (:meth:`StateGrid.maze` or :meth:`StateGrid.plane`).
        actions, n_actions, seed: the actions to average over, as in :func:`reward_map`.
    """
    task = point_task_of(env)
    if grid.task is None:
        raise ValueError("grid must be a point-world grid (StateGrid.maze or StateGrid.plane)")
    own_grid = StateGrid(
        grid.xs, grid.ys, grid.mask, grid.base_observation, grid.dims, task.action_space(), task,
        env_goal(env, task) if task.uses_goal else None,
    )  # fmt: skip
    steps = _one_steps(own_grid, actions, n_actions, seed, None)
    assert steps.positions is not None and steps.next_positions is not None
    goals = None if own_grid.goal is None else np.tile(own_grid.goal, (len(steps.obs), 1))
    rewards, _ = task.reward(steps.positions, steps.next_positions, goals)
    return grid.to_map(steps.mean(rewards))


# ---- stable-baselines3 agents ------------------------------------------------------------


class _EvalMode:
    """Puts an SB3 policy in evaluation mode (batch norm, dropout) and back afterwards."""

    def __init__(self, policy: Any) -> None:
        self.policy, self.was_training = policy, policy.training

    def __enter__(self) -> None:
        self.policy.set_training_mode(False)

    def __exit__(self, *exc: object) -> None:
        self.policy.set_training_mode(self.was_training)


def _in_batches(fn: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, batch_size: int):
    """``fn`` over ``inputs`` in slices of at most ``batch_size`` rows, concatenated."""
    if len(inputs) == 0:
        return fn(inputs)
    return np.concatenate(
        [fn(inputs[start : start + batch_size]) for start in range(0, len(inputs), batch_size)]
    )


def _sb3_values(model: Any, observations: np.ndarray) -> np.ndarray:
    """V(s), Q(s, pi(s)) or max_a Q(s, a) of an SB3 model at observations, float64 (N,)."""
    policy = model.policy
    obs, _ = policy.obs_to_tensor(observations)
    with torch.no_grad(), _EvalMode(policy):
        if hasattr(policy, "predict_values"):  # PPO, A2C
            values = policy.predict_values(obs)[:, 0]
        elif getattr(model, "critic", None) is not None:  # SAC, TD3
            # The actor's deterministic action, in the squashed [-1, 1] scale the critic
            # was trained on.
            actions = policy._predict(obs, deterministic=True)
            values = torch.cat(model.critic(obs, actions), dim=1).min(dim=1).values
        elif getattr(model, "q_net", None) is not None:  # DQN
            values = model.q_net(obs).max(dim=1).values
        else:
            raise ValueError(
                f"model must be an SB3 PPO, A2C, SAC, TD3 or DQN model, got {type(model).__name__}"
            )
    return values.double().cpu().numpy()


def value_map(model: Any, grid: StateGrid, batch_size: int = 16384) -> np.ndarray:
    """A stable-baselines3 agent's value at every grid state: (H, W), NaN at walls.

    PPO and A2C: V(s) (``policy.predict_values``). SAC and TD3: Q(s, pi(s)) with the
    actor's deterministic action, the minimum over the critics (the pessimistic estimate
    their targets use). DQN: max_a Q(s, a). The grid's observations must be what the
    model sees (a model trained behind ``VecNormalize`` needs normalized ones).

    Args:
        model: the SB3 model (``model.policy`` on ``model.device``).
        grid: the states.
        batch_size: most states per forward pass.
    """
    values = _in_batches(lambda o: _sb3_values(model, o), grid.free_observations(), batch_size)
    return grid.to_map(values)


def _sb3_env_actions(model: Any, obs: torch.Tensor) -> np.ndarray:
    """The policy's deterministic action as the env receives it (as ``model.predict``)."""
    policy = model.policy
    with torch.no_grad(), _EvalMode(policy):
        actions = policy._predict(obs, deterministic=True).cpu().numpy()
    actions = actions.reshape((-1, *policy.action_space.shape))
    if policy.squash_output:
        return policy.unscale_action(actions)
    return np.clip(actions, policy.action_space.low, policy.action_space.high)


def advantage_map(
    model: Any,
    grid: StateGrid,
    reward_fn: RewardFn | None = None,
    gamma: float | None = None,
    batch_size: int = 16384,
) -> np.ndarray:
    """One-step advantage of a PPO or A2C policy's deterministic action: (H, W).

    ``A(s) = r(s, a, s') + gamma V(s') - V(s)`` with ``a`` the policy's deterministic action
    (the Gaussian mean, clipped to the box, as ``model.predict(deterministic=True)``) and
    s' from the point world's dynamics: the TD error of the greedy action, positive where
    the critic expects the policy's own choice to do better than its average. Where the
    env's goal reward ends the episode (``reward_mode="goal"``), a successful step does
    not bootstrap.

    Args:
        model: an SB3 PPO or A2C model on a point env.
        grid: a point-world grid (:meth:`StateGrid.maze` or :meth:`StateGrid.plane`).
        reward_fn: the reward ``r``; ``None``: the env's own (``task.reward``).
        gamma: discount; ``None``: the model's.
        batch_size: most states per forward pass.
    """
    if not hasattr(model.policy, "predict_values"):
        raise ValueError(
            f"model must be an SB3 PPO or A2C model (with a state-value critic), "
            f"got {type(model).__name__}"
        )
    task = grid.task
    if task is None:
        raise ValueError("grid must be a point-world grid: the advantage needs its dynamics")
    gamma = float(model.gamma if gamma is None else gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    observations = grid.free_observations()
    positions = grid.coordinates()[grid.mask.ravel()]

    def advantages(index: np.ndarray) -> np.ndarray:
        obs = observations[index]
        obs_tensor, _ = model.policy.obs_to_tensor(obs)
        actions = _sb3_env_actions(model, obs_tensor)
        next_positions = task.move(positions[index], task.check_actions(actions))
        goals = None if grid.goal is None else np.tile(grid.goal, (len(obs), 1))
        next_obs = task.observe(next_positions, goals)
        if reward_fn is None:
            rewards, success = task.reward(positions[index], next_positions, goals)
            terminal = success if task.reward_mode == "goal" else np.zeros(len(obs), bool)
        else:
            rewards = np.asarray(reward_fn(obs, actions, next_obs), dtype=np.float64)
            terminal = np.zeros(len(obs), bool)
        values = _sb3_values(model, obs)
        next_values = _sb3_values(model, next_obs)
        return rewards + gamma * ~terminal * next_values - values

    return grid.to_map(_in_batches(advantages, np.arange(len(observations)), batch_size))


# ---- representations: HILP and METRA -----------------------------------------------------


def _embedding(phi: Any) -> Callable[[np.ndarray], np.ndarray]:
    """phi as a function of numpy observations (N, obs_dim) -> numpy (N, d).

    Accepts an agent with an ``embed`` method (HILP: its first phi network, the one its
    skill reward uses; METRA's ``SkillDiscovery``), a torch module (evaluated on its own
    device; a HILP ``HILPMLP`` ensemble's first member) or any function of a float tensor.
    """
    if callable(getattr(phi, "embed", None)):
        return lambda obs: np.asarray(phi.embed(obs), dtype=np.float64)
    if not callable(phi):
        raise ValueError(
            f"phi must be an agent with embed(), a torch module or a callable, got {phi!r}"
        )
    parameter = next(phi.parameters(), None) if isinstance(phi, torch.nn.Module) else None
    device = parameter.device if parameter is not None else torch.device("cpu")

    def embed(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = phi(torch.as_tensor(obs, dtype=torch.float32, device=device))
        out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        # HILP's networks are ensembles: (members, batch, d); the first member is phi.
        return (out[0] if out.ndim == 3 else out).astype(np.float64)

    return embed


def _goal_observation(grid: StateGrid, goal: np.ndarray) -> np.ndarray:
    """The goal as a full observation: given whole (obs_dim,), or as the grid's two
    coordinates (2,), the others from ``grid.base_observation``."""
    goal = np.asarray(goal, dtype=np.float64)
    if goal.shape == (grid.obs_dim,):
        return goal.astype(np.float32)
    if goal.shape == (2,):
        observation = grid.base_observation.copy()
        observation[list(grid.dims)] = goal
        return observation.astype(np.float32)
    raise ValueError(
        f"goal must be an observation ({grid.obs_dim},) or the grid's two coordinates (2,), "
        f"got shape {goal.shape}"
    )


def goal_value_map(
    phi: Any, grid: StateGrid, goal: np.ndarray, batch_size: int = 16384
) -> np.ndarray:
    """HILP's goal-conditioned value ``-||phi(s) - phi(g)||`` at every grid state: (H, W).

    The plain norm: HILP's training value floors the squared distance at 1e-6 (-1e-3 at
    the goal) to keep its gradient finite; the map shows 0 there.

    Args:
        phi: a HILP agent, a phi module or a function of a float tensor (N, obs_dim) -> (N, d).
        grid: the states.
        goal: the goal observation (obs_dim,), or its two grid coordinates (2,).
        batch_size: most states per evaluation of phi.
    """
    embed = _embedding(phi)
    phi_goal = embed(_goal_observation(grid, goal)[None])
    phi_states = _in_batches(embed, grid.free_observations(), batch_size)
    return grid.to_map(-np.linalg.norm(phi_states - phi_goal, axis=1))


def skill_reward_map(
    phi: Any,
    grid: StateGrid,
    skill: np.ndarray,
    actions: np.ndarray | None = None,
    n_actions: int = 8,
    seed: int = 0,
    dynamics: Dynamics | None = None,
    batch_size: int = 16384,
) -> np.ndarray:
    """The skill reward ``E_a (phi(s') - phi(s)) . z`` at every grid state: (H, W).

    METRA's and LSD's intrinsic reward (and HILP's skill-policy reward) for one skill z,
    averaged over actions as :func:`reward_map` does: where moving at random advances
    along z in the latent space. For a METRA agent with one-hot skills, z is replaced by
    its reward direction (+1 on the skill, -1/(D-1) elsewhere), as its reward does. DIAYN
    rewards differently (a log-likelihood of z) and is refused.

    Args:
        phi: a METRA ``SkillDiscovery`` or HILP agent, a phi module or a function of a
            float tensor (N, obs_dim) -> (N, d).
        grid: the states.
        skill: z, shape (d,).
        actions, n_actions, seed: the actions to average over, as in :func:`reward_map`.
        dynamics: ``dynamics(obs, actions) -> next_obs``; ``None``: the point world's.
        batch_size: most states per evaluation of phi.
    """
    if getattr(phi, "objective", None) == "diayn":
        raise ValueError(
            "phi is a DIAYN agent: its reward is log q(z | s'), not (phi(s') - phi(s)) . z"
        )
    if grid.task is None and dynamics is None:
        raise ValueError(
            "skill_reward_map needs dynamics: give dynamics(obs, actions) -> next_obs, "
            "or use a point-world grid"
        )
    z = np.asarray(skill, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError(f"skill must be one vector (d,), got shape {z.shape}")
    if getattr(phi, "skill_type", None) == "discrete":
        z = (z - z.mean()) * len(z) / (len(z) - 1)
    embed = _embedding(phi)
    steps = _one_steps(grid, actions, n_actions, seed, dynamics)
    # phi(s) once per state, phi(s') once per (state, action).
    phi_states = _in_batches(embed, grid.free_observations(), batch_size)
    phi_next = _in_batches(embed, steps.next_obs, batch_size)
    if phi_next.shape[1] != len(z):
        raise ValueError(f"skill has dimension {len(z)}, but phi outputs {phi_next.shape[1]}")
    moves = phi_next - np.repeat(phi_states, steps.n_actions, axis=0)
    return grid.to_map(steps.mean(moves @ z))


def _check_skill_agent(agent: Any, skill: np.ndarray) -> np.ndarray:
    if not isinstance(agent, HILP | SkillDiscovery):
        raise ValueError(
            f"agent must be a SkillDiscovery (METRA, DIAYN, LSD) or HILP agent, got "
            f"{type(agent).__name__}"
        )
    z = np.asarray(skill, dtype=np.float32)
    expected = agent.latent_dim if isinstance(agent, HILP) else agent.skill_dim
    if z.shape != (expected,):
        raise ValueError(f"skill must have shape ({expected},), got {z.shape}")
    return z


def _skill_inputs(agent: HILP | SkillDiscovery, obs: np.ndarray, z: np.ndarray) -> torch.Tensor:
    inputs = np.concatenate([obs, np.broadcast_to(z, (len(obs), len(z)))], axis=1)
    return torch.as_tensor(inputs, dtype=torch.float32, device=agent.device)


@torch.no_grad()
def _skill_actions(agent: HILP | SkillDiscovery, inputs: torch.Tensor) -> torch.Tensor:
    """The skill policy's deterministic action for (s, z) inputs."""
    return agent.actor(inputs) if isinstance(agent, HILP) else agent.sac.actor.deterministic(inputs)


@torch.no_grad()
def _skill_values(
    agent: HILP | SkillDiscovery,
    obs: np.ndarray,
    z: np.ndarray,
    actions: torch.Tensor | None = None,
) -> np.ndarray:
    """HILP: V(s, z); our SAC: min_i Q_i((s, z), pi(s, z)), with ``actions`` as pi(s, z)
    when the caller has them already. float64 (N,)."""
    inputs = _skill_inputs(agent, obs, z)
    if isinstance(agent, HILP):
        values = agent.v(inputs)[0, :, 0]
    else:
        sac = agent.sac
        actions = _skill_actions(agent, inputs) if actions is None else actions
        values = sac.q_values(sac.critic, inputs, actions).min(0).values
    return values.double().cpu().numpy()


def skill_value_map(
    agent: Any, grid: StateGrid, skill: np.ndarray, batch_size: int = 16384
) -> np.ndarray:
    """What a skill policy has learned to expect from each grid state for one skill z: (H, W).

    METRA, DIAYN and LSD (a ``SkillDiscovery``, our SAC): ``min_i Q_i((s, z), pi(s, z))``
    with the policy's deterministic action, the lower of the twin critics as in their
    targets (:func:`value_map`'s convention for SB3's SAC). HILP: its skill policy's IQL
    value ``V(s, z)``. Either is the expected (discounted) sum of the skill reward from s
    on, so it rises where the skill can still travel far along z.

    Args:
        agent: a ``SkillDiscovery`` or ``HILP`` agent.
        grid: the states (observations the agent takes).
        skill: z, shape (skill dimension,).
        batch_size: most states per forward pass.
    """
    z = _check_skill_agent(agent, skill)
    values = _in_batches(
        lambda obs: _skill_values(agent, obs, z), grid.free_observations(), batch_size
    )
    return grid.to_map(values)


def skill_advantage_map(
    agent: Any,
    grid: StateGrid,
    skill: np.ndarray,
    gamma: float | None = None,
    batch_size: int = 16384,
) -> np.ndarray:
    """One-step advantage of a skill policy's deterministic action for one skill z: (H, W).

    ``A(s) = r_z(s, s') + gamma V(s') - V(s)``, :func:`advantage_map`'s TD error for a skill
    policy: ``a`` its deterministic action, s' from the point world's dynamics, ``r_z`` the
    agent's own skill reward and ``V`` :func:`skill_value_map`'s. Positive where the
    critic expects the policy's own step to do better than it expected of the state.

    Args:
        agent: a ``SkillDiscovery`` or ``HILP`` agent.
        grid: a point-world grid (:meth:`StateGrid.maze` or :meth:`StateGrid.plane`).
        skill: z, shape (skill dimension,).
        gamma: discount; ``None``: the agent's.
        batch_size: most states per forward pass.
    """
    z = _check_skill_agent(agent, skill)
    task = grid.task
    if task is None:
        raise ValueError("grid must be a point-world grid: the advantage needs its dynamics")
    gamma = float(
        (agent.gamma if isinstance(agent, HILP) else agent.sac.gamma) if gamma is None else gamma
    )
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    observations = grid.free_observations()
    positions = grid.coordinates()[grid.mask.ravel()]
    # The reward the agent trains on (phi in eval mode, as for its surfaces), times METRA's
    # reward scale, which its critics learned.
    reward_of = skill_reward_of(agent, z)
    scale = 1.0 if isinstance(agent, HILP) else float(agent.reward_scale)

    def advantages(index: np.ndarray) -> np.ndarray:
        obs = observations[index]
        actions = _skill_actions(agent, _skill_inputs(agent, obs, z))
        next_positions = task.move(positions[index], task.check_actions(actions.cpu().numpy()))
        goals = None if grid.goal is None else np.tile(grid.goal, (len(obs), 1))
        next_obs = task.observe(next_positions, goals)
        rewards = scale * reward_of(obs, next_obs)
        next_values = _skill_values(agent, next_obs, z)
        return rewards + gamma * next_values - _skill_values(agent, obs, z, actions)

    return grid.to_map(_in_batches(advantages, np.arange(len(observations)), batch_size))
