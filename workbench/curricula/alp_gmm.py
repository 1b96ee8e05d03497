"""ALP-GMM: sample tasks where the student's absolute learning progress is (Portelas et al.,
"Teacher algorithms for curriculum learning of deep RL in continuously parameterized
environments", CoRL 2019).

The teacher keeps every (task, reward) it was told about. The absolute learning progress
(ALP) of a new pair is how far its reward is from the reward of the nearest earlier task:
where the student is getting better (or forgetting), nearby tasks disagree. Every
``fit_rate`` tasks a Gaussian mixture is fitted to the latest (task, ALP) rows; tasks are
then drawn from components in proportion to the ALP at their mean, plus a share of
uniform tasks so that new progress elsewhere can still be found.

This module also holds what ALP-GMM and Covar-GMM (``covar_gmm.py``) share: fitting the
mixtures (scikit-learn's ``GaussianMixture``, the lowest AIC over 2..10 components), the
background refit, the mixture's checkpointing and its views.

Refit cost (measured, 2-D tasks, 250 rows, 9 mixtures; benchmarks/RESULTS.md,
"curricula_toy"): 0.2-0.6 s with BLAS on one thread on a busy 2-core machine, but 4-6 s
with OpenBLAS's default threads (every 3 x 3 triangular solve wakes the thread pool), so
fits run with BLAS limited to one thread. A synchronous refit stalls the student for that
long every 250 tasks. With ``refit_in_background=True`` the fit runs in a worker process
and its result is applied exactly ``apply_after`` tasks later (waiting then only if it is
still running): the run stays reproducible from the seed, and the student does not stall
as long as ``apply_after`` of its episodes outlast a fit (25 episodes of 100 ms: at most
23 ms in any teacher call). A process, not a thread: the fit is Python-heavy, and in a
thread it took the GIL from the student's own Python (stepping environments, SB3's loop)
for as long as it ran. The worker is joblib's reusable loky executor: it is started once
per training process (about 2 s, on the other core), when the teacher is made, and, unlike
``multiprocessing``'s spawn, never re-runs the user's main script.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from joblib.externals.loky import get_reusable_executor
from scipy.spatial import cKDTree
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from workbench.curricula.base import CurriculumError, TaskBox
from workbench.curricula.random_teacher import ContinuousTeacher, gaussian_density

CRITERIA = ("aic", "bic")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FittedMixture:
    """The parameters of a fitted Gaussian mixture over (task, extra columns) rows.

    Only arrays are kept (not the scikit-learn object): they are all sampling needs, they
    checkpoint as plain lists, and a mixture rebuilt from them samples identically.
    """

    weights: np.ndarray  # (k,) mixing weights
    means: np.ndarray  # (k, D) component means over the whole row (task and extra columns)
    covariances: np.ndarray  # (k, D, D) full covariance matrices
    criterion: float  # the AIC (or BIC) that made this k the best one
    seconds: float  # wall time of the whole fit (all candidate k), for the cost views

    @property
    def n_components(self) -> int:
        return int(self.weights.size)

    def to_state(self) -> dict[str, Any]:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
            "criterion": float(self.criterion),
            "seconds": float(self.seconds),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FittedMixture:
        return cls(
            weights=np.asarray(state["weights"], dtype=np.float64),
            means=np.asarray(state["means"], dtype=np.float64),
            covariances=np.asarray(state["covariances"], dtype=np.float64),
            criterion=float(state["criterion"]),
            seconds=float(state["seconds"]),
        )


def fit_best_mixture(
    rows: np.ndarray, components: Sequence[int], criterion: str, seed: int
) -> FittedMixture:
    """Fit one full-covariance mixture per number of components (one EM initialisation
    each, all from ``seed``) and keep the one with the lowest ``criterion`` ("aic" or
    "bic"; the first on a tie).

    Candidates with more components than there are distinct rows are skipped (k-means
    could not seed them). BLAS runs on one thread: the matrices are 3 x 3 or so, and
    waking a thread pool for each one made a fit 20 times slower on a busy machine.
    """
    started = time.perf_counter()
    distinct = len(np.unique(rows, axis=0))
    candidates = [k for k in components if k <= distinct] or [1]
    best: tuple[float, GaussianMixture] | None = None
    with threadpool_limits(limits=1, user_api="blas"):
        for k in candidates:
            mixture = GaussianMixture(
                n_components=k, covariance_type="full", n_init=1, random_state=seed
            ).fit(rows)
            score = float(mixture.aic(rows) if criterion == "aic" else mixture.bic(rows))
            if best is None or score < best[0]:
                best = (score, mixture)
    assert best is not None
    score, mixture = best
    return FittedMixture(
        weights=np.array(mixture.weights_, dtype=np.float64),
        means=np.array(mixture.means_, dtype=np.float64),
        covariances=np.array(mixture.covariances_, dtype=np.float64),
        criterion=score,
        seconds=time.perf_counter() - started,
    )


def _worker_ready() -> bool:
    """Run in the worker to start it: unpickling this function imports this module there
    (scikit-learn, SciPy), which is most of the worker's start-up."""
    return True


