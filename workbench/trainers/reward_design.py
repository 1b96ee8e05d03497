"""Reward design, live: an SB3 agent trains on a reward the user writes and edits mid-run.

The environment's own reward is replaced by a :class:`~workbench.landscapes.rewards.RewardSpec`
built from this trainer's knobs: weights of library terms (progress along an axis, distance
to the goal, control cost, a region bonus or penalty, success, a time penalty) and one free
formula over named state, action and next-state variables (parsed against a whitelist,
never evaluated as Python). Every reward knob is hot: the agent's next environment step
is rewarded by the edited spec, and the run records the change, so every chart marks it.

What is logged besides SB3's metrics:
- ``eval/return`` (and ``eval/success`` in goal tasks): a deterministic rollout scored by
  the environment's own reward, so a reward edit that games the task shows here;
- ``charts/episodic_return``: the training episodes' return under the edited reward;
- snapshot ``landscape`` at each evaluation and at each reward edit: over a grid of maze
  positions, ``reward`` (the expected reward of a random action under the spec in force),
  ``value`` (the agent's critic, V(s) or Q(s, pi(s))), ``xs``, ``ys``, and ``formula`` (the
  spec as text, as uint8 bytes).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import param

from workbench.landscapes.epic import maze_state_samples
from workbench.landscapes.rewards import EditableReward, RewardSpec
from workbench.landscapes.state_maps import StateGrid, point_task_of, reward_map, value_map
from workbench.runs.config import HOT, KnobError
from workbench.runs.trainer import RunContext
from workbench.trainers.sb3 import POINT_ENV_IDS, SB3Config, SB3Trainer, build_model, env_kwargs

# Library terms and the knob holding each one's weight.
TERM_KNOBS = {
    "progress": "w_progress",
    "goal_distance": "w_goal_distance",
    "control_cost": "w_control_cost",
    "region": "w_region",
    "success": "w_success",
    "time": "w_time",
}
REWARD_KNOBS = (
    *TERM_KNOBS.values(),
    "progress_axis",
    "region_box",
    "success_radius",
    "reward_expression",
    "expression_weight",
)
MAP_POINTS_PER_CELL = 8  # landscape snapshot resolution: 40 x 40 points in the U-maze
MAZE_ENV_IDS = [env_id for env_id in POINT_ENV_IDS if "PointMaze" in env_id]
# Transitions a reward is tried on before a run uses it (and the reward editor's EPIC
# distance runs over).
PROBE_TRANSITIONS = 1_000


def _weight(default: float, doc: str) -> param.Number:
    return param.Number(default, bounds=(-100.0, 100.0), doc=doc, metadata=HOT)


class RewardConfig(SB3Config):
    """Knobs of :class:`RewardDesignTrainer`: SB3's, and the reward's (all hot)."""

    env_id = param.Selector(
        default="workbench/PointMaze-UMaze-v0",
        objects=MAZE_ENV_IDS,
        doc="Maze (the reward's maps are drawn over it).",
    )

    w_progress = _weight(0.0, "Weight of progress: next minus current coordinate (progress_axis).")
    w_goal_distance = _weight(
        1.0, "Weight of minus the distance from the next position to the goal."
    )
    w_control_cost = _weight(0.0, "Weight of minus the squared action norm.")
    w_region = _weight(
        0.0, "Weight of 1 inside region_box (positive: a bonus, negative: a penalty)."
    )
    w_success = _weight(0.0, "Weight of 1 within success_radius of the goal.")
    w_time = _weight(0.0, "Weight of minus 1 per step.")
    progress_axis = param.Integer(
        0, bounds=(0, 1), doc="Coordinate of progress: 0 is x, 1 is y.", metadata=HOT
    )
    region_box = param.String(
        "0, 0, 1, 1",
        doc="The region of w_region: x0, y0, x1, y1 (world units; the U-maze is 5 x 5).",
        metadata=HOT,
    )
    success_radius = param.Number(
        0.5, bounds=(1e-3, 100.0), doc="Radius of the success term.", metadata=HOT
    )
    reward_expression = param.String(
        "",
        doc="A free formula added to the terms, e.g. 'dx - 0.1 * speed'. Variables: x, y, "
        "next_x, next_y, dx, dy, ax, ay, goal_x, goal_y, dist, speed, o0.., next_o0.., a0..; "
        "functions: abs sqrt exp log tanh sin cos clip minimum maximum where norm hypot.",
        metadata=HOT,
    )
    expression_weight = _weight(1.0, "Weight of reward_expression.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        check_on_probe(self)

    @classmethod
    def check(cls, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Param's checks, then the reward's: a formula or box that does not parse is
        refused with the reason, before anything changes."""
        checked = super().check(changes)
        for knob in ("reward_expression", "region_box"):
            if knob in checked:
                try:
                    reward_spec(cls(**{knob: checked[knob]}))
                except ValueError as error:
                    raise KnobError(f"{knob}={checked[knob]!r} refused: {error}") from None
        return checked


