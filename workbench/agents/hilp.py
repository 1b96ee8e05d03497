"""HILP: Hilbert representations and the skill policy on them, learned from offline data.

HILP (Park, Kreiman, Levine, ICML 2024) learns phi: S -> Z such that Euclidean distance in
Z is temporal distance, as a goal-conditioned value ``V(s, g) = -||phi(s) - phi(g)||``
trained by expectile regression; then a policy pi(a | s, z) that moves along every
direction z of Z, trained offline with IQL on the reward ``(phi(s') - phi(s)) . z``.
Faithful to the authors' code (see ALGORITHMS.md):

- two phi networks with target copies; ``V = -sqrt(max(||phi(s) - phi(g)||^2, 1e-6))``;
- reward 0 at the goal and -1 elsewhere, mask ``1 - success``;
  ``adv = r + gamma * mask * min(V1', V2')_target - mean(V1, V2)_target`` and each
  ``Vi`` regressed on ``r + gamma * mask * Vi'_target`` with weight ``tau`` where
  ``adv >= 0``, else ``1 - tau`` (expectile 0.95);
- goals: 0.625 a future state of the same trajectory (geometric offset, parameter
  ``1 - gamma``), 0.375 a random dataset state;
- skills: unit-norm Gaussian z (dimension 32), drawn afresh for every batch, as the
  authors' current code does (commit "Fix random skill issue", 2025-09-29: ``jax.random``
  with a key split at every update); their first commit called ``np.random.randn`` inside
  the jitted update, so it drew one set of skills at tracing and reused it, and the
  paper's results come from that code (their ``reproduce`` branch). IQL with expectile
  0.9, AWR temperature 10, weights capped at 100; the reward uses the first phi network;
- zero-shot goal reaching ``z = (phi(g) - phi(s)) / ||phi(g) - phi(s)||`` each step;
  zero-shot reward prompting ``z = lstsq(phi(s') - mean phi, r)``, normalised (the
  authors' zero-shot RL form, for rewards of the state reached; ``features="diff"``
  regresses on ``phi(s') - phi(s)``, their HILP-G form, for rewards of the movement,
  where the centring cancels, as in theirs).

- networks as theirs: phi, Q and V are Linear-GELU-LayerNorm MLPs; the policy is a ReLU
  MLP with an unsquashed Gaussian mean and a state-independent log std (clipped to
  [-5, 2]); one step updates every network from the same parameters, and the targets
  move toward the parameters before that step.

The authors' defaults are MLPs 512 x 3, batch 1024, learning rate 3e-4, gamma 0.99, target
rate 0.005.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from workbench.agents.sac import resolve_device
from workbench.datasets.offline import OfflineData

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
# Layout of the weights in a checkpoint. 2: the authors' layer order (GELU, then LayerNorm)
# and policy. Format 1 used the same parameter names for other networks, so it is refused.
NETWORK_FORMAT = 2


def _xavier_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, scale: float = 1.0):
    """The authors' ``default_init(scale)``: variance scaling over the mean fan, uniform.
    (torch's ``xavier_uniform_`` would read a (members, in, out) tensor as a convolution
    kernel and take the wrong fans.)"""
    bound = math.sqrt(6.0 * scale / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-bound, bound)


# GELU's tanh form, written with a sigmoid: 0.5 x (1 + tanh(u)) = x sigmoid(2u), with
# u = sqrt(2 / pi) (x + 0.044715 x^3). torch's CPU kernel spends most of its time in an
# exact tanh; the sigmoid form agrees to float rounding (5e-7) in half the time.
_GELU_LINEAR = 2.0 * math.sqrt(2.0 / math.pi)
_GELU_CUBIC = _GELU_LINEAR * 0.044715


def _gelu_gate(x: torch.Tensor) -> torch.Tensor:
    """sigmoid(2u): one new tensor, the rest in place."""
    gate = torch.addcmul(x.new_tensor(_GELU_LINEAR), x, x, value=_GELU_CUBIC)
    return gate.mul_(x).sigmoid_()


class _GeluTanh(torch.autograd.Function):
    """``F.gelu(x, approximate="tanh")`` (flax's ``nn.gelu``, the authors' activation)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        gate = _gelu_gate(x)
        ctx.save_for_backward(x, gate)
        return x * gate

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # d/dx x s(v(x)) = s (1 + x v'(x) (1 - s)), v' = 2c (1 + 3 * 0.044715 x^2)
        x, gate = ctx.saved_tensors
        slope = torch.addcmul(x.new_tensor(_GELU_LINEAR), x, x, value=3.0 * _GELU_CUBIC)
        slope.mul_(x).mul_(torch.rsub(gate, 1.0)).add_(1.0).mul_(gate)
        return slope.mul_(grad)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh form; without gradients, no tensors are kept for a backward pass."""
    if x.device.type != "cpu":  # a GPU's own kernel does it all in one pass
        return F.gelu(x, approximate="tanh")
    if torch.is_grad_enabled() and x.requires_grad:
        return _GeluTanh.apply(x)
    return x * _gelu_gate(x)


class HILPMLP(nn.Module):
    """``members`` MLPs evaluated together, as the authors' two network types:

    - ``layer_norm=True``: Linear, GELU, LayerNorm per hidden layer (their ``LayerNormMLP``,
      used by phi, Q and V);
    - ``layer_norm=False``: Linear, ReLU per hidden layer (their ``MLP``, used by the policy).

    Weights are Xavier-uniform (the output layer's scaled by ``output_scale``), biases zero;
    GELU is the tanh approximation (:func:`gelu_tanh`) and the LayerNorm epsilon 1e-6
    (flax's defaults).
    Input (batch, in) or (members, batch, in) -> output (members, batch, out).
    """

    def __init__(
        self,
        members: int,
        input_dim: int,
        hidden: int,
        layers: int,
        output_dim: int,
        layer_norm: bool = True,
        output_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.members, self.layer_norm = members, layer_norm
        sizes = [input_dim] + [hidden] * layers + [output_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            scale = output_scale if i == layers else 1.0
            self.weights.append(nn.Parameter(_xavier_uniform((members, a, b), a, b, scale)))
            self.biases.append(nn.Parameter(torch.zeros(members, 1, b)))
        if layer_norm:
            self.norm_gains = nn.Parameter(torch.ones(layers, members, 1, hidden))
            self.norm_biases = nn.Parameter(torch.zeros(layers, members, 1, hidden))

    def forward(self, inputs: torch.Tensor, members: slice = slice(None)) -> torch.Tensor:
        """``members`` selects some of the MLPs (``slice(0, 1)``: the first only)."""
        count = len(range(self.members)[members])
        x = inputs if inputs.dim() == 3 else inputs.unsqueeze(0).expand(count, -1, -1)
        last = len(self.weights) - 1
        for i in range(last + 1):
            weight, bias = self._layer(i, members)
            x = torch.baddbmm(bias, x, weight)
            if i == last:
                break
            if self.layer_norm:  # its gain and bias are in the next layer's weight and bias
                x = F.layer_norm(gelu_tanh(x), x.shape[-1:], eps=1e-6)
            else:
                x = F.relu(x)
        return x

    def _layer(self, i: int, members: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``i``'s weight and bias, with the LayerNorm gain and bias before it folded
        in: ``W^T (gain * x + shift) + b = (gain W)^T x + (W^T shift + b)``. The same
        function of the same parameters, so the same gradients; but the gain multiplies a
        (hidden, out) weight instead of the (batch, hidden) activations, which saves one
        pass over them forward and three backward (4% of an update at the authors' batch
        1024, width 512)."""
        weight, bias = self.weights[i][members], self.biases[i][members]
        if not self.layer_norm or i == 0:
            return weight, bias
        gain = self.norm_gains[i - 1, members].transpose(-1, -2)  # (members, hidden, 1)
        return gain * weight, torch.baddbmm(bias, self.norm_biases[i - 1, members], weight)


def check_network_format(state: dict) -> None:
    """Refuse HILP weights saved in another layout (they would load, and mean nothing)."""
    found = state.get("network_format", 1)
    if found != NETWORK_FORMAT:
        raise ValueError(
            f"HILP weights in network format {found}, saved before the networks followed the "
            f"authors' layer order; this version reads format {NETWORK_FORMAT}: start a new run"
        )


def hilbert_value(phi_s: torch.Tensor, phi_g: torch.Tensor) -> torch.Tensor:
    """``-||phi_s - phi_g||``, kept differentiable at zero distance."""
    return -torch.sqrt(torch.clamp(((phi_s - phi_g) ** 2).sum(-1), min=1e-6))


def expectile_weight(advantage: torch.Tensor, expectile: float) -> torch.Tensor:
    """``tau`` where ``advantage >= 0``, else ``1 - tau``."""
    return torch.where(advantage >= 0, expectile, 1 - expectile)


def sample_unit_skills(n: int, dim: int, generator: torch.Generator | None, device) -> torch.Tensor:
    z = torch.randn(n, dim, generator=generator, device=device)
    return z / z.norm(dim=-1, keepdim=True)


@dataclass
class GoalSampling:
    """Where training goals come from (the authors' proportions).

    trajectory: share of goals that are a later state of the same trajectory, at a
        geometric offset with parameter ``1 - gamma`` (at least one step, at most the
        trajectory's end); the rest are random dataset states.
    gamma: the offset's discount.
    """

    trajectory: float = 0.625
    gamma: float = 0.99

    def __post_init__(self) -> None:
        if not 0.0 <= self.trajectory <= 1.0:
            raise ValueError(f"trajectory goal share must be in [0, 1], got {self.trajectory!r}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma!r}")


class OfflineBatches:
    """A dataset on the training device, sampled into HILP batches.

    Each batch holds ``observations``, ``actions``, ``next_observations``, ``goals``,
    ``success`` (the goal is the current state) and ``goal_kind`` (1: trajectory goal).
    """

    def __init__(self, data: OfflineData, device: torch.device, seed: int = 0) -> None:
        self.device = device
        self.states = torch.as_tensor(data.states, device=device)
        self.actions = torch.as_tensor(data.actions, device=device)
        self.state_index = torch.as_tensor(data.state_index, device=device)
        self.final_index = torch.as_tensor(data.final_index, device=device)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __len__(self) -> int:
        return len(self.state_index)

    def sample(self, batch_size: int, goals: GoalSampling) -> dict[str, torch.Tensor]:
        g = self.generator
        n = len(self)
        index = torch.randint(0, n, (batch_size,), generator=g, device=self.device)
        current = self.state_index[index]
        # Geometric offset k >= 1 with P(k) = (1 - gamma) gamma^(k - 1), by inversion.
        uniform = torch.rand(batch_size, generator=g, device=self.device).clamp_min(1e-12)
        offset = 1 + torch.floor(torch.log(uniform) / math.log(goals.gamma)).long()
        future = torch.minimum(current + offset, self.final_index[index])
        random_state = self.state_index[
            torch.randint(0, n, (batch_size,), generator=g, device=self.device)
        ]
        from_trajectory = torch.rand(batch_size, generator=g, device=self.device) < goals.trajectory
        goal_index = torch.where(from_trajectory, future, random_state)
        return {
            "observations": self.states[current],
            "actions": self.actions[index],
            "next_observations": self.states[current + 1],
            "goals": self.states[goal_index],
            "success": (goal_index == current).float(),
            "goal_kind": from_trajectory.float(),
        }


class GaussianSkillPolicy(nn.Module):
    """pi(a | s, z) as the authors' ``Policy``: a ReLU MLP whose output layer starts at 1/100
    scale gives an unsquashed Gaussian mean, with a learned state-independent log std.

    The distribution is over actions divided by ``max_action`` (the authors' environments
    act in [-1, 1]); the deterministic action is the mean clipped to [-1, 1], scaled back.
    """

    def __init__(
        self, input_dim: int, action_dim: int, hidden: int, layers: int, max_action: float
    ) -> None:
        super().__init__()
        self.net = HILPMLP(
            1, input_dim, hidden, layers, action_dim, layer_norm=False, output_scale=1e-2
        )
        self.log_std = nn.Parameter(torch.zeros(action_dim))
        self.max_action = max_action

    def distribution(self, inputs: torch.Tensor) -> torch.distributions.Normal:
        """The policy over normalised actions ``a / max_action``."""
        log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        return torch.distributions.Normal(self.net(inputs)[0], log_std.exp())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)[0].clamp(-1.0, 1.0) * self.max_action


@dataclass
class HILPLosses:
    value: torch.Tensor
    value_mean: torch.Tensor
    advantage_mean: torch.Tensor
    skill_q: torch.Tensor
    skill_value: torch.Tensor
    actor: torch.Tensor
    skill_reward: torch.Tensor

    def items(self):
        return {name: getattr(self, name) for name in self.__dataclass_fields__}.items()


def _cpp_compiler() -> str | None:
    """The C++ compiler Inductor would find (it builds the CPU kernels of ``torch.compile``)."""
    names = (os.environ.get("CXX", ""), "g++", "clang++", "c++")
    return next((path for name in names if name and (path := shutil.which(name))), None)


class HILP:
    """The Hilbert representation (twin phi) and the skill policy (IQL) of HILP.

    Args:
        obs_dim, action_dim, max_action: the environment.
        latent_dim: dimension of Z and of the skills (authors: 32).
        hidden, layers: MLP size of every network (authors: 512 x 3).
        learning_rate: Adam step size of every network (authors: 3e-4).
        gamma: discount of the value and of the skill policy (0.99).
        tau: target network update rate (0.005).
        expectile: expectile of the Hilbert value (0.95; 0.5 in the zero-shot RL variant).
        skill_expectile: expectile of the skill policy's value (0.9).
        temperature: AWR inverse temperature (10); weights are capped at ``max_weight`` (100).
        device: ``"auto"``: CUDA when present.
        compile: compile the losses, forward and backward, with ``torch.compile``: it fuses
            the elementwise work (GELU, LayerNorm, biases, the losses) that eager PyTorch does
            pass by pass. Measured on a 2-core CPU: 1.18x faster updates at the authors' size
            (512 x 3, batch 1024) and 1.5x at the dashboard's (256 x 3, batch 256), after about
            40 s of compiling at the first update (and again if the batch size changes); the
            same function, equal to float rounding. Off by default: short runs would wait.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        max_action: float,
        latent_dim: int = 32,
        hidden: int = 512,
        layers: int = 3,
        learning_rate: float = 3e-4,
        gamma: float = 0.99,
        tau: float = 0.005,
        expectile: float = 0.95,
        skill_expectile: float = 0.9,
        temperature: float = 10.0,
        max_weight: float = 100.0,
        device: str | torch.device = "auto",
        seed: int = 0,
        compile: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        torch.manual_seed(seed)
        self.latent_dim, self.max_action = latent_dim, max_action
        self.gamma, self.tau = gamma, tau
        self.expectile, self.skill_expectile = expectile, skill_expectile
        self.temperature, self.max_weight = temperature, max_weight
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        to = self.device

        self.phi = HILPMLP(2, obs_dim, hidden, layers, latent_dim).to(to)
        self.phi_target = HILPMLP(2, obs_dim, hidden, layers, latent_dim).to(to)
        self.phi_target.load_state_dict(self.phi.state_dict())
        self.phi_target.requires_grad_(False)

        skill_input = obs_dim + latent_dim
        self.q = HILPMLP(2, skill_input + action_dim, hidden, layers, 1).to(to)
        self.q_target = HILPMLP(2, skill_input + action_dim, hidden, layers, 1).to(to)
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.v = HILPMLP(1, skill_input, hidden, layers, 1).to(to)
        self.actor = GaussianSkillPolicy(skill_input, action_dim, hidden, layers, max_action).to(to)

        adam = {"lr": learning_rate, "fused": True}
        self.phi_optimizer = torch.optim.Adam(self.phi.parameters(), **adam)
        self.q_optimizer = torch.optim.Adam(self.q.parameters(), **adam)
        self.v_optimizer = torch.optim.Adam(self.v.parameters(), **adam)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), **adam)
        if compile and self.device.type == "cpu" and not _cpp_compiler():
            raise ValueError(
                "compile=True: torch.compile needs a C++ compiler for the CPU (g++ or clang++) "
                "and none is on PATH; install one, or train without compile"
            )
        self.losses = torch.compile(self.eager_losses) if compile else self.eager_losses

    # ---- the Hilbert representation ------------------------------------------------------

    @torch.no_grad()
    def embed(self, observations: np.ndarray | torch.Tensor) -> np.ndarray:
        """phi(s) of the first phi network (the one the skill reward uses), as numpy."""
        x = torch.as_tensor(np.asarray(observations), dtype=torch.float32, device=self.device)
        return self.phi(x, slice(0, 1))[0].cpu().numpy()

    def value_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """Expectile regression of both Hilbert values (the authors' ``value_loss``)."""
        rewards = batch["success"] - 1.0
        masks = 1.0 - batch["success"]
        obs, goals = batch["observations"], batch["goals"]
        # Three calls, not one on the inputs stacked: a stacked call's activations (12 MB at
        # the authors' size) no longer fit the cache, and it was slower.
        with torch.no_grad():
            phi_next_t = self.phi_target(batch["next_observations"])
            phi_goal_t, phi_obs_t = self.phi_target(goals), self.phi_target(obs)
            next_v = hilbert_value(phi_next_t, phi_goal_t)  # (2, batch)
            v_t = hilbert_value(phi_obs_t, phi_goal_t).mean(0)
            advantage = rewards + self.gamma * masks * next_v.min(0).values - v_t
            targets = rewards + self.gamma * masks * next_v  # one target per network
        # Separate calls here: the gradients of the output layer's bias (and of the last
        # norm's) then cancel exactly between s and g, as they do in exact arithmetic (phi
        # enters only as phi(s) - phi(g)). Stacked, one sum over both leaves rounding noise
        # there that Adam would scale to full steps.
        phi_obs, phi_goal = self.phi(obs), self.phi(goals)
        v = hilbert_value(phi_obs, phi_goal)
        weight = expectile_weight(advantage, self.expectile)
        loss = (weight * (targets - v) ** 2).mean(-1).sum()
        stats = {"value_mean": v.mean().detach(), "advantage_mean": advantage.mean()}
        # phi(s) of the first network, for the skill reward (the same parameters and input)
        stats["phi_observations"] = phi_obs[0].detach()
        return loss, stats

    # ---- the skill policy (IQL) ----------------------------------------------------------

    def skill_rewards(
        self,
        observations: torch.Tensor,
        next_observations: torch.Tensor,
        skills: torch.Tensor,
        phi_observations: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(phi(s') - phi(s)) . z`` with the first phi network; ``phi_observations``: its
        phi(s) when already computed (the value loss has it)."""
        first = slice(0, 1)  # the second network is not needed: a quarter of the products
        with torch.no_grad():
            if phi_observations is None:
                phi_observations = self.phi(observations, first)[0]
            phi_next = self.phi(next_observations, first)[0]
            return ((phi_next - phi_observations) * skills).sum(-1)

    def skill_losses(
        self,
        batch: dict[str, torch.Tensor],
        skills: torch.Tensor,
        phi_observations: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """IQL: Q to ``r + gamma V(s', z)``, V to the ``skill_expectile`` of min target Q,
        the actor by advantage-weighted regression. Returns (q, v, actor, reward) losses."""
        rewards = self.skill_rewards(
            batch["observations"], batch["next_observations"], skills, phi_observations
        )
        inputs = torch.cat([batch["observations"], skills], -1)
        next_inputs = torch.cat([batch["next_observations"], skills], -1)
        normalised_actions = batch["actions"] / self.max_action  # the authors' [-1, 1]
        state_actions = torch.cat([inputs, normalised_actions], -1)
        with torch.no_grad():
            next_v = self.v(next_inputs)[0, :, 0]
            q_target = rewards + self.gamma * next_v  # offline skills never terminate
            target_q = self.q_target(state_actions)[..., 0].min(0).values
        q = self.q(state_actions)[..., 0]
        q_loss = ((q - q_target) ** 2).mean(-1).sum()
        v = self.v(inputs)[0, :, 0]
        v_loss = (expectile_weight(target_q - v, self.skill_expectile) * (target_q - v) ** 2).mean()
        advantage = (target_q - v.detach()).detach()
        weight = torch.exp(advantage * self.temperature).clamp(max=self.max_weight)
        log_prob = self.actor.distribution(inputs).log_prob(normalised_actions).sum(-1)
        actor_loss = -(weight * log_prob).mean()
        return q_loss, v_loss, actor_loss, rewards.mean()

    def eager_losses(
        self, batch: dict[str, torch.Tensor], skills: torch.Tensor
    ) -> tuple[torch.Tensor, dict, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The Hilbert value's loss and stats, then the skill policy's (q, v, actor, reward)
        on ``skills``. ``self.losses`` is this, compiled when the agent was made so."""
        value_loss, stats = self.value_loss(batch)
        q_loss, v_loss, actor_loss, reward = self.skill_losses(
            batch, skills, stats["phi_observations"]
        )
        return value_loss, stats, q_loss, v_loss, actor_loss, reward

    def update(self, batch: dict[str, torch.Tensor]) -> HILPLosses:
        """One step of every network from the same parameters, as the authors' single loss:
        the Hilbert value, then Q, V and the actor on skills drawn afresh for this batch (as
        the authors' code since "Fix random skill issue"; rewards from phi before its step);
        the targets move toward the online networks as they were before the step."""
        n = batch["observations"].shape[0]
        skills = sample_unit_skills(n, self.latent_dim, self.generator, self.device)
        value_loss, stats, q_loss, v_loss, actor_loss, reward = self.losses(batch, skills)
        optimizers = (self.phi_optimizer, self.q_optimizer, self.v_optimizer, self.actor_optimizer)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        # The four losses touch disjoint parameters (the skill reward is computed without
        # gradients): one backward pass serves all.
        (value_loss + q_loss + v_loss + actor_loss).backward()
        with torch.no_grad():
            for target, online in ((self.phi_target, self.phi), (self.q_target, self.q)):
                torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), self.tau)
        for optimizer in optimizers:
            optimizer.step()
        return HILPLosses(
            value_loss.detach(), stats["value_mean"], stats["advantage_mean"], q_loss.detach(),
            v_loss.detach(), actor_loss.detach(), reward,
        )  # fmt: skip

    # ---- zero-shot use -------------------------------------------------------------------

    @torch.no_grad()
    def act(self, observations: np.ndarray, skills: np.ndarray) -> np.ndarray:
        """Deterministic actions (the policy's mean, clipped to the box) for skills z."""
        inputs = torch.as_tensor(
            np.concatenate([observations, skills], -1), dtype=torch.float32, device=self.device
        )
        return self.actor(inputs).cpu().numpy()

    def goal_skill(self, observations: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """``(phi(g) - phi(s)) / ||phi(g) - phi(s)||``: the direction towards each goal."""
        direction = self.embed(goals) - self.embed(observations)
        return direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-8)

    def reward_skill(
        self,
        observations: np.ndarray,
        next_observations: np.ndarray,
        rewards: np.ndarray,
        features: Literal["state", "diff"] = "state",
        centre: bool = True,
    ) -> np.ndarray:
        """The z for which ``phi(s') . z`` (``features="state"``, the authors' zero-shot RL
        default: rewards of the state reached) or ``(phi(s') - phi(s)) . z`` (``"diff"``:
        rewards of the movement, such as a velocity) best fits ``rewards`` (least squares),
        normalised: the zero-shot policy for that reward.

        ``centre``: subtract the mean of phi over the samples first, as the authors do (their
        ``feature_net`` is ``phi(s) - running mean``, an average of phi over training
        batches, so over the same dataset the prompt's samples come from). Without it a
        reward whose mean is not zero (a reward of being somewhere, positive everywhere)
        tilts z towards the mean of phi: a skill that only scales the constant, not the
        direction the reward prefers. With it the fit ignores the reward's mean, as an
        intercept would, and a constant added to a reward leaves its policy unchanged. In
        the ``"diff"`` form the authors subtract the same mean from both terms, so it
        cancels: ``centre`` changes nothing there, here as in theirs.
        """
        if features not in ("state", "diff"):
            raise ValueError(f"features must be 'state' or 'diff', got {features!r}")
        phi = self.embed(next_observations)
        if features == "diff":
            phi = phi - self.embed(observations)
        elif centre:
            phi = phi - phi.mean(0)
        z, *_ = np.linalg.lstsq(phi, rewards, rcond=None)
        return (z / max(np.linalg.norm(z), 1e-8)).astype(np.float32)

    # ---- checkpoints ---------------------------------------------------------------------

    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        return {
            "phi": self.phi, "phi_target": self.phi_target, "q": self.q, "q_target": self.q_target,
            "v": self.v, "actor": self.actor, "phi_optimizer": self.phi_optimizer,
            "q_optimizer": self.q_optimizer, "v_optimizer": self.v_optimizer,
            "actor_optimizer": self.actor_optimizer,
        }  # fmt: skip

    def state_dict(self) -> dict[str, object]:
        modules = {name: module.state_dict() for name, module in self.modules().items()}
        return {"network_format": NETWORK_FORMAT, **modules}

    def load_state_dict(self, state: dict) -> None:
        check_network_format(state)
        for name, module in self.modules().items():
            module.load_state_dict(state[name])

    def set_learning_rate(self, learning_rate: float) -> None:
        for module in self.modules().values():
            if isinstance(module, torch.optim.Optimizer):
                for group in module.param_groups:
                    group["lr"] = learning_rate
