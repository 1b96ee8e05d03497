"""Soft Actor-Critic, written for speed, read top to bottom (CleanRL style).

What makes it fast without making it obscure:
- the twin Q networks are one ensemble: their weights are stacked, and one batched matrix
  product (``torch.baddbmm``) evaluates both, instead of two separate networks;
- the replay buffer is preallocated tensors on the training device, sampled by index;
- an update returns its losses as tensors: nothing waits on ``.item()`` inside the loop;
- the actor's loss goes through the critics with detached weights, so its backward pass
  computes no critic gradients that would be thrown away.

Update order (as in METRA's code, which runs on this SAC): critic step, then actor and
temperature steps (one optimizer: their gradients are independent), soft target update. Losses: critic ``0.5 * MSE`` per Q network, summed;
actor ``mean(alpha * log_pi - min Q)``; temperature ``-mean(log_alpha * (log_pi + target))``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
# One fused kernel per optimizer step instead of a loop of small ops per parameter.
ADAM = {"fused": True}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class EnsembleLinear(nn.Module):
    """``members`` independent linear layers applied in one batched product.

    Input (members, batch, in) -> output (members, batch, out). Each member is initialised
    like ``nn.Linear``.
    """

    def __init__(self, members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(
            torch.empty(members, in_features, out_features).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(members, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        weight, bias = (
            (self.weight.detach(), self.bias.detach()) if detach else (self.weight, self.bias)
        )
        return torch.baddbmm(bias, x, weight)


class QEnsemble(nn.Module):
    """``members`` Q networks (ReLU MLPs) evaluated together; returns (members, batch)."""

    def __init__(self, input_dim: int, hidden: int, layers: int = 2, members: int = 2) -> None:
        super().__init__()
        sizes = [input_dim] + [hidden] * layers + [1]
        self.layers = nn.ModuleList(
            EnsembleLinear(members, a, b) for a, b in itertools.pairwise(sizes)
        )
        self.members = members

    def forward(self, inputs: torch.Tensor, detach_weights: bool = False) -> torch.Tensor:
        x = inputs.unsqueeze(0).expand(self.members, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(x, detach_weights)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x.squeeze(-1)


def mlp(input_dim: int, hidden: int, layers: int, output_dim: int) -> nn.Sequential:
    sizes = [input_dim] + [hidden] * layers
    modules: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        modules += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*modules, nn.Linear(sizes[-1], output_dim))


class TanhGaussianActor(nn.Module):
    """A tanh-squashed Gaussian policy scaled to the action box."""

    def __init__(
        self,
        input_dim: int,
        action_dim: int,
        hidden: int,
        layers: int,
        low: torch.Tensor,
        high: torch.Tensor,
    ) -> None:
        super().__init__()
        self.net = mlp(input_dim, hidden, layers, 2 * action_dim)
        self.register_buffer("scale", (high - low) / 2)
        self.register_buffer("center", (high + low) / 2)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A sampled action and its log-probability (with the tanh correction)."""
        mean, log_std = self.net(inputs).chunk(2, dim=-1)
        log_std = torch.clamp(log_std, LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.randn_like(mean)
        pre_tanh = mean + noise * log_std.exp()
        squashed = torch.tanh(pre_tanh)
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - torch.log(self.scale * (1 - squashed.pow(2)) + 1e-6).sum(-1)
        return squashed * self.scale + self.center, log_prob

    def deterministic(self, inputs: torch.Tensor) -> torch.Tensor:
        mean, _ = self.net(inputs).chunk(2, dim=-1)
        return torch.tanh(mean) * self.scale + self.center


class ReplayBuffer:
    """Transitions in preallocated tensors on the training device (a ring buffer)."""

    def __init__(self, capacity: int, fields: dict[str, int], device: torch.device) -> None:
        self.capacity, self.device = capacity, device
        self.data = {
            name: torch.zeros(capacity, width, device=device) for name, width in fields.items()
        }
        self.position, self.size = 0, 0

    def add(self, **batch: torch.Tensor) -> None:
        """Append a batch of transitions: every field, shape (n, width)."""
        n = next(iter(batch.values())).shape[0]
        index = (self.position + torch.arange(n, device=self.device)) % self.capacity
        for name, values in batch.items():
            self.data[name][index] = torch.as_tensor(
                values, dtype=torch.float32, device=self.device
            ).reshape(n, -1)
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        index = torch.randint(0, self.size, (batch_size,), device=self.device)
        return {name: values[index] for name, values in self.data.items()}


@dataclass
class SACLosses:
    critic: torch.Tensor
    actor: torch.Tensor
    alpha_loss: torch.Tensor
    alpha: torch.Tensor
    entropy: torch.Tensor
    q_mean: torch.Tensor


class SAC:
    """Soft Actor-Critic over flat inputs (observation, possibly with a skill appended).

    Args:
        input_dim: width of the policy and critic input (observation [+ skill]).
        action_low, action_high: the action box.
        hidden: units per hidden layer; layers: hidden layers (actor and critics alike).
        learning_rate: Adam step size of actor, critics and temperature.
        gamma: discount; tau: soft target update rate.
        initial_alpha: starting temperature; autotune: learn it towards ``target_entropy``
            (default ``-action_dim``; METRA uses ``-action_dim / 2``).
        device: ``"auto"`` picks CUDA when present.
    """

    def __init__(
        self,
        input_dim: int,
        action_low: torch.Tensor,
        action_high: torch.Tensor,
        hidden: int = 256,
        layers: int = 2,
        learning_rate: float = 3e-4,
        gamma: float = 0.99,
        tau: float = 5e-3,
        initial_alpha: float = 1.0,
        autotune: bool = True,
        target_entropy: float | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        self.device = resolve_device(device)
        low = torch.as_tensor(action_low, dtype=torch.float32, device=self.device)
        high = torch.as_tensor(action_high, dtype=torch.float32, device=self.device)
        self.action_dim = low.numel()
        self.gamma, self.tau, self.autotune = gamma, tau, autotune
        self.target_entropy = -float(self.action_dim) if target_entropy is None else target_entropy
        self.actor = TanhGaussianActor(input_dim, self.action_dim, hidden, layers, low, high).to(
            self.device
        )
        self.critic = QEnsemble(input_dim + self.action_dim, hidden, layers).to(self.device)
        self.critic_target = QEnsemble(input_dim + self.action_dim, hidden, layers).to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.tensor(
            math.log(initial_alpha), device=self.device, requires_grad=True
        )
        # The actor and the temperature share one optimizer and one backward pass: their
        # losses touch disjoint parameters (each uses the other's value detached), so this
        # equals two separate Adam steps, at half the per-step overhead.
        actor_parameters = [*self.actor.parameters(), *([self.log_alpha] if autotune else [])]
        self.actor_optimizer = torch.optim.Adam(actor_parameters, lr=learning_rate, **ADAM)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=learning_rate, **ADAM)

    def set_learning_rate(self, learning_rate: float) -> None:
        for optimizer in (self.actor_optimizer, self.critic_optimizer):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate

    @torch.no_grad()
    def act(self, inputs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        inputs = torch.as_tensor(inputs, dtype=torch.float32, device=self.device)
        return self.actor.deterministic(inputs) if deterministic else self.actor(inputs)[0]

    def critic_loss(
        self, batch: dict[str, torch.Tensor], rewards: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``0.5 * MSE`` of each Q network against the soft target, summed; and mean Q."""
        with torch.no_grad():
            next_actions, next_log_prob = self.actor(batch["next_inputs"])
            next_q = (
                self.critic_target(torch.cat([batch["next_inputs"], next_actions], -1))
                .min(0)
                .values
            )
            alpha = self.log_alpha.exp()
            target = rewards + self.gamma * (1 - batch["terminated"].squeeze(-1)) * (
                next_q - alpha * next_log_prob
            )
        q = self.critic(torch.cat([batch["inputs"], batch["actions"]], -1))
        return 0.5 * ((q - target) ** 2).mean(-1).sum(), q.mean()

    def actor_loss(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mean(alpha * log_pi - min Q)`` (critic weights detached); and log_pi."""
        actions, log_prob = self.actor(inputs)
        q = self.critic(torch.cat([inputs, actions], -1), detach_weights=True).min(0).values
        return (self.log_alpha.exp().detach() * log_prob - q).mean(), log_prob

    def alpha_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        return -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()

    def update(
        self, batch: dict[str, torch.Tensor], rewards: torch.Tensor | None = None
    ) -> SACLosses:
        """One gradient step of critics, actor and temperature, then the target update.

        ``batch`` holds ``inputs``, ``actions``, ``next_inputs``, ``terminated`` and, unless
        ``rewards`` is given (METRA recomputes them), ``rewards``.
        """
        rewards = batch["rewards"].squeeze(-1) if rewards is None else rewards
        critic_loss, q_mean = self.critic_loss(batch, rewards)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        actor_loss, log_prob = self.actor_loss(batch["inputs"])
        alpha_loss = self.alpha_loss(log_prob)
        self.actor_optimizer.zero_grad(set_to_none=True)
        (actor_loss + alpha_loss if self.autotune else actor_loss).backward()
        self.actor_optimizer.step()

        with torch.no_grad():
            target = list(self.critic_target.parameters())
            torch._foreach_lerp_(target, list(self.critic.parameters()), self.tau)
        return SACLosses(
            critic_loss.detach(), actor_loss.detach(), alpha_loss.detach(), self.log_alpha.detach().exp(),
            -log_prob.detach().mean(), q_mean.detach(),
        )  # fmt: skip

    def state_dict(self) -> dict[str, object]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
