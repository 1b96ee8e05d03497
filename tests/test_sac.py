"""Our SAC: losses equal the formulas on fixed tensors, and it learns."""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import environments  # noqa: F401  (registers the workbench ids)
from workbench.agents.sac import SAC, EnsembleMLP, ReplayBuffer, adam_step


def _member_forward(q: EnsembleMLP, x: torch.Tensor, member: int) -> torch.Tensor:
    """One Q network evaluated alone, layer by layer: the reference for the ensemble."""
    weights = q.layer_weights()
    for i, (weight, bias) in enumerate(weights):
        x = F.linear(x, weight[member], bias[member, 0])
        if i < len(weights) - 1:
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


def test_ensemble_equals_separate_networks_and_its_backward_equals_autograd():
    torch.manual_seed(0)
    net = EnsembleMLP(5, 8, 2, 3, members=2)
    x = torch.randn(7, 5)
    out = net(x)
    for m in range(2):
        h = x
        for i, (weight, bias) in enumerate(net.layer_weights()):
            h = F.linear(h, weight[m], bias[m, 0])
            h = F.relu(h) if i < 2 else h
        torch.testing.assert_close(out[m], h)
    # By hand: weight gradients into flat.grad and the input gradient, as autograd has them.
    grad_out = torch.randn(2, 7, 3)
    leaf = x.clone().requires_grad_(True)
    (net(leaf) * grad_out).sum().backward()
    expected_weights, expected_input = net.flat.grad.clone(), leaf.grad
    kept_out, kept = net.forward_keeping_inputs(x)
    torch.testing.assert_close(kept_out, out.detach())
    grad_input = net.backward(kept, grad_out, input_grad=True)
    torch.testing.assert_close(net.flat.grad, expected_weights)
    torch.testing.assert_close(grad_input.sum(0), expected_input)

    # A loss reading each sample from one member: back through that member only.
    chosen = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    grad_chosen = torch.randn(7, 3)
    leaf.grad = None
    picked = net(leaf)[chosen, torch.arange(7)]
    (picked * grad_chosen).sum().backward()
    _, kept = net.forward_keeping_inputs(x)
    torch.testing.assert_close(net.input_grad_of_chosen(kept, chosen, grad_chosen), leaf.grad)


def test_log_probability_matches_torch_distributions_with_tanh_correction(sac):
    inputs = torch.randn(6, 3)
    torch.manual_seed(5)
    action, log_prob = sac.actor(inputs)
    mean, log_std = sac.actor.mean_and_log_std(inputs)
    std = log_std.clamp(math.log(1e-6), 2).exp()
    squashed = (action - sac.actor.center) / sac.actor.scale
    pre_tanh = torch.atanh(squashed.clamp(-1 + 1e-6, 1 - 1e-6))
    expected = torch.distributions.Normal(mean, std).log_prob(pre_tanh).sum(-1)
    # The density of the tanh output in [-1, 1], before scaling to the box (as SB3's).
    expected -= torch.log(1 - squashed**2 + 1e-6).sum(-1)
    torch.testing.assert_close(log_prob, expected, atol=1e-3, rtol=1e-3)
    assert (action.abs() <= 0.5).all()


def test_log_probability_and_entropy_target_do_not_depend_on_the_action_box():
    """The same policy on [-0.2, 0.2]^2 (METRA's plane and mazes) and on [-1, 1]^2 draws
    the same log-probabilities, fused or not: measured in the box's own units, no density
    on the small box reaches entropy -1, METRA's target, and the temperature only grew."""
    actors = []
    for bound in (0.2, 1.0):
        torch.manual_seed(0)
        agent = SAC(3, -bound * torch.ones(2), bound * torch.ones(2), hidden=16, device="cpu")
        actors.append(agent.actor)
    inputs = torch.randn(64, 3)
    for sample in (lambda actor: actor(inputs), lambda actor: actor.sample_keeping_inputs(inputs)):
        draws = []
        for actor in actors:
            torch.manual_seed(1)
            with torch.no_grad():
                draws.append(sample(actor)[:2])
        (small_action, small_log_prob), (unit_action, unit_log_prob) = draws
        torch.testing.assert_close(small_log_prob, unit_log_prob)
        torch.testing.assert_close(small_action, 0.2 * unit_action)