@functools.lru_cache(maxsize=16)
def probe_transitions(
    env_id: str, reward_mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Transitions from positions spread over a maze (random actions, the maze's own
    dynamics) and the episode goal: what a reward is tried on before a run uses it."""
    env = gym.make(env_id, reward_mode=reward_mode)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    obs = maze_state_samples(env, PROBE_TRANSITIONS, rng).astype(np.float64)
    actions = rng.uniform(env.action_space.low, env.action_space.high, (len(obs), 2))
    next_obs = obs.copy()
    next_obs[:, :2] = point_task_of(env).move(obs[:, :2], actions)
    goal = getattr(env.unwrapped, "goal", None)
    env.close()
    return obs, actions, next_obs, goal


def check_on_probe(config: RewardConfig) -> None:
    """A :class:`KnobError` when the config's reward cannot pay every transition of its maze
    (a formula that is not finite somewhere, a variable the observation lacks)."""
    spec = reward_spec(config)
    obs, actions, next_obs, goal = probe_transitions(config.env_id, config.reward_mode)
    try:
        spec.evaluate(obs, actions, next_obs, goal=goal)
    except ValueError as error:
        raise KnobError(f"reward {spec.describe()!r} refused in {config.env_id}: {error}") from None


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x0, y0, x1, y1"`` as four numbers (ValueError naming the text otherwise)."""
    try:
        numbers = tuple(float(part) for part in text.replace(";", ",").split(","))
    except ValueError:
        raise ValueError(f"region_box must be four numbers x0, y0, x1, y1, got {text!r}") from None
    if len(numbers) != 4:
        raise ValueError(f"region_box must be four numbers x0, y0, x1, y1, got {text!r}")
    return numbers  # type: ignore[return-value]


def reward_spec(config: RewardConfig) -> RewardSpec:
    """The reward a config describes."""
    expression = config.reward_expression.strip()
    return RewardSpec(
        weights={term: getattr(config, knob) for term, knob in TERM_KNOBS.items()},
        expressions=[(expression, config.expression_weight)] if expression else [],
        axis=config.progress_axis,
        region_box=parse_box(config.region_box),
        radius=config.success_radius,
    )


class RewardDesignTrainer(SB3Trainer):
    """An SB3 algorithm on a point environment whose reward is the config's spec."""

    Config = RewardConfig
    length_knob = "total_timesteps"

    def __init__(self, config: RewardConfig, ctx: RunContext) -> None:
        self.spec = reward_spec(config)
        self.rewarded: list[EditableReward] = []  # the training copies, to swap their spec

        def make_env() -> gym.Env:
            env = EditableReward(gym.make(config.env_id, **env_kwargs(config)), self.spec)
            self.rewarded.append(env)
            return env

        super().__init__(config, ctx, model=build_model(config, make_env=make_env))
        self.grid: StateGrid | None = None  # built at the first evaluation, after a reset

    def apply(self, changes: Mapping[str, Any]) -> None:
        super().apply(changes)
        if any(knob in changes for knob in REWARD_KNOBS):
            # Checked when the change was made; the next step is rewarded by it.
            self.spec = reward_spec(self.config)
            for env in self.rewarded:
                env.set_spec(self.spec)
            # The new reward's map at once, not at the next evaluation.
            if self.grid is not None:
                self.ctx.log_snapshot("landscape", self.landscape(), self.model.num_timesteps)

    def record_rollout(self, step: int) -> None:
        super().record_rollout(step)
        self.ctx.log_snapshot("landscape", self.landscape(), step)

    def landscape(self) -> dict[str, np.ndarray]:
        """The reward in force and the agent's values over the maze's grid of positions."""
        goal = getattr(self.eval_env.unwrapped, "goal", None)
        # The grid's observations hold the goal in goal mode: rebuilt when the goal moves.
        if self.grid is None or not np.array_equal(self.grid.goal, goal):
            self.grid = StateGrid.maze(self.eval_env, points_per_cell=MAP_POINTS_PER_CELL)
        spec = self.spec

        def reward(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
            return spec.evaluate(obs, actions, next_obs, goal=goal)

        return {
            "reward": reward_map(self.grid, reward).astype(np.float32),
            "value": value_map(self.model, self.grid).astype(np.float32),
            "xs": self.grid.xs.astype(np.float32),
            "ys": self.grid.ys.astype(np.float32),
            "formula": np.frombuffer(spec.describe().encode(), dtype=np.uint8),
        }
