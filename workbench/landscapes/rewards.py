"""The reward editor's engine: a reward as a weighted sum of library terms and free formulas.

A :class:`RewardSpec` says what a transition (obs, action, next_obs) earns: weights for terms
from a small library (:data:`TERM_NAMES`: progress along an axis, distance to the goal,
control cost, a region bonus or penalty, success, a per-step time cost) plus free expressions
written in the safe language of :mod:`workbench.landscapes.expressions`. It evaluates batches
of N transitions with array operations, so the same spec draws a reward map over thousands of
states and rewards a running agent step by step. Specs are plain data (:meth:`RewardSpec.
to_dict`) so a run can store one as a knob; a malformed spec raises at construction, before
anything that uses it changes. :class:`EditableReward` puts a spec on a gymnasium env and lets
the editor swap it between steps.

It is written for the workbench point environments, whose observation is the position
(x, y), or (x, y, goal_x, goal_y) in reward_mode ``"goal"``, and works for any env with a Box
observation: the first two observation coordinates are taken as the position. Variables an
expression can use (:data:`NAMED_VARIABLES` and the indexed ones):

* ``x, y``: the position before the step (``obs[0], obs[1]``); ``next_x, next_y`` after it;
* ``dx = next_x - x``, ``dy = next_y - y``;
* ``ax, ay``: the action's components; ``speed``: the action's Euclidean norm;
* ``goal_x, goal_y``: the goal; ``dist``: distance from the next position to the goal;
* ``o0, o1, ...`` and ``next_o0, next_o1, ...``: every observation coordinate before and
  after the step; ``a0, a1, ...``: every action component.

The goal is the spec's ``goal`` when set, otherwise the one the caller passes (the wrapper
passes ``env.unwrapped.goal``); a term or variable that needs a goal raises without one.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from workbench.landscapes.expressions import Expression, ExpressionError, parse_expression

NAMED_VARIABLES: tuple[str, ...] = (
    "x",
    "y",
    "next_x",
    "next_y",
    "dx",
    "dy",
    "ax",
    "ay",
    "goal_x",
    "goal_y",
    "dist",
    "speed",
)
# o<i>, next_o<i>, a<i> for any index i (no leading zeros, so each coordinate has one name).
_INDEXED_VARIABLE = re.compile(r"(next_o|o|a)(0|[1-9][0-9]*)")
VARIABLES_TEXT = ", ".join(NAMED_VARIABLES) + ", o0, o1, ..., next_o0, next_o1, ..., a0, a1, ..."

TERM_NAMES: tuple[str, ...] = (
    "progress",
    "goal_distance",
    "control_cost",
    "region",
    "success",
    "time",
)

_MINUS = "\u2212"  # the minus sign of the human formulas
_TIMES = "\u00b7"  # the middle dot between a weight and its term


class RewardError(ValueError):
    """A reward spec that is malformed, or a reward that cannot be computed (a missing goal,
    a coordinate the observations lack, a value that is not finite). Names the term or
    expression at fault."""


class RewardVariables(Container[str]):
    """The names an expression may use: :data:`NAMED_VARIABLES` plus ``o<i>``,
    ``next_o<i>``, ``a<i>`` for every index (the dimensions are checked at evaluation)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in NAMED_VARIABLES or _INDEXED_VARIABLE.fullmatch(name) is not None
        )


REWARD_VARIABLES = RewardVariables()


def parse_reward_expression(text: str) -> Expression:
    """``text`` parsed with the reward variables; :class:`ExpressionError` if not allowed."""
    return parse_expression(text, REWARD_VARIABLES, variables_text=VARIABLES_TEXT)


