"""Offline datasets in the Minari format: build them on the point mazes, load any of them.

A dataset is a Minari dataset (arrow format) under ``<root>/<namespace>/<name>-v<N>``.
The root is ``$MINARI_DATASETS_PATH`` when set (so datasets a user already has are
found), else ``<workbench home>/datasets``. Ids without a namespace get ``workbench/``
and ids without a version get ``-v0``: ``umaze-play`` is ``workbench/umaze-play-v0``.

For training, :func:`load_dataset` flattens the episodes into :class:`OfflineData`: every
transition with the index of its episode's last state, which is what HILP's goal
sampling needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

import environments  # noqa: F401  (registers the ids)
from workbench.datasets.behaviours import BEHAVIOURS, make_behaviour
from workbench.runs.store import default_home


class DatasetError(ValueError):
    """A dataset that does not exist, cannot be read, or does not fit its use."""


def datasets_root(home: str | Path | None = None) -> Path:
    """Where datasets live: ``$MINARI_DATASETS_PATH`` or ``<home>/datasets``."""
    if os.environ.get("MINARI_DATASETS_PATH"):
        return Path(os.environ["MINARI_DATASETS_PATH"])
    return Path(home or default_home()) / "datasets"


def dataset_id(name: str) -> str:
    """The full Minari id of ``name`` (namespace and version added when missing)."""
    full = name if "/" in name else f"workbench/{name}"
    if not re.search(r"-v\d+$", full):
        full += "-v0"
    if not re.fullmatch(r"[\w.-]+/[\w.-]+-v\d+", full):
        raise DatasetError(
            f"dataset name {name!r} is not valid: use letters, digits, '.', '_' and '-'"
        )
    return full


@contextlib.contextmanager
def _minari_root(root: Path) -> Iterator[None]:
    """Point Minari at ``root`` for the duration (it reads the variable at each call)."""
    before = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if before is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = before


def collect(
    env_id: str, behaviour: str, episodes: int, episode_steps: int = 1_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``behaviour`` for ``episodes`` episodes of ``episode_steps`` steps on ``env_id``,
    all at once. Offline episodes may be longer than the environment's own limit, as in
    D4RL's and OGBench's mazes: long trajectories give far-apart goals.

    Returns observations (episodes, T + 1, 2) and actions (episodes, T, 2).
    """
    if env_id not in gym.registry:
        raise DatasetError(f"unknown environment {env_id!r}; see `workbench envs`")
    if gym.registry[env_id].vector_entry_point is None or not env_id.startswith("workbench/P"):
        raise DatasetError(f"{env_id!r} is not a point environment; datasets are built on those")
    if episodes < 1 or episode_steps < 1:
        raise DatasetError(
            f"episodes and episode_steps must be at least 1, got {episodes} and {episode_steps}"
        )
    kwargs = {} if env_id == "workbench/Plane-v0" else {"reward_mode": "none"}
    env = gym.make_vec(
        env_id,
        num_envs=episodes,
        vectorization_mode="vector_entry_point",
        max_episode_steps=episode_steps,
        **kwargs,
    )
    task, steps = env.task, episode_steps
    rng = np.random.default_rng(seed)
    agent = make_behaviour(behaviour, task.maze, task.max_action, rng)
    positions, _ = env.reset(seed=seed)
    agent.reset(positions)
    observations, actions = [positions], []
    for _ in range(steps):
        action = agent.act(positions).astype(np.float32)
        positions, *_ = env.step(action)
        observations.append(positions)
        actions.append(action)
    env.close()
    return np.stack(observations, 1).astype(np.float32), np.stack(actions, 1)


