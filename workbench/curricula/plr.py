"""Prioritized Level Replay (Jiang, Grefenstette, Rocktaschel 2021) and robust PLR (Jiang et
al. 2021, "Replay-Guided Adversarial Environment Design").

PLR keeps a buffer of the levels seen so far, each with a score ``S_i`` (its learning
potential, estimated from the student's last episode on it) and ``C_i``, the episode count
when it was last sampled. Each episode either replays a buffer level drawn from

    P = (1 - staleness_coef) * P_S + staleness_coef * P_C,
    P_S(i) proportional to h(S_i) ** (1 / temperature),   h = 1 / rank(S_i)   ("rank")
                                                           or h = S_i           ("power"),
    P_C(i) proportional to c - C_i                         (staleness, c = episodes so far),

or samples a new level. Robust PLR uses the same sampler but takes no gradient step on
episodes of new levels (only replays train the student): :meth:`PLR.should_train`.

Name clash: the paper calls the staleness weight rho; level-replay's code calls it
``staleness_coef`` and uses ``rho`` for the fraction of levels seen before any replay. Here
the staleness weight is ``staleness_coef`` and that fraction is ``replay_start_fill``.

How a trainer drives a teacher, one episode at a time (or one per environment copy)::

    level = teacher.sample()                      # an int seed for workbench/GridLevels-v0
    replayed = teacher.last_sample_was_replay     # read right after sample()
    obs, info = env.reset(options={"level": level})
    ...                                           # play the episode: values, rewards, ...
    teacher.update_episode(level, values, rewards, last_value=0.0, entropies=entropies)
    if teacher.should_train(replayed): ...        # robust PLR: only replayed episodes train

``update_episode`` is ``update(level, score_episode(level, ...))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from environments.grid_levels import HELD_OUT_START, training_levels
from workbench.curricula.base import CurriculumError, Teacher

SCORE_KINDS = ("l1_value_loss", "positive_value_loss", "max_mc", "policy_entropy")
PRIORITIZATIONS = ("rank", "power")
REPLAY_SCHEDULES = ("proportionate", "fixed")
SAMPLE_KINDS = ("new", "replay", "edit")


# -- scoring an episode ----------------------------------------------------------------------


def gae_advantages(
    values: Any, rewards: Any, last_value: float, gamma: float, gae_lambda: float
) -> np.ndarray:
    """Generalized advantage estimates of one episode: ``delta_t = r_t + gamma V(s_{t+1}) -
    V(s_t)`` with ``V(s_T) = last_value``, ``A_t = delta_t + gamma lambda A_{t+1}``."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
    if values.size != rewards.size or values.size == 0:
        raise CurriculumError(
            f"an episode needs as many values as rewards (at least one); got {values.size} "
            f"values and {rewards.size} rewards"
        )
    next_values = np.append(values[1:], float(last_value))
    deltas = rewards + gamma * next_values - values
    advantages = np.empty_like(deltas)
    running = 0.0
    for t in range(deltas.size - 1, -1, -1):
        running = deltas[t] + gamma * gae_lambda * running
        advantages[t] = running
    return advantages