@dataclass(frozen=True)
class TransitionBatch:
    """N transitions as float64 arrays, with the variables expressions and terms read.

    Attributes:
        obs: (N, obs_dim) observations before the step.
        actions: (N, act_dim) actions.
        next_obs: (N, obs_dim) observations after the step.
        goal: (N, 2) goal of each transition, or ``None`` when none is known.
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    goal: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        obs: np.ndarray,
        actions: np.ndarray,
        next_obs: np.ndarray,
        goal: np.ndarray | Sequence[float] | None = None,
    ) -> TransitionBatch:
        """A checked batch: ``obs``/``next_obs`` (N, obs_dim), ``actions`` (N, act_dim),
        ``goal`` (2,) shared by all or (N, 2) or ``None``."""
        obs = np.asarray(obs, dtype=np.float64)
        actions = np.asarray(actions, dtype=np.float64)
        next_obs = np.asarray(next_obs, dtype=np.float64)
        if obs.ndim != 2 or actions.ndim != 2 or obs.shape != next_obs.shape:
            raise RewardError(
                f"expected obs and next_obs (N, obs_dim) and actions (N, act_dim), got shapes "
                f"{obs.shape}, {next_obs.shape} and {actions.shape}"
            )
        if len(actions) != len(obs):
            raise RewardError(f"{len(obs)} observations but {len(actions)} actions")
        goals = None
        if goal is not None:
            goals = np.asarray(goal, dtype=np.float64)
            if goals.shape == (2,):
                goals = np.broadcast_to(goals, (len(obs), 2))
            if goals.shape != (len(obs), 2) or not np.all(np.isfinite(goals)):
                raise RewardError(f"goal must be finite (2,) or ({len(obs)}, 2), got {goal!r}")
        return cls(obs, actions, next_obs, goals)

    def __len__(self) -> int:
        return len(self.obs)

    def observation(self, index: int, after: bool, user: str) -> np.ndarray:
        """Observation coordinate ``index`` before (or ``after``) the step; ``user`` names
        who asks, for the error when the observations are too short."""
        if index >= self.obs.shape[1]:
            raise RewardError(
                f"{user} needs observation coordinate {index}, "
                f"but observations have {self.obs.shape[1]}"
            )
        return (self.next_obs if after else self.obs)[:, index]

    def action(self, index: int, user: str) -> np.ndarray:
        """Action component ``index``; ``user`` names who asks."""
        if index >= self.actions.shape[1]:
            raise RewardError(
                f"{user} needs action component {index}, but actions have {self.actions.shape[1]}"
            )
        return self.actions[:, index]

    def next_position(self, user: str) -> np.ndarray:
        """(N, 2): the first two coordinates of the next observation."""
        return np.stack([self.observation(0, True, user), self.observation(1, True, user)], axis=1)

    def require_goal(self, user: str) -> np.ndarray:
        """(N, 2) goals, or a RewardError saying that ``user`` needs one."""
        if self.goal is None:
            raise RewardError(f"{user} needs a goal: set RewardSpec.goal or use an env with a goal")
        return self.goal

    def distance_to_goal(self, user: str) -> np.ndarray:
        """(N,) Euclidean distance from the next position to the goal."""
        goal = self.require_goal(user)
        return np.linalg.norm(self.next_position(user) - goal, axis=1)

    def variable(self, name: str) -> np.ndarray:
        """(N,) values of the expression variable ``name`` (see the module docstring)."""
        user = f"variable {name!r}"
        position_index = {"x": 0, "y": 1}
        if name in position_index:
            return self.observation(position_index[name], False, user)
        if name in ("next_x", "next_y"):
            return self.observation(position_index[name[-1]], True, user)
        if name in ("dx", "dy"):
            index = position_index[name[-1]]
            return self.observation(index, True, user) - self.observation(index, False, user)
        if name in ("ax", "ay"):
            return self.action(position_index[name[-1]], user)
        if name in ("goal_x", "goal_y"):
            return self.require_goal(user)[:, position_index[name[-1]]]
        if name == "dist":
            return self.distance_to_goal(user)
        if name == "speed":
            return np.linalg.norm(self.actions, axis=1)
        match = _INDEXED_VARIABLE.fullmatch(name)
        if match is None:
            raise RewardError(f"unknown variable {name!r}; allowed: {VARIABLES_TEXT}")
        kind, index = match.group(1), int(match.group(2))
        if kind == "a":
            return self.action(index, user)
        return self.observation(index, kind == "next_o", user)


class Term(Protocol):
    """A library term: (N,) values of a batch of transitions, and a label for formulas."""

    name: ClassVar[str]

    def __call__(self, batch: TransitionBatch) -> np.ndarray: ...

    def label(self) -> str: ...


@dataclass(frozen=True)
class Progress:
    """Progress along an axis: next - current of one observation coordinate.

    Attributes:
        axis: the coordinate whose increase pays, 0 for x, 1 for y (a negative weight pays
            for decrease).
    """

    axis: int = 0
    name: ClassVar[str] = "progress"

    def __call__(self, batch: TransitionBatch) -> np.ndarray:
        user = "term 'progress'"
        return batch.observation(self.axis, True, user) - batch.observation(self.axis, False, user)

    def label(self) -> str:
        return f"progress({_axis_name(self.axis)})"


@dataclass(frozen=True)
class GoalDistance:
    """Minus the Euclidean distance from the next position to the goal (dense shaping)."""

    name: ClassVar[str] = "goal_distance"

    def __call__(self, batch: TransitionBatch) -> np.ndarray:
        return -batch.distance_to_goal("term 'goal_distance'")

    def label(self) -> str:
        return "goal_distance"


@dataclass(frozen=True)
class ControlCost:
    """Minus the squared Euclidean norm of the action: big pushes cost."""

    name: ClassVar[str] = "control_cost"

    def __call__(self, batch: TransitionBatch) -> np.ndarray:
        return -np.sum(batch.actions**2, axis=1)

    def label(self) -> str:
        return "control_cost"


@dataclass(frozen=True)
class Region:
    """1 when the next position lies in an axis-aligned box (edges included), else 0; the
    weight's sign makes it a bonus (positive) or a penalty (negative, a lava pit).

    Attributes:
        box: (x0, y0, x1, y1), lower-left and upper-right corners, x0 <= x1 and y0 <= y1.
    """

    box: tuple[float, float, float, float]
    name: ClassVar[str] = "region"

    def __call__(self, batch: TransitionBatch) -> np.ndarray:
        position = batch.next_position("term 'region'")
        x0, y0, x1, y1 = self.box
        inside = (
            (position[:, 0] >= x0)
            & (position[:, 0] <= x1)
            & (position[:, 1] >= y0)
            & (position[:, 1] <= y1)
        )
        return inside.astype(np.float64)

    def label(self) -> str:
        return "region({:g}, {:g}, {:g}, {:g})".format(*self.box)


@dataclass(frozen=True)
class Success:
    """1 when the next position is within ``radius`` of the goal (the sparse goal reward).

    Attributes:
        radius: the distance that counts as reaching the goal (the point mazes use 0.5).
    """

    radius: float = 0.5
    name: ClassVar[str] = "success"

    def __call__(self, batch: TransitionBatch) -> np.ndarray:
        return (batch.distance_to_goal("term 'success'") <= self.radius).astype(np.float64)

    def label(self) -> str:
        return f"success(r={self.radius:g})"


@dataclass(frozen=True)
class TimeCost:
    """A constant -1 per step: finishing sooner pays."""

    name: ClassVar[str] = "time"

    def __call__(self, batch: TransitionBatch) -> np.ndarray:
        return -np.ones(len(batch))

    def label(self) -> str:
        return "time"


def _axis_name(axis: int) -> str:
    return ("x", "y")[axis] if axis < 2 else f"o{axis}"


def _finite_float(value: Any, what: str) -> float:
    """``value`` as a finite float, or a RewardError naming ``what`` it is."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RewardError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise RewardError(f"{what} must be finite, got {value!r}")
    return number


