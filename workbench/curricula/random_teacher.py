"""Uniform sampling over a task box, and what every continuous teacher shares.

:class:`RandomTeacher` is the baseline of the teacher papers: every task uniform over the
box, whatever the student does. ALP-GMM, Covar-GMM and RIAC fall back to it part of the
time, and they share its bookkeeping, so :class:`ContinuousTeacher` lives here too: the
task box, rewards scaled to [0, 1] by known bounds, input checks with one-line errors,
a window of recent (task, reward, learning progress) for the views, and the grid on
which the views' "entropy of the sampling distribution" is estimated.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar

import numpy as np

from workbench.curricula.base import CurriculumError, TaskBox, Teacher

# Views estimate the sampling distribution's entropy on a grid of at most this many cells
# (32 x 32 in 2-D, 16^3 in 3-D): enough to tell "everywhere" from "a few spots" cheaply.
ENTROPY_GRID_CELLS = 4096
# Above this dimension a grid that fits ENTROPY_GRID_CELLS has under 3 cells a side and
# says nothing; the entropy is then reported as NaN.
ENTROPY_MAX_DIM = 7


def entropy_grid(box: TaskBox) -> tuple[np.ndarray, np.ndarray] | None:
    """Centres of a regular grid over ``box`` (rows) and the cells' widths, or ``None`` when
    the box has too many dimensions for a grid to say anything."""
    if box.dim > ENTROPY_MAX_DIM:
        return None
    per_side = min(32, int(ENTROPY_GRID_CELLS ** (1.0 / box.dim)))
    widths = (box.high - box.low) / per_side
    axes = [low + (np.arange(per_side) + 0.5) * w for low, w in zip(box.low, widths, strict=True)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, box.dim)
    return centres, widths


def normalised_entropy(mass: np.ndarray) -> float:
    """Entropy of a distribution over grid cells divided by that of the uniform one, so
    1 means "uniform over the box" and values near 0 "a few cells only"."""
    total = float(mass.sum())
    if not math.isfinite(total) or total <= 0.0 or mass.size < 2:
        return float("nan")
    p = mass[mass > 0] / total
    # Clipped: round-off can put a uniform distribution a hair above 1.
    return min(1.0, float(-(p * np.log(p)).sum() / math.log(mass.size)))


def gaussian_density(points: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Density of N(mean, covariance) at each row of ``points`` (vectorized, no scipy
    object per call: the views call this for every component at every refresh)."""
    dim = mean.size
    try:
        chol = np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:  # a degenerate component: nudge it to positive definite
        chol = np.linalg.cholesky(covariance + 1e-9 * np.eye(dim))
    solved = np.linalg.solve(chol, (points - mean).T)
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    return np.exp(-0.5 * (solved**2).sum(axis=0) - 0.5 * (dim * math.log(2 * math.pi) + log_det))


