"""Deterministic MiniGrid environments as tabular :class:`HorizonMDP` s, the way the BRIDGE
dataset of the effective-horizon papers builds them (``../shared/HORIZON.md``).

The analyses need every state an agent can reach within the horizon T and, for each kept
action, its successor and reward. This module finds them by breadth-first search in the
real environment: it resets with a fixed seed, then from each state reached in fewer than
T steps restores the state, takes every kept action and records where it leads.

As BRIDGE does:

- "Empty" environments keep the 3 navigation actions (left, right, forward), all others
  the first 6 (everything but "done", which does nothing);
- any positive reward becomes 1 (MiniGrid's success reward decays with the step count);
- the step counter is set to 0 before every step, so the environment is time-invariant:
  the reward does not decay and MiniGrid's own ``max_steps`` never truncates an episode;
- the episode ends (successor -1) when the environment terminates.

A state first reached after exactly T steps is never acted in within the horizon, so it
is not kept and a transition into it is recorded as the end of the episode (as the
authors' ``construct_mdp`` does); the MDP is therefore exact for any horizon up to T and
must not be analysed with a longer one.

Consolidation then merges states that no action sequence can tell apart (the same
observations and rewards whatever the agent does), which preserves every value function.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from workbench.horizon.mdp import TERMINAL, HorizonMDP
from workbench.horizon.progress import Progress
from workbench.runs.store import default_home

MINIGRID_HORIZON = 100
"""BRIDGE's horizon T for MiniGrid (other BRIDGE MDPs have their own: never assumed)."""

NAVIGATION_ACTIONS = 3
"""Actions BRIDGE keeps in the "Empty" environments: left, right, forward (0, 1, 2)."""

NO_DONE_ACTIONS = 6
"""Actions BRIDGE keeps elsewhere: all of MiniGrid's but "done" (6), a no-op."""

STATIC_OBJECT_TYPES = frozenset({"wall", "floor", "goal", "lava"})
"""World objects with no attribute a step can change: their state is never saved."""

MAX_STATES = 250_000
"""States :func:`enumerate_states` finds before it gives up. A state costs up to six
environment steps of about 200 us each, so the cap is about five minutes on one core (an
estimate from the step time, not a measured enumeration). The largest MiniGrid grids (16x16
rooms, obstructed mazes) have far more states within BRIDGE's horizon."""

PROGRESS_EVERY = 256
"""States expanded between two calls of :func:`enumerate_states`' progress (a few ms
of work: often enough to watch, rarely enough to cost nothing)."""

MUTABLE_ATTRIBUTES = ("is_open", "is_locked", "contains")
"""Object attributes that are part of a state's identity (a door's open/locked state, a
box's contents). Positions of movable objects are already in the grid's cell list."""


def kept_actions(env_id: str) -> int:
    """How many of MiniGrid's actions (the first ones) BRIDGE keeps for ``env_id``."""
    return NAVIGATION_ACTIONS if "Empty" in env_id else NO_DONE_ACTIONS


def make_minigrid(env_id: str, seed: int = 0) -> gym.Env:
    """``gymnasium.make(env_id)`` reset with ``seed``, after checking that the id exists
    and is a MiniGrid environment (one-line ``ValueError`` s otherwise)."""
    import minigrid  # noqa: F401  (registers the MiniGrid-* and BabyAI-* ids)
    from minigrid.minigrid_env import MiniGridEnv

    if env_id not in gym.registry:
        raise ValueError(f"unknown environment id {env_id!r}")
    env = gym.make(env_id)
    if not isinstance(env.unwrapped, MiniGridEnv):
        env.close()
        raise ValueError(f"{env_id!r} is not a MiniGrid environment")
    env.reset(seed=seed)
    return env


def binarize(reward: float) -> float:
    """BRIDGE's reward: 1 for any positive reward, the reward itself otherwise."""
    return 1.0 if reward > 0 else float(reward)