def test_fused_sampling_and_its_backward_equal_the_definition_with_autograd(sac):
    """``sample_keeping_inputs`` draws the same actions and log-probabilities as ``forward``,
    and its hand backward equals autograd's, also where log_std is clamped. In float64: with
    log_std at its upper bound many samples saturate the tanh, where float32 rounding of
    1 - tanh^2 differs between any two ways of writing it."""
    actor = copy.deepcopy(sac.actor).double()
    with torch.no_grad():  # push one log_std output past each clamp bound
        bias = actor.net.layer_weights()[-1][1][0, 0]
        bias[2] += 8.0
        bias[3] -= 20.0
    inputs = torch.randn(12, 3, dtype=torch.float64)
    torch.manual_seed(2)
    actions, log_prob = actor(inputs)
    _, raw_log_std = actor.mean_and_log_std(inputs)
    assert (raw_log_std[:, 0] > 2).any() and (raw_log_std[:, 1] < math.log(1e-6)).any()
    grad_action, grad_log_prob = torch.randn(12, 2).double(), torch.tensor(0.3).double()
    ((actions * grad_action).sum() + (log_prob * grad_log_prob).sum()).backward()
    expected = actor.net.flat.grad.clone()

    actor.net.flat.grad.zero_()
    torch.manual_seed(2)
    fused_actions, fused_log_prob, kept = actor.sample_keeping_inputs(inputs)
    torch.testing.assert_close(fused_actions, actions.detach())
    torch.testing.assert_close(fused_log_prob, log_prob.detach())
    actor.backward(kept, grad_action, grad_log_prob)
    torch.testing.assert_close(actor.net.flat.grad, expected)


def test_adam_step_equals_the_optimizers_own_step():
    torch.manual_seed(0)
    ours = [torch.randn(7, requires_grad=True), torch.randn((), requires_grad=True)]
    theirs = [p.detach().clone().requires_grad_(True) for p in ours]
    options = {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "fused": True}
    our_optimizer = torch.optim.Adam(ours, **options)
    their_optimizer = torch.optim.Adam(theirs, **options)
    for _ in range(4):  # the first step creates the state; the rest take the direct kernel
        grads = [torch.randn_like(p) for p in ours]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        adam_step(our_optimizer)
        their_optimizer.step()
        for p, q in zip(ours, theirs, strict=True):
            torch.testing.assert_close(p, q)
            for key in ("exp_avg", "exp_avg_sq", "step"):
                torch.testing.assert_close(
                    our_optimizer.state[p][key], their_optimizer.state[q][key]
                )


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


@pytest.mark.parametrize("chosen_critic", [False, True], ids=["both-critics", "lower-critic"])
def test_update_gradients_equal_autograd_of_the_losses_in_order(
    sac, batch, monkeypatch, chosen_critic
):
    """The hand-computed update is the critic, actor and temperature losses' own gradients:
    critic step first, then actor and temperature against the stepped critic; whether the
    actor's gradient goes back through both critics or each sample's lower one only."""
    sac.backprop_chosen_critic = chosen_critic
    reference = copy.deepcopy(sac)
    torch.manual_seed(7)
    noise = torch.randn(16, 2)  # the update draws [actions; next actions] in one call
    torch.manual_seed(7)
    sac.update(batch)

    draws = iter([noise[8:], noise[:8]])  # the losses draw next actions, then actions
    monkeypatch.setattr(torch, "randn_like", lambda _: next(draws))
    critic_loss, _ = reference.critic_loss(batch, batch["rewards"].squeeze(-1))
    critic_loss.backward()
    torch.testing.assert_close(sac.critic.flat.grad, reference.critic.flat.grad)
    reference.critic_optimizer.step()
    torch.testing.assert_close(sac.critic.flat, reference.critic.flat)

    actor_loss, log_prob = reference.actor_loss(batch["inputs"])
    (actor_loss + reference.alpha_loss(log_prob)).backward()
    torch.testing.assert_close(sac.actor.net.flat.grad, reference.actor.net.flat.grad)
    torch.testing.assert_close(sac.log_alpha.grad, reference.log_alpha.grad)
    torch.testing.assert_close(
        reference.critic.flat.grad, sac.critic.flat.grad
    )  # unchanged by the actor