class ContinuousTeacher(Teacher):
    """A teacher over the points of a :class:`TaskBox` that learns from rewards.

    Rewards reach the teacher scaled to [0, 1] by ``reward_bounds`` (the student's known
    lowest and highest return), as in the papers; a reward outside the bounds is clipped,
    a non-finite one refused. Subclasses implement ``sample``, ``_learn`` (what to do with a
    checked task and scaled reward; it returns the learning progress to show for that
    task) and add their entries to ``state_dict`` / ``snapshot``.
    """

    # Structural settings a checkpoint must agree on (subclasses extend the tuple): a state
    # saved with another fit rate or window would not continue the same run.
    _structural: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        box: TaskBox,
        seed: int = 0,
        *,
        reward_bounds: tuple[float, float] = (0.0, 1.0),
        recent: int = 1000,
    ) -> None:
        super().__init__(seed)
        if not isinstance(box, TaskBox):
            raise CurriculumError(
                f"a {self.name} teacher needs a TaskBox, got {type(box).__name__}"
            )
        low, high = (float(b) for b in reward_bounds)
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise CurriculumError(
                f"reward_bounds must be finite with high > low, got {reward_bounds}"
            )
        if recent < 1:
            raise CurriculumError(f"recent must be at least 1, got {recent}")
        self.box = box
        # Known reward range: rewards are scaled by it to [0, 1] before the teacher sees them.
        self.reward_bounds = (low, high)
        # How many of the latest (task, reward, progress) the views get from snapshot().
        self.recent = int(recent)
        self.n_updates = 0
        self._recent_tasks: deque[list[float]] = deque(maxlen=self.recent)
        self._recent_rewards: deque[float] = deque(maxlen=self.recent)
        self._recent_progress: deque[float] = deque(maxlen=self.recent)

    # -- input ---------------------------------------------------------------------------

    def scale_reward(self, reward: float) -> float:
        """``reward`` mapped from ``reward_bounds`` to [0, 1] (clipped there)."""
        try:
            value = float(reward)
        except (TypeError, ValueError):
            raise CurriculumError(f"reward must be a number, got {reward!r}") from None
        if not math.isfinite(value):
            raise CurriculumError(f"reward must be finite, got {value}")
        low, high = self.reward_bounds
        return min(1.0, max(0.0, (value - low) / (high - low)))

    def update(self, task: Any, score: float) -> None:
        """What the student scored on ``task``: a reward within ``reward_bounds``."""
        point = self.box.check(task).copy()  # check() may return a view of the caller's array
        reward = self.scale_reward(score)
        progress = self._learn(point, reward)
        self.n_updates += 1
        self._recent_tasks.append(point.tolist())
        self._recent_rewards.append(reward)
        self._recent_progress.append(float(progress))
        self._after_update()

    def _learn(self, task: np.ndarray, reward: float) -> float:
        """Take in a checked task and its scaled reward; return its learning progress."""
        return 0.0

    def _after_update(self) -> None:
        """Called once ``n_updates`` counts the new task (refits, splits)."""

    # -- sampling helpers ----------------------------------------------------------------

    def _uniform(self) -> np.ndarray:
        return self.box.uniform(self.rng)

    def _proportional(self, weights: np.ndarray) -> int:
        """An index drawn with probability proportional to ``weights`` (negative ones count
        as 0), uniformly when they are all 0: the papers' ``proportional_choice``. One
        uniform draw and a search: cheaper than ``rng.choice`` at every sample."""
        w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
        total = float(w.sum())
        if not total > 0.0:
            return int(self.rng.integers(w.size))
        index = int(np.searchsorted(np.cumsum(w), self.rng.random() * total, side="right"))
        return min(index, w.size - 1)

    @staticmethod
    def _choice_probabilities(weights: np.ndarray) -> np.ndarray:
        """The probabilities :meth:`_proportional` draws with (for the views)."""
        w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
        total = float(w.sum())
        return w / total if total > 0 else np.full(w.size, 1.0 / max(w.size, 1))

    # -- views ---------------------------------------------------------------------------

    def _sampling_mass(self, centres: np.ndarray, widths: np.ndarray) -> np.ndarray | None:
        """Probability of each grid cell under the sampling distribution (unnormalised is
        fine), or ``None`` where it cannot be estimated. Uniform here."""
        return np.ones(len(centres))

    def sampling_entropy(self) -> float:
        """Normalised entropy of where the next task would be drawn (1 = uniform)."""
        grid = entropy_grid(self.box)
        if grid is None:
            return float("nan")
        mass = self._sampling_mass(*grid)
        return float("nan") if mass is None else normalised_entropy(mass)

    def snapshot(self) -> dict[str, np.ndarray]:
        """The latest tasks (rows), their scaled rewards and learning progress, the number of
        updates so far and the sampling distribution's normalised entropy."""
        return {
            "tasks": np.asarray(self._recent_tasks, dtype=np.float64).reshape(-1, self.box.dim),
            "rewards": np.asarray(self._recent_rewards, dtype=np.float64),
            "progress": np.asarray(self._recent_progress, dtype=np.float64),
            "episodes": np.asarray(self.n_updates),
            "entropy": np.asarray(self.sampling_entropy()),
        }

    # -- checkpoints ---------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self._structural}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            box=[self.box.low.tolist(), self.box.high.tolist()],
            reward_bounds=list(self.reward_bounds),
            settings=self._settings(),
            n_updates=self.n_updates,
            recent_tasks=list(self._recent_tasks),
            recent_rewards=list(self._recent_rewards),
            recent_progress=list(self._recent_progress),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)  # checks the teacher's name first
        box = [self.box.low.tolist(), self.box.high.tolist()]
        if state["box"] != box:
            raise CurriculumError(
                f"this checkpoint's {self.name} teacher chose tasks in {state['box']}, "
                f"this one in {box}"
            )
        mine = self._settings()
        for key, value in state["settings"].items():
            if mine.get(key) != value:
                raise CurriculumError(
                    f"this checkpoint's {self.name} teacher has {key}={value!r}, "
                    f"this one {mine.get(key)!r}"
                )
        self.reward_bounds = (float(state["reward_bounds"][0]), float(state["reward_bounds"][1]))
        self.n_updates = int(state["n_updates"])
        self._recent_tasks = deque(state["recent_tasks"], maxlen=self.recent)
        self._recent_rewards = deque(state["recent_rewards"], maxlen=self.recent)
        self._recent_progress = deque(state["recent_progress"], maxlen=self.recent)


def _plain(value: Any) -> Any:
    """``value`` as plain Python (tuples as lists, numpy scalars as numbers)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class RandomTeacher(ContinuousTeacher):
    """Every task uniform over the box: the baseline the other teachers must beat."""

    name = "random"

    def sample(self) -> np.ndarray:
        return self._uniform()