def build_dataset(
    name: str,
    env_id: str,
    behaviour: str,
    episodes: int = 200,
    episode_steps: int = 1_000,
    seed: int = 0,
    home: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Collect ``episodes`` x ``episode_steps`` of ``behaviour`` on ``env_id`` and save them
    as Minari dataset ``name``; returns its folder. An existing dataset is kept unless
    ``overwrite``."""
    import minari
    from minari.data_collector import EpisodeBuffer

    if behaviour not in BEHAVIOURS:
        raise DatasetError(
            f"unknown behaviour {behaviour!r}; choose one of {', '.join(BEHAVIOURS)}"
        )
    full_id, root = dataset_id(name), datasets_root(home)
    folder = root / full_id
    if folder.exists() and not overwrite:
        raise DatasetError(
            f"dataset {full_id!r} already exists at {folder}; pass overwrite=True (--overwrite)"
        )
    observations, actions = collect(env_id, behaviour, episodes, episode_steps, seed)
    steps = actions.shape[1]
    truncations = np.zeros(steps, dtype=bool)
    truncations[-1] = True
    buffers = [
        EpisodeBuffer(
            id=i,
            seed=seed if i == 0 else None,
            observations=observations[i],
            actions=actions[i],
            rewards=np.zeros(steps, dtype=np.float32),
            terminations=np.zeros(steps, dtype=bool),
            truncations=truncations,
        )
        for i in range(episodes)
    ]
    with _minari_root(root), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Minari's "no author / permalink" notes
        if folder.exists():
            minari.delete_dataset(full_id)
        minari.create_dataset_from_buffers(
            full_id,
            buffers,
            env=env_id,
            algorithm_name=f"workbench behaviour {behaviour!r}, seed {seed}",
            author="RL Workbench",
            description=(
                f"{episodes} episodes of the {behaviour!r} behaviour on {env_id}; "
                "observations are (x, y); rewards are zero (unlabeled)."
            ),
            data_format="arrow",
        )
    return folder


@dataclass
class OfflineData:
    """Transitions of a dataset, flattened, with what goal sampling needs.

    ``observations[i] -> next_observations[i]`` by ``actions[i]``; ``final_index[i]`` is
    the index (in ``states``) of the last state of transition i's episode, and
    ``state_index[i]`` the index of its first state, so the states of one episode after
    transition i are ``states[state_index[i] + 1 : final_index[i] + 1]``.
    """

    name: str
    env_id: str | None
    states: np.ndarray  # every state of every episode, episode after episode
    actions: np.ndarray
    state_index: np.ndarray
    final_index: np.ndarray

    @property
    def observations(self) -> np.ndarray:
        return self.states[self.state_index]

    @property
    def next_observations(self) -> np.ndarray:
        return self.states[self.state_index + 1]

    def __len__(self) -> int:
        return len(self.state_index)


def load_dataset(name: str, home: str | Path | None = None) -> OfflineData:
    """Load Minari dataset ``name`` (ours or any other with flat Box observations)."""
    import minari

    full_id, root = dataset_id(name), datasets_root(home)
    folder = root / full_id
    if not folder.exists():
        known = (
            sorted(str(p.relative_to(root)) for p in root.glob("*/*-v*")) if root.exists() else []
        )
        raise DatasetError(
            f"no dataset {full_id!r} under {root}"
            + (
                f"; there are: {', '.join(known)}"
                if known
                else "; build one with `workbench dataset build`"
            )
        )
    try:
        with _minari_root(root):
            dataset = minari.load_dataset(full_id)
            episodes = [(e.observations, e.actions) for e in dataset.iterate_episodes()]
            env_spec = dataset.spec.env_spec
    except Exception as error:  # Minari raises many kinds; all mean "cannot read it"
        raise DatasetError(
            f"dataset {full_id!r} at {folder} cannot be read ({type(error).__name__}: {error}); "
            "it may be truncated or not a Minari dataset: rebuild it"
        ) from error
    if not episodes:
        raise DatasetError(f"dataset {full_id!r} has no episodes")
    states, actions, state_index, final_index, offset = [], [], [], [], 0
    for observations, episode_actions in episodes:
        if not isinstance(observations, np.ndarray) or observations.ndim != 2:
            raise DatasetError(
                f"dataset {full_id!r}: observations must be flat vectors, got {type(observations).__name__}"
            )
        if len(observations) != len(episode_actions) + 1:
            raise DatasetError(
                f"dataset {full_id!r}: an episode has {len(observations)} observations for "
                f"{len(episode_actions)} actions (expected one more)"
            )
        length = len(episode_actions)
        states.append(observations)
        actions.append(episode_actions)
        state_index.append(offset + np.arange(length))
        final_index.append(np.full(length, offset + length))
        offset += length + 1
    return OfflineData(
        name=full_id,
        env_id=env_spec.id if env_spec is not None else None,
        states=np.concatenate(states).astype(np.float32),
        actions=np.concatenate(actions).astype(np.float32),
        state_index=np.concatenate(state_index),
        final_index=np.concatenate(final_index),
    )


def list_datasets(home: str | Path | None = None) -> list[str]:
    """Ids of the datasets under the datasets root."""
    root = datasets_root(home)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*-v*") if p.is_dir())
