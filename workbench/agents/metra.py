"""METRA, with DIAYN and LSD as alternative objectives on the same SAC.

METRA (Park, Rybkin, Levine, ICLR 2024) learns phi: S -> Z under a temporal-distance
constraint and rewards movement along the skill: r = (phi(s') - phi(s)) . z. Faithful to
the authors' code by default (see ALGORITHMS.md):

- constraint ``penalty = min(epsilon, 1 - mean_dims((phi(s') - phi(s))^2))`` (the code's
  mean over dimensions); ``constraint="sum"`` gives the paper's ``1 - ||phi(s') - phi(s)||^2``;
- ``loss_phi = -mean(r + lambda.detach() * penalty)``,
  ``loss_dual = log_lambda * mean(penalty.detach())``, lambda stored as its log (initial 30);
- discrete skills reward with the mask ``z_hat = (z - mean(z)) * D / (D - 1)``;
- update order: phi, dual, rewards recomputed with the new phi, then SAC (critic, actor,
  temperature, targets);
- no bootstrap through a trajectory's last transition: the authors' worker marks the last
  step of every trajectory done (``terminals[-1] = True``, a time limit included), so its
  SAC target is ``r`` alone; ``bootstrap_last_step=True`` gives the usual time-limit
  handling (``r + gamma * V(s')`` there), which the paper does not discuss;
- networks initialised as the authors': phi Xavier-uniform, the policy Xavier-uniform with
  output heads at a tenth of Xavier-normal, the Q functions Xavier-normal, biases zero;
  the policy's standard deviation at least 1e-6 (see ``workbench.agents.sac``).

DIAYN: reward ``log q(z | s')``, as the authors' code computes it (discrete: log-softmax of
phi(s') at the skill, i.e. minus the cross-entropy, without the paper's constant -log p(z);
continuous: the log-density of z under a Gaussian with mean phi(s') and a state-dependent
standard deviation from its own MLP), phi trained to maximise it, no constraint; its
continuous skills are standard normal, not unit length.
LSD: no dual variable; spectral normalisation on phi keeps ``||dphi|| <= ||ds||``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from workbench.agents.sac import SAC, mlp, resolve_device

Objective = Literal["metra", "diayn", "lsd"]
SkillType = Literal["continuous", "discrete"]


def sample_skills(
    n: int, dim: int, kind: SkillType, rng: np.random.Generator, unit_length: bool = True
) -> np.ndarray:
    """Continuous: standard normal vectors, scaled to unit length (METRA, LSD) or not
    (``unit_length=False``: DIAYN). Discrete: one-hot."""
    if kind == "discrete":
        return np.eye(dim, dtype=np.float32)[rng.integers(dim, size=n)]
    z = rng.standard_normal((n, dim)).astype(np.float32)
    return z / np.linalg.norm(z, axis=1, keepdims=True) if unit_length else z


def unit_length_skills(objective: Objective) -> bool:
    """Whether continuous skills are unit vectors: for METRA and LSD, not for DIAYN (the
    authors' ``--unit_length 0``)."""
    return objective != "diayn"


def skill_direction(z: torch.Tensor, kind: SkillType) -> torch.Tensor:
    """The vector the reward projects on: z itself, or for one-hot skills the mask
    ``(z - mean(z)) * D / (D - 1)`` (+1 on the skill, -1/(D-1) elsewhere)."""
    if kind == "discrete":
        dim = z.shape[-1]
        return (z - z.mean(-1, keepdim=True)) * dim / (dim - 1)
    return z


class Encoded(NamedTuple):
    """What phi makes of a batch of transitions (see ``SkillDiscovery._encode``)."""

    phi_obs: torch.Tensor | None
    phi_next: torch.Tensor
    log_std: torch.Tensor | None


@dataclass
class PhiLosses:
    """The representation step's losses and what the views chart (batch means; the
    dual quantities are zero for DIAYN and LSD, which have no constraint)."""

    phi: torch.Tensor
    dual: torch.Tensor
    penalty: torch.Tensor
    dual_lambda: torch.Tensor
    reward: torch.Tensor
    # How far steps of phi exceed the constraint: mean of max(0, distance - 1).
    violation: torch.Tensor


class SkillDiscovery:
    """phi, the dual variable and the SAC policy pi(a | s, z) of one skill objective.

    Args:
        obs_dim, action_low, action_high: the environment.
        skill_dim: D; skill_type: ``"continuous"`` (unit vectors; DIAYN: standard normal)
            or ``"discrete"`` (one-hot).
        objective: ``"metra"``, ``"diayn"`` or ``"lsd"``.
        constraint: ``"mean"`` (authors' code, default) or ``"sum"`` (the paper).
        epsilon: slack of the METRA constraint; dual_lr: step size of log lambda.
        initial_lambda: starting lambda (authors: 30).
        hidden, layers: MLP size of phi, actor and critics (authors: 1024 x 2).
        learning_rate: phi, actor, critics and temperature (authors: 1e-4).
        gamma, tau, initial_alpha: SAC (authors: 0.99, 5e-3, 0.01; target entropy -|A|/2).
        reward_scale: multiplies the skill reward given to SAC.
        bootstrap_last_step: bootstrap the SAC target through a trajectory's last transition
            (truncated by the time limit); default False, as the authors' code.
    """

    def __init__(
        self,
        obs_dim: int,
        action_low: torch.Tensor,
        action_high: torch.Tensor,
        skill_dim: int = 2,
        skill_type: SkillType = "continuous",
        objective: Objective = "metra",
        constraint: Literal["mean", "sum"] = "mean",
        epsilon: float = 1e-3,
        dual_lr: float = 1e-4,
        initial_lambda: float = 30.0,
        hidden: int = 1024,
        layers: int = 2,
        learning_rate: float = 1e-4,
        gamma: float = 0.99,
        tau: float = 5e-3,
        initial_alpha: float = 0.01,
        reward_scale: float = 1.0,
        bootstrap_last_step: bool = False,
        device: str | torch.device = "auto",
    ) -> None:
        if skill_type == "discrete" and skill_dim < 2:
            raise ValueError(f"discrete skills need skill_dim >= 2, got {skill_dim}")
        self.device = resolve_device(device)
        self.skill_dim, self.skill_type, self.objective = skill_dim, skill_type, objective
        self.constraint, self.epsilon, self.reward_scale = constraint, epsilon, reward_scale
        self.bootstrap_last_step = bootstrap_last_step
        self.unit_length = unit_length_skills(objective)
        self.phi = mlp(obs_dim, hidden, layers, skill_dim).to(self.device)
        if objective == "lsd":
            for module in self.phi:
                if isinstance(module, nn.Linear):
                    spectral_norm(module)
        # DIAYN's continuous discriminator q(z | s') is a Gaussian around phi(s') whose log
        # standard deviation comes from a second MLP, as the authors' independent-std module
        # (Xavier-uniform weights, output bias 0: initial std 1; std at least 1e-6).
        self.phi_log_std: nn.Sequential | None = None
        if objective == "diayn" and skill_type == "continuous":
            self.phi_log_std = mlp(obs_dim, hidden, layers, skill_dim).to(self.device)
            nn.init.zeros_(self.phi_log_std[-1].bias)
        discriminator = [*self.phi.parameters()]
        if self.phi_log_std is not None:
            discriminator += [*self.phi_log_std.parameters()]
        self.phi_optimizer = torch.optim.Adam(discriminator, lr=learning_rate)
        self.log_lambda = torch.tensor(
            math.log(initial_lambda), device=self.device, requires_grad=True
        )
        self.dual_optimizer = torch.optim.Adam([self.log_lambda], lr=dual_lr)
        action_dim = torch.as_tensor(action_low).numel()
        self.sac = SAC(
            obs_dim + skill_dim, action_low, action_high, hidden=hidden, layers=layers,
            learning_rate=learning_rate, gamma=gamma, tau=tau, initial_alpha=initial_alpha,
            target_entropy=-action_dim / 2, device=self.device,
        )  # fmt: skip

    # ---- the objective ---------------------------------------------------------------------

    def rewards(
        self, obs: torch.Tensor, next_obs: torch.Tensor, skills: torch.Tensor
    ) -> torch.Tensor:
        """The skill reward of transitions (before ``reward_scale``), with gradients to phi."""
        return self._rewards_of(self._encode(obs, next_obs), skills)

    def _encode(self, obs: torch.Tensor, next_obs: torch.Tensor) -> Encoded:
        """phi(s) (None for DIAYN, whose reward reads s' only), phi(s') and, for DIAYN's
        continuous skills, the log standard deviation of q(z | s')."""
        phi_obs = None if self.objective == "diayn" else self.phi(obs)
        log_std = None if self.phi_log_std is None else self.phi_log_std(next_obs)
        return Encoded(phi_obs, self.phi(next_obs), log_std)

    def _rewards_of(self, encoded: Encoded, skills: torch.Tensor) -> torch.Tensor:
        phi_obs, phi_next, log_std = encoded
        if self.objective == "diayn":
            if log_std is None:  # one-hot skills: log-softmax at the skill
                log_q = torch.log_softmax(phi_next, -1)
                return log_q.gather(-1, skills.argmax(-1, keepdim=True)).squeeze(-1)
            std = log_std.clamp(min=math.log(1e-6)).exp()
            return torch.distributions.Normal(phi_next, std).log_prob(skills).sum(-1)
        return ((phi_next - phi_obs) * skill_direction(skills, self.skill_type)).sum(-1)

    def penalty(self, obs: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """``min(epsilon, 1 - mean or sum over dims of (phi(s') - phi(s))^2)``."""
        return self._penalty_of(self.phi(obs), self.phi(next_obs))

    def _penalty_of(self, phi_obs: torch.Tensor, phi_next: torch.Tensor) -> torch.Tensor:
        squared = (phi_next - phi_obs) ** 2
        distance = squared.mean(-1) if self.constraint == "mean" else squared.sum(-1)
        return torch.clamp(1.0 - distance, max=self.epsilon)

    def phi_losses(
        self, obs: torch.Tensor, next_obs: torch.Tensor, skills: torch.Tensor
    ) -> PhiLosses:
        # phi of each batch once, for the reward and the constraint alike (the authors'
        # cur_z and next_z): evaluating it twice doubled phi's share of an update.
        encoded = self._encode(obs, next_obs)
        reward = self._rewards_of(encoded, skills)
        if self.objective != "metra":
            zero = torch.zeros((), device=self.device)
            return PhiLosses(-reward.mean(), zero, zero, zero, reward.detach().mean(), zero)
        penalty = self._penalty_of(encoded.phi_obs, encoded.phi_next)
        dual_lambda = self.log_lambda.exp()
        phi_loss = -(reward + dual_lambda.detach() * penalty).mean()
        dual_loss = self.log_lambda * penalty.detach().mean()
        return PhiLosses(
            phi_loss,
            dual_loss,
            penalty.detach().mean(),
            dual_lambda.detach(),
            reward.detach().mean(),
            (-penalty.detach()).clamp(min=0).mean(),  # penalty = 1 - distance where below epsilon
        )

    # ---- training ----------------------------------------------------------------------------

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One gradient step in the authors' order; ``batch`` holds ``obs``, ``next_obs``,
        ``skills``, ``actions``, ``terminated`` and ``truncated`` (1 at the last transition of
        a trajectory cut by the time limit). Returns losses as tensors."""
        obs, next_obs, skills = batch["obs"], batch["next_obs"], batch["skills"]
        losses = self.phi_losses(obs, next_obs, skills)
        self.phi_optimizer.zero_grad(set_to_none=True)
        losses.phi.backward()
        self.phi_optimizer.step()
        if self.objective == "metra":
            self.dual_optimizer.zero_grad(set_to_none=True)
            losses.dual.backward()
            self.dual_optimizer.step()
        with torch.no_grad():
            rewards = self.rewards(obs, next_obs, skills) * self.reward_scale
        sac_batch = {
            "inputs": torch.cat([obs, skills], -1),
            "next_inputs": torch.cat([next_obs, skills], -1),
            "actions": batch["actions"],
            # No gamma * V(s') at a terminal state, nor (as the authors) at a trajectory's end.
            "terminated": batch["terminated"]
            if self.bootstrap_last_step
            else torch.maximum(batch["terminated"], batch["truncated"]),
        }
        sac = self.sac.update(sac_batch, rewards)
        logged = {
            "losses/phi": losses.phi.detach(), "metra/skill_reward": rewards.mean(),
            "losses/critic": sac.critic, "losses/actor": sac.actor, "losses/alpha": sac.alpha_loss,
            "sac/alpha": sac.alpha, "sac/entropy": sac.entropy, "sac/q_mean": sac.q_mean,
        }  # fmt: skip
        if self.objective == "metra":  # DIAYN and LSD have no constraint and no lambda
            logged |= {
                "losses/dual": losses.dual.detach(), "metra/penalty": losses.penalty,
                "metra/violation": losses.violation, "metra/lambda": losses.dual_lambda,
            }  # fmt: skip
        return logged

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, skills: torch.Tensor, deterministic: bool = False
    ) -> torch.Tensor:
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        skills = torch.as_tensor(skills, dtype=torch.float32, device=self.device)
        return self.sac.act(torch.cat([obs, skills], -1), deterministic)

    @torch.no_grad()
    def embed(self, obs: np.ndarray | torch.Tensor) -> np.ndarray:
        """phi of observations, as numpy (for the latent-map views)."""
        return self.phi(torch.as_tensor(obs, dtype=torch.float32, device=self.device)).cpu().numpy()

    def state_dict(self) -> dict[str, object]:
        return {
            "phi": self.phi.state_dict(),
            **({} if self.phi_log_std is None else {"phi_log_std": self.phi_log_std.state_dict()}),
            "phi_optimizer": self.phi_optimizer.state_dict(),
            "log_lambda": self.log_lambda.detach().clone(),
            "dual_optimizer": self.dual_optimizer.state_dict(),
            "sac": self.sac.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.phi.load_state_dict(state["phi"])
        if self.phi_log_std is not None:
            self.phi_log_std.load_state_dict(state["phi_log_std"])
        self.phi_optimizer.load_state_dict(state["phi_optimizer"])
        with torch.no_grad():
            self.log_lambda.copy_(state["log_lambda"])
        self.dual_optimizer.load_state_dict(state["dual_optimizer"])
        self.sac.load_state_dict(state["sac"])


def coverage(trajectories: np.ndarray) -> int:
    """Distinct (floor(x), floor(y)) cells visited by trajectories (n, T, >=2), every state
    included (the authors' evaluation metric)."""
    cells = np.floor(trajectories[..., :2].reshape(-1, 2)).astype(np.int64)
    return len(np.unique(cells, axis=0))
