"""HILP as a live Run: learn phi and the skill policy from an offline dataset.

The run's step counts gradient updates. A missing dataset is built first from the
``env_id``/``behaviour``/``episodes`` knobs (see ``workbench.datasets``). Every
``eval_every`` updates the trainer measures what the views show:

- ``eval/spearman``: rank correlation between learned distance ``||phi(p) - phi(q)||``
  and the maze's geodesic distance over held-out pairs of free points (drawn uniformly
  in the free cells, not from the data);
- ``eval/goal_success``: share of goals (free cell centres) reached within the
  environment's time limit by zero-shot goal reaching from the start;
- snapshot ``hilbert``: phi of a dense grid of free states, and the goal-reaching paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import param
import torch
from scipy.stats import spearmanr

import environments
from environments.maze import MazeLayout
from workbench.agents.hilp import HILP, GoalSampling, OfflineBatches, check_network_format
from workbench.datasets import BEHAVIOURS, DatasetError, build_dataset, dataset_id, load_dataset
from workbench.datasets.offline import datasets_root
from workbench.runs.config import HOT, Config
from workbench.runs.trainer import RunContext, Trainer

MAZE_ENV_IDS = [info.id for info in environments.ENVIRONMENTS if "PointMaze" in info.id]


class HILPConfig(Config):
    """Knobs of :class:`HILPTrainer` (defaults: the authors', smaller networks for CPUs)."""

    env_id = param.Selector(
        default="workbench/PointMaze-FourRooms-v0", objects=MAZE_ENV_IDS, doc="Maze."
    )
    dataset = param.String(
        default="",
        doc="Minari dataset name; empty: '<maze>-<behaviour>', built when missing.",
    )
    behaviour = param.Selector(
        default="play", objects=list(BEHAVIOURS), doc="Behaviour that builds a missing dataset."
    )
    episodes = param.Integer(
        200, bounds=(1, 100_000), doc="Episodes of 1,000 steps in a built dataset."
    )
    latent_dim = param.Integer(32, bounds=(1, 512), doc="Dimension of Z (and of the skills).")
    hidden = param.Integer(256, bounds=(4, 4096), doc="Units per hidden layer (authors: 512).")
    layers = param.Integer(3, bounds=(1, 8), doc="Hidden layers of every network.")
    seed = param.Integer(0, bounds=(0, 2**31 - 1), doc="Seed.")
    device = param.Selector(default="auto", objects=["auto", "cpu", "cuda"], doc="Torch device.")
    compile = param.Boolean(
        False,
        doc="Compile the update with torch.compile: about 40 s before the first update, then "
        "1.2x (512 x 3, batch 1024) to 1.5x (256 x 3, batch 256) faster on a CPU.",
    )
    expectile = param.Number(
        0.95, bounds=(0.5, 0.999), doc="Expectile of the Hilbert value.", metadata=HOT
    )
    skill_expectile = param.Number(
        0.9, bounds=(0.5, 0.999), doc="Expectile of the skill policy's value.", metadata=HOT
    )
    temperature = param.Number(
        10.0, bounds=(0.0, 1000.0), doc="AWR inverse temperature.", metadata=HOT
    )
    gamma = param.Number(0.99, bounds=(0.0, 0.999), doc="Discount.", metadata=HOT)
    tau = param.Number(
        0.005,
        bounds=(1e-4, 1.0),
        doc="Target networks' update rate (authors: 0.005). The Hilbert value reaches about "
        "one step further per 1/tau updates: four rooms (65 steps across) needs some 10,000.",
        metadata=HOT,
    )
    trajectory_goals = param.Number(
        0.625, bounds=(0.0, 1.0), doc="Share of goals from the same trajectory.", metadata=HOT
    )
    learning_rate = param.Number(
        3e-4, bounds=(1e-7, 1.0), doc="Adam step size of every network.", metadata=HOT
    )
    batch_size = param.Integer(
        256, bounds=(1, 65_536), doc="Transitions per update (authors: 1024).", metadata=HOT
    )
    total_steps = param.Integer(
        500_000, bounds=(1, 10**9), doc="Gradient updates in all.", metadata=HOT
    )
    eval_every = param.Integer(
        1_000, bounds=(0, None), doc="Updates between evaluations (0: never).", metadata=HOT
    )
    eval_goals = param.Integer(16, bounds=(1, 1024), doc="Goals per evaluation.", metadata=HOT)
    checkpoint_every = param.Integer(
        10_000, bounds=(0, None), doc="Updates between checkpoints.", metadata=HOT
    )


def maze_of(env_id: str) -> MazeLayout:
    return gym.make(env_id).unwrapped.task.maze


def dataset_name(config: HILPConfig) -> str:
    if config.dataset:
        return config.dataset
    maze = config.env_id.removeprefix("workbench/PointMaze-").removesuffix("-v0").lower()
    return f"{maze}-{config.behaviour}"


def free_grid(maze: MazeLayout, resolution: int = 4) -> np.ndarray:
    """Centres of the free sub-cells (resolution per cell), (n, 2)."""
    oracle = maze.geodesic(resolution)
    ix, iy = np.nonzero(oracle.free)
    return ((np.stack([ix, iy], 1) + 0.5) / resolution).astype(np.float32)


def held_out_pairs(maze: MazeLayout, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of points drawn uniformly in the free cells, and their geodesic
    distance (Chebyshev lattice metric, 4 sub-cells per cell)."""
    rng = np.random.default_rng(seed)
    cells = maze.free_cell_centers - 0.5
    points = cells[rng.integers(len(cells), size=(n, 2))] + rng.uniform(0.05, 0.95, (n, 2, 2))
    oracle = maze.geodesic(4)
    return points.astype(np.float32), oracle.distance(points[:, 0], points[:, 1])


def reach_goals(
    agent: HILP, maze: MazeLayout, goals: np.ndarray, steps: int, max_action: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-shot goal reaching from the maze's start to each goal, all at once.

    Returns the paths (goals, T + 1, 2) and whether each goal came within 0.5."""
    from environments.point import PointTask

    task = PointTask(maze, max_action=max_action)
    positions = np.repeat(np.asarray(maze.start, dtype=np.float64)[None], len(goals), 0)
    paths, reached = [positions], np.zeros(len(goals), dtype=bool)
    for _ in range(steps):
        skills = agent.goal_skill(positions.astype(np.float32), goals)
        actions = agent.act(positions.astype(np.float32), skills)
        # Stay put once arrived, as an episode that terminates at the goal would.
        actions[reached] = 0.0
        positions = task.move(positions, np.clip(actions, -max_action, max_action))
        reached |= np.linalg.norm(positions - goals, axis=1) < 0.5
        paths.append(positions)
    return np.stack(paths, 1).astype(np.float32), reached


class HILPTrainer(Trainer):
    """Offline HILP on a point-maze dataset."""

    Config = HILPConfig

    def __init__(self, config: HILPConfig, ctx: RunContext) -> None:
        super().__init__(config, ctx)
        home = ctx.store.home
        name = dataset_name(config)
        if not (datasets_root(home) / dataset_id(name)).exists():
            if config.dataset:
                raise DatasetError(f"no dataset {dataset_id(name)!r}; build it or clear the knob")
            ctx.log(f"building dataset {name!r} ({config.episodes} episodes of {config.behaviour})")
            build_dataset(
                name, config.env_id, config.behaviour, config.episodes, seed=config.seed, home=home
            )
        data = load_dataset(name, home=home)
        if data.states.shape[1] != 2:
            raise DatasetError(
                f"dataset {name!r} has {data.states.shape[1]}-D observations; HILP here needs (x, y)"
            )
        self.maze = maze_of(config.env_id)
        self.agent_ = HILP(
            obs_dim=2, action_dim=data.actions.shape[1], max_action=0.2,
            latent_dim=config.latent_dim, hidden=config.hidden, layers=config.layers,
            learning_rate=config.learning_rate, gamma=config.gamma, tau=config.tau,
            expectile=config.expectile, skill_expectile=config.skill_expectile,
            temperature=config.temperature, device=config.device, seed=config.seed,
            compile=config.compile,
        )  # fmt: skip
        self.batches = OfflineBatches(data, self.agent_.device, seed=config.seed)
        self.pairs, self.geodesic = held_out_pairs(self.maze, 1_000, seed=config.seed + 1)
        rng = np.random.default_rng(config.seed + 2)
        centres = self.maze.free_cell_centers
        self.goals = centres[rng.integers(len(centres), size=config.eval_goals)]
        self.grid = free_grid(self.maze)
        self.steps_per_episode = gym.spec(config.env_id).max_episode_steps or 200
        ctx.log(f"dataset {name!r}: {len(data.states):,} states; training phi and the policy")

    @property
    def agent(self) -> HILP:
        return self.agent_

    def train(self) -> None:
        config = self.config
        totals: dict[str, torch.Tensor] = {}
        count = 0
        while self.ctx.step < config.total_steps:
            goals = GoalSampling(config.trajectory_goals, config.gamma)  # knobs are hot
            losses = self.agent_.update(self.batches.sample(config.batch_size, goals))
            for name, value in losses.items():
                totals[name] = totals.get(name, 0) + value
            count += 1
            step = self.ctx.step + 1
            if count == 100 or step == config.total_steps:  # one .item() per 100 updates
                self.ctx.log_scalars(
                    {f"hilp/{k}": (v / count).item() for k, v in totals.items()}, step
                )
                totals, count = {}, 0
            if config.eval_every and step % config.eval_every == 0:
                self.ctx.step = step
                self.evaluate()
            self.ctx.boundary(step)

    def evaluate(self) -> dict[str, float]:
        agent = self.agent_
        learned = np.linalg.norm(
            agent.embed(self.pairs[:, 0]) - agent.embed(self.pairs[:, 1]), axis=1
        )
        rho = float(spearmanr(learned, self.geodesic).statistic)
        if not np.isfinite(rho):  # a constant phi early in training
            rho = 0.0
        paths, reached = reach_goals(agent, self.maze, self.goals, self.steps_per_episode)
        self.ctx.log_snapshot(
            "hilbert",
            {"grid": self.grid, "phi_grid": agent.embed(self.grid), "goals": self.goals.astype(np.float32),
             "goal_paths": paths, "reached": reached},
        )  # fmt: skip
        figures = {"eval/spearman": rho, "eval/goal_success": float(reached.mean())}
        self.ctx.log_scalars(figures)
        return figures

    def apply(self, changes: Mapping[str, Any]) -> None:
        agent, config = self.agent_, self.config
        if "learning_rate" in changes:
            agent.set_learning_rate(config.learning_rate)
        for knob in ("expectile", "skill_expectile", "temperature", "gamma", "tau"):
            if knob in changes:
                setattr(agent, knob, getattr(config, knob))

    def state_dict(self) -> dict[str, Any]:
        return {"agent": self.agent_.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        if strict:
            self.agent_.load_state_dict(state["agent"])
            return []
        from workbench.trainers.common import load_matching

        check_network_format(state["agent"])  # a fork of an older run: refuse, don't misload
        skipped = []
        for name, module in self.agent_.modules().items():
            if isinstance(module, torch.nn.Module):
                skipped += [f"{name}.{k}" for k in load_matching(module, state["agent"][name])]
        return skipped


def load_agent(store: Any, run_id: str) -> tuple[HILP, HILPConfig, int]:
    """The agent of a run's newest loadable checkpoint, on the CPU (for the views).
    Returns agent, config, step."""
    from workbench.runs.store import CheckpointError

    config = HILPConfig.from_dict(store.get_run(run_id).config)
    restored = store.latest_good_checkpoint(run_id)
    if restored is None:
        raise CheckpointError(f"run {run_id} has no checkpoint yet")
    step, state, _ = restored
    return agent_of_checkpoint(config, state), config, step


def agent_of_checkpoint(config: HILPConfig, state: Mapping[str, Any]) -> HILP:
    """The agent of one checkpoint's state (as ``RunStore.load_checkpoint`` gives it), on
    the CPU."""
    agent = HILP(
        obs_dim=2, action_dim=2, max_action=0.2, latent_dim=config.latent_dim,
        hidden=config.hidden, layers=config.layers, gamma=config.gamma, device="cpu",
    )  # fmt: skip
    agent.load_state_dict(state["trainer"]["agent"])
    return agent
