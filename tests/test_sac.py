"""Our SAC: losses equal the formulas on fixed tensors, and it learns."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import environments  # noqa: F401  (registers the workbench ids)
from workbench.agents.sac import SAC, EnsembleLinear, QEnsemble, ReplayBuffer


def _member_forward(q: QEnsemble, x: torch.Tensor, member: int) -> torch.Tensor:
    """One Q network evaluated alone, layer by layer: the reference for the ensemble."""
    for i, layer in enumerate(q.layers):
        x = x @ layer.weight[member] + layer.bias[member, 0]
        if i < len(q.layers) - 1:
            x = F.relu(x)
    return x.squeeze(-1)


@pytest.fixture
def sac():
    torch.manual_seed(0)
    return SAC(
        3,
        -0.5 * torch.ones(2),
        0.5 * torch.ones(2),
        hidden=16,
        initial_alpha=0.1,
        gamma=0.9,
        device="cpu",
    )


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return {
        "inputs": torch.randn(8, 3, generator=g),
        "actions": torch.rand(8, 2, generator=g) - 0.5,
        "rewards": torch.randn(8, 1, generator=g),
        "next_inputs": torch.randn(8, 3, generator=g),
        "terminated": (torch.rand(8, 1, generator=g) < 0.3).float(),
    }


def test_ensemble_layer_equals_separate_linear_layers():
    layer = EnsembleLinear(2, 5, 4)
    x = torch.randn(7, 5)
    out = layer(x.expand(2, -1, -1))
    for m in range(2):
        torch.testing.assert_close(out[m], x @ layer.weight[m] + layer.bias[m, 0])


def test_log_probability_matches_torch_distributions_with_tanh_correction(sac):
    inputs = torch.randn(6, 3)
    torch.manual_seed(5)
    action, log_prob = sac.actor(inputs)
    mean, log_std = sac.actor.net(inputs).chunk(2, -1)
    std = log_std.clamp(-5, 2).exp()
    squashed = (action - sac.actor.center) / sac.actor.scale
    pre_tanh = torch.atanh(squashed.clamp(-1 + 1e-6, 1 - 1e-6))
    expected = torch.distributions.Normal(mean, std).log_prob(pre_tanh).sum(-1)
    expected -= torch.log(sac.actor.scale * (1 - squashed**2) + 1e-6).sum(-1)
    torch.testing.assert_close(log_prob, expected, atol=1e-3, rtol=1e-3)
    assert (action.abs() <= 0.5).all()


def test_critic_loss_is_half_mse_per_network_against_the_soft_target(sac, batch):
    torch.manual_seed(3)
    loss, _ = sac.critic_loss(batch, batch["rewards"].squeeze(-1))
    torch.manual_seed(3)
    with torch.no_grad():
        next_actions, next_log_prob = sac.actor(batch["next_inputs"])
    next_x = torch.cat([batch["next_inputs"], next_actions], -1)
    next_q = torch.minimum(
        _member_forward(sac.critic_target, next_x, 0), _member_forward(sac.critic_target, next_x, 1)
    )
    target = batch["rewards"].squeeze(-1) + 0.9 * (1 - batch["terminated"].squeeze(-1)) * (
        next_q - 0.1 * next_log_prob
    )
    x = torch.cat([batch["inputs"], batch["actions"]], -1)
    expected = sum(
        0.5 * ((_member_forward(sac.critic, x, m) - target) ** 2).mean() for m in range(2)
    )
    torch.testing.assert_close(loss, expected)


def test_actor_and_temperature_losses_follow_the_formulas(sac, batch):
    torch.manual_seed(4)
    actor_loss, log_prob = sac.actor_loss(batch["inputs"])
    torch.manual_seed(4)
    actions, expected_log_prob = sac.actor(batch["inputs"])
    x = torch.cat([batch["inputs"], actions], -1)
    q = torch.minimum(_member_forward(sac.critic, x, 0), _member_forward(sac.critic, x, 1))
    torch.testing.assert_close(actor_loss, (0.1 * expected_log_prob - q).mean())
    alpha_loss = sac.alpha_loss(log_prob)
    torch.testing.assert_close(
        alpha_loss, -(np.log(0.1) * (log_prob.detach() + sac.target_entropy)).mean()
    )
    # The actor's loss leaves no gradient on the critics.
    actor_loss.backward()
    assert all(p.grad is None for p in sac.critic.parameters())


def test_update_moves_targets_by_tau_and_temperature_towards_target_entropy(sac, batch):
    before = [p.clone() for p in sac.critic_target.parameters()]
    losses = sac.update(batch)
    for old, target, online in zip(
        before, sac.critic_target.parameters(), sac.critic.parameters(), strict=True
    ):
        torch.testing.assert_close(target, old + sac.tau * (online - old))
    # Entropy below the target raises the temperature; above it lowers it.
    assert (losses.alpha.item() > 0.1) == (losses.entropy.item() < sac.target_entropy)


def test_replay_buffer_wraps_around_and_samples_stored_rows():
    buffer = ReplayBuffer(5, {"x": 1}, torch.device("cpu"))
    buffer.add(x=torch.arange(7.0).unsqueeze(1))
    assert buffer.size == 5 and buffer.position == 2
    assert sorted(buffer.data["x"].squeeze(1).tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert set(buffer.sample(100)["x"].squeeze(1).tolist()) <= {2.0, 3.0, 4.0, 5.0, 6.0}


def test_sac_learns_to_move_right_on_the_plane():
    torch.manual_seed(0)
    env = gym.make("workbench/Plane-v0")
    agent = SAC(
        2, -0.2 * torch.ones(2), 0.2 * torch.ones(2), hidden=64, initial_alpha=0.05, device="cpu"
    )
    buffer = ReplayBuffer(
        20_000,
        {"inputs": 2, "actions": 2, "rewards": 1, "next_inputs": 2, "terminated": 1},
        agent.device,
    )
    obs, _ = env.reset(seed=0)
    for step in range(3_000):
        action = (
            env.action_space.sample()
            if step < 500
            else agent.act(torch.as_tensor(obs / 10)).numpy()
        )
        next_obs, reward, terminated, truncated, _ = env.step(action)
        # Positions are unbounded: feed the policy a scaled copy.
        buffer.add(inputs=torch.as_tensor(obs[None] / 10), actions=torch.as_tensor(action[None]), rewards=torch.tensor([[reward]]),
                   next_inputs=torch.as_tensor(next_obs[None] / 10), terminated=torch.tensor([[float(terminated)]]))  # fmt: skip
        obs = next_obs if not (terminated or truncated) else env.reset()[0]
        if step >= 500:
            agent.update(buffer.sample(128))
    obs, _ = env.reset(seed=1)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(
            agent.act(torch.as_tensor(obs / 10), deterministic=True).numpy()
        )
        total, done = total + reward, terminated or truncated
    assert total > 25  # random actions net about 0; the best is 40