def start_fit_worker() -> Future:
    """Start the background fits' worker process now, without waiting for it (the future
    is done once it is ready). Started by the first refit instead, it took about 1.7 s (a
    new interpreter importing scikit-learn), and the student, waiting for that fit
    ``apply_after`` tasks later, stalled for most of it."""
    return get_reusable_executor(max_workers=1).submit(_worker_ready)


class _BackgroundFit:
    """One :func:`fit_best_mixture` call in a worker process (the same fit, bit for bit, as
    in the student's own process: the arguments and the seed are the same, BLAS runs on one
    thread in both)."""

    def __init__(self, rows: np.ndarray, components: Sequence[int], criterion: str, seed: int):
        self._arguments = (rows, list(components), criterion, seed)
        self._result: FittedMixture | None = None
        # One worker: refits of one run come 250 tasks apart, and a second training
        # process has its own.
        self._future = get_reusable_executor(max_workers=1).submit(
            fit_best_mixture, *self._arguments
        )

    @property
    def done(self) -> bool:
        return self._future.done()

    def result(self) -> FittedMixture:
        """The fitted mixture, waiting for the worker if it is still fitting; fitted here
        if the worker died (killed, out of memory), so the run goes on with the same
        mixture."""
        if self._result is None:
            try:
                self._result = self._future.result()
            except BrokenProcessPool as error:
                logger.warning("the mixture's worker process died (%s); fitting here", error)
                self._result = fit_best_mixture(*self._arguments)
        return self._result


