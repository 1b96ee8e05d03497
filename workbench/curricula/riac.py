"""RIAC: Robust Intelligent Adaptive Curiosity (Baranes and Oudeyer 2009), in the form
Portelas et al. 2019 compared it with ALP-GMM.

The task box is split, recursively, into regions. Each region keeps a window of its latest
(task, reward) pairs; its absolute learning progress (ALP) is how much the mean reward
of the newer half of the window differs from the older half's. A full region splits
where its two children's learning progress differs most, so regions come to separate
what the student is learning from what it knows or cannot yet learn. Tasks are drawn
from regions in proportion to their ALP, with uniform tasks and small mutations of each
region's worst task mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from workbench.curricula.base import CurriculumError, TaskBox
from workbench.curricula.random_teacher import ContinuousTeacher, gaussian_density


@dataclass
class Region:
    """A box of the task space, with its window of (task, reward) pairs.

    Regions form a binary tree; a split region keeps its own window (it still takes part
    in sampling) and routes each new task to the child on its side of ``threshold``.
    """

    low: np.ndarray
    high: np.ndarray
    tasks: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    alp: float = 0.0
    created_at: int = 0  # task count when the region was made
    split_dim: int = -1  # -1: a leaf
    threshold: float = 0.0  # tasks with task[split_dim] < threshold go to the first child
    children: tuple[int, int] | None = None

    @property
    def is_leaf(self) -> bool:
        return self.children is None

    def to_state(self) -> dict[str, Any]:
        return {
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "tasks": [t.tolist() for t in self.tasks],
            "rewards": list(self.rewards),
            "alp": self.alp,
            "created_at": self.created_at,
            "split_dim": self.split_dim,
            "threshold": self.threshold,
            "children": None if self.children is None else list(self.children),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Region:
        return cls(
            low=np.asarray(state["low"], dtype=np.float64),
            high=np.asarray(state["high"], dtype=np.float64),
            tasks=[np.asarray(t, dtype=np.float64) for t in state["tasks"]],
            rewards=[float(r) for r in state["rewards"]],
            alp=float(state["alp"]),
            created_at=int(state["created_at"]),
            split_dim=int(state["split_dim"]),
            threshold=float(state["threshold"]),
            children=None if state["children"] is None else tuple(state["children"]),
        )


def window_alp(rewards: list[float], window: int) -> float:
    """|mean of the older half - mean of the newer half| of the latest ``window`` rewards
    (the older half gets the odd one); 0 for fewer than 3 rewards."""
    if len(rewards) <= 2:
        return 0.0
    span = min(len(rewards), window)
    half = span // 2
    older = rewards[len(rewards) - span : len(rewards) - half]
    newer = rewards[len(rewards) - half :]
    return abs(sum(older) / len(older) - sum(newer) / len(newer))


class RIAC(ContinuousTeacher):
    """RIAC as CURRICULA.md states it.

    - A region holds up to ``max_region_size`` (200) pairs; when a leaf holds more, up to
      ``split_attempts`` (50) random splits are tried (a dimension, and a threshold uniform
      in the region's extent there). A split is valid if each child gets at least
      ``max_region_size / 20`` (10) pairs and at least ``min_width_ratio`` (1/15) of the
      whole task space's range in that dimension. The valid split with the largest
      n1 * n2 * |ALP1 - ALP2| is made (the paper's weighting by the children's sizes;
      the reference code multiplies by a constant instead). With no valid split the leaf
      drops its oldest quarter (50 pairs).
    - A region's ALP: |mean reward of the newer half - of the older half| of its window.
    - Sampling: with probability 0.7 a region (any region of the tree, split or not, as
      in the reference code) chosen in proportion to its ALP, uniformly inside it; 0.2 a
      uniform task; 0.1 the lowest-reward task of an ALP-chosen region plus Gaussian noise
      (standard deviation 0.1 of each dimension's range), clipped to that region.
    """

    name = "riac"
    _structural: ClassVar[tuple[str, ...]] = (
        "max_region_size",
        "split_attempts",
        "min_width_ratio",
        "discard_ratio",
        "mode_probabilities",
        "mutation_std",
    )

    def __init__(
        self,
        box: TaskBox,
        seed: int = 0,
        *,
        max_region_size: int = 200,
        split_attempts: int = 50,
        min_width_ratio: float = 1 / 15,
        discard_ratio: float = 1 / 4,
        mode_probabilities: tuple[float, float, float] = (0.7, 0.2, 0.1),
        mutation_std: float = 0.1,
        reward_bounds: tuple[float, float] = (0.0, 1.0),
        history_limit: int = 400,
        recent: int = 1000,
    ) -> None:
        super().__init__(box, seed, reward_bounds=reward_bounds, recent=recent)
        if int(max_region_size) < 20:
            raise CurriculumError(f"max_region_size must be at least 20, got {max_region_size}")
        if int(split_attempts) < 1:
            raise CurriculumError(f"split_attempts must be at least 1, got {split_attempts}")
        if not 0.0 <= min_width_ratio < 0.5:
            raise CurriculumError(f"min_width_ratio must be in [0, 0.5), got {min_width_ratio}")
        if not 0.0 < discard_ratio < 1.0:
            raise CurriculumError(f"discard_ratio must be in (0, 1), got {discard_ratio}")
        modes = tuple(float(p) for p in mode_probabilities)
        if len(modes) != 3 or min(modes) < 0 or abs(sum(modes) - 1.0) > 1e-9:
            raise CurriculumError(
                f"mode_probabilities must be three non-negative numbers summing to 1 "
                f"(region, uniform, mutation), got {mode_probabilities}"
            )
        # Pairs a leaf holds before it must split; also each region's ALP window.
        self.max_region_size = int(max_region_size)
        # Random (dimension, threshold) candidates tried per split.
        self.split_attempts = int(split_attempts)
        # A child must span at least this share of the task space's range in every dimension.
        self.min_width_ratio = float(min_width_ratio)
        # Share of a full leaf's oldest pairs dropped when no split is valid.
        self.discard_ratio = float(discard_ratio)
        # Probabilities of the sampling modes: ALP-proportional region, uniform, mutation.
        self.mode_probabilities = modes
        # Mutation noise, as a share of each dimension's range (0.1 of the unit box).
        self.mutation_std = float(mutation_std)
        # Splits kept for the views' scrubber (older ones are dropped first).
        self.history_limit = int(history_limit)
        self.regions: list[Region] = [Region(low=box.low.copy(), high=box.high.copy())]
        self.splits: list[dict[str, Any]] = []  # {"episode", "region", "alps"} per split
        self._pending_split: int | None = None  # region split by the task being learnt
        self._alp_cache: np.ndarray | None = None
        # Tasks sampled in each mode (region, uniform, mutation), for the views and tests.
        self.mode_counts = [0, 0, 0]

    @property
    def min_child_size(self) -> int:
        """Pairs each child of a split must get: ``max_region_size / 20`` (10)."""
        return self.max_region_size // 20

    @property
    def range(self) -> np.ndarray:
        return self.box.high - self.box.low

    # -- learning ------------------------------------------------------------------------

    def _path(self, task: np.ndarray) -> list[int]:
        """Indices of the regions holding ``task``, root first, leaf last."""
        path = [0]
        region = self.regions[0]
        while region.children is not None:
            side = 0 if task[region.split_dim] < region.threshold else 1
            path.append(region.children[side])
            region = self.regions[path[-1]]
        return path

    def _learn(self, task: np.ndarray, reward: float) -> float:
        self._alp_cache = None
        path = self._path(task)
        # Every region on the path keeps the pair; a split region's window stays at
        # max_region_size + 1 pairs (the size at which a leaf splits).
        for index in path:
            region = self.regions[index]
            region.tasks.append(task)
            region.rewards.append(reward)
            if len(region.rewards) > self.max_region_size + 1:
                del region.tasks[0], region.rewards[0]
        leaf_index = path[-1]
        if len(self.regions[leaf_index].rewards) > self.max_region_size:
            self._split_or_discard(leaf_index)
        for index in path:
            region = self.regions[index]
            region.alp = window_alp(region.rewards, self.max_region_size)
        return self.regions[self._path(task)[-1]].alp

    def _split_or_discard(self, index: int) -> None:
        region = self.regions[index]
        tasks = np.asarray(region.tasks)
        rewards = region.rewards
        min_width = self.min_width_ratio * self.range
        best: tuple[float, int, float, np.ndarray] | None = None
        for _ in range(self.split_attempts):
            dim = int(self.rng.integers(self.box.dim))
            threshold = float(self.rng.uniform(region.low[dim], region.high[dim]))
            if (
                threshold - region.low[dim] < min_width[dim]
                or region.high[dim] - threshold < min_width[dim]
            ):
                continue
            first = tasks[:, dim] < threshold
            n_first = int(first.sum())
            n_second = len(rewards) - n_first
            if n_first < self.min_child_size or n_second < self.min_child_size:
                continue
            alp_first = window_alp(
                [r for r, f in zip(rewards, first, strict=True) if f], self.max_region_size
            )
            alp_second = window_alp(
                [r for r, f in zip(rewards, first, strict=True) if not f], self.max_region_size
            )
            # The paper's criterion: card(R1) * card(R2) * |LP(R1) - LP(R2)|.
            score = n_first * n_second * abs(alp_first - alp_second)
            if best is None or score > best[0]:
                best = (score, dim, threshold, first)
        if best is None:
            drop = int(self.max_region_size * self.discard_ratio)
            del region.tasks[:drop], region.rewards[:drop]
            return
        _, dim, threshold, first = best
        children = []
        for side_mask, low, high in (
            (first, region.low.copy(), region.high.copy()),
            (~first, region.low.copy(), region.high.copy()),
        ):
            if side_mask is first:
                high[dim] = threshold
            else:
                low[dim] = threshold
            child = Region(
                low=low,
                high=high,
                tasks=[t for t, keep in zip(region.tasks, side_mask, strict=True) if keep],
                rewards=[r for r, keep in zip(region.rewards, side_mask, strict=True) if keep],
                created_at=self.n_updates + 1,
            )
            child.alp = window_alp(child.rewards, self.max_region_size)
            children.append(len(self.regions))
            self.regions.append(child)
        region.split_dim, region.threshold = dim, threshold
        region.children = (children[0], children[1])
        self._pending_split = index

    def _after_update(self) -> None:
        # Recorded once every ALP on the path is up to date, at the task count that made it.
        index = self._pending_split
        if index is not None:
            self._pending_split = None
            self.splits.append(
                {"episode": self.n_updates, "region": index, "alps": self._alps().tolist()}
            )
            del self.splits[: max(0, len(self.splits) - self.history_limit)]

    def _alps(self) -> np.ndarray:
        """Every region's ALP, cached between updates (sampling reads it every time)."""
        if self._alp_cache is None:
            self._alp_cache = np.array([r.alp for r in self.regions])
        return self._alp_cache

    # -- sampling ------------------------------------------------------------------------

    def region_probabilities(self) -> np.ndarray:
        """Probability that an ALP-chosen region is each region."""
        return self._choice_probabilities(self._alps())

    # Sampling modes, in the order of mode_probabilities and of mode_counts.
    MODES: ClassVar[tuple[str, ...]] = ("region", "uniform", "mutation")

    def sample(self) -> np.ndarray:
        mode = self.rng.random()
        by_region, uniform, _mutation = self.mode_probabilities
        if mode < by_region:
            self.mode_counts[0] += 1
            region = self.regions[self._proportional(self._alps())]
            return self.rng.uniform(region.low, region.high)
        if mode < by_region + uniform or self.n_updates == 0:
            # Before any update there is no worst task to mutate: uniform, as the reference.
            self.mode_counts[1] += 1
            return self._uniform()
        self.mode_counts[2] += 1
        region = self.regions[self._proportional(self._alps())]
        if not region.rewards:  # cannot happen after the first update; kept safe
            return self.rng.uniform(region.low, region.high)
        worst = region.tasks[int(np.argmin(region.rewards))]
        mutated = self.rng.normal(worst, self.mutation_std * self.range)
        return np.clip(mutated, region.low, region.high)

    # -- views ---------------------------------------------------------------------------

    def _sampling_mass(self, centres: np.ndarray, widths: np.ndarray) -> np.ndarray | None:
        cells = len(centres)
        if self.n_updates == 0:
            return np.ones(cells)
        by_region, uniform, mutation = self.mode_probabilities
        probabilities = self.region_probabilities()
        in_regions = np.zeros(cells)
        mutated = np.zeros(cells)
        for p, region in zip(probabilities, self.regions, strict=True):
            if p == 0:
                continue
            inside = np.all((centres >= region.low) & (centres <= region.high), axis=1)
            if inside.any():
                in_regions[inside] += p / inside.sum()
                if region.rewards:
                    worst = region.tasks[int(np.argmin(region.rewards))]
                    density = np.where(
                        inside,
                        gaussian_density(
                            centres, worst, np.diag((self.mutation_std * self.range) ** 2)
                        ),
                        0.0,
                    )
                    if density.sum() > 0:
                        mutated += p * density / density.sum()
        return uniform / cells + by_region * in_regions + mutation * mutated

    def snapshot(self) -> dict[str, np.ndarray]:
        """Besides the recent tasks (``progress`` = ALP of the leaf that holds each one now)
        and ``entropy``:

        - ``region_low`` / ``region_high`` (R, d) boxes, ``region_alp`` (R,),
          ``region_probability`` (R,), ``region_size`` (pairs in the window),
          ``region_is_leaf``, ``region_created`` (task count when made), ``region_parent``
          (-1 for the root); regions are never removed, so the tree at any earlier split
          is the regions created up to it;
        - the history of splits for a scrubber: ``split_episode`` (S,), ``split_region``
          (S,), ``split_alps`` (S, R) every region's ALP just after it (NaN for regions not
          yet made);
        - ``mode_counts`` (3,): tasks sampled so far per mode (region, uniform, mutation).
        """
        view = super().snapshot()
        if len(view["tasks"]):
            view["progress"] = np.array(
                [self.regions[self._path(t)[-1]].alp for t in view["tasks"]]
            )
        parents = np.full(len(self.regions), -1, dtype=np.int64)
        for index, region in enumerate(self.regions):
            if region.children is not None:
                parents[list(region.children)] = index
        alps = np.full((len(self.splits), len(self.regions)), np.nan)
        for row, split in enumerate(self.splits):
            alps[row, : len(split["alps"])] = split["alps"]
        view.update(
            region_low=np.array([r.low for r in self.regions]),
            region_high=np.array([r.high for r in self.regions]),
            region_alp=self._alps().copy(),
            region_probability=self.region_probabilities(),
            region_size=np.array([len(r.rewards) for r in self.regions], dtype=np.int64),
            region_is_leaf=np.array([r.is_leaf for r in self.regions]),
            region_created=np.array([r.created_at for r in self.regions], dtype=np.int64),
            region_parent=parents,
            split_episode=np.array([s["episode"] for s in self.splits], dtype=np.int64),
            split_region=np.array([s["region"] for s in self.splits], dtype=np.int64),
            split_alps=alps,
            mode_counts=np.array(self.mode_counts, dtype=np.int64),
        )
        return view

    # -- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            regions=[r.to_state() for r in self.regions],
            splits=list(self.splits),
            mode_counts=list(self.mode_counts),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.regions = [Region.from_state(r) for r in state["regions"]]
        self._alp_cache = None
        self.splits = list(state["splits"])
        self.mode_counts = [int(c) for c in state["mode_counts"]]