def _finite_numbers(value: Any, count: int, message: str) -> tuple[float, ...]:
    """``value`` as a tuple of ``count`` finite floats, or a RewardError with ``message``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.full(count + 1, np.nan)  # refused below
    if array.shape != (count,) or not np.all(np.isfinite(array)):
        raise RewardError(f"{message}, got {value!r}")
    return tuple(float(number) for number in array)


def _check_finite(values: np.ndarray, what: str) -> None:
    """RewardError naming ``what`` and the first transition whose value is not finite."""
    bad = ~np.isfinite(values)
    if bad.any():
        index = int(np.argmax(bad))
        raise RewardError(
            f"{what} is not finite ({values[index]}) for transition {index} of {len(values)}"
        )


@dataclass(frozen=True)
class RewardSpec:
    """A reward: the weighted sum of library terms and free expressions.

    Construction checks everything (term names, weights, parameters, expression syntax),
    so a spec that exists can be evaluated; only what depends on the transitions (a goal, the
    observation size, a non-finite value) is left to :meth:`evaluate`. Raises
    :class:`RewardError`, or :class:`ExpressionError` for an expression that is not allowed
    (both are ValueError).

    Attributes:
        weights: term name (from :data:`TERM_NAMES`) -> weight; a zero weight switches the
            term off.
        expressions: (text, weight) pairs of free expressions (see the module docstring for
            the variables).
        goal: (goal_x, goal_y) for goal_distance, success and the goal variables; ``None``
            takes the env's goal.
        axis: the observation coordinate of ``progress`` (0 is x, 1 is y).
        region_box: (x0, y0, x1, y1) of ``region``; needed when region has a weight.
        radius: the success radius of ``success``.
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    expressions: Sequence[tuple[str, float]] = ()
    goal: tuple[float, float] | None = None
    axis: int = 0
    region_box: tuple[float, float, float, float] | None = None
    radius: float = 0.5
    # The parsed expressions, in the order of ``expressions``.
    _parsed: tuple[Expression, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Normalize to plain immutable-ish values (frozen: set through object.__setattr__).
        if not isinstance(self.weights, Mapping):
            raise RewardError(f"weights must map term names to numbers, got {self.weights!r}")
        weights: dict[str, float] = {}
        for name, weight in self.weights.items():
            if name not in TERM_NAMES:
                raise RewardError(f"unknown term {name!r}; terms: {', '.join(TERM_NAMES)}")
            weights[name] = _finite_float(weight, f"weight of term {name!r}")
        object.__setattr__(self, "weights", weights)

        if isinstance(self.expressions, str | bytes) or not isinstance(self.expressions, Sequence):
            raise RewardError(
                f"expressions must be a list of (text, weight) pairs, got {self.expressions!r}"
            )
        pairs: list[tuple[str, float]] = []
        for item in self.expressions:
            if not (isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2):
                raise RewardError(f"an expression must be a (text, weight) pair, got {item!r}")
            text, weight = item
            if not isinstance(text, str):
                raise RewardError(f"expression text must be a string, got {text!r}")
            pairs.append((text.strip(), _finite_float(weight, f"weight of expression {text!r}")))
        object.__setattr__(self, "expressions", tuple(pairs))
        object.__setattr__(
            self, "_parsed", tuple(parse_reward_expression(text) for text, _ in pairs)
        )

        if self.goal is not None:
            goal = _finite_numbers(self.goal, 2, "goal must be two finite numbers (x, y)")
            object.__setattr__(self, "goal", goal)
        if isinstance(self.axis, bool) or not isinstance(self.axis, int | np.integer):
            raise RewardError(f"axis must be a non-negative integer, got {self.axis!r}")
        if self.axis < 0:
            raise RewardError(f"axis must be a non-negative integer, got {self.axis!r}")
        object.__setattr__(self, "axis", int(self.axis))
        if self.region_box is not None:
            box = _finite_numbers(
                self.region_box, 4, "region_box must be four finite numbers (x0, y0, x1, y1)"
            )
            if box[0] > box[2] or box[1] > box[3]:
                raise RewardError(
                    f"region_box (x0, y0, x1, y1) needs x0 <= x1 and y0 <= y1, "
                    f"got {self.region_box!r}"
                )
            object.__setattr__(self, "region_box", box)
        elif weights.get("region", 0.0) != 0.0:
            raise RewardError("term 'region' needs region_box = (x0, y0, x1, y1)")
        radius = _finite_float(self.radius, "radius")
        if radius <= 0.0:
            raise RewardError(f"radius must be positive, got {self.radius!r}")
        object.__setattr__(self, "radius", radius)

    def term(self, name: str) -> Term:
        """The library term ``name`` with this spec's parameters."""
        if name == "progress":
            return Progress(self.axis)
        if name == "goal_distance":
            return GoalDistance()
        if name == "control_cost":
            return ControlCost()
        if name == "region":
            if self.region_box is None:
                raise RewardError("term 'region' needs region_box = (x0, y0, x1, y1)")
            return Region(self.region_box)  # type: ignore[arg-type]
        if name == "success":
            return Success(self.radius)
        if name == "time":
            return TimeCost()
        raise RewardError(f"unknown term {name!r}; terms: {', '.join(TERM_NAMES)}")

    def evaluate(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        next_obs: np.ndarray,
        goal: np.ndarray | Sequence[float] | None = None,
    ) -> np.ndarray:
        """Rewards (N,) float64 of N transitions.

        Args:
            obs: (N, obs_dim) observations before the step.
            actions: (N, act_dim) actions.
            next_obs: (N, obs_dim) observations after the step.
            goal: (2,) or (N, 2) goal, used when the spec's own ``goal`` is ``None``.

        Raises:
            RewardError: naming the term or expression whose value is not finite, or that
                needs a goal or an observation coordinate the batch lacks.
        """
        batch = TransitionBatch.of(
            obs, actions, next_obs, self.goal if self.goal is not None else goal
        )
        total = np.zeros(len(batch))
        # Overflow and invalid values are caught below as non-finite results, not warnings.
        with np.errstate(all="ignore"):
            for name, weight in self.weights.items():
                if weight == 0.0:
                    continue
                values = self.term(name)(batch)
                _check_finite(values, f"term {name!r}")
                total += weight * values
            for (text, weight), expression in zip(self.expressions, self._parsed, strict=True):
                if weight == 0.0:
                    continue
                try:
                    env = {name: batch.variable(name) for name in expression.variables}
                except RewardError as error:
                    raise RewardError(f"expression {text!r}: {error}") from None
                values = np.broadcast_to(expression(env), (len(batch),))
                _check_finite(values, f"expression {text!r}")
                total += weight * values
        _check_finite(total, "the total reward")
        return total

    def describe(self) -> str:
        """A one-line formula, e.g. ``1.0*progress(x) - 0.1*control_cost + 0.5*(dx**2)``
        written with a middle dot and a minus sign; ``"0"`` when every weight is zero."""
        parts = [
            (weight, self.term(name).label()) for name, weight in self.weights.items() if weight
        ]
        parts += [(weight, f"({text})") for text, weight in self.expressions if weight]
        formula = ""
        for weight, label in parts:
            number = f"{abs(weight)!r}{_TIMES}{label}"
            if not formula:
                formula = f"{_MINUS}{number}" if weight < 0 else number
            else:
                formula += f" {_MINUS if weight < 0 else '+'} {number}"
        return formula or "0"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values; :meth:`from_dict` gives the spec back."""
        return {
            "weights": dict(self.weights),
            "expressions": [{"text": text, "weight": weight} for text, weight in self.expressions],
            "goal": None if self.goal is None else list(self.goal),
            "axis": self.axis,
            "region_box": None if self.region_box is None else list(self.region_box),
            "radius": self.radius,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RewardSpec:
        """The spec of :meth:`to_dict`'s output; missing keys take their defaults.

        Expressions may be ``{"text": ..., "weight": ...}`` mappings, ``[text, weight]``
        pairs, or bare texts (weight 1).
        """
        if not isinstance(data, Mapping):
            raise RewardError(f"a reward spec must be a mapping, got {type(data).__name__}")
        known = ("weights", "expressions", "goal", "axis", "region_box", "radius")
        unknown = [key for key in data if key not in known]
        if unknown:
            raise RewardError(f"unknown reward spec key {unknown[0]!r}; keys: {', '.join(known)}")
        expressions: list[tuple[str, float]] = []
        items = data.get("expressions") or ()
        if isinstance(items, str):
            raise RewardError(f"expressions must be a list, got the text {items!r}")
        for item in items:
            if isinstance(item, str):
                expressions.append((item, 1.0))
            elif isinstance(item, Mapping):
                if "text" not in item:
                    raise RewardError(f"an expression needs a 'text', got {dict(item)!r}")
                expressions.append((item["text"], item.get("weight", 1.0)))
            else:  # a [text, weight] pair; the constructor checks it
                expressions.append(item)
        return cls(
            weights=data.get("weights") or {},
            expressions=expressions,
            goal=data.get("goal"),
            axis=data.get("axis", 0),
            region_box=data.get("region_box"),
            radius=data.get("radius", 0.5),
        )


class EditableReward(gym.Wrapper[np.ndarray, Any, np.ndarray, Any]):
    """Replace an env's reward with a :class:`RewardSpec`, swappable between steps.

    Each step's reward is ``reward_spec.evaluate`` of the transition (previous observation,
    action, new observation); the env's own reward is kept in ``info["env_reward"]``. The
    goal, when the spec has none, is ``env.unwrapped.goal`` (the point mazes' episode goal).

    Args:
        env: an env with a Box observation space and numeric actions (a Box's or a
            Discrete's index, seen as one component ``a0``).
        spec: the reward to start with.
    """

    def __init__(self, env: gym.Env[np.ndarray, Any], spec: RewardSpec) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Box):
            raise TypeError(
                f"EditableReward needs a Box observation space, got {env.observation_space}"
            )
        self._reward_spec = self._checked(spec)
        self._last_obs: np.ndarray | None = None

    @staticmethod
    def _checked(spec: RewardSpec) -> RewardSpec:
        if not isinstance(spec, RewardSpec):
            raise TypeError(f"expected a RewardSpec, got {type(spec).__name__}")
        return spec

    @property
    def reward_spec(self) -> RewardSpec:
        """The reward in use (``spec`` is gymnasium's EnvSpec, hence the name)."""
        return self._reward_spec

    def set_spec(self, spec: RewardSpec) -> None:
        """Use ``spec`` from the next step on (the editor's hot knob)."""
        self._reward_spec = self._checked(spec)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = np.asarray(obs, dtype=np.float64).reshape(1, -1)
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._last_obs is None:
            raise RuntimeError("EditableReward: call reset before step")
        # The transition's goal is the one in force when it started (a reset may change it).
        goal = getattr(self.env.unwrapped, "goal", None)
        next_obs, env_reward, terminated, truncated, info = self.env.step(action)
        next_row = np.asarray(next_obs, dtype=np.float64).reshape(1, -1)
        reward = self._reward_spec.evaluate(
            self._last_obs,
            np.asarray(action, dtype=np.float64).reshape(1, -1),
            next_row,
            goal=goal,
        )
        self._last_obs = next_row
        info = {**info, "env_reward": env_reward}
        return next_obs, float(reward[0]), terminated, truncated, info


__all__ = [
    "NAMED_VARIABLES",
    "REWARD_VARIABLES",
    "TERM_NAMES",
    "VARIABLES_TEXT",
    "ControlCost",
    "EditableReward",
    "ExpressionError",
    "GoalDistance",
    "Progress",
    "Region",
    "RewardError",
    "RewardSpec",
    "RewardVariables",
    "Success",
    "Term",
    "TimeCost",
    "TransitionBatch",
    "parse_reward_expression",
]