def score_episode(
    values: Any,
    rewards: Any,
    last_value: float = 0.0,
    gamma: float = 0.99,
    gae_lambda: float = 0.95,
    kind: str = "l1_value_loss",
    *,
    max_return: float | None = None,
    entropies: Any = None,
) -> float:
    """A level's score from one episode on it.

    Args:
        values: ``V(s_t)`` at each step, ``t = 0 .. T-1``.
        rewards: ``r_t`` at each step.
        last_value: ``V(s_T)`` after the last step: 0 when the episode terminated, the
            value estimate when it was cut off (bootstrapped, as in PPO).
        gamma: discount of the GAE.
        gae_lambda: lambda of the GAE.
        kind: ``l1_value_loss`` (mean ``|A_t|``, PLR's), ``positive_value_loss`` (mean
            ``max(A_t, 0)``, robust PLR's), ``max_mc`` (mean ``max_return - V(s_t)``) or
            ``policy_entropy`` (mean entropy of the policy, a baseline).
        max_return: for ``max_mc``: the best (undiscounted) return ever seen on the level.
        entropies: for ``policy_entropy``: the policy's entropy at each step.
    """
    if kind not in SCORE_KINDS:
        raise CurriculumError(f"unknown score kind {kind!r}; known: {', '.join(SCORE_KINDS)}")
    if kind == "policy_entropy":
        if entropies is None:
            raise CurriculumError("score kind 'policy_entropy' needs the episode's entropies")
        entropy = np.asarray(entropies, dtype=np.float64).reshape(-1)
        if entropy.size == 0:
            raise CurriculumError("score kind 'policy_entropy' got an empty episode")
        return float(entropy.mean())
    if kind == "max_mc":
        if max_return is None:
            raise CurriculumError("score kind 'max_mc' needs the level's best return so far")
        value = np.asarray(values, dtype=np.float64).reshape(-1)
        if value.size == 0:
            raise CurriculumError("score kind 'max_mc' got an empty episode")
        return float(np.mean(float(max_return) - value))
    advantages = gae_advantages(values, rewards, last_value, gamma, gae_lambda)
    if kind == "l1_value_loss":
        return float(np.abs(advantages).mean())
    return float(np.maximum(advantages, 0.0).mean())


# -- the replay distribution -------------------------------------------------------------------


def score_distribution(scores: Any, prioritization: str, temperature: float) -> np.ndarray:
    """``P_S``: ``h(S_i) ** (1 / temperature)`` normalized, ``h = 1 / rank`` (ties: the
    earlier buffer slot ranks first) or ``h = max(S_i, 0)``; uniform when all are 0."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        return scores
    if prioritization == "rank":
        order = np.argsort(-scores, kind="stable")
        ranks = np.empty(scores.size, dtype=np.float64)
        ranks[order] = np.arange(1, scores.size + 1)
        weights = ranks ** (-1.0 / temperature)
    elif prioritization == "power":
        clipped = np.maximum(scores, 0.0)
        top = clipped.max()
        # Dividing by the largest score first keeps a small temperature from overflowing.
        weights = (clipped / top) ** (1.0 / temperature) if top > 0 else np.ones_like(scores)
    else:
        raise CurriculumError(
            f"unknown prioritization {prioritization!r}; known: {', '.join(PRIORITIZATIONS)}"
        )
    return weights / weights.sum()


def staleness_distribution(staleness: Any) -> np.ndarray:
    """``P_C``: proportional to ``c - C_i``; uniform when every level is fresh."""
    staleness = np.asarray(staleness, dtype=np.float64).reshape(-1)
    total = staleness.sum()
    if staleness.size == 0 or total <= 0:
        return np.full(staleness.size, 1.0 / max(staleness.size, 1))
    return staleness / total


def replay_distribution(
    scores: Any, staleness: Any, prioritization: str, temperature: float, staleness_coef: float
) -> np.ndarray:
    """``P = (1 - staleness_coef) P_S + staleness_coef P_C`` over the buffer's levels."""
    probabilities = score_distribution(scores, prioritization, temperature)
    if staleness_coef > 0:
        probabilities = (1.0 - staleness_coef) * probabilities + staleness_coef * (
            staleness_distribution(staleness)
        )
    return probabilities


# -- checks of knobs ---------------------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CurriculumError(f"{name} must be a number, got {value!r}") from None


def _unit_interval(name: str, value: Any) -> float:
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise CurriculumError(f"{name} must be in [0, 1], got {value!r}")
    return number


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise CurriculumError(f"unknown {name} {value!r}; known: {', '.join(allowed)}")
    return str(value)