class GaussianMixtureTeacher(ContinuousTeacher):
    """What ALP-GMM and Covar-GMM share: a mixture refitted every ``fit_rate`` tasks to
    the latest rows (the task, then extra columns the subclass chooses), tasks drawn
    uniformly for the first ``fit_rate`` tasks and with probability ``random_task_ratio``
    afterwards, else from a component chosen in proportion to its learning progress
    (which the subclass reads off the component), with the extra columns dropped and the
    task clipped to the box.

    Subclasses define ``_fit_rows`` and ``_component_progress``.
    """

    _structural: ClassVar[tuple[str, ...]] = (
        "fit_rate",
        "min_components",
        "max_components",
        "criterion",
        "refit_in_background",
        "apply_after",
    )

    def __init__(
        self,
        box: TaskBox,
        seed: int = 0,
        *,
        fit_rate: int = 250,
        random_task_ratio: float = 0.2,
        min_components: int = 2,
        max_components: int = 10,
        criterion: str = "aic",
        reward_bounds: tuple[float, float] = (0.0, 1.0),
        refit_in_background: bool = False,
        apply_after: int = 25,
        history_limit: int = 400,
        recent: int = 1000,
    ) -> None:
        super().__init__(box, seed, reward_bounds=reward_bounds, recent=recent)
        if int(fit_rate) < 2:
            raise CurriculumError(f"fit_rate must be at least 2 tasks, got {fit_rate}")
        if not 1 <= int(min_components) <= int(max_components):
            raise CurriculumError(
                f"components must satisfy 1 <= min_components <= max_components, "
                f"got {min_components} and {max_components}"
            )
        if criterion not in CRITERIA:
            raise CurriculumError(
                f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}"
            )
        if not 0 <= int(apply_after) <= int(fit_rate):
            raise CurriculumError(
                f"apply_after must be in 0..fit_rate ({fit_rate}), got {apply_after}"
            )
        if int(history_limit) < 1:
            raise CurriculumError(f"history_limit must be at least 1, got {history_limit}")
        # Tasks between two refits; also the number of uniform "bootstrap" tasks before the
        # first one, and the number of latest rows each fit sees (the paper's 250).
        self.fit_rate = int(fit_rate)
        # Numbers of components tried at each refit (the paper's 2..10).
        self.min_components = int(min_components)
        self.max_components = int(max_components)
        # "aic" (the paper's) or "bic": the criterion that picks the number of components.
        self.criterion = criterion
        # Fit in a worker process and apply the result ``apply_after`` tasks later (0 applies
        # it at once, i.e. waits for it: the same tasks as a synchronous fit).
        self.refit_in_background = bool(refit_in_background)
        self.apply_after = int(apply_after)
        # Refits kept for the views' scrubber (older ones are dropped first).
        self.history_limit = int(history_limit)
        self.random_task_ratio = random_task_ratio  # checked by the property's setter

        self.mixture: FittedMixture | None = None
        self._pending: _BackgroundFit | FittedMixture | None = None
        self._pending_fitted_at = 0  # tasks seen when the pending fit's rows were taken
        self._pending_apply_at = 0  # tasks seen when it is applied
        self.history: deque[dict[str, Any]] = deque(maxlen=self.history_limit)
        if self.refit_in_background:  # ready long before the first refit, fit_rate tasks on
            start_fit_worker()
        # Per component, cached when a mixture is applied: the task part of the mean, the
        # Cholesky factor of the task part of the covariance (dropping the extra columns
        # of a Gaussian draw = drawing from this marginal), the learning progress.
        self._task_means = np.empty((0, box.dim))
        self._task_cholesky = np.empty((0, box.dim, box.dim))
        self._progress = np.empty(0)

    # The hot knob: runs change it between samples, so it is checked when set.
    @property
    def random_task_ratio(self) -> float:
        """Probability that a task (after the first ``fit_rate``) is uniform over the box."""
        return self._random_task_ratio

    @random_task_ratio.setter
    def random_task_ratio(self, value: float) -> None:
        try:
            ratio = float(value)
        except (TypeError, ValueError):
            raise CurriculumError(f"random_task_ratio must be a number, got {value!r}") from None
        if not 0.0 <= ratio <= 1.0:
            raise CurriculumError(f"random_task_ratio must be in [0, 1], got {value}")
        self._random_task_ratio = ratio

    @property
    def components(self) -> range:
        return range(self.min_components, self.max_components + 1)

    # -- what subclasses define ----------------------------------------------------------

    def _fit_rows(self) -> np.ndarray:
        """The latest ``fit_rate`` rows (task, extra columns) to fit the mixture on."""
        raise NotImplementedError

    def _component_progress(self, mixture: FittedMixture) -> np.ndarray:
        """Each component's learning progress (the weight its choice is proportional to)."""
        raise NotImplementedError

    # -- refits --------------------------------------------------------------------------

    def _after_update(self) -> None:
        tasks_seen = self.n_updates
        if self._pending is not None and tasks_seen >= self._pending_apply_at:
            self._apply_pending()
        if tasks_seen >= self.fit_rate and tasks_seen % self.fit_rate == 0:
            self._start_refit(tasks_seen)

    def _start_refit(self, tasks_seen: int) -> None:
        if self._pending is not None:  # only reachable with apply_after == fit_rate
            self._apply_pending()
        rows = np.array(self._fit_rows(), dtype=np.float64)
        # Drawn here, in the student's thread, at a fixed point of the sequence: the fit is
        # then the same whether it runs here or in the background.
        seed = int(self.rng.integers(2**31 - 1))
        self._pending_fitted_at = tasks_seen
        if self.refit_in_background:
            self._pending = _BackgroundFit(rows, self.components, self.criterion, seed)
            self._pending_apply_at = tasks_seen + self.apply_after
            if self.apply_after == 0:
                self._apply_pending()
        else:
            self._pending = fit_best_mixture(rows, self.components, self.criterion, seed)
            self._pending_apply_at = tasks_seen
            self._apply_pending()

    def _apply_pending(self) -> None:
        pending = self._pending
        assert pending is not None
        mixture = pending.result() if isinstance(pending, _BackgroundFit) else pending
        self._pending = None
        self._set_mixture(mixture)
        self.history.append(
            {
                "applied_at": self.n_updates,
                "fitted_at": self._pending_fitted_at,
                "mixture": mixture.to_state(),
                "progress": self._progress.tolist(),
                "random_task_ratio": self.random_task_ratio,
                "entropy": self.sampling_entropy(),
            }
        )

    def _set_mixture(self, mixture: FittedMixture) -> None:
        dim = self.box.dim
        self.mixture = mixture
        self._task_means = mixture.means[:, :dim].copy()
        self._task_cholesky = np.stack([_cholesky(c[:dim, :dim]) for c in mixture.covariances])
        self._progress = np.asarray(self._component_progress(mixture), dtype=np.float64)

    def wait_for_refit(self) -> None:
        """Let a background fit finish (its result is still applied at its fixed point)."""
        if isinstance(self._pending, _BackgroundFit):
            self._pending = self._pending.result()

    # -- sampling ------------------------------------------------------------------------

    def sample(self) -> np.ndarray:
        if (
            self.mixture is None
            or self.n_updates < self.fit_rate
            or self.rng.random() < self.random_task_ratio
        ):
            return self._uniform()
        component = self._proportional(self._progress)
        noise = self.rng.standard_normal(self.box.dim)
        return self.box.clip(self._task_means[component] + self._task_cholesky[component] @ noise)

    def component_probabilities(self) -> np.ndarray:
        """Probability that a mixture-drawn task comes from each component."""
        return self._choice_probabilities(self._progress)

    # -- views ---------------------------------------------------------------------------

    def _sampling_mass(self, centres: np.ndarray, widths: np.ndarray) -> np.ndarray | None:
        cells = len(centres)
        if self.mixture is None or self.n_updates < self.fit_rate:
            return np.ones(cells)
        density = np.zeros(cells)
        dim = self.box.dim
        for p, mean, cov in zip(
            self.component_probabilities(), self._task_means, self.mixture.covariances, strict=True
        ):
            if p > 0:
                density += p * gaussian_density(centres, mean, cov[:dim, :dim])
        # Mass that clipping moves onto the box's border is left out: the mixture part is
        # normalised over the grid.
        total = density.sum()
        mixture_mass = density / total if total > 0 else np.full(cells, 1.0 / cells)
        ratio = self.random_task_ratio
        return ratio / cells + (1.0 - ratio) * mixture_mass

    def snapshot(self) -> dict[str, np.ndarray]:
        """Besides the recent tasks (``tasks``, ``rewards``, ``progress``) and ``entropy``:

        - ``gmm_weights`` (k,), ``gmm_means`` (k, d), ``gmm_covariances`` (k, d, d): the
          current mixture over the task dimensions (for 2-sigma ellipses),
          ``gmm_progress`` (k,) each component's learning progress and
          ``gmm_probability`` (k,) the chance a mixture-drawn task comes from it;
        - the history of refits for a scrubber, one row per refit, padded with NaN to
          ``max_components``: ``refit_episode`` (task count when applied),
          ``refit_fitted_at``, ``refit_components``, ``refit_weights``, ``refit_means``,
          ``refit_covariances``, ``refit_progress``, ``refit_entropy``,
          ``refit_seconds``, ``refit_random_task_ratio``;
        - ``random_task_ratio``.
        """
        dim, kmax = self.box.dim, self.max_components
        view = super().snapshot()
        if self.mixture is None:
            view.update(
                gmm_weights=np.empty(0),
                gmm_means=np.empty((0, dim)),
                gmm_covariances=np.empty((0, dim, dim)),
                gmm_progress=np.empty(0),
                gmm_probability=np.empty(0),
            )
        else:
            view.update(
                gmm_weights=self.mixture.weights.copy(),
                gmm_means=self._task_means.copy(),
                gmm_covariances=self.mixture.covariances[:, :dim, :dim].copy(),
                gmm_progress=self._progress.copy(),
                gmm_probability=self.component_probabilities(),
            )
        refits = len(self.history)
        weights = np.full((refits, kmax), np.nan)
        means = np.full((refits, kmax, dim), np.nan)
        covariances = np.full((refits, kmax, dim, dim), np.nan)
        progress = np.full((refits, kmax), np.nan)
        for row, entry in enumerate(self.history):
            mixture = entry["mixture"]
            k = len(mixture["weights"])
            weights[row, :k] = mixture["weights"]
            means[row, :k] = np.asarray(mixture["means"])[:, :dim]
            covariances[row, :k] = np.asarray(mixture["covariances"])[:, :dim, :dim]
            progress[row, :k] = entry["progress"]

        def column(key: str, dtype: type = np.float64) -> np.ndarray:
            return np.array([entry[key] for entry in self.history], dtype=dtype)

        view.update(
            refit_episode=column("applied_at", np.int64),
            refit_fitted_at=column("fitted_at", np.int64),
            refit_components=np.array(
                [len(e["mixture"]["weights"]) for e in self.history], dtype=np.int64
            ),
            refit_weights=weights,
            refit_means=means,
            refit_covariances=covariances,
            refit_progress=progress,
            refit_entropy=column("entropy"),
            refit_seconds=np.array([e["mixture"]["seconds"] for e in self.history]),
            refit_random_task_ratio=column("random_task_ratio"),
            random_task_ratio=np.asarray(self.random_task_ratio),
        )
        return view

    # -- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain values only. A background fit still running is waited for, and its result
        saved with the task count at which it is to be applied."""
        self.wait_for_refit()
        state = super().state_dict()
        pending = self._pending
        assert pending is None or isinstance(pending, FittedMixture)
        state.update(
            random_task_ratio=self.random_task_ratio,
            mixture=None if self.mixture is None else self.mixture.to_state(),
            pending=None
            if pending is None
            else {
                "mixture": pending.to_state(),
                "fitted_at": self._pending_fitted_at,
                "apply_at": self._pending_apply_at,
            },
            history=list(self.history),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.random_task_ratio = state["random_task_ratio"]
        self.mixture = None
        self._progress = np.empty(0)
        if state["mixture"] is not None:
            self._set_mixture(FittedMixture.from_state(state["mixture"]))
        self._pending = None
        if state["pending"] is not None:
            self._pending = FittedMixture.from_state(state["pending"]["mixture"])
            self._pending_fitted_at = int(state["pending"]["fitted_at"])
            self._pending_apply_at = int(state["pending"]["apply_at"])
        self.history = deque(state["history"], maxlen=self.history_limit)


def _cholesky(covariance: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor; scikit-learn's covariances carry ``reg_covar`` on the
    diagonal, so the jittered retry only guards against round-off."""
    try:
        return np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return np.linalg.cholesky(covariance + 1e-9 * np.eye(len(covariance)))


