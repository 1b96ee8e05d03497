"""Finite-horizon MDPs as the horizon analyses read them.

A :class:`HorizonMDP` lists each (state, action)'s successors instead of holding a dense
(S, A, S) array, so MiniGrid and BRIDGE MDPs of tens of thousands of states fit in memory,
and one Bellman backup over every state is a handful of array operations. Deterministic
MDPs (BRIDGE's) have one successor per (state, action); stochastic ones a few.

Conventions, as in BRIDGE (``../shared/HORIZON.md``): successor ``-1`` ends the episode
(a terminal transition, value 0 afterwards); the start state is index 0 unless a start
distribution says otherwise; horizon T counts the actions of an episode.

Each successor slot also carries the reward received when that transition happens
(``successor_rewards``): in a stochastic MDP the reward of a sampled step is the reward of
what was actually executed (the sticky action repeated, the cell slipped into), while
``rewards`` is its expectation, all that exact planning needs.
"""

from __future__ import annotations

import contextlib
import math
import zipfile
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from environments.tabular import TabularMDP
from workbench.horizon.memory import (
    NotEnoughMemory,
    check_memory,
    describe_bytes,
    limit_source,
    mdp_bytes,
    memory_limit,
    sticky_bytes,
)

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
        successor_rewards: (S, A, K) the reward received with each successor slot, what a
            sampled step yields; default ``rewards`` in every slot. ``rewards`` must be its
            expectation under ``probabilities``.
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
    successor_rewards: np.ndarray | None = field(default=None, repr=False)

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
        if self.successor_rewards is None:
            self.successor_rewards = np.repeat(
                self.rewards[..., None], self.successors.shape[-1], -1
            )
        self.successor_rewards = np.asarray(self.successor_rewards, dtype=np.float64)
        if self.successor_rewards.shape != self.successors.shape:
            raise MDPFormatError(
                f"successor_rewards must have shape (S, A, K) = {self.successors.shape}, "
                f"got {self.successor_rewards.shape}"
            )
        expected = (np.where(self.probabilities > 0, self.successor_rewards, 0.0)
                    * self.probabilities).sum(-1)  # fmt: skip
        if not np.allclose(expected, self.rewards, atol=1e-6):
            raise MDPFormatError("rewards must be the expectation of successor_rewards")
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
        """Every (state, action) has one successor (and so one reward) with probability 1:
        the setting of the papers' simple bound."""
        return bool((self.probabilities.max(-1) >= 1.0 - 1e-12).all())

    def sample(
        self, states: np.ndarray, actions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """One sampled step per (state, action) pair: the next states (-1 where the
        episode ends) and the rewards of the transitions that happened (not their
        expectation), as a real environment yields them."""
        if self.deterministic:
            slot = self.probabilities[states, actions].argmax(-1)
        else:
            cumulative = self.probabilities[states, actions].cumsum(-1)
            slot = (rng.random(len(states))[:, None] >= cumulative).sum(-1)
            # Floating error can leave the last cumulative sum just below 1.
            slot = np.minimum(slot, cumulative.shape[-1] - 1)
        return self.successors[states, actions, slot], self.successor_rewards[states, actions, slot]

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
        needed, limit = sticky_bytes(*self.successors.shape), memory_limit()
        if needed > limit:
            raise NotEnoughMemory(
                f"{self.name}: its sticky-action MDP ({states * (actions + 1):,} states) would "
                f"need about {describe_bytes(needed)} to build, more than the "
                f"{describe_bytes(limit)} an analysis may take ({limit_source()}); use an MDP "
                "with fewer states"
            )
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
        # A step yields the reward of the action executed: the chosen one in the first
        # half of the slots, the repeated previous one in the second.
        own_rewards = np.broadcast_to(self.successor_rewards[:, None], own.shape)
        repeated_rewards = np.broadcast_to(self.successor_rewards[:, :, None], own.shape)
        sticky_slot_rewards = np.concatenate([own_rewards, repeated_rewards], -1).reshape(
            sticky_successors.shape
        )
        padding = np.zeros((*executed.shape[:2], executed.shape[-1]))
        fresh_successors = np.concatenate([executed, np.full(padding.shape, TERMINAL)], -1)
        fresh_probabilities = np.concatenate([self.probabilities, padding], -1)
        fresh_slot_rewards = np.concatenate([self.successor_rewards, padding], -1)
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
            successor_rewards=np.concatenate([sticky_slot_rewards, fresh_slot_rewards]),
        )  # fmt: skip

    @classmethod
    def from_tabular(cls, mdp: TabularMDP, horizon: int | None = None) -> HorizonMDP:
        """From a dense :class:`TabularMDP`: entering a terminal state ends the episode
        (successor -1), as in its environment. Rewards that depend on the next state
        (``transition_rewards``) stay with their successor slots."""
        horizon = horizon if horizon is not None else mdp.horizon
        if horizon is None:
            raise MDPFormatError("an infinite-horizon TabularMDP needs a horizon T here")
        per_next = (
            mdp.transition_rewards
            if mdp.transition_rewards is not None
            else np.broadcast_to(mdp.rewards[..., None], mdp.transitions.shape)
        )
        # One slot per next state with positive probability; a terminal next state keeps
        # its own slot (its entry reward may differ from another terminal's) but ends the
        # episode.
        width = max(int((mdp.transitions > 0).sum(-1).max()), 1)
        order = np.argsort(-mdp.transitions, axis=-1, kind="stable")[..., :width]
        probabilities = np.take_along_axis(mdp.transitions, order, -1)
        slot_rewards = np.where(probabilities > 0, np.take_along_axis(per_next, order, -1), 0.0)
        successors = np.where((probabilities > 0) & ~mdp.terminal[order], order, TERMINAL)
        if not np.allclose((probabilities * slot_rewards).sum(-1), mdp.rewards, atol=1e-6):
            raise MDPFormatError("rewards must be the expectation of transition_rewards")
        return cls(
            successors, probabilities, mdp.rewards, horizon, mdp.start,
            successor_rewards=slot_rewards,
        )  # fmt: skip

    @classmethod
    def load_bridge(
        cls, path: str | Path, horizon: int | None = None, parts: Collection[str] = ()
    ) -> HorizonMDP:
        """Read a BRIDGE npz: ``transitions[s, a]`` (next state, -1 terminal),
        ``rewards[s, a]``, start state 0; optional ``screens``/``screen_mapping``, and the
        workbench's extra arrays ``positions`` (S, 2) and ``horizon`` (the T it was built
        for), which BRIDGE's readers ignore.

        BRIDGE's own files store no horizon (each MDP has its own T, listed in the
        dataset's ``summary.csv``: freeway_10_fs30 has 10, MiniGrid 100), so none is ever
        assumed: ``horizon`` is required unless the file holds one. A file built for T
        is exact for horizons up to T only, so a longer ``horizon`` is refused.

        A file may be small and decompress to gigabytes (zeros compress a thousandfold),
        so before any array is decompressed their shapes are read from their headers and
        what reading them, building the MDP and then running ``parts`` of an analysis
        (keys of :data:`~workbench.horizon.memory.MEMORY_PARTS`) would allocate is
        checked against :func:`~workbench.horizon.memory.memory_limit`:
        :class:`~workbench.horizon.memory.NotEnoughMemory` if it does not fit."""
        path = Path(path)
        headers = npz_headers(path)
        missing = {"transitions", "rewards"} - headers.keys()
        if missing:
            raise MDPFormatError(f"{path}: missing array(s) {sorted(missing)}")
        shape, dtype = headers["transitions"]
        if len(shape) != 2 or not np.issubdtype(dtype, np.integer):
            raise MDPFormatError(f"{path}: transitions must be an integer (S, A) array")
        if "horizon" in headers:
            stored_shape, stored_dtype = headers["horizon"]
            if stored_shape != () or not np.issubdtype(stored_dtype, np.integer):
                raise MDPFormatError(f"{path}: 'horizon' must be one positive integer")
        limit = memory_limit()
        states, actions = shape
        decompressed = sum(math.prod(size) * kind.itemsize for size, kind in headers.values())
        # Reading peaks with the decompressed arrays, the probabilities made here and the
        # MDP built on them; it then holds the arrays, the probabilities, the successor
        # rewards, the start distribution and any conversion to int64 or float64.
        loading = decompressed + 8 * states * actions + mdp_bytes(states, actions)
        conversions = (dtype != np.int64) + (headers["rewards"][1] != np.float64)
        held = decompressed + 8 * states * (actions * (2 + conversions) + 1)
        if loading > limit:
            largest, (size, kind) = max(
                headers.items(), key=lambda item: math.prod(item[1][0]) * item[1][1].itemsize
            )
            raise NotEnoughMemory(
                f"{path}: reading it would need about {describe_bytes(loading)} (its "
                f"{largest!r} array is {size} {kind} once decompressed), more than the "
                f"{describe_bytes(limit)} an analysis may take ({limit_source()}); use an MDP "
                "with fewer states"
            )
        stored = None
        if "horizon" in headers:
            with _readable(path), np.load(path, allow_pickle=False) as data:
                stored = int(data["horizon"])  # one number: the header says so
            if stored < 1:
                raise MDPFormatError(f"{path}: 'horizon' must be one positive integer")
        if horizon is None and stored is None:
            raise MDPFormatError(
                f"{path}: the file stores no horizon T (BRIDGE files do not; the dataset's "
                "summary.csv lists each MDP's): give it (--horizon, or the page's horizon field)"
            )
        if horizon is not None and stored is not None and horizon > stored:
            raise MDPFormatError(
                f"{path}: built for horizon T = {stored}, so exact only up to it; "
                f"got horizon {horizon}"
            )
        length = horizon if horizon is not None else stored
        check_memory(str(path), states, actions, length, 1, parts, before=held, limit=limit)
        with _readable(path), np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        transitions = arrays["transitions"]
        try:
            return cls(
                transitions, np.ones(transitions.shape), arrays["rewards"], length,
                name=path.stem if path.stem != "consolidated" else path.parent.name,
                screens=arrays.get("screens"), screen_mapping=arrays.get("screen_mapping"),
                positions=arrays.get("positions"),
            )  # fmt: skip
        except MDPFormatError as error:
            raise MDPFormatError(f"{path}: {error}") from error

    def save_bridge(self, path: str | Path) -> None:
        """Write BRIDGE's npz format (deterministic MDPs starting in state 0 only), with
        the horizon T as an extra ``horizon`` array so that reading it back needs no
        guess."""
        if not self.deterministic:
            raise MDPFormatError("BRIDGE's format holds deterministic MDPs only")
        if self.start[0] != 1.0:
            raise MDPFormatError("BRIDGE's format starts in state 0")
        slot = self.probabilities.argmax(-1)[..., None]
        arrays = {
            "transitions": np.take_along_axis(self.successors, slot, -1)[..., 0],
            "rewards": self.rewards,
            "horizon": np.asarray(self.horizon, dtype=np.int64),
        }
        if self.screens is not None and self.screen_mapping is not None:
            arrays |= {"screens": self.screens, "screen_mapping": self.screen_mapping}
        if self.positions is not None:  # an extra array, which BRIDGE's readers ignore
            arrays["positions"] = np.asarray(self.positions)
        np.savez_compressed(path, **arrays)


UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
"""What reading a damaged or foreign file raises (numpy, zipfile and zlib's errors)."""


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turn a damaged file's read errors into one :class:`MDPFormatError` naming it (the
    workbench's own errors, also ValueErrors, pass through)."""
    try:
        yield
    except (MDPFormatError, NotEnoughMemory):
        raise
    except UNREADABLE as error:
        raise MDPFormatError(f"{path}: not a readable npz file ({error})") from error


def npz_headers(path: str | Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's shape and dtype in the npz file at ``path``, keyed as ``np.load``
    keys them, read from the ``.npy`` headers of its zip members: nothing past a header is
    decompressed, so a small file that would decompress to gigabytes is measured, not
    read. A member that is not ``.npy`` (``np.load`` gives its raw bytes) counts as that
    many uint8. Arrays of Python objects are refused (they would need pickle)."""
    path = Path(path)
    headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    with _readable(path), zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                headers[info.filename] = ((info.file_size,), np.dtype(np.uint8))
                continue
            name = info.filename.removesuffix(".npy")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise MDPFormatError(
                        f"{path}: array {name!r} is in .npy format {version}, not read here"
                    )
            if dtype.hasobject:
                raise MDPFormatError(f"{path}: array {name!r} holds Python objects")
            headers[name] = (tuple(int(n) for n in shape), dtype)
    return headers
