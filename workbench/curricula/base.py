"""What every curriculum teacher offers: one small API over task spaces and teachers.

A teacher decides which task the student trains on next from what the student has shown so
far. Continuous teachers (ALP-GMM, Covar-GMM, RIAC, Random) sample points of a box; level
teachers (PLR, robust PLR, ACCEL) sample levels of a discrete family. All of them:

- ``sample()`` the next task,
- ``update(task, score)`` with what the student did on it (a reward scaled to [0, 1] for
  the continuous teachers; PLR scores an episode from its values and rewards),
- ``state_dict()`` / ``load_state_dict()``: plain Python values only (numbers, strings,
  lists, dicts; arrays as nested lists via ``tolist()``): a run's checkpoint is loaded with
  ``torch.load(weights_only=True)``, which refuses numpy arrays. The restored teacher
  samples exactly what the original would have sampled next,
- ``snapshot()``: named numpy arrays for the views (sampled tasks, learning progress,
  GMM components, regions, the level buffer),

and each draws from a seeded ``numpy.random.Generator`` of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np


class CurriculumError(ValueError):
    """Bad input to a teacher: a task outside the bounds, a task of the wrong dimension, an
    unknown teacher, a checkpoint from another teacher. The message names what was wrong."""


class TaskBox:
    """A continuous task space: the box ``low <= task <= high`` (one entry per dimension)."""

    def __init__(self, low: Any, high: Any, names: tuple[str, ...] | None = None) -> None:
        self.low = np.asarray(low, dtype=np.float64).reshape(-1)
        self.high = np.asarray(high, dtype=np.float64).reshape(-1)
        if self.low.shape != self.high.shape:
            raise CurriculumError(
                f"task bounds differ in dimension: low has {self.low.size}, high {self.high.size}"
            )
        if not np.all(self.high > self.low):
            raise CurriculumError(
                f"task bounds must have high > low, got {self.low} and {self.high}"
            )
        self.names = names or tuple(f"task_{i}" for i in range(self.low.size))
        if len(self.names) != self.low.size:
            raise CurriculumError(f"{len(self.names)} names for a {self.low.size}-D task space")

    @property
    def dim(self) -> int:
        return int(self.low.size)

    def check(self, task: Any) -> np.ndarray:
        """``task`` as a float array, or a :class:`CurriculumError` naming what is wrong."""
        point = np.asarray(task, dtype=np.float64).reshape(-1)
        if point.size != self.dim:
            raise CurriculumError(
                f"task {np.asarray(task).tolist()} has {point.size} dimensions; this task space "
                f"has {self.dim} ({', '.join(self.names)})"
            )
        if not np.all(np.isfinite(point)) or np.any(point < self.low) or np.any(point > self.high):
            raise CurriculumError(
                f"task {point.tolist()} is outside the task space "
                f"[{self.low.tolist()}, {self.high.tolist()}]"
            )
        return point

    def uniform(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """Tasks drawn uniformly from the box (one, or ``n`` as rows)."""
        size = (self.dim,) if n is None else (n, self.dim)
        return rng.uniform(self.low, self.high, size=size)

    def clip(self, task: np.ndarray) -> np.ndarray:
        return np.clip(task, self.low, self.high)


class Teacher(ABC):
    """Base of all teachers. ``name`` is the short name the CLI and run configs use."""

    name: ClassVar[str]

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    @abstractmethod
    def sample(self) -> Any:
        """The next task."""

    @abstractmethod
    def update(self, task: Any, score: float) -> None:
        """What the student did on ``task`` (higher is better for the continuous teachers)."""

    @abstractmethod
    def snapshot(self) -> dict[str, np.ndarray]:
        """Named arrays for the views; cheap enough to call at every evaluation."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: subclasses add their own entries."""
        return {"teacher": self.name, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("teacher") != self.name:
            raise CurriculumError(
                f"this checkpoint holds a {state.get('teacher')!r} teacher's state, "
                f"not a {self.name!r} teacher's"
            )
        self.rng.bit_generator.state = state["rng"]