class NearestRewardIndex:
    """Every task stored so far and its reward; answers "the reward of the nearest earlier
    task" (Euclidean) in microseconds.

    A ``cKDTree`` covers the first rows; the rows added since its last build are searched
    by brute force, and the tree is rebuilt once they are more than ``max(512, n / 32)``
    (so rebuilds cost a few microseconds per task at any size). On a tie between the tree
    and the newer rows the tree's (earlier) task wins; a restored index rebuilds the same
    split, so it answers exactly as the original.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._tasks = np.empty((1024, dim))
        self._rewards = np.empty(1024)
        self.size = 0
        self._tree: cKDTree | None = None
        self.tree_size = 0  # rows covered by the tree

    def __len__(self) -> int:
        return self.size

    @property
    def capacity(self) -> int:
        """Rows allocated (grown by doubling)."""
        return len(self._rewards)

    @property
    def tasks(self) -> np.ndarray:
        return self._tasks[: self.size]

    @property
    def rewards(self) -> np.ndarray:
        return self._rewards[: self.size]

    def nearest_reward(self, task: np.ndarray) -> float:
        """The reward of the stored task nearest ``task`` (there must be one)."""
        best_distance, best_reward = math.inf, math.nan
        if self._tree is not None:
            distance, index = self._tree.query(task)
            best_distance, best_reward = float(distance), float(self._rewards[index])
        if self.size > self.tree_size:
            newer = self._tasks[self.tree_size : self.size]
            squared = ((newer - task) ** 2).sum(axis=1)
            index = int(np.argmin(squared))
            if math.sqrt(squared[index]) < best_distance:
                best_reward = float(self._rewards[self.tree_size + index])
        return best_reward

    def add(self, task: np.ndarray, reward: float) -> None:
        if self.size == self.capacity:  # grow by doubling: amortised O(1) appends
            self._tasks = np.concatenate([self._tasks, np.empty_like(self._tasks)])
            self._rewards = np.concatenate([self._rewards, np.empty_like(self._rewards)])
        self._tasks[self.size] = task
        self._rewards[self.size] = reward
        self.size += 1
        if self.size - self.tree_size > max(512, self.size // 32):
            self._build(self.size)

    def _build(self, rows: int) -> None:
        # copy_data: the tree must not see the buffer's later rows or its reallocation.
        self._tree = cKDTree(self._tasks[:rows], copy_data=True) if rows else None
        self.tree_size = rows

    def restore(self, tasks: list[list[float]], rewards: list[float], tree_size: int) -> None:
        n = len(rewards)
        capacity = max(1024, 1 << (n - 1).bit_length())
        self._tasks = np.empty((capacity, self.dim))
        self._rewards = np.empty(capacity)
        if n:
            self._tasks[:n] = np.asarray(tasks, dtype=np.float64).reshape(n, self.dim)
            self._rewards[:n] = rewards
        self.size = n
        self._build(int(tree_size))


class ALPGMM(GaussianMixtureTeacher):
    """ALP-GMM (Portelas et al. 2019), as CURRICULA.md states it.

    - ALP of a new (task, reward): |reward - reward of the nearest earlier task|, 0 while
      5 or fewer tasks are stored; the pair is stored after the look-up.
    - The first ``fit_rate`` (250) tasks are uniform; then every 250 tasks a mixture of
      2..10 full-covariance Gaussians is fitted to the last 250 (task, ALP) rows, the
      lowest AIC kept.
    - Each later task is uniform with probability ``random_task_ratio`` (0.2), else drawn
      from a component chosen in proportion to the ALP coordinate of its mean (uniformly
      if all are 0), its ALP coordinate dropped and the task clipped to the box.

    Keyword arguments are :class:`GaussianMixtureTeacher`'s (fit rate, components,
    criterion, background refits, reward bounds).
    """

    name = "alp-gmm"

    # ALP is 0 until more than this many tasks are stored (the reference code's rule: a
    # nearest neighbour among a handful of tasks says little).
    MIN_STORED_FOR_ALP = 5

    def __init__(self, box: TaskBox, seed: int = 0, **settings: Any) -> None:
        super().__init__(box, seed, **settings)
        self.index = NearestRewardIndex(box.dim)
        self._alps = np.empty(1024)

    def _learn(self, task: np.ndarray, reward: float) -> float:
        alp = 0.0
        if len(self.index) > self.MIN_STORED_FOR_ALP:
            alp = abs(reward - self.index.nearest_reward(task))
        self.index.add(task, reward)
        if self.index.size > len(self._alps):  # grown alongside the index
            self._alps = np.concatenate([self._alps, np.empty_like(self._alps)])
        self._alps[self.index.size - 1] = alp
        return alp

    @property
    def alps(self) -> np.ndarray:
        """The ALP of every task stored so far, in order."""
        return self._alps[: self.index.size]

    def _fit_rows(self) -> np.ndarray:
        n = self.index.size
        return np.column_stack(
            [self.index.tasks[n - self.fit_rate :], self.alps[n - self.fit_rate :]]
        )

    def _component_progress(self, mixture: FittedMixture) -> np.ndarray:
        # The ALP coordinate of each mean; a mean of non-negative ALPs is non-negative up
        # to round-off, which _proportional treats as 0.
        return mixture.means[:, -1].copy()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            tasks=self.index.tasks.tolist(),
            rewards=self.index.rewards.tolist(),
            alps=self.alps.tolist(),
            index_tree_size=self.index.tree_size,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.index.restore(state["tasks"], state["rewards"], state["index_tree_size"])
        self._alps = np.empty(self.index.capacity)
        self._alps[: self.index.size] = state["alps"]