def _world_objects(env: Any) -> Iterator[Any]:
    """Every world object of ``env``: in the grid, carried, or inside a box."""
    stack = [cell for cell in env.grid.grid if cell is not None]
    if env.carrying is not None:
        stack.append(env.carrying)
    while stack:
        obj = stack.pop()
        yield obj
        contents = getattr(obj, "contains", None)
        if contents is not None:
            stack.append(contents)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What a MiniGrid step can change, by reference: the grid's cell list (the objects
    themselves are never copied), the agent, and the attributes of movable or stateful
    objects. Restoring it keeps every object's identity, so references the environment
    holds (KeyCorridor's target ``obj``) stay valid.

    Measured on DoorKey-8x8 and KeyCorridorS3R2 (2 cores): taking and restoring one
    takes 7-12 us, against 230-440 us for ``copy.deepcopy`` of the grid and carried
    object, 770-810 us for a deepcopy of the whole unwrapped env and 140-340 us for
    ``Grid.encode`` + ``Grid.decode`` (which also loses box contents and the identity of
    objects the env refers to). A step itself takes 4-7 us without its observation.
    """

    agent_pos: tuple[int, int]
    agent_dir: int
    carrying: Any
    cells: list[Any]
    attributes: tuple[dict[str, Any], ...]


class _StateCodec:
    """Takes, restores and names (hashable keys) the full state of one MiniGrid env."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.grid = env.grid
        objects = list(_world_objects(env))
        self.known_ids = {id(obj) for obj in objects}
        # Objects whose attributes a step may change (doors, keys, balls, boxes).
        self.tracked = [obj for obj in objects if obj.type not in STATIC_OBJECT_TYPES]
        self.key_fields = [
            (obj, name, name == "contains")
            for obj in self.tracked
            for name in MUTABLE_ATTRIBUTES
            if hasattr(obj, name)
        ]

    def snapshot(self) -> _Snapshot:
        env = self.env
        return _Snapshot(
            (int(env.agent_pos[0]), int(env.agent_pos[1])),
            int(env.agent_dir),
            env.carrying,
            list(env.grid.grid),
            tuple(dict(vars(obj)) for obj in self.tracked),
        )

    def restore(self, snapshot: _Snapshot) -> None:
        env = self.env
        env.agent_pos = snapshot.agent_pos
        env.agent_dir = snapshot.agent_dir
        env.carrying = snapshot.carrying
        env.grid = self.grid
        self.grid.grid[:] = snapshot.cells
        for obj, attributes in zip(self.tracked, snapshot.attributes, strict=True):
            state = vars(obj)
            state.clear()
            state.update(attributes)

    def key(self) -> tuple[Any, ...]:
        """The current state's identity: the agent, which object lies in each cell (by
        identity: objects are moved, never created), the carried object and the doors'
        and boxes' state. Two identical-looking objects swapped count as two states;
        consolidation merges them again."""
        env = self.env
        if env.grid is not self.grid:
            raise ValueError(f"{env.spec.id}: a step replaced the grid; not supported")
        return (
            int(env.agent_pos[0]),
            int(env.agent_pos[1]),
            int(env.agent_dir),
            id(env.carrying),
            tuple(map(id, self.grid.grid)),
            tuple(
                id(getattr(obj, name)) if is_reference else getattr(obj, name)
                for obj, name, is_reference in self.key_fields
            ),
        )

    def check_objects(self) -> None:
        """Refuse environments whose steps create world objects (states would then not be
        told apart by object identity)."""
        cells = {id(cell) for cell in self.grid.grid if cell is not None}
        if self.env.carrying is not None:
            cells.add(id(self.env.carrying))
        if not cells <= self.known_ids:
            raise ValueError(f"{self.env.spec.id}: a step created world objects; not supported")


@dataclass
class Enumeration:
    """The states reachable within the horizon, before consolidation.

    Attributes:
        successors: (S, A) next state, -1 when the episode ends (or the next state is
            first reached only at the horizon).
        rewards: (S, A) binarized rewards.
        observations: (S,) id of each state's observation (egocentric image and
            direction); equal ids mean equal observations.
        positions: (S, 2) the agent's grid (x, y).
        depths: (S,) the least number of steps that reaches each state (BFS order).
        seconds: wall-clock time the enumeration took.
        parents: (S, 2) the state and action that first reached each state (-1 for the
            start), so any state can be reached again by replaying a path.
    """

    successors: np.ndarray
    rewards: np.ndarray
    observations: np.ndarray
    positions: np.ndarray
    depths: np.ndarray
    seconds: float
    parents: np.ndarray


class TooManyStates(ValueError):
    """An environment has more states within the horizon than :data:`MAX_STATES`."""


def installed_ids() -> list[str]:
    """Every ``MiniGrid-*`` id registered by the installed ``minigrid`` package (empty
    when it is not installed), sorted by name."""
    try:
        import minigrid  # noqa: F401  (registers the ids)
    except ModuleNotFoundError:
        return []
    return sorted(env_id for env_id in gym.registry if env_id.startswith("MiniGrid-"))


def enumerate_states(
    env_id: str,
    horizon: int = MINIGRID_HORIZON,
    seed: int = 0,
    progress: Progress | None = None,
    max_states: int | None = None,
) -> Enumeration:
    """Breadth-first search over every state reachable from the reset state (seed
    ``seed``) in fewer than ``horizon`` steps, with BRIDGE's kept actions, binarized
    rewards and time-invariant steps. State 0 is the start state.

    ``progress`` is called with (states expanded, states found so far) every
    :data:`PROGRESS_EVERY` states and at the end, when both are equal: how many states
    there are is known only then. More than ``max_states`` states (default
    :data:`MAX_STATES`) raise :class:`TooManyStates`."""
    max_states = MAX_STATES if max_states is None else max_states
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    started = time.perf_counter()
    wrapped = make_minigrid(env_id, seed)
    env = wrapped.unwrapped
    codec = _StateCodec(env)
    rng_before = env.np_random.bit_generator.state
    observe = type(env).gen_obs  # the real one; the instance's is silenced below
    num_actions = kept_actions(env_id)

    index: dict[tuple[Any, ...], int] = {codec.key(): 0}
    observation_ids: dict[bytes, int] = {}

    def observation_id() -> int:
        observation = observe(env)
        name = observation["image"].tobytes() + bytes([int(observation["direction"])])
        return observation_ids.setdefault(name, len(observation_ids))

    snapshots: list[_Snapshot | None] = [codec.snapshot()]
    observations = [observation_id()]
    positions = [env.agent_pos]
    depths = [0]
    parents = [(-1, -1)]
    successors: list[list[int]] = []
    rewards: list[list[float]] = []
    # A step computes an observation nobody reads here (about 200 us of its 200-230 us);
    # the observation of each new state is taken once, through ``observe``.
    env.gen_obs = lambda: None
    try:
        state = 0
        while state < len(snapshots):
            if progress is not None and state % PROGRESS_EVERY == 0:
                progress(state, len(snapshots))
            snapshot = snapshots[state]
            assert snapshot is not None
            snapshots[state] = None  # expanded once: free it
            row_successors: list[int] = []
            row_rewards: list[float] = []
            for action in range(num_actions):
                codec.restore(snapshot)
                env.step_count = 0  # time-invariant: no reward decay, no truncation
                _, reward, terminated, _, _ = env.step(action)
                row_rewards.append(binarize(float(reward)))
                if terminated:
                    row_successors.append(TERMINAL)
                    continue
                key = codec.key()
                successor = index.get(key)
                if successor is None and depths[state] + 1 < horizon:
                    if len(snapshots) >= max_states:
                        raise TooManyStates(
                            f"{env_id} has more than {max_states:,} states reachable in "
                            f"fewer than T={horizon} steps, more than the workbench "
                            "enumerates; choose a smaller grid or a shorter horizon T"
                        )
                    codec.check_objects()
                    successor = index[key] = len(snapshots)
                    snapshots.append(codec.snapshot())
                    observations.append(observation_id())
                    positions.append(env.agent_pos)
                    depths.append(depths[state] + 1)
                    parents.append((state, action))
                row_successors.append(TERMINAL if successor is None else successor)
            successors.append(row_successors)
            rewards.append(row_rewards)
            state += 1
        if progress is not None:
            progress(state, state)
    finally:
        del env.gen_obs
        wrapped.close()
    if env.np_random.bit_generator.state != rng_before:
        raise ValueError(f"{env_id!r} draws random numbers when stepping: not deterministic")
    return Enumeration(
        np.asarray(successors, dtype=np.int64),
        np.asarray(rewards, dtype=np.float64),
        np.asarray(observations, dtype=np.int64),
        np.asarray(positions, dtype=np.int64).reshape(-1, 2),
        np.asarray(depths, dtype=np.int64),
        time.perf_counter() - started,
        np.asarray(parents, dtype=np.int64),
    )


def consolidation_classes(
    successors: np.ndarray, rewards: np.ndarray, observations: np.ndarray
) -> np.ndarray:
    """(S,) class of each state in the coarsest partition that separates different
    observations and is stable under every action (same rewards, same successor class,
    both terminal or neither): the states no action sequence can tell apart.

    Partition refinement: start from the observation classes and split each class by the
    row (class, reward ids, successor classes) until the number of classes stops growing.
    Each round is one ``np.unique`` over the (S, 1 + 2A) rows. Classes are numbered in
    order of their first state, so state 0's class is 0."""
    _, classes = np.unique(observations, return_inverse=True)
    _, reward_ids = np.unique(rewards, return_inverse=True)
    reward_ids = reward_ids.reshape(rewards.shape)
    num_classes = classes.max() + 1
    while True:
        successor_classes = np.where(successors >= 0, classes[successors], TERMINAL)
        rows = np.concatenate([classes[:, None], reward_ids, successor_classes], axis=1)
        _, refined = np.unique(rows, axis=0, return_inverse=True)
        refined = refined.ravel()
        # The class is part of each row, so this refines the partition; the same number
        # of classes means the same partition: a fixed point.
        if refined.max() + 1 == num_classes:
            break
        classes, num_classes = refined, refined.max() + 1
    _, first = np.unique(classes, return_index=True)
    order = np.argsort(first)
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[classes]


def _to_mdp(
    enumeration: Enumeration, horizon: int, name: str, classes: np.ndarray | None
) -> HorizonMDP:
    """The HorizonMDP of an enumeration, or of its quotient by ``classes`` (each class
    takes the rewards, successors and position of its first state in BFS order)."""
    successors, rewards, positions = (
        enumeration.successors,
        enumeration.rewards,
        enumeration.positions,
    )
    if classes is not None:
        _, representatives = np.unique(classes, return_index=True)
        successors = successors[representatives]
        successors = np.where(successors >= 0, classes[successors], TERMINAL)
        rewards = rewards[representatives]
        positions = positions[representatives]
    return HorizonMDP(
        successors, np.ones(successors.shape), rewards, horizon, name=name, positions=positions
    )


def tabularize(
    env_id: str,
    horizon: int = MINIGRID_HORIZON,
    seed: int = 0,
    consolidate: bool = True,
    progress: Progress | None = None,
) -> HorizonMDP:
    """The deterministic MiniGrid environment ``env_id`` (reset with ``seed``) as BRIDGE
    tabularizes it for horizon ``horizon``: start state 0, ``positions`` the agent's
    (x, y) per state. With ``consolidate``, states no action sequence can tell apart are
    merged (a merged state keeps the position of its first-reached member, so merged
    cells can show in one cell of a heat map). ``progress``: the enumeration's, as in
    :func:`enumerate_states`."""
    enumeration = enumerate_states(env_id, horizon, seed, progress)
    classes = None
    if consolidate:
        classes = consolidation_classes(
            enumeration.successors, enumeration.rewards, enumeration.observations
        )
    return _to_mdp(enumeration, horizon, env_id, classes)


def cache_path(
    env_id: str, horizon: int = MINIGRID_HORIZON, seed: int = 0, cache_dir: str | Path | None = None
) -> Path:
    """Where :func:`tabularize_cached` keeps ``env_id``'s consolidated MDP:
    ``<cache_dir or the workbench home>/mdps/<env_id>_T<horizon>_seed<seed>.npz``."""
    if cache_dir is None:
        cache_dir = default_home()
    file_name = f"{env_id.replace('/', '_')}_T{horizon}_seed{seed}.npz"
    return Path(cache_dir) / "mdps" / file_name


def tabularize_cached(
    env_id: str,
    horizon: int = MINIGRID_HORIZON,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> HorizonMDP:
    """:func:`tabularize` (consolidated), read from the BRIDGE-format npz at
    :func:`cache_path` when it exists and written there otherwise, since enumerating a
    large environment takes minutes. ``progress``: the enumeration's (not called when
    the file is read)."""
    path = cache_path(env_id, horizon, seed, cache_dir)
    if path.is_file():
        mdp = HorizonMDP.load_bridge(path, horizon)
    else:
        mdp = tabularize(env_id, horizon, seed, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed, so that an interrupted or
        # concurrent run never leaves a partial file behind.
        partial = path.with_name(f"{path.stem}.partial-{os.getpid()}.npz")
        try:
            mdp.save_bridge(partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    mdp.name = env_id
    return mdp


@functools.lru_cache(maxsize=4)
def _first_members(env_id: str, horizon: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each consolidated state's first-reached member, and the enumeration's parents."""
    enumeration = enumerate_states(env_id, horizon, seed)
    classes = consolidation_classes(
        enumeration.successors, enumeration.rewards, enumeration.observations
    )
    _, representatives = np.unique(classes, return_index=True)
    return representatives, enumeration.parents


def replay_state(
    env_id: str,
    state: int,
    horizon: int = MINIGRID_HORIZON,
    seed: int = 0,
    render_mode: str | None = None,
) -> gym.Env:
    """A fresh environment in state ``state`` of :func:`tabularize_cached` (``env_id``,
    ``horizon``, ``seed``): its first-reached member, reached again by replaying the
    breadth-first search's path from the reset state. The caller closes it."""
    representatives, parents = _first_members(env_id, horizon, seed)
    if not 0 <= state < len(representatives):
        raise ValueError(f"{env_id} has states 0..{len(representatives) - 1}, not {state}")
    path, member = [], int(representatives[state])
    while member > 0:
        member, action = (int(x) for x in parents[member])
        path.append(action)
    env = gym.make(env_id, render_mode=render_mode)
    env.reset(seed=seed)
    for action in reversed(path):
        env.unwrapped.step_count = 0  # as in the enumeration: time-invariant steps
        env.step(action)
    return env


def state_picture(
    env_id: str, state: int, horizon: int = MINIGRID_HORIZON, seed: int = 0
) -> np.ndarray:
    """An RGB picture of one state of :func:`tabularize_cached`'s MDP (see
    :func:`replay_state`)."""
    env = replay_state(env_id, state, horizon, seed, render_mode="rgb_array")
    try:
        return np.asarray(env.render())
    finally:
        env.close()


__all__ = [
    "MINIGRID_HORIZON",
    "Enumeration",
    "binarize",
    "cache_path",
    "consolidation_classes",
    "enumerate_states",
    "kept_actions",
    "make_minigrid",
    "replay_state",
    "state_picture",
    "tabularize",
    "tabularize_cached",
]
