"""The stable-baselines3 bridge: any SB3 algorithm as a live Run.

Two small pieces do the work. :class:`WorkbenchOutputFormat` is an SB3 logger output, so
every metric SB3 logs (``train/loss``, ``rollout/ep_rew_mean``, ``time/fps``...) streams into
the run store. :class:`WorkbenchCallback` calls the run's update boundary at every
environment step (pause, stop, hot knobs, checkpoints), logs each finished episode and
records deterministic evaluation rollouts for the live rollout view.

:class:`SB3Trainer` uses both for PPO, A2C, SAC and TD3 on the workbench point
environments; the pieces also work with a model you build yourself::

    model.set_logger(Logger(None, [WorkbenchOutputFormat(ctx)]))
    model.learn(total, callback=WorkbenchCallback(ctx))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np
import param
import torch
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.utils import ConstantSchedule

import environments
from workbench.runs.config import HOT, Config
from workbench.runs.trainer import RunContext, StopTraining, Trainer
from workbench.trainers.common import load_matching

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"PPO": PPO, "A2C": A2C, "SAC": SAC, "TD3": TD3}
# The continuous point environments (the plane and the mazes), not the grid ones.
POINT_ENV_IDS = [
    info.id for info in environments.ENVIRONMENTS if "PointMaze" in info.id or "Plane" in info.id
]


class SB3Config(Config):
    """Knobs of :class:`SB3Trainer`. Hot knobs apply at the next environment step."""

    algorithm = param.Selector(default="PPO", objects=list(ALGORITHMS), doc="SB3 algorithm.")
    env_id = param.Selector(
        default="workbench/PointMaze-UMaze-v0", objects=POINT_ENV_IDS, doc="Environment."
    )
    reward_mode = param.Selector(
        default="dense",
        objects=["none", "goal", "dense", "geodesic"],
        doc="Maze reward (the plane: dx): dense is minus the straight-line distance to the "
        "goal, geodesic minus the distance along the maze's shortest path.",
    )
    n_envs = param.Integer(4, bounds=(1, 256), doc="Environment copies stepped together.")
    net_width = param.Integer(64, bounds=(4, 4096), doc="Units of each of two hidden layers.")
    seed = param.Integer(0, bounds=(0, 2**31 - 1), doc="Seed of environments and weights.")
    device = param.Selector(default="auto", objects=["auto", "cpu", "cuda"], doc="Torch device.")
    total_timesteps = param.Integer(
        200_000, bounds=(1, 10**10), doc="Environment steps to train for.", metadata=HOT
    )
    learning_rate = param.Number(3e-4, bounds=(1e-7, 1.0), doc="Adam step size.", metadata=HOT)
    ent_coef = param.Number(
        0.01,
        bounds=(0.0, 10.0),
        doc="Entropy weight: PPO/A2C bonus, SAC fixed temperature (TD3: unused).",
        metadata=HOT,
    )
    gamma = param.Number(0.99, bounds=(0.0, 1.0), doc="Discount factor.", metadata=HOT)
    clip_range = param.Number(0.2, bounds=(0.0, 10.0), doc="PPO policy clip range.", metadata=HOT)
    checkpoint_every = param.Integer(
        20_000, bounds=(0, None), doc="Steps between checkpoints (0: never).", metadata=HOT
    )
    eval_every = param.Integer(
        5_000, bounds=(0, None), doc="Steps between evaluation rollouts (0: never).", metadata=HOT
    )


def env_kwargs(config: SB3Config) -> dict[str, Any]:
    return {} if config.env_id == "workbench/Plane-v0" else {"reward_mode": config.reward_mode}


def build_model(config: SB3Config, make_env: Callable[[], gym.Env] | None = None) -> BaseAlgorithm:
    """The SB3 model a config describes (also used bare, as the headless peer in
    benchmarks/bench_live_overhead.py). ``make_env`` builds one environment copy (default:
    the config's environment and reward)."""
    kwargs = env_kwargs(config)
    env = make_vec_env(
        make_env or (lambda: gym.make(config.env_id, **kwargs)),
        n_envs=config.n_envs,
        seed=config.seed,
    )
    options: dict[str, Any] = {}
    if config.algorithm in ("PPO", "A2C", "SAC"):
        options["ent_coef"] = config.ent_coef
    if config.algorithm == "PPO":
        options.update(clip_range=config.clip_range, n_steps=512, batch_size=64)
    if config.algorithm in ("SAC", "TD3"):
        options["learning_starts"] = 1_000
    return ALGORITHMS[config.algorithm](
        "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        gamma=config.gamma,
        policy_kwargs={"net_arch": [config.net_width, config.net_width]},
        seed=config.seed,
        device=config.device,
        verbose=0,
        **options,
    )


class WorkbenchOutputFormat(KVWriter):
    """SB3 logger output that sends every numeric value to the run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0
    ) -> None:
        for key, value in key_values.items():
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                continue
            self.ctx.log_scalar(key, float(value), step)

    def close(self) -> None:
        """Nothing to close: the run store outlives the logger."""


class WorkbenchCallback(BaseCallback):
    """Makes ``model.learn`` steerable: one run boundary per environment step."""

    def __init__(self, ctx: RunContext, trainer: SB3Trainer | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.trainer = trainer
        self.stopped = False
        self._next_eval = 0

    def _on_step(self) -> bool:
        step = self.num_timesteps
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is not None:
                self.ctx.log_scalar("charts/episodic_return", float(episode["r"]), step)
                self.ctx.log_scalar("charts/episodic_length", float(episode["l"]), step)
        if self.trainer is not None:
            every = self.trainer.config.eval_every
            if every and step >= self._next_eval:
                self.trainer.record_rollout(step)
                self._next_eval = step + every
        try:
            self.ctx.boundary(step)
        except StopTraining:
            self.stopped = True
            return False
        total = getattr(self.ctx.config, "total_timesteps", None)
        return total is None or step < total


class SB3Trainer(Trainer):
    """A stable-baselines3 algorithm on a workbench point environment."""

    Config = SB3Config
    length_knob = "total_timesteps"

    def __init__(
        self, config: SB3Config, ctx: RunContext, model: BaseAlgorithm | None = None
    ) -> None:
        super().__init__(config, ctx)
        self.model = model or build_model(config)
        self.model.set_logger(Logger(None, [WorkbenchOutputFormat(ctx)]))
        self.callback = WorkbenchCallback(ctx, self)

    @property
    def agent(self) -> BaseAlgorithm:
        return self.model

    @cached_property
    def eval_env(self) -> gym.Env:
        """The environment of the evaluation rollouts, built at the first one."""
        return gym.make(self.config.env_id, **env_kwargs(self.config))

    def train(self) -> None:
        self.model.num_timesteps = self.ctx.step
        # A loop, since total_timesteps is hot: raising it mid-run trains on.
        while self.model.num_timesteps < self.config.total_timesteps:
            remaining = self.config.total_timesteps - self.model.num_timesteps
            self.model.learn(remaining, callback=self.callback, reset_num_timesteps=False)
            if self.callback.stopped:
                raise StopTraining
        self.ctx.step = self.model.num_timesteps

    def record_rollout(self, step: int) -> None:
        """One deterministic evaluation episode, logged as snapshot ``rollout``, with its
        return (``eval/return``) and, in goal tasks, whether it reached the goal
        (``eval/success``)."""
        obs, _ = self.eval_env.reset(seed=self.config.seed)
        positions, total, done, reached = [obs[:2]], 0.0, False, False
        while not done:
            action, _ = self.model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = self.eval_env.step(action)
            positions.append(obs[:2])
            total += float(reward)
            reached = reached or bool(info.get("is_success", False))
            done = terminated or truncated
        goal = getattr(self.eval_env.unwrapped, "goal", None)
        arrays = {"positions": np.array(positions, dtype=np.float32)}
        if goal is not None:
            arrays["goal"] = np.asarray(goal, dtype=np.float32)
        self.ctx.log_snapshot("rollout", arrays, step)
        self.ctx.log_scalar("eval/return", total, step)
        if "is_success" in info:  # goal tasks: did the rollout reach the goal at any step
            self.ctx.log_scalar("eval/success", float(reached), step)

    def apply(self, changes: Mapping[str, Any]) -> None:
        model, config = self.model, self.config
        if "learning_rate" in changes:
            model.learning_rate = config.learning_rate
            model.lr_schedule = ConstantSchedule(config.learning_rate)
        if "ent_coef" in changes:
            if isinstance(model, SAC):
                model.ent_coef_tensor = torch.tensor(config.ent_coef, device=model.device)
            elif hasattr(model, "ent_coef"):
                model.ent_coef = config.ent_coef
        if "gamma" in changes:
            model.gamma = config.gamma
            if hasattr(model, "rollout_buffer"):
                model.rollout_buffer.gamma = config.gamma
        if "clip_range" in changes and isinstance(model, PPO):
            model.clip_range = ConstantSchedule(config.clip_range)

    def state_dict(self) -> dict[str, Any]:
        return {"parameters": self.model.get_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        parameters = state["parameters"]
        if strict:
            self.model.set_parameters(dict(parameters), exact_match=True, device=self.model.device)
            return []
        # A fork: take the policy weights that fit, leave the optimizers fresh.
        return load_matching(self.model.policy, parameters["policy"])