def test_update_moves_targets_by_tau_and_temperature_towards_target_entropy(sac, batch):
    before = [p.clone() for p in sac.critic_target.parameters()]
    losses = sac.update(batch)
    for old, target, online in zip(
        before, sac.critic_target.parameters(), sac.critic.parameters(), strict=True
    ):
        torch.testing.assert_close(target, old + sac.tau * (online - old))
    # Entropy below the target raises the temperature; above it lowers it.
    assert (losses.alpha.item() > 0.1) == (losses.entropy.item() < sac.target_entropy)


def _xavier_scale(weight: torch.Tensor) -> float:
    """sqrt(2 / (fan_in + fan_out)): Xavier's standard deviation for an (out, in) weight."""
    return math.sqrt(2.0 / sum(weight.shape))


def test_networks_start_as_the_authors_with_xavier_weights_and_zero_biases():
    """As METRA's code: the policy's hidden layers Xavier-uniform (inside +-sqrt(3) times
    Xavier's scale, filling it), its mean and log-std heads Xavier-normal at a tenth of the
    scale, each head with its own fan-out; the Q networks Xavier-normal (tails beyond the
    uniform bound); every bias zero. torch's default (uniform, 1 / sqrt(fan_in)) fails."""
    torch.manual_seed(0)
    agent = SAC(10, -torch.ones(3), torch.ones(3), hidden=256, layers=2, device="cpu")
    actor_layers = agent.actor.net.layer_weights()
    for weight, bias in actor_layers[:-1]:
        weight = weight[0]
        bound = math.sqrt(3) * _xavier_scale(weight)
        assert weight.abs().max() <= bound and weight.abs().max() > 0.97 * bound
        assert abs(weight.std().item() / _xavier_scale(weight) - 1) < 0.05
        assert (bias == 0).all()
    output, output_bias = actor_layers[-1]
    assert output.shape == (1, 6, 256) and (output_bias == 0).all()
    for head in output[0].split(3):  # mean rows, then log-std rows: (3, 256) each
        assert abs(head.std().item() / (0.1 * _xavier_scale(head)) - 1) < 0.1
    for member in range(2):
        for weight, bias in agent.critic.layer_weights():
            weight = weight[member]
            assert abs(weight.std().item() / _xavier_scale(weight) - 1) < 0.1
            # A normal draw: about 8% of the weights beyond the uniform's bound.
            beyond = (weight.abs() > math.sqrt(3) * _xavier_scale(weight)).float().mean()
            assert 0.04 < beyond < 0.13, beyond
            assert (bias == 0).all()
    # The two Q networks are drawn apart, and the targets start equal to them.
    weights = agent.critic.layer_weights()[0][0]
    assert not torch.equal(weights[0], weights[1])
    torch.testing.assert_close(agent.critic_target.flat, agent.critic.flat)


@pytest.mark.parametrize("shift", [-30.0, 30.0], ids=["floor", "ceiling"])
def test_policy_log_std_is_clamped_to_the_authors_bounds(shift):
    """The policy's standard deviation is at least 1e-6 and at most e^2 (the authors'
    min_std and max_std), in ``forward`` and in the fused sampler alike: a log-std head
    driven to -30 samples with std 1e-6 (a floor of e^-5 gave log-probabilities 26 lower)."""
    torch.manual_seed(0)
    agent = SAC(3, -torch.ones(2), torch.ones(2), hidden=16, device="cpu")
    actor = agent.actor
    with torch.no_grad():  # log-std head: zero weights, bias `shift`: log_std = shift
        weight, bias = actor.net.layer_weights()[-1]
        weight[0, 2:] = 0.0
        bias[0, 0, 2:] = shift
    log_std = math.log(1e-6) if shift < 0 else 2.0
    inputs = torch.randn(64, 3)
    mean, raw = actor.mean_and_log_std(inputs)
    torch.testing.assert_close(raw, torch.full_like(raw, shift))
    for sample in (actor, actor.sample_keeping_inputs):
        torch.manual_seed(1)
        noise = torch.randn(64, 2)
        torch.manual_seed(1)
        with torch.no_grad():
            action, log_prob = sample(inputs)[:2]
        pre_tanh = mean.detach() + noise * math.exp(log_std)
        torch.testing.assert_close(action, torch.tanh(pre_tanh))
        expected = (-0.5 * noise**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        expected -= torch.log(1 - torch.tanh(pre_tanh) ** 2 + 1e-6).sum(-1)
        torch.testing.assert_close(log_prob, expected, rtol=1e-4, atol=1e-3)


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