def _check_seed(teacher: str, level: Any) -> int:
    """``level`` as a training seed, or a :class:`CurriculumError` naming it."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
        raise CurriculumError(
            f"{teacher} levels are integer seeds of workbench/GridLevels-v0; got "
            f"{type(level).__name__} {level!r}"
        )
    if not 0 <= int(level) < HELD_OUT_START:
        raise CurriculumError(
            f"level {int(level)} is not a training seed (training seeds are 0 .. "
            f"{HELD_OUT_START - 1}; held-out seeds start at {HELD_OUT_START})"
        )
    return int(level)


class PLR(Teacher):
    """Prioritized Level Replay over the seeds of ``workbench/GridLevels-v0``.

    Args:
        seed: seeds the teacher's own generator.
        levels: the training levels: a number ``n`` (the seeds
            ``training_levels(n, levels_seed)``, as the env's ``num_levels``), explicit seeds,
            or None / 0 for every training seed (new levels are fresh random seeds).
        levels_seed: draws the ``n`` training seeds (same set as the env's ``levels_seed``).
        score_kind: how an episode scores its level (:func:`score_episode`).
        prioritization: ``rank`` (h = 1 / rank) or ``power`` (h = score).
        temperature: beta, the prioritization's temperature (> 0; hot). Paper: 0.1.
        staleness_coef: the staleness weight (the paper's rho), in [0, 1] (hot). Paper: 0.1.
        replay_schedule: ``proportionate``: replay with probability equal to the fraction of
            training levels seen so far (with every training seed: the fraction of the buffer
            filled); ``fixed``: with probability ``replay_prob``.
        replay_prob: the fixed schedule's replay probability, in [0, 1] (hot).
        replay_start_fill: no replay before this fraction of the training levels (or of the
            buffer) has been seen: level-replay's ``rho``. 0 replays from the first level.
        buffer_size: most levels kept; when full, a new level replaces the lowest-scoring
            one if it scores at least as high. Robust PLR's mazes: 4,000.
        score_ema: weight of a new score against the old one (level-replay's ``alpha``; 1
            replaces the score).
        gamma: discount of the GAE in :meth:`score_episode`.
        gae_lambda: lambda of the GAE in :meth:`score_episode`.
        train_on_new_levels: whether episodes on new levels train the student (False is
            robust PLR).
        history_interval: the new/replayed/edited counts are recorded every this many
            episodes for :meth:`snapshot`.
    """

    name: ClassVar[str] = "plr"

    def __init__(
        self,
        seed: int = 0,
        *,
        levels: int | Sequence[int] | None = 200,
        levels_seed: int = 0,
        score_kind: str = "l1_value_loss",
        prioritization: str = "rank",
        temperature: float = 0.1,
        staleness_coef: float = 0.1,
        replay_schedule: str = "proportionate",
        replay_prob: float = 0.5,
        replay_start_fill: float = 0.0,
        buffer_size: int = 4000,
        score_ema: float = 1.0,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        train_on_new_levels: bool = True,
        history_interval: int = 100,
    ) -> None:
        super().__init__(seed)
        self.levels_seed = int(levels_seed)
        self.score_kind = score_kind
        self.prioritization = prioritization
        self.temperature = temperature
        self.staleness_coef = staleness_coef
        self.replay_schedule = replay_schedule
        self.replay_prob = replay_prob
        self.replay_start_fill = _unit_interval("replay_start_fill", replay_start_fill)
        if int(buffer_size) < 1:
            raise CurriculumError(f"buffer_size must be >= 1, got {buffer_size}")
        self.buffer_size = int(buffer_size)
        self.score_ema = _unit_interval("score_ema", score_ema)
        if self.score_ema == 0:
            raise CurriculumError("score_ema must be > 0 (0 would never change a score)")
        self.gamma = _unit_interval("gamma", gamma)
        self.gae_lambda = _unit_interval("gae_lambda", gae_lambda)
        self.train_on_new_levels = bool(train_on_new_levels)
        if int(history_interval) < 1:
            raise CurriculumError(f"history_interval must be >= 1, got {history_interval}")
        self.history_interval = int(history_interval)
        self._set_training_levels(self._resolve_levels(levels))
        self._reset_buffer()

    # -- hot knobs, checked whenever they are set ------------------------------------------

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        number = _number("temperature", value)
        if not (math.isfinite(number) and number > 0):
            raise CurriculumError(f"temperature must be > 0, got {value!r}")
        self._temperature = number

    @property
    def staleness_coef(self) -> float:
        return self._staleness_coef

    @staleness_coef.setter
    def staleness_coef(self, value: float) -> None:
        self._staleness_coef = _unit_interval("staleness_coef", value)

    @property
    def replay_prob(self) -> float:
        return self._replay_prob

    @replay_prob.setter
    def replay_prob(self, value: float) -> None:
        self._replay_prob = _unit_interval("replay_prob", value)

    @property
    def score_kind(self) -> str:
        return self._score_kind

    @score_kind.setter
    def score_kind(self, value: str) -> None:
        self._score_kind = _choice("score kind", value, SCORE_KINDS)

    @property
    def prioritization(self) -> str:
        return self._prioritization

    @prioritization.setter
    def prioritization(self, value: str) -> None:
        self._prioritization = _choice("prioritization", value, PRIORITIZATIONS)

    @property
    def replay_schedule(self) -> str:
        return self._replay_schedule

    @replay_schedule.setter
    def replay_schedule(self, value: str) -> None:
        self._replay_schedule = _choice("replay schedule", value, REPLAY_SCHEDULES)

    # -- levels: what this teacher's levels are (ACCEL overrides these) ---------------------

    def _resolve_levels(self, levels: int | Sequence[int] | None) -> list[Any] | None:
        """The training levels named by the ``levels`` argument (None: every training
        seed); ACCEL turns the seeds into layouts."""
        if levels is None or (isinstance(levels, (int, np.integer)) and int(levels) == 0):
            return None
        if isinstance(levels, (int, np.integer)):
            if int(levels) < 0:
                raise CurriculumError(f"levels must be >= 0 training levels, got {levels}")
            return training_levels(int(levels), self.levels_seed)
        seeds = [_check_seed(self.name, level) for level in levels]
        if len(set(seeds)) != len(seeds):
            raise CurriculumError("the training levels must be distinct seeds")
        return seeds

    def _set_training_levels(self, levels: list[Any] | None) -> None:
        self.training_levels = levels
        self._training_set = None if levels is None else set(levels)

    def check_level(self, level: Any) -> Any:
        """``level`` as this teacher's level value, or a :class:`CurriculumError` naming it."""
        level = _check_seed(self.name, level)
        if self._training_set is not None and level not in self._training_set:
            raise CurriculumError(f"level {level} is not among this teacher's training levels")
        return level

    def _new_level(self) -> Any:
        """A level not in the buffer: uniform over the unseen training levels, or a fresh
        training seed."""
        if self.training_levels is not None:
            unseen = [level for level in self.training_levels if level not in self._seen]
            return unseen[int(self.rng.integers(len(unseen)))]
        while True:
            level = int(self.rng.integers(0, HELD_OUT_START))
            if level not in self._slot:
                return level

    def _encode(self, level: Any) -> Any:
        """A level as plain Python values (for :meth:`state_dict`)."""
        return int(level)

    def _decode(self, code: Any) -> Any:
        return int(code)

    def _levels_snapshot(self) -> dict[str, np.ndarray]:
        return {"levels": np.array(self._levels, dtype=np.int64)}

    # -- the buffer ---------------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._levels: list[Any] = []  # buffer slot -> level
        self._slot: dict[Any, int] = {}  # level -> buffer slot
        self._scores = np.zeros(self.buffer_size, dtype=np.float64)
        self._last_sampled = np.zeros(self.buffer_size, dtype=np.int64)  # C_i
        self._visits = np.zeros(self.buffer_size, dtype=np.int64)  # scored episodes
        self._max_returns: dict[Any, float] = {}  # best return per level, for max_mc
        # Training levels scored at least once, in or since evicted from the buffer: the
        # replay schedule counts these (ACCEL's edits evict training levels; counting only
        # the buffer's would make replay stop as edits fill it).
        self._seen: set[Any] = set()
        # Levels sampled and not yet scored: [episode count when sampled, sample kind], in
        # sampling order (several environment copies may play the same level at once).
        self._pending: dict[Any, list[tuple[int, str]]] = {}
        self.episode_count = 0  # c: episodes sampled so far
        self._counts = dict.fromkeys(SAMPLE_KINDS, 0)
        self._history: list[list[int]] = []  # rows: episode count, new, replayed, edited
        self.last_sample_kind: str | None = None

    @property
    def last_sample_was_replay(self) -> bool:
        """Whether the last :meth:`sample` replayed a buffer level."""
        return self.last_sample_kind == "replay"

    def fraction_seen(self) -> float:
        """Training levels scored at least once over all training levels; with every
        training seed, the fraction of the buffer filled."""
        if self.training_levels is None:
            return len(self._levels) / self.buffer_size
        if not self.training_levels:
            return 1.0
        return len(self._seen) / len(self.training_levels)

    def replay_probability(self) -> float:
        """The chance that the next :meth:`sample` replays a buffer level."""
        if not self._levels:
            return 0.0
        seen = self.fraction_seen()
        if seen < self.replay_start_fill:
            return 0.0
        if self.training_levels is not None and seen >= 1.0:
            return 1.0  # no unseen training level is left
        return seen if self.replay_schedule == "proportionate" else self.replay_prob

    def staleness(self) -> np.ndarray:
        """``c - C_i`` of each buffer level."""
        count = len(self._levels)
        return self.episode_count - self._last_sampled[:count]

    def probabilities(self) -> np.ndarray:
        """The replay distribution P over the buffer's levels (in buffer order)."""
        count = len(self._levels)
        return replay_distribution(
            self._scores[:count],
            self.staleness(),
            self.prioritization,
            self.temperature,
            self.staleness_coef,
        )

    def _choose(self) -> tuple[Any, str]:
        """The next level and how it was chosen (``new`` or ``replay``)."""
        if self.rng.random() < self.replay_probability():
            slot = int(self.rng.choice(len(self._levels), p=self.probabilities()))
            return self._levels[slot], "replay"
        return self._new_level(), "new"

    def sample(self) -> Any:
        """The next level; :attr:`last_sample_kind` says whether it is new or replayed."""
        level, kind = self._choose()
        self.episode_count += 1
        slot = self._slot.get(level)
        if slot is not None and kind == "replay":
            self._last_sampled[slot] = self.episode_count
        self._pending.setdefault(level, []).append((self.episode_count, kind))
        self.last_sample_kind = kind
        self._counts[kind] += 1
        if self.episode_count % self.history_interval == 0:
            self._history.append([self.episode_count, *self._counts.values()])
        return level

    def should_train(self, level_was_replayed: bool) -> bool:
        """Whether the student takes a gradient step on an episode: always for PLR; robust
        PLR (``train_on_new_levels`` False) only on replayed levels."""
        return bool(level_was_replayed) or self.train_on_new_levels

    def update(self, task: Any, score: float) -> None:
        """Score a level after an episode on it: a buffer level's score moves to ``score``
        (by ``score_ema``); a new level enters the buffer, replacing the lowest-scoring
        level when the buffer is full and that one scores no higher."""
        level = self.check_level(task)
        score = float(score)
        if not math.isfinite(score):
            raise CurriculumError(f"score of level {level!r} must be finite, got {score}")
        queue = self._pending.get(level)
        sampled_at, kind = queue.pop(0) if queue else (self.episode_count, "new")
        if queue == []:
            del self._pending[level]
        if self._training_set is not None and level in self._training_set:
            self._seen.add(level)
        slot = self._slot.get(level)
        if slot is not None:
            old = self._scores[slot]
            self._scores[slot] = (1.0 - self.score_ema) * old + self.score_ema * score
            self._visits[slot] += 1
        elif not self._insert(level, score, sampled_at):
            self._max_returns.pop(level, None)
        self._after_update(level, kind)

    def _after_update(self, level: Any, kind: str) -> None:
        """Hook for ACCEL: called after each :meth:`update` with how the level was sampled."""

    def _insert(self, level: Any, score: float, sampled_at: int) -> bool:
        if len(self._levels) < self.buffer_size:
            slot = len(self._levels)
            self._levels.append(level)
        else:
            slot = int(np.argmin(self._scores))
            if self._scores[slot] > score:
                return False
            evicted = self._levels[slot]
            del self._slot[evicted]
            self._max_returns.pop(evicted, None)
            self._levels[slot] = level
        self._slot[level] = slot
        self._scores[slot] = score
        self._last_sampled[slot] = sampled_at
        self._visits[slot] = 1
        return True

    def score_episode(
        self,
        level: Any,
        values: Any,
        rewards: Any,
        last_value: float = 0.0,
        entropies: Any = None,
    ) -> float:
        """This teacher's score of one episode on ``level`` (:func:`score_episode` with its
        ``score_kind``, ``gamma`` and ``gae_lambda``); for ``max_mc`` it first raises the
        level's best return to this episode's (undiscounted) return."""
        level = self.check_level(level)
        max_return = None
        if self.score_kind == "max_mc":
            episode_return = float(np.sum(np.asarray(rewards, dtype=np.float64)))
            max_return = max(self._max_returns.get(level, -math.inf), episode_return)
            self._max_returns[level] = max_return
        return score_episode(
            values,
            rewards,
            last_value,
            self.gamma,
            self.gae_lambda,
            self.score_kind,
            max_return=max_return,
            entropies=entropies,
        )

    def update_episode(
        self,
        level: Any,
        values: Any,
        rewards: Any,
        last_value: float = 0.0,
        entropies: Any = None,
    ) -> float:
        """:meth:`score_episode` then :meth:`update`; returns the score."""
        score = self.score_episode(level, values, rewards, last_value, entropies)
        self.update(level, score)
        return score

    # -- views and checkpoints ----------------------------------------------------------------

    def snapshot(self) -> dict[str, np.ndarray]:
        """The buffer (in buffer order): ``levels``, ``scores``, ``staleness``,
        ``probabilities``, ``visits``; ``counts`` of new, replayed and edited levels so far;
        ``count_history`` rows (episode count, new, replayed, edited) every
        ``history_interval`` episodes; ``replay_probability``; ``episode_count``."""
        count = len(self._levels)
        return {
            **self._levels_snapshot(),
            "scores": self._scores[:count].copy(),
            "staleness": self.staleness().copy(),
            "probabilities": self.probabilities(),
            "visits": self._visits[:count].copy(),
            "counts": np.array(list(self._counts.values()), dtype=np.int64),
            "count_history": np.array(self._history, dtype=np.int64).reshape(-1, 4),
            "replay_probability": np.array(self.replay_probability()),
            "episode_count": np.array(self.episode_count, dtype=np.int64),
        }

    def _config(self) -> dict[str, Any]:
        return {
            "levels_seed": self.levels_seed,
            "score_kind": self.score_kind,
            "prioritization": self.prioritization,
            "temperature": self.temperature,
            "staleness_coef": self.staleness_coef,
            "replay_schedule": self.replay_schedule,
            "replay_prob": self.replay_prob,
            "replay_start_fill": self.replay_start_fill,
            "buffer_size": self.buffer_size,
            "score_ema": self.score_ema,
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "train_on_new_levels": self.train_on_new_levels,
            "history_interval": self.history_interval,
        }

    def state_dict(self) -> dict[str, Any]:
        """Plain Python values only: knobs, training levels, buffer, pending samples."""
        count = len(self._levels)
        encode = self._encode
        return {
            **super().state_dict(),
            "config": self._config(),
            "training_levels": None
            if self.training_levels is None
            else [encode(level) for level in self.training_levels],
            "buffer": {
                "levels": [encode(level) for level in self._levels],
                "scores": self._scores[:count].tolist(),
                "last_sampled": self._last_sampled[:count].tolist(),
                "visits": self._visits[:count].tolist(),
            },
            "max_returns": [[encode(level), float(v)] for level, v in self._max_returns.items()],
            "seen": [encode(level) for level in self.training_levels or () if level in self._seen],
            "pending": [
                [encode(level), [[int(t), kind] for t, kind in queue]]
                for level, queue in self._pending.items()
            ],
            "episode_count": int(self.episode_count),
            "counts": [int(v) for v in self._counts.values()],
            "history": [list(row) for row in self._history],
            "last_sample_kind": self.last_sample_kind,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore exactly (knobs included) from :meth:`state_dict`'s values."""
        super().load_state_dict(state)
        config = state["config"]
        for name in ("score_kind", "prioritization", "temperature", "staleness_coef"):
            setattr(self, name, config[name])
        self.replay_schedule, self.replay_prob = config["replay_schedule"], config["replay_prob"]
        self.replay_start_fill = _unit_interval("replay_start_fill", config["replay_start_fill"])
        self.buffer_size, self.score_ema = int(config["buffer_size"]), float(config["score_ema"])
        self.gamma, self.gae_lambda = float(config["gamma"]), float(config["gae_lambda"])
        self.levels_seed = int(config["levels_seed"])
        self.train_on_new_levels = bool(config["train_on_new_levels"])
        self.history_interval = int(config["history_interval"])
        self._load_extra(config)
        training = state["training_levels"]
        self._set_training_levels(None if training is None else [self._decode(c) for c in training])
        self._reset_buffer()
        buffer = state["buffer"]
        count = len(buffer["levels"])
        if count > self.buffer_size:
            raise CurriculumError(
                f"checkpoint holds {count} levels for a {self.buffer_size} buffer"
            )
        self._levels = [self._decode(code) for code in buffer["levels"]]
        self._slot = {level: slot for slot, level in enumerate(self._levels)}
        self._scores[:count] = buffer["scores"]
        self._last_sampled[:count] = buffer["last_sampled"]
        self._visits[:count] = buffer["visits"]
        self._max_returns = {self._decode(code): float(v) for code, v in state["max_returns"]}
        self._seen = {self._decode(code) for code in state["seen"]}
        self._pending = {
            self._decode(code): [(int(t), str(kind)) for t, kind in queue]
            for code, queue in state["pending"]
        }
        self.episode_count = int(state["episode_count"])
        self._counts = dict(zip(SAMPLE_KINDS, (int(v) for v in state["counts"]), strict=True))
        self._history = [[int(v) for v in row] for row in state["history"]]
        self.last_sample_kind = state["last_sample_kind"]

    def _load_extra(self, config: dict[str, Any]) -> None:
        """Hook for subclasses' own knobs in a checkpoint's config."""


class RobustPLR(PLR):
    """Robust PLR (PLR-perp): PLR's sampler, but only replayed levels train the student
    (:meth:`should_train` is False for new levels). Defaults: the maze settings of Jiang
    et al. 2021 (rank, temperature 0.3, staleness 0.3, buffer 4,000, positive value loss,
    replay probability 0.5 once half the buffer is filled, every training seed)."""

    name: ClassVar[str] = "robust-plr"

    def __init__(
        self,
        seed: int = 0,
        *,
        levels: int | Sequence[int] | None = None,
        score_kind: str = "positive_value_loss",
        temperature: float = 0.3,
        staleness_coef: float = 0.3,
        replay_schedule: str = "fixed",
        replay_prob: float = 0.5,
        replay_start_fill: float = 0.5,
        buffer_size: int = 4000,
        train_on_new_levels: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            seed,
            levels=levels,
            score_kind=score_kind,
            temperature=temperature,
            staleness_coef=staleness_coef,
            replay_schedule=replay_schedule,
            replay_prob=replay_prob,
            replay_start_fill=replay_start_fill,
            buffer_size=buffer_size,
            train_on_new_levels=train_on_new_levels,
            **kwargs,
        )
