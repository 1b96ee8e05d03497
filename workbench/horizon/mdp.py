"""Finite-horizon MDPs as the horizon analyses read them.

A :class:`HorizonMDP` lists each (state, action)'s successors instead of holding a dense
(S, A, S) array, so MiniGrid and BRIDGE MDPs of tens of thousands of states fit in memory,
and one Bellman backup over every state is a handful of array operations. Deterministic
MDPs (BRIDGE's) have one successor per (state, action); stochastic ones a few.

Conventions, as in BRIDGE (``../shared/HORIZON.md``): successor ``-1`` ends the episode
(a terminal transition, value 0 afterwards); the start state is index 0 unless a start
distribution says otherwise; horizon T counts the actions of an episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from environments.tabular import TabularMDP

TERMINAL = -1


class MDPFormatError(ValueError):
    """A file or array that is not a valid MDP, with what is wrong in the message."""


@dataclass
class HorizonMDP:
    """A finite-horizon MDP with successor lists.

    Attributes:
        successors: (S, A, K) next-state indices, ``-1`` for the end of the episode;
            deterministic MDPs have K = 1. Padding entries have probability 0.
        probabilities: (S, A, K) transition probabilities; each (s, a) sums to 1.
        rewards: (S, A) expected immediate rewards.
        horizon: T, the number of actions in an episode.
        start: (S,) start-state distribution (default: all mass on state 0).
        name: what the MDP is (an environment id, a file name), for tables and titles.
        screens: optional pictures (N, H, W, 3) uint8, with ``screen_mapping`` (S,) the
            picture of each state (BRIDGE's optional arrays).
        positions: optional (S, 2) grid (x, y) of each state, for heat maps over a grid
            world; several states (directions, inventories) may share a cell.
        discount: gamma applied to every later reward (1: the undiscounted finite-horizon
            return of the papers; below 1 for discount sweeps).
    """

    successors: np.ndarray
    probabilities: np.ndarray
    rewards: np.ndarray
    horizon: int
    start: np.ndarray | None = None
    name: str = "mdp"
    screens: np.ndarray | None = field(default=None, repr=False)
    screen_mapping: np.ndarray | None = field(default=None, repr=False)
    positions: np.ndarray | None = field(default=None, repr=False)
    discount: float = 1.0

    def __post_init__(self) -> None:
        self.successors = np.asarray(self.successors, dtype=np.int64)
        self.probabilities = np.asarray(self.probabilities, dtype=np.float64)
        self.rewards = np.asarray(self.rewards, dtype=np.float64)
        if self.successors.ndim == 2:  # deterministic, BRIDGE's (S, A)
            self.successors = self.successors[..., None]
        if self.probabilities.ndim == 2:
            self.probabilities = self.probabilities[..., None]
        if self.successors.ndim != 3 or self.successors.shape != self.probabilities.shape:
            raise MDPFormatError(
                f"successors {self.successors.shape} and probabilities "
                f"{self.probabilities.shape} must both have shape (S, A, K)"
            )
        num_states, num_actions, _ = self.successors.shape
        if num_states == 0 or num_actions == 0:
            raise MDPFormatError("an MDP needs at least one state and one action")
        if self.rewards.shape != (num_states, num_actions):
            raise MDPFormatError(
                f"rewards must have shape (S, A) = {(num_states, num_actions)}, "
                f"got {self.rewards.shape}"
            )
        if ((self.successors < TERMINAL) | (self.successors >= num_states)).any():
            raise MDPFormatError(
                f"successors must be state indices 0..{num_states - 1} or -1 (terminal)"
            )
        if (self.probabilities < 0).any() or not np.allclose(
            self.probabilities.sum(-1), 1.0, atol=1e-6
        ):
            raise MDPFormatError("each (state, action)'s probabilities must sum to 1")
        if not np.isfinite(self.rewards).all():
            raise MDPFormatError("rewards must be finite")
        if int(self.horizon) != self.horizon or self.horizon < 1:
            raise MDPFormatError(f"horizon must be a positive integer, got {self.horizon!r}")
        self.horizon = int(self.horizon)
        if not 0.0 <= self.discount <= 1.0:
            raise MDPFormatError(f"discount must be in [0, 1], got {self.discount}")
        if self.positions is not None:
            self.positions = np.asarray(self.positions)
            if self.positions.shape != (num_states, 2):
                raise MDPFormatError(
                    f"positions must have shape (S, 2) = ({num_states}, 2), "
                    f"got {self.positions.shape}"
                )
        if self.start is None:
            self.start = np.zeros(num_states)
            self.start[0] = 1.0
        self.start = np.asarray(self.start, dtype=np.float64)
        if self.start.shape != (num_states,) or not np.isclose(self.start.sum(), 1.0):
            raise MDPFormatError(f"start must be a distribution over the {num_states} states")

    @property
    def num_states(self) -> int:
        return self.successors.shape[0]

    @property
    def num_actions(self) -> int:
        return self.successors.shape[1]

    @property
    def deterministic(self) -> bool:
        return self.successors.shape[2] == 1

    def expected_next(self, values: np.ndarray) -> np.ndarray:
        """discount * E[values[s'] | s, a] for every (s, a) (0 past the end of an episode).

        ``values`` has shape (S,) or (..., S); the result (S, A) or (..., S, A)."""
        padded = np.concatenate([values, np.zeros((*values.shape[:-1], 1))], axis=-1)
        # successor -1 indexes the padding 0 at the end.
        expected = (padded[..., self.successors] * self.probabilities).sum(-1)
        return expected if self.discount == 1.0 else self.discount * expected

    def max_next(self, values: np.ndarray) -> np.ndarray:
        """max of values[s'] over the successors s' of each (s, a) with positive
        probability (0 past the end of an episode); shapes as :meth:`expected_next`."""
        padded = np.concatenate([values, np.zeros((*values.shape[:-1], 1))], axis=-1)
        return np.where(self.probabilities > 0, padded[..., self.successors], -np.inf).max(-1)

    def successor_mask(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(S,) bool: the states reached with positive probability from ``actions``
        (S, A) bool taken in ``states`` (S,) bool."""
        taken = states[:, None] & actions
        reached = np.zeros(self.num_states + 1, dtype=bool)
        chosen = taken[..., None] & (self.probabilities > 0)
        reached[self.successors[chosen]] = True
        return reached[:-1]

    def with_sticky_actions(self, repeat_probability: float = 0.25) -> HorizonMDP:
        """The MDP under sticky actions: after the first step, the previously executed
        action is repeated instead of the chosen one with ``repeat_probability`` (0.25 in
        the authors' stochastic-environment paper). A state becomes (s, previous action),
        index ``s * A + previous``; each state gets a fresh copy, index ``S * A + s``, for
        the first step, where nothing repeats."""
        if not 0.0 <= repeat_probability < 1.0:
            raise MDPFormatError(f"repeat_probability must be in [0, 1), got {repeat_probability}")
        states, actions = self.num_states, self.num_actions
        chosen = np.arange(actions)

        def encode(successors: np.ndarray, action: np.ndarray) -> np.ndarray:
            return np.where(successors >= 0, successors * actions + action[..., None], TERMINAL)

        # (s, previous) choosing a: executes a with 1 - p, previous with p.
        executed = encode(self.successors, chosen[None, :])  # (S, A, K) after executing a
        own = np.broadcast_to(executed[:, None], (states, actions, actions, executed.shape[-1]))
        repeated = np.broadcast_to(executed[:, :, None], own.shape)  # indexed [s, prev, a]
        p_own = np.broadcast_to(self.probabilities[:, None], own.shape) * (1 - repeat_probability)
        p_repeat = np.broadcast_to(self.probabilities[:, :, None], own.shape) * repeat_probability
        sticky_successors = np.concatenate([own, repeated], -1).reshape(
            states * actions, actions, -1
        )
        sticky_probabilities = np.concatenate([p_own, p_repeat], -1).reshape(
            sticky_successors.shape
        )
        sticky_rewards = (
            (1 - repeat_probability) * self.rewards[:, None, :]
            + repeat_probability * self.rewards[:, :, None]
        ).reshape(states * actions, actions)
        padding = np.zeros((*executed.shape[:2], executed.shape[-1]))
        fresh_successors = np.concatenate([executed, np.full(padding.shape, TERMINAL)], -1)
        fresh_probabilities = np.concatenate([self.probabilities, padding], -1)
        start = np.concatenate([np.zeros(states * actions), self.start])
        positions = None
        if self.positions is not None:
            positions = np.concatenate([np.repeat(self.positions, actions, 0), self.positions])
        return HorizonMDP(
            np.concatenate([sticky_successors, fresh_successors]),
            np.concatenate([sticky_probabilities, fresh_probabilities]),
            np.concatenate([sticky_rewards, self.rewards]),
            self.horizon, start, f"{self.name} (sticky {repeat_probability:g})",
            positions=positions, discount=self.discount,
        )  # fmt: skip

    @classmethod
    def from_tabular(cls, mdp: TabularMDP, horizon: int | None = None) -> HorizonMDP:
        """From a dense :class:`TabularMDP`: entering a terminal state ends the episode."""
        horizon = horizon if horizon is not None else mdp.horizon
        if horizon is None:
            raise MDPFormatError("an infinite-horizon TabularMDP needs a horizon T here")
        # Entering a terminal state ends the episode: that probability moves to an extra
        # last column, which becomes successor -1.
        ends = mdp.transitions[:, :, mdp.terminal].sum(-1, keepdims=True)
        inner = np.where(mdp.terminal, 0.0, mdp.transitions)
        combined = np.concatenate([inner, ends], axis=-1)
        width = int((combined > 0).sum(-1).max())
        order = np.argsort(-combined, axis=-1, kind="stable")[..., :width]
        probabilities = np.take_along_axis(combined, order, -1)
        successors = np.where((probabilities > 0) & (order < mdp.num_states), order, TERMINAL)
        return cls(successors, probabilities, mdp.rewards, horizon, mdp.start)

    @classmethod
    def load_bridge(cls, path: str | Path, horizon: int = 100) -> HorizonMDP:
        """Read a BRIDGE npz: ``transitions[s, a]`` (next state, -1 terminal),
        ``rewards[s, a]``, start state 0; optional ``screens``/``screen_mapping``, and
        ``positions`` (S, 2), which the workbench adds for grid worlds."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise MDPFormatError(f"{path}: not a readable npz file ({error})") from error
        missing = {"transitions", "rewards"} - arrays.keys()
        if missing:
            raise MDPFormatError(f"{path}: missing array(s) {sorted(missing)}")
        transitions = arrays["transitions"]
        if transitions.ndim != 2 or not np.issubdtype(transitions.dtype, np.integer):
            raise MDPFormatError(f"{path}: transitions must be an integer (S, A) array")
        try:
            return cls(
                transitions, np.ones(transitions.shape), arrays["rewards"], horizon,
                name=path.stem if path.stem != "consolidated" else path.parent.name,
                screens=arrays.get("screens"), screen_mapping=arrays.get("screen_mapping"),
                positions=arrays.get("positions"),
            )  # fmt: skip
        except MDPFormatError as error:
            raise MDPFormatError(f"{path}: {error}") from error

    def save_bridge(self, path: str | Path) -> None:
        """Write BRIDGE's npz format (deterministic MDPs starting in state 0 only)."""
        if not self.deterministic:
            raise MDPFormatError("BRIDGE's format holds deterministic MDPs only")
        if self.start[0] != 1.0:
            raise MDPFormatError("BRIDGE's format starts in state 0")
        arrays = {"transitions": self.successors[..., 0], "rewards": self.rewards}
        if self.screens is not None and self.screen_mapping is not None:
            arrays |= {"screens": self.screens, "screen_mapping": self.screen_mapping}
        if self.positions is not None:  # an extra array, which BRIDGE's readers ignore
            arrays["positions"] = np.asarray(self.positions)
        np.savez_compressed(path, **arrays)
