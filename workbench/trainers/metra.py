"""Unsupervised skill discovery as a live Run: METRA (default), DIAYN or LSD on our SAC.

Each epoch follows the authors' schedule: collect ``trajectories_per_epoch`` trajectories
(one skill each, held for the whole trajectory) with the vectorized environment, then take
``updates_per_epoch`` gradient steps once the buffer holds ``min_buffer`` transitions.
Every ``eval_every`` epochs, 48 deterministic trajectories are recorded as snapshot
``trajectories`` with their coverage (distinct 1x1 cells), the views' raw material. Their
skills are drawn as the authors' evaluation draws them (random unit vectors; one-hot
skills each in turn), but once per run, so every evaluation of a run rolls out the same
skills (the authors draw new ones at each evaluation).

Each stored transition carries ``terminated`` and ``truncated``: the authors' worker marks
a trajectory's last step done, so by default the SAC target there does not bootstrap
(``bootstrap_last_step``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import param
import torch

import environments
from workbench.agents.metra import SkillDiscovery, coverage, sample_skills, unit_length_skills
from workbench.agents.sac import ReplayBuffer
from workbench.runs.config import HOT, Config, KnobError
from workbench.runs.trainer import RunContext, Trainer

# Seeds the evaluation skills' own random stream (with the run's seed), apart from training's.
EVALUATION_SKILL_STREAM = 1
# The continuous point environments (the plane and the mazes), not the grid ones.
POINT_ENV_IDS = [
    info.id for info in environments.ENVIRONMENTS if "PointMaze" in info.id or "Plane" in info.id
]


class METRAConfig(Config):
    """Knobs of :class:`METRATrainer` (defaults: the authors' state-based settings)."""

    objective = param.Selector(
        default="metra", objects=["metra", "diayn", "lsd"], doc="Skill objective."
    )
    env_id = param.Selector(default="workbench/Plane-v0", objects=POINT_ENV_IDS, doc="Environment.")
    skill_dim = param.Integer(2, bounds=(1, 64), doc="Dimension D of the skill space.")
    skill_type = param.Selector(
        default="continuous", objects=["continuous", "discrete"], doc="Unit vectors or one-hot."
    )
    hidden = param.Integer(
        1024, bounds=(4, 4096), doc="Units per hidden layer (phi, actor, critics)."
    )
    buffer_size = param.Integer(
        300_000, bounds=(1_000, 10**8), doc="Replay capacity in transitions."
    )
    seed = param.Integer(0, bounds=(0, 2**31 - 1), doc="Seed.")
    device = param.Selector(default="auto", objects=["auto", "cpu", "cuda"], doc="Torch device.")
    constraint = param.Selector(
        default="mean",
        objects=["mean", "sum"],
        doc="Constraint: code's mean over dims or paper's sum.",
        metadata=HOT,
    )
    epsilon = param.Number(
        1e-3, bounds=(0.0, 1.0), doc="Slack of the METRA constraint.", metadata=HOT
    )
    dual_lr = param.Number(1e-4, bounds=(0.0, 1.0), doc="Step size of log lambda.", metadata=HOT)
    learning_rate = param.Number(
        1e-4, bounds=(1e-7, 1.0), doc="phi, actor, critic, alpha step size.", metadata=HOT
    )
    alpha = param.Number(
        0.01, bounds=(1e-6, 10.0), doc="SAC temperature (set now; then tuned).", metadata=HOT
    )
    gamma = param.Number(0.99, bounds=(0.0, 1.0), doc="Discount.", metadata=HOT)
    reward_scale = param.Number(
        1.0, bounds=(0.0, 1e4), doc="Multiplier of the skill reward.", metadata=HOT
    )
    bootstrap_last_step = param.Boolean(
        False,
        doc="Bootstrap the SAC target through a trajectory's last (time-limit) step; "
        "off as the authors' code, whose worker marks that step done.",
        metadata=HOT,
    )
    trajectories_per_epoch = param.Integer(
        8, bounds=(1, 1024), doc="Trajectories collected per epoch.", metadata=HOT
    )
    updates_per_epoch = param.Integer(
        50, bounds=(0, 100_000), doc="Gradient steps per epoch.", metadata=HOT
    )
    batch_size = param.Integer(
        256, bounds=(1, 65_536), doc="Transitions per gradient step.", metadata=HOT
    )
    min_buffer = param.Integer(
        10_000, bounds=(0, 10**8), doc="Transitions before updates start.", metadata=HOT
    )
    total_steps = param.Integer(
        2_000_000, bounds=(1, 10**10), doc="Environment steps in all.", metadata=HOT
    )
    eval_every = param.Integer(
        10, bounds=(0, None), doc="Epochs between evaluations (0: never).", metadata=HOT
    )
    eval_trajectories = param.Integer(
        48, bounds=(1, 1024), doc="Deterministic evaluation trajectories.", metadata=HOT
    )
    # Structural: a run's evaluation skills stay the same from one evaluation to the next.
    eval_skills = param.Selector(
        default="random",
        objects=["random", "evenly_spaced"],
        doc="Evaluation skills: random draws of the training distribution, fixed per run "
        "(the authors' coverage); or, for 2-D continuous skills, evenly spaced on the circle.",
    )
    checkpoint_every = param.Integer(
        100_000, bounds=(0, None), doc="Steps between checkpoints.", metadata=HOT
    )

    @classmethod
    def check(cls, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Each knob's own range, and one rule across knobs: one-hot skills need two."""
        checked = super().check(changes)
        kind = changes.get("skill_type", cls.skill_type)
        if kind == "discrete" and changes.get("skill_dim", cls.skill_dim) < 2:
            raise KnobError(
                f"skill_dim={changes.get('skill_dim', cls.skill_dim)} refused: discrete "
                "skills need skill_dim >= 2 (one-hot over at least two skills)"
            )
        return checked


def env_kwargs(env_id: str) -> dict[str, Any]:
    return {} if env_id == "workbench/Plane-v0" else {"reward_mode": "none"}


def evaluation_skills(
    n: int,
    dim: int,
    kind: str,
    rng: np.random.Generator,
    unit_length: bool = True,
    spacing: str = "random",
) -> np.ndarray:
    """Skills for evaluation, as the authors' evaluation draws them: one-hot skills each in
    turn (each n // dim times, the first n % dim once more, as theirs); continuous skills
    random draws of the training distribution (standard normal, scaled to unit length
    unless ``unit_length=False``: DIAYN). ``spacing="evenly_spaced"``: 2-D continuous
    skills at n evenly spaced angles on the unit circle instead (other shapes: random)."""
    if kind == "discrete":
        return np.eye(dim, dtype=np.float32)[np.arange(n) % dim]
    if spacing == "evenly_spaced" and dim == 2:
        angles = 2 * np.pi * np.arange(n) / n
        return np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    return sample_skills(n, dim, "continuous", rng, unit_length)


def run_evaluation_skills(config: METRAConfig) -> np.ndarray:
    """A run's evaluation skills, the same at every evaluation so that its trajectories
    and coverage compare from one to the next and the skill picker's skill i is evaluation
    skill i: random skills come from a stream of their own, seeded by the run's seed alone
    (training's draws do not shift them)."""
    return evaluation_skills(
        config.eval_trajectories, config.skill_dim, config.skill_type,
        np.random.default_rng([config.seed, EVALUATION_SKILL_STREAM]),
        unit_length_skills(config.objective), config.eval_skills,
    )  # fmt: skip


class METRATrainer(Trainer):
    """Skill discovery on a workbench point environment."""

    Config = METRAConfig

    def __init__(self, config: METRAConfig, ctx: RunContext) -> None:
        super().__init__(config, ctx)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.env = gym.make_vec(
            config.env_id, num_envs=config.trajectories_per_epoch, **env_kwargs(config.env_id)
        )
        self.envs = {config.trajectories_per_epoch: self.env}
        space = self.env.single_action_space
        obs_dim = self.env.single_observation_space.shape[0]
        self.agent_ = SkillDiscovery(
            obs_dim, torch.as_tensor(space.low), torch.as_tensor(space.high),
            skill_dim=config.skill_dim, skill_type=config.skill_type, objective=config.objective,
            constraint=config.constraint, epsilon=config.epsilon, dual_lr=config.dual_lr,
            hidden=config.hidden, learning_rate=config.learning_rate, gamma=config.gamma,
            initial_alpha=config.alpha, reward_scale=config.reward_scale,
            bootstrap_last_step=config.bootstrap_last_step, device=config.device,
        )  # fmt: skip
        fields = {
            "obs": obs_dim,
            "next_obs": obs_dim,
            "skills": config.skill_dim,
            "actions": space.shape[0],
            "terminated": 1,
            "truncated": 1,  # the time limit: no bootstrap there unless bootstrap_last_step
        }
        self.buffer = ReplayBuffer(config.buffer_size, fields, self.agent_.device)
        self.epoch = 0
        self.updated = False  # whether this execution has made an update yet (for its log)

    @property
    def agent(self) -> SkillDiscovery:
        return self.agent_

    def collect(self, skills: np.ndarray, deterministic: bool, store: bool) -> np.ndarray:
        """One trajectory per skill with its own environment copy; returns the visited
        positions (n, T + 1, 2). With ``store``, transitions go to the replay buffer."""
        env = self.envs.get(len(skills))
        if env is None:  # one vector env per batch size, built once (evaluation uses 48)
            kwargs = env_kwargs(self.config.env_id)
            env = self.envs[len(skills)] = gym.make_vec(
                self.config.env_id, num_envs=len(skills), **kwargs
            )
        obs, _ = env.reset(seed=int(self.rng.integers(2**31)))
        positions = [obs[:, :2].copy()]
        done = np.zeros(len(skills), dtype=bool)
        while not done.all():
            actions = self.agent_.act(obs, skills, deterministic).cpu().numpy()
            next_obs, _, terminated, truncated, _ = env.step(actions)
            if store:
                self.buffer.add(
                    obs=torch.as_tensor(obs), next_obs=torch.as_tensor(next_obs), skills=torch.as_tensor(skills),
                    actions=torch.as_tensor(actions), terminated=torch.as_tensor(terminated, dtype=torch.float32),
                    truncated=torch.as_tensor(truncated, dtype=torch.float32),
                )  # fmt: skip
            positions.append(next_obs[:, :2].copy())
            done |= terminated | truncated
            obs = next_obs
        # All copies share the time limit and never terminate early here, so the next
        # step would reset them (NEXT_STEP auto-reset): start the next epoch fresh.
        return np.stack(positions, axis=1)

    def train(self) -> None:
        config = self.config
        if self.buffer.size < config.min_buffer:
            self.ctx.log(
                f"filling the replay buffer: the first update comes after {config.min_buffer:,} "
                "transitions"
            )
        while self.ctx.step < config.total_steps:
            skills = sample_skills(
                config.trajectories_per_epoch, config.skill_dim, config.skill_type, self.rng,
                self.agent_.unit_length,
            )  # fmt: skip
            paths = self.collect(skills, deterministic=False, store=True)
            self.ctx.step += paths.shape[0] * (paths.shape[1] - 1)
            if self.buffer.size >= config.min_buffer and config.updates_per_epoch:
                if not self.updated:
                    self.updated = True
                    self.ctx.log(f"training: {config.updates_per_epoch} updates per epoch")
                totals: dict[str, torch.Tensor] = {}
                for _ in range(config.updates_per_epoch):
                    losses = self.agent_.update(self.buffer.sample(config.batch_size))
                    for name, value in losses.items():
                        totals[name] = totals.get(name, 0) + value
                    self.ctx.boundary(self.ctx.step)
                self.ctx.log_scalars(
                    {k: (v / config.updates_per_epoch).item() for k, v in totals.items()}
                )
            self.epoch += 1
            if config.eval_every and self.epoch % config.eval_every == 0:
                self.evaluate()
            self.ctx.boundary(self.ctx.step)

    def evaluate(self) -> int:
        """48 deterministic trajectories of the run's fixed evaluation skills: snapshot
        ``trajectories`` and ``eval/coverage``."""
        config = self.config
        skills = run_evaluation_skills(config)
        paths = self.collect(skills, deterministic=True, store=False)
        cells = coverage(paths)
        self.ctx.log_snapshot("trajectories", {"paths": paths.astype(np.float32), "skills": skills})
        grid = self.state_grid(paths)
        embedded = self.agent_.embed(paths.reshape(-1, paths.shape[-1])).reshape(
            *paths.shape[:2], -1
        )
        self.ctx.log_snapshot(
            "latent",
            {"grid": grid, "phi_grid": self.agent_.embed(grid), "phi_paths": embedded,
             "skills": skills},
        )  # fmt: skip
        self.ctx.log_scalar("eval/coverage", cells)
        return cells

    def state_grid(self, paths: np.ndarray) -> np.ndarray:
        """States for the latent map: the free quarter-cell centres of a maze, or on the
        plane a 41 x 41 grid over the square the evaluation paths reached."""
        maze = getattr(self.env.unwrapped.task, "maze", None)
        if maze is not None:
            oracle = maze.geodesic(resolution=4)
            ix, iy = np.nonzero(oracle.free)
            return (np.stack([ix, iy], 1) + 0.5).astype(np.float32) / 4
        reach = float(np.abs(paths).max()) + 1.0
        axis = np.linspace(-reach, reach, 41, dtype=np.float32)
        return np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)

    def apply(self, changes: Mapping[str, Any]) -> None:
        agent, config = self.agent_, self.config
        if "learning_rate" in changes:
            agent.sac.set_learning_rate(config.learning_rate)
            for group in agent.phi_optimizer.param_groups:
                group["lr"] = config.learning_rate
        if "dual_lr" in changes:
            for group in agent.dual_optimizer.param_groups:
                group["lr"] = config.dual_lr
        if "alpha" in changes:
            with torch.no_grad():
                agent.sac.log_alpha.fill_(float(np.log(config.alpha)))
        if "gamma" in changes:
            agent.sac.gamma = config.gamma
        for knob in ("epsilon", "constraint", "reward_scale", "bootstrap_last_step"):
            if knob in changes:
                setattr(agent, knob, getattr(config, knob))

    def state_dict(self) -> dict[str, Any]:
        return {"agent": self.agent_.state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        if strict:
            self.agent_.load_state_dict(state["agent"])
            self.epoch = int(state["epoch"])
            return []
        from workbench.trainers.common import load_matching

        # A fork (say METRA -> DIAYN): keep the policy and critics where shapes allow.
        skipped = []
        for name in ("actor", "critic", "critic_target"):
            module = getattr(self.agent_.sac, name)
            skipped += [
                f"sac.{name}.{k}" for k in load_matching(module, state["agent"]["sac"][name])
            ]
        skipped += [f"phi.{k}" for k in load_matching(self.agent_.phi, state["agent"]["phi"])]
        log_std = self.agent_.phi_log_std
        if log_std is not None and "phi_log_std" in state["agent"]:
            skipped += [
                f"phi_log_std.{k}" for k in load_matching(log_std, state["agent"]["phi_log_std"])
            ]
        return skipped


def load_agent(store: Any, run_id: str) -> tuple[SkillDiscovery, METRAConfig, int]:
    """The agent of a run's newest loadable checkpoint, on the CPU (for views that roll out
    skills in the server, away from the trainer's process). Returns agent, config, step."""
    from workbench.runs.store import CheckpointError

    config = METRAConfig.from_dict(store.get_run(run_id).config)
    restored = store.latest_good_checkpoint(run_id)
    if restored is None:
        raise CheckpointError(f"run {run_id} has no checkpoint yet")
    step, state, _ = restored
    return agent_of_checkpoint(config, state), config, step


def agent_of_checkpoint(config: METRAConfig, state: Mapping[str, Any]) -> SkillDiscovery:
    """The agent of one checkpoint's state (as ``RunStore.load_checkpoint`` gives it), on
    the CPU."""
    env = gym.make(config.env_id, **env_kwargs(config.env_id))
    space = env.action_space
    agent = SkillDiscovery(
        env.observation_space.shape[0], torch.as_tensor(space.low), torch.as_tensor(space.high),
        skill_dim=config.skill_dim, skill_type=config.skill_type, objective=config.objective,
        hidden=config.hidden, gamma=config.gamma, device="cpu",
    )  # fmt: skip
    env.close()
    agent.load_state_dict(state["trainer"]["agent"])
    return agent


def rollout(agent: SkillDiscovery, env_id: str, skill: np.ndarray, seed: int = 0) -> np.ndarray:
    """One deterministic trajectory of ``skill``: positions (T + 1, 2)."""
    env = gym.make(env_id, **env_kwargs(env_id))
    obs, _ = env.reset(seed=seed)
    positions, done = [obs[:2].copy()], False
    while not done:
        action = agent.act(
            obs[None], np.asarray(skill, dtype=np.float32)[None], deterministic=True
        )[0].numpy()
        obs, _, terminated, truncated, _ = env.step(action)
        positions.append(obs[:2].copy())
        done = terminated or truncated
    return np.array(positions)
