"""A small torch trainer that fits an MLP to a noisy sine wave.

It is the shortest complete example of the trainer protocol (a user loop wrapped in a few
lines), and the fast, real learner the engine's tests train: seconds on a CPU.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import param
import torch
from torch import nn

from workbench.runs.config import HOT, Config
from workbench.runs.trainer import Trainer
from workbench.trainers.common import load_matching


class RegressionConfig(Config):
    """Knobs of :class:`RegressionTrainer`."""

    learning_rate = param.Number(1e-2, bounds=(1e-6, 1e4), doc="SGD step size.", metadata=HOT)
    total_steps = param.Integer(
        2_000, bounds=(1, 10**9), doc="Gradient steps in all.", metadata=HOT
    )
    batch_size = param.Integer(
        64, bounds=(1, 65_536), doc="Samples per gradient step.", metadata=HOT
    )
    step_delay = param.Number(
        0.0, bounds=(0.0, 1.0), doc="Seconds to sleep per step (to pace demos).", metadata=HOT
    )
    checkpoint_every = param.Integer(
        500, bounds=(0, None), doc="Steps between checkpoints (0: never).", metadata=HOT
    )
    snapshot_every = param.Integer(
        100, bounds=(0, None), doc="Steps between fit snapshots (0: never).", metadata=HOT
    )
    width = param.Integer(32, bounds=(1, 4096), doc="Hidden units of the two-layer MLP.")
    seed = param.Integer(0, bounds=(0, 2**31 - 1), doc="Seed of data and weights.")


class RegressionTrainer(Trainer):
    """Fits ``sin(3x)`` on [-1, 1] from noisy samples with SGD."""

    Config = RegressionConfig

    def __init__(self, config: RegressionConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.model = nn.Sequential(
            nn.Linear(1, config.width), nn.Tanh(), nn.Linear(config.width, 1)
        )
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.learning_rate)
        self.grid = torch.linspace(-1, 1, 101).unsqueeze(1)

    @property
    def agent(self) -> nn.Module:
        return self.model

    def train(self) -> None:
        while self.ctx.step < self.config.total_steps:
            x = torch.from_numpy(self.rng.uniform(-1, 1, (self.config.batch_size, 1))).float()
            y = torch.sin(3 * x) + 0.05 * torch.randn_like(x)
            loss = ((self.model(x) - y) ** 2).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            step = self.ctx.step + 1
            self.ctx.log_scalar("losses/mse", loss.item(), step)
            if self.config.snapshot_every and step % self.config.snapshot_every == 0:
                with torch.no_grad():
                    fit = self.model(self.grid).squeeze(1).numpy()
                self.ctx.log_snapshot("fit", {"x": self.grid.squeeze(1).numpy(), "y": fit}, step)
            if self.config.step_delay:
                time.sleep(self.config.step_delay)
            self.ctx.boundary(step)

    def apply(self, changes: Mapping[str, Any]) -> None:
        if "learning_rate" in changes:
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.learning_rate

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        if strict:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            return []
        return load_matching(self.model, state["model"])
