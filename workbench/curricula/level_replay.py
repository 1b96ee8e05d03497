"""Level teachers (PLR, robust PLR, ACCEL, uniform) driving an SB3 PPO student.

The pieces, each small and usable on its own::

    feed = LevelFeed(teacher, copies=8)
    venv = level_copies(feed, copies=8, seed=0)           # each reset plays teacher.sample()
    model = LevelReplayPPO("MlpPolicy", venv, n_steps=128, batch_size=256, n_epochs=4)
    model.learn(100_000, callback=LevelReplayCallback(feed))

- :class:`LevelTasks` (an env wrapper) asks the feed for the teacher's next level at every
  reset of its environment copy, SB3's automatic resets included.
- :class:`LevelReplayCallback` records, at every step and for every copy, the student's
  value estimate ``V(s_t)`` (computed by PPO while collecting) and the reward, and when an
  episode ends hands the whole episode to ``teacher.update_episode`` (GAE scores).
- :class:`LevelReplayPPO` is PPO that takes no gradient step on samples the teacher says
  not to train on (robust PLR and ACCEL: new and edited levels).

Scoring across rollout boundaries: an episode that starts in one rollout and ends in the
next is *carried*: its values and rewards are kept until it ends, then scored once, over the
whole episode, by the teacher's own GAE (``last_value`` is 0 at the goal and the value of
the final observation when the step limit cut the episode). level-replay instead scores
the part inside each rollout with the rollout's advantages and merges the parts by a
step-weighted running mean; carrying gives the teacher exactly the per-episode score of
its definition (and MaxMC the true episode return), at the cost of one list per copy. The
values of an episode's earlier part come from the policy before the update in between,
as in level-replay.

No gradient step on new levels (robust PLR, ACCEL): PLR's teachers decide per episode
whether a level is replayed, so the decision is kept per sample. The callback marks each
sample of the rollout buffer trainable or not (the episode's ``should_train``), the
buffer's minibatches draw from the trainable samples only (policy, value and entropy
terms alike), and a rollout without any trainable sample skips ``train()`` entirely: the
parameters and the optimizer's state stay exactly as they were. Deciding per rollout
instead (all copies on new levels or all on replays, as minimax and jaxued do with levels
fixed for a whole rollout) would need the teacher to choose for all copies at once; masking
keeps the teacher's per-episode sampling, and each trained sample's advantage is the same
as without masking (GAE stops at episode boundaries). When every sample trains (PLR,
uniform sampling) the minibatches are exactly PPO's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.type_aliases import RolloutBufferSamples
from stable_baselines3.common.vec_env import DummyVecEnv

import environments  # noqa: F401  (registers workbench/GridLevels-v0)
from environments.grid_levels import (
    GOAL_CELL,
    HELD_OUT_START,
    START_CELL,
    WALL_CELL,
    GridLevelsEnv,
    Level,
    level_from_seed,
    render_level,
)
from workbench.curricula.plr import PLR

GRID_LEVELS_ENV_ID = "workbench/GridLevels-v0"
# Integer codes of the sample kinds in arrays for the views (recent episodes).
KIND_CODES = {"new": 0, "replay": 1, "edit": 2}


class UniformLevels(PLR):
    """The baseline: every episode on a training level drawn uniformly, whatever the
    student does ("uniform level sampling" in the PLR papers), and every episode trains.

    Scores are still computed and kept per level (PLR's buffer, by the same ``score_kind``)
    so the views show the same table as for PLR; they never change what is sampled. A level
    played before counts as ``replay``, a first visit as ``new``. Arguments as :class:`PLR`
    (``levels``: 0 or None for every training seed; ``buffer_size`` bounds the table only).
    """

    name: ClassVar[str] = "uniform-levels"

    def _choose(self) -> tuple[Any, str]:
        if self.training_levels is not None:
            level = self.training_levels[int(self.rng.integers(len(self.training_levels)))]
        else:
            level = int(self.rng.integers(0, HELD_OUT_START))
        return level, "replay" if level in self._slot else "new"

    def _draw_probability(self) -> float:
        """The chance that a given training level is the next one drawn."""
        count = len(self.training_levels) if self.training_levels is not None else HELD_OUT_START
        return 1.0 / count

    def probabilities(self) -> np.ndarray:
        """Each buffer level's chance of being drawn next (the same for every level)."""
        return np.full(len(self._levels), self._draw_probability())

    def replay_probability(self) -> float:
        """The chance that the next level drawn is one played before."""
        return min(1.0, len(self._levels) * self._draw_probability())


# -- environment copies: the teacher's level at every reset -------------------------------------


@dataclass(frozen=True)
class PlayedLevel:
    """One episode's level, as the teacher handed it out."""

    level: Any  # an int seed (PLR, uniform) or a Level layout (ACCEL)
    kind: str  # new | replay | edit
    trains: bool  # whether the student learns from this episode (robust PLR: replays only)
    episode: int  # number of the episode among all the feed started (identifies it)


@dataclass
class EpisodeTrace:
    """What one copy saw of its current episode so far."""

    played: PlayedLevel
    values: list[float] = field(default_factory=list)  # V(s_t) when s_t was acted on
    rewards: list[float] = field(default_factory=list)  # r_t, as the env gave it
    entropies: list[float] = field(default_factory=list)  # for the policy_entropy score


class LevelFeed:
    """Between the environment copies and a level teacher: levels out, episodes in.

    Args:
        teacher: a PLR-like teacher (``sample``, ``last_sample_kind``, ``should_train``,
            ``update_episode``).
        copies: number of environment copies.
        history: how many recent episodes are kept for the views.
    """

    def __init__(self, teacher: PLR, copies: int, history: int = 2_000) -> None:
        self.teacher = teacher
        self.playing: list[PlayedLevel | None] = [None] * copies  # each copy's episode
        self.started = 0  # episodes handed out
        self.episodes = 0  # episodes scored
        # The latest episodes' (score, solved, kind code), for the views.
        self.recent: deque[tuple[float, float, int]] = deque(maxlen=history)

    def next_level(self, copy: int) -> Any:
        """The teacher's next level for environment copy ``copy``."""
        level = self.teacher.sample()
        kind = self.teacher.last_sample_kind or "new"
        trains = self.teacher.should_train(kind == "replay")
        self.playing[copy] = PlayedLevel(level, kind, trains, self.started)
        self.started += 1
        return level

    def finish(self, trace: EpisodeTrace, last_value: float) -> float:
        """Score a finished episode (the teacher's ``update_episode``); returns the score."""
        entropies = trace.entropies if trace.entropies else None
        score = self.teacher.update_episode(
            trace.played.level, trace.values, trace.rewards, last_value, entropies
        )
        self.episodes += 1
        solved = float(trace.rewards[-1] > 0)  # the only reward is the goal's
        self.recent.append((score, solved, KIND_CODES[trace.played.kind]))
        return score


class LevelTasks(gym.Wrapper):
    """Plays the feed's next level at every reset of environment copy ``copy``."""

    def __init__(self, env: gym.Env, feed: LevelFeed, copy: int) -> None:
        super().__init__(env)
        self.feed = feed
        self.copy = copy

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        level = self.feed.next_level(self.copy)
        return self.env.reset(seed=seed, options={**(options or {}), "level": level})


def level_copies(feed: LevelFeed, copies: int, seed: int) -> DummyVecEnv:
    """``copies`` copies of ``workbench/GridLevels-v0`` on the feed's levels, each in SB3's
    Monitor (episode returns for the logs), seeded as ``make_vec_env`` seeds them."""

    def make(copy: int) -> gym.Env:
        env = LevelTasks(gym.make(GRID_LEVELS_ENV_ID), feed, copy)
        env.action_space.seed(seed + copy)
        return Monitor(env)

    venv = DummyVecEnv([lambda copy=copy: make(copy) for copy in range(copies)])
    venv.seed(seed)
    return venv


# -- PPO that skips the samples it must not learn from ---------------------------------------


class MaskedRolloutBuffer(RolloutBuffer):
    """PPO's rollout buffer plus ``trains[t, copy]``: whether sample ``(t, copy)`` may be
    learned from. Minibatches are drawn from the trainable samples only."""

    def reset(self) -> None:
        super().reset()
        self.trains = np.ones((self.buffer_size, self.n_envs), dtype=bool)

    def trainable(self) -> int:
        return int(self.trains.sum())

    def get(self, batch_size: int | None = None) -> Generator[RolloutBufferSamples, None, None]:
        assert self.full, "the rollout is not complete"
        if not self.generator_ready:
            for name in ("observations", "actions", "values", "log_probs", "advantages", "returns"):
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True
        # Flattened as the data above (copy-major); permuting the kept indices draws the same
        # random numbers as PPO's own permutation, so with every sample kept the minibatches
        # are PPO's exactly.
        kept = np.flatnonzero(self.trains.swapaxes(0, 1).reshape(-1))
        indices = np.random.permutation(kept)
        batch_size = batch_size or kept.size
        for start in range(0, kept.size, batch_size):
            yield self._get_samples(indices[start : start + batch_size])


class LevelReplayPPO(PPO):
    """SB3 PPO whose updates use only the trainable samples of each rollout
    (:class:`MaskedRolloutBuffer`); a rollout with none skips the update altogether.
    ``skipped_updates`` counts those rollouts; ``curriculum/trained_fraction`` is logged
    with every rollout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rollout_buffer_class", MaskedRolloutBuffer)
        super().__init__(*args, **kwargs)
        self.skipped_updates = 0

    def train(self) -> None:
        buffer = self.rollout_buffer
        total = buffer.buffer_size * buffer.n_envs
        trainable = buffer.trainable() if isinstance(buffer, MaskedRolloutBuffer) else total
        self.logger.record("curriculum/trained_fraction", trainable / total)
        if trainable == 0:
            self.skipped_updates += 1
            return
        super().train()


# -- the callback: every episode's values and rewards to the teacher ---------------------------


class LevelReplayCallback(BaseCallback):
    """Hands every finished episode to the feed's teacher and marks, in a
    :class:`MaskedRolloutBuffer`, which samples may train the student.

    Must see every step of the environment copies built by :func:`level_copies` on the
    same ``feed`` (pass it to ``learn``, or call it from a callback that is).
    """

    def __init__(self, feed: LevelFeed) -> None:
        super().__init__()
        self.feed = feed
        self.traces: list[EpisodeTrace | None] = [None] * len(feed.playing)

    def _on_training_start(self) -> None:
        # ``learn`` may have reset the copies: follow each copy's current episode (an
        # episode cut off by such a reset is never scored).
        for copy, played in enumerate(self.feed.playing):
            trace = self.traces[copy]
            if played is not None and (trace is None or trace.played is not played):
                self.traces[copy] = EpisodeTrace(played)

    def _needs_entropy(self) -> bool:
        return getattr(self.feed.teacher, "score_kind", None) == "policy_entropy"

    def _on_step(self) -> bool:
        policy = self.model.policy
        values = self.locals["values"].detach().cpu().numpy().reshape(-1)
        # PPO adds the bootstrap of cut-off episodes to these rewards after this call.
        rewards = np.array(self.locals["rewards"], dtype=np.float64).reshape(-1)
        dones, infos = self.locals["dones"], self.locals["infos"]
        entropies = None
        if self._needs_entropy():
            with torch.no_grad():
                distribution = policy.get_distribution(self.locals["obs_tensor"])
                entropies = distribution.entropy().cpu().numpy().reshape(-1)
        traces = self.traces
        buffer = self.model.rollout_buffer
        if isinstance(buffer, MaskedRolloutBuffer):
            buffer.trains[buffer.pos] = [trace.played.trains for trace in traces]
        last_values = self._cut_off_values(dones, infos)
        for copy, trace in enumerate(traces):
            trace.values.append(float(values[copy]))
            trace.rewards.append(float(rewards[copy]))
            if entropies is not None:
                trace.entropies.append(float(entropies[copy]))
            if dones[copy]:
                self.feed.finish(trace, last_values.get(copy, 0.0))
                traces[copy] = EpisodeTrace(self.feed.playing[copy])
        return True

    def _cut_off_values(self, dones: np.ndarray, infos: Sequence[dict]) -> dict[int, float]:
        """``V(s_T)`` of the copies whose episode the step limit cut off (0 elsewhere)."""
        cut = [
            copy
            for copy, done in enumerate(dones)
            if done and infos[copy].get("TimeLimit.truncated", False)
        ]
        if not cut:
            return {}
        final = np.stack([infos[copy]["terminal_observation"] for copy in cut])
        with torch.no_grad():
            tensor = self.model.policy.obs_to_tensor(final)[0]
            values = self.model.policy.predict_values(tensor).cpu().numpy().reshape(-1)
        return {copy: float(value) for copy, value in zip(cut, values, strict=True)}


# -- evaluation and pictures ----------------------------------------------------------------


def solved_levels(model: BaseAlgorithm, levels: Sequence[Any]) -> np.ndarray:
    """Whether the deterministic student reaches the goal of each level (seeds or layouts)
    within the step limit; all levels are stepped together, one batched forward pass a
    step."""
    envs = [GridLevelsEnv() for _ in levels]
    obs = np.stack(
        [env.reset(options={"level": level})[0] for env, level in zip(envs, levels, strict=True)]
    )
    solved = np.zeros(len(envs), dtype=bool)
    running = np.ones(len(envs), dtype=bool)
    while running.any():
        actions, _ = model.predict(obs, deterministic=True)
        for i in np.flatnonzero(running):
            obs[i], _, terminated, truncated, _ = envs[i].step(actions[i])
            solved[i] |= terminated
            running[i] = not (terminated or truncated)
    return solved


def level_of_grid(grid: np.ndarray) -> Level:
    """The :class:`Level` of a grid of cell codes (``Level.grid()``, ACCEL's snapshot)."""
    flat = np.asarray(grid, dtype=np.uint8).reshape(-1)
    walls = (flat == WALL_CELL).astype(np.uint8).tobytes()
    start, goal = (
        int(np.flatnonzero(flat == START_CELL)[0]),
        int(np.flatnonzero(flat == GOAL_CELL)[0]),
    )
    return Level(int(np.asarray(grid).shape[-1]), walls, start, goal)


def top_levels(snapshot: dict[str, np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Pictures ``(k, H, W, 3)`` uint8 of the ``count`` highest-scoring buffer levels of a
    level teacher's ``snapshot()`` (best first), and their scores."""
    scores = np.asarray(snapshot["scores"], dtype=np.float64)
    order = np.argsort(-scores, kind="stable")[:count]
    levels = snapshot["levels"]
    pictures = [
        render_level(
            level_from_seed(int(levels[i])) if levels.ndim == 1 else level_of_grid(levels[i])
        )
        for i in order
    ]
    if not pictures:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8), np.zeros(0, dtype=np.float32)
    return np.stack(pictures), scores[order].astype(np.float32)
