"""The teachDeepRL toy task space: "% of mastered cells", a bench for continuous teachers.

A task is a point of [0, 1]^2 (or [0, 1]^n), cut into 10 cells a side. Each cell has a
competence from 0 to 100. Training on a task raises its cell's competence by one, but
only in the first cell (0, 0) or next to a cell already learnt: a "previous" neighbour
(each index equal or one lower, at least one lower) with competence >= 75. Mastery
therefore spreads from the corner, and uniform sampling spends most episodes on cells
it cannot learn yet; a teacher that follows learning progress keeps to the frontier.

    run_toy("alp-gmm", episodes=20_000, seed=0)["mastered_percent"]
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np

from workbench.curricula import make_teacher
from workbench.curricula.base import TaskBox

# The teachers that choose points of a task box, by their registry names.
TOY_TEACHERS = ("random", "alp-gmm", "covar-gmm", "riac")


class ToyTaskSpace:
    """Cells of [0, 1]^dims with competences; ``episode(task)`` trains on one task.

    The rule is applied through an ``unlocked`` map rather than by looking at neighbours
    at every episode: competence never falls, so a cell is learnable from the moment one
    of its previous neighbours reaches the unlock level, and stays so.
    """

    def __init__(
        self,
        cells_per_dim: int = 10,
        dims: int = 2,
        max_competence: int = 100,
        unlock_at: int = 75,
        mastered_above: int = 75,
    ) -> None:
        # Cells a side (the reference's nb_cubes = 10) and task dimensions (2).
        self.cells_per_dim = int(cells_per_dim)
        self.dims = int(dims)
        # Competence cap; the reward is competence / max_competence after the episode.
        self.max_competence = int(max_competence)
        # A cell with competence >= unlock_at makes its next neighbours learnable.
        self.unlock_at = int(unlock_at)
        # A cell counts as mastered when its competence is > mastered_above.
        self.mastered_above = int(mastered_above)
        self.box = TaskBox([0.0] * self.dims, [1.0] * self.dims)
        shape = (self.cells_per_dim,) * self.dims
        self.competence = np.zeros(shape, dtype=np.int64)
        self.unlocked = np.zeros(shape, dtype=bool)
        self.unlocked[(0,) * self.dims] = True
        # The "next" neighbours of each cell (each index equal or one higher, at least one
        # higher), as flat indices: the cells a newly learnt cell unlocks.
        self._next = [
            np.array(
                [
                    np.ravel_multi_index(tuple(np.add(cell, step)), shape)
                    for step in itertools.product((0, 1), repeat=self.dims)
                    if any(step)
                    and all(c + s < self.cells_per_dim for c, s in zip(cell, step, strict=True))
                ],
                dtype=np.int64,
            )
            for cell in np.ndindex(shape)
        ]

    def cell(self, task: np.ndarray) -> tuple[int, ...]:
        """The cell holding ``task`` (the upper edge 1.0 belongs to the last cell)."""
        index = np.minimum(
            (np.asarray(task) * self.cells_per_dim).astype(np.int64), self.cells_per_dim - 1
        )
        return tuple(int(i) for i in index)

    def episode(self, task: Any) -> float:
        """Train once on ``task``; the reward is the cell's competence / 100 afterwards."""
        cell = self.cell(self.box.check(task))
        competence = int(self.competence[cell])
        if self.unlocked[cell] and competence < self.max_competence:
            competence += 1
            self.competence[cell] = competence
            if competence == self.unlock_at:
                self.unlocked.flat[
                    self._next[np.ravel_multi_index(cell, self.competence.shape)]
                ] = True
        return competence / self.max_competence

    def mastered_percent(self) -> float:
        """% of cells with competence above ``mastered_above``."""
        return float(100.0 * np.mean(self.competence > self.mastered_above))


def run_toy(
    teacher_name: str,
    episodes: int = 20_000,
    seed: int = 0,
    every: int = 1_000,
    **teacher_settings: Any,
) -> dict[str, Any]:
    """One teacher on a fresh toy space: ``episodes`` episodes, the mastered % measured
    before the first one and every ``every`` episodes (and after the last).

    Returns ``episodes`` (the counts at which it was measured), ``mastered_percent``,
    ``seconds`` (the whole run), ``sample_us`` / ``update_us`` (mean teacher time per call,
    refits included), ``update_us_median``, ``refit_seconds`` (each GMM refit's fit time,
    where the teacher has any) and ``competence`` (the final map, as lists).
    """
    if episodes < 1 or every < 1:
        raise ValueError(f"episodes and every must be positive, got {episodes} and {every}")
    space = ToyTaskSpace()
    teacher = make_teacher(teacher_name, box=space.box, seed=seed, **teacher_settings)
    measured_at: list[int] = []
    mastered: list[float] = []
    sample_seconds = np.empty(episodes)
    update_seconds = np.empty(episodes)
    clock = time.perf_counter
    started = clock()
    for episode in range(episodes):
        if episode % every == 0:
            measured_at.append(episode)
            mastered.append(space.mastered_percent())
        t0 = clock()
        task = teacher.sample()
        t1 = clock()
        reward = space.episode(task)
        t2 = clock()
        teacher.update(task, reward)
        t3 = clock()
        sample_seconds[episode] = t1 - t0
        update_seconds[episode] = t3 - t2
    if measured_at[-1] != episodes:
        measured_at.append(episodes)
        mastered.append(space.mastered_percent())
    seconds = clock() - started
    refits = teacher.snapshot().get("refit_seconds")
    return {
        "teacher": teacher_name,
        "seed": seed,
        "episodes": measured_at,
        "mastered_percent": mastered,
        "seconds": seconds,
        "sample_us": float(sample_seconds.mean() * 1e6),
        "update_us": float(update_seconds.mean() * 1e6),
        "update_us_median": float(np.median(update_seconds) * 1e6),
        "refit_seconds": [] if refits is None else refits.tolist(),
        "competence": space.competence.tolist(),
    }
