"""Covar-GMM: sample tasks from the Gaussian components whose reward grows with time
(Moulin-Frier, Nguyen and Oudeyer 2014, in the form of Portelas et al. 2019's code).

Each (task, reward) becomes a row (task, time, reward), time being the task's position in
the current window of ``fit_rate`` tasks scaled to [0, 1). Every ``fit_rate`` tasks a
Gaussian mixture is fitted to the latest rows; a component whose covariance of time and
reward is positive covers tasks the student is getting better at, so components are
chosen in proportion to max(0, cov(time, reward)) - its learning progress. The rest is
ALP-GMM's: uniform tasks first and with probability ``random_task_ratio``, the lowest AIC
over 2..10 components, the extra columns dropped and the task clipped to the box.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from workbench.curricula.alp_gmm import FittedMixture, GaussianMixtureTeacher
from workbench.curricula.base import TaskBox
from workbench.curricula.random_teacher import gaussian_density


class CovarGMM(GaussianMixtureTeacher):
    """Covar-GMM as CURRICULA.md states it. Keyword arguments are
    :class:`~workbench.curricula.alp_gmm.GaussianMixtureTeacher`'s (fit rate 250, random
    task ratio 0.2, components 2..10, AIC, background refits, reward bounds)."""

    name = "covar-gmm"

    def __init__(self, box: TaskBox, seed: int = 0, **settings: Any) -> None:
        super().__init__(box, seed, **settings)
        # Only the latest window is ever fitted: older rows are not kept.
        self._rows: deque[list[float]] = deque(maxlen=self.fit_rate)

    def _learn(self, task: np.ndarray, reward: float) -> float:
        # Time within the fit window, 0, 1/fit_rate, ..., (fit_rate - 1)/fit_rate: the
        # window of each fit is exactly one sweep of it.
        time_in_window = (self.n_updates % self.fit_rate) / self.fit_rate
        self._rows.append([*task.tolist(), time_in_window, reward])
        # A single task has no learning progress of its own here; snapshot() shows each
        # task with the progress of the component it most likely belongs to.
        return 0.0

    def _fit_rows(self) -> np.ndarray:
        return np.asarray(self._rows, dtype=np.float64)

    def _component_progress(self, mixture: FittedMixture) -> np.ndarray:
        # Covariance of time (column -2) and reward (column -1): positive where reward grows.
        return np.maximum(0.0, mixture.covariances[:, -2, -1])

    def snapshot(self) -> dict[str, np.ndarray]:
        """As :meth:`GaussianMixtureTeacher.snapshot`, with each recent task's ``progress``
        the learning progress of the component most likely to hold it (over the task
        dimensions; 0 before the first fit)."""
        view = super().snapshot()
        tasks = view["tasks"]
        if self.mixture is not None and len(tasks):
            dim = self.box.dim
            likelihood = np.stack(
                [
                    w * gaussian_density(tasks, mean, cov[:dim, :dim])
                    for w, mean, cov in zip(
                        self.mixture.weights,
                        self._task_means,
                        self.mixture.covariances,
                        strict=True,
                    )
                ]
            )
            view["progress"] = self._progress[np.argmax(likelihood, axis=0)]
        return view

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["rows"] = list(self._rows)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._rows = deque(state["rows"], maxlen=self.fit_rate)
